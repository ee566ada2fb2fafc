"""The player as the session drives it: cue table, plays, stops, streams, status, records."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pi_satellite import link
from pi_satellite.clock import MonotonicClock, monotonic_us
from pi_satellite.config import CacheConfig, DeviceConfig, OutputConfig, SatelliteConfig
from pi_satellite.link.opus import OpusEncoder
from pi_satellite.player import Player, PlayerError

RATE = 48000
FRAME_US = 1_000_000 / RATE
LEAD_US = 150_000
"""How far ahead the tests schedule, like Home Assistant's lead (generous for busy machines)."""
KEEP_S = 10.0
"""Seconds of rendered sound the null output keeps, for the tests that check samples."""

BOOM = link.CueEntry(1, b"\x01" * 32, "boom", 1.0, False, "fx", 50)
WIND = link.CueEntry(2, b"\x02" * 32, "wind", 0.5, True, "ambient", 0)
PCM = {
    BOOM.sha256: np.full((4800, 2), 0.25, dtype=np.float32),  # 100 ms
    WIND.sha256: np.full((2400, 2), 0.1, dtype=np.float32),
}


def satellite_config(tmp_path: Path) -> SatelliteConfig:
    return SatelliteConfig(
        name="crypt",
        state_dir=tmp_path,
        cache=CacheConfig(tmp_path / "cache"),
        devices=(
            DeviceConfig(
                "card", "null", latency_us=2000, path=tmp_path / "null.jsonl", keep_s=KEEP_S
            ),
        ),
        outputs=(
            OutputConfig(0, "hall", "card", "left"),
            OutputConfig(1, "crypt", "card", "right"),
        ),
    )


@asynccontextmanager
async def running(
    tmp_path: Path, started: list[link.Started] | None = None
) -> AsyncIterator[Player]:
    player = Player(
        satellite_config(tmp_path),
        MonotonicClock(),
        on_started=(started if started is not None else []).append,
    )
    await player.start()
    player.load_cues([BOOM, WIND], PCM)
    try:
        yield player
    finally:
        await player.close()
        await player.close()


