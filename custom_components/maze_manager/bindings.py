"""Pi switches call services: a satellite input bound in the show fires an effect or theme.

Calling the service (rather than the venue directly) makes a switch press look like any
other effect run: it shows in the logbook, and automations can react to it.
"""

from __future__ import annotations

import logging
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

from . import link
from .const import DOMAIN
from .remote_hosts import DATA_HOSTS
from .runtime import loaded_venue
from .satellites import SatelliteDevice

_LOGGER = logging.getLogger(__name__)

EVENT_NAMES = {kind: kind.name.lower() for kind in link.ButtonEventKind}


@callback
def async_handle_button(
    hass: HomeAssistant, device: SatelliteDevice, event: link.ButtonEvent
) -> None:
    """Fire whatever the show binds to this satellite input and event."""
    hosts = hass.data[DATA_HOSTS]
    venue = loaded_venue(hass)
    input_name = device.input_name(event.input_index)
    if venue is None or venue.show is None or input_name is None:
        return
    event_name = EVENT_NAMES[event.event]
    for binding in venue.show.inputs:
        if hosts.find(binding.satellite) is not device:
            continue
        if binding.input.casefold() != input_name.casefold() or binding.event != event_name:
            continue
        rooms = list(binding.rooms) if binding.rooms else hosts.rooms_of(device, venue.show)
        data: dict[str, Any]
        # The show schema gives every binding exactly one of effect and theme.
        if binding.effect is not None:
            service, data = "run_effect", {"effect_name": binding.effect, "rooms": rooms}
        else:
            service, data = "run_theme", {"theme": binding.theme}
        _LOGGER.debug("Input %s on %s calls %s %s", input_name, device.name, service, data)
        hass.async_create_task(
            _async_call(hass, service, data, f"{device.name} {input_name}"),
            f"maze input {device.satellite_id} {input_name}",
        )


async def _async_call(hass: HomeAssistant, service: str, data: dict[str, Any], what: str) -> None:
    try:
        await hass.services.async_call(DOMAIN, service, data, blocking=True)
    except HomeAssistantError as err:
        _LOGGER.warning("Input %s could not %s: %s", what, service.replace("_", " "), err)
