"""Nothing lost across restarts: the venue's loops and emergency stop outlive Home Assistant's
memory, and a satellite that missed an emergency stop is silenced the moment it returns."""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant

from custom_components.maze_manager.const import DOMAIN
from custom_components.maze_manager.link import venue_clock_us
from tests.integration.venue_fixtures import (
    CELLAR,
    GATE,
    Maze,
    async_start_maze,
    maze,
    wait_for,
)

__all__ = ["maze"]


async def call(hass: HomeAssistant, service: str, data: dict[str, Any] | None = None) -> None:
    await hass.services.async_call(DOMAIN, service, data or {}, blocking=True)


def cue_events(maze: Maze, name: str, cue_id: int, event: str) -> list[dict[str, Any]]:
    return [line for line in maze[name].records(event) if line.get("cue_id") == cue_id]


async def reconnect_satellites(hass: HomeAssistant, maze: Maze) -> None:
    """Reload every satellite entry: each link drops and connects again, then resyncs."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry is not maze.venue_entry:
            await hass.config_entries.async_reload(entry.entry_id)
    await maze.async_ready()


async def test_loops_outlive_a_restart_of_the_venue_and_are_adopted(
    hass: HomeAssistant, maze: Maze
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    ambience = maze.cue_id("Ambience")
    await call(hass, "run_effect", {"effect_name": "Ambience", "all_rooms": True})
    await wait_for(lambda: cue_events(maze, CELLAR, ambience, "cue_start"))
    wanted = dict(maze.venue.state.loops)
    await asyncio.sleep(1.2)  # the state is written at most once a second

    # The venue's memory is gone (as after a restart); its stored state is not.
    assert maze.venue_entry is not None
    await hass.config_entries.async_reload(maze.venue_entry.entry_id)
    assert maze.venue_entry.state is ConfigEntryState.LOADED
    assert maze.venue.state.loops == wanted
    # Satellites resync with the new venue: their loops are the venue's, none stops.
    await reconnect_satellites(hass, maze)
    await asyncio.sleep(1.0)  # lead plus the 500 ms fade a stray loop would get

    for name in (GATE, CELLAR):
        assert cue_events(maze, name, ambience, "cue_stop") == []
        assert len(
            {line["output"] for line in cue_events(maze, name, ambience, "cue_start")}
        ) == len(cue_events(maze, name, ambience, "cue_start")), (
            "a loop was started twice on one output"
        )


async def test_the_emergency_stop_outlives_a_restart(hass: HomeAssistant, maze: Maze) -> None:
    await async_start_maze(maze, GATE)
    await call(hass, "emergency_stop")
    await asyncio.sleep(1.2)

    assert maze.venue_entry is not None
    await hass.config_entries.async_reload(maze.venue_entry.entry_id)

    assert maze.venue.state.emergency is True
    await call(hass, "clear_emergency_stop")
    await asyncio.sleep(1.2)
    await hass.config_entries.async_reload(maze.venue_entry.entry_id)
    assert maze.venue.state.emergency is False


async def test_a_satellite_that_missed_the_emergency_stop_is_silenced_on_return(
    hass: HomeAssistant, maze: Maze
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    ambience = maze.cue_id("Ambience")
    await call(hass, "run_effect", {"effect_name": "Ambience", "room": "Crypt"})
    await wait_for(lambda: cue_events(maze, CELLAR, ambience, "cue_start"))
    cellar_entry = maze[CELLAR].device.entry
    await hass.config_entries.async_unload(cellar_entry.entry_id)  # Home Assistant is cut off

    await call(hass, "emergency_stop")
    await asyncio.sleep(0.3)
    assert cue_events(maze, CELLAR, ambience, "cue_stop") == []  # it could not be told
    reconnecting_us = venue_clock_us()
    await hass.config_entries.async_setup(cellar_entry.entry_id)

    await wait_for(lambda: cue_events(maze, CELLAR, ambience, "cue_stop"))
    stops = cue_events(maze, CELLAR, ambience, "cue_stop")
    after_ms = (min(line["mono_us"] for line in stops) - reconnecting_us) / 1000
    print(f"\nsilenced {after_ms:.0f} ms after Home Assistant reconnected")
    assert all(line["reason"] == "stopped" for line in stops)
    assert after_ms < 500


async def test_every_start_is_confirmed_per_room(hass: HomeAssistant, maze: Maze) -> None:
    await async_start_maze(maze, GATE)  # the Crypt's Cellar Pi is not there
    response = await hass.services.async_call(
        DOMAIN,
        "run_effect",
        {"effect_name": "Lightning", "rooms": ["Entrance", "Crypt"]},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    sound = response["sound"]
    assert sound["Entrance"]["status"] == "started"
    # The satellite's own account of when the first sample was heard, against the schedule.
    assert sound["Entrance"]["start_error_us"] <= maze.vouched_error_us() + 1000
    assert sound["Crypt"] == {
        "status": "offline",
        "reason": "no satellite of this room is connected",
    }
    # The answer waited for the satellite, which confirms when it renders the block that
    # holds the first sample: at most a couple of 5 ms blocks before it is heard.
    assert venue_clock_us() >= response["start_us"] - 10_000


async def test_a_refused_start_is_reported_with_its_reason(hass: HomeAssistant, maze: Maze) -> None:
    await async_start_maze(maze, GATE)
    lightning = maze.cue_id("Lightning")
    maze[GATE].satellite.player.load_cues([], {})  # the satellite has lost its cues
    response = await hass.services.async_call(
        DOMAIN,
        "run_effect",
        {"effect_name": "Lightning", "room": "Entrance"},
        blocking=True,
        return_response=True,
    )
    assert isinstance(response, dict)
    assert response["sound"]["Entrance"]["status"] == "not_played"
    assert f"cue {lightning} is not in the cue table" in response["sound"]["Entrance"]["reason"]
