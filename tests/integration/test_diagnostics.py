"""Diagnostics of a satellite and of the venue, fetched as a user downloads them.

Each report is compared whole with its snapshot in snapshots/test_diagnostics.ambr. The
satellite's link points at a loopback port chosen per run and the venue's show folder is
the test's own temporary folder, so the snapshots write those as `<port>` and
`<show folder>`; the link's connect error (its wording is aiohttp's) as a placeholder,
with its content checked here. Everything else is a fixed input.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)
from pytest_homeassistant_custom_component.components.diagnostics import (  # type: ignore[import-untyped]
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator  # type: ignore[import-untyped]
from syrupy.assertion import SnapshotAssertion
from syrupy.types import PropertyMatcher, PropertyPath

from custom_components.maze_manager import link
from tests.integration.satellite_edge import SatelliteEdge, status, venue_of


def run_values(*, port: int, folder: Path | None = None) -> PropertyMatcher:
    """A snapshot matcher that writes what differs per run by name: the link's port, the
    show folder, and the connect error (which names them in aiohttp's words)."""

    def match(*, data: Any, path: PropertyPath) -> Any:
        key = path[-1][0] if path else None
        if key == "last_error" and isinstance(data, str):
            return "<the link's connect error>"
        if key == "port" and data == port:
            return "<port>"
        if isinstance(data, str):
            data = data.replace(f"127.0.0.1:{port}/", "127.0.0.1:<port>/")
            if folder is not None:
                data = data.replace(str(folder), "<show folder>")
        return data

    return match


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
    satellite_entry: MockConfigEntry,
    edge: SatelliteEdge,
    snapshot: SnapshotAssertion,
) -> None:
    matcher = run_values(port=satellite_entry.data["port"])
    error = await first_error(edge)
    offline = await get_diagnostics_for_config_entry(hass, hass_client, satellite_entry)
    assert offline["connection"]["last_error"] == error
    assert f"ws://127.0.0.1:{satellite_entry.data['port']}/maze-link" in error
    assert offline == snapshot(name="offline", matcher=matcher)

    edge.connect()
    edge.report(status((link.PlayingCue(4, 7, 0b01, False),), rtt_us=2100))
    edge.report(link.Started(link.StartKind.CUE, 7, 4, 5_000_000, 5_000_180))
    edge.report(link.Started(link.StartKind.STREAM, 2, 5, 6_000_000, 5_999_950))
    result = await get_diagnostics_for_config_entry(hass, hass_client, satellite_entry)
    assert "0f0f" not in str(result)  # the pairing key, redacted everywhere
    assert result == snapshot(name="connected", matcher=matcher)


@pytest.mark.usefixtures("online")
async def test_venue_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    satellite_entry: MockConfigEntry,
    venue_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    venue = venue_of(venue_entry)
    venue.state.strobe_safe = True
    await venue.async_set_master_volume(0.6)
    await venue.effects.async_run_theme(venue.effects.theme("Halloween Night"))

    result = await get_diagnostics_for_config_entry(hass, hass_client, venue_entry)
    folder = Path(venue_entry.options["show_folder"])
    assert result == snapshot(matcher=run_values(port=satellite_entry.data["port"], folder=folder))
