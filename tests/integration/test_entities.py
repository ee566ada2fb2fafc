"""The integration's entities: speakers, inputs and diagnostic sensors per satellite, and the
venue's theme select, strobe-safe switch and master volume.

A satellite is driven through the interface its link uses. `SatelliteEdge` does what
WebSocketHandler does before it tells its SatelliteDevice anything (marks itself connected,
keeps the hello and the latest status) and then calls the device as the link would, with
real maze-link messages; what the entities send is recorded at `link.send`, the network
edge. The link itself points at a closed loopback port, so its own attempts fail fast.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.number import NumberExtraStoredData
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    EntityCategory,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    async_capture_events,
    async_mock_restore_state_shutdown_restart,
    mock_restore_cache_with_extra_data,
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
from custom_components.maze_manager.effects_manager import EVENT_EFFECT_RUN
from custom_components.maze_manager.link.client import WebSocketHandler
from custom_components.maze_manager.satellites import SatelliteDevice, hello_layout
from custom_components.maze_manager.venue import Venue

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


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def add_satellite(hass: HomeAssistant) -> MockConfigEntry:
    """A satellite entry that remembers HELLO's outputs and inputs, as after pairing."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Cellar",
        unique_id=SATELLITE_ID,
        data={
            CONF_KIND: KIND_SATELLITE,
            "host": "127.0.0.1",
            "port": closed_port(),
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


@pytest.fixture
def connected(monkeypatch: pytest.MonkeyPatch) -> set[WebSocketHandler]:
    """The links the test has connected."""
    return patch_connected(monkeypatch)


@pytest.fixture(autouse=True)
async def unload_entries(hass: HomeAssistant, socket_enabled: None) -> AsyncIterator[None]:
    """Let the links try the closed port, and stop them when the test ends."""
    yield
    await async_unload_all(hass)


# --- speakers ---------------------------------------------------------------------------


async def test_speakers_follow_the_link_and_what_plays(
    hass: HomeAssistant, connected: set[WebSocketHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    assert state_of(hass, "media_player", LEFT).state == STATE_UNAVAILABLE

    edge.connect()
    await hass.async_block_till_done()
    left = state_of(hass, "media_player", LEFT)
    assert left.state == "idle"
    assert left.name == "Cellar Left"
    assert left.attributes["cue_ids"] == []
    assert left.attributes["device_class"] == "speaker"
    assert state_of(hass, "media_player", RIGHT).name == "Cellar Right"

    edge.report(status((link.PlayingCue(1, 7, 0b01, False), link.PlayingCue(2, 9, 0b11, True))))
    await hass.async_block_till_done()
    assert state_of(hass, "media_player", LEFT).state == "playing"
    assert state_of(hass, "media_player", LEFT).attributes["cue_ids"] == [7, 9]
    assert state_of(hass, "media_player", RIGHT).attributes["cue_ids"] == [9]

    edge.report(status((link.PlayingCue(3, 4, 0b10, False),)))
    await hass.async_block_till_done()
    assert state_of(hass, "media_player", LEFT).state == "idle"
    assert state_of(hass, "media_player", RIGHT).state == "playing"

    edge.disconnect()
    await hass.async_block_till_done()
    assert state_of(hass, "media_player", LEFT).state == STATE_UNAVAILABLE
    assert state_of(hass, "media_player", RIGHT).state == STATE_UNAVAILABLE


async def test_satellite_device_carries_model_and_version(
    hass: HomeAssistant, connected: set[WebSocketHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    edge.connect()
    await hass.async_block_till_done()
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, SATELLITE_ID)})
    assert device is not None
    assert (device.manufacturer, device.model, device.sw_version) == (
        "LoHP",
        "Maze satellite",
        "1.2.3",
    )
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    assert {entry.unique_id for entry in entities} == {
        LEFT,
        RIGHT,
        GATE_BUTTON,
        *(f"{SATELLITE_ID}-{key}" for key in ("sync_error", "round_trip", "lead")),
        *(f"{SATELLITE_ID}-{key}" for key in ("buffer", "underruns")),
    }


async def test_speaker_volume_mute_and_stop_reach_the_satellite(
    hass: HomeAssistant, connected: set[WebSocketHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    edge.connect()
    await hass.async_block_till_done()
    edge.sent.clear()

    await call(hass, "media_player", "volume_set", RIGHT, volume_level=0.4)
    assert edge.take(link.Volume) == [link.Volume(1, 0.4, False)]
    await call(hass, "media_player", "volume_mute", RIGHT, is_volume_muted=True)
    assert edge.take(link.Volume) == [link.Volume(1, 0.4, True)]
    right = state_of(hass, "media_player", RIGHT)
    assert (right.attributes["volume_level"], right.attributes["is_volume_muted"]) == (0.4, True)

    await call(hass, "media_player", "media_stop", RIGHT)
    [stop] = edge.take(link.Stop)
    assert isinstance(stop, link.Stop)
    assert (stop.at_us, stop.cue_id, stop.output_mask, stop.fade_ms) == (0, 0, 0b10, 300)

    edge.disconnect()
    await hass.async_block_till_done()
    # Unavailable, the state has no volume attributes, but the saved level keeps it.
    saved = await async_mock_restore_state_shutdown_restart(hass)
    stored = saved.last_states[entity_id(hass, "media_player", RIGHT)].extra_data
    assert stored is not None
    assert stored.as_dict() == {"volume": 0.4, "muted": True}

    edge.connect()
    await hass.async_block_till_done()
    assert edge.take(link.Volume) == [link.Volume(1, 0.4, True)]


async def test_speaker_command_fails_when_the_frame_cannot_go_out(
    hass: HomeAssistant, connected: set[WebSocketHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    edge.connect()
    await hass.async_block_till_done()
    edge.refuse = True
    with pytest.raises(HomeAssistantError) as caught:
        await call(hass, "media_player", "volume_set", LEFT, volume_level=0.2)
    assert caught.value.translation_key == "satellite_not_connected"
    assert "volume_level" not in state_of(hass, "media_player", LEFT).attributes


async def test_speaker_level_survives_a_restart(
    hass: HomeAssistant, connected: set[WebSocketHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    satellite = add_satellite(hass)
    left = er.async_get(hass).async_get_or_create(
        "media_player", DOMAIN, LEFT, suggested_object_id="cellar_left", config_entry=satellite
    )
    mock_restore_cache_with_extra_data(
        hass, [(State(left.entity_id, STATE_UNAVAILABLE), {"volume": 0.25, "muted": True})]
    )
    edge = await async_start(hass, satellite, connected, monkeypatch)
    edge.connect()
    await hass.async_block_till_done()
    assert edge.take(link.Volume) == [link.Volume(0, 0.25, True)]
    assert state_of(hass, "media_player", LEFT).attributes["volume_level"] == 0.25


async def test_speakers_join_the_area_of_their_only_room(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    add_venue(hass, tmp_path)
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    registry = er.async_get(hass)
    left_id = entity_id(hass, "media_player", LEFT)
    right_id = entity_id(hass, "media_player", RIGHT)
    assert registry.async_get(left_id).area_id is None  # type: ignore[union-attr]

    edge.connect()  # output names resolve to rooms once the hello has named them
    await hass.async_block_till_done()
    entrance = ar.async_get(hass).async_get_area_by_name("Entrance")
    assert entrance is not None
    assert registry.async_get(left_id).area_id == entrance.id  # type: ignore[union-attr]
    # The right output plays in two rooms (Cop Dodge and Gate): no single area fits.
    assert registry.async_get(right_id).area_id is None  # type: ignore[union-attr]


async def test_speaker_area_chosen_by_the_user_is_kept(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    add_venue(hass, tmp_path)
    satellite = add_satellite(hass)
    attic = ar.async_get(hass).async_create("Attic")
    registry = er.async_get(hass)
    left = registry.async_get_or_create("media_player", DOMAIN, LEFT, config_entry=satellite)
    registry.async_update_entity(left.entity_id, area_id=attic.id)
    edge = await async_start(hass, satellite, connected, monkeypatch)
    edge.connect()
    edge.report(status())
    await hass.async_block_till_done()
    assert registry.async_get(left.entity_id).area_id == attic.id  # type: ignore[union-attr]


# --- inputs -----------------------------------------------------------------------------


async def test_input_event_fires_on_its_button(
    hass: HomeAssistant, connected: set[WebSocketHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    button = state_of(hass, "event", GATE_BUTTON)
    assert button.state == STATE_UNAVAILABLE
    edge.connect()
    await hass.async_block_till_done()
    button = state_of(hass, "event", GATE_BUTTON)
    assert button.state == "unknown"
    assert button.name == "Cellar Gate button"
    assert button.attributes["device_class"] == "button"
    assert button.attributes["event_types"] == ["press", "release", "long_press", "double_press"]

    edge.report(link.ButtonEvent(5, link.ButtonEventKind.PRESS, 1, 1000))  # another input
    await hass.async_block_till_done()
    assert state_of(hass, "event", GATE_BUTTON).state == "unknown"

    edge.report(link.ButtonEvent(0, link.ButtonEventKind.LONG_PRESS, 2, 2000))
    await hass.async_block_till_done()
    button = state_of(hass, "event", GATE_BUTTON)
    assert button.state != "unknown"
    assert button.attributes["event_type"] == "long_press"

    edge.report(link.ButtonEvent(0, link.ButtonEventKind.DOUBLE_PRESS, 3, 3000))
    await hass.async_block_till_done()
    assert state_of(hass, "event", GATE_BUTTON).attributes["event_type"] == "double_press"


# --- diagnostic sensors -----------------------------------------------------------------


async def test_sensors_show_the_latest_status(
    hass: HomeAssistant, connected: set[WebSocketHandler], monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    sync_error = entity_id(hass, "sensor", f"{SATELLITE_ID}-sync_error")
    registry_entry = er.async_get(hass).async_get(sync_error)
    assert registry_entry is not None
    assert registry_entry.entity_category is EntityCategory.DIAGNOSTIC
    assert hass.states.get(sync_error).state == STATE_UNAVAILABLE  # type: ignore[union-attr]

    edge.connect()
    await hass.async_block_till_done()
    assert hass.states.get(sync_error).state == "unknown"  # type: ignore[union-attr]

    edge.report(status(rtt_us=2400, underruns=3))
    await hass.async_block_till_done()
    values = {
        key: state_of(hass, "sensor", f"{SATELLITE_ID}-{key}")
        for key in ("sync_error", "round_trip", "lead", "buffer", "underruns")
    }
    assert {key: state.state for key, state in values.items()} == {
        "sync_error": "150",
        "round_trip": "2400",
        "lead": "unknown",  # no venue is loaded to say how it schedules
        "buffer": "40",
        "underruns": "3",
    }
    assert values["sync_error"].attributes["unit_of_measurement"] == "μs"
    assert values["lead"].attributes["unit_of_measurement"] == "ms"
    assert values["underruns"].attributes["state_class"] == "total_increasing"

    edge.disconnect()
    await hass.async_block_till_done()
    assert hass.states.get(sync_error).state == STATE_UNAVAILABLE  # type: ignore[union-attr]


async def test_lead_sensor_follows_the_venue(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    add_venue(hass, tmp_path)
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    edge.connect()
    edge.report(status(rtt_us=2000))
    await hass.async_block_till_done()
    # Round trip 2 ms + output latency 5 ms + two 5 ms blocks + 3 ms margin.
    lead = state_of(hass, "sensor", f"{SATELLITE_ID}-lead")
    assert float(lead.state) == pytest.approx(20.0)

    edge.report(status(rtt_us=30_000))
    await hass.async_block_till_done()
    assert float(state_of(hass, "sensor", f"{SATELLITE_ID}-lead").state) == pytest.approx(48.0)


# --- venue ------------------------------------------------------------------------------


def venue_of(entry: MockConfigEntry) -> Venue:
    venue = entry.runtime_data
    assert isinstance(venue, Venue)
    return venue


async def test_venue_entities_belong_to_the_venue_device(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    add_venue(hass, tmp_path)
    await async_start(hass, add_satellite(hass), connected, monkeypatch)
    device = dr.async_get(hass).async_get_device(identifiers={(DOMAIN, "venue")})
    assert device is not None
    assert (device.name, device.manufacturer, device.model) == ("Venue", "LoHP", "Maze venue")
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    assert {(entry.domain, entry.unique_id) for entry in entities} == {
        ("select", "venue-theme"),
        ("switch", "venue-strobe_safe"),
        ("number", "venue-master_volume"),
    }


async def test_theme_select_runs_themes_and_follows_reloads(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    venue_entry = add_venue(hass, tmp_path)
    await async_start(hass, add_satellite(hass), connected, monkeypatch)
    theme = state_of(hass, "select", "venue-theme")
    assert theme.attributes["options"] == ["Halloween Night", "Quiet Night"]
    assert theme.state == "unknown"

    runs = async_capture_events(hass, EVENT_EFFECT_RUN)
    await call(hass, "select", "select_option", "venue-theme", option="Quiet Night")
    assert state_of(hass, "select", "venue-theme").state == "Quiet Night"
    assert [(run.data["effect"], run.data["rooms"]) for run in runs] == [("Lightning", ["Gate"])]

    (tmp_path / "show.yaml").write_text(
        SHOW_YAML + "  Storm:\n    cues:\n      - effect: Lightning\n", encoding="utf-8"
    )
    venue = venue_of(venue_entry)
    assert await venue.async_reload()
    await hass.async_block_till_done()
    theme = state_of(hass, "select", "venue-theme")
    assert theme.attributes["options"] == ["Halloween Night", "Quiet Night", "Storm"]

    await venue.effects.async_stop(None, None, 0)
    await hass.async_block_till_done()
    assert state_of(hass, "select", "venue-theme").state == "unknown"


async def test_theme_select_is_unavailable_without_a_show(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    add_venue(hass, tmp_path, show=None)
    await async_start(hass, add_satellite(hass), connected, monkeypatch)
    assert state_of(hass, "select", "venue-theme").state == STATE_UNAVAILABLE


async def test_strobe_safe_switch_sets_the_venue(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    venue_entry = add_venue(hass, tmp_path)
    await async_start(hass, add_satellite(hass), connected, monkeypatch)
    venue = venue_of(venue_entry)
    strobe_safe = entity_id(hass, "switch", "venue-strobe_safe")
    assert hass.states.get(strobe_safe).state == STATE_OFF  # type: ignore[union-attr]
    registry_entry = er.async_get(hass).async_get(strobe_safe)
    assert registry_entry is not None
    assert registry_entry.entity_category is EntityCategory.CONFIG

    await call(hass, "switch", "turn_on", "venue-strobe_safe")
    assert (venue.state.strobe_safe, state_of(hass, "switch", "venue-strobe_safe").state) == (
        True,
        STATE_ON,
    )
    await call(hass, "switch", "turn_off", "venue-strobe_safe")
    assert (venue.state.strobe_safe, state_of(hass, "switch", "venue-strobe_safe").state) == (
        False,
        STATE_OFF,
    )


async def test_master_volume_reaches_every_satellite(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    venue_entry = add_venue(hass, tmp_path)
    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    venue = venue_of(venue_entry)
    edge.connect()
    await hass.async_block_till_done()
    edge.sent.clear()

    await call(hass, "number", "set_value", "venue-master_volume", value=0.5)
    assert venue.state.master_volume == 0.5
    assert edge.take(link.Volume) == [link.Volume(link.MASTER_OUTPUT, 0.5, False)]
    volume = state_of(hass, "number", "venue-master_volume")
    assert float(volume.state) == 0.5
    assert (volume.attributes["min"], volume.attributes["max"]) == (0.0, 1.0)
    assert volume.attributes["step"] == 0.01


async def test_venue_settings_are_restored_at_startup(
    hass: HomeAssistant,
    connected: set[WebSocketHandler],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    venue_entry = add_venue(hass, tmp_path)
    registry = er.async_get(hass)
    switch = registry.async_get_or_create(
        "switch", DOMAIN, "venue-strobe_safe", config_entry=venue_entry
    )
    number = registry.async_get_or_create(
        "number", DOMAIN, "venue-master_volume", config_entry=venue_entry
    )
    stored = NumberExtraStoredData(1.0, 0.0, 0.01, None, 0.35).as_dict()
    mock_restore_cache_with_extra_data(
        hass, [(State(switch.entity_id, STATE_ON), {}), (State(number.entity_id, "0.35"), stored)]
    )

    edge = await async_start(hass, add_satellite(hass), connected, monkeypatch)
    venue = venue_of(venue_entry)
    assert venue.state.strobe_safe is True
    assert venue.state.master_volume == 0.35
    assert hass.states.get(switch.entity_id).state == STATE_ON  # type: ignore[union-attr]

    edge.connect()  # a satellite that connects later gets the restored master volume
    await hass.async_block_till_done()
    assert link.Volume(link.MASTER_OUTPUT, 0.35, False) in edge.take(link.Volume)
