"""The venue's services against real satellites: what plays where, when, and how loud.

Every run is checked in what the satellites' null outputs recorded (or, for the volume,
in the samples a WAV output wrote): the right cue on the right outputs, starting on the
venue time the service answered with.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import area_registry as ar, issue_registry as ir
from homeassistant.helpers.translation import async_get_exception_message
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    async_capture_events,
)

from custom_components.maze_manager.const import DOMAIN
from custom_components.maze_manager.effects_manager import EVENT_EFFECT_RUN, EVENT_STOPPED
from custom_components.maze_manager.link import venue_clock_us
from tests.integration.venue_fixtures import (
    CELLAR,
    GATE,
    SHOW_YAML,
    TONE_PEAK,
    Maze,
    async_start_maze,
    maze,
    venue_maze,
    wait_for,
)
from tests.seed_examples import SEED_RUN_EFFECT, SEED_RUN_EFFECT_ALL_ROOMS

__all__ = ["maze", "venue_maze"]


async def call(
    hass: HomeAssistant, service: str, data: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Call a maze_manager service and return its response."""
    response = await hass.services.async_call(
        DOMAIN, service, data or {}, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


async def refused(hass: HomeAssistant, service: str, data: dict[str, Any]) -> str:
    """Call a service that must refuse; returns its translated message (checking the key)."""
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, service, data, blocking=True)
    err = caught.value
    assert err.translation_domain == DOMAIN
    assert err.translation_key is not None
    return f"{err.translation_key}: " + async_get_exception_message(
        DOMAIN, err.translation_key, err.translation_placeholders
    )


def started_outputs(maze: Maze, cue_id: int) -> dict[str, set[int]]:
    """Per satellite, the outputs on which a cue started."""
    found: dict[str, set[int]] = {}
    for name, running in maze.satellites.items():
        outputs = {line["output"] for line in running.cue_starts() if line["cue_id"] == cue_id}
        if outputs:
            found[name] = outputs
    return found


async def wait_for_starts(maze: Maze, cue_id: int, count: int) -> list[dict[str, Any]]:
    """Wait until a cue has started `count` times over all satellites; returns the starts."""

    def starts() -> list[dict[str, Any]]:
        return [
            line
            for running in maze.satellites.values()
            for line in running.cue_starts()
            if line["cue_id"] == cue_id
        ]

    await wait_for(lambda: len(starts()) >= count)
    return starts()


def assert_on_time(maze: Maze, starts: list[dict[str, Any]], start_us: int) -> None:
    """Every start was scheduled for `start_us` and its first sample was heard then,
    within the clock error the satellites vouch for."""
    allowed_us = maze.vouched_error_us()
    for line in starts:
        assert line["scheduled_us"] == start_us
        assert abs(line["mono_us"] - start_us) <= allowed_us, line


# --- run_effect -------------------------------------------------------------------------


