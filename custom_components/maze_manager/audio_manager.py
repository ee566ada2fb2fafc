"""Effects' sound as satellites preload it: the seed's AudioManager.

Every effect with a local sound file becomes one cue with the same small id on every
satellite. The file is named by the SHA-256 of its bytes, so a satellite that already
holds it (from an earlier night, or another show) is not sent it again.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from pathlib import Path

from homeassistant.core import HomeAssistant

from . import link
from .link.client import Asset, Preload
from .show import Effect, Show

UNITY_PERMILLE = link.UNITY_GAIN_PERMILLE


@dataclass(frozen=True, slots=True)
class AudioLibrary:
    """The venue's cues: which id each effect's sound has, and what to preload."""

    cue_ids: dict[str, int]
    cues: dict[int, link.CueEntry]
    preload: Preload

    def cue_for(self, effect: Effect) -> link.CueEntry | None:
        """The preloaded cue of an effect, if it has one."""
        cue_id = self.cue_ids.get(effect.name)
        return self.cues.get(cue_id) if cue_id is not None else None


EMPTY_LIBRARY = AudioLibrary({}, {}, Preload(link.CueTable(()), {}))


class AudioManager:
    """The venue's sound library: the cues of the show in use, and what satellites preload."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.library = EMPTY_LIBRARY

    async def async_build(self, show: Show) -> AudioLibrary:
        """Hash a show's sound files off the event loop; `use` the result once all is well."""
        return await self.hass.async_add_executor_job(build_library, show)

    def use(self, library: AudioLibrary) -> None:
        """Play from this library from now on."""
        self.library = library

    def cue_for(self, effect: Effect) -> link.CueEntry | None:
        """The preloaded cue of an effect, if it has one."""
        return self.library.cue_for(effect)


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


def build_library(show: Show) -> AudioLibrary:
    """Hash the show's sound files and number its cues (blocking: run in the executor)."""
    cue_ids: dict[str, int] = {}
    cues: dict[int, link.CueEntry] = {}
    assets: dict[bytes, Asset] = {}
    digests: dict[Path, bytes] = {}
    next_id = 1
    for effect in sorted(show.effects.values(), key=lambda item: item.name.casefold()):
        audio = effect.audio
        if audio is None or audio.path is None:
            continue
        path = audio.path
        sha = digests.get(path)
        if sha is None:
            sha = digests[path] = _digest(path)
        assets.setdefault(sha, _asset(path, sha))
        cue = link.CueEntry(
            cue_id=next_id,
            sha256=sha,
            name=effect.name[:64],
            gain=audio.volume,
            loop=audio.loop,
            bus=audio.bus,
            priority=effect.priority,
        )
        cue_ids[effect.name] = next_id
        cues[next_id] = cue
        next_id += 1
    return AudioLibrary(cue_ids, cues, Preload(link.CueTable(tuple(cues.values())), assets))


def play_gain_permille(cue: link.CueEntry, volume: float | None) -> int:
    """The play trigger's gain that turns the cue's own volume into the requested one."""
    if volume is None or cue.gain == 0:
        return UNITY_PERMILLE
    return max(0, min(0xFFFF, round(UNITY_PERMILLE * volume / cue.gain)))


def play_flags(loop: bool | None) -> int:
    """The play trigger's flags for an optional loop override."""
    if loop is None:
        return link.PlayFlags.NONE
    return link.PlayFlags.LOOP if loop else link.PlayFlags.NO_LOOP
