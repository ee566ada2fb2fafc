"""Outputs: the WAV file holds what was rendered, the null output keeps real time and records."""

from __future__ import annotations

import json
import sys
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pi_satellite.clock import MonotonicClock, SkewedClock, monotonic_us
from pi_satellite.config import DeviceConfig, DeviceType
from pi_satellite.engine import Samples
from pi_satellite.link import StartKind
from pi_satellite.outputs import (
    NullOutput,
    OutputError,
    PlaybackRecord,
    SoundDeviceOutput,
    WavOutput,
    open_output,
    to_pcm16,
)

RATE = 48000
BLOCK = 240
BLOCK_US = BLOCK * 1_000_000 // RATE


class SpySource:
    """A block source that renders a known pattern and remembers every call, and when."""

    def __init__(self, *, busy: bool = True) -> None:
        self.busy = busy
        self.calls: list[tuple[int, int, int]] = []
        self.rendered_at: list[int] = []
        self.blocks: list[Samples] = []

    def render(self, frame: int, local_us: int, frames: int) -> Samples:
        self.rendered_at.append(monotonic_us())
        index = np.arange(frame, frame + frames)
        block = np.stack([(index % 401 - 200) / 256, (index % 97 - 48) / -64], axis=1)
        self.blocks.append(block.astype(np.float32))
        self.calls.append((frame, local_us, frames))
        return self.blocks[-1]

    def idle(self) -> bool:
        return not self.busy


