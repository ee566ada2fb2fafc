"""Logbook lines for the venue's events: every effect run and every stop.

An operator reading the logbook after a night sees "Lightning ran in Entrance, Gate",
"Venue stopped all sound", "Venue emergency stop: all sound stopped" or "Thunder stopped
part-way (…)" for a stream that broke off, each linked to
whoever or whatever caused it through the event's context.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.components.logbook.const import LOGBOOK_ENTRY_MESSAGE, LOGBOOK_ENTRY_NAME
from homeassistant.components.logbook.models import LazyEventPartialState
from homeassistant.core import HomeAssistant, callback

from .audio_stream import EVENT_STREAM_FAILED
from .const import DOMAIN
from .effects_manager import EVENT_EFFECT_RUN, EVENT_STOPPED

VENUE_NAME = "Venue"

DescribeEvent = Callable[[LazyEventPartialState], dict[str, Any]]


@callback
def async_describe_events(
    hass: HomeAssistant,
    async_describe_event: Callable[[str, str, DescribeEvent], None],
) -> None:
    """Describe the venue's effect runs and stops."""
    async_describe_event(DOMAIN, EVENT_EFFECT_RUN, _describe_effect_run)
    async_describe_event(DOMAIN, EVENT_STOPPED, _describe_stopped)
    async_describe_event(DOMAIN, EVENT_STREAM_FAILED, _describe_stream_failed)


@callback
def _describe_effect_run(event: LazyEventPartialState) -> dict[str, Any]:
    """Which effect ran where: "Lightning ran in Entrance, Gate"."""
    data = event.data
    rooms = _rooms(data.get("rooms"))
    return {
        LOGBOOK_ENTRY_NAME: str(data.get("effect", "An effect")),
        LOGBOOK_ENTRY_MESSAGE: f"ran in {rooms}" if rooms else "ran",
    }


@callback
def _describe_stopped(event: LazyEventPartialState) -> dict[str, Any]:
    """What was stopped where: "Venue stopped Lightning in Entrance", and the like."""
    return {LOGBOOK_ENTRY_NAME: VENUE_NAME, LOGBOOK_ENTRY_MESSAGE: _stop_message(event.data)}


@callback
def _describe_stream_failed(event: LazyEventPartialState) -> dict[str, Any]:
    """A stream that broke off: "Thunder stopped part-way (…); the fallback played"."""
    data = event.data
    message = f"stopped part-way ({data.get('reason', 'unknown reason')})"
    if data.get("fallback"):
        message += "; its fallback sound played"
    return {LOGBOOK_ENTRY_NAME: str(data.get("title", "A stream")), LOGBOOK_ENTRY_MESSAGE: message}


def _stop_message(data: Mapping[str, Any]) -> str:
    if data.get("emergency"):
        return "emergency stop: all sound stopped"
    effect = data.get("effect")
    everywhere = data.get("rooms") == "all"
    if effect:
        message = f"stopped {effect}"
    else:
        message = "stopped all sound" if everywhere else "stopped sound"
    rooms = _rooms(data.get("rooms"))
    if rooms:
        message += f" in {rooms}"
    elif effect and everywhere:
        message += " everywhere"
    fade_ms = data.get("fade_ms")
    if isinstance(fade_ms, int) and fade_ms > 0:
        message += f", fading over {fade_ms} ms"
    return message


def _rooms(rooms: Any) -> str:
    """Room names as a sentence lists them."""
    if isinstance(rooms, list | tuple):
        return ", ".join(str(room) for room in rooms)
    return ""
