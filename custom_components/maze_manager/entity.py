"""Base classes of the integration's entities: one satellite's, and the venue's.

Both are pushed, never polled: a satellite entity redraws when its SatelliteDevice
reports a connection change or a status, a venue entity when the Venue notifies.
"""

from __future__ import annotations

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from .const import DOMAIN
from .runtime import loaded_venue
from .satellites import SatelliteDevice
from .venue import Venue

VENUE_DEVICE_ID = "venue"


def venue_device_info() -> DeviceInfo:
    """The one device every venue entity belongs to."""
    return DeviceInfo(
        identifiers={(DOMAIN, VENUE_DEVICE_ID)},
        name="Venue",
        manufacturer="LoHP",
        model="Maze venue",
        entry_type=DeviceEntryType.SERVICE,
    )


class SatelliteEntity(Entity):
    """An entity of one satellite, unavailable while its link is down."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, device: SatelliteDevice, key: str) -> None:
        self.device = device
        self._attr_unique_id = f"{device.satellite_id}-{key}"
        self._attr_device_info = device.device_info

    @property
    def available(self) -> bool:
        """Whether the satellite is connected."""
        return self.device.available

    @property
    def venue(self) -> Venue | None:
        """The loaded venue, which maps this satellite's outputs to rooms."""
        return loaded_venue(self.hass)

    async def async_added_to_hass(self) -> None:
        """Follow the satellite's connection and status."""
        await super().async_added_to_hass()
        self.async_on_remove(self.device.async_add_listener(self._handle_device_update))

    @callback
    def _handle_device_update(self) -> None:
        """The satellite connected, disconnected or reported a status."""
        self.async_write_ha_state()


class VenueEntity(Entity):
    """An entity of the venue: a setting or control that spans every room."""

    _attr_has_entity_name = True
    _attr_should_poll = False

    def __init__(self, venue: Venue, key: str) -> None:
        self.venue = venue
        self._attr_unique_id = f"{VENUE_DEVICE_ID}-{key}"
        self._attr_device_info = venue_device_info()

    async def async_added_to_hass(self) -> None:
        """Follow show reloads and changes to the venue's state."""
        await super().async_added_to_hass()
        self.async_on_remove(self.venue.async_add_listener(self.async_write_ha_state))
