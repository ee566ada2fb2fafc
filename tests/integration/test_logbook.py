"""The logbook shows every effect run and stop of the venue in words.

The real logbook reads the venue's events back from the recorder, as the logbook panel
does, so this also proves the logbook finds the integration's logbook platform.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from homeassistant.components.recorder.core import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry  # type: ignore[import-untyped]
from pytest_homeassistant_custom_component.components.recorder.common import (  # type: ignore[import-untyped]
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator  # type: ignore[import-untyped]

from custom_components.maze_manager.const import DOMAIN
from custom_components.maze_manager.effects_manager import EVENT_STOPPED
from custom_components.maze_manager.venue import Venue
from tests.integration.satellite_edge import async_unload_all, venue_of


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant, so it comes first here."""


@pytest.fixture
async def venue(hass: HomeAssistant, venue_entry: MockConfigEntry) -> AsyncIterator[Venue]:
    """The venue loaded beside the logbook (no satellite)."""
    assert await async_setup_component(hass, "logbook", {})
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    yield venue_of(venue_entry)
    await async_unload_all(hass)


async def logbook_lines(hass: HomeAssistant, client: ClientSessionGenerator) -> list[str]:
    """The venue's logbook entries as the panel shows them: name, then message."""
    await async_wait_recording_done(hass)
    since = (dt_util.utcnow() - timedelta(minutes=5)).isoformat()
    response = await (await client()).get(f"/api/logbook/{since}")
    assert response.status == 200
    entries = await response.json()
    return [
        f"{entry['name']} {entry['message']}" for entry in entries if entry.get("domain") == DOMAIN
    ]


async def test_effect_runs_and_stops_read_as_sentences(
    venue: Venue, hass: HomeAssistant, hass_client: ClientSessionGenerator
) -> None:
    await venue.effects.async_run_effect(
        venue.effects.effect("Lightning"), venue.rooms.select(["Entrance", "Gate"])
    )
    await venue.effects.async_stop(venue.rooms.select(["Gate"]), None, 500)
    await venue.effects.async_stop(None, None, 0)
    await venue.effects.async_emergency_stop()

    assert await logbook_lines(hass, hass_client) == [
        "Lightning ran in Entrance, Gate",
        "Venue stopped sound in Gate, fading over 500 ms",
        "Venue stopped all sound",
        "Venue emergency stop: all sound stopped",
    ]


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {"rooms": ["Entrance"], "effect": "Lightning", "fade_ms": 0},
            "Venue stopped Lightning in Entrance",
        ),
        (
            {"rooms": "all", "effect": "Lightning", "fade_ms": 0},
            "Venue stopped Lightning everywhere",
        ),
        (
            {"rooms": "all", "effect": None, "fade_ms": 250},
            "Venue stopped all sound, fading over 250 ms",
        ),
    ],
)
@pytest.mark.usefixtures("venue")
async def test_stop_variants(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    data: dict[str, Any],
    line: str,
) -> None:
    hass.bus.async_fire(EVENT_STOPPED, data)
    assert await logbook_lines(hass, hass_client) == [line]
