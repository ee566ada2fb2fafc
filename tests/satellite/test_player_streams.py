"""Streams through the player, checked in the samples the null output kept: an announcement
ducks the room and gives it back, and a stream that runs dry hands over to its fallback."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pi_satellite import link
from pi_satellite.clock import monotonic_us
from pi_satellite.decode import OpusPacketDecoder
from pi_satellite.engine import DUCK_GAIN, Samples
from pi_satellite.link.opus import OpusEncoder
from pi_satellite.outputs import KeptPcm
from pi_satellite.player import Player
from tests.satellite.test_player import LEAD_US, RATE, events, identity, running, until

WINDOW = 960
"""20 ms: a whole number of periods of every tone below, so their lock-in readings separate."""
GRACE = RATE // 4
"""The player's 250 ms of starving before a stream counts as run dry."""

AMBIENT_HZ, FX_HZ, VOICE_HZ, FALLBACK_HZ = 250.0, 500.0, 1000.0, 300.0


def tone(frequency: float, seconds: float, level: float) -> Samples:
    t = np.arange(round(seconds * RATE)) / RATE
    wave = (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.stack([wave, wave], axis=1)


def opus_frames(
    stream_id: int, pcm: Samples, start_us: int
) -> tuple[list[link.AudioFrame], Samples]:
    """The stream's frames stamped from start_us, and what a perfect network decodes."""
    encoder = OpusEncoder()
    packets = encoder.encode(pcm) + encoder.flush()
    frames = [
        link.AudioFrame(stream_id, seq, start_us + pts * 1_000_000 // RATE, payload)
        for seq, (pts, payload) in enumerate(packets)
    ]
    decoder = OpusPacketDecoder(RATE)
    decoded = np.concatenate([decoder.decode(payload) for _, payload in packets])
    return frames, decoded[-packets[0][0] :]


def level(signal: Samples, frequency: float) -> float:
    """The amplitude of one tone in a signal (lock-in over whole periods)."""
    t = np.arange(len(signal)) / RATE
    return float(2 * abs(np.mean(signal * np.exp(-2j * np.pi * frequency * t))))


def db(ratio: float) -> float:
    return 20 * math.log10(ratio)


def heard(player: Player, output: int) -> KeptPcm:
    """What one output played: output 0 is the device's left channel, output 1 its right."""
    kept = player.kept(output)
    assert kept is not None
    assert kept.samples.shape[1] == 1
    return KeptPcm(kept.first_frame, kept.samples[:, 0])


def levels(kept: KeptPcm, first: int, last: int, frequency: float) -> list[float]:
    """The tone's amplitude in each 20 ms window from device frame `first` to `last`."""
    start = first - kept.first_frame
    return [
        level(kept.samples[at : at + WINDOW], frequency)
        for at in range(start, last - kept.first_frame - WINDOW + 1, WINDOW)
    ]


async def start_music(
    player: Player, stream_id: int, seconds: float, output_mask: int
) -> tuple[int, list[link.AudioFrame], Samples]:
    """Load the cues and start a 440 Hz stream (fallback cue 13) a lead from now: its
    start time, its frames, and what a perfect network decodes."""
    player.load_cues([AMBIENT, FX, FALLBACK], PCM)
    player.set_venue_mapping(identity, identity)
    start_us = monotonic_us() + LEAD_US
    frames, decoded = opus_frames(stream_id, tone(440.0, seconds, 0.5), start_us)
    player.stream_start(
        link.StreamStart(stream_id, "opus", RATE, 2, start_us, output_mask, 1000, "music", 20, 13)
    )
    return start_us, frames, decoded


AMBIENT = link.CueEntry(11, b"\x11" * 32, "wind", 1.0, True, "ambient", 0)
FX = link.CueEntry(12, b"\x12" * 32, "drip", 1.0, True, "fx", 50)
FALLBACK = link.CueEntry(13, b"\x13" * 32, "organ", 0.5, False, "fx", 10)
PCM = {
    AMBIENT.sha256: tone(AMBIENT_HZ, 0.2, 0.2),
    FX.sha256: tone(FX_HZ, 0.2, 0.1),
    FALLBACK.sha256: tone(FALLBACK_HZ, 0.5, 0.5),
}


async def test_an_announcement_ducks_the_room_by_12_db_and_gives_it_back(tmp_path: Path) -> None:
    """An ambient loop plays in the hall (output 0), an fx loop in the crypt (output 1)."""
    started: list[link.Started] = []
    async with running(tmp_path, started) as player:
        player.load_cues([AMBIENT, FX, FALLBACK], PCM)
        player.set_venue_mapping(identity, identity)
        start_us = monotonic_us() + LEAD_US
        player.play(link.Play(11, 1, start_us, 0b01, 1000, 0))
        player.play(link.Play(12, 2, start_us, 0b10, 1000, 0))
        voice_us = start_us + 400_000
        frames, _ = opus_frames(5, tone(VOICE_HZ, 1.0, 0.3), voice_us)
        player.stream_start(
            link.StreamStart(5, "opus", RATE, 2, voice_us, 0b11, 1000, "announce", 255, 0)
        )
        for frame in frames:
            player.stream_frame(frame)
        player.stream_end(link.StreamEnd(5, voice_us + 1_000_000, 0))
        await until(lambda: len(events(tmp_path, "stream_stop")) == 2)
        await until(lambda: monotonic_us() > voice_us + 2_000_000)
        kept = [heard(player, 0), heard(player, 1)]
    begins = events(tmp_path, "stream_start")
    ends = events(tmp_path, "stream_stop")
    assert {r["reason"] for r in ends} == {"stopped"}
    assert started[-1] == link.Started(
        link.StartKind.STREAM, 5, 0, voice_us, begins[0]["actual_us"]
    )
    ms = RATE // 1000
    on, off = begins[0]["frame"], ends[0]["frame"]
    assert {r["frame"] for r in begins + ends} == {on, off}, "one device: the same frames"
    for output, frequency, name in ((0, AMBIENT_HZ, "ambient"), (1, FX_HZ, "fx")):
        room = kept[output]
        before = np.mean(levels(room, on - 300 * ms, on, frequency))
        ducked = levels(room, on + 60 * ms, off, frequency)
        after = levels(room, off + 320 * ms, off + 600 * ms, frequency)
        depth = db(float(np.mean(ducked)) / before)
        print(f"\n{name}: ducked by {depth:.2f} dB, back to {db(np.mean(after) / before):+.2f} dB")
        assert depth == pytest.approx(db(DUCK_GAIN), abs=0.5)
        assert max(abs(db(x / before) - db(DUCK_GAIN)) for x in ducked) < 1.0
        assert max(abs(db(x / before)) for x in after) < 0.3, "restored after the 300 ms rise"
        voice = levels(room, on + 60 * ms, off, VOICE_HZ)
        assert min(voice) == pytest.approx(0.3, abs=0.03), "the announcement is not ducked"


async def test_a_stream_that_runs_dry_fades_out_and_its_fallback_starts_there(
    tmp_path: Path,
) -> None:
    started: list[link.Started] = []
    async with running(tmp_path, started) as player:
        start_us, frames, decoded = await start_music(player, 6, 1.0, 0b01)
        sent = frames[:21]  # the look-ahead packet and 400 ms: then the source fails
        for frame in sent:
            player.stream_frame(frame)
        await until(lambda: bool(events(tmp_path, "cue_stop")))
        status = player.status()
        kept = heard(player, 0)
    (begin,) = events(tmp_path, "stream_start")
    (dry,) = events(tmp_path, "stream_stop")
    (fallback,) = events(tmp_path, "cue_start")
    assert dry["reason"] == "ran dry"
    sound_end = begin["frame"] + round((sent[-1].pts_us - start_us) * RATE / 1e6) + 960
    assert dry["frame"] == sound_end + GRACE, "the sound stopped, then 250 ms of grace"
    assert (fallback["cue_id"], fallback["seq"], fallback["reason"]) == (13, 0, "fallback")
    assert (fallback["frame"], fallback["output"]) == (dry["frame"], 0), "on the very frame"
    assert started[-1] == link.Started(
        link.StartKind.CUE, 13, 0, fallback["actual_us"], fallback["actual_us"]
    )
    assert status.streams == ()
    assert status.underruns == -(-GRACE // 960)

    pcm = kept.samples[begin["frame"] - kept.first_frame :]
    played = sound_end - begin["frame"]
    fade = RATE * 25 // 10_000
    np.testing.assert_allclose(pcm[: played - fade], decoded[: played - fade, 0], atol=1e-6)
    assert np.all(pcm[played : played + GRACE] == 0.0)
    cue = PCM[FALLBACK.sha256][:, 0] * np.float32(FALLBACK.gain)
    np.testing.assert_allclose(pcm[played + GRACE :][: len(cue)], cue, atol=1e-6)
    assert np.max(np.abs(np.diff(pcm[: played + GRACE + len(cue)]))) < 0.05, "no click"


@pytest.mark.parametrize("end_at", ["its last frame", "after 500 ms of silence"])
async def test_a_stream_ended_by_stream_end_never_falls_back(tmp_path: Path, end_at: str) -> None:
    started: list[link.Started] = []
    async with running(tmp_path, started) as player:
        start_us, frames, _ = await start_music(player, 7, 0.3, 0b11)
        for frame in frames:
            player.stream_frame(frame)
        at_us = start_us + (300_000 if end_at == "its last frame" else 800_000)
        player.stream_end(link.StreamEnd(7, at_us, 0))
        await until(lambda: len(events(tmp_path, "stream_stop")) == 2)
        await until(lambda: monotonic_us() > at_us + 2 * GRACE * 1_000_000 // RATE)
        assert player.status().underruns == 0, "nothing was missing: the stream said so"
    assert {r["reason"] for r in events(tmp_path, "stream_stop")} == {"stopped"}
    assert events(tmp_path, "cue_start") == []
    assert [s.kind for s in started] == [link.StartKind.STREAM]
