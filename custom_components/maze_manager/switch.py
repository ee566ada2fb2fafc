"""The venue's strobe-safe switch: while on, effect steps marked strobe are left out.

It is a safety setting for guests sensitive to flashing light, so it survives restarts.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.switch import SwitchEntity
from homeassistant.const import STATE_ON, EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import RestoreEntity

from .entity import VenueEntity
from .runtime import VenueConfigEntry
from .venue import Venue

PARALLEL_UPDATES = 1


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VenueConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the strobe-safe switch."""
    venue = entry.runtime_data
    async_add_entities([StrobeSafeSwitch(venue)])


class StrobeSafeSwitch(VenueEntity, RestoreEntity, SwitchEntity):
    """Drops strobe steps from every effect run while on."""

    _attr_translation_key = "strobe_safe"
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue, "strobe_safe")

    async def async_added_to_hass(self) -> None:
        """Restore the last setting before any effect runs."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is not None:
            self._set(last.state == STATE_ON)

    @property
    def is_on(self) -> bool:
        """Whether strobe steps are dropped."""
        return self.venue.state.strobe_safe

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Drop strobe steps from now on."""
        self._set(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Play strobe steps again."""
        self._set(False)

    def _set(self, strobe_safe: bool) -> None:
        self.venue.state.strobe_safe = strobe_safe
        self.venue.notify()
