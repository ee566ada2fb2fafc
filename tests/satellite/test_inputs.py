"""Inputs: gpiozero buttons on mock pins in real time, and simulated inputs driven from outside."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from gpiozero.pins.mock import MockFactory  # type: ignore[import-untyped]

from pi_satellite.__main__ import main
from pi_satellite.config import (
    CacheConfig,
    DeviceConfig,
    InputConfig,
    OutputConfig,
    SatelliteConfig,
    load_config,
)
from pi_satellite.inputs import InputSet, control_socket_path, start_inputs
from pi_satellite.link import ButtonEventKind

PRESS = ButtonEventKind.PRESS
RELEASE = ButtonEventKind.RELEASE
LONG = ButtonEventKind.LONG_PRESS
DOUBLE = ButtonEventKind.DOUBLE_PRESS

PIN = 17
BUTTON = InputConfig(0, "Panic", pin=PIN, bounce_ms=50, long_press_ms=300, double_press_ms=250)
SETTLE_S = 0.12  # comfortably past bounce_ms


class Recorder:
    """Collects events and checks they arrive on the event loop's thread."""

    def __init__(self) -> None:
        self.events: list[tuple[int, ButtonEventKind]] = []
        self.threads: set[int] = set()

    def __call__(self, index: int, kind: ButtonEventKind) -> None:
        self.events.append((index, kind))
        self.threads.add(threading.get_ident())

    def kinds(self) -> list[ButtonEventKind]:
        return [kind for _, kind in self.events]


def make_config(state_dir: Path, *inputs: InputConfig) -> SatelliteConfig:
    return SatelliteConfig(
        name="Crypt",
        state_dir=state_dir,
        cache=CacheConfig(state_dir / "cache"),
        devices=(DeviceConfig("card", "null"),),
        outputs=(OutputConfig(0, "Crypt", "card"),),
        inputs=inputs,
    )


@pytest.fixture
def factory() -> MockFactory:
    return MockFactory()


@pytest.fixture
async def button(tmp_path: Path, factory: MockFactory) -> AsyncIterator[tuple[Any, Recorder]]:
    """A GPIO button on a mock pin; yields (pin, recorder)."""
    recorder = Recorder()
    inputs = await start_inputs(make_config(tmp_path, BUTTON), recorder, pin_factory=factory)
    yield factory.pin(PIN), recorder
    await inputs.close()


async def drive(pin: Any, *levels: str, gap_s: float = 0.0) -> None:
    """Drive the pin from another thread, as gpiozero's own threads report real pins."""

    def run() -> None:
        for level in levels:
            pin.drive_low() if level == "down" else pin.drive_high()
            time.sleep(gap_s)

    await asyncio.to_thread(run)


async def test_press_and_release(button: tuple[Any, Recorder]) -> None:
    pin, recorder = button
    assert recorder.kinds() == []
    await drive(pin, "down")
    await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS]
    await drive(pin, "up")
    await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS, RELEASE]
    await asyncio.sleep(0.4)  # past the long-press and double-press windows: nothing more
    assert recorder.events == [(0, PRESS), (0, RELEASE)]
    assert recorder.threads == {threading.get_ident()}


async def test_long_press_is_reported_once(button: tuple[Any, Recorder]) -> None:
    pin, recorder = button
    await drive(pin, "down")
    await asyncio.sleep(0.2)
    assert recorder.kinds() == [PRESS]  # not yet long
    await asyncio.sleep(0.6)  # held well past 300 ms
    assert recorder.kinds() == [PRESS, LONG]
    await drive(pin, "up")
    await asyncio.sleep(SETTLE_S)
    await drive(pin, "down")  # a quick press right after a long press is no double press
    await asyncio.sleep(SETTLE_S)
    await drive(pin, "up")
    await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS, LONG, RELEASE, PRESS, RELEASE]


async def test_double_press(button: tuple[Any, Recorder]) -> None:
    pin, recorder = button
    for level in ("down", "up", "down"):
        await drive(pin, level)
        await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS, RELEASE, PRESS, DOUBLE]
    for level in ("up", "down", "up"):  # a third press does not make a second double
        await drive(pin, level)
        await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS, RELEASE, PRESS, DOUBLE, RELEASE, PRESS, RELEASE]
    assert recorder.kinds().count(LONG) == 0


async def test_slow_second_press_is_no_double(button: tuple[Any, Recorder]) -> None:
    pin, recorder = button
    await drive(pin, "down")
    await asyncio.sleep(SETTLE_S)
    await drive(pin, "up")
    await asyncio.sleep(0.4)  # longer than double_press_ms after the release
    await drive(pin, "down")
    await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS, RELEASE, PRESS]


