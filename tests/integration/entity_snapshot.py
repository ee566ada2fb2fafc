"""Snapshots of a config entry's devices, entities and states that read the same on every
Home Assistant version.

Home Assistant's own snapshot serialisation of a registry entry (as `snapshot_platform`
uses) lists every field the registry has, and the registry gains fields between
versions; its `snapshot_platform` also wants one platform per entry, while a satellite
has four. So each snapshot here is a projection built from the fields that say what the
integration made: names, ids, classes, category, area, capabilities, and a state's value
and attributes, with enums as their values. What varies per run (registry ids, times,
contexts) is not in it.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)
from syrupy.assertion import SnapshotAssertion


def plain(value: Any) -> Any:
    """The value with enums as their values and tuples as lists, all the way down; dict
    keys too (newer Home Assistant releases key state attributes and capabilities with
    string enums, such as EntityStateAttribute.FRIENDLY_NAME for "friendly_name")."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def device_projection(device: dr.DeviceEntry) -> dict[str, Any]:
    """What the integration says about a device."""
    return {
        "name": device.name,
        "manufacturer": device.manufacturer,
        "model": device.model,
        "sw_version": device.sw_version,
        "identifiers": sorted(list(identifier) for identifier in device.identifiers),
        "entry_type": plain(device.entry_type),
    }


def entry_projection(hass: HomeAssistant, entry: er.RegistryEntry) -> dict[str, Any]:
    """What the integration says about an entity in the registry, and where it stands
    (no capabilities and empty ones read the same: versions differ in which they keep)."""
    area = ar.async_get(hass).async_get_area(entry.area_id) if entry.area_id else None
    device = dr.async_get(hass).async_get(entry.device_id) if entry.device_id else None
    return {
        "entity_id": entry.entity_id,
        "unique_id": entry.unique_id,
        "device": device.name if device else None,
        "translation_key": entry.translation_key,
        "original_name": entry.original_name,
        "has_entity_name": entry.has_entity_name,
        "original_device_class": plain(entry.original_device_class),
        "device_class": plain(entry.device_class),
        "entity_category": plain(entry.entity_category),
        "unit_of_measurement": plain(entry.unit_of_measurement),
        "supported_features": int(entry.supported_features),
        "capabilities": plain(entry.capabilities) or None,
        "area": area.name if area else None,
        "disabled_by": plain(entry.disabled_by),
    }


def state_projection(state: State | None) -> dict[str, Any] | None:
    """A state's value and attributes (no times or context)."""
    if state is None:
        return None
    return {"state": state.state, "attributes": plain(dict(state.attributes))}


def snapshot_entities(
    hass: HomeAssistant, config_entry: MockConfigEntry, snapshot: SnapshotAssertion
) -> None:
    """Snapshot the entry's devices, then each entity's registry entry and state."""
    devices = dr.async_entries_for_config_entry(dr.async_get(hass), config_entry.entry_id)
    projections = sorted((device_projection(device) for device in devices), key=str)
    assert projections == snapshot(name="devices")
    entities = er.async_entries_for_config_entry(er.async_get(hass), config_entry.entry_id)
    assert entities
    for entity in sorted(entities, key=lambda item: item.entity_id):
        assert entry_projection(hass, entity) == snapshot(name=f"{entity.entity_id}-entry")
        state = state_projection(hass.states.get(entity.entity_id))
        assert state == snapshot(name=f"{entity.entity_id}-state")
