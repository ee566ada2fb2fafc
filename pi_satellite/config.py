"""The satellite's configuration: one YAML file, validated into frozen dataclasses.

A technician edits this file on the Pi, so every problem is reported at once, one line
each, naming the file, the line, the key path (`outputs[1].channels`) and what is wrong.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import voluptuous as vol
import yaml  # type: ignore[import-untyped]

from . import link
from .link.keypaths import KeyPath, format_key_path, line_of, load_yaml_with_lines

DeviceType = Literal["sounddevice", "null", "wav"]
Channels = Literal["left", "right", "both"]

DEFAULT_CONFIG_PATH = Path("/etc/pi-satellite/satellite.yaml")
DEFAULT_STATE_DIR = Path("/var/lib/pi-satellite")
DEFAULT_PORT = 8765
DEFAULT_CACHE_MB = 512
NAME_CHARS = 64
MEBIBYTE = 1024 * 1024

DEVICE_TYPES: tuple[DeviceType, ...] = ("sounddevice", "null", "wav")
CHANNEL_CHOICES: tuple[Channels, ...] = ("left", "right", "both")
# How many device channels each routing choice needs: left is the first, right the second,
# both drives the first two (the only one of a mono device).
CHANNELS_NEEDED: dict[Channels, int] = {"left": 1, "right": 2, "both": 1}
GPIO_PINS = range(28)  # GPIO0..GPIO27 on every 40-pin Raspberry Pi header


@dataclass(frozen=True, slots=True)
class DeviceConfig:
    """One sound device: a real card, the null output, or a WAV file.

    `device` names the PortAudio device for `sounddevice`; `path` is the WAV file for
    `wav` and the JSON-lines record of what played for `null` (None: keep no record).
    `keep_s` makes a `null` device keep that many seconds of what it rendered in memory,
    for tests and benchmarks.
    """

    name: str
    type: DeviceType
    channels: int = 2
    latency_us: int = 0
    device: str | None = None
    path: Path | None = None
    keep_s: float = 0.0


@dataclass(frozen=True, slots=True)
class OutputConfig:
    """One logical output (a room's speaker): channels of a device. Numbered in file order."""

    index: int
    name: str
    device: str
    channels: Channels = "both"


@dataclass(frozen=True, slots=True)
class InputConfig:
    """One button or switch. `pin` is a GPIO pin; None makes it a simulated input."""

    index: int
    name: str
    pin: int | None = None
    pull_up: bool = True
    bounce_ms: int = 30
    long_press_ms: int = 800
    double_press_ms: int = 400


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Where preloaded assets live on disk, and how much room they may take."""

    folder: Path
    max_bytes: int = DEFAULT_CACHE_MB * MEBIBYTE


@dataclass(frozen=True, slots=True)
class FallbackConfig:
    """What the satellite does on its own while Home Assistant is away.

    `inputs` maps an input's name to the name of a cue (from the last cue table) that the
    input fires locally.
    """

    keep_ambient: bool = True
    inputs: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClockHookConfig:
    """Test hook: run the satellite's clock this far ahead and this much fast."""

    offset_us: int = 0
    drift_ppm: float = 0.0


@dataclass(frozen=True, slots=True)
class SatelliteConfig:
    """Everything a satellite needs to run.

    `advertise_interfaces` limits the zeroconf announcement to these local addresses;
    empty means the configured host's address, or every interface when the host is a
    wildcard.
    """

    name: str
    state_dir: Path
    cache: CacheConfig
    devices: tuple[DeviceConfig, ...]
    outputs: tuple[OutputConfig, ...]
    inputs: tuple[InputConfig, ...] = ()
    host: str = "0.0.0.0"  # a satellite serves the venue's whole network
    port: int = DEFAULT_PORT
    key: bytes | None = None
    key_file: Path | None = None
    tls: bool = False
    advertise: bool = True
    sample_rate: int = 48000
    block_frames: int = 240
    fallback: FallbackConfig = field(default_factory=FallbackConfig)
    clock: ClockHookConfig = field(default_factory=ClockHookConfig)
    advertise_interfaces: tuple[str, ...] = ()


class ConfigError(Exception):
    """A configuration file that cannot be used; `problems` holds one line per problem."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


# --- value checks: strict about types, since YAML turns `yes` into True and `012` into 10 ---


def _integer(low: int, high: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise vol.Invalid(f"expected a whole number, got {value!r}")
        if not low <= value <= high:
            raise vol.Invalid(f"{value} is outside {low}..{high}")
        return value

    return check


def _number(low: float, high: float) -> Callable[[object], float]:
    def check(value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise vol.Invalid(f"expected a number, got {value!r}")
        if not math.isfinite(value) or not low <= value <= high:
            raise vol.Invalid(f"{value} is outside {low:g}..{high:g}")
        return float(value)

    return check


def _text(max_chars: int) -> Callable[[object], str]:
    def check(value: object) -> str:
        if not isinstance(value, str):
            raise vol.Invalid(f"expected text, got {value!r}")
        text = value.strip()
        if not text:
            raise vol.Invalid("must not be empty")
        if len(text) > max_chars:
            raise vol.Invalid(f"is {len(text)} characters long, at most {max_chars} allowed")
        return text

    return check


def _boolean(value: object) -> bool:
    if not isinstance(value, bool):
        raise vol.Invalid(f"expected true or false, got {value!r}")
    return value


def _choice(choices: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in choices:
            raise vol.Invalid(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return check


def _device_type(value: object) -> str:
    """YAML reads a bare `type: null` as nothing at all; it can only mean the null device."""
    return _choice(DEVICE_TYPES)("null" if value is None else value)


def _path(value: object) -> Path:
    return Path(_text(4096)(value)).expanduser()


def _pairing_key(value: object) -> bytes:
    if not isinstance(value, str):
        raise vol.Invalid("expected the key as quoted text of 64 hexadecimal digits")
    try:
        return link.parse_pairing_key(value)
    except ValueError as err:
        raise vol.Invalid(str(err)) from err


def _ip_address(value: object) -> str:
    text = _text(64)(value)
    try:
        return str(ipaddress.ip_address(text))
    except ValueError as err:
        raise vol.Invalid(f"{text!r} is not an IP address") from err


def _listed(item: Callable[[object], Any], max_items: int, what: str) -> Callable[[object], Any]:
    """A list whose items each pass `item`, naming the offending index on failure."""
    schema = vol.Schema([item])

    def check(value: object) -> Any:
        if not isinstance(value, list):
            raise vol.Invalid(f"expected a list of {what}")
        if len(value) > max_items:
            raise vol.Invalid(f"at most {max_items} {what} allowed, got {len(value)}")
        return schema(value)

    return check


_DEVICE = vol.Schema(
    {
        vol.Required("name"): _text(NAME_CHARS),
        vol.Required("type"): _device_type,
        vol.Optional("device"): _text(256),
        vol.Optional("path"): _path,
        vol.Optional("channels", default=2): _integer(1, 32),
        vol.Optional("latency_ms", default=0): _number(0, 1000),
        vol.Optional("keep_seconds", default=0): _number(0, 600),
    }
)

_OUTPUT = vol.Schema(
    {
        vol.Required("name"): _text(NAME_CHARS),
        vol.Required("device"): _text(NAME_CHARS),
        vol.Optional("channels", default="both"): _choice(CHANNEL_CHOICES),
    }
)

_INPUT = vol.Schema(
    {
        vol.Required("name"): _text(NAME_CHARS),
        vol.Optional("pin"): _integer(GPIO_PINS.start, GPIO_PINS.stop - 1),
        vol.Optional("simulated", default=False): _boolean,
        vol.Optional("pull_up", default=True): _boolean,
        vol.Optional("bounce_ms", default=30): _integer(0, 1000),
        vol.Optional("long_press_ms", default=800): _integer(50, 60_000),
        vol.Optional("double_press_ms", default=400): _integer(0, 5000),
    }
)

_SCHEMA = vol.Schema(
    {
        vol.Required("name"): _text(NAME_CHARS),
        vol.Optional("host", default="0.0.0.0"): _text(255),
        vol.Optional("port", default=DEFAULT_PORT): _integer(0, 65535),
        vol.Optional("key"): _pairing_key,
        vol.Optional("key_file"): _path,
        vol.Optional("state_dir", default=str(DEFAULT_STATE_DIR)): _path,
        vol.Optional("tls", default=False): _boolean,
        vol.Optional("advertise", default=True): _boolean,
        vol.Optional("advertise_interfaces", default=list): _listed(_ip_address, 16, "addresses"),
        vol.Optional("sample_rate", default=48000): _integer(8000, 192_000),
        vol.Optional("block_frames", default=240): _integer(16, 8192),
        vol.Optional("cache", default=dict): {
            vol.Optional("folder"): _path,
            vol.Optional("max_mb", default=DEFAULT_CACHE_MB): _number(1, 1024 * 1024),
        },
        vol.Required("devices"): _listed(_DEVICE, 16, "devices"),
        vol.Required("outputs"): _listed(_OUTPUT, link.MAX_OUTPUTS, "outputs"),
        vol.Optional("inputs", default=list): _listed(_INPUT, link.MAX_INPUTS, "inputs"),
        vol.Optional("fallback", default=dict): {
            vol.Optional("keep_ambient", default=True): _boolean,
            vol.Optional("inputs", default=dict): {_text(NAME_CHARS): _text(NAME_CHARS)},
        },
        vol.Optional("clock", default=dict): {
            vol.Optional("offset_ms", default=0): _number(-1e9, 1e9),
            vol.Optional("drift_ppm", default=0): _number(-1000, 1000),
        },
    }
)

_VOLUPTUOUS_WORDING = {
    "extra keys not allowed": "unknown option",
    "required key not provided": "missing (required)",
    "expected a dictionary": "expected a mapping of options",
}


class _Problems:
    """Collects problems as `file:line: key.path: problem` lines."""

    def __init__(self, source: str, lines: Mapping[KeyPath, int]) -> None:
        self._source = source
        self._lines = lines
        self.found: list[str] = []

    def add(self, path: KeyPath, problem: str) -> None:
        where = self._source
        line = line_of(self._lines, path)
        if line is not None:
            where += f":{line}"
        key = format_key_path(path) or "(top level)"
        self.found.append(f"{where}: {key}: {problem}")


def _read_yaml(text: str) -> tuple[object, dict[KeyPath, int]]:
    """The data of a YAML document and the line (1-based) of every key and list item.

    A key written twice counts with its last value, as PyYAML's safe_load has it, so a
    problem with the key itself names the line of that last spelling.
    """
    data, key_lines = load_yaml_with_lines(yaml.SafeLoader(text))
    for repeated in key_lines.repeated:
        key_lines.lines[repeated.path] = repeated.line
    return data, key_lines.lines


def _error_path(error: vol.Invalid) -> KeyPath:
    """The error's key path, with voluptuous markers (Required, Optional) as their keys."""
    return tuple(key.schema if isinstance(key, vol.Marker) else key for key in error.path)


def load_config(path: Path) -> SatelliteConfig:
    """Read and validate the satellite's YAML file; raise ConfigError listing every problem."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([f"{source}: cannot read the file: {err}"]) from err
    try:
        data, lines = _read_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([f"{where}: not valid YAML: {problem}"]) from err
    return _parse(data, source, path.parent.resolve(), lines)


def parse_config(data: object, source: str, base_dir: Path | None = None) -> SatelliteConfig:
    """Validate already-loaded YAML data. Relative paths resolve against `base_dir`.

    `base_dir` defaults to the folder of `source` when that names a file.
    """
    base = base_dir if base_dir is not None else Path(source).parent.resolve()
    return _parse(data, source, base, {})


def _parse(
    data: object, source: str, base_dir: Path, lines: Mapping[KeyPath, int]
) -> SatelliteConfig:
    problems = _Problems(source, lines)
    if data is None:
        problems.add((), "the file is empty; expected a mapping of options")
        raise ConfigError(problems.found)
    try:
        valid: dict[str, Any] = _SCHEMA(data)
    except vol.MultipleInvalid as err:
        for error in err.errors:
            wording = _VOLUPTUOUS_WORDING.get(error.error_message, error.error_message)
            problems.add(_error_path(error), wording)
        raise ConfigError(problems.found) from err
    config = _build(valid, base_dir, problems)
    if problems.found:
        raise ConfigError(problems.found)
    return config


def _build(valid: dict[str, Any], base_dir: Path, problems: _Problems) -> SatelliteConfig:
    """Turn schema-checked data into the dataclasses, cross-checking as it goes."""
    state_dir = _resolve(valid["state_dir"], base_dir)
    devices = _devices(valid["devices"], base_dir, problems)
    outputs = _outputs(valid["outputs"], devices, problems)
    inputs = _inputs(valid["inputs"], problems)
    fallback = _fallback(valid["fallback"], inputs, problems)
    if "key" in valid and "key_file" in valid:
        problems.add(("key_file",), "give either key or key_file, not both")
    key_file = valid.get("key_file")
    cache = valid["cache"]
    clock = valid["clock"]
    return SatelliteConfig(
        name=valid["name"],
        state_dir=state_dir,
        cache=CacheConfig(
            folder=_resolve(cache.get("folder", state_dir / "cache"), base_dir),
            max_bytes=round(cache["max_mb"] * MEBIBYTE),
        ),
        devices=tuple(devices.values()),
        outputs=outputs,
        inputs=inputs,
        host=valid["host"],
        port=valid["port"],
        key=valid.get("key"),
        key_file=_resolve(key_file, base_dir) if key_file is not None else None,
        tls=valid["tls"],
        advertise=valid["advertise"],
        sample_rate=valid["sample_rate"],
        block_frames=valid["block_frames"],
        fallback=fallback,
        clock=ClockHookConfig(
            offset_us=round(clock["offset_ms"] * 1000), drift_ppm=clock["drift_ppm"]
        ),
        advertise_interfaces=tuple(valid["advertise_interfaces"]),
    )


def _resolve(path: Path, base_dir: Path) -> Path:
    return path if path.is_absolute() else base_dir / path


def _check_unique(items: list[dict[str, Any]], kind: str, key: str, problems: _Problems) -> None:
    seen: set[object] = set()
    for index, item in enumerate(items):
        value = item.get(key)
        if value is None:
            continue
        if value in seen:
            problems.add((kind, index, key), f"{value!r} is used by an earlier entry")
        seen.add(value)


def _devices(
    items: list[dict[str, Any]], base_dir: Path, problems: _Problems
) -> dict[str, DeviceConfig]:
    _check_unique(items, "devices", "name", problems)
    devices: dict[str, DeviceConfig] = {}
    for index, item in enumerate(items):
        kind: DeviceType = item["type"]
        if "device" in item and kind != "sounddevice":
            problems.add(("devices", index, "device"), "only a sounddevice device names a card")
        if "path" in item and kind == "sounddevice":
            problems.add(("devices", index, "path"), "a sounddevice device has no path")
        if kind == "wav" and "path" not in item:
            problems.add(("devices", index, "path"), "a wav device needs the file to write")
        if item["keep_seconds"] and kind != "null":
            problems.add(("devices", index, "keep_seconds"), "only a null device keeps samples")
        path = item.get("path")
        devices.setdefault(
            item["name"],
            DeviceConfig(
                name=item["name"],
                type=kind,
                channels=item["channels"],
                latency_us=round(item["latency_ms"] * 1000),
                device=item.get("device"),
                path=_resolve(path, base_dir) if path is not None else None,
                keep_s=float(item["keep_seconds"]),
            ),
        )
    return devices


def _outputs(
    items: list[dict[str, Any]], devices: Mapping[str, DeviceConfig], problems: _Problems
) -> tuple[OutputConfig, ...]:
    if not items:
        problems.add(("outputs",), "at least one output is needed")
    _check_unique(items, "outputs", "name", problems)
    outputs = []
    for index, item in enumerate(items):
        device = devices.get(item["device"])
        channels: Channels = item["channels"]
        if device is None:
            known = ", ".join(devices) or "none"
            problems.add(
                ("outputs", index, "device"),
                f"no device named {item['device']!r} (devices: {known})",
            )
        elif device.channels < CHANNELS_NEEDED[channels]:
            problems.add(
                ("outputs", index, "channels"),
                f"{channels!r} needs {CHANNELS_NEEDED[channels]} channels but device "
                f"{device.name!r} has {device.channels}",
            )
        outputs.append(OutputConfig(index, item["name"], item["device"], channels))
    return tuple(outputs)


def _inputs(items: list[dict[str, Any]], problems: _Problems) -> tuple[InputConfig, ...]:
    _check_unique(items, "inputs", "name", problems)
    _check_unique(items, "inputs", "pin", problems)
    inputs = []
    for index, item in enumerate(items):
        pin = item.get("pin")
        if (pin is None) != item["simulated"]:
            problems.add(
                ("inputs", index),
                "give either pin (a GPIO number) or simulated: true"
                if pin is None
                else "a simulated input has no pin",
            )
        if item["long_press_ms"] <= item["bounce_ms"]:
            problems.add(("inputs", index, "long_press_ms"), "must be longer than bounce_ms")
        inputs.append(
            InputConfig(
                index=index,
                name=item["name"],
                pin=pin,
                pull_up=item["pull_up"],
                bounce_ms=item["bounce_ms"],
                long_press_ms=item["long_press_ms"],
                double_press_ms=item["double_press_ms"],
            )
        )
    return tuple(inputs)


def _fallback(
    valid: dict[str, Any], inputs: tuple[InputConfig, ...], problems: _Problems
) -> FallbackConfig:
    names = {item.name for item in inputs}
    mapping: dict[str, str] = valid["inputs"]
    for name in mapping:
        if name not in names:
            problems.add(
                ("fallback", "inputs", name),
                f"no input named {name!r} (inputs: {', '.join(sorted(names)) or 'none'})",
            )
    return FallbackConfig(keep_ambient=valid["keep_ambient"], inputs=dict(mapping))
