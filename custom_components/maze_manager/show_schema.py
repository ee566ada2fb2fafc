"""The schemas of the show files, and the checks that look across them.

show.yaml's references (to rooms, effects, themes) are checked against what all three
files declare, and audio files against the show folder, so a show that validates can be
merged without surprises.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final

import voluptuous as vol

from .show_validators import (
    Record,
    Validator,
    action,
    always,
    boolean,
    checked,
    did_you_mean,
    each,
    entity_id,
    fixed,
    integer,
    label,
    mapping_of,
    milliseconds,
    named,
    normalize_name,
    number,
    one_of,
    shown,
    text,
)

MAX_TIME_MS: Final = 3_600_000
MAX_LEAD_MS: Final = 10_000
MAX_LATENCY_MS: Final = 10_000
MAX_OUTPUT_INDEX: Final = 15
MAX_TRANSITION_S: Final = 300.0
DEFAULT_PRIORITY: Final = 100
BUSES: Final = ("fx", "ambient")
INPUT_EVENTS: Final = ("press", "long_press", "double_press", "release")
ALL_ROOMS: Final = "all"
AUTO: Final = "auto"
STREAM_PREFIXES: Final = ("media-source://", "http://", "https://")

_COLOR_KEYS: Final = (
    "rgb_color",
    "rgbw_color",
    "rgbww_color",
    "hs_color",
    "xy_color",
    "color_temp_kelvin",
    "color_name",
)
_URL: Final = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_HOST_NAME: Final = re.compile(
    r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE,
)


def is_stream(source: str) -> bool:
    """Whether an audio source is streamed when played rather than preloaded."""
    return source.lower().startswith(STREAM_PREFIXES)


# Values


def _room_name(value: Any) -> str:
    name = label(value)
    if normalize_name(name) == ALL_ROOMS:
        raise vol.Invalid(f"'{name}' is reserved: rooms: {ALL_ROOMS} means every room")
    return name


def _lead(value: Any) -> int | None:
    if isinstance(value, str) and value.strip().lower() == AUTO:
        return None
    lead: int = milliseconds(MAX_LEAD_MS)(value)
    return lead


def _audio_source(value: Any) -> str:
    source = text(value)
    if is_stream(source):
        return source
    if _URL.match(source):
        raise vol.Invalid(f"'{source}' is not a media-source://, http:// or https:// address")
    path = PurePosixPath(source)
    if path.is_absolute() or ".." in path.parts:
        raise vol.Invalid(
            f"'{source}' is outside the show folder: use a path relative to it, or a URL"
        )
    return str(path)


def _host_address(value: Any) -> str:
    host = text(value)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not _HOST_NAME.fullmatch(host):
            raise vol.Invalid(f"'{host}' is not an IP address or host name") from None
    return host


def _output(value: Any) -> str | int:
    if isinstance(value, int) and not isinstance(value, bool):
        output: int = integer(0, MAX_OUTPUT_INDEX)(value)
        return output
    if isinstance(value, str):
        return label(value)
    raise vol.Invalid(f"expected an output name or index, got {shown(value)}")


def _light_state(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    state: str = one_of("on", "off")(value)
    return state


# Cross-references


@dataclass(frozen=True, slots=True)
class Catalog:
    """What the show files declare, for the checks that look across files.

    `rooms`, `effects` and `themes` map a normalised name to its spelling in the files
    (show.yaml first). `seeded_audio` holds the (normalised) effects audio_config.json
    gives a file, `show_audio` those whose file show.yaml sets. When a file could not be
    parsed the catalog is not `complete`: what it would have declared is unknown, so
    those checks pass rather than report problems that may not be.
    """

    rooms: Mapping[str, str]
    effects: Mapping[str, str]
    themes: Mapping[str, str]
    seeded_audio: frozenset[str]
    show_audio: frozenset[str]
    complete: bool

    @classmethod
    def declared(cls, show: Any, remote_hosts: Any, audio: Any, *, complete: bool) -> Catalog:
        """Collect the declared names from the files' raw data, whatever its shape."""
        hosts = _section(remote_hosts, "remote_hosts")
        host_rooms = [
            room
            for host in hosts.values()
            if isinstance(host, dict) and isinstance(host.get("rooms"), list)
            for room in host["rooms"]
        ]
        show_effects = _section(show, "effects")
        return cls(
            rooms=_spellings([*_section(show, "rooms"), *host_rooms]),
            effects=_spellings([*show_effects, *_section(audio, "effects")]),
            themes=_spellings(_section(show, "themes")),
            seeded_audio=frozenset(_spellings(_section(audio, "effects"))),
            show_audio=frozenset(
                _spellings(name for name, effect in show_effects.items() if _sets_file(effect))
            ),
            complete=complete,
        )


