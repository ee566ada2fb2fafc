"""LoHP Maze Manager: synchronised sound and light effects for haunted mazes.

Two kinds of config entries: one venue (the show: rooms, effects, themes) and one per
satellite (a Raspberry Pi that plays its rooms' sound). Services, the seed's HTTP API
and the dashboard WebSocket commands are registered once, when the integration loads.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.device_registry import DeviceEntry
from homeassistant.helpers.typing import ConfigType

from . import link
from .audio_manager import DATA_AUDIO, AudioManager
from .audio_stream import StreamTarget
from .bindings import async_handle_button
from .const import DOMAIN
from .http_api import async_register_http_api
from .remote_hosts import DATA_HOSTS, RemoteHostManager
from .runtime import SatelliteConfigEntry, VenueConfigEntry, is_venue_entry
from .satellites import SatelliteDevice
from .services import async_register_services
from .venue import Venue
from .websocket_api import async_register_websocket_commands

CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)

VENUE_PLATFORMS = [Platform.NUMBER, Platform.SELECT, Platform.SWITCH]
SATELLITE_PLATFORMS = [Platform.EVENT, Platform.MEDIA_PLAYER, Platform.SENSOR]


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register what does not depend on an entry: services, HTTP API, WebSocket commands."""
    hass.data[DATA_HOSTS] = RemoteHostManager()
    hass.data[DATA_AUDIO] = AudioManager(hass)
    async_register_services(hass)
    async_register_http_api(hass)
    async_register_websocket_commands(hass)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Set up the venue or one satellite."""
    if is_venue_entry(entry):
        return await _async_setup_venue(hass, entry)
    return await _async_setup_satellite(hass, entry)


async def _async_setup_venue(hass: HomeAssistant, entry: VenueConfigEntry) -> bool:
    venue = Venue(hass, entry, hass.data[DATA_HOSTS])
    entry.runtime_data = venue
    await venue.async_start()
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, VENUE_PLATFORMS)
    return True


async def _async_setup_satellite(hass: HomeAssistant, entry: SatelliteConfigEntry) -> bool:
    device = SatelliteDevice(hass, entry, hass.data[DATA_HOSTS])
    entry.runtime_data = device
    entry.async_on_unload(
        device.async_add_button_handler(
            lambda source, event: async_handle_button(hass, source, event)
        )
    )
    await hass.config_entries.async_forward_entry_setups(entry, SATELLITE_PLATFORMS)
    await device.async_start()
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Unload an entry and leave nothing running."""
    if is_venue_entry(entry):
        if not await hass.config_entries.async_unload_platforms(entry, VENUE_PLATFORMS):
            return False
        await entry.runtime_data.async_close()
        return True
    if not await hass.config_entries.async_unload_platforms(entry, SATELLITE_PLATFORMS):
        return False
    device = entry.runtime_data
    await hass.data[DATA_AUDIO].async_stop_streams(
        [StreamTarget(device, link.ALL_OUTPUTS)], fade_ms=0
    )
    await device.async_stop()
    return True


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: ConfigEntry, device: DeviceEntry
) -> bool:
    """Let users remove a device this entry no longer provides."""
    if is_venue_entry(entry):
        return True
    return (DOMAIN, entry.runtime_data.satellite_id) not in device.identifiers


async def _async_options_updated(hass: HomeAssistant, entry: VenueConfigEntry) -> None:
    """The venue's options changed: reload it so the show folder and lead apply."""
    await hass.config_entries.async_reload(entry.entry_id)
