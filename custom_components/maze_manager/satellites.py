"""A satellite as Home Assistant sees it: its link, what it reported, who listens.

One SatelliteDevice lives in each satellite config entry's runtime_data. It turns what
the WebSocketHandler learns into state the entities read and events the venue acts on,
keeps the device registry's model and version current, and starts re-authentication
when the satellite refuses the pairing key.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.device_registry import DeviceInfo

from . import link
from .compat import async_entry_device
from .const import (
    CONF_FINGERPRINT,
    CONF_INPUTS,
    CONF_OUTPUTS,
    CONF_PAIRING_KEY,
    CONF_SATELLITE_ID,
    DOMAIN,
)
from .link.client import SatelliteAddress, WebSocketHandler

_LOGGER = logging.getLogger(__name__)

STARTED_HISTORY = 200
MIN_LEAD_US = 10_000
"""Even on loopback a trigger needs one output block (5 ms) plus margin to arrive."""
LEAD_MARGIN_US = 3_000
BLOCK_US = 5_000
ButtonHandler = Callable[["SatelliteDevice", link.ButtonEvent], None]
StartAnswer = link.Started | link.Error | None


class SatelliteRegistry(Protocol):
    """Where satellites register while loaded and report connecting and synchronising."""

    def add(self, device: SatelliteDevice) -> None:
        """A satellite entry loaded."""

    def remove(self, device: SatelliteDevice) -> None:
        """A satellite entry unloaded."""

    def satellite_connected(self, device: SatelliteDevice) -> None:
        """The satellite authenticated and said hello."""

    def satellite_synchronised(self, device: SatelliteDevice) -> None:
        """The satellite reports its venue clock synchronised."""


@dataclass(frozen=True, slots=True)
class StartReport:
    """A satellite's report of one cue or stream start, kept for diagnostics."""

    kind: str
    ref_id: int
    seq: int
    scheduled_us: int
    actual_us: int

    @property
    def error_us(self) -> int:
        """How late (positive) or early the first sample was."""
        return self.actual_us - self.scheduled_us


@dataclass(frozen=True, slots=True)
class OutputLayout:
    """One satellite output (a speaker) as the entry remembers it."""

    index: int
    name: str
    channels: str
    latency_us: int


@dataclass(frozen=True, slots=True)
class InputLayout:
    """One satellite input (a button or switch) as the entry remembers it."""

    index: int
    name: str


def hello_layout(hello: link.Hello) -> dict[str, list[dict[str, Any]]]:
    """The outputs and inputs of a hello, as stored in the satellite's entry."""
    return {
        CONF_OUTPUTS: [
            asdict(OutputLayout(o.index, o.name, o.channels, o.latency_us)) for o in hello.outputs
        ],
        CONF_INPUTS: [asdict(InputLayout(i.index, i.name)) for i in hello.inputs],
    }


def address_from_entry(entry: ConfigEntry) -> SatelliteAddress:
    """The satellite's address as the entry stores it."""
    return SatelliteAddress(
        entry.data[CONF_HOST], entry.data[CONF_PORT], entry.data.get(CONF_FINGERPRINT)
    )


