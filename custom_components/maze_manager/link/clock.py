"""The venue clock: what it is on the controller, and how a satellite tracks it.

The venue clock is Home Assistant's monotonic clock in integer microseconds. A satellite
timestamps small request/reply exchanges (NTP's four timestamps) and models the venue clock
as a line over its own monotonic clock, so venue times in a schedule can be turned into
local times and every satellite plays at the same instant.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from typing import Final

FAST_INTERVAL_S: Final = 0.1
"""Seconds between exchanges until synchronised: many samples quickly narrow the estimate."""

SLOW_INTERVAL_S: Final = 1.0
"""Seconds between exchanges once settled: enough to follow drift, cheap on the network."""

FAST_SAMPLES: Final = 100
"""Exchanges made at the fast pace before slowing down: ten seconds' worth, which pins the
drift well enough that one exchange a second keeps the error within tens of µs."""

_US_PER_S: Final = 1_000_000
_MAX_DRIFT: Final = 1e-3
"""No quartz clock drifts by 1000 ppm, so drift hypotheses stop around there."""
_SLOPE_GRID: Final = 32
"""Drift hypotheses averaged per fit; the result barely changes beyond about 30."""
_EFOLDS: Final = 12.0
"""Drift hypotheses less likely than e**-12 of the best one are ignored."""
_SIGMAS: Final = 3.0
"""Standard deviations of the statistical error included in the error bound."""

_Point = tuple[float, float]


def venue_clock_us() -> int:
    """The venue clock, read on the controller: its monotonic clock in microseconds."""
    return time.monotonic_ns() // 1000


@dataclass(frozen=True, slots=True)
class SyncSample:
    """One request/reply exchange between a satellite and Home Assistant.

    Construction rejects timestamps no real exchange can produce, so the estimator never
    has to.
    """

    t1: int
    """Local clock (µs) when the satellite sent the request."""
    t2: int
    """Venue clock (µs) when Home Assistant received the request."""
    t3: int
    """Venue clock (µs) when Home Assistant sent the reply."""
    t4: int
    """Local clock (µs) when the reply arrived at the satellite."""

    def __post_init__(self) -> None:
        if self.t4 < self.t1:
            raise ValueError(
                f"reply arrived before the request was sent: t1={self.t1}, t4={self.t4}"
            )
        if self.t3 < self.t2:
            raise ValueError(f"reply sent before the request arrived: t2={self.t2}, t3={self.t3}")
        if self.delay_us < 0:
            raise ValueError(
                f"Home Assistant took {self.t3 - self.t2} µs to reply "
                f"but the round trip took only {self.t4 - self.t1} µs"
            )

    @property
    def offset_us(self) -> float:
        """Venue minus local clock, if both network directions took equally long."""
        return ((self.t2 - self.t1) + (self.t3 - self.t4)) / 2

    @property
    def delay_us(self) -> int:
        """Time spent on the network: the round trip minus Home Assistant's processing."""
        return (self.t4 - self.t1) - (self.t3 - self.t2)

    @property
    def local_mid_us(self) -> float:
        """Local time the offset refers to: halfway through the exchange."""
        return (self.t1 + self.t4) / 2


@dataclass(frozen=True, slots=True)
class _OffsetLine:
    """offset(local) = offset_at_ref + slope * (local - ref_local), and how far to trust it."""

    ref_local: int
    offset_at_ref: float
    slope: float
    error_bound: float

    def offset_at(self, local_us: int) -> float:
        return self.offset_at_ref + self.slope * (local_us - self.ref_local)


_NO_LINE: Final = _OffsetLine(ref_local=0, offset_at_ref=0.0, slope=0.0, error_bound=math.inf)


