"""The venue's show: rooms, effects, themes and Pi switch bindings, read from the show folder.

The folder holds `show.yaml` and, accepted unchanged, the seed's `remote_host_config.json`
and `audio_config.json`, plus the audio files the effects play. `load_show` reads it;
`parse_show` does the same from texts. Either returns a frozen `Show` or raises
`ShowError` listing every problem with its file, line and key path, so a bad edit can
be reported while the last good show keeps running.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import voluptuous as vol

from .show_schema import (
    ALL_ROOMS,
    DEFAULT_PRIORITY,
    REMOTE_HOSTS_SCHEMA,
    Catalog,
    audio_config_schema,
    is_stream,
    show_schema,
)
from .show_source import Document, ShowError, ShowProblem, read_json, read_yaml
from .show_validators import Validator, describe, error_path, normalize_name

__all__ = [
    "AUDIO_CONFIG_FILE",
    "REMOTE_HOSTS_FILE",
    "SHOW_FILE",
    "SHOW_FILES",
    "AudioCue",
    "Effect",
    "InputBinding",
    "RemoteHost",
    "Room",
    "Settings",
    "Show",
    "ShowError",
    "ShowProblem",
    "SpeakerRef",
    "Step",
    "Theme",
    "ThemeCue",
    "load_show",
    "normalize_name",
    "parse_show",
    "show_digest",
]

SHOW_FILE: Final = "show.yaml"
REMOTE_HOSTS_FILE: Final = "remote_host_config.json"
AUDIO_CONFIG_FILE: Final = "audio_config.json"
SHOW_FILES: Final = (SHOW_FILE, REMOTE_HOSTS_FILE, AUDIO_CONFIG_FILE)
DEFAULT_VOLUME: Final = 1.0
DEFAULT_BUS: Final = "fx"


@dataclass(frozen=True, slots=True)
class AudioCue:
    """The sound of an effect.

    `source` is a path relative to the show folder, or a media-source:// or http(s) URL;
    URLs are streamed when played (`is_stream`), files are preloaded onto satellites
    from `path`, the resolved local file (None for streams). `fallback` is a preloaded
    file that plays where a stream fails mid-way.
    """

    source: str
    volume: float
    loop: bool
    bus: str
    is_stream: bool
    path: Path | None
    fallback: Path | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One moment of an effect's timeline, `at_ms` after its start.

    A `light` step sets every light of each target room: `light["state"]` is "on" or
    "off" and the other keys are `light.turn_on` data. An `action` step calls that Home
    Assistant action with `target` and `data`. Steps marked `strobe` are dropped while
    the venue's strobe-safe switch is on.
    """

    at_ms: int
    kind: Literal["light", "action"]
    light: Mapping[str, Any] | None
    action: str | None
    target: Mapping[str, Any] | None
    data: Mapping[str, Any]
    strobe: bool


@dataclass(frozen=True, slots=True)
class Effect:
    """Sound and a timeline of steps (sorted by time) fired together in chosen rooms.

    `priority` (0..255): a higher one wins, and ducks sound on lower buses.
    """

    name: str
    priority: int
    audio: AudioCue | None
    steps: tuple[Step, ...]


@dataclass(frozen=True, slots=True)
class SpeakerRef:
    """A satellite output serving a room.

    `satellite` is a satellite's name, id or host address as written in the files;
    `output` its output's name or index, None for all of its outputs.
    """

    satellite: str
    output: str | int | None


@dataclass(frozen=True, slots=True)
class Room:
    """A room of the maze. `area` None means the Home Assistant area named like the room.

    Its lights are the light entities of that area plus `lights`; `light_latency_ms`
    says how much earlier to command a slow light so it lands with the sound.
    """

    name: str
    area: str | None
    lights: tuple[str, ...]
    light_latency_ms: Mapping[str, int]
    speakers: tuple[SpeakerRef, ...]


