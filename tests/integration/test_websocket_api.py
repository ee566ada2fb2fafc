"""The dashboard's WebSocket commands: the venue's show and state, and live satellite status."""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import area_registry as ar, device_registry as dr
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.typing import (  # type: ignore[import-untyped]
    WebSocketGenerator,
)

from custom_components.maze_manager.compat import async_entry_device
from custom_components.maze_manager.const import DOMAIN
from pi_satellite.session import LOSS_BOUND_US
from tests.integration.venue_fixtures import (
    CELLAR,
    GATE,
    Maze,
    maze,
    venue_maze,
    wait_for,
)

__all__ = ["maze", "venue_maze"]


async def command(hass_ws_client: WebSocketGenerator, kind: str) -> dict[str, Any]:
    """Send one command as a dashboard does and return its result."""
    client = await hass_ws_client()
    await client.send_json_auto_id({"type": kind})
    answer = await client.receive_json()
    assert answer["success"], answer
    result: dict[str, Any] = answer["result"]
    return result


def area_id(hass: HomeAssistant, name: str) -> str:
    area = ar.async_get(hass).async_get_area_by_name(name)
    assert area is not None
    return area.id


async def test_venue_lists_rooms_effects_and_themes(
    hass: HomeAssistant, venue_maze: Maze, hass_ws_client: WebSocketGenerator
) -> None:
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.venue_strobe_safe"}, blocking=True
    )
    await hass.services.async_call(DOMAIN, "run_theme", {"theme": "Halloween Night"}, blocking=True)
    gate, cellar = venue_maze[GATE].satellite_id, venue_maze[CELLAR].satellite_id

    assert await command(hass_ws_client, "maze_manager/venue") == {
        "loaded": True,
        "rooms": [
            {
                "name": "Entrance",
                "area_id": area_id(hass, "Entrance"),
                "lights": ["light.entrance_strip"],
                "satellites": [gate],
            },
            {
                "name": "Cop Dodge",
                "area_id": area_id(hass, "Cop Dodge"),
                "lights": [],
                "satellites": [gate],
            },
            {
                "name": "Crypt",
                "area_id": area_id(hass, "Crypt"),
                "lights": [],
                "satellites": [cellar],
            },
        ],
        "effects": [
            {
                "name": "Lightning",
                "priority": 200,
                "audio": "lightning.wav",
                "loop": False,
                "steps": 3,
            },
            {"name": "Ambience", "priority": 10, "audio": "ambience.wav", "loop": True, "steps": 0},
            {"name": "Blackout", "priority": 100, "audio": None, "loop": False, "steps": 1},
        ],
        "themes": ["Halloween Night"],
        "theme": "Halloween Night",
        "strobe_safe": True,
        "emergency": False,
        "master_volume": 1.0,
    }


async def test_venue_before_it_is_set_up_and_without_a_show(
    hass: HomeAssistant, maze: Maze, hass_ws_client: WebSocketGenerator
) -> None:
    await maze.start_satellite(GATE)
    maze.add_satellite_entry(GATE)
    await maze.async_setup()
    empty: dict[str, list[Any]] = {"rooms": [], "effects": [], "themes": []}
    assert await command(hass_ws_client, "maze_manager/venue") == {"loaded": False, **empty}

    maze.add_venue_entry()  # an empty show folder
    await maze.async_setup()
    assert await command(hass_ws_client, "maze_manager/venue") == {"loaded": True, **empty}


async def test_satellites_show_their_live_status(
    hass: HomeAssistant, venue_maze: Maze, hass_ws_client: WebSocketGenerator
) -> None:
    await hass.services.async_call(
        DOMAIN, "run_effect", {"effect_name": "Ambience", "room": "Crypt"}, blocking=True
    )
    ambience = venue_maze.cue_id("Ambience")
    cellar = venue_maze[CELLAR]
    # The satellite reports what plays in its next status (once a second).
    await wait_for(lambda: cellar.device.status and cellar.device.status.playing, timeout=5)

    satellites = (await command(hass_ws_client, "maze_manager/satellites"))["satellites"]
    by_name = {item["name"]: item for item in satellites}
    assert set(by_name) == {GATE, CELLAR}
    live = by_name[CELLAR]
    assert live["satellite_id"] == cellar.satellite_id
    assert live["host"] == "127.0.0.1"
    assert (live["connected"], live["synchronised"]) == (True, True)
    # A synchronised satellite's reported error bound stays under the bound it drops sync at.
    assert 0 <= live["sync_error_us"] <= LOSS_BOUND_US
    assert live["rtt_us"] > 0
    assert live["outputs"] == ["Left", "Right"]
    assert live["inputs"] == ["Gate button", "Spare button"]
    assert live["playing"] == [{"cue_id": ambience, "output_mask": 0b11, "loop": True}]
    assert live["last_error"] is None
    assert by_name[GATE]["playing"] == []

    await venue_maze.stop_satellite(CELLAR)
    await wait_for(lambda: not cellar.device.available)
    satellites = (await command(hass_ws_client, "maze_manager/satellites"))["satellites"]
    gone = next(item for item in satellites if item["name"] == CELLAR)
    assert (gone["connected"], gone["synchronised"], gone["playing"]) == (False, False, [])
    assert (gone["sync_error_us"], gone["rtt_us"]) == (None, None)
    # The outputs and inputs of the last hello stay known while the satellite is away.
    assert gone["outputs"] == ["Left", "Right"]


async def remove_device(
    hass_ws_client: WebSocketGenerator, entry_id: str, device_id: str
) -> dict[str, Any]:
    """Ask to remove a device from an entry, as the device page's delete button does."""
    client = await hass_ws_client()
    await client.send_json_auto_id(
        {
            "type": "config/device_registry/remove_config_entry",
            "config_entry_id": entry_id,
            "device_id": device_id,
        }
    )
    answer: dict[str, Any] = await client.receive_json()
    return answer


async def test_only_devices_an_entry_no_longer_provides_can_be_removed(
    hass: HomeAssistant, venue_maze: Maze, hass_ws_client: WebSocketGenerator
) -> None:
    assert await async_setup_component(hass, "config", {})
    devices = dr.async_get(hass)
    gate = venue_maze[GATE]
    assert gate.entry is not None
    venue_entry = venue_maze.venue_entry
    assert venue_entry is not None
    own = async_entry_device(hass, gate.entry.entry_id, (DOMAIN, gate.satellite_id))
    assert own is not None
    stale = devices.async_get_or_create(
        config_entry_id=gate.entry.entry_id, identifiers={(DOMAIN, "sat-replaced")}
    )
    venue_device = async_entry_device(hass, venue_entry.entry_id, (DOMAIN, "venue"))
    assert venue_device is not None

    refused = await remove_device(hass_ws_client, gate.entry.entry_id, own.id)
    assert not refused["success"]
    assert devices.async_get(own.id) is not None

    for entry_id, device_id in (
        (gate.entry.entry_id, stale.id),
        (venue_entry.entry_id, venue_device.id),
    ):
        assert (await remove_device(hass_ws_client, entry_id, device_id))["success"]
        assert devices.async_get(device_id) is None
