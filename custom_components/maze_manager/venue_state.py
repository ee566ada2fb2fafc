"""What operators set on the venue and what should be playing, shown by its entities."""

from __future__ import annotations

from dataclasses import dataclass, field


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
