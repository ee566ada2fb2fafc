"""Diagnostics of the venue and of each satellite, with the pairing key redacted.

A satellite's report answers "is it connected, is its clock right, and did its sounds
start on time": its hello, latest status, last error and recent start reports with
their error against the scheduled time. The venue's report summarises its show and state.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant

from . import link
from .const import CONF_PAIRING_KEY
from .runtime import is_venue_entry
from .satellites import SatelliteDevice
from .venue import Venue

TO_REDACT = {CONF_PAIRING_KEY}


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: ConfigEntry
) -> dict[str, Any]:
    """Diagnostics of a venue or satellite entry."""
    entry_data = {
        "title": entry.title,
        "data": async_redact_data(dict(entry.data), TO_REDACT),
        "options": dict(entry.options),
    }
    if is_venue_entry(entry):
        return {"entry": entry_data, **_venue(entry.runtime_data)}
    return {"entry": entry_data, **_satellite(entry.runtime_data)}


def _satellite(device: SatelliteDevice) -> dict[str, Any]:
    connection = device.link
    status = device.status
    return {
        "connection": {
            "url": connection.address.url,
            "connected": device.available,
            "synchronised": connection.synchronised,
            "last_error": connection.last_error,
        },
        "hello": _hello(device.hello),
        "status": asdict(status) if status is not None else None,
        "started": [{**asdict(report), "error_us": report.error_us} for report in device.started],
    }


def _hello(hello: link.Hello | None) -> dict[str, Any] | None:
    """The hello, with the cached asset hashes counted rather than listed."""
    if hello is None:
        return None
    return {
        "satellite_id": hello.satellite_id,
        "name": hello.name,
        "version": hello.version,
        "sample_rate": hello.sample_rate,
        "outputs": [asdict(output) for output in hello.outputs],
        "inputs": [asdict(item) for item in hello.inputs],
        "cached_assets": len(hello.cached),
    }


def _venue(venue: Venue) -> dict[str, Any]:
    state = venue.state
    return {
        "state": {
            "strobe_safe": state.strobe_safe,
            "master_volume": state.master_volume,
            "emergency": state.emergency,
            "theme": state.theme,
            "loops": [{**asdict(key), "gain_permille": gain} for key, gain in state.loops.items()],
            "pending_steps": venue.effects.timeline.pending,
        },
        "show": _show_summary(venue),
        "satellites": venue.hosts.remote_hosts(venue.show),
    }


def _show_summary(venue: Venue) -> dict[str, Any] | None:
    show = venue.show
    if show is None:
        return None
    return {
        "folder": str(show.folder),
        "counts": {
            "rooms": len(show.rooms),
            "effects": len(show.effects),
            "themes": len(show.themes),
            "input_bindings": len(show.inputs),
            "preloaded_cues": len(venue.audio.library.cues),
        },
        "rooms": list(show.rooms),
        "effects": list(show.effects),
        "themes": list(show.themes),
        "room_areas": dict(venue.rooms.room_areas),
    }