def wait_until(condition: Callable[[], bool], timeout_s: float = 3.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def device(kind: DeviceType, path: Path | None = None, latency_us: int = 0) -> DeviceConfig:
    return DeviceConfig("card", kind, path=path, latency_us=latency_us)


def test_the_wav_file_holds_exactly_the_rendered_samples(tmp_path: Path) -> None:
    path = tmp_path / "out" / "room.wav"
    output = open_output(
        device("wav", path), MonotonicClock(), sample_rate=RATE, block_frames=BLOCK
    )
    assert isinstance(output, WavOutput)
    source = SpySource()
    output.start(source)
    time.sleep(0.3)
    output.close()
    output.close()
    with wave.open(str(path), "rb") as written:
        assert written.getnchannels() == 2
        assert written.getsampwidth() == 2
        assert written.getframerate() == RATE
        frames = written.getnframes()
        data = np.frombuffer(written.readframes(frames), dtype="<i2").reshape(-1, 2)
    rendered = np.concatenate(source.blocks)
    assert frames == len(rendered) >= 0.1 * RATE
    np.testing.assert_array_equal(data, to_pcm16(rendered))
    assert [call[0] for call in source.calls] == list(range(0, frames, BLOCK))


def test_the_wav_file_keeps_time_through_idle_stretches(tmp_path: Path) -> None:
    path = tmp_path / "quiet.wav"
    output = WavOutput(device("wav", path), MonotonicClock(), sample_rate=RATE, block_frames=BLOCK)
    source = SpySource(busy=False)
    started = time.monotonic()
    output.start(source)
    time.sleep(0.4)
    output.close()
    elapsed = time.monotonic() - started
    with wave.open(str(path), "rb") as written:
        frames = written.getnframes()
        data = np.frombuffer(written.readframes(frames), dtype="<i2").reshape(-1, 2)
    assert (elapsed - 0.1) * RATE <= frames <= elapsed * RATE + BLOCK, "rested time is in the file"
    assert len(source.calls) < frames / BLOCK / 4, "most blocks were silence, not rendered"
    expected = np.zeros((frames, 2), dtype=np.int16)
    for (frame, _, count), block in zip(source.calls, source.blocks, strict=True):
        expected[frame : frame + count] = to_pcm16(block)
    np.testing.assert_array_equal(data, expected)


def test_pcm16_rounds_and_clips() -> None:
    block = np.array([[0.0, 1.0], [-1.0, 0.5], [2.0, -2.0]], dtype=np.float32)
    np.testing.assert_array_equal(to_pcm16(block), [[0, 32767], [-32767, 16384], [32767, -32768]])


@pytest.mark.parametrize("clock", [MonotonicClock(), SkewedClock(-1_000_000, 100.0)])
def test_the_null_output_paces_blocks_in_real_time(clock: MonotonicClock | SkewedClock) -> None:
    latency_us = 1500
    output = NullOutput(
        device("null", latency_us=latency_us), clock, sample_rate=RATE, block_frames=BLOCK
    )
    source = SpySource()
    before = monotonic_us()
    output.start(source)
    after = monotonic_us()

    def blocks_due() -> int:
        return (monotonic_us() - (output.frame_mono_us(0) - latency_us)) // BLOCK_US + 1

    time.sleep(0.5)
    wait_until(lambda: len(source.calls) >= blocks_due() - 2)  # a busy machine catches up
    rendered, due = len(source.calls), blocks_due()
    output.close()
    assert due - 2 <= rendered <= due, "as many blocks as 5 ms periods elapsed, never more"
    assert due >= 0.5 * RATE / BLOCK
    assert [call[0] for call in source.calls[:rendered]] == list(range(0, rendered * BLOCK, BLOCK))
    for (frame, local_us, frames_asked), when in zip(
        source.calls[:rendered], source.rendered_at, strict=False
    ):
        assert frames_asked == BLOCK
        assert local_us == clock.from_monotonic(output.frame_mono_us(frame))
        assert when >= output.frame_mono_us(frame) - latency_us - 1, "never rendered early"
    assert output.frame_mono_us(RATE) - output.frame_mono_us(0) == 1_000_000
    assert before + latency_us <= output.frame_mono_us(0) <= after + latency_us


def test_an_idle_null_output_rests_but_keeps_the_frame_count_on_time() -> None:
    output = NullOutput(device("null"), MonotonicClock(), sample_rate=RATE, block_frames=BLOCK)
    source = SpySource(busy=False)
    output.start(source)
    time.sleep(0.4)
    assert len(source.calls) <= 0.4 / 0.05 + 2, "resting: a render now and then, not 80"
    source.busy = True
    rendered = len(source.calls)
    woken = monotonic_us()
    output.wake()
    wait_until(lambda: len(source.calls) >= rendered + 3)  # busy again: a block every 5 ms
    output.close()
    first_heard = output.frame_mono_us(source.calls[rendered][0])
    assert first_heard >= woken - BLOCK_US, "the blocks slept through were not rendered late"
    assert first_heard <= source.rendered_at[rendered] + 1, "nor one ahead of its time"


def test_the_null_output_writes_flushed_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "records" / "null.jsonl"
    output = NullOutput(
        device("null", path), MonotonicClock(), sample_rate=RATE, block_frames=BLOCK
    )
    output.start(SpySource(busy=False))
    start = PlaybackRecord("cue_start", StartKind.CUE, 3, 41, 1, 4800, 123, 150, 149)
    stop = PlaybackRecord("stream_stop", StartKind.STREAM, 2, 0, 0, 9600, 456, None, None, "ended")
    output.record(start)
    output.record(stop)
    lines = path.read_text(encoding="utf-8").splitlines()  # readable before close: flushed
    output.close()
    first, second = (json.loads(line) for line in lines)
    assert first == {
        "event": "cue_start",
        "cue_id": 3,
        "seq": 41,
        "output": 1,
        "scheduled_us": 150,
        "frame": 4800,
        "local_us": 123,
        "mono_us": output_mono(output, 4800),
        "actual_us": 149,
    }
    assert second["event"] == "stream_stop"
    assert second["stream_id"] == 2
    assert second["reason"] == "ended"
    assert second["scheduled_us"] is None
    assert second["mono_us"] - first["mono_us"] == 100_000


def output_mono(output: NullOutput, frame: int) -> int:
    """The null output's truth for a frame: when it started plus the frame's duration."""
    return output.frame_mono_us(0) + frame * 1_000_000 // RATE


def test_the_null_output_records_nothing_without_a_path(tmp_path: Path) -> None:
    output = NullOutput(device("null"), MonotonicClock(), sample_rate=RATE, block_frames=BLOCK)
    output.start(SpySource(busy=False))
    output.record(PlaybackRecord("cue_start", StartKind.CUE, 1, 1, 0, 0, 0, None, None))
    output.close()
    assert list(tmp_path.iterdir()) == []


def test_a_wav_device_without_a_path_is_refused() -> None:
    output = WavOutput(device("wav"), MonotonicClock(), sample_rate=RATE, block_frames=BLOCK)
    with pytest.raises(OutputError, match="needs a path"):
        output.start(SpySource())


def test_sounddevice_without_portaudio_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    output = open_output(
        device("sounddevice"), MonotonicClock(), sample_rate=RATE, block_frames=BLOCK
    )
    assert isinstance(output, SoundDeviceOutput)
    with pytest.raises(OutputError, match="PortAudio and the audio extra"):
        output.start(SpySource())
    output.close()
