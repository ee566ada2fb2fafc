"""Scheduled starts on skewed clocks: the frame the mapping predicts, on every satellite.

The machine's monotonic clock plays Home Assistant's venue clock. Each satellite runs on a
SkewedClock and learns the venue clock from simulated request/reply exchanges with small
random network delays, like the real session. The null output's record says when (on the
machine's monotonic clock) each first sample was heard: the truth to compare.
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pi_satellite import link
from pi_satellite.clock import LocalClock, MonotonicClock, SkewedClock, monotonic_us
from pi_satellite.config import CacheConfig, DeviceConfig, OutputConfig, SatelliteConfig
from pi_satellite.player import Player

RATE = 48000
FRAME_US = 1_000_000 / RATE
LEAD_US = 150_000
CUE = link.CueEntry(1, b"\x07" * 32, "scream", 1.0, False, "fx", 10)
PCM = {CUE.sha256: np.full((2400, 2), 0.25, dtype=np.float32)}


def synchronised_estimator(clock: LocalClock, rng: random.Random) -> link.VenueClockEstimator:
    """Four seconds of exchanges every 100 ms, ending now, with 80..600 µs one-way delays."""
    estimator = link.VenueClockEstimator()
    now = monotonic_us()
    for k in range(40, 0, -1):
        sent = now - k * 100_000
        received = sent + rng.randint(80, 600)
        replied = received + rng.randint(10, 50)
        arrived = replied + rng.randint(80, 600)
        estimator.add(
            link.SyncSample(
                t1=clock.from_monotonic(sent),
                t2=received,
                t3=replied,
                t4=clock.from_monotonic(arrived),
            )
        )
    assert estimator.synchronised
    return estimator


def null_satellite(folder: Path, latency_us: int) -> SatelliteConfig:
    return SatelliteConfig(
        name=folder.name,
        state_dir=folder,
        cache=CacheConfig(folder / "cache"),
        devices=(DeviceConfig("card", "null", latency_us=latency_us, path=folder / "null.jsonl"),),
        outputs=(OutputConfig(0, "room", "card", "both"),),
    )


async def start_cue(
    folder: Path, clock: LocalClock, rng: random.Random, latency_us: int = 0
) -> tuple[Player, link.VenueClockEstimator]:
    player = Player(null_satellite(folder, latency_us), clock)
    await player.start()
    player.load_cues([CUE], PCM)
    estimator = synchronised_estimator(clock, rng)
    player.set_venue_mapping(estimator.to_local, estimator.to_venue)
    return player, estimator


def starts(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "null.jsonl").read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r["event"] == "cue_start"]


async def recorded_start(folder: Path, timeout_s: float = 5.0) -> dict[str, Any]:
    """The first cue start in a satellite's null-output record, once it is there."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not starts(folder):
        assert asyncio.get_running_loop().time() < deadline, "no cue start recorded"
        await asyncio.sleep(0.005)
    return starts(folder)[0]


@pytest.mark.parametrize(
    "clock",
    [
        MonotonicClock(),
        SkewedClock(1_000_000, 100.0),
        SkewedClock(-1_000_000, -100.0),
        SkewedClock(-1_000_000, 100.0),
    ],
    ids=["monotonic", "+1s+100ppm", "-1s-100ppm", "-1s+100ppm"],
)
async def test_a_cue_lands_on_the_frame_the_mapping_predicts(
    tmp_path: Path, clock: LocalClock
) -> None:
    player, estimator = await start_cue(tmp_path, clock, random.Random(11), latency_us=3000)
    try:
        start_us = monotonic_us() + LEAD_US
        player.play(link.Play(CUE.cue_id, 1, start_us, 1, 1000, 0))
        record = await recorded_start(tmp_path)
    finally:
        await player.close()
    predicted_local = estimator.to_local(start_us)
    predicted_mono = clock.to_monotonic(predicted_local)
    assert abs(record["mono_us"] - predicted_mono) <= FRAME_US, "within one frame at 48 kHz"
    assert abs(record["local_us"] - predicted_local) <= FRAME_US + 1
    assert abs(record["local_us"] - clock.from_monotonic(record["mono_us"])) <= 1
    assert abs(record["actual_us"] - start_us) <= FRAME_US + 1
    assert abs(record["mono_us"] - start_us) <= 250, "and on the venue clock, within sync error"


async def test_two_skewed_satellites_start_the_same_cue_together(tmp_path: Path) -> None:
    rng = random.Random(2024)
    clocks = (SkewedClock(1_000_000, 100.0), SkewedClock(-1_000_000, -100.0))
    folders = (tmp_path / "north", tmp_path / "south")
    players = [
        (await start_cue(folder, clock, rng, latency_us=latency))[0]
        for folder, clock, latency in zip(folders, clocks, (2500, 0), strict=True)
    ]
    try:
        start_us = monotonic_us() + LEAD_US
        for player in players:
            player.play(link.Play(CUE.cue_id, 42, start_us, link.ALL_OUTPUTS, 1000, 0))
        north, south = [await recorded_start(folder) for folder in folders]
    finally:
        for player in players:
            await player.close()
    skew_us = abs(north["mono_us"] - south["mono_us"])
    print(f"start skew between the two satellites: {skew_us} µs")
    assert skew_us <= 500
    assert north["local_us"] - south["local_us"] > 1_900_000, "their own clocks disagree by 2 s"