def _cross(o: _Point, a: _Point, b: _Point) -> float:
    """Twice the signed area of triangle o-a-b; positive when o→a→b turns left."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _lower_hull(points: list[_Point]) -> list[_Point]:
    """Lower convex hull, left to right: the only points a line below all of them can touch."""
    hull: list[_Point] = []
    for point in sorted(points):
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) <= 0:
            hull.pop()
        hull.append(point)
    return hull


@dataclass(frozen=True, slots=True)
class _Corridor:
    """The band the true offset line must run in, for a trial drift slope.

    Network delays are never negative: uplink observations t2 - t1 = offset + uplink delay
    lie above the true line and downlink observations t3 - t4 = offset - downlink delay lie
    below it. Both are kept as points (local µs, value) above a floor, the downlink ones
    negated, and only their lower hulls matter. Delay spikes sit far from the floors, so
    they never shape the band.
    """

    uplink: list[_Point]
    downlink: list[_Point]

    def band(self, slope: float) -> tuple[float, float]:
        """Width and centre (at local 0) of the band for this slope.

        The width is twice the shortest one-way delay the samples allow; the centre is the
        offset if the shortest delays are the same in both directions.
        """
        ceiling = min(y - slope * x for x, y in self.uplink)
        floor = -min(y + slope * x for x, y in self.downlink)
        return ceiling - floor, (ceiling + floor) / 2

    def widest_slope(self) -> float:
        """The slope leaving the widest band, which is always a hull edge's slope."""
        candidates = _edge_slopes(self.uplink) + [-slope for slope in _edge_slopes(self.downlink)]
        return max(candidates, key=lambda slope: self.band(slope)[0], default=0.0)

    def reach(self, best: float, sharpness: float, direction: float) -> float:
        """How far the slope may stray from the best before its likelihood becomes negligible."""
        widest = self.band(best)[0]
        step = 1e-9
        while step < _MAX_DRIFT:
            if sharpness * (widest - self.band(best + direction * step)[0]) >= _EFOLDS:
                break
            step *= 2
        return step


def _edge_slopes(hull: list[_Point]) -> list[float]:
    return [(y1 - y0) / (x1 - x0) for (x0, y0), (x1, y1) in pairwise(hull) if x1 > x0]


def _excess(points: list[_Point], slope: float) -> list[float]:
    """How far each point lies above the lowest line of this slope under all of them."""
    heights = [y - slope * x for x, y in points]
    lowest = min(heights)
    return [height - lowest for height in heights]