class SatelliteDevice:
    """One satellite's state and link inside Home Assistant."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, manager: SatelliteRegistry) -> None:
        self.hass = hass
        self.entry = entry
        self.satellite_id: str = entry.data[CONF_SATELLITE_ID]
        self._manager = manager
        self.link = WebSocketHandler(
            async_get_clientsession(hass),
            address_from_entry(entry),
            bytes.fromhex(entry.data[CONF_PAIRING_KEY]),
            self,
        )
        self.hello: link.Hello | None = None
        self.started: deque[StartReport] = deque(maxlen=STARTED_HISTORY)
        self._listeners: list[CALLBACK_TYPE] = []
        self._button_handlers: list[ButtonHandler] = []
        self._synchronised = False
        self._awaiting: dict[tuple[link.StartKind, int], asyncio.Future[StartAnswer]] = {}

    @property
    def name(self) -> str:
        """The satellite's name: from its hello once known, else the entry title."""
        return self.hello.name if self.hello else self.entry.title

    @property
    def host(self) -> str:
        """The address Home Assistant connects to."""
        return self.link.address.host

    @property
    def available(self) -> bool:
        """Whether the satellite is connected."""
        return self.link.connected

    @property
    def status(self) -> link.Status | None:
        """The satellite's latest status report while connected."""
        return self.link.status

    @property
    def needed_lead_us(self) -> int:
        """How far ahead to schedule for this satellite: round trip, output latency, margin.

        Two output blocks are added so the trigger is there before the block that holds
        the start.
        """
        status = self.status
        rtt = status.rtt_us if status else 0
        outputs = self.hello.outputs if self.hello else ()
        latency = max((output.latency_us for output in outputs), default=0)
        return max(MIN_LEAD_US, rtt + latency + 2 * BLOCK_US + LEAD_MARGIN_US)

    @property
    def device_info(self) -> DeviceInfo:
        """The device every entity of this satellite belongs to."""
        return DeviceInfo(
            identifiers={(DOMAIN, self.satellite_id)},
            name=self.entry.title,
            manufacturer="LoHP",
            model="Maze satellite",
            sw_version=self.hello.version if self.hello else None,
        )

    async def async_start(self) -> None:
        """Register with the venue's host manager and start connecting."""
        self._manager.add(self)
        self.link.start()

    async def async_stop(self) -> None:
        """Disconnect and leave the host manager."""
        self._manager.remove(self)
        await self.link.stop()

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update` whenever availability or status changes; returns the remover."""
        self._listeners.append(update)
        return lambda: self._listeners.remove(update)

    @callback
    def async_add_button_handler(self, handler: ButtonHandler) -> CALLBACK_TYPE:
        """Call `handler` for every input event; returns the remover."""
        self._button_handlers.append(handler)
        return lambda: self._button_handlers.remove(handler)

    @property
    def outputs(self) -> list[OutputLayout]:
        """The satellite's outputs as last seen (kept in the entry)."""
        return [OutputLayout(**item) for item in self.entry.data.get(CONF_OUTPUTS, [])]

    @property
    def inputs(self) -> list[InputLayout]:
        """The satellite's inputs as last seen (kept in the entry)."""
        return [InputLayout(**item) for item in self.entry.data.get(CONF_INPUTS, [])]

    def input_name(self, index: int) -> str | None:
        """The name of an input by its index."""
        return next((item.name for item in self.inputs if item.index == index), None)

    @callback
    def notify(self) -> None:
        """Tell this satellite's entities to refresh (also when the venue's show changes)."""
        for update in list(self._listeners):
            update()

    # LinkListener -------------------------------------------------------------------

    def link_connected(self, hello: link.Hello) -> None:
        """Record who the satellite is and bring its entities back.

        The outputs and inputs are kept in the entry, so entities exist (unavailable)
        while the satellite is off; when they change, the entry reloads to match.
        """
        self.hello = hello
        layout = hello_layout(hello)
        if {key: self.entry.data.get(key) for key in layout} != layout:
            self.hass.config_entries.async_update_entry(
                self.entry, data={**self.entry.data, **layout}
            )
            self.hass.config_entries.async_schedule_reload(self.entry.entry_id)
        device = async_entry_device(self.hass, self.entry.entry_id, (DOMAIN, self.satellite_id))
        if device is not None and device.sw_version != hello.version:
            dr.async_get(self.hass).async_update_device(device.id, sw_version=hello.version)
        self._manager.satellite_connected(self)
        self.notify()

    def link_disconnected(self) -> None:
        """Mark the satellite's entities unavailable; starts still awaited will not come."""
        self._synchronised = False
        for waiter in self._awaiting.values():
            if not waiter.done():
                waiter.set_result(None)
        self._awaiting.clear()
        self.notify()

    def expect_start(self, kind: link.StartKind, key: int) -> asyncio.Future[StartAnswer]:
        """A future for the satellite's answer to a play (key: its seq) or stream (its id).

        It resolves to the Started report, the Error that refused it, or None when the
        link dropped first. Whoever awaits it decides how long to wait.
        """
        waiter: asyncio.Future[StartAnswer] = self.hass.loop.create_future()
        self._awaiting[(kind, key)] = waiter
        return waiter

    def forget_start(self, kind: link.StartKind, key: int) -> None:
        """Stop waiting for an answer (the caller gave up on it)."""
        self._awaiting.pop((kind, key), None)

    def _answer(self, key: tuple[link.StartKind, int], answer: link.Started | link.Error) -> None:
        waiter = self._awaiting.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(answer)

    def link_auth_failed(self) -> None:
        """The key no longer matches: ask the user for the new one."""
        self.entry.async_start_reauth(self.hass)
        self.notify()

    def link_message(self, message: link.Message) -> None:
        """Route one report from the satellite."""
        match message:
            case link.Status():
                newly_synchronised = message.synchronised and not self._synchronised
                self._synchronised = message.synchronised
                self.notify()
                if newly_synchronised:
                    self._manager.satellite_synchronised(self)
            case link.Started():
                self._answer((message.kind, _start_key(message)), message)
                self.started.append(
                    StartReport(
                        message.kind.name.lower(),
                        message.ref_id,
                        message.seq,
                        message.scheduled_us,
                        message.actual_us,
                    )
                )
            case link.ButtonEvent():
                for handler in list(self._button_handlers):
                    handler(self, message)
            case link.AssetResult(ok=False):
                _LOGGER.warning(
                    "Satellite %s could not store sound %s: %s",
                    self.name,
                    message.sha256.hex()[:12],
                    message.reason,
                )
            case link.Error():
                if message.ref_seq:
                    self._answer((link.StartKind.CUE, message.ref_seq), message)
                _LOGGER.warning(
                    "Satellite %s reports %s: %s", self.name, message.code.name, message.message
                )


def _start_key(started: link.Started) -> int:
    """What a Started report answers: a play by its seq, a stream by its id."""
    return started.seq if started.kind is link.StartKind.CUE else started.ref_id
