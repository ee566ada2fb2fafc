"""WebSocket commands for dashboards: the venue's show, and the live satellite status."""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.components.websocket_api import async_register_command
from homeassistant.components.websocket_api.connection import ActiveConnection
from homeassistant.components.websocket_api.decorators import websocket_command
from homeassistant.core import HomeAssistant, callback

from .remote_hosts import DATA_HOSTS
from .runtime import loaded_venue
from .satellites import SatelliteDevice
from .venue import Venue


def venue_summary(venue: Venue | None) -> dict[str, Any]:
    """The rooms, effects and themes a dashboard can offer, and the venue's state."""
    if venue is None or venue.show is None:
        return {"loaded": venue is not None, "rooms": [], "effects": [], "themes": []}
    show = venue.show
    rooms = venue.rooms
    return {
        "loaded": True,
        "rooms": [
            {
                "name": room.name,
                "area_id": rooms.room_areas.get(room.name),
                "lights": rooms.room_lights(room),
                "satellites": [target.device.satellite_id for target in rooms.targets(room)],
            }
            for room in show.rooms.values()
        ],
        "effects": [
            {
                "name": effect.name,
                "priority": effect.priority,
                "audio": effect.audio.source if effect.audio else None,
                "loop": effect.audio.loop if effect.audio else False,
                "steps": len(effect.steps),
            }
            for effect in show.effects.values()
        ],
        "themes": [theme.name for theme in show.themes.values()],
        "theme": venue.state.theme,
        "strobe_safe": venue.state.strobe_safe,
        "emergency": venue.state.emergency,
        "master_volume": venue.state.master_volume,
    }


def satellite_summary(device: SatelliteDevice) -> dict[str, Any]:
    """One satellite's live status."""
    status = device.status
    hello = device.hello
    return {
        "satellite_id": device.satellite_id,
        "name": device.name,
        "host": device.host,
        "connected": device.available,
        "synchronised": bool(status and status.synchronised),
        "sync_error_us": status.sync_error_us if status else None,
        "rtt_us": status.rtt_us if status else None,
        "outputs": [item.name for item in hello.outputs] if hello else [],
        "inputs": [item.name for item in hello.inputs] if hello else [],
        "playing": [
            {"cue_id": item.cue_id, "output_mask": item.output_mask, "loop": item.loop}
            for item in (status.playing if status else ())
        ],
        "last_error": device.link.last_error,
    }


@websocket_command({vol.Required("type"): "maze_manager/venue"})
@callback
def ws_venue(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Answer with the venue's show and state."""
    connection.send_result(msg["id"], venue_summary(loaded_venue(hass)))


@websocket_command({vol.Required("type"): "maze_manager/satellites"})
@callback
def ws_satellites(hass: HomeAssistant, connection: ActiveConnection, msg: dict[str, Any]) -> None:
    """Answer with every satellite's live status."""
    devices = hass.data[DATA_HOSTS].devices
    connection.send_result(msg["id"], {"satellites": [satellite_summary(d) for d in devices]})


@callback
def async_register_websocket_commands(hass: HomeAssistant) -> None:
    """Register the dashboard commands."""
    async_register_command(hass, ws_venue)
    async_register_command(hass, ws_satellites)