def records(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "null.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Wait for what the rendering threads report, without betting on a fixed delay."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


def events(tmp_path: Path, name: str) -> list[dict[str, Any]]:
    return [r for r in records(tmp_path) if r["event"] == name]


def identity(us: int) -> int:
    """The venue clock is this machine's monotonic clock, and so is the local clock."""
    return us


def play(cue_id: int, seq: int, start_us: int, mask: int = 0b11, flags: int = 0) -> link.Play:
    return link.Play(cue_id, seq, start_us, mask, link.UNITY_GAIN_PERMILLE, flags)


async def test_plays_before_synchronisation_are_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as player:
        with pytest.raises(PlayerError) as refused:
            player.play(play(1, 1, monotonic_us() + LEAD_US))
        assert refused.value.code is link.ErrorCode.NOT_SYNCHRONISED
        start = link.StreamStart(1, "opus", 48000, 2, monotonic_us(), 1, 1000, "fx", 0, 0)
        with pytest.raises(PlayerError) as refused:
            player.stream_start(start)
        assert refused.value.code is link.ErrorCode.NOT_SYNCHRONISED


async def test_unknown_cues_are_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as player:
        player.set_venue_mapping(identity, identity)
        with pytest.raises(PlayerError) as refused:
            player.play(play(9, 1, 0))
        assert refused.value.code is link.ErrorCode.UNKNOWN_CUE
        with pytest.raises(PlayerError) as refused:
            player.play_now(9)
        assert refused.value.code is link.ErrorCode.UNKNOWN_CUE
        assert player.cue_id_by_name("boom") == 1
        assert player.cue_id_by_name("thunder") is None


async def test_a_scheduled_cue_lands_on_its_frame_and_is_reported_once(tmp_path: Path) -> None:
    started: list[link.Started] = []
    async with running(tmp_path, started) as player:
        player.set_venue_mapping(identity, identity)
        start_us = monotonic_us() + LEAD_US
        player.play(play(1, 77, start_us))
        await until(lambda: player.status().playing == (link.PlayingCue(77, 1, 0b11, False),))
        await until(lambda: player.status().playing == ())
    starts = [r for r in records(tmp_path) if r["event"] == "cue_start"]
    assert sorted(r["output"] for r in starts) == [0, 1]
    for record in starts:
        assert record["cue_id"] == 1
        assert record["seq"] == 77
        assert record["scheduled_us"] == start_us
        assert abs(record["mono_us"] - start_us) <= FRAME_US
        assert abs(record["actual_us"] - start_us) <= FRAME_US
        assert record["local_us"] == record["actual_us"]
    assert started == [link.Started(link.StartKind.CUE, 1, 77, start_us, starts[0]["actual_us"])]
    ends = [r for r in records(tmp_path) if r["event"] == "cue_stop"]
    assert {r["reason"] for r in ends} == {"ended"}
    assert {r["frame"] - starts[0]["frame"] for r in ends} == {4800}


async def test_a_late_play_starts_at_once_and_reports_the_truth(tmp_path: Path) -> None:
    started: list[link.Started] = []
    async with running(tmp_path, started) as player:
        player.set_venue_mapping(identity, identity)
        asked_us = monotonic_us() - 200_000
        player.play(play(1, 5, asked_us, mask=0b01))
        await until(lambda: bool(started))
        reported = monotonic_us()
    (report,) = started
    assert report.scheduled_us == asked_us
    heard_at_most = reported + 2000 + 5000  # the device's latency and one block after the report
    assert asked_us + 100_000 < report.actual_us <= heard_at_most
    (record,) = events(tmp_path, "cue_start")
    assert record["actual_us"] == record["mono_us"] == report.actual_us


async def test_loop_flags_override_the_cue_table(tmp_path: Path) -> None:
    async with running(tmp_path) as player:
        player.set_venue_mapping(identity, identity)
        start_us = monotonic_us() + LEAD_US
        player.play(play(1, 1, start_us, mask=0b01, flags=link.PlayFlags.LOOP))
        player.play(play(2, 2, start_us, mask=0b10, flags=link.PlayFlags.NO_LOOP))
        await until(
            lambda: monotonic_us() > start_us + 150_000 and bool(events(tmp_path, "cue_stop"))
        )
        assert player.status().playing == (link.PlayingCue(1, 1, 0b01, True),), (
            "boom loops past 100 ms"
        )
    ends = [r for r in records(tmp_path) if r["event"] == "cue_stop"]
    assert [(r["cue_id"], r["reason"]) for r in ends] == [(2, "ended")]


async def test_a_stop_fades_one_output_and_stop_all_can_spare_the_ambient_bus(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as player:
        player.set_venue_mapping(identity, identity)
        start_us = monotonic_us() + LEAD_US
        player.play(play(2, 1, start_us))
        player.play(play(1, 2, start_us, flags=link.PlayFlags.LOOP))
        stop_us = start_us + 30_000
        player.stop(link.Stop(3, stop_us, 0, 0b01, 40))
        right_only = {link.PlayingCue(1, 2, 0b10, True), link.PlayingCue(2, 1, 0b10, True)}
        await until(lambda: set(player.status().playing) == right_only)
        player.stop_all(fade_ms=10, keep_ambient=True)
        await until(lambda: player.status().playing == (link.PlayingCue(1, 2, 0b10, True),))
        player.stop_all()
        await until(lambda: player.status().playing == ())
    lines = records(tmp_path)
    first_stops = [r for r in lines if r["event"] == "cue_stop" and r["output"] == 0]
    assert {r["reason"] for r in first_stops} == {"stopped"}
    start_frame = next(r["frame"] for r in lines if r["event"] == "cue_start")
    expected = start_frame + round(30_000 / FRAME_US) + 40 * RATE // 1000
    assert all(abs(r["frame"] - expected) <= 1 for r in first_stops)


async def test_play_now_needs_no_venue_clock_and_survives_losing_it(tmp_path: Path) -> None:
    started: list[link.Started] = []
    async with running(tmp_path, started) as player:
        player.play_now(2, 0b01)
        await until(lambda: bool(player.status().playing))
        player.set_venue_mapping(identity, identity)
        player.play(play(1, 9, monotonic_us() + 1_000_000))
        player.set_venue_mapping(None, None)
        await until(lambda: len(events(tmp_path, "cue_stop")) == 2)
        assert player.status().playing == (link.PlayingCue(0, 2, 0b01, True),)
        with pytest.raises(PlayerError):
            player.play(play(1, 10, monotonic_us() + LEAD_US))
    lines = records(tmp_path)
    local = lines[0]
    assert (local["event"], local["cue_id"], local["seq"]) == ("cue_start", 2, 0)
    assert local["scheduled_us"] is None
    assert local["actual_us"] is None
    cancelled = [r for r in lines if r.get("reason") == "cancelled"]
    assert [(r["cue_id"], r["seq"]) for r in cancelled] == [(1, 9), (1, 9)]
    assert started == [], "nothing to report on the venue clock"


async def test_volume_for_a_missing_output_is_refused(tmp_path: Path) -> None:
    async with running(tmp_path) as player:
        player.set_volume(link.Volume(link.MASTER_OUTPUT, 0.5, False))
        player.set_volume(link.Volume(1, 0.2, True))
        with pytest.raises(PlayerError) as refused:
            player.set_volume(link.Volume(7, 0.5, False))
        assert refused.value.code is link.ErrorCode.BAD_MESSAGE


async def test_outputs_describe_the_rooms_for_the_hello(tmp_path: Path) -> None:
    player = Player(satellite_config(tmp_path), MonotonicClock())
    assert player.outputs == (
        link.OutputInfo(0, "hall", "left", 2000),
        link.OutputInfo(1, "crypt", "right", 2000),
    )


async def test_a_stream_plays_by_timestamp_and_counts_late_frames(tmp_path: Path) -> None:
    started: list[link.Started] = []
    t = np.arange(RATE // 5) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    encoder = OpusEncoder()
    packets = encoder.encode(np.stack([tone, tone], axis=1)) + encoder.flush()
    async with running(tmp_path, started) as player:
        player.set_venue_mapping(identity, identity)
        start_us = monotonic_us() + LEAD_US
        player.stream_start(link.StreamStart(4, "opus", 48000, 2, start_us, 0b10, 800, "fx", 0, 0))
        frames = [
            link.AudioFrame(4, seq, start_us + pts * 1_000_000 // 48000, payload)
            for seq, (pts, payload) in enumerate(packets)
        ]
        for frame in reversed(frames):
            player.stream_frame(frame)
        end_us = start_us + 200_000
        player.stream_end(link.StreamEnd(4, end_us, 0))
        assert player.status().streams == (4,)
        assert player.status().buffer_ms >= 190
        await until(lambda: monotonic_us() > start_us + 100_000)
        player.stream_frame(frames[1])
        await until(lambda: player.status().streams == ())
        status = player.status()
        assert status.streams == ()
        assert status.underruns == 0
        assert status.late_frames == 1
    lines = records(tmp_path)
    begin = next(r for r in lines if r["event"] == "stream_start")
    assert (begin["stream_id"], begin["output"]) == (4, 1)
    assert abs(begin["mono_us"] - start_us) <= FRAME_US
    assert started == [link.Started(link.StartKind.STREAM, 4, 0, start_us, begin["actual_us"])]
    end = next(r for r in lines if r["event"] == "stream_stop")
    assert abs(end["mono_us"] - end_us) <= FRAME_US + 5_000, "ends at at_us, after a 5 ms fade"
