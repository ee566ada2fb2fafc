"""Fixtures for the Home Assistant tests of the integration.

The entity and diagnostics tests arrange one satellite ("Cellar", played by the test at
its link's edge, see satellite_edge.py) and, when a test asks for `venue_entry`, the
venue beside it; the venue-level tests with real satellites use venue_fixtures.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.helpers import frame
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)
from pytest_homeassistant_custom_component.syrupy import (  # type: ignore[import-untyped]
    HomeAssistantSnapshotExtension,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.maze_manager.link.client import WebSocketHandler
from custom_components.maze_manager.venue import Venue
from tests.deprecations import reports_in_records
from tests.integration.satellite_edge import (
    SHOW_YAML,
    SatelliteEdge,
    Start,
    add_satellite,
    add_venue,
    async_start,
    async_unload_all,
    patch_connected,
    venue_of,
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Let Home Assistant load custom_components/maze_manager in every test."""


@pytest.fixture(autouse=True)
def no_deprecation_reports(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Fail a test in which Home Assistant reports this integration using a deprecated API.

    Home Assistant reports each offending line once per process (frame.py keeps a set of
    the places it reported); a fresh set per test makes every test that reaches one fail.
    """
    if hasattr(frame, "_REPORTED_INTEGRATIONS"):
        monkeypatch.setattr(frame, "_REPORTED_INTEGRATIONS", set())
    yield
    reports = reports_in_records([*caplog.get_records("setup"), *caplog.get_records("call")])
    if reports:
        pytest.fail(
            "Home Assistant reports a deprecated API in use:\n" + "\n".join(reports),
            pytrace=False,
        )


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Snapshots with Home Assistant's extension, in snapshots/ beside the tests, whichever
    of the two plugins' `snapshot` fixtures pytest picked (their order is not fixed)."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> set[WebSocketHandler]:
    """The links the test has connected (WebSocketHandler.connected answers from it)."""
    return patch_connected(monkeypatch)


@pytest.fixture
def show() -> str | None:
    """The venue's show.yaml; a test parametrizes `show` for another (None: no show)."""
    return SHOW_YAML


@pytest.fixture
def venue_entry(hass: HomeAssistant, tmp_path: Path, show: str | None) -> MockConfigEntry:
    """The venue's entry, its show folder holding `show` (loaded once the test starts)."""
    return add_venue(hass, tmp_path, show)


@pytest.fixture
def satellite_entry(
    request: pytest.FixtureRequest, hass: HomeAssistant, socket_enabled: None
) -> MockConfigEntry:
    """The satellite Cellar's entry as after pairing, at a closed loopback port; added
    after the venue's when the test has a venue (as a venue is set up first)."""
    if "venue_entry" in request.fixturenames:
        request.getfixturevalue("venue_entry")
    return add_satellite(hass)


@pytest.fixture
async def start(
    hass: HomeAssistant,
    satellite_entry: MockConfigEntry,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Start]:
    """Home Assistant's start: loads every added entry and hands back the satellite's
    edge. Its link tries the closed port meanwhile; everything is unloaded at the end."""

    async def load() -> SatelliteEdge:
        return await async_start(hass, satellite_entry, connected, monkeypatch)

    yield load
    await async_unload_all(hass)


@pytest.fixture
async def edge(start: Start) -> SatelliteEdge:
    """The satellite loaded (beside the venue, if the test has one), its link not yet
    connected."""
    return await start()


@pytest.fixture
async def online(hass: HomeAssistant, edge: SatelliteEdge) -> SatelliteEdge:
    """The satellite's link connected: its hello received, nothing recorded as sent yet."""
    edge.connect()
    await hass.async_block_till_done()
    edge.sent.clear()
    return edge


@pytest.fixture
def venue(venue_entry: MockConfigEntry, edge: SatelliteEdge) -> Venue:
    """The loaded venue (beside the satellite, not yet connected)."""
    return venue_of(venue_entry)
