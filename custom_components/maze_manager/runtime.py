"""The two kinds of config entry, each with its own runtime data, and finding the venue.

A venue entry's runtime data is its Venue, a satellite entry's its SatelliteDevice.
Services, views, WebSocket commands and satellite entities find the loaded venue here
rather than through a pointer kept by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .const import CONF_KIND, DOMAIN, KIND_VENUE

if TYPE_CHECKING:
    from .satellites import SatelliteDevice
    from .venue import Venue

type VenueConfigEntry = ConfigEntry[Venue]
type SatelliteConfigEntry = ConfigEntry[SatelliteDevice]


def is_venue_entry(entry: ConfigEntry) -> bool:
    """Whether an entry of this integration is the venue (else it is a satellite)."""
    return bool(entry.data[CONF_KIND] == KIND_VENUE)


def loaded_venue(hass: HomeAssistant) -> Venue | None:
    """The venue, if its entry is loaded."""
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        if is_venue_entry(entry):
            venue: Venue = entry.runtime_data
            return venue
    return None


def async_get_venue(hass: HomeAssistant) -> Venue:
    """The loaded venue, or the error a service caller sees when there is none."""
    venue = loaded_venue(hass)
    if venue is None:
        raise ServiceValidationError(
            "Set up the venue first",
            translation_domain=DOMAIN,
            translation_key="venue_not_loaded",
        )
    return venue
