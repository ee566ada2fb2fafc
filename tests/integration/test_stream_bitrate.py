"""Adaptive bitrate with real satellites: a throttled link steps down, a stalled one is
dropped and rejoins, and the other satellite never notices.

Two real satellites play one long streamed sound; Cellar Pi is reached through the
impairment proxy (tests/impairment.py), Gate Pi directly. The test first measures what each
ladder step costs on the wire, throttles Cellar's link below the top step, then stalls it
for a moment, and reads what happened from the stream's lanes (sampled every 50 ms), the
satellites' play records and their reported underruns. The timeline is printed.
"""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest
from homeassistant.core import HomeAssistant

from custom_components.maze_manager.audio_manager import DATA_AUDIO
from custom_components.maze_manager.audio_stream import (
    BITRATE_LADDER,
    AudioStream,
    Lane,
)
from custom_components.maze_manager.const import DOMAIN
from tests.impairment import Direction, ImpairmentProxy
from tests.integration.venue_fixtures import CELLAR, GATE, Maze, maze, wait_for
from tests.sound_server import serve_sounds

__all__ = ["maze"]

MUSIC_S = 30.0
SAMPLE_S = 0.05
MEASURE_S = 3.0
"""How long the unthrottled link is measured, at the top step."""
THROTTLE = 0.6
"""The throttled link carries this share of what the top step needs on the wire."""
STALL_S = 1.2
"""Long enough to put the lane more than DROP_BACKLOG_US behind (its link is already full),
short enough that the link's 1 s heartbeat (0.5 s for the pong) does not end it."""


