"""Sound devices: where a mixer's blocks go.

Every output asks its `BlockSource` (the device's mixer) for one block at a time, passing
the block's first device frame and the local time at which that frame reaches the DAC.
That pair is all the mixer needs to place sound on exact frames.

- `sounddevice`: a real card through PortAudio; the DAC time comes from PortAudio's
  callback timestamps, plus the device's configured latency.
- `null`: no sound at all, paced in real time by the monotonic clock, so frame `f` is
  "heard" at exactly `start + f / rate + latency`. It can record every start and stop
  as JSON lines, and keep the last seconds of what it rendered in memory: the truth
  tests and benchmarks compare satellites by.
- `wav`: paced in real time exactly like `null`, writing every block it renders to a
  16-bit WAV file (header finalised on close).
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import wave
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from .clock import LocalClock, monotonic_us
from .config import DeviceConfig
from .engine import Samples
from .link import StartKind

_LOGGER = logging.getLogger(__name__)

_US: Final = 1_000_000


class OutputError(Exception):
    """A sound device cannot be opened; the text says why."""


class BlockSource(Protocol):
    """What an output plays: the device's mixer."""

    def render(self, frame: int, local_us: int, frames: int) -> Samples:
        """`frames` frames from device frame `frame`, which the DAC plays at `local_us`."""

    def idle(self) -> bool:
        """True when nothing plays or waits to: the blocks would all be silence."""


@dataclass(frozen=True, slots=True)
class PlaybackRecord:
    """A cue or stream started or stopped on a logical output, at a device frame.

    Venue times are None when the satellite had no venue clock mapping (local plays).
    """

    event: str
    kind: StartKind
    ref_id: int
    seq: int
    output: int
    frame: int
    local_us: int
    scheduled_us: int | None
    actual_us: int | None
    reason: str | None = None

    def as_json(self, mono_us: int) -> dict[str, Any]:
        """The JSON line, with the machine's monotonic time of the frame added."""
        line: dict[str, Any] = {
            "event": self.event,
            "cue_id" if self.kind is StartKind.CUE else "stream_id": self.ref_id,
            "seq": self.seq,
            "output": self.output,
            "scheduled_us": self.scheduled_us,
            "frame": self.frame,
            "local_us": self.local_us,
            "mono_us": mono_us,
            "actual_us": self.actual_us,
        }
        if self.reason is not None:
            line["reason"] = self.reason
        return line


@dataclass(frozen=True, slots=True)
class KeptPcm:
    """Rendered samples a null output kept: `samples[i]` is device frame `first_frame + i`."""

    first_frame: int
    samples: Samples


class _RenderedTail:
    """The last blocks a device rendered, at least `limit` frames of them (any thread).

    Blocks are kept by reference: a mixer never writes to a block it handed out.
    """

    def __init__(self, limit: int, channels: int) -> None:
        self._limit = limit
        self._channels = channels
        self._blocks: deque[Samples] = deque()
        self._held = 0
        self._written = 0
        self._lock = threading.Lock()

    def add(self, block: Samples) -> None:
        with self._lock:
            self._blocks.append(block)
            self._held += len(block)
            self._written += len(block)
            while self._held - len(self._blocks[0]) >= self._limit:
                self._held -= len(self._blocks.popleft())

    def snapshot(self) -> KeptPcm:
        with self._lock:
            blocks = list(self._blocks)
            first = self._written - self._held
        if not blocks:
            return KeptPcm(first, np.zeros((0, self._channels), dtype=np.float32))
        return KeptPcm(first, np.concatenate(blocks))


class Output(ABC):
    """One sound device, rendering its mixer's blocks from its own thread."""

    def __init__(
        self, device: DeviceConfig, clock: LocalClock, *, sample_rate: int, block_frames: int
    ) -> None:
        self.device = device
        self._clock = clock
        self._rate = sample_rate
        self._block_frames = block_frames

    @abstractmethod
    def start(self, source: BlockSource) -> None:
        """Open the device and start rendering blocks from `source`."""

    @abstractmethod
    def close(self) -> None:
        """Stop rendering and release the device; safe to call twice."""

    @abstractmethod
    def wake(self) -> None:
        """A command waits in the mixer: render again soon even if resting (any thread)."""

    def record(self, record: PlaybackRecord) -> None:  # noqa: B027 - an optional hook
        """Note a start or stop; only the null output keeps such a record."""

    def kept(self) -> KeptPcm | None:
        """What was rendered lately; only a null output asked to (`keep_s`) keeps it."""
        return None


