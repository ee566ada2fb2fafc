"""Buttons and switches: GPIO pins (through gpiozero) or simulated ones, as button events.

Every input reports the same events: press, release, long press (held past
`long_press_ms`) and double press (pressed again within `double_press_ms` of a release).
A press is reported at once, never held back to see whether a second one follows, so a
scare fires without delay; the double press comes as an extra event on the second press.

GPIO edges are debounced here rather than by the pin driver, so every pin factory (and
gpiozero's mock pins) behaves alike: a level counts once it has held for `bounce_ms`,
which also rejects interference spikes on long cable runs through the maze.

Simulated inputs are driven from outside the process, for end-to-end tests, through a
Unix socket in the state folder: one line per gesture, `press NAME`, `long_press NAME` or
`double_press NAME`, answered `ok` or `error REASON`. `pi-satellite press` sends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Any

from . import link
from .config import InputConfig, SatelliteConfig

_LOGGER = logging.getLogger(__name__)

CONTROL_SOCKET = "control.sock"
MAX_COMMAND_BYTES = 256

EventCallback = Callable[[int, link.ButtonEventKind], None]


class Gesture(StrEnum):
    """What a simulated input can be made to do."""

    PRESS = "press"
    LONG_PRESS = "long_press"
    DOUBLE_PRESS = "double_press"


class InputError(Exception):
    """An input that cannot be set up or driven; the text says which and why."""


def control_socket_path(config: SatelliteConfig) -> Path:
    """Where a satellite listens for simulated input gestures."""
    return config.state_dir / CONTROL_SOCKET


class Gestures:
    """Turns one input's clean press and release edges into button events.

    Runs on the event loop thread; `at` times are `time.monotonic()` seconds.
    """

    def __init__(self, config: InputConfig, emit: EventCallback) -> None:
        self._config = config
        self._emit = emit
        self._down = False
        self._last_release: float | None = None
        self._double_armed = False
        self._long_timer: asyncio.TimerHandle | None = None
        self._long_fired = False

    def pressed(self, at: float) -> None:
        """The input went down: report a press, and a double press if it is the second."""
        if self._down:
            return
        self._down = True
        self._long_fired = False
        self._send(link.ButtonEventKind.PRESS)
        window = self._config.double_press_ms / 1000
        if (
            self._double_armed
            and self._last_release is not None
            and at - self._last_release <= window
        ):
            self._double_armed = False
            self._send(link.ButtonEventKind.DOUBLE_PRESS)
        else:
            self._double_armed = window > 0
        delay = self._config.long_press_ms / 1000 - (time.monotonic() - at)
        self._long_timer = asyncio.get_running_loop().call_later(max(delay, 0.0), self.held)

    def held(self) -> None:
        """The input stayed down for the long-press time."""
        self._cancel_long_timer()
        if self._down and not self._long_fired:
            self._long_fired = True
            self._double_armed = False
            self._send(link.ButtonEventKind.LONG_PRESS)

    def released(self, at: float) -> None:
        """The input came back up."""
        if not self._down:
            return
        self._down = False
        self._cancel_long_timer()
        self._last_release = at
        self._send(link.ButtonEventKind.RELEASE)

    def close(self) -> None:
        """Stop the pending long-press timer; nothing more is reported."""
        self._cancel_long_timer()
        self._emit = _ignore

    def _cancel_long_timer(self) -> None:
        if self._long_timer is not None:
            self._long_timer.cancel()
            self._long_timer = None

    def _send(self, kind: link.ButtonEventKind) -> None:
        _LOGGER.debug("Input %s: %s", self._config.name, kind.name)
        self._emit(self._config.index, kind)


def _ignore(index: int, kind: link.ButtonEventKind) -> None:
    """Where events of a closed input go."""


class Debouncer:
    """Passes a raw pin level on only once it has held for `bounce_s` seconds."""

    def __init__(self, bounce_s: float, gestures: Gestures) -> None:
        self._bounce_s = bounce_s
        self._gestures = gestures
        self._down = False
        self._raw_down = False
        self._raw_at = 0.0
        self._timer: asyncio.TimerHandle | None = None

    def edge(self, down: bool, at: float) -> None:
        """The pin changed to `down` (pressed) or up at monotonic time `at`."""
        self._raw_down = down
        self._raw_at = at
        if self._timer is not None:
            self._timer.cancel()
        delay = self._bounce_s - (time.monotonic() - at)
        self._timer = asyncio.get_running_loop().call_later(max(delay, 0.0), self._settle)

    def close(self) -> None:
        """Drop a pending level."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _settle(self) -> None:
        self._timer = None
        if self._raw_down == self._down:
            return
        self._down = self._raw_down
        if self._down:
            self._gestures.pressed(self._raw_at)
        else:
            self._gestures.released(self._raw_at)


