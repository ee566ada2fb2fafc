"""What operators set on the venue and what should be playing, kept across restarts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN


@dataclass(frozen=True, slots=True)
class LoopKey:
    """A loop that should be playing: which cue on which satellite's outputs."""

    satellite_id: str
    cue_id: int
    output_mask: int


@dataclass
class VenueState:
    """The venue's settings and intended sound, read by its entities and diagnostics."""

    strobe_safe: bool = False
    master_volume: float = 1.0
    emergency: bool = False
    theme: str | None = None
    loops: dict[LoopKey, int] = field(default_factory=dict)
    """Loops that should be playing, with their gain in permille."""


STORAGE_VERSION = 1
STORAGE_KEY = f"{DOMAIN}.venue"
SAVE_DELAY_S = 1.0
"""State is written at most once a second: a burst of effects is one write."""


@dataclass(frozen=True, slots=True)
class StoredLoop:
    """A loop as stored: by effect name, since cue ids are renumbered when the show changes."""

    satellite_id: str
    effect: str
    output_mask: int
    gain_permille: int


class VenueStore:
    """Keeps the venue's intended state across Home Assistant restarts.

    What should be playing (loops per satellite and outputs), the theme and the emergency
    stop are written with Home Assistant's storage helper; after a restart the venue
    adopts loops the satellites still play instead of treating them as strays.
    """

    def __init__(self, hass: HomeAssistant) -> None:
        self._store: Store[dict[str, Any]] = Store(hass, STORAGE_VERSION, STORAGE_KEY)

    async def async_load(self) -> tuple[VenueState, list[StoredLoop]]:
        """The stored state (loops still by effect name), or a fresh one."""
        data = await self._store.async_load() or {}
        state = VenueState(
            emergency=bool(data.get("emergency", False)),
            theme=data.get("theme") if isinstance(data.get("theme"), str) else None,
        )
        loops = [_stored_loop(item) for item in data.get("loops", ()) if isinstance(item, dict)]
        return state, [loop for loop in loops if loop is not None]

    def schedule_save(
        self, state: VenueState, effect_names: dict[int, str], pending: list[StoredLoop]
    ) -> None:
        """Write the state soon.

        `effect_names` names each cue id of the show in use; `pending` are stored loops
        not adopted yet (no show has loaded since the restart), kept as they were.
        """
        loops = pending + [
            StoredLoop(key.satellite_id, effect_names[key.cue_id], key.output_mask, gain)
            for key, gain in state.loops.items()
            if key.cue_id in effect_names
        ]
        data = {
            "emergency": state.emergency,
            "theme": state.theme,
            "loops": [asdict(loop) for loop in loops],
        }
        self._store.async_delay_save(lambda: data, SAVE_DELAY_S)


def _stored_loop(item: dict[str, Any]) -> StoredLoop | None:
    """A stored loop, or None when the stored item is not one (a hand-edited file)."""
    try:
        return StoredLoop(
            str(item["satellite_id"]),
            str(item["effect"]),
            int(item["output_mask"]),
            int(item["gain_permille"]),
        )
    except (KeyError, TypeError, ValueError):
        return None
