"""Streams over the real wire, checked in the samples the satellites' null outputs kept:
complete and aligned on two skewed satellites, reported truthfully, and handed over to the
fallback cue when the source fails or the link drops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
import numpy as np
import pytest

from pi_satellite import link
from pi_satellite.config import SatelliteConfig, parse_config
from pi_satellite.decode import OpusPacketDecoder, decode_asset
from pi_satellite.engine import Samples
from pi_satellite.link.opus import OpusEncoder
from pi_satellite.satellite import Satellite
from tests.satellite.controller import Controller, venue_now_us
from tests.satellite_harness import KEY, records, satellite_settings, tone_wav

RATE = 48000
PACKET = 960
GRACE = RATE // 4
"""The player's 250 ms of starving before a stream counts as run dry."""
START_LEAD_US = 300_000
SEND_AHEAD_US = 150_000
"""Frames go out this far ahead of their time, as Home Assistant paces a stream."""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def kept_config(folder: Path, name: str, **kwargs: float) -> SatelliteConfig:
    """A satellite on a null output that keeps the last 10 s of what it rendered."""
    settings = satellite_settings(folder, name, **kwargs)  # type: ignore[arg-type]
    settings["devices"][0]["keep_seconds"] = 10
    return parse_config(settings, str(folder / "satellite.yaml"))


def music(seconds: float) -> Samples:
    """A few tones and a little noise, below the soft clip."""
    t = np.arange(round(seconds * RATE)) / RATE
    left = sum(0.12 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))
    noise = 0.01 * np.random.default_rng(5).standard_normal((len(t), 2))
    pcm = np.stack([left, np.roll(left, 100)], axis=1) + noise
    return pcm.astype(np.float32)


def packets_of(pcm: Samples) -> tuple[list[tuple[int, bytes]], Samples]:
    """Opus packets (pts, payload), and what a perfect network decodes from them, as a
    one-channel output plays it: (left + right) / 2."""
    encoder = OpusEncoder()
    packets = encoder.encode(pcm) + encoder.flush()
    decoder = OpusPacketDecoder(RATE)
    decoded = np.concatenate([decoder.decode(payload) for _, payload in packets])
    return packets, decoded[-packets[0][0] :].mean(axis=1)


async def send_paced(
    controllers: Sequence[Controller],
    stream_id: int,
    packets: list[tuple[int, bytes]],
    start_us: int,
) -> int:
    """Send each frame SEND_AHEAD_US before its time; the venue time the last one ends."""
    for seq, (pts, payload) in enumerate(packets):
        pts_us = start_us + pts * 1_000_000 // RATE
        await asyncio.sleep(max(0.0, (pts_us - SEND_AHEAD_US - venue_now_us()) / 1e6))
        for controller in controllers:
            await controller.send(link.AudioFrame(stream_id, seq, pts_us, payload))
    return start_us + (packets[-1][0] + PACKET) * 1_000_000 // RATE


