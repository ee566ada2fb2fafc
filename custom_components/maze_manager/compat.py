"""Where Home Assistant's API differs between the releases this integration supports.

The oldest supported is 2025.4.4 (hacs.json); the newest tested is named in
docs/integration.md. Code that needs one of these looks it up here, so each difference
has one place, and this file shrinks as the oldest supported release moves on.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr


@callback
def async_entry_device(
    hass: HomeAssistant, config_entry_id: str, identifier: tuple[str, str]
) -> dr.DeviceEntry | None:
    """The device of a config entry that carries this identifier, if it exists.

    `DeviceRegistry.async_get_device(identifiers=...)` is deprecated in the newest releases
    (identifiers are unique only within a config entry now; it stops working in 2027.8)
    and its replacement `async_get_device_by_identifier` does not exist in 2025.4. The
    config entry's own devices are a lookup both releases have.
    """
    registry = dr.async_get(hass)
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(registry, config_entry_id)
            if identifier in device.identifiers
        ),
        None,
    )
