"""Venue clock estimation: sample arithmetic, and convergence over a simulated noisy network."""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import pytest
from hypothesis import given, strategies as st

from pi_satellite.link.clock import (
    FAST_INTERVAL_S,
    SLOW_INTERVAL_S,
    SyncSample,
    VenueClockEstimator,
)

US_PER_S = 1_000_000
START_VENUE_US = 3 * 86_400 * US_PER_S
"""Home Assistant has been up for three days when the satellite starts synchronising."""
REQUEST_EVERY_US = 100_000
MIN_ONE_WAY_US = 150.0
MEAN_JITTER_US = 1_000.0
SPIKE_US = 50_000.0
SPIKE_PROBABILITY = 0.03


@dataclass(frozen=True)
class Clocks:
    """The truth: local = venue * (1 + drift) + offset, in µs."""

    offset_us: float
    drift: float

    def local(self, venue_us: float) -> int:
        return round(venue_us * (1 + self.drift) + self.offset_us)

    def venue(self, local_us: int) -> float:
        return (local_us - self.offset_us) / (1 + self.drift)

    @property
    def venue_drift_ppm(self) -> float:
        """What the estimator should report: the venue clock's gain per local second."""
        return (1 / (1 + self.drift) - 1) * US_PER_S


def exchange(
    clocks: Clocks,
    sent_venue_us: float,
    uplink_us: float,
    downlink_us: float,
    processing_us: float = 100.0,
) -> SyncSample:
    """The sample a satellite records for a request sent at a venue time."""
    received = sent_venue_us + uplink_us
    replied = received + processing_us
    return SyncSample(
        t1=clocks.local(sent_venue_us),
        t2=round(received),
        t3=round(replied),
        t4=clocks.local(replied + downlink_us),
    )


def noisy_exchange(clocks: Clocks, rng: random.Random, sent_venue_us: float) -> SyncSample:
    """Fixed path delay plus exponential jitter each way, an occasional spike, busy venue."""
    uplink = MIN_ONE_WAY_US + rng.expovariate(1 / MEAN_JITTER_US)
    downlink = MIN_ONE_WAY_US + rng.expovariate(1 / MEAN_JITTER_US)
    if rng.random() < SPIKE_PROBABILITY:
        if rng.random() < 0.5:
            uplink += SPIKE_US
        else:
            downlink += SPIKE_US
    return exchange(clocks, sent_venue_us, uplink, downlink, rng.uniform(20.0, 200.0))


@dataclass(frozen=True)
class Moment:
    """The estimator's state just before the next request."""

    elapsed_s: float
    error_us: float
    synchronised: bool


def run(
    clocks: Clocks,
    estimator: VenueClockEstimator,
    rng: random.Random,
    seconds: float,
    start_venue_us: float = START_VENUE_US,
) -> list[Moment]:
    """Exchange every 100 ms, measuring the error just before each next exchange.

    That is furthest from the samples, where the error is largest.
    """
    moments = []
    for k in range(round(seconds * US_PER_S / REQUEST_EVERY_US)):
        sent = start_venue_us + k * REQUEST_EVERY_US
        estimator.add(noisy_exchange(clocks, rng, sent))
        local_now = clocks.local(sent + REQUEST_EVERY_US - 1)
        moments.append(
            Moment(
                elapsed_s=(k + 1) * REQUEST_EVERY_US / US_PER_S,
                error_us=estimator.to_venue(local_now) - clocks.venue(local_now),
                synchronised=estimator.synchronised,
            )
        )
    return moments


def synchronised_estimator(clocks: Clocks, seed: int) -> tuple[VenueClockEstimator, float]:
    """An estimator after 15 s of noisy exchanges, and the venue time it got to."""
    estimator = VenueClockEstimator()
    run(clocks, estimator, random.Random(seed), 15.0)
    assert estimator.synchronised
    return estimator, START_VENUE_US + 15 * US_PER_S