def _sets_file(effect: Any) -> bool:
    audio = effect.get("audio") if isinstance(effect, dict) else None
    return isinstance(audio, str) or (isinstance(audio, dict) and "file" in audio)


def _section(data: Any, key: str) -> dict[Any, Any]:
    section = data.get(key) if isinstance(data, dict) else None
    return section if isinstance(section, dict) else {}


def _spellings(names: Iterable[Any]) -> dict[str, str]:
    spellings: dict[str, str] = {}
    for name in names:
        if isinstance(name, str) and name.strip():
            spellings.setdefault(normalize_name(name), name.strip())
    return spellings


def _reference(kind: str, names: Mapping[str, str], complete: bool) -> Validator:
    """A name that must be declared; it comes back spelled as declared."""

    def validate(value: Any) -> str:
        name = label(value)
        known = names.get(normalize_name(name))
        if known is not None:
            return known
        if not complete:
            return name
        if not names:
            raise vol.Invalid(f"unknown {kind} '{name}': the show has no {kind}s")
        raise vol.Invalid(f"unknown {kind} '{name}'{did_you_mean(name, names.values())}")

    return validate


def _room_selection(catalog: Catalog) -> Validator:
    """`all`, one room, or a list of rooms."""
    rooms = each(_reference("room", catalog.rooms, catalog.complete), single=True)

    def validate(value: Any) -> str | tuple[str, ...]:
        if isinstance(value, str) and normalize_name(value) == ALL_ROOMS:
            return ALL_ROOMS
        selected = tuple(rooms(value))
        if not selected:
            raise vol.Invalid(f"names no rooms (write {ALL_ROOMS} for every room)")
        return selected

    return validate


# show.yaml


def _light_is_consistent(light: dict[str, Any]) -> None:
    colors = [key for key in _COLOR_KEYS if key in light]
    if len(colors) > 1:
        raise vol.Invalid(f"sets {' and '.join(colors)}: a light takes one colour at a time")
    if "brightness" in light and "brightness_pct" in light:
        raise vol.Invalid("sets brightness and brightness_pct: keep one")
    extra = sorted(set(light) - {"state", "transition"})
    if light["state"] == "off" and extra:
        raise vol.Invalid(f"turns lights off but sets {', '.join(extra)}: off takes transition")


def _step_is_one_thing(step: dict[str, Any]) -> None:
    if "light" in step and "action" in step:
        raise vol.Invalid("has both light and action: give each its own step")
    if "light" not in step and "action" not in step:
        raise vol.Invalid("needs light or action")
    if "light" in step and ("target" in step or "data" in step):
        raise vol.Invalid("target and data go with action; a light step sets the room's lights")


def _binding_is_one_thing(binding: dict[str, Any]) -> None:
    if ("effect" in binding) == ("theme" in binding):
        raise vol.Invalid("needs either effect or theme")
    if "theme" in binding and "rooms" in binding:
        raise vol.Invalid("rooms go with effect; a theme's cues name their own rooms")