class GpioButton:
    """One gpiozero button whose raw edges are debounced on the event loop."""

    def __init__(self, config: InputConfig, gestures: Gestures, pin_factory: object) -> None:
        try:
            # gpiozero is the optional `gpio` extra: imported only when a pin is configured
            from gpiozero import (  # type: ignore[import-untyped]  # noqa: PLC0415
                Button,
                GPIOZeroError,
            )
        except ImportError as err:
            raise InputError(
                f"input {config.name!r} needs gpiozero: pip install 'pi-satellite[gpio]'"
            ) from err
        self._loop = asyncio.get_running_loop()
        self._gestures = gestures
        self._debouncer = Debouncer(config.bounce_ms / 1000, gestures)
        try:
            self._button: Any = Button(
                config.pin, pull_up=config.pull_up, bounce_time=None, pin_factory=pin_factory
            )
        except (GPIOZeroError, OSError) as err:
            raise InputError(f"input {config.name!r} on GPIO {config.pin}: {err}") from err
        self._button.when_pressed = lambda: self._from_pin_thread(True)
        self._button.when_released = lambda: self._from_pin_thread(False)

    def _from_pin_thread(self, down: bool) -> None:
        """gpiozero calls from its own threads; the state machines live on the loop."""
        with contextlib.suppress(RuntimeError):  # the loop has already closed
            self._loop.call_soon_threadsafe(self._debouncer.edge, down, time.monotonic())

    def close(self) -> None:
        """Release the pin."""
        self._button.when_pressed = None
        self._button.when_released = None
        self._button.close()
        self._debouncer.close()
        self._gestures.close()


class InputSet:
    """The satellite's running inputs; `close()` releases pins and the control socket."""

    def __init__(self, config: SatelliteConfig, callback: EventCallback) -> None:
        self._config = config
        self._callback = callback
        self._buttons: list[GpioButton] = []
        self._simulated: dict[str, Gestures] = {}
        self._server: asyncio.Server | None = None

    async def start(self, pin_factory: object = None) -> None:
        """Claim the GPIO pins and, when there are simulated inputs, open the control socket."""
        for item in self._config.inputs:
            gestures = Gestures(item, self._callback)
            if item.pin is None:
                self._simulated[item.name] = gestures
            else:
                self._buttons.append(GpioButton(item, gestures, pin_factory))
        if self._simulated:
            path = control_socket_path(self._config)
            path.unlink(missing_ok=True)
            self._server = await asyncio.start_unix_server(
                self._serve, path, limit=MAX_COMMAND_BYTES
            )
            path.chmod(0o600)
            _LOGGER.info("Simulated inputs listen on %s", path)

    def simulate(self, name: str, gesture: Gesture) -> None:
        """Play a gesture on a simulated input, as a person would on a real button."""
        gestures = self._simulated.get(name)
        if gestures is None:
            raise InputError(f"no simulated input named {name!r}")
        now = time.monotonic()
        gestures.pressed(now)
        if gesture is Gesture.LONG_PRESS:
            gestures.held()
        if gesture is Gesture.DOUBLE_PRESS:
            gestures.released(now)
            gestures.pressed(now)
        gestures.released(now)

    async def close(self) -> None:
        """Stop reporting events and free pins and socket."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            control_socket_path(self._config).unlink(missing_ok=True)
        for button in self._buttons:
            button.close()
        self._buttons.clear()
        for gestures in self._simulated.values():
            gestures.close()
        self._simulated.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write((self._command(line) + "\n").encode())
                await writer.drain()
        except (ValueError, ConnectionError) as err:  # an over-long line, a vanished peer
            _LOGGER.warning("Control socket client dropped: %s", err)
        finally:
            writer.close()

    def _command(self, line: bytes) -> str:
        verb, _, name = line.decode(errors="replace").strip().partition(" ")
        try:
            self.simulate(name.strip(), Gesture(verb))
        except ValueError:
            return f"error unknown gesture {verb!r} (use {', '.join(Gesture)})"
        except InputError as err:
            return f"error {err}"
        return "ok"


async def start_inputs(
    config: SatelliteConfig, callback: EventCallback, pin_factory: object = None
) -> InputSet:
    """Start every configured input; events reach `callback` on the event loop thread.

    `pin_factory` is a gpiozero pin factory (None: gpiozero's default for this board).
    """
    inputs = InputSet(config, callback)
    try:
        await inputs.start(pin_factory)
    except BaseException:
        await inputs.close()
        raise
    return inputs


def send_gesture(socket_path: Path, name: str, gesture: Gesture, timeout_s: float = 5.0) -> None:
    """Ask a running satellite to play a gesture on one of its simulated inputs."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout_s)
        try:
            client.connect(str(socket_path))
            client.sendall(f"{gesture} {name}\n".encode())
            reply = client.makefile("rb").readline().decode().strip()
        except OSError as err:
            raise InputError(f"no satellite answers on {socket_path}: {err}") from err
    if reply != "ok":
        raise InputError(reply.removeprefix("error ") or "the satellite closed the connection")