def music_wav(seconds: float, rate: int = 48000, seed: int = 7) -> bytes:
    """A stereo music-like signal as 16-bit WAV: changing chords, harmonics, percussion.

    Opus spends its whole bitrate on it (a pure tone would not fill the top step).
    """
    rng = np.random.default_rng(seed)
    frames = int(seconds * rate)
    t = np.arange(frames) / rate
    left = np.zeros(frames)
    right = np.zeros(frames)
    beat = rate // 2
    for start in range(0, frames, beat):
        stop = min(frames, start + beat)
        span = t[start:stop] - t[start]
        envelope = np.exp(-3 * span)
        for root in rng.choice([110.0, 146.8, 164.8, 196.0, 220.0], size=3):
            for harmonic in range(1, 7):
                phase = rng.uniform(0, 2 * np.pi)
                wave_ = envelope * np.sin(2 * np.pi * root * harmonic * span + phase) / harmonic
                left[start:stop] += wave_
                right[start:stop] += np.roll(wave_, harmonic * 7)
        hat = rng.normal(0, 0.3, stop - start) * np.exp(-40 * span)
        left[start:stop] += hat
        right[start:stop] += hat * 0.7
    noise = rng.normal(0, 0.02, (frames, 2))
    pcm = np.stack([left, right], axis=1) + noise
    pcm *= 0.8 / np.max(np.abs(pcm))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(2)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((pcm * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.fixture
async def music_server(socket_enabled: None) -> AsyncIterator[str]:
    """A local web server with a 30 s music-like sound."""
    async with serve_sounds({"/music.wav": (music_wav(MUSIC_S), "audio/wav")}) as base:
        yield f"{base}/music.wav"


@dataclass(frozen=True)
class Sample:
    """Both lanes and the proxied link at one moment."""

    t: float
    phase: str
    gate: tuple[int, int, int, bool]
    """Gate's lane: step, backlog (ms), frames sent, dropped."""
    cellar: tuple[int, int, int, bool]
    cellar_stream: int
    wire_up: int
    """Bytes the proxy forwarded to Cellar Pi so far."""
    cellar_link: int
    """Bytes Cellar Pi's link holds unacknowledged (Home Assistant's socket buffers)."""
    gate_underruns: int
    cellar_underruns: int


class Recorder:
    """Samples both lanes every SAMPLE_S seconds while the stream plays."""

    def __init__(self, maze: Maze, stream: AudioStream, proxy: ImpairmentProxy) -> None:
        self.maze = maze
        self.stream = stream
        self.proxy = proxy
        self.phase = "open"
        self.samples: list[Sample] = []
        self.events: list[tuple[float, str]] = []
        self._origin = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def lane(self, name: str) -> Lane:
        return next(lane for lane in self.stream.lanes if lane.target.device.name == name)

    def now(self) -> float:
        return time.monotonic() - self._origin

    def mark(self, phase: str) -> None:
        self.phase = phase
        self.events.append((self.now(), phase))

    def take(self) -> Sample:
        def state(lane: Lane) -> tuple[int, int, int, bool]:
            return (lane.step, lane.backlog_us // 1000, lane.frames_sent, lane.dropped)

        sample = Sample(
            self.now(),
            self.phase,
            state(self.lane(GATE)),
            state(self.lane(CELLAR)),
            self.lane(CELLAR).stream_id,
            self.proxy.up.forwarded,
            self.lane(CELLAR).target.device.link.queued_bytes,
            self.maze[GATE].satellite.player.status().underruns,
            self.maze[CELLAR].satellite.player.status().underruns,
        )
        self.samples.append(sample)
        return sample

    async def _run(self) -> None:
        while self.stream.playing:
            self.take()
            await asyncio.sleep(SAMPLE_S)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def during(self, phase: str) -> list[Sample]:
        return [sample for sample in self.samples if sample.phase == phase]

    def print_timeline(self) -> None:
        print(
            "\n   t s  phase        gate step/backlog ms/frames  cellar step/backlog/frames"
            "  id  link B  wire B/s  underruns g/c"
        )
        previous: Sample | None = None
        for index, sample in enumerate(self.samples):
            changed = previous is None or (
                sample.cellar[0] != previous.cellar[0]
                or sample.cellar[3] != previous.cellar[3]
                or sample.cellar_stream != previous.cellar_stream
                or sample.gate[0] != previous.gate[0]
                or sample.phase != previous.phase
            )
            if changed or index % 10 == 0:
                rate = 0.0
                if previous is not None and sample.t > previous.t:
                    back = self.samples[max(0, index - 10)]
                    rate = (sample.wire_up - back.wire_up) / max(1e-6, sample.t - back.t)
                g, c = sample.gate, sample.cellar
                print(
                    f"{sample.t:6.2f}  {sample.phase:11}  {g[0]} {g[1]:5d} {g[2]:6d}"
                    f"{' dropped' if g[3] else '':8}  "
                    f"{c[0]} {c[1]:5d} {c[2]:6d}{' dropped' if c[3] else '':8}"
                    f"  {sample.cellar_stream:4d} {sample.cellar_link:6d} {rate:9.0f}  "
                    f"{sample.gate_underruns}/{sample.cellar_underruns}"
                )
            previous = sample


def show(url: str) -> str:
    return f"""\
rooms:
  Entrance:
    speakers: {GATE}
  Crypt:
    speakers: {CELLAR}
effects:
  Music:
    audio: "{url}"
"""


async def test_a_throttled_link_steps_down_and_a_stalled_one_rejoins(
    hass: HomeAssistant, maze: Maze, music_server: str
) -> None:
    await maze.start_satellite(GATE)
    cellar = await maze.start_satellite(CELLAR)
    async with ImpairmentProxy(cellar.port) as proxy:
        maze.add_satellite_entry(GATE)
        maze.add_satellite_entry(CELLAR, port=proxy.port)
        maze.write_show(show(music_server))
        maze.add_venue_entry()
        await maze.async_setup()
        connections = proxy.connections

        await hass.services.async_call(
            DOMAIN,
            "run_effect",
            {"effect_name": "Music", "rooms": ["Entrance", "Crypt"]},
            blocking=True,
        )
        (stream,) = hass.data[DATA_AUDIO].streams
        recorder = Recorder(maze, stream, proxy)
        recorder.start()
        try:
            await _exercise(recorder, proxy)
        finally:
            await recorder.stop()
            recorder.print_timeline()
            proxy.clear()
        await stream.async_stop(0)

    _check(recorder, maze, proxy, connections)


async def _exercise(recorder: Recorder, proxy: ImpairmentProxy) -> None:
    """Measure the top step, throttle, stall: each phase bounded in time."""
    await asyncio.sleep(1.0)  # the first packets go out 600 ms ahead at once
    recorder.mark("measure")
    first = recorder.take()
    await asyncio.sleep(MEASURE_S)
    last = recorder.take()
    lane = recorder.lane(CELLAR)
    wire_bps = (last.wire_up - first.wire_up) / (last.t - first.t)
    print(
        f"\ntop step ({BITRATE_LADDER[0]} bps) to Cellar Pi: {wire_bps:.0f} B/s on the wire "
        f"through the proxy, {lane.bytes_sent} B of frames so far by its lane counters"
    )

    recorder.mark("throttled")
    proxy.set_rate(THROTTLE * wire_bps, Direction.UP)
    await wait_for(lambda: recorder.lane(CELLAR).step >= 1, timeout=15)
    recorder.mark("stall")
    stalled_at = recorder.now()
    proxy.stall(STALL_S, Direction.UP)
    await wait_for(lambda: recorder.lane(CELLAR).dropped, timeout=STALL_S + 1)
    recorder.mark("dropped")
    await asyncio.sleep(max(0.0, stalled_at + STALL_S - recorder.now()))
    recorder.mark("after stall")
    await wait_for(lambda: not recorder.lane(CELLAR).dropped, timeout=10)
    recorder.mark("rejoined")
    cellar = recorder.maze[CELLAR]
    stream_id = recorder.lane(CELLAR).stream_id
    await wait_for(
        lambda: any(line["stream_id"] == stream_id for line in cellar.records("stream_start")),
        timeout=8,
    )
    recorder.mark("plays again")
    await asyncio.sleep(2.0)
    recorder.mark("end")


def _check(recorder: Recorder, maze: Maze, proxy: ImpairmentProxy, connections: int) -> None:
    samples = recorder.samples
    gate_steps = {sample.gate[0] for sample in samples}
    assert gate_steps == {0}, f"Gate Pi's lane left the top step: {gate_steps}"
    assert not any(sample.gate[3] for sample in samples), "Gate Pi was dropped"
    throttled = recorder.during("throttled") + recorder.during("stall")[:1]
    assert max(s.cellar[0] for s in throttled) >= 1, "Cellar did not step down"

    # Dropped and rejoined as a new stream. The stall may also end the link (the heartbeat's
    # ping waits behind it): the lane then rejoins once the link is back and synchronised.
    ids = {sample.cellar_stream for sample in samples}
    assert len(ids) >= 2, f"Cellar Pi never rejoined as a new stream: {ids}"
    print(f"Cellar Pi's link reconnected {proxy.connections - connections} time(s) meanwhile")
    starts = {line["stream_id"] for line in maze[CELLAR].records("stream_start")}
    assert ids <= starts, f"Cellar Pi recorded starts of {starts}, lanes used {ids}"

    # Gate Pi's frames kept flowing through the stall, and it never ran dry.
    stall = recorder.during("stall") + recorder.during("dropped")
    assert len(stall) >= 2
    span = stall[-1].t - stall[0].t
    sent = stall[-1].gate[2] - stall[0].gate[2]
    print(f"Gate Pi during Cellar's stall: {sent} frames in {span:.2f} s")
    assert sent >= 0.8 * span / 0.02 - 10
    assert samples[-1].gate_underruns == 0
    gate_status = maze[GATE].device.status
    assert gate_status is not None
    assert gate_status.underruns == 0
