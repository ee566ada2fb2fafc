"""Sound for the satellites: the seed's AudioManager.

Two paths. Every effect with a local sound file becomes one preloaded cue with the same
small id on every satellite; the file is named by the SHA-256 of its bytes, so a
satellite that already holds it is not sent it again. Everything else (URLs, media
source items, text-to-speech, announcements) is streamed: fetched once, decoded once,
encoded once per bitrate and fanned out (audio_stream.py). There is one AudioManager;
the venue gives it the show's library, and speakers stream through it with or without a
venue.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util.hass_dict import HassKey

from . import link
from .audio_source import SoundUnavailable, async_fetch_sound
from .audio_stream import (
    AudioStream,
    PcmSource,
    StreamDecodeError,
    StreamOptions,
    StreamTarget,
    probe_duration_s as _probe_duration_s,
)
from .const import DOMAIN
from .link.client import Asset, Preload
from .show import Effect, Show

UNITY_PERMILLE = link.UNITY_GAIN_PERMILLE
DATA_AUDIO: HassKey[AudioManager] = HassKey(f"{DOMAIN}_audio")


@dataclass(frozen=True, slots=True)
class AudioLibrary:
    """The venue's cues: which id each effect's sound (and fallback) has, and what to preload."""

    cue_ids: dict[str, int]
    cues: dict[int, link.CueEntry]
    preload: Preload
    fallback_ids: dict[str, int] = dataclasses.field(default_factory=dict)

    def cue_for(self, effect: Effect) -> link.CueEntry | None:
        """The preloaded cue of an effect, if it has one."""
        cue_id = self.cue_ids.get(effect.name)
        return self.cues.get(cue_id) if cue_id is not None else None


EMPTY_LIBRARY = AudioLibrary({}, {}, Preload(link.CueTable(()), {}))


class AudioManager:
    """The venue's sound library, and every sound streaming to satellites now."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.library = EMPTY_LIBRARY
        self.streams: list[AudioStream] = []
        self._listeners: list[CALLBACK_TYPE] = []

    # --- the library ------------------------------------------------------------------

    async def async_build(self, show: Show) -> AudioLibrary:
        """Hash a show's sound files off the event loop; `use` the result once all is well."""
        return await self.hass.async_add_executor_job(build_library, show)

    def use(self, library: AudioLibrary) -> None:
        """Play from this library from now on."""
        self.library = library

    def cue_for(self, effect: Effect) -> link.CueEntry | None:
        """The preloaded cue of an effect, if it has one."""
        return self.library.cue_for(effect)

    def fallback_for(self, effect: Effect) -> int:
        """The cue id of a streamed effect's fallback sound, 0 when it has none."""
        return self.library.fallback_ids.get(effect.name, 0)

    # --- streams ----------------------------------------------------------------------

    async def async_stream(
        self,
        media_id: str,
        targets: list[StreamTarget],
        options: StreamOptions,
        *,
        folder: Path,
        lead_us: int,
        at_us: int | None = None,
        replace: bool = False,
    ) -> AudioStream:
        """Fetch, decode and start streaming a sound to the targets, all from one venue time.

        With `replace`, whatever these targets' outputs were streaming stops first (a
        speaker plays one thing at a time). Errors name the sound and say why.
        """
        live = [target for target in targets if target.device.available]
        if not live:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="no_satellite_connected",
                translation_placeholders={"sound": media_id},
            )
        try:
            sound = await async_fetch_sound(self.hass, media_id, folder)
        except SoundUnavailable as err:
            raise _sound_error("sound_unavailable", media_id, str(err)) from err
        if replace:
            await self.async_stop_streams(live, fade_ms=50)
        duration = await self.hass.async_add_executor_job(_probe_duration_s, sound.data)
        source = PcmSource(sound.data, loop=options.loop)
        title = options.title or sound.title
        stream = AudioStream(
            self.hass, source, live, dataclasses.replace(options, title=title), duration_s=duration
        )
        try:
            await stream.async_start(lead_us, at_us)
        except StreamDecodeError as err:
            raise _sound_error("sound_undecodable", media_id, str(err)) from err
        self.streams.append(stream)
        stream.add_listener(lambda: self._forget(stream))
        self._notify()
        return stream

    def streams_on(self, satellite_id: str, output_index: int) -> list[AudioStream]:
        """The streams playing on one output of a satellite, oldest first."""
        return [
            stream
            for stream in self.streams
            if any(
                lane.target.device.satellite_id == satellite_id
                and lane.target.output_mask & (1 << output_index)
                for lane in stream.lanes
            )
        ]

    async def async_stop_streams(
        self, targets: Iterable[StreamTarget] | None = None, *, fade_ms: int = 500
    ) -> int:
        """Stop the streams that play on any of these outputs (all streams for None)."""
        chosen = list(targets) if targets is not None else None
        stopped = 0
        for stream in list(self.streams):
            if chosen is None or _overlaps(stream, chosen):
                await stream.async_stop(fade_ms)
                stopped += 1
        return stopped

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE) -> Callable[[], None]:
        """Call `update` when a stream starts or ends; returns the remover."""
        self._listeners.append(update)
        return lambda: self._listeners.remove(update)

    def _forget(self, stream: AudioStream) -> None:
        if stream in self.streams:
            self.streams.remove(stream)
        self._notify()

    def _notify(self) -> None:
        for update in list(self._listeners):
            update()


