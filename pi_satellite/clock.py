"""The satellite's own clock, and the test hook that skews it.

Everything on the satellite that needs "now" asks a LocalClock. On a Pi it is the
monotonic clock. For tests and benchmarks, `SkewedClock` runs with a chosen offset and
drift, so several satellites on one machine disagree the way separate Pis do and
synchronisation against the venue clock has something real to correct.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


def monotonic_us() -> int:
    """The machine's monotonic clock in microseconds (also Home Assistant's venue clock)."""
    return time.monotonic_ns() // 1000


class LocalClock(Protocol):
    """A satellite's notion of now."""

    def now_us(self) -> int:
        """The current local time in microseconds."""

    def from_monotonic(self, mono_us: int) -> int:
        """The local time at a given moment of the machine's monotonic clock."""

    def to_monotonic(self, local_us: int) -> int:
        """The machine's monotonic time at a given local time."""


class MonotonicClock:
    """The real clock of a Pi."""

    def now_us(self) -> int:
        return monotonic_us()

    def from_monotonic(self, mono_us: int) -> int:
        return mono_us

    def to_monotonic(self, local_us: int) -> int:
        return local_us


@dataclass(frozen=True, slots=True)
class SkewedClock:
    """A clock `offset_us` ahead of the monotonic clock and running `drift_ppm` fast.

    local = offset_us + mono * (1 + drift_ppm / 1e6)
    """

    offset_us: int
    drift_ppm: float

    def now_us(self) -> int:
        return self.from_monotonic(monotonic_us())

    def from_monotonic(self, mono_us: int) -> int:
        return self.offset_us + round(mono_us * (1.0 + self.drift_ppm * 1e-6))

    def to_monotonic(self, local_us: int) -> int:
        return round((local_us - self.offset_us) / (1.0 + self.drift_ppm * 1e-6))


def make_clock(offset_us: int = 0, drift_ppm: float = 0.0) -> LocalClock:
    """The clock a satellite runs on: real unless the test hook asks for a skew."""
    if offset_us == 0 and drift_ppm == 0.0:
        return MonotonicClock()
    return SkewedClock(offset_us, drift_ppm)
