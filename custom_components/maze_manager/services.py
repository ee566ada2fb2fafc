"""Effects are services: run_effect, run_effect_all_rooms, run_theme, stop, emergency stop, reload.

run_effect takes the seed's request body as it is (room, effect_name, audio overrides,
all_rooms) and also several rooms or areas. Each run answers with when it starts and
where, for callers that want to know (`return_response`).
"""

from __future__ import annotations

from typing import Any

import voluptuous as vol
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv

from .const import DOMAIN
from .runtime import async_get_venue
from .show import Room
from .venue import Venue

ATTR_EFFECT = "effect_name"
ATTR_ROOM = "room"
ATTR_ROOMS = "rooms"
ATTR_AREA = "area_id"
ATTR_ALL_ROOMS = "all_rooms"
ATTR_AUDIO = "audio"
ATTR_VOLUME = "volume"
ATTR_LOOP = "loop"
ATTR_THEME = "theme"
ATTR_FADE = "fade_ms"

SERVICE_RUN_EFFECT = "run_effect"
SERVICE_RUN_EFFECT_ALL_ROOMS = "run_effect_all_rooms"
SERVICE_RUN_THEME = "run_theme"
SERVICE_STOP = "stop"
SERVICE_EMERGENCY_STOP = "emergency_stop"
SERVICE_CLEAR_EMERGENCY_STOP = "clear_emergency_stop"
SERVICE_RELOAD = "reload"

AUDIO_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_VOLUME): vol.All(vol.Coerce(float), vol.Range(min=0.0, max=1.0)),
        vol.Optional(ATTR_LOOP): cv.boolean,
    }
)
ROOM_FIELDS: dict[vol.Marker, Any] = {
    vol.Optional(ATTR_ROOM): cv.string,
    vol.Optional(ATTR_ROOMS): vol.All(cv.ensure_list, [cv.string]),
    vol.Optional(ATTR_AREA): vol.All(cv.ensure_list, [cv.string]),
}
RUN_EFFECT_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_EFFECT): cv.string,
        **ROOM_FIELDS,
        vol.Optional(ATTR_ALL_ROOMS, default=False): cv.boolean,
        vol.Optional(ATTR_AUDIO, default=dict): AUDIO_SCHEMA,
    }
)
RUN_EFFECT_ALL_ROOMS_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_EFFECT): cv.string,
        vol.Optional(ATTR_AUDIO, default=dict): AUDIO_SCHEMA,
    }
)
RUN_THEME_SCHEMA = vol.Schema({vol.Required(ATTR_THEME): cv.string})
STOP_SCHEMA = vol.Schema(
    {
        **ROOM_FIELDS,
        vol.Optional(ATTR_EFFECT): cv.string,
        vol.Optional(ATTR_FADE, default=500): vol.All(vol.Coerce(int), vol.Range(0, 60_000)),
    }
)


def _chosen_rooms(venue: Venue, data: dict[str, Any]) -> list[Room] | None:
    """The rooms a call names; None when it names none."""
    names = ([data[ATTR_ROOM]] if ATTR_ROOM in data else []) + data.get(ATTR_ROOMS, [])
    areas = data.get(ATTR_AREA, [])
    if not names and not areas:
        return None
    return venue.rooms.select(names, areas)


async def _run_effect(call: ServiceCall) -> ServiceResponse:
    venue = async_get_venue(call.hass)
    effect = venue.effects.effect(call.data[ATTR_EFFECT])
    rooms = None if call.data[ATTR_ALL_ROOMS] else _chosen_rooms(venue, call.data)
    if rooms is None and not call.data[ATTR_ALL_ROOMS]:
        raise ServiceValidationError(
            "Name a room, rooms or area, or set all_rooms",
            translation_domain=DOMAIN,
            translation_key="no_room",
        )
    result = await venue.effects.async_run_effect(
        effect,
        rooms if rooms is not None else venue.rooms.select(None),
        volume=call.data[ATTR_AUDIO].get(ATTR_VOLUME),
        loop=call.data[ATTR_AUDIO].get(ATTR_LOOP),
    )
    return result.as_dict()


async def _run_effect_all_rooms(call: ServiceCall) -> ServiceResponse:
    venue = async_get_venue(call.hass)
    effect = venue.effects.effect(call.data[ATTR_EFFECT])
    result = await venue.effects.async_run_effect(
        effect,
        venue.rooms.select(None),
        volume=call.data[ATTR_AUDIO].get(ATTR_VOLUME),
        loop=call.data[ATTR_AUDIO].get(ATTR_LOOP),
    )
    return result.as_dict()


async def _run_theme(call: ServiceCall) -> ServiceResponse:
    effects = async_get_venue(call.hass).effects
    result = await effects.async_run_theme(effects.theme(call.data[ATTR_THEME]))
    return result.as_dict()


async def _stop(call: ServiceCall) -> None:
    venue = async_get_venue(call.hass)
    effect = venue.effects.effect(call.data[ATTR_EFFECT]) if ATTR_EFFECT in call.data else None
    await venue.effects.async_stop(_chosen_rooms(venue, call.data), effect, call.data[ATTR_FADE])


async def _emergency_stop(call: ServiceCall) -> None:
    await async_get_venue(call.hass).effects.async_emergency_stop()


async def _clear_emergency_stop(call: ServiceCall) -> None:
    async_get_venue(call.hass).effects.clear_emergency()


async def _reload(call: ServiceCall) -> None:
    venue = async_get_venue(call.hass)
    if not await venue.async_reload():
        raise ServiceValidationError(
            "The show files have problems; the last good show keeps running",
            translation_domain=DOMAIN,
            translation_key="show_invalid",
            translation_placeholders={"folder": str(venue.show_folder)},
        )


@callback
def async_register_services(hass: HomeAssistant) -> None:
    """Register every maze_manager service."""
    optional = SupportsResponse.OPTIONAL
    register = hass.services.async_register
    register(DOMAIN, SERVICE_RUN_EFFECT, _run_effect, RUN_EFFECT_SCHEMA, optional)
    register(
        DOMAIN,
        SERVICE_RUN_EFFECT_ALL_ROOMS,
        _run_effect_all_rooms,
        RUN_EFFECT_ALL_ROOMS_SCHEMA,
        optional,
    )
    register(DOMAIN, SERVICE_RUN_THEME, _run_theme, RUN_THEME_SCHEMA, optional)
    register(DOMAIN, SERVICE_STOP, _stop, STOP_SCHEMA)
    register(DOMAIN, SERVICE_EMERGENCY_STOP, _emergency_stop, vol.Schema({}))
    register(DOMAIN, SERVICE_CLEAR_EMERGENCY_STOP, _clear_emergency_stop, vol.Schema({}))
    register(DOMAIN, SERVICE_RELOAD, _reload, vol.Schema({}))