async def test_contact_bounce_is_ignored(button: tuple[Any, Recorder]) -> None:
    pin, recorder = button
    await drive(pin, "down", "up", "down", "up", "down", gap_s=0.004)  # chatter, then held
    await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS]
    await drive(pin, "up", "down", "up", "down", "up", gap_s=0.004)  # chatter on release
    await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS, RELEASE]
    await asyncio.sleep(0.4)
    await drive(pin, "down", "up", gap_s=0.01)  # a 10 ms spike of interference
    await asyncio.sleep(SETTLE_S)
    assert recorder.kinds() == [PRESS, RELEASE]


async def test_pin_is_released_on_close(tmp_path: Path, factory: MockFactory) -> None:
    recorder = Recorder()
    inputs = await start_inputs(make_config(tmp_path, BUTTON), recorder, pin_factory=factory)
    await inputs.close()
    await drive(factory.pin(PIN), "down")
    await asyncio.sleep(SETTLE_S)
    assert recorder.events == []
    again = await start_inputs(make_config(tmp_path, BUTTON), recorder, pin_factory=factory)
    await again.close()  # the pin was free to claim again


# --- simulated inputs ---


async def send_lines(path: Path, *lines: str) -> list[str]:
    reader, writer = await asyncio.open_unix_connection(path)
    replies = []
    for line in lines:
        writer.write(f"{line}\n".encode())
        replies.append((await reader.readline()).decode().strip())
    writer.close()
    await writer.wait_closed()
    return replies


@pytest.fixture
async def simulated(tmp_path: Path) -> AsyncIterator[tuple[InputSet, Recorder, Path]]:
    recorder = Recorder()
    config = make_config(tmp_path / "state", InputConfig(0, "Door"), InputConfig(1, "Crypt lid"))
    (tmp_path / "state").mkdir()
    inputs = await start_inputs(config, recorder)
    yield inputs, recorder, control_socket_path(config)
    await inputs.close()


async def test_control_socket_plays_gestures(
    simulated: tuple[InputSet, Recorder, Path],
) -> None:
    _, recorder, socket_path = simulated
    replies = await send_lines(socket_path, "long_press Crypt lid", "press Door")
    assert replies == ["ok", "ok"]
    assert recorder.events == [(1, PRESS), (1, LONG), (1, RELEASE), (0, PRESS), (0, RELEASE)]
    assert recorder.threads == {threading.get_ident()}

    await asyncio.sleep(0.5)  # past the double-press window of the press above
    recorder.events.clear()
    assert await send_lines(socket_path, "double_press Door") == ["ok"]
    assert recorder.events == [(0, PRESS), (0, RELEASE), (0, PRESS), (0, DOUBLE), (0, RELEASE)]


async def test_control_socket_refuses_nonsense(
    simulated: tuple[InputSet, Recorder, Path],
) -> None:
    inputs, recorder, socket_path = simulated
    replies = await send_lines(socket_path, "press Ghost", "dance Door", "")
    assert replies[0] == "error no simulated input named 'Ghost'"
    assert replies[1].startswith("error unknown gesture 'dance'")
    assert replies[2].startswith("error unknown gesture ''")
    assert recorder.events == []
    assert socket_path.stat().st_mode & 0o077 == 0
    await inputs.close()
    assert not socket_path.exists()


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "satellite.yaml"
    data = {
        "name": "Crypt",
        "state_dir": "state",
        "devices": [{"name": "card", "type": "null"}],
        "outputs": [{"name": "Crypt", "device": "card"}],
        "inputs": [{"name": "Panic", "pin": PIN}, {"name": "Door", "simulated": True}],
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    (tmp_path / "state").mkdir()
    return path


async def test_press_command_reaches_a_running_satellite(
    tmp_path: Path, factory: MockFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path)
    recorder = Recorder()
    inputs = await start_inputs(load_config(path), recorder, pin_factory=factory)
    press: Callable[..., int] = main
    try:
        args = ["press", "--config", str(path), "Door", "--kind", "double_press"]
        assert await asyncio.to_thread(press, args) == 0
        assert recorder.events == [(1, PRESS), (1, RELEASE), (1, PRESS), (1, DOUBLE), (1, RELEASE)]
        assert await asyncio.to_thread(press, ["press", "--config", str(path), "Panic"]) == 2
        assert "no simulated input named 'Panic'" in capsys.readouterr().err
    finally:
        await inputs.close()
    assert await asyncio.to_thread(press, ["press", "--config", str(path), "Door"]) == 1
    assert "no satellite answers" in capsys.readouterr().err
    assert len(recorder.events) == 5