@dataclass(frozen=True, slots=True)
class ThemeCue:
    """An effect a theme starts `at_ms` after the theme, in `rooms` or "all" rooms."""

    effect: str
    rooms: tuple[str, ...] | Literal["all"]
    at_ms: int


@dataclass(frozen=True, slots=True)
class Theme:
    """A set of effects started together, such as an ambient loop plus a timed scare."""

    name: str
    cues: tuple[ThemeCue, ...]


@dataclass(frozen=True, slots=True)
class InputBinding:
    """A satellite input (a Pi switch) that fires an effect or a theme.

    Exactly one of `effect` and `theme` is set. `event` is press, long_press,
    double_press or release. `rooms` None means the rooms the satellite serves.
    """

    satellite: str
    input: str
    event: str
    effect: str | None
    theme: str | None
    rooms: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class Settings:
    """Venue-wide settings. `lead_ms` None means measured automatically per satellite."""

    default_volume: float
    lead_ms: int | None
    house_lights: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RemoteHost:
    """A satellite listed in remote_host_config.json: its address, name and rooms."""

    address: str
    name: str
    rooms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Show:
    """Everything the show folder defines, merged and checked.

    Names are spelled as in show.yaml (else as in the JSON files); the `find_*` methods
    also accept other case and spacing, as the seed's HTTP clients may send.
    `remote_hosts` is keyed by address, `audio_files` lists the local files to preload.
    The show is shared: treat its mappings as read-only (copy `Step.data` and friends
    before handing them to a service call that may change them).
    """

    rooms: Mapping[str, Room]
    effects: Mapping[str, Effect]
    themes: Mapping[str, Theme]
    inputs: tuple[InputBinding, ...]
    settings: Settings
    folder: Path
    audio_files: frozenset[Path]
    remote_hosts: Mapping[str, RemoteHost]

    def find_room(self, name: str) -> Room | None:
        """The room of that name, ignoring case and spacing."""
        return _find(self.rooms, name)

    def find_effect(self, name: str) -> Effect | None:
        """The effect of that name, ignoring case and spacing."""
        return _find(self.effects, name)

    def find_theme(self, name: str) -> Theme | None:
        """The theme of that name, ignoring case and spacing."""
        return _find(self.themes, name)


def _find[T](items: Mapping[str, T], name: str) -> T | None:
    if name in items:
        return items[name]
    wanted = normalize_name(name)
    return next((item for key, item in items.items() if normalize_name(key) == wanted), None)


def load_show(folder: Path, default_volume: float = DEFAULT_VOLUME) -> Show:
    """Read and check the show folder. Blocking file I/O: run it in the executor.

    `default_volume` applies when neither show.yaml nor audio_config.json sets one.
    Raises ShowError when a file cannot be read or the show has problems.
    """
    texts: dict[str, str | None] = {}
    problems: list[ShowProblem] = []
    for file in SHOW_FILES:
        try:
            texts[file] = (folder / file).read_text(encoding="utf-8")
        except FileNotFoundError:
            texts[file] = None
        except UnicodeDecodeError as err:
            problems.append(ShowProblem(file, None, f"is not UTF-8 text ({err.reason})"))
        except OSError as err:
            problems.append(ShowProblem(file, None, f"cannot be read: {err.strerror or err}"))
    if problems:
        raise ShowError(problems)
    return parse_show(
        texts[SHOW_FILE],
        texts[REMOTE_HOSTS_FILE],
        texts[AUDIO_CONFIG_FILE],
        folder,
        default_volume=default_volume,
    )


