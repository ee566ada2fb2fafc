"""The integration's entities: speakers, inputs and diagnostic sensors per satellite, and the
venue's theme select, strobe-safe switch and master volume.

The satellite "Cellar" is played by the test at its link's edge (satellite_edge.py); the
fixtures in conftest.py load it, and the venue when a test asks for one. Each test then
acts as the satellite or the user would and reads the entities back; the snapshots in
snapshots/test_entities.ambr hold each entity's registry entry and state as a whole.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from homeassistant.components.number import NumberExtraStoredData
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, EntityCategory
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import area_registry as ar, entity_registry as er
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
    async_capture_events,
    async_mock_restore_state_shutdown_restart,
    mock_restore_cache_with_extra_data,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.maze_manager import link
from custom_components.maze_manager.compat import async_entry_device
from custom_components.maze_manager.const import DOMAIN
from custom_components.maze_manager.effects_manager import EVENT_EFFECT_RUN
from custom_components.maze_manager.venue import Venue
from tests.integration.entity_snapshot import snapshot_entities
from tests.integration.satellite_edge import (
    GATE_BUTTON,
    LEFT,
    RIGHT,
    SATELLITE_ID,
    SHOW_YAML,
    SatelliteEdge,
    Start,
    call,
    entity_id,
    state_of,
    status,
    venue_of,
)

# --- snapshots --------------------------------------------------------------------------


@pytest.mark.usefixtures("venue_entry")
async def test_satellite_entities_snapshot(
    hass: HomeAssistant,
    online: SatelliteEdge,
    satellite_entry: MockConfigEntry,
    snapshot: SnapshotAssertion,
) -> None:
    online.report(status((link.PlayingCue(1, 7, 0b01, False),), rtt_us=2000, underruns=2))
    await hass.async_block_till_done()
    snapshot_entities(hass, satellite_entry, snapshot)


async def test_venue_entities_snapshot(
    hass: HomeAssistant, venue: Venue, venue_entry: MockConfigEntry, snapshot: SnapshotAssertion
) -> None:
    await call(hass, "number", "set_value", "venue-master_volume", value=0.6)
    await call(hass, "select", "select_option", "venue-theme", option="Halloween Night")
    snapshot_entities(hass, venue_entry, snapshot)


# --- speakers ---------------------------------------------------------------------------


async def test_speakers_follow_the_link_and_what_plays(
    hass: HomeAssistant, edge: SatelliteEdge
) -> None:
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


@pytest.mark.usefixtures("online")
async def test_satellite_device_carries_model_and_version(
    hass: HomeAssistant, satellite_entry: MockConfigEntry
) -> None:
    device = async_entry_device(hass, satellite_entry.entry_id, (DOMAIN, SATELLITE_ID))
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
    hass: HomeAssistant, online: SatelliteEdge
) -> None:
    await call(hass, "media_player", "volume_set", RIGHT, volume_level=0.4)
    assert online.take(link.Volume) == [link.Volume(1, 0.4, False)]
    await call(hass, "media_player", "volume_mute", RIGHT, is_volume_muted=True)
    assert online.take(link.Volume) == [link.Volume(1, 0.4, True)]
    right = state_of(hass, "media_player", RIGHT)
    assert (right.attributes["volume_level"], right.attributes["is_volume_muted"]) == (0.4, True)

    await call(hass, "media_player", "media_stop", RIGHT)
    [stop] = online.take(link.Stop)
    assert isinstance(stop, link.Stop)
    assert (stop.at_us, stop.cue_id, stop.output_mask, stop.fade_ms) == (0, 0, 0b10, 300)

    online.disconnect()
    await hass.async_block_till_done()
    # Unavailable, the state has no volume attributes, but the saved level keeps it.
    saved = await async_mock_restore_state_shutdown_restart(hass)
    stored = saved.last_states[entity_id(hass, "media_player", RIGHT)].extra_data
    assert stored is not None
    assert stored.as_dict() == {"volume": 0.4, "muted": True}

    online.connect()
    await hass.async_block_till_done()
    assert online.take(link.Volume) == [link.Volume(1, 0.4, True)]


async def test_speaker_command_fails_when_the_frame_cannot_go_out(
    hass: HomeAssistant, online: SatelliteEdge
) -> None:
    online.refuse = True
    with pytest.raises(HomeAssistantError) as caught:
        await call(hass, "media_player", "volume_set", LEFT, volume_level=0.2)
    assert caught.value.translation_key == "satellite_not_connected"
    assert "volume_level" not in state_of(hass, "media_player", LEFT).attributes


@pytest.fixture
def stored_left_level(hass: HomeAssistant, satellite_entry: MockConfigEntry) -> None:
    """Before the restart, the left speaker was at 0.25 and muted."""
    left = er.async_get(hass).async_get_or_create(
        "media_player",
        DOMAIN,
        LEFT,
        suggested_object_id="cellar_left",
        config_entry=satellite_entry,
    )
    mock_restore_cache_with_extra_data(
        hass, [(State(left.entity_id, STATE_UNAVAILABLE), {"volume": 0.25, "muted": True})]
    )


@pytest.mark.usefixtures("stored_left_level")
async def test_speaker_level_survives_a_restart(hass: HomeAssistant, start: Start) -> None:
    edge = await start()
    edge.connect()
    await hass.async_block_till_done()
    assert edge.take(link.Volume) == [link.Volume(0, 0.25, True)]
    assert state_of(hass, "media_player", LEFT).attributes["volume_level"] == 0.25


@pytest.mark.usefixtures("venue_entry")
async def test_speakers_join_the_area_of_their_only_room(
    hass: HomeAssistant, edge: SatelliteEdge
) -> None:
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


@pytest.fixture
def left_in_attic(
    hass: HomeAssistant, venue_entry: MockConfigEntry, satellite_entry: MockConfigEntry
) -> tuple[str, ar.AreaEntry]:
    """The user put the left speaker in the Attic; its entity id and that area."""
    attic = ar.async_get(hass).async_create("Attic")
    registry = er.async_get(hass)
    left = registry.async_get_or_create("media_player", DOMAIN, LEFT, config_entry=satellite_entry)
    registry.async_update_entity(left.entity_id, area_id=attic.id)
    return left.entity_id, attic


async def test_speaker_area_chosen_by_the_user_is_kept(
    hass: HomeAssistant, left_in_attic: tuple[str, ar.AreaEntry], start: Start
) -> None:
    left_id, attic = left_in_attic
    edge = await start()
    edge.connect()
    edge.report(status())
    await hass.async_block_till_done()
    assert er.async_get(hass).async_get(left_id).area_id == attic.id  # type: ignore[union-attr]


# --- inputs -----------------------------------------------------------------------------


async def test_input_event_fires_on_its_button(hass: HomeAssistant, edge: SatelliteEdge) -> None:
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


async def test_sensors_show_the_latest_status(hass: HomeAssistant, edge: SatelliteEdge) -> None:
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


@pytest.mark.usefixtures("venue_entry")
async def test_lead_sensor_follows_the_venue(hass: HomeAssistant, online: SatelliteEdge) -> None:
    online.report(status(rtt_us=2000))
    await hass.async_block_till_done()
    # Round trip 2 ms + output latency 5 ms + two 5 ms blocks + 3 ms margin.
    lead = state_of(hass, "sensor", f"{SATELLITE_ID}-lead")
    assert float(lead.state) == pytest.approx(20.0)

    online.report(status(rtt_us=30_000))
    await hass.async_block_till_done()
    assert float(state_of(hass, "sensor", f"{SATELLITE_ID}-lead").state) == pytest.approx(48.0)


# --- venue ------------------------------------------------------------------------------


@pytest.mark.usefixtures("venue")
async def test_venue_entities_belong_to_the_venue_device(
    hass: HomeAssistant, venue_entry: MockConfigEntry
) -> None:
    device = async_entry_device(hass, venue_entry.entry_id, (DOMAIN, "venue"))
    assert device is not None
    assert (device.name, device.manufacturer, device.model) == ("Venue", "LoHP", "Maze venue")
    entities = er.async_entries_for_device(er.async_get(hass), device.id)
    assert {(entry.domain, entry.unique_id) for entry in entities} == {
        ("select", "venue-theme"),
        ("switch", "venue-strobe_safe"),
        ("number", "venue-master_volume"),
    }


async def test_theme_select_runs_themes_and_follows_reloads(
    hass: HomeAssistant, venue: Venue, tmp_path: Path
) -> None:
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
    assert await venue.async_reload()
    await hass.async_block_till_done()
    theme = state_of(hass, "select", "venue-theme")
    assert theme.attributes["options"] == ["Halloween Night", "Quiet Night", "Storm"]

    await venue.effects.async_stop(None, None, 0)
    await hass.async_block_till_done()
    assert state_of(hass, "select", "venue-theme").state == "unknown"


@pytest.mark.parametrize("show", [None], ids=["no show"])
@pytest.mark.usefixtures("venue")
async def test_theme_select_is_unavailable_without_a_show(hass: HomeAssistant) -> None:
    assert state_of(hass, "select", "venue-theme").state == STATE_UNAVAILABLE


async def test_strobe_safe_switch_sets_the_venue(hass: HomeAssistant, venue: Venue) -> None:
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
    hass: HomeAssistant, venue: Venue, online: SatelliteEdge
) -> None:
    await call(hass, "number", "set_value", "venue-master_volume", value=0.5)
    assert venue.state.master_volume == 0.5
    assert online.take(link.Volume) == [link.Volume(link.MASTER_OUTPUT, 0.5, False)]
    volume = state_of(hass, "number", "venue-master_volume")
    assert float(volume.state) == 0.5
    assert (volume.attributes["min"], volume.attributes["max"]) == (0.0, 1.0)
    assert volume.attributes["step"] == 0.01


@pytest.fixture
def stored_venue_settings(hass: HomeAssistant, venue_entry: MockConfigEntry) -> str:
    """Before the restart, strobe-safe was on and the master volume at 0.35; the switch's
    entity id."""
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
    return switch.entity_id


async def test_venue_settings_are_restored_at_startup(
    hass: HomeAssistant,
    stored_venue_settings: str,
    venue_entry: MockConfigEntry,
    start: Start,
) -> None:
    edge = await start()
    venue = venue_of(venue_entry)
    assert venue.state.strobe_safe is True
    assert venue.state.master_volume == 0.35
    assert hass.states.get(stored_venue_settings).state == STATE_ON  # type: ignore[union-attr]

    edge.connect()  # a satellite that connects later gets the restored master volume
    await hass.async_block_till_done()
    assert link.Volume(link.MASTER_OUTPUT, 0.35, False) in edge.take(link.Volume)
