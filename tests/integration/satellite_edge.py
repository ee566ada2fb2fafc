"""One satellite played by the test at its link's edge, beside an optional venue.

`SatelliteEdge` does what WebSocketHandler does before it tells its SatelliteDevice
anything (marks itself connected, keeps the hello and the latest status) and then calls
the device as the link would, with real maze-link messages; what the entities send is
recorded at `link.send`, the network edge. The link itself points at a closed loopback
port, so its own attempts fail fast. The entries here are the ones a user's flows would
have created: the satellite "Cellar" (HELLO's two outputs and one input, remembered from
pairing) and a venue whose show puts the outputs in three rooms. The fixtures that put
them together are in conftest.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.maze_manager import link
from custom_components.maze_manager.const import (
    CONF_FINGERPRINT,
    CONF_KIND,
    CONF_PAIRING_KEY,
    CONF_SATELLITE_ID,
    CONF_SHOW_FOLDER,
    DOMAIN,
    KIND_SATELLITE,
    KIND_VENUE,
)
from custom_components.maze_manager.link.client import WebSocketHandler
from custom_components.maze_manager.satellites import SatelliteDevice, hello_layout
from custom_components.maze_manager.venue import Venue
from tests.satellite_harness import free_port

SATELLITE_ID = "sat-test"
LATENCY_US = 5000
OUTPUTS = (
    link.OutputInfo(0, "Left", "left", LATENCY_US),
    link.OutputInfo(1, "Right", "right", LATENCY_US),
)
INPUTS = (link.InputInfo(0, "Gate button"),)
HELLO = link.Hello(SATELLITE_ID, "Cellar", "1.2.3", 48000, OUTPUTS, INPUTS, ())
LEFT = f"{SATELLITE_ID}-output-0"
RIGHT = f"{SATELLITE_ID}-output-1"
GATE_BUTTON = f"{SATELLITE_ID}-input-0"

SHOW_YAML = """
rooms:
  Entrance:
    speakers:
      - satellite: sat-test
        output: Left
  Cop Dodge:
    speakers:
      - satellite: sat-test
        output: Right
  Gate:
    speakers:
      - satellite: sat-test
        output: Right
effects:
  Lightning:
    steps:
      - light: {state: on, brightness: 255}
        strobe: true
themes:
  Halloween Night:
    cues:
      - effect: Lightning
        rooms: [Entrance]
  Quiet Night:
    cues:
      - effect: Lightning
        rooms: [Gate]
"""


def status(
    playing: tuple[link.PlayingCue, ...] = (), *, rtt_us: int = 2000, underruns: int = 0
) -> link.Status:
    """A synchronised satellite's status report."""
    return link.Status(True, 150, rtt_us, 40, underruns, 0, playing, ())


class SatelliteEdge:
    """The network side of one satellite's link, played by the test."""

    def __init__(self, device: SatelliteDevice, connected: set[WebSocketHandler]) -> None:
        self.device = device
        self.sent: list[link.Message] = []
        self.refuse = False
        self._connected = connected

    async def record(self, message: link.Message) -> bool:
        """Stands in for WebSocketHandler.send: False when the frame could not go out."""
        if self.refuse or self.device.link not in self._connected:
            return False
        self.sent.append(message)
        return True

    def connect(self, hello: link.Hello = HELLO) -> None:
        self._connected.add(self.device.link)
        self.device.link.hello, self.device.link.status = hello, None
        self.device.link_connected(hello)

    def report(self, message: link.Message) -> None:
        if isinstance(message, link.Status):
            self.device.link.status = message
        self.device.link_message(message)

    def disconnect(self) -> None:
        self._connected.discard(self.device.link)
        self.device.link.status = None
        self.device.link_disconnected()

    def take(self, kind: type[link.Message]) -> list[link.Message]:
        """The recorded messages of one kind, forgetting everything recorded so far."""
        found = [message for message in self.sent if isinstance(message, kind)]
        self.sent.clear()
        return found


type Start = Callable[[], Awaitable[SatelliteEdge]]
"""Loads every added entry and hands back the satellite's edge (the `start` fixture)."""


def add_satellite(hass: HomeAssistant) -> MockConfigEntry:
    """A satellite entry that remembers HELLO's outputs and inputs, as after pairing."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Cellar",
        unique_id=SATELLITE_ID,
        data={
            CONF_KIND: KIND_SATELLITE,
            "host": "127.0.0.1",
            "port": free_port(),  # nothing listens: the link's attempts fail at once
            CONF_PAIRING_KEY: "0f" * 32,
            CONF_FINGERPRINT: None,
            CONF_SATELLITE_ID: SATELLITE_ID,
            **hello_layout(HELLO),
        },
    )
    entry.add_to_hass(hass)
    return entry


def add_venue(hass: HomeAssistant, folder: Path, show: str | None = SHOW_YAML) -> MockConfigEntry:
    """A venue entry whose show folder holds `show` (None: an empty folder)."""
    if show is not None:
        (folder / "show.yaml").write_text(show, encoding="utf-8")
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Venue",
        unique_id=KIND_VENUE,
        data={CONF_KIND: KIND_VENUE},
        options={CONF_SHOW_FOLDER: str(folder)},
    )
    entry.add_to_hass(hass)
    return entry


async def async_start(
    hass: HomeAssistant,
    satellite: MockConfigEntry,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
) -> SatelliteEdge:
    """Load every added entry and take the satellite's network edge."""
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert satellite.state is ConfigEntryState.LOADED
    edge = SatelliteEdge(satellite.runtime_data, connected)
    monkeypatch.setattr(edge.device.link, "send", edge.record)
    return edge


def entity_id(hass: HomeAssistant, domain: str, unique_id: str) -> str:
    found = er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


def state_of(hass: HomeAssistant, domain: str, unique_id: str) -> State:
    state = hass.states.get(entity_id(hass, domain, unique_id))
    assert state is not None
    return state


async def call(hass: HomeAssistant, domain: str, service: str, unique_id: str, **data: Any) -> None:
    target = {ATTR_ENTITY_ID: entity_id(hass, domain, unique_id)}
    await hass.services.async_call(domain, service, {**target, **data}, blocking=True)


def patch_connected(monkeypatch: pytest.MonkeyPatch) -> set[WebSocketHandler]:
    """Make WebSocketHandler.connected answer from a set of links the test has connected."""
    links: set[WebSocketHandler] = set()
    monkeypatch.setattr(WebSocketHandler, "connected", property(lambda item: item in links))
    return links


async def async_unload_all(hass: HomeAssistant) -> None:
    """Unload every loaded entry, so no link or timer outlives the test."""
    for entry in hass.config_entries.async_entries(DOMAIN):
        if entry.state is ConfigEntryState.LOADED:
            assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def venue_of(entry: MockConfigEntry) -> Venue:
    venue = entry.runtime_data
    assert isinstance(venue, Venue)
    return venue