async def _poll(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


def statuses(controller: Controller) -> list[link.Status]:
    return [m for m in controller.received if isinstance(m, link.Status)]


def heard_from(satellite: Satellite, frame: int) -> Samples:
    """What output 0 (the device's left channel) played from a device frame on."""
    kept = satellite.player.kept(0)
    assert kept is not None
    return kept.samples[frame - kept.first_frame :, 0]


async def test_a_stream_reaches_two_skewed_satellites_complete_and_aligned(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    skews = [(1000.0, 100.0), (-1000.0, -100.0)]
    satellites = [
        Satellite(kept_config(tmp_path / f"s{i}", f"Sat {i}", offset_ms=off, drift_ppm=ppm))
        for i, (off, ppm) in enumerate(skews)
    ]
    source = music(1.5)
    packets, decoded = packets_of(source)
    for satellite in satellites:
        await satellite.start()
    try:
        controllers = [Controller(http, s.server.port, KEY) for s in satellites]
        for controller in controllers:
            await controller.__aenter__()
            await controller.wait_synchronised()
        await asyncio.sleep(2.0)  # a few more clock samples, as a venue has before opening
        start_us = venue_now_us() + START_LEAD_US
        for controller in controllers:
            await controller.send(
                link.StreamStart(1, "opus", RATE, 2, start_us, 0b01, 1000, "music", 20, 0)
            )
        playing_from = len(statuses(controllers[0]))
        end_us = await send_paced(controllers, 1, packets, start_us)
        for controller in controllers:
            await controller.send(link.StreamEnd(1, end_us, 0))
        await _poll(lambda: all(s.player.status().streams == () for s in satellites))
        await asyncio.sleep(1.2)  # one more status each
        for controller in controllers:
            await controller.close()
    finally:
        for satellite in satellites:
            await satellite.close()

    begins = [records(tmp_path / f"s{i}" / "record.jsonl", "stream_start")[0] for i in range(2)]
    skew_us = abs(begins[0]["mono_us"] - begins[1]["mono_us"])
    print(f"\nfirst samples of the stream on the two satellites: {skew_us} us apart")
    assert skew_us <= 1000
    for satellite, begin, controller in zip(satellites, begins, controllers, strict=True):
        started = [m for m in controller.received if isinstance(m, link.Started)]
        assert started == [link.Started(link.StartKind.STREAM, 1, 0, start_us, begin["actual_us"])]
        assert abs(begin["actual_us"] - start_us) <= 500
        heard = heard_from(satellite, begin["frame"])
        np.testing.assert_allclose(heard[: len(source)], decoded[: len(source)], atol=1e-6)
        assert np.corrcoef(heard[: len(source)], source.mean(axis=1))[0, 1] > 0.99
        during = [s for s in statuses(controller)[playing_from:] if s.streams == (1,)]
        assert len(during) >= 1
        for status in during:
            assert (status.underruns, status.late_frames) == (0, 0)
            assert 80 <= status.buffer_ms <= SEND_AHEAD_US // 1000 + 40, status.buffer_ms
        final = statuses(controller)[-1]
        assert (final.streams, final.underruns, final.late_frames) == ((), 0, 0)


@pytest.mark.parametrize("failure", ["the source fails", "the link drops"])
async def test_a_stream_cut_short_fades_and_hands_over_to_its_fallback_cue(
    tmp_path: Path, http: aiohttp.ClientSession, failure: str
) -> None:
    satellite = Satellite(kept_config(tmp_path, "Crypt"))
    record = tmp_path / "record.jsonl"
    organ = tone_wav(0.5, 300.0)
    packets, decoded = packets_of(music(2.0))
    await satellite.start()
    try:
        controller = Controller(http, satellite.server.port, KEY)
        await controller.__aenter__()
        sha = await controller.upload(organ, "organ.wav")
        await controller.send(
            link.CueTable((link.CueEntry(7, sha, "Organ", 1.0, False, "fx", 10),))
        )
        await controller.wait_synchronised()
        await _poll(lambda: satellite.player.cue_id_by_name("Organ") == 7)
        start_us = venue_now_us() + START_LEAD_US
        await controller.send(
            link.StreamStart(2, "opus", RATE, 2, start_us, 0b01, 1000, "music", 20, 7)
        )
        cut_us = await send_paced([controller], 2, packets[:31], start_us)  # 600 ms of sound
        if failure == "the link drops":
            await controller.close()
        await _poll(lambda: records(record, "cue_stop"))
        if failure == "the source fails":
            fallback_started = await controller.wait_for(
                lambda m: isinstance(m, link.Started) and m.kind is link.StartKind.CUE
            )
            await asyncio.sleep(1.2)
            await controller.close()
        assert satellite.player.status().streams == ()
    finally:
        await satellite.close()

    (begin,) = records(record, "stream_start")
    (dry,) = records(record, "stream_stop")
    (fallback,) = records(record, "cue_start")
    assert dry["reason"] == "ran dry"
    assert (fallback["cue_id"], fallback["seq"], fallback["reason"]) == (7, 0, "fallback")
    assert fallback["frame"] == dry["frame"], "the fallback starts on the frame the stream ended"
    sound_end = begin["frame"] + round((cut_us - start_us) * RATE / 1e6)
    waited = GRACE if failure == "the source fails" else 0
    assert dry["frame"] == sound_end + waited
    heard = heard_from(satellite, begin["frame"])
    played = sound_end - begin["frame"]
    fade = RATE * 25 // 10_000
    np.testing.assert_allclose(heard[: played - fade], decoded[: played - fade], atol=1e-6)
    assert np.all(heard[played : played + waited] == 0.0)
    organ_pcm = decode_asset(organ, RATE)[:, 0]
    np.testing.assert_allclose(heard[played + waited :][: len(organ_pcm)], organ_pcm, atol=1e-6)
    assert np.max(np.abs(np.diff(heard[: played + waited + len(organ_pcm)]))) < 0.1, "no click"
    if failure == "the source fails":
        assert fallback_started == link.Started(
            link.StartKind.CUE, 7, 0, fallback["actual_us"], fallback["actual_us"]
        )
        final = statuses(controller)[-1]
        assert (final.streams, final.underruns) == ((), -(-GRACE // PACKET))
