"""The venue's master volume: every satellite's overall level, restored at startup."""

from __future__ import annotations

from homeassistant.components.number import NumberMode, RestoreNumber
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import VenueEntity
from .runtime import VenueConfigEntry
from .venue import Venue

PARALLEL_UPDATES = 1
"""Volume changes fan out to every satellite; in order, the last one set wins everywhere."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VenueConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the master volume."""
    venue = entry.runtime_data
    async_add_entities([MasterVolume(venue)])


class MasterVolume(VenueEntity, RestoreNumber):
    """The venue's master volume, 0 to 1."""

    _attr_translation_key = "master_volume"
    _attr_native_min_value = 0.0
    _attr_native_max_value = 1.0
    _attr_native_step = 0.01
    _attr_mode = NumberMode.SLIDER

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue, "master_volume")

    async def async_added_to_hass(self) -> None:
        """Restore the last volume and send it to the satellites."""
        await super().async_added_to_hass()
        last = await self.async_get_last_number_data()
        if last is not None and last.native_value is not None:
            await self.venue.async_set_master_volume(last.native_value)

    @property
    def native_value(self) -> float:
        """The master volume every satellite has."""
        return self.venue.state.master_volume

    async def async_set_native_value(self, value: float) -> None:
        """Set the master volume of every satellite."""
        await self.venue.async_set_master_volume(value)
