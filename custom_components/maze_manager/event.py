"""One event entity per satellite input: a button or switch wired to the Pi.

Automations trigger on it like on any other button; bindings in the show file act on
the same input events separately (see bindings.py).
"""

from __future__ import annotations

from homeassistant.components.event import EventDeviceClass, EventEntity
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from . import link
from .entity import SatelliteEntity
from .runtime import SatelliteConfigEntry
from .satellites import InputLayout, SatelliteDevice

PARALLEL_UPDATES = 0

EVENT_TYPES = [kind.name.lower() for kind in link.ButtonEventKind]


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add an event entity for each input the satellite reported."""
    device = entry.runtime_data
    async_add_entities(SatelliteInputEvent(device, item) for item in device.inputs)


class SatelliteInputEvent(SatelliteEntity, EventEntity):
    """Presses, releases, long and double presses of one satellite input."""

    _attr_device_class = EventDeviceClass.BUTTON
    _attr_event_types = EVENT_TYPES
    _attr_translation_key = "input"

    def __init__(self, device: SatelliteDevice, item: InputLayout) -> None:
        super().__init__(device, f"input-{item.index}")
        self.index = item.index
        self._attr_translation_placeholders = {"index": str(item.index)}
        if item.name:
            self._attr_name = item.name

    async def async_added_to_hass(self) -> None:
        """Listen to the satellite's input events."""
        await super().async_added_to_hass()
        self.async_on_remove(self.device.async_add_button_handler(self._handle_button))

    @callback
    def _handle_button(self, device: SatelliteDevice, event: link.ButtonEvent) -> None:
        if event.input_index != self.index:
            return
        self._trigger_event(event.event.name.lower())
        self.async_write_ha_state()
