"""Real satellites for tests: a config on a null output, a free loopback port, a sound
file, the record reader.

Used by the integration tests (satellites inside Home Assistant's test loop) and the
end-to-end tests (satellites as `pi-satellite` processes).
"""

from __future__ import annotations

import io
import json
import math
import socket
import wave
from pathlib import Path
from typing import Any

from pi_satellite.config import SatelliteConfig, parse_config

try:  # present only beside Home Assistant's test plugin, which blocks sockets by default
    import pytest_socket
except ImportError:  # the Python 3.11 environment has no socket blocking to undo
    pytest_socket = None

KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
KEY = bytes.fromhex(KEY_HEX)


def allow_real_sockets() -> None:
    """Undo the Home Assistant test plugin's socket blocking: satellites are network servers."""
    if pytest_socket is not None:
        pytest_socket.enable_socket()
        pytest_socket._remove_restrictions()  # undo the plugin's 127.0.0.1-only connect guard


def free_port() -> int:
    """A loopback TCP port nothing listens on right now (bind to port 0, read it, close)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def satellite_settings(
    folder: Path,
    name: str,
    *,
    port: int = 0,
    outputs: tuple[str, ...] = ("Left", "Right"),
    offset_ms: float = 0.0,
    drift_ppm: float = 0.0,
    inputs: tuple[str, ...] = ("Gate button",),
    tls: bool = False,
) -> dict[str, Any]:
    """The YAML content of a satellite on loopback that records to `folder/record.jsonl`."""
    channels = ["left", "right", "both"]
    return {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "key": KEY_HEX,
        "state_dir": str(folder / "state"),
        "advertise": False,
        "tls": tls,
        "cache": {"folder": str(folder / "cache"), "max_mb": 64},
        "devices": [
            {"name": "card", "type": "null", "path": str(folder / "record.jsonl"), "channels": 2}
        ],
        "outputs": [
            {"name": output, "device": "card", "channels": channels[index % 3]}
            for index, output in enumerate(outputs)
        ],
        "inputs": [{"name": item, "simulated": True} for item in inputs],
        "clock": {"offset_ms": offset_ms, "drift_ppm": drift_ppm},
    }


def satellite_config(folder: Path, name: str, **kwargs: Any) -> SatelliteConfig:
    """A parsed satellite config (see satellite_settings)."""
    return parse_config(satellite_settings(folder, name, **kwargs), str(folder / "satellite.yaml"))


def tone_wav(seconds: float = 0.5, frequency: float = 440.0, rate: int = 48000) -> bytes:
    """A short 16-bit mono sine tone as WAV bytes."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        samples = bytearray()
        for index in range(frames):
            value = int(12000 * math.sin(2 * math.pi * frequency * index / rate))
            samples += value.to_bytes(2, "little", signed=True)
        writer.writeframes(bytes(samples))
    return buffer.getvalue()


def records(path: Path, event: str | None = None) -> list[dict[str, Any]]:
    """What a null output recorded, optionally only one kind of event."""
    if not path.exists():
        return []
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if event is None or line.get("event") == event]
