"""Pi switches call services: a satellite's input, pressed for real, runs what the show binds.

The inputs are the satellites' simulated ones, driven through their control socket as
`pi-satellite press` drives them, so the press travels the real way: input, satellite
session, maze link, Home Assistant, service call, play trigger, satellite output.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from homeassistant.const import EVENT_CALL_SERVICE
from homeassistant.core import Event, HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    async_capture_events,
)

from custom_components.maze_manager.const import DOMAIN
from pi_satellite.inputs import Gesture
from tests.integration.venue_fixtures import (
    CELLAR,
    GATE,
    Maze,
    async_start_maze,
    maze,
    unix_sockets,
    venue_maze,
    wait_for,
)

__all__ = ["maze", "unix_sockets", "venue_maze"]

pytestmark = pytest.mark.usefixtures("unix_sockets")


def maze_calls(events: list[Event]) -> list[tuple[str, dict[str, Any]]]:
    """The maze_manager services called: name and data."""
    return [
        (event.data["service"], event.data["service_data"])
        for event in events
        if event.data["domain"] == DOMAIN
    ]


def outputs_playing(maze: Maze, name: str, effect: str) -> set[int]:
    cue_id = maze.cue_id(effect)
    return {line["output"] for line in maze[name].cue_starts() if line["cue_id"] == cue_id}


async def wait_for_event(hass: HomeAssistant, entity_id: str, event_type: str) -> None:
    """Wait until a satellite input's event entity shows an event of this type."""

    def shown() -> bool:
        state = hass.states.get(entity_id)
        return state is not None and state.attributes.get("event_type") == event_type

    await wait_for(shown)


async def test_a_press_runs_the_bound_effect_through_the_service(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await venue_maze[GATE].press(hass, "Gate button", Gesture.PRESS)

    await wait_for(lambda: outputs_playing(venue_maze, GATE, "Lightning"))
    # Press and release arrive; only the press is bound.
    await wait_for_event(hass, "event.gate_pi_gate_button", "release")
    assert maze_calls(calls) == [
        ("run_effect", {"effect_name": "Lightning", "rooms": ["Entrance"]})
    ]
    assert outputs_playing(venue_maze, GATE, "Lightning") == {0}
    assert venue_maze[CELLAR].records() == []


async def test_a_long_press_runs_the_bound_theme(hass: HomeAssistant, venue_maze: Maze) -> None:
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await venue_maze[CELLAR].press(hass, "Gate button", Gesture.LONG_PRESS)

    await wait_for(lambda: len(outputs_playing(venue_maze, CELLAR, "Ambience")) == 2)
    await wait_for(lambda: outputs_playing(venue_maze, GATE, "Ambience") == {0, 1})
    assert maze_calls(calls) == [("run_theme", {"theme": "Halloween Night"})]
    assert venue_maze.venue.state.theme == "Halloween Night"


async def test_a_binding_without_rooms_plays_in_the_satellites_rooms(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await venue_maze[GATE].press(hass, "Spare button", Gesture.DOUBLE_PRESS)

    await wait_for(lambda: outputs_playing(venue_maze, GATE, "Ambience") == {0, 1})
    await wait_for_event(hass, "event.gate_pi_spare_button", "release")
    assert maze_calls(calls) == [
        ("run_effect", {"effect_name": "Ambience", "rooms": ["Entrance", "Cop Dodge"]})
    ]
    assert venue_maze[CELLAR].records() == []


async def test_unbound_inputs_do_nothing(hass: HomeAssistant, venue_maze: Maze) -> None:
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)
    await venue_maze[GATE].press(hass, "Spare button", Gesture.PRESS)
    await venue_maze[CELLAR].press(hass, "Gate button", Gesture.PRESS)  # bound to long press

    await wait_for_event(hass, "event.gate_pi_spare_button", "release")
    await wait_for_event(hass, "event.cellar_pi_gate_button", "release")
    await asyncio.sleep(0.2)
    assert maze_calls(calls) == []
    assert venue_maze[GATE].records() == []
    assert venue_maze[CELLAR].records() == []


async def test_inputs_do_nothing_without_a_venue(hass: HomeAssistant, maze: Maze) -> None:
    await maze.start_satellite(GATE)
    maze.add_satellite_entry(GATE)
    await maze.async_setup()
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)

    await maze[GATE].press(hass, "Gate button", Gesture.PRESS)
    await wait_for_event(hass, "event.gate_pi_gate_button", "release")
    assert maze_calls(calls) == []


async def test_a_press_during_an_emergency_stop_is_refused_with_a_warning(
    hass: HomeAssistant, maze: Maze, caplog: pytest.LogCaptureFixture
) -> None:
    await async_start_maze(maze, GATE)
    await hass.services.async_call(DOMAIN, "emergency_stop", {}, blocking=True)
    calls = async_capture_events(hass, EVENT_CALL_SERVICE)

    with caplog.at_level(logging.WARNING, logger="custom_components.maze_manager.bindings"):
        await maze[GATE].press(hass, "Gate button", Gesture.PRESS)
        await wait_for(lambda: "could not run effect" in caplog.text)
    assert (
        "Input Gate Pi Gate button could not run effect: Effects are refused until the "
        "emergency stop is cleared" in caplog.text
    )
    assert maze_calls(calls) == [
        ("run_effect", {"effect_name": "Lightning", "rooms": ["Entrance"]})
    ]
    await asyncio.sleep(0.2)
    assert maze[GATE].cue_starts() == []
