"""The venue's theme select: shows the theme running and starts another when chosen."""

from __future__ import annotations

from homeassistant.components.select import SelectEntity
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import VenueEntity
from .runtime import VenueConfigEntry
from .venue import Venue

PARALLEL_UPDATES = 1
"""A theme start fans out to every satellite; two at once would interleave their cues."""


async def async_setup_entry(
    hass: HomeAssistant,
    entry: VenueConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the theme select."""
    venue = entry.runtime_data
    async_add_entities([ThemeSelect(venue)])


class ThemeSelect(VenueEntity, SelectEntity):
    """The show's themes; unavailable while no show is loaded."""

    _attr_translation_key = "theme"

    def __init__(self, venue: Venue) -> None:
        super().__init__(venue, "theme")

    @property
    def available(self) -> bool:
        """A theme can only be chosen from a loaded show."""
        return self.venue.show is not None

    @property
    def options(self) -> list[str]:
        """The themes of the current show, in the order the show lists them."""
        return list(self.venue.show.themes) if self.venue.show else []

    @property
    def current_option(self) -> str | None:
        """The theme started last, until everything is stopped."""
        return self.venue.state.theme

    async def async_select_option(self, option: str) -> None:
        """Start the chosen theme in every room it names."""
        await self.venue.effects.async_run_theme(self.venue.effects.theme(option))
