"""The seed's HTTP API, authenticated by Home Assistant.

`POST /api/maze_manager/run_effect` and `POST /api/maze_manager/run_effect_all_rooms` take
the seed's request bodies and call the services of the same names, so a run from an
existing client looks exactly like one from a dashboard. `GET
/api/maze_manager/remote_hosts` answers with the seed's remote host list.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import voluptuous as vol
from aiohttp import web
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.http import KEY_HASS, HomeAssistantView
from homeassistant.helpers.translation import async_get_exception_message

from .const import DOMAIN
from .remote_hosts import DATA_HOSTS
from .runtime import loaded_venue
from .services import (
    RUN_EFFECT_ALL_ROOMS_SCHEMA,
    RUN_EFFECT_SCHEMA,
    SERVICE_RUN_EFFECT,
    SERVICE_RUN_EFFECT_ALL_ROOMS,
)


def _error(status: HTTPStatus, message: str) -> web.Response:
    return web.json_response({"status": "error", "error": message}, status=status)


def _message(err: HomeAssistantError) -> str:
    """The translated text of a service error, as the frontend would show it."""
    if err.translation_key and err.translation_domain:
        return async_get_exception_message(
            err.translation_domain, err.translation_key, err.translation_placeholders
        )
    return str(err)


def _describe(schema: vol.Schema, body: Any, err: vol.Invalid) -> str:
    """What is wrong with a body, in the same words on every Home Assistant release.

    Newer releases validate with probatio, installed under the name voluptuous, which words
    and places its errors differently (`not a valid option at 'room'` where voluptuous
    says `extra keys not allowed @ data['room']`). The seed's clients get voluptuous's
    wording from both: one line per problem, sorted, as voluptuous's humanize_error.
    """
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    return "\n".join(sorted(_describe_one(schema, body, error) for error in errors))


def _describe_one(schema: vol.Schema, body: Any, error: vol.Invalid) -> str:
    path = list(error.path)
    if _declared(schema, path):
        reason = error.error_message
        if error.error_type:
            reason += f" for {error.error_type}"
    else:
        reason = "extra keys not allowed"
    where = f" @ data{''.join(f'[{step!r}]' for step in path)}" if path else ""
    return f"{reason}{where}. Got {_value_at(body, path)!r}"


def _declared(schema: vol.Schema, path: list[Any]) -> bool:
    """Whether the keys along `path` are all in the schema (as far as it has dict levels)."""
    node: Any = schema
    for step in path:
        if isinstance(node, vol.Schema):
            node = node.schema
        if not isinstance(node, dict):
            return True
        keys = {str(getattr(key, "schema", key)): value for key, value in node.items()}
        if str(step) not in keys:
            return False
        node = keys[str(step)]
    return True


def _value_at(body: Any, path: list[Any]) -> Any:
    """The value at `path` in the body; None where there is none."""
    for step in path:
        try:
            body = body[step]
        except (KeyError, IndexError, TypeError):
            return None
    return body


class _ServiceView(HomeAssistantView):
    """POST a seed body, validate it, call the service, answer with its response."""

    service: str
    schema: vol.Schema

    async def post(self, request: web.Request) -> web.Response:
        """Run the effect the body describes."""
        hass = request.app[KEY_HASS]
        try:
            body: Any = await request.json()
        except ValueError:
            return _error(HTTPStatus.BAD_REQUEST, "the body is not valid JSON")
        if not isinstance(body, dict):
            return _error(HTTPStatus.BAD_REQUEST, "the body must be a JSON object")
        try:
            data = self.schema(body)
        except vol.Invalid as err:
            return _error(HTTPStatus.BAD_REQUEST, _describe(self.schema, body, err))
        try:
            response = await hass.services.async_call(
                DOMAIN,
                self.service,
                data,
                blocking=True,
                context=self.context(request),
                return_response=True,
            )
        except ServiceValidationError as err:
            return _error(HTTPStatus.BAD_REQUEST, _message(err))
        except HomeAssistantError as err:
            return _error(HTTPStatus.INTERNAL_SERVER_ERROR, _message(err))
        return self.json({"status": "ok", **(response or {})})


class RunEffectView(_ServiceView):
    """POST /api/maze_manager/run_effect."""

    url = "/api/maze_manager/run_effect"
    name = "api:maze_manager:run_effect"
    service = SERVICE_RUN_EFFECT
    schema = RUN_EFFECT_SCHEMA


class RunEffectAllRoomsView(_ServiceView):
    """POST /api/maze_manager/run_effect_all_rooms."""

    url = "/api/maze_manager/run_effect_all_rooms"
    name = "api:maze_manager:run_effect_all_rooms"
    service = SERVICE_RUN_EFFECT_ALL_ROOMS
    schema = RUN_EFFECT_ALL_ROOMS_SCHEMA


class RemoteHostsView(HomeAssistantView):
    """GET /api/maze_manager/remote_hosts."""

    url = "/api/maze_manager/remote_hosts"
    name = "api:maze_manager:remote_hosts"

    async def get(self, request: web.Request) -> web.Response:
        """Every satellite with its rooms and connection status."""
        hass = request.app[KEY_HASS]
        venue = loaded_venue(hass)
        show = venue.show if venue is not None else None
        return self.json({"remote_hosts": hass.data[DATA_HOSTS].remote_hosts(show)})


@callback
def async_register_http_api(hass: HomeAssistant) -> None:
    """Register the seed's endpoints."""
    hass.http.register_view(RunEffectView())
    hass.http.register_view(RunEffectAllRoomsView())
    hass.http.register_view(RemoteHostsView())
