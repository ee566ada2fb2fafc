"""Diagnostic sensors per satellite: how well it keeps the venue clock, and how far ahead
effects must be scheduled for it.

Values come from the satellite's latest status report; they are unknown until the first
report after a connect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory, UnitOfTime
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import SatelliteEntity
from .runtime import SatelliteConfigEntry
from .satellites import SatelliteDevice
from .venue import Venue

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class SatelliteSensorDescription(SensorEntityDescription):
    """A satellite sensor and where its value comes from."""

    value_fn: Callable[[SatelliteDevice, Venue | None], float | None]


def _lead_ms(device: SatelliteDevice, venue: Venue | None) -> float | None:
    """The lead the venue would use for this satellite alone, in milliseconds."""
    if venue is None:
        return None
    return venue.effects.lead_us([device]) / 1000


SENSORS: tuple[SatelliteSensorDescription, ...] = (
    SatelliteSensorDescription(
        key="sync_error",
        translation_key="sync_error",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MICROSECONDS,
        suggested_display_precision=0,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda device, _: device.status.sync_error_us if device.status else None,
    ),
    SatelliteSensorDescription(
        key="round_trip",
        translation_key="round_trip",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MICROSECONDS,
        suggested_display_precision=0,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda device, _: device.status.rtt_us if device.status else None,
    ),
    SatelliteSensorDescription(
        key="lead",
        translation_key="lead",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        suggested_display_precision=1,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_lead_ms,
    ),
    SatelliteSensorDescription(
        key="buffer",
        translation_key="buffer",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.MILLISECONDS,
        suggested_display_precision=0,
        state_class=SensorStateClass.MEASUREMENT,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda device, _: device.status.buffer_ms if device.status else None,
    ),
    SatelliteSensorDescription(
        key="underruns",
        translation_key="underruns",
        state_class=SensorStateClass.TOTAL_INCREASING,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda device, _: device.status.underruns if device.status else None,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the satellite's diagnostic sensors."""
    device = entry.runtime_data
    async_add_entities(SatelliteSensor(device, description) for description in SENSORS)


class SatelliteSensor(SatelliteEntity, SensorEntity):
    """One measurement of a satellite."""

    entity_description: SatelliteSensorDescription

    def __init__(self, device: SatelliteDevice, description: SatelliteSensorDescription) -> None:
        super().__init__(device, description.key)
        self.entity_description = description

    @property
    def native_value(self) -> float | None:
        """The measurement from the latest status."""
        return self.entity_description.value_fn(self.device, self.venue)