_BYTE: Final = integer(0, 255)
_LIGHT: Final = checked(
    Record(
        {
            vol.Optional("state", default="on"): _light_state,
            vol.Optional("brightness"): _BYTE,
            vol.Optional("brightness_pct"): number(0, 100),
            vol.Optional("rgb_color"): fixed(_BYTE, _BYTE, _BYTE),
            vol.Optional("rgbw_color"): fixed(_BYTE, _BYTE, _BYTE, _BYTE),
            vol.Optional("rgbww_color"): fixed(_BYTE, _BYTE, _BYTE, _BYTE, _BYTE),
            vol.Optional("hs_color"): fixed(number(0, 360), number(0, 100)),
            vol.Optional("xy_color"): fixed(number(0, 1), number(0, 1)),
            vol.Optional("color_temp_kelvin"): integer(1000, 40_000),
            vol.Optional("color_name"): text,
            vol.Optional("transition"): number(0, MAX_TRANSITION_S),
            vol.Optional("flash"): one_of("short", "long"),
            vol.Optional("effect"): text,
        },
        shorthand="state",
    ),
    _light_is_consistent,
)
_TARGET: Final = Record(
    {
        vol.Optional("entity_id"): each(entity_id(), single=True),
        **{
            vol.Optional(key): each(text, single=True)
            for key in ("device_id", "area_id", "floor_id", "label_id")
        },
    }
)
_STEP: Final = checked(
    Record(
        {
            vol.Optional("at", default=0): milliseconds(MAX_TIME_MS),
            vol.Optional("light"): _LIGHT,
            vol.Optional("action"): action,
            vol.Optional("target"): _TARGET,
            vol.Optional("data"): mapping_of(text, always(lambda value: value)),
            vol.Optional("strobe", default=False): boolean,
        }
    ),
    _step_is_one_thing,
)
_SPEAKER: Final = Record(
    {vol.Required("satellite"): label, vol.Optional("output"): _output},
    shorthand="satellite",
)
_ROOM: Final = Record(
    {
        vol.Optional("area"): text,
        vol.Optional("lights", default=list): each(entity_id("light"), single=True),
        vol.Optional("light_latency_ms", default=dict): mapping_of(
            entity_id("light"), always(milliseconds(MAX_LATENCY_MS))
        ),
        vol.Optional("speakers", default=list): each(_SPEAKER, single=True),
    }
)
_SETTINGS: Final = Record(
    {
        vol.Optional("default_volume"): number(0.0, 1.0),
        vol.Optional("lead_ms", default=AUTO): _lead,
        vol.Optional("house_lights", default=list): each(entity_id("light", "switch"), single=True),
    }
)


def _audio_file(folder: Path, effect: str, *, required: bool = True) -> Validator:
    """An audio source that, when a local file is `required`, must be in `folder`."""

    def validate(value: Any) -> str:
        source = _audio_source(value)
        if required and not is_stream(source) and not (folder / source).is_file():
            raise vol.Invalid(f"effect '{effect}': audio file '{source}' is not in {folder}")
        return source

    return validate


def _fallback_file(folder: Path, effect: str) -> Validator:
    """A streamed effect's fallback: a file in `folder`, preloaded like any cue."""

    def validate(value: Any) -> str:
        source = _audio_source(value)
        if is_stream(source):
            raise vol.Invalid(
                f"effect '{effect}': the fallback must be a sound file in the show folder, "
                "so satellites hold it before the stream fails"
            )
        if not (folder / source).is_file():
            raise vol.Invalid(f"effect '{effect}': fallback file '{source}' is not in {folder}")
        return source

    return validate