def _jitter(uplink: list[_Point], downlink: list[_Point], slope: float) -> float:
    """Typical one-way delay above the fastest trip (µs), read as an exponential's mean.

    The median rather than the mean keeps delay spikes out of it.
    """
    excess = sorted(_excess(uplink, slope) + _excess(downlink, -slope))
    return max(1.0, excess[len(excess) // 2] / math.log(2))


def _corridor_line(samples: list[SyncSample]) -> _OffsetLine:
    """Fit the offset line by averaging the corridor centre over likely drift slopes.

    If delays above their minimum are roughly exponential with mean ``jitter``, a slope's
    likelihood is proportional to exp(n * width / jitter). Averaging over it rather than
    taking the single widest slope uses every sample near both floors instead of the two
    or three that touch them; the error bound is half the widest band (the error if the
    fastest trips were entirely one-sided) plus a few standard deviations of the average.
    Values are taken relative to a rough offset, as the clocks' epochs may be days apart.
    """
    ref = max(s.t4 for s in samples)
    rough = samples[-1].t2 - samples[-1].t1
    uplink = [(float(s.t1 - ref), float(s.t2 - s.t1 - rough)) for s in samples]
    downlink = [(float(s.t4 - ref), float(s.t4 - s.t3 + rough)) for s in samples]
    corridor = _Corridor(_lower_hull(uplink), _lower_hull(downlink))
    best = corridor.widest_slope()
    widest = corridor.band(best)[0]
    sharpness = len(samples) / _jitter(uplink, downlink, best)

    low = best - corridor.reach(best, sharpness, -1.0)
    high = best + corridor.reach(best, sharpness, 1.0)
    total = slope_sum = centre_sum = centre_sq_sum = 0.0
    for k in range(_SLOPE_GRID + 1):
        slope = low + (high - low) * k / _SLOPE_GRID
        width, centre = corridor.band(slope)
        weight = math.exp(sharpness * (width - widest))
        total += weight
        slope_sum += weight * slope
        centre_sum += weight * centre
        centre_sq_sum += weight * centre * centre
    centre = centre_sum / total
    spread = math.sqrt(max(0.0, centre_sq_sum / total - centre * centre))
    return _OffsetLine(
        ref_local=ref,
        offset_at_ref=rough + centre,
        slope=slope_sum / total,
        error_bound=widest / 2 + _SIGMAS * spread,
    )


def _best_sample_line(samples: list[SyncSample]) -> _OffsetLine:
    """Too few samples to see drift: trust the exchange with the shortest network delay."""
    best = min(samples, key=lambda s: s.delay_us)
    return _OffsetLine(
        ref_local=best.t4,
        offset_at_ref=best.offset_us,
        slope=0.0,
        error_bound=best.delay_us / 2,
    )


class VenueClockEstimator:
    """Online estimate of the venue clock's offset and drift against the local clock.

    Keeps a sliding window of recent samples, bounded in count and age, and refits after
    each one. Below ``min_samples`` it trusts the lowest-delay sample and assumes no drift;
    from then on it fits the corridor between the uplink and downlink delay floors (see
    ``_Corridor``), which ignores delay spikes and extracts the fastest trips from noisy
    delays. A synchronised estimator that receives a sample needing a negative delay beyond
    ``sync_threshold_us`` concludes the venue clock restarted and starts afresh.
    """

    def __init__(
        self,
        *,
        window: int = 256,
        max_age_s: float = 300.0,
        min_samples: int = 8,
        sync_threshold_us: float = 1000.0,
    ) -> None:
        if not 2 <= min_samples <= window:
            raise ValueError(f"need 2 <= min_samples <= window, got {min_samples} and {window}")
        self._samples: deque[SyncSample] = deque(maxlen=window)
        self._max_age_us = round(max_age_s * _US_PER_S)
        self._min_samples = min_samples
        self._sync_threshold_us = sync_threshold_us
        self._line = _NO_LINE

    def add(self, sample: SyncSample) -> None:
        """Take in one exchange and refit."""
        while self._samples and sample.t4 - self._samples[0].t4 > self._max_age_us:
            self._samples.popleft()
        if self.synchronised and self._contradicts(sample):
            self._samples.clear()
        self._samples.append(sample)
        samples = list(self._samples)
        if len(samples) < self._min_samples:
            self._line = _best_sample_line(samples)
        else:
            self._line = _corridor_line(samples)

    def _contradicts(self, sample: SyncSample) -> bool:
        """True if, under the current estimate, the sample needs a clearly negative delay."""
        slack = self._line.error_bound + self._sync_threshold_us
        uplink = sample.t2 - sample.t1 - self._line.offset_at(sample.t1)
        downlink = self._line.offset_at(sample.t4) - (sample.t3 - sample.t4)
        return min(uplink, downlink) < -slack

    def reset(self) -> None:
        """Forget every sample, e.g. after connecting to a different Home Assistant."""
        self._samples.clear()
        self._line = _NO_LINE

    @property
    def sample_count(self) -> int:
        """Samples in the window."""
        return len(self._samples)

    @property
    def synchronised(self) -> bool:
        """True once there are enough samples and the error bound is within the threshold."""
        return (
            len(self._samples) >= self._min_samples
            and self._line.error_bound <= self._sync_threshold_us
        )

    @property
    def offset_us(self) -> float:
        """Venue minus local clock (µs) at the latest sample; 0 before any sample."""
        return self._line.offset_at_ref

    @property
    def drift_ppm(self) -> float:
        """How fast the venue clock gains on the local clock: µs per second of local time."""
        return self._line.slope * _US_PER_S

    @property
    def error_bound_us(self) -> float:
        """Bound on the offset error (µs) at the latest sample; infinite before any sample.

        Half the gap between the fastest uplink and downlink trips, which holds however
        asymmetric the network path is, plus three standard deviations of the statistical
        error. Real errors are usually far smaller because both directions' fastest trips
        take about as long.
        """
        return self._line.error_bound

    @property
    def rtt_us(self) -> int | None:
        """Shortest network round trip (µs) in the window, the link's baseline; None if empty."""
        return min((s.delay_us for s in self._samples), default=None)

    @property
    def suggested_interval_s(self) -> float:
        """Seconds until the next exchange: frequent small exchanges until settled."""
        if self.synchronised and len(self._samples) >= FAST_SAMPLES:
            return SLOW_INTERVAL_S
        return FAST_INTERVAL_S

    def to_venue(self, local_us: int) -> int:
        """Venue time (µs) at a local time, following the drift line."""
        return local_us + round(self._line.offset_at(local_us))

    def to_local(self, venue_us: int) -> int:
        """Local time (µs) at a venue time; ``to_venue`` of the result is within 1 µs."""
        line = self._line
        since_ref = (venue_us - line.ref_local - line.offset_at_ref) / (1 + line.slope)
        return line.ref_local + round(since_ref)