def test_sample_arithmetic() -> None:
    sample = SyncSample(t1=1_000, t2=5_000, t3=5_100, t4=1_400)
    assert sample.offset_us == 3_850.0
    assert sample.delay_us == 300
    assert sample.local_mid_us == 1_200.0


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ((1_000, 5_000, 5_100, 999), "reply arrived before the request was sent"),
        ((1_000, 5_000, 4_999, 1_400), "reply sent before the request arrived"),
        ((1_000, 5_000, 5_500, 1_400), "took 500 µs to reply but the round trip took only 400"),
    ],
)
def test_impossible_samples_are_rejected(times: tuple[int, int, int, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SyncSample(*times)


def test_min_samples_must_fit_in_window() -> None:
    with pytest.raises(ValueError, match="min_samples"):
        VenueClockEstimator(window=4, min_samples=8)


def test_empty_estimator_knows_nothing() -> None:
    estimator = VenueClockEstimator()
    assert estimator.sample_count == 0
    assert not estimator.synchronised
    assert estimator.error_bound_us == float("inf")
    assert estimator.rtt_us is None
    assert estimator.suggested_interval_s == FAST_INTERVAL_S


def test_one_sample_gives_its_offset_and_no_drift() -> None:
    estimator = VenueClockEstimator()
    estimator.add(SyncSample(t1=1_000, t2=5_000, t3=5_100, t4=1_400))
    assert estimator.sample_count == 1
    assert estimator.offset_us == 3_850.0
    assert estimator.drift_ppm == 0.0
    assert estimator.error_bound_us == 150.0
    assert estimator.rtt_us == 300
    assert not estimator.synchronised
    assert estimator.to_venue(2_000) == 5_850
    assert estimator.to_local(5_850) == 2_000


def test_noiseless_exchanges_give_the_exact_line() -> None:
    clocks = Clocks(offset_us=-1_234_567.0, drift=80e-6)
    estimator = VenueClockEstimator()
    for k in range(50):
        estimator.add(exchange(clocks, START_VENUE_US + k * REQUEST_EVERY_US, 150.0, 150.0))
    assert estimator.drift_ppm == pytest.approx(clocks.venue_drift_ppm, abs=0.1)
    for seconds_later in (0, 1, 10):
        local_now = clocks.local(START_VENUE_US + (5 + seconds_later) * US_PER_S)
        assert estimator.to_venue(local_now) == pytest.approx(clocks.venue(local_now), abs=1.5)
    assert estimator.error_bound_us == pytest.approx(150.0, abs=2.0)


@pytest.mark.parametrize(
    ("offset_s", "drift_ppm", "seed"),
    [(2.0, 100.0, 0), (2.0, -100.0, 1), (-2.0, 100.0, 2), (-2.0, -100.0, 3)],
)
def test_converges_within_10_s_despite_jitter_and_spikes(
    offset_s: float, drift_ppm: float, seed: int
) -> None:
    clocks = Clocks(offset_us=offset_s * US_PER_S, drift=drift_ppm * 1e-6)
    estimator = VenueClockEstimator()
    moments = run(clocks, estimator, random.Random(seed), 30.0)

    settled = [m for m in moments if m.elapsed_s >= 10.0]
    worst = max(abs(m.error_us) for m in settled)
    first_sync = next((m.elapsed_s for m in moments if m.synchronised), float("inf"))
    drift_error = estimator.drift_ppm - clocks.venue_drift_ppm
    print(
        f"\noffset {offset_s:+} s, drift {drift_ppm:+} ppm: "
        f"offset error after 10 s: {abs(settled[0].error_us):.1f} us, "
        f"worst 10-30 s: {worst:.1f} us, at 30 s: {abs(moments[-1].error_us):.1f} us; "
        f"drift error {drift_error:+.2f} ppm; synchronised after {first_sync:.1f} s; "
        f"error bound {estimator.error_bound_us:.0f} us, rtt {estimator.rtt_us} us"
    )
    assert worst <= 50.0
    assert abs(drift_error) <= 10.0
    assert all(m.synchronised for m in settled)
    assert estimator.suggested_interval_s == SLOW_INTERVAL_S


def test_clocks_a_year_apart_lose_no_precision() -> None:
    near = Clocks(offset_us=2 * US_PER_S, drift=-30e-6)
    far = Clocks(offset_us=near.offset_us + 365 * 86_400 * US_PER_S, drift=near.drift)
    near_estimator, far_estimator = VenueClockEstimator(), VenueClockEstimator()
    near_moments = run(near, near_estimator, random.Random(4), 15.0)
    far_moments = run(far, far_estimator, random.Random(4), 15.0)
    for at_near, at_far in zip(near_moments, far_moments, strict=True):
        assert at_far.error_us == pytest.approx(at_near.error_us, abs=1.0)
    assert far_estimator.error_bound_us == pytest.approx(near_estimator.error_bound_us, abs=1.0)


@pytest.mark.parametrize("spiked", ["uplink", "downlink"])
def test_one_spike_barely_moves_a_synchronised_estimate(spiked: str) -> None:
    clocks = Clocks(offset_us=1.5 * US_PER_S, drift=40e-6)
    estimator, venue_now = synchronised_estimator(clocks, seed=5)
    probe = clocks.local(venue_now + 50_000)
    before = estimator.to_venue(probe)
    count = estimator.sample_count

    spike = 1_000_000.0
    uplink, downlink = (150.0 + spike, 300.0) if spiked == "uplink" else (300.0, 150.0 + spike)
    estimator.add(exchange(clocks, venue_now, uplink, downlink))

    assert estimator.sample_count == count + 1
    assert abs(estimator.to_venue(probe) - before) <= 3
    assert estimator.synchronised


def test_venue_clock_restart_starts_afresh() -> None:
    clocks = Clocks(offset_us=2 * US_PER_S, drift=50e-6)
    estimator, venue_now = synchronised_estimator(clocks, seed=6)

    # Home Assistant restarted: its monotonic clock now reads an hour less.
    restarted = Clocks(offset_us=clocks.offset_us + 3_600 * US_PER_S, drift=clocks.drift)
    local_now = clocks.local(venue_now)
    rng = random.Random(7)
    estimator.add(noisy_exchange(restarted, rng, restarted.venue(local_now)))
    assert estimator.sample_count == 1
    assert not estimator.synchronised

    moments = run(restarted, estimator, rng, 5.0, start_venue_us=restarted.venue(local_now) + 1)
    assert moments[-1].synchronised
    assert abs(moments[-1].error_us) <= 200.0


def test_reset_forgets_everything() -> None:
    clocks = Clocks(offset_us=-2 * US_PER_S, drift=-20e-6)
    estimator, _ = synchronised_estimator(clocks, seed=8)
    assert estimator.suggested_interval_s == SLOW_INTERVAL_S

    estimator.reset()

    assert estimator.sample_count == 0
    assert not estimator.synchronised
    assert estimator.offset_us == 0.0
    assert estimator.drift_ppm == 0.0
    assert estimator.error_bound_us == float("inf")
    assert estimator.rtt_us is None
    assert estimator.suggested_interval_s == FAST_INTERVAL_S


@functools.cache
def drifting_estimator() -> VenueClockEstimator:
    clocks = Clocks(offset_us=-7 * US_PER_S, drift=95e-6)
    return synchronised_estimator(clocks, seed=9)[0]


@given(st.integers(min_value=-86_400 * US_PER_S, max_value=86_400 * US_PER_S))
def test_to_local_and_to_venue_invert_each_other(delta_us: int) -> None:
    estimator = drifting_estimator()
    venue = START_VENUE_US + delta_us
    assert abs(estimator.to_venue(estimator.to_local(venue)) - venue) <= 1
    local = estimator.to_local(venue)
    assert abs(estimator.to_local(estimator.to_venue(local)) - local) <= 1