def _effect(catalog: Catalog, folder: Path) -> Callable[[Any], Validator]:
    """An effect of show.yaml, whose sound may come from audio_config.json."""

    def for_name(key: Any) -> Validator:
        name = str(key).strip()
        seeded = normalize_name(name) in catalog.seeded_audio or not catalog.complete
        audio = Record(
            {
                vol.Optional("file"): _audio_file(folder, name),
                vol.Optional("volume"): number(0.0, 1.0),
                vol.Optional("loop"): boolean,
                vol.Optional("bus"): one_of(*BUSES),
                vol.Optional("fallback"): _fallback_file(folder, name),
            },
            shorthand="file",
        )

        def has_sound_or_steps(effect: dict[str, Any]) -> None:
            if seeded:
                return
            if "audio" in effect and "file" not in effect["audio"]:
                raise vol.Invalid(
                    "has no file: set it here or as the effect's audio_file in audio_config.json",
                    path=["audio"],
                )
            if "audio" not in effect and not effect["steps"]:
                raise vol.Invalid("has no audio and no steps")

        record = Record(
            {
                vol.Optional("priority", default=DEFAULT_PRIORITY): integer(0, 255),
                vol.Optional("audio"): audio,
                vol.Optional("steps", default=list): each(_STEP),
            }
        )
        return checked(record, has_sound_or_steps)

    return for_name


def _seeded_effect(catalog: Catalog, folder: Path) -> Callable[[Any], Validator]:
    """An effect of audio_config.json; its file is not needed when show.yaml sets one."""

    def for_name(key: Any) -> Validator:
        name = str(key).strip()
        needed = normalize_name(name) not in catalog.show_audio
        return Record(
            {
                vol.Required("audio_file"): _audio_file(folder, name, required=needed),
                vol.Optional("loop"): boolean,
                vol.Optional("volume"): number(0.0, 1.0),
            }
        )

    return for_name


def _distinct_bindings(bindings: list[dict[str, Any]]) -> None:
    first_index: dict[tuple[str, str, str], int] = {}
    errors: list[vol.Invalid] = []
    for index, binding in enumerate(bindings):
        key = (normalize_name(binding["satellite"]), normalize_name(binding["input"]))
        earlier = first_index.setdefault((*key, binding["event"]), index)
        if earlier != index:
            message = f"binds the same input and event as inputs[{earlier}]"
            errors.append(vol.Invalid(message, path=[index]))
    if errors:
        raise vol.MultipleInvalid(errors)


def show_schema(catalog: Catalog, folder: Path) -> Validator:
    """The schema of show.yaml, checking references against `catalog`, files in `folder`."""
    effect = _reference("effect", catalog.effects, catalog.complete)
    cue = Record(
        {
            vol.Required("effect"): effect,
            vol.Optional("rooms", default=ALL_ROOMS): _room_selection(catalog),
            vol.Optional("at", default=0): milliseconds(MAX_TIME_MS),
        }
    )
    binding = checked(
        Record(
            {
                vol.Required("satellite"): label,
                vol.Required("input"): label,
                vol.Optional("event", default="press"): one_of(*INPUT_EVENTS),
                vol.Optional("effect"): effect,
                vol.Optional("theme"): _reference("theme", catalog.themes, catalog.complete),
                vol.Optional("rooms"): _room_selection(catalog),
            }
        ),
        _binding_is_one_thing,
    )
    return Record(
        {
            vol.Optional("settings", default=dict): _SETTINGS,
            vol.Optional("rooms", default=dict): named("room", always(_ROOM), _room_name),
            vol.Optional("effects", default=dict): named("effect", _effect(catalog, folder)),
            vol.Optional("themes", default=dict): named(
                "theme", always(Record({vol.Required("cues"): each(cue)}))
            ),
            vol.Optional("inputs", default=list): checked(each(binding), _distinct_bindings),
        }
    )


# The seed's JSON files, accepted as they are

REMOTE_HOSTS_SCHEMA: Final = Record(
    {
        vol.Optional("remote_hosts", default=dict): mapping_of(
            _host_address,
            always(Record({vol.Required("name"): label, vol.Required("rooms"): each(_room_name)})),
        )
    }
)


def audio_config_schema(catalog: Catalog, folder: Path) -> Validator:
    """The schema of audio_config.json: audio files are looked up in `folder`."""
    return Record(
        {
            vol.Optional("effects", default=dict): named("effect", _seeded_effect(catalog, folder)),
            vol.Optional("default_volume"): number(0.0, 1.0),
        }
    )
