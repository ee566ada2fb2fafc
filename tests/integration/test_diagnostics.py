"""Diagnostics of a satellite and of the venue, fetched as a user downloads them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.components.diagnostics import (  # type: ignore[import-untyped]
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator  # type: ignore[import-untyped]
from test_entities import (
    HELLO,
    SATELLITE_ID,
    SatelliteEdge,
    add_satellite,
    add_venue,
    async_start,
    async_unload_all,
    patch_connected,
    status,
    venue_of,
)

from custom_components.maze_manager import link
from custom_components.maze_manager.link.client import WebSocketHandler

REDACTED = "**REDACTED**"


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> set[WebSocketHandler]:
    """The links the test has connected."""
    return patch_connected(monkeypatch)


@pytest.fixture(autouse=True)
async def unload_entries(hass: HomeAssistant, socket_enabled: None) -> AsyncIterator[None]:
    """Let the links try the closed port, and stop them when the test ends."""
    yield
    await async_unload_all(hass)


async def first_error(edge: SatelliteEdge) -> str:
    """The link's error from its first attempt at the closed port (refused at once)."""
    for _ in range(500):
        if edge.device.link.last_error is not None:
            return edge.device.link.last_error
        await asyncio.sleep(0.01)
    raise AssertionError("the link never tried the closed port")


async def test_satellite_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    satellite = add_satellite(hass)
    edge = await async_start(hass, satellite, connected, monkeypatch)
    error = await first_error(edge)
    offline = await get_diagnostics_for_config_entry(hass, hass_client, satellite)
    url = f"ws://127.0.0.1:{satellite.data['port']}/maze-link"
    assert offline["connection"] == {
        "url": url,
        "connected": False,
        "synchronised": False,
        "last_error": error,
    }
    assert url in error
    assert offline["hello"] is None
    assert offline["status"] is None

    edge.connect()
    edge.report(status((link.PlayingCue(4, 7, 0b01, False),), rtt_us=2100))
    edge.report(link.Started(link.StartKind.CUE, 7, 4, 5_000_000, 5_000_180))
    edge.report(link.Started(link.StartKind.STREAM, 2, 5, 6_000_000, 5_999_950))
    result = await get_diagnostics_for_config_entry(hass, hass_client, satellite)

    entry = result["entry"]
    assert isinstance(entry, dict)
    assert entry["title"] == "Cellar"
    assert entry["data"]["pairing_key"] == REDACTED
    assert entry["data"]["host"] == "127.0.0.1"
    assert entry["data"]["satellite_id"] == SATELLITE_ID
    assert "0f0f" not in str(result)
    assert result["connection"]["connected"] is True
    assert result["connection"]["synchronised"] is True
    assert result["hello"] == {
        "satellite_id": SATELLITE_ID,
        "name": HELLO.name,
        "version": "1.2.3",
        "sample_rate": 48000,
        "outputs": [
            {"index": 0, "name": "Left", "channels": "left", "latency_us": 5000},
            {"index": 1, "name": "Right", "channels": "right", "latency_us": 5000},
        ],
        "inputs": [{"index": 0, "name": "Gate button"}],
        "cached_assets": 0,
    }
    assert result["status"] == {
        "synchronised": True,
        "sync_error_us": 150,
        "rtt_us": 2100,
        "buffer_ms": 40,
        "underruns": 0,
        "late_frames": 0,
        "playing": [{"seq": 4, "cue_id": 7, "output_mask": 1, "loop": False}],
        "streams": [],
    }
    assert result["started"] == [
        {
            "kind": "cue",
            "ref_id": 7,
            "seq": 4,
            "scheduled_us": 5_000_000,
            "actual_us": 5_000_180,
            "error_us": 180,
        },
        {
            "kind": "stream",
            "ref_id": 2,
            "seq": 5,
            "scheduled_us": 6_000_000,
            "actual_us": 5_999_950,
            "error_us": -50,
        },
    ]


async def test_venue_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    venue_entry = add_venue(hass, tmp_path)
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    edge.connect()
    venue = venue_of(venue_entry)
    venue.state.strobe_safe = True
    await venue.async_set_master_volume(0.6)
    await venue.effects.async_run_theme(venue.effects.theme("Halloween Night"))

    result = await get_diagnostics_for_config_entry(hass, hass_client, venue_entry)
    assert result["entry"] == {
        "title": "Venue",
        "data": {"kind": "venue"},
        "options": {"show_folder": str(tmp_path)},
    }
    assert result["state"] == {
        "strobe_safe": True,
        "master_volume": 0.6,
        "emergency": False,
        "theme": "Halloween Night",
        "loops": [],
        "pending_steps": 0,
    }
    show = result["show"]
    assert isinstance(show, dict)
    assert show["counts"] == {
        "rooms": 3,
        "effects": 1,
        "themes": 2,
        "input_bindings": 0,
        "preloaded_cues": 0,
    }
    assert show["rooms"] == ["Entrance", "Cop Dodge", "Gate"]
    assert show["effects"] == ["Lightning"]
    assert show["themes"] == ["Halloween Night", "Quiet Night"]
    assert set(show["room_areas"]) == {"Entrance", "Cop Dodge", "Gate"}
    assert result["satellites"] == [
        {
            "ip": "127.0.0.1",
            "name": HELLO.name,
            "rooms": ["Entrance", "Cop Dodge", "Gate"],
            "status": "connected",
            "satellite_id": SATELLITE_ID,
        }
    ]