def parse_show(
    yaml_text: str | None,
    remote_hosts_json: str | None,
    audio_json: str | None,
    folder: Path,
    *,
    default_volume: float = DEFAULT_VOLUME,
) -> Show:
    """Build the show from the files' texts (None: the file is absent).

    show.yaml may be absent when one of the JSON files is present. The only file access
    is looking up the effects' audio files in `folder`. Raises ShowError listing every
    problem found.
    """
    if yaml_text is None and remote_hosts_json is None and audio_json is None:
        raise ShowError(
            [ShowProblem(SHOW_FILE, None, f"not found in {folder} (nor the seed's JSON files)")]
        )
    problems: list[ShowProblem] = []
    show_doc = _read(read_yaml, SHOW_FILE, yaml_text, problems)
    hosts_doc = _read(read_json, REMOTE_HOSTS_FILE, remote_hosts_json, problems)
    audio_doc = _read(read_json, AUDIO_CONFIG_FILE, audio_json, problems)
    unreadable = any(
        text is not None and document is None
        for text, document in (
            (yaml_text, show_doc),
            (remote_hosts_json, hosts_doc),
            (audio_json, audio_doc),
        )
    )
    catalog = Catalog.declared(
        _data(show_doc), _data(hosts_doc), _data(audio_doc), complete=not unreadable
    )
    config = _validated(show_doc, show_schema(catalog, folder), problems)
    hosts_config = _validated(hosts_doc, REMOTE_HOSTS_SCHEMA, problems)
    audio_config = _validated(audio_doc, audio_config_schema(catalog, folder), problems)
    if problems:
        order = {file: index for index, file in enumerate(SHOW_FILES)}
        raise ShowError(sorted(problems, key=lambda p: (order[p.file], p.line or 0)))
    return _assemble(folder, config, hosts_config["remote_hosts"], audio_config, default_volume)


def _read(
    reader: Callable[[str, str], Document],
    file: str,
    text: str | None,
    problems: list[ShowProblem],
) -> Document | None:
    """The parsed file; None when it is absent or not parsable (the problem is recorded)."""
    if text is None:
        return None
    try:
        document = reader(file, text)
    except ShowError as err:
        problems.extend(err.problems)
        return None
    problems.extend(document.problems)
    return document


def _data(document: Document | None) -> Any:
    return None if document is None else document.data


def _validated(
    document: Document | None, schema: Validator, problems: list[ShowProblem]
) -> dict[str, Any]:
    """The document's data through its schema; an absent file counts as empty."""
    if document is None:
        empty: dict[str, Any] = schema({})
        return empty
    try:
        validated: dict[str, Any] = schema(document.data)
    except vol.Invalid as err:
        errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
        problems.extend(document.problem(error_path(error), describe(error)) for error in errors)
        return {}
    return validated


def _assemble(
    folder: Path,
    config: dict[str, Any],
    host_configs: dict[str, Any],
    audio_config: dict[str, Any],
    fallback_volume: float,
) -> Show:
    """Merge the three checked files: show.yaml wins wherever it sets a value."""
    settings = config["settings"]
    default_volume = settings.get("default_volume", audio_config.get("default_volume"))
    venue = Settings(
        default_volume=fallback_volume if default_volume is None else default_volume,
        lead_ms=settings["lead_ms"],
        house_lights=tuple(settings["house_lights"]),
    )
    rooms = {name: _room(name, room) for name, room in config["rooms"].items()}
    hosts: dict[str, RemoteHost] = {}
    for address, host in host_configs.items():
        host_rooms = [_find(rooms, name) or _room(name, {}) for name in host["rooms"]]
        hosts[address] = RemoteHost(address, host["name"], tuple(r.name for r in host_rooms))
        rooms.update((room.name, _with_host(room, hosts[address])) for room in host_rooms)
    effects = _effects(folder, config["effects"], audio_config["effects"], venue.default_volume)
    return Show(
        rooms=rooms,
        effects=effects,
        themes={name: _theme(name, theme) for name, theme in config["themes"].items()},
        inputs=tuple(_binding(binding, rooms) for binding in config["inputs"]),
        settings=venue,
        folder=folder,
        audio_files=frozenset(
            effect.audio.path
            for effect in effects.values()
            if effect.audio is not None and effect.audio.path is not None
        ),
        remote_hosts=hosts,
    )