async def test_seed_body_plays_lightning_in_the_entrance_only(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    runs = async_capture_events(hass, EVENT_EFFECT_RUN)
    called_us = venue_clock_us()
    response = await call(hass, "run_effect", SEED_RUN_EFFECT)

    gate = venue_maze[GATE]
    assert response["rooms"] == ["Entrance"]
    assert response["satellites"] == [gate.satellite_id]
    assert response["offline_rooms"] == []
    start_us = response["start_us"]
    # Automatic lead: the satellite's round trip and block time, at least 10 ms.
    assert 10 <= response["lead_ms"] < 100
    assert called_us + 10_000 <= start_us

    lightning = venue_maze.cue_id("Lightning")
    starts = await wait_for_starts(venue_maze, lightning, 1)
    await asyncio.sleep(0.1)
    assert started_outputs(venue_maze, lightning) == {GATE: {0}}
    assert_on_time(venue_maze, starts, start_us)
    assert venue_maze[CELLAR].records() == []
    assert [(run.data["effect"], run.data["rooms"], run.data["source"]) for run in runs] == [
        ("Lightning", ["Entrance"], "service")
    ]
    # The satellite reports the start back, for diagnostics.
    await wait_for(lambda: gate.device.started)
    assert gate.device.started[0].scheduled_us == start_us


async def test_requested_volume_is_what_the_room_hears(hass: HomeAssistant, maze: Maze) -> None:
    gate = await maze.start_satellite(GATE, wav=True)
    maze.add_satellite_entry(GATE)
    maze.write_show()
    maze.add_venue_entry(default_volume=0.3)
    await maze.async_setup()

    # Lightning's file sets volume 0.5; the seed body asks for 0.8 in the Entrance (Left).
    await call(hass, "run_effect", SEED_RUN_EFFECT)
    await wait_for(lambda: len(gate.device.started) == 1)
    # Ambience sets no volume: the venue's default volume applies in Cop Dodge (Right).
    await call(
        hass,
        "run_effect",
        {"room": "Cop Dodge", "effect_name": "Ambience", "audio": {"loop": False}},
    )
    await wait_for(lambda: len(gate.device.started) == 2)
    await asyncio.sleep(0.6)  # both half-second tones have ended
    await maze.stop_satellite(GATE)

    samples = gate.samples()
    left, right = np.abs(samples[:, 0]).max(), np.abs(samples[:, 1]).max()
    assert left == pytest.approx(0.8 * TONE_PEAK, rel=0.01)
    assert right == pytest.approx(0.3 * TONE_PEAK, rel=0.01)
    assert maze.venue.state.loops == {}  # the loop override made Ambience play once


def _area_id(hass: HomeAssistant, name: str) -> str:
    area = ar.async_get(hass).async_get_area_by_name(name)
    assert area is not None
    return area.id


@pytest.mark.parametrize(
    ("data", "rooms", "outputs"),
    [
        (
            {"rooms": ["Cop Dodge", "crypt"]},
            ["Cop Dodge", "Crypt"],
            {GATE: {1}, CELLAR: {0, 1}},
        ),
        ({"area_id": ["Crypt"]}, ["Crypt"], {CELLAR: {0, 1}}),
        (
            {"room": "Entrance", "area_id": ["Cop Dodge"]},
            ["Entrance", "Cop Dodge"],
            {GATE: {0, 1}},
        ),
        (
            {"room": "Entrance", "all_rooms": True},
            ["Entrance", "Cop Dodge", "Crypt"],
            {GATE: {0, 1}, CELLAR: {0, 1}},
        ),
    ],
    ids=["rooms", "area", "room_and_area", "all_rooms"],
)
async def test_run_effect_targets(
    hass: HomeAssistant,
    venue_maze: Maze,
    data: dict[str, Any],
    rooms: list[str],
    outputs: dict[str, set[int]],
) -> None:
    if "area_id" in data:  # the test names areas by their room; the service takes ids
        data = {**data, "area_id": [_area_id(hass, name) for name in data["area_id"]]}
    response = await call(hass, "run_effect", {"effect_name": "lightning", **data})
    assert response["rooms"] == rooms
    assert sorted(response["satellites"]) == sorted(venue_maze[n].satellite_id for n in outputs)

    lightning = venue_maze.cue_id("Lightning")
    starts = await wait_for_starts(venue_maze, lightning, sum(map(len, outputs.values())))
    await asyncio.sleep(0.1)
    assert started_outputs(venue_maze, lightning) == outputs
    assert_on_time(venue_maze, starts, response["start_us"])


async def test_run_effect_all_rooms_with_the_seed_body(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    response = await call(hass, "run_effect_all_rooms", SEED_RUN_EFFECT_ALL_ROOMS)
    assert response["rooms"] == ["Entrance", "Cop Dodge", "Crypt"]

    lightning = venue_maze.cue_id("Lightning")
    starts = await wait_for_starts(venue_maze, lightning, 4)
    assert started_outputs(venue_maze, lightning) == {GATE: {0, 1}, CELLAR: {0, 1}}
    assert_on_time(venue_maze, starts, response["start_us"])
    # One trigger per satellite, one start time for both.
    assert len({(line["seq"], line["cue_id"]) for line in venue_maze[GATE].cue_starts()}) == 1


async def test_a_room_whose_satellite_is_off_is_reported_offline(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    await venue_maze.stop_satellite(CELLAR)
    await wait_for(lambda: not venue_maze[CELLAR].device.available)
    response = await call(hass, "run_effect_all_rooms", {"effect_name": "Lightning"})
    assert response["offline_rooms"] == ["Crypt"]
    assert response["satellites"] == [venue_maze[GATE].satellite_id]
    await wait_for_starts(venue_maze, venue_maze.cue_id("Lightning"), 2)


# --- themes -----------------------------------------------------------------------------


async def test_run_theme_starts_its_cues_from_one_time(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    response = await call(hass, "run_theme", {"theme": "halloween night"})
    start_us = response["start_us"]
    assert response["rooms"] == ["Entrance", "Cop Dodge", "Crypt"]

    ambience, lightning = venue_maze.cue_id("Ambience"), venue_maze.cue_id("Lightning")
    assert_on_time(venue_maze, await wait_for_starts(venue_maze, ambience, 4), start_us)
    # Lightning is the theme's second cue, 200 ms later, in the Entrance only.
    assert_on_time(venue_maze, await wait_for_starts(venue_maze, lightning, 1), start_us + 200_000)
    assert started_outputs(venue_maze, ambience) == {GATE: {0, 1}, CELLAR: {0, 1}}
    assert started_outputs(venue_maze, lightning) == {GATE: {0}}
    assert venue_maze.venue.state.theme == "Halloween Night"


# --- stop -------------------------------------------------------------------------------


async def start_ambience_everywhere(hass: HomeAssistant, maze: Maze) -> dict[str, Any]:
    """Start the looping Ambience in every room and wait until all four outputs play."""
    response = await call(hass, "run_effect", {"effect_name": "Ambience", "all_rooms": True})
    await wait_for_starts(maze, maze.cue_id("Ambience"), 4)
    return response


def stopped(maze: Maze, name: str) -> list[tuple[int, int, str]]:
    """A satellite's cue stops: cue id, output, reason."""
    return [
        (line["cue_id"], line["output"], line["reason"]) for line in maze[name].records("cue_stop")
    ]


async def test_stop_a_room_leaves_the_others_playing(hass: HomeAssistant, venue_maze: Maze) -> None:
    await start_ambience_everywhere(hass, venue_maze)
    ambience = venue_maze.cue_id("Ambience")
    stops = async_capture_events(hass, EVENT_STOPPED)

    await hass.services.async_call(DOMAIN, "stop", {"room": "Crypt", "fade_ms": 0}, blocking=True)
    await wait_for(lambda: len(stopped(venue_maze, CELLAR)) == 2)
    await asyncio.sleep(0.3)
    assert sorted(stopped(venue_maze, CELLAR)) == [
        (ambience, 0, "stopped"),
        (ambience, 1, "stopped"),
    ]
    assert stopped(venue_maze, GATE) == []
    assert [stop.data["rooms"] for stop in stops] == [["Crypt"]]
    # Only the Gate's loop is still wanted (and would be restored after a reconnect).
    assert {key.satellite_id for key in venue_maze.venue.state.loops} == {
        venue_maze[GATE].satellite_id
    }


async def test_stop_an_effect_leaves_other_effects_playing(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    await start_ambience_everywhere(hass, venue_maze)
    await call(
        hass,
        "run_effect",
        {"effect_name": "Lightning", "room": "Entrance", "audio": {"loop": True}},
    )
    lightning = venue_maze.cue_id("Lightning")
    await wait_for_starts(venue_maze, lightning, 1)

    await hass.services.async_call(
        DOMAIN, "stop", {"effect_name": "Lightning", "fade_ms": 0}, blocking=True
    )
    await wait_for(lambda: stopped(venue_maze, GATE))
    await asyncio.sleep(0.3)
    assert stopped(venue_maze, GATE) == [(lightning, 0, "stopped")]
    assert stopped(venue_maze, CELLAR) == []
    assert {key.cue_id for key in venue_maze.venue.state.loops} == {venue_maze.cue_id("Ambience")}


async def test_stop_everything_fades_out(hass: HomeAssistant, venue_maze: Maze) -> None:
    await call(hass, "run_theme", {"theme": "Halloween Night"})
    await wait_for_starts(venue_maze, venue_maze.cue_id("Ambience"), 4)

    called_us = venue_clock_us()
    await hass.services.async_call(DOMAIN, "stop", {"fade_ms": 300}, blocking=True)
    await wait_for(lambda: len(stopped(venue_maze, GATE) + stopped(venue_maze, CELLAR)) == 5)
    ambience, lightning = venue_maze.cue_id("Ambience"), venue_maze.cue_id("Lightning")
    assert sorted(stopped(venue_maze, GATE)) == [
        (ambience, 0, "stopped"),
        (ambience, 1, "stopped"),
        (lightning, 0, "cancelled"),  # the theme's Lightning had not started yet
    ]
    ends = venue_maze[GATE].records("cue_stop") + venue_maze[CELLAR].records("cue_stop")
    # Each loop ends when its 300 ms fade has run out, after the stop's lead.
    for line in ends:
        if line["reason"] == "stopped":
            assert 300_000 <= line["mono_us"] - called_us <= 400_000, line
    assert venue_maze.venue.state.loops == {}
    assert venue_maze.venue.state.theme is None
    # The theme's Lightning cue and its light steps were still pending: none of them came.
    await asyncio.sleep(0.5)
    assert venue_maze.lights.calls == []
    assert venue_maze.venue.effects.timeline.pending == 0


async def test_stop_cancels_only_the_steps_it_names(hass: HomeAssistant, maze: Maze) -> None:
    await async_start_maze(maze, GATE, lead_ms=300)  # time to stop before any step is due
    await call(hass, "run_effect", {"effect_name": "Lightning", "room": "Entrance"})
    await call(hass, "run_effect", {"effect_name": "Blackout", "room": "Entrance"})
    timeline = maze.venue.effects.timeline
    assert timeline.pending == 4  # Lightning: two light steps and an action; Blackout: one

    # Blackout has no sound: stopping it only cancels its light step.
    await hass.services.async_call(DOMAIN, "stop", {"effect_name": "Blackout"}, blocking=True)
    assert timeline.pending == 3
    await hass.services.async_call(DOMAIN, "stop", {"room": "Cop Dodge"}, blocking=True)
    assert timeline.pending == 3
    await hass.services.async_call(
        DOMAIN, "stop", {"room": "Entrance", "fade_ms": 0}, blocking=True
    )
    assert timeline.pending == 0

    # The run answered once the satellite confirmed the start; a stop is scheduled with the
    # same 300 ms lead, so the sound is cut off that lead later, before its half second ends.
    await wait_for(lambda: maze[GATE].records("cue_stop"))
    [start], [stop] = maze[GATE].cue_starts(), maze[GATE].records("cue_stop")
    assert stop["reason"] == "stopped"
    assert stop["mono_us"] - start["mono_us"] < 450_000
    await asyncio.sleep(0.4)
    assert maze.lights.calls == []
    assert hass.states.get("input_boolean.fog_machine").state == "off"  # type: ignore[union-attr]


# --- emergency stop ---------------------------------------------------------------------


async def test_emergency_stop_silences_everything_until_cleared(
    hass: HomeAssistant, maze: Maze
) -> None:
    await async_start_maze(maze, GATE, CELLAR, lead_ms=300)  # steps are still to come
    await start_ambience_everywhere(hass, maze)
    await call(hass, "run_effect", {"effect_name": "Lightning", "room": "Entrance"})

    await hass.services.async_call(DOMAIN, "emergency_stop", {}, blocking=True)
    await wait_for(lambda: len(stopped(maze, GATE) + stopped(maze, CELLAR)) >= 4)
    await hass.async_block_till_done()
    # House lights on at full brightness; the Lightning's light steps never come.
    assert maze.lights.calls[0][:2] == (
        "turn_on",
        {"entity_id": ["light.house"], "brightness_pct": 100},
    )
    await asyncio.sleep(0.4)
    assert len(maze.lights.calls) == 1
    assert maze.venue.state.loops == {}

    for service, data in (
        ("run_effect", SEED_RUN_EFFECT),
        ("run_effect_all_rooms", SEED_RUN_EFFECT_ALL_ROOMS),
        ("run_theme", {"theme": "Halloween Night"}),
    ):
        assert await refused(hass, service, data) == (
            "emergency_stop_active: Effects are refused until the emergency stop is cleared "
            "(maze_manager.clear_emergency_stop)"
        )

    await hass.services.async_call(DOMAIN, "clear_emergency_stop", {}, blocking=True)
    lightning = maze.cue_id("Lightning")
    before = len([s for s in maze[GATE].cue_starts() if s["cue_id"] == lightning])
    await call(hass, "run_effect", SEED_RUN_EFFECT)
    await wait_for_starts(maze, lightning, before + 1)


async def test_emergency_stop_without_a_light_integration_still_silences(
    hass: HomeAssistant, venue_maze: Maze, caplog: pytest.LogCaptureFixture
) -> None:
    await start_ambience_everywhere(hass, venue_maze)
    hass.services.async_remove("light", "turn_on")

    await hass.services.async_call(DOMAIN, "emergency_stop", {}, blocking=True)
    assert "Emergency stop could not turn on ['light.house']" in caplog.text
    await wait_for(lambda: len(stopped(venue_maze, GATE) + stopped(venue_maze, CELLAR)) == 4)
    assert venue_maze.venue.state.emergency


# --- reload -----------------------------------------------------------------------------


async def test_reload_brings_a_new_effect(hass: HomeAssistant, venue_maze: Maze) -> None:
    venue_maze.write_show(
        SHOW_YAML.replace("  Blackout:", "  Scream:\n    audio: ambience.wav\n  Blackout:")
    )
    await hass.services.async_call(DOMAIN, "reload", {}, blocking=True)
    await venue_maze.async_ready()
    scream = venue_maze.cue_id("Scream")
    response = await call(hass, "run_effect", {"effect_name": "Scream", "room": "Crypt"})
    assert_on_time(venue_maze, await wait_for_starts(venue_maze, scream, 2), response["start_us"])


async def test_a_bad_reload_keeps_the_last_good_show(hass: HomeAssistant, venue_maze: Maze) -> None:
    venue_maze.write_show(SHOW_YAML.replace("volume: 0.5", "volume: 1.8"))
    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(DOMAIN, "reload", {}, blocking=True)
    assert caught.value.translation_key == "show_invalid"
    folder = str(venue_maze.show_folder)
    assert caught.value.translation_placeholders == {"folder": folder}
    assert async_get_exception_message(
        DOMAIN, "show_invalid", caught.value.translation_placeholders
    ) == (
        f"The show files in {folder} have problems; the last good show keeps running. "
        "See the repair for details"
    )
    assert ir.async_get(hass).async_get_issue(DOMAIN, "show_invalid") is not None

    response = await call(hass, "run_effect", SEED_RUN_EFFECT)
    starts = await wait_for_starts(venue_maze, venue_maze.cue_id("Lightning"), 1)
    assert_on_time(venue_maze, starts, response["start_us"])


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "data", "message"),
    [
        (
            "run_effect",
            {"effect_name": "Fog", "room": "Entrance"},
            "unknown_effect: The show has no effect named Fog",
        ),
        (
            "run_effect_all_rooms",
            {"effect_name": "Fog"},
            "unknown_effect: The show has no effect named Fog",
        ),
        (
            "run_effect",
            {"effect_name": "Lightning", "rooms": ["Entrance", "Attic"]},
            "unknown_room: The show has no room named Attic",
        ),
        (
            "run_effect",
            {"effect_name": "Lightning", "area_id": "garage"},
            "area_not_a_room: Area garage is not one of the show's rooms",
        ),
        (
            "run_effect",
            {"effect_name": "Lightning"},
            "no_room: Name a room, rooms or area, or set all_rooms",
        ),
        ("run_theme", {"theme": "Easter"}, "unknown_theme: The show has no theme named Easter"),
        (
            "stop",
            {"effect_name": "Fog"},
            "unknown_effect: The show has no effect named Fog",
        ),
        ("stop", {"room": "Attic"}, "unknown_room: The show has no room named Attic"),
    ],
)
async def test_service_errors_name_the_problem(
    hass: HomeAssistant, venue_maze: Maze, service: str, data: dict[str, Any], message: str
) -> None:
    assert await refused(hass, service, data) == message
    await asyncio.sleep(0.1)
    assert venue_maze[GATE].records() == []
    assert venue_maze[CELLAR].records() == []


async def test_services_need_the_venue(hass: HomeAssistant, maze: Maze) -> None:
    await maze.start_satellite(GATE)
    maze.add_satellite_entry(GATE)
    await maze.async_setup()
    venue_needed = (
        "venue_not_loaded: Set up the venue first "
        "(Settings > Devices & services > LoHP Maze Manager)"
    )
    for service, data in (
        ("run_effect", SEED_RUN_EFFECT),
        ("run_theme", {"theme": "Halloween Night"}),
        ("stop", {}),
        ("emergency_stop", {}),
        ("clear_emergency_stop", {}),
        ("reload", {}),
    ):
        assert await refused(hass, service, data) == venue_needed


async def test_effects_need_a_show(hass: HomeAssistant, maze: Maze) -> None:
    await maze.start_satellite(GATE)
    maze.add_satellite_entry(GATE)
    maze.add_venue_entry()  # the show folder is empty
    await maze.async_setup()
    assert await refused(hass, "run_effect", SEED_RUN_EFFECT) == (
        "no_show: No show is loaded: fix the show files and call maze_manager.reload"
    )
    # Stopping everything needs no show: it silences every satellite.
    stops = async_capture_events(hass, EVENT_STOPPED)
    await hass.services.async_call(DOMAIN, "stop", {}, blocking=True)
    assert [stop.data["rooms"] for stop in stops] == ["all"]


async def test_a_room_whose_satellite_has_no_entry_is_offline(
    hass: HomeAssistant, maze: Maze
) -> None:
    await async_start_maze(maze, GATE)  # the Crypt's Cellar Pi was never added
    response = await call(hass, "run_effect", {"effect_name": "Ambience", "all_rooms": True})
    assert response["offline_rooms"] == ["Crypt"]
    assert response["satellites"] == [maze[GATE].satellite_id]
    await wait_for_starts(maze, maze.cue_id("Ambience"), 2)
    assert started_outputs(maze, maze.cue_id("Ambience")) == {GATE: {0, 1}}