def _overlaps(stream: AudioStream, targets: list[StreamTarget]) -> bool:
    return any(
        lane.target.device is target.device and lane.target.output_mask & target.output_mask
        for lane in stream.lanes
        for target in targets
    )


def _sound_error(key: str, media_id: str, reason: str) -> HomeAssistantError:
    return HomeAssistantError(
        f"{media_id}: {reason}",
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"sound": media_id, "reason": reason},
    )


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def _asset(path: Path, sha: bytes) -> Asset:
    async def read() -> bytes:
        return await asyncio.to_thread(_read, path)

    suffix = path.suffix.lstrip(".").lower() or "bin"
    return Asset(sha, path.name, suffix[:16], read)


class _LibraryBuilder:
    """Numbers cues and collects their assets, hashing each file once."""

    def __init__(self) -> None:
        self.cues: dict[int, link.CueEntry] = {}
        self.assets: dict[bytes, Asset] = {}
        self._digests: dict[Path, bytes] = {}

    def add(
        self, path: Path, name: str, *, gain: float, loop: bool, bus: str, priority: int
    ) -> int:
        """A cue for a sound file; its id."""
        sha = self._digests.get(path)
        if sha is None:
            sha = self._digests[path] = _digest(path)
        self.assets.setdefault(sha, _asset(path, sha))
        cue_id = len(self.cues) + 1
        self.cues[cue_id] = link.CueEntry(
            cue_id=cue_id,
            sha256=sha,
            name=name[:64],
            gain=gain,
            loop=loop,
            bus=bus,
            priority=priority,
        )
        return cue_id


def build_library(show: Show) -> AudioLibrary:
    """Hash the show's sound files and number its cues (blocking: run in the executor)."""
    builder = _LibraryBuilder()
    cue_ids: dict[str, int] = {}
    fallback_ids: dict[str, int] = {}
    for effect in sorted(show.effects.values(), key=lambda item: item.name.casefold()):
        audio = effect.audio
        if audio is None:
            continue
        if audio.path is not None:
            cue_ids[effect.name] = builder.add(
                audio.path,
                effect.name,
                gain=audio.volume,
                loop=audio.loop,
                bus=audio.bus,
                priority=effect.priority,
            )
        if audio.fallback is not None:
            fallback_ids[effect.name] = builder.add(
                audio.fallback,
                f"{effect.name} (fallback)",
                gain=audio.volume,
                loop=False,
                bus=audio.bus,
                priority=effect.priority,
            )
    preload = Preload(link.CueTable(tuple(builder.cues.values())), builder.assets)
    return AudioLibrary(cue_ids, builder.cues, preload, fallback_ids)


def play_gain_permille(cue: link.CueEntry, volume: float | None) -> int:
    """The play trigger's gain that turns the cue's own volume into the requested one."""
    if volume is None or cue.gain == 0:
        return UNITY_PERMILLE
    return max(0, min(0xFFFF, round(UNITY_PERMILLE * volume / cue.gain)))


def stream_gain_permille(volume: float) -> int:
    """A stream's gain for a volume of 0..1 (streams carry no cue volume of their own)."""
    return max(0, min(0xFFFF, round(UNITY_PERMILLE * volume)))


def play_flags(loop: bool | None) -> int:
    """The play trigger's flags for an optional loop override."""
    if loop is None:
        return link.PlayFlags.NONE
    return link.PlayFlags.LOOP if loop else link.PlayFlags.NO_LOOP