def _effects(
    folder: Path,
    configs: dict[str, dict[str, Any]],
    seeded: dict[str, dict[str, Any]],
    default_volume: float,
) -> dict[str, Effect]:
    """show.yaml's effects, with audio_config.json's sound; then the JSON's other effects."""
    seeded_by_name = {normalize_name(name): name for name in seeded}
    effects: dict[str, Effect] = {}
    for name, config in configs.items():
        seeded_name = seeded_by_name.pop(normalize_name(name), None)
        seed = {} if seeded_name is None else seeded[seeded_name]
        audio = _audio(folder, config.get("audio"), seed, default_volume)
        steps = sorted((_step(step) for step in config["steps"]), key=lambda step: step.at_ms)
        effects[name] = Effect(name, config["priority"], audio, tuple(steps))
    for name in seeded_by_name.values():
        audio = _audio(folder, None, seeded[name], default_volume)
        effects[name] = Effect(name, DEFAULT_PRIORITY, audio, ())
    return effects


def _audio(
    folder: Path, mine: dict[str, Any] | None, seed: dict[str, Any], default_volume: float
) -> AudioCue | None:
    """An effect's sound: show.yaml's values, else audio_config.json's, else defaults."""
    if mine is None and not seed:
        return None
    mine = mine or {}
    source: str = mine["file"] if "file" in mine else seed["audio_file"]
    local = None if is_stream(source) else (folder / source).resolve()
    return AudioCue(
        source=source,
        volume=mine.get("volume", seed.get("volume", default_volume)),
        loop=mine.get("loop", seed.get("loop", False)),
        bus=mine.get("bus", DEFAULT_BUS),
        is_stream=local is None,
        path=local,
        fallback=(folder / mine["fallback"]).resolve() if "fallback" in mine else None,
    )


def _binding(config: Mapping[str, Any], rooms: Mapping[str, Room]) -> InputBinding:
    selection = config.get("rooms")
    return InputBinding(
        satellite=config["satellite"],
        input=config["input"],
        event=config["event"],
        effect=config.get("effect"),
        theme=config.get("theme"),
        rooms=tuple(rooms) if selection == ALL_ROOMS else selection,
    )


def _room(name: str, config: Mapping[str, Any]) -> Room:
    return Room(
        name=name,
        area=config.get("area"),
        lights=tuple(config.get("lights", ())),
        light_latency_ms=dict(config.get("light_latency_ms", {})),
        speakers=tuple(
            SpeakerRef(speaker["satellite"], speaker.get("output"))
            for speaker in config.get("speakers", ())
        ),
    )


def _with_host(room: Room, host: RemoteHost) -> Room:
    """The room with the host as a speaker, unless show.yaml already names that host."""
    names = {host.address, normalize_name(host.name)}
    if any(
        speaker.satellite in names or normalize_name(speaker.satellite) in names
        for speaker in room.speakers
    ):
        return room
    return dataclasses.replace(room, speakers=(*room.speakers, SpeakerRef(host.address, None)))


def _step(config: Mapping[str, Any]) -> Step:
    is_light = "light" in config
    return Step(
        at_ms=config["at"],
        kind="light" if is_light else "action",
        light=config["light"] if is_light else None,
        action=None if is_light else config["action"],
        target=None if is_light else config.get("target"),
        data=config.get("data", {}),
        strobe=config["strobe"],
    )


def _theme(name: str, config: Mapping[str, Any]) -> Theme:
    return Theme(
        name,
        tuple(ThemeCue(cue["effect"], cue["rooms"], cue["at"]) for cue in config["cues"]),
    )


def show_digest(show: Show) -> str:
    """A stable hash of the parsed show: equal digests mean a reload changed nothing.

    Audio file contents are not covered; satellites' caches address assets by content.
    """
    text = json.dumps(
        dataclasses.asdict(show), default=_json_default, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode()).hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, frozenset | set):
        return sorted(str(item) for item in value)
    return str(value)