class _Pacer:
    """Renders blocks on a thread, one every block_frames / rate seconds of monotonic time.

    Deadlines come from the frame count, not from the previous wake-up, so the pace never
    drifts; after a stall the missed blocks are rendered back to back to catch up. While
    the source is idle the thread rests for `rest_s` at a time (a wake-up 200 times a
    second would cost about 1 % of a core on its own) and hands out the blocks it slept
    through as silence, without rendering them; `wake` ends the rest early.
    """

    def __init__(
        self,
        name: str,
        source: BlockSource,
        clock: LocalClock,
        *,
        sample_rate: int,
        block_frames: int,
        channels: int,
        latency_us: int,
        sink: Callable[[Samples], None],
        rest_s: float = 0.05,
    ) -> None:
        self._source = source
        self._clock = clock
        self._rate = sample_rate
        self._block_frames = block_frames
        self._latency_us = latency_us
        self._sink = sink
        self._rest_s = rest_s
        self._silence: Samples = np.zeros((block_frames, channels), dtype=np.float32)
        self._wake = threading.Event()
        self._stopping = False
        self._failing = False
        self.start_us = monotonic_us()
        """Monotonic time (µs) at which frame 0 was handed to the (imaginary) DAC."""
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def frame_mono_us(self, frame: int) -> int:
        """The monotonic time (µs) at which a frame is heard."""
        return self.start_us + self._latency_us + (frame * _US + self._rate // 2) // self._rate

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _due_ns(self, frame: int) -> int:
        """When a block starting at `frame` is handed over: its monotonic time in ns."""
        return self.start_us * 1000 + frame * 1_000_000_000 // self._rate

    def _run(self) -> None:
        frame = 0
        rested = False
        while not self._stopping:
            now = time.monotonic_ns()
            if rested:  # the blocks slept through were silence: hand them out as such
                while self._due_ns(frame + self._block_frames) <= now:
                    self._sink(self._silence)
                    frame += self._block_frames
            while self._due_ns(frame) <= now:
                self._render(frame)
                frame += self._block_frames
            self._wake.clear()
            wait_s = (self._due_ns(frame) - time.monotonic_ns()) / 1e9
            rested = self._source.idle()
            if rested:
                self._wake.wait(max(wait_s, self._rest_s))
            elif wait_s > 0:
                time.sleep(wait_s)

    def _render(self, frame: int) -> None:
        local_us = self._clock.from_monotonic(self.frame_mono_us(frame))
        try:
            self._sink(self._source.render(frame, local_us, self._block_frames))
        except Exception:
            if not self._failing:
                _LOGGER.exception("rendering failed; the output goes on with the next block")
            self._failing = True
        else:
            self._failing = False


class _PacedOutput(Output):
    """An output without a sound card, rendered by a `_Pacer` in real time."""

    _pacer: _Pacer | None = None

    def start(self, source: BlockSource) -> None:
        self._open()
        self._pacer = _Pacer(
            f"{self.device.type} output {self.device.name}",
            source,
            self._clock,
            sample_rate=self._rate,
            block_frames=self._block_frames,
            channels=self.device.channels,
            latency_us=self.device.latency_us,
            sink=self._write,
        )

    def wake(self) -> None:
        if self._pacer is not None:
            self._pacer.wake()

    def close(self) -> None:
        if self._pacer is not None:
            self._pacer.stop()
        self._close()

    @abstractmethod
    def _open(self) -> None:
        """Open what the output writes to, before rendering starts."""

    @abstractmethod
    def _write(self, block: Samples) -> None:
        """Take one rendered block (on the pacer's thread)."""

    @abstractmethod
    def _close(self) -> None:
        """Close what `_open` opened, after rendering stopped; safe to call twice."""


class NullOutput(_PacedOutput):
    """No sound; real-time pacing, and a JSON-lines record of every start and stop.

    The record is written from the asyncio thread (`record`), never from the rendering
    thread, and each line is flushed at once so other processes can follow it. With
    `keep_s` set it also keeps the last `keep_s` seconds of rendered samples (`kept`).
    """

    _file: IO[str] | None = None
    _tail: _RenderedTail | None = None

    def frame_mono_us(self, frame: int) -> int:
        """The monotonic time (µs) at which a frame of this output is "heard"."""
        if self._pacer is None:
            raise RuntimeError("the output has not started")
        return self._pacer.frame_mono_us(frame)

    def record(self, record: PlaybackRecord) -> None:
        if self._file is None:
            return
        line = record.as_json(self.frame_mono_us(record.frame))
        self._file.write(json.dumps(line, separators=(",", ":")) + "\n")
        self._file.flush()

    def kept(self) -> KeptPcm | None:
        return self._tail.snapshot() if self._tail is not None else None

    def _open(self) -> None:
        if self.device.keep_s:
            limit = round(self.device.keep_s * self._rate)
            self._tail = _RenderedTail(limit, self.device.channels)
        path = self.device.path
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("a", encoding="utf-8")
        except OSError as err:
            raise OutputError(f"cannot open the play record {path}: {err}") from err

    def _write(self, block: Samples) -> None:
        """The null output plays nothing; it may keep the block."""
        if self._tail is not None:
            self._tail.add(block)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def to_pcm16(block: Samples) -> npt.NDArray[np.int16]:
    """Float samples as 16-bit PCM, rounded and clipped to the int16 range."""
    pcm: npt.NDArray[np.int16] = np.clip(np.round(block * 32767.0), -32768, 32767).astype(np.int16)
    return pcm


class WavOutput(_PacedOutput):
    """Writes every rendered block to a 16-bit WAV file, paced in real time like `null`.

    Pacing keeps scheduled starts where a sound card would play them, so the file shows
    what the room would have heard, frame for frame. The header is finalised on close.
    """

    _writer: wave.Wave_write | None = None

    def _open(self) -> None:
        path = self.device.path
        if path is None:
            raise OutputError(f"the wav device {self.device.name} needs a path")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = wave.open(str(path), "wb")  # noqa: SIM115 - closed in _close()
        except OSError as err:
            raise OutputError(f"cannot write {path}: {err}") from err
        writer.setnchannels(self.device.channels)
        writer.setsampwidth(2)
        writer.setframerate(self._rate)
        self._writer = writer

    def _write(self, block: Samples) -> None:
        if self._writer is not None:
            self._writer.writeframesraw(to_pcm16(block).tobytes())

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class SoundDeviceOutput(Output):
    """A sound card through PortAudio (the `audio` extra), rendered in its callback.

    The block's DAC time is PortAudio's `outputBufferDacTime`, taken relative to the
    callback's `currentTime` and added to the local clock's now, plus the configured
    latency of the device (what PortAudio cannot see: amplifiers, wireless links).
    """

    _stream: Any = None

    def start(self, source: BlockSource) -> None:
        try:
            sounddevice = importlib.import_module("sounddevice")
        except (ImportError, OSError) as err:
            raise OutputError(
                f"sounddevice output needs PortAudio and the audio extra: {err}"
            ) from err
        frame = 0

        def callback(outdata: Samples, frames: int, times: Any, status: Any) -> None:
            nonlocal frame
            ahead_us = round((times.outputBufferDacTime - times.currentTime) * _US)
            dac_us = self._clock.now_us() + ahead_us + self.device.latency_us
            outdata[:] = source.render(frame, dac_us, frames)
            frame += frames

        try:
            self._stream = sounddevice.OutputStream(
                samplerate=self._rate,
                blocksize=self._block_frames,
                device=self.device.device,
                channels=self.device.channels,
                dtype="float32",
                latency="low",
                callback=callback,
            )
            self._stream.start()
        except Exception as err:
            raise OutputError(f"cannot open sound device {self.device.device!r}: {err}") from err

    def wake(self) -> None:
        """PortAudio asks for every block anyway."""

    def close(self) -> None:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None


def open_output(
    device: DeviceConfig, clock: LocalClock, *, sample_rate: int, block_frames: int
) -> Output:
    """The output for a configured device (not started yet)."""
    kinds: dict[str, type[Output]] = {
        "sounddevice": SoundDeviceOutput,
        "null": NullOutput,
        "wav": WavOutput,
    }
    return kinds[device.type](device, clock, sample_rate=sample_rate, block_frames=block_frames)
