"""The mixing engine of one sound device.

A `Mixer` turns voices (a cue or a stream on one logical output) into the device's blocks
of samples. It knows nothing of threads or I/O: commands from the asyncio thread queue up
and apply at the next block boundary, and the output that owns the mixer calls `render`
once per block with the device frame index of the block and the local time at which that
frame reaches the DAC. Every start and stop is placed from that pair, block by block, so
a drift between the local clock and the sample clock never accumulates.

Per block, per output: the voices of each bus are summed, a bus is ducked while a voice of
higher priority plays on the same output, the output's volume applies, and the result is
routed to the output's channels of the device. The device's master volume and a soft clip
above `CLIP_THRESHOLD` finish the block. Every gain moves along a short ramp, never in a
step, so nothing clicks. A voice whose source runs dry (a stream whose data stopped
coming) can hand over to a fallback voice on the very frame it ended.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from .config import Channels
from .link import StartKind

Samples = npt.NDArray[np.float32]
"""Audio as float32 frames: shape (frames, channels), full scale ±1.0."""

AMBIENT_BUS: Final = "ambient"
"""The bus of background loops, which keep playing while Home Assistant is away."""

DUCK_GAIN: Final = 10 ** (-12 / 20)
"""A ducked bus plays 12 dB lower."""

CLIP_THRESHOLD: Final = 0.9
"""Samples above this level are bent smoothly toward ±1.0 instead of clipping hard."""

MIN_FADE_MS: Final = 5.0
"""The shortest fade of a stop: even an instant stop must not click."""

_US: Final = 1_000_000


def frames_of_ms(ms: float, sample_rate: int) -> int:
    """A duration in frames."""
    return round(ms * sample_rate / 1000)


def fade_frames(fade_ms: float, sample_rate: int) -> int:
    """How many frames a stop asked to fade over `fade_ms` fades: at least `MIN_FADE_MS`."""
    return max(frames_of_ms(fade_ms, sample_rate), frames_of_ms(MIN_FADE_MS, sample_rate))


def channel_indices(channels: Channels, device_channels: int) -> tuple[int, ...]:
    """The device channels a logical output drives: one stereo card can serve two rooms."""
    if channels == "both":
        return (0, 1) if device_channels >= 2 else (0,)
    index = 0 if channels == "left" else 1
    if index >= device_channels:
        raise ValueError(f"a {device_channels}-channel device has no {channels} channel")
    return (index,)


def soft_clip(block: Samples) -> None:
    """Bend samples above the threshold along a tanh curve, in place, never beyond ±1.0.

    Below the threshold the signal is untouched; the curve joins it with the same slope,
    so loud mixes compress smoothly instead of clipping or wrapping around.
    """
    if not block.size or float(np.max(np.abs(block))) <= CLIP_THRESHOLD:
        return
    loud = np.abs(block) > CLIP_THRESHOLD
    over = np.abs(block[loud]) - CLIP_THRESHOLD
    headroom = 1.0 - CLIP_THRESHOLD
    bent = np.minimum(CLIP_THRESHOLD + headroom * np.tanh(over / headroom), 1.0)
    block[loud] = np.copysign(bent, block[loud])


class SampleSource(Protocol):
    """Where a voice's samples come from: a preloaded cue or a stream."""

    def read(self, frames: int) -> Samples:
        """The next samples, shape (n, 2) with n <= frames; fewer means the sound ended."""

    @property
    def ran_dry(self) -> bool:
        """Whether the sound ended because its data stopped coming, before its real end."""


class CueSource:
    """A preloaded cue, played once or looped with a sample-exact wrap."""

    ran_dry = False
    """A cue's samples are all in memory: it always plays to its end."""

    def __init__(self, pcm: Samples, *, loop: bool) -> None:
        self._pcm = pcm
        self._loop = loop and len(pcm) > 0
        self._position = 0

    def read(self, frames: int) -> Samples:
        start = self._position
        length = len(self._pcm)
        if not self._loop:
            self._position = min(start + frames, length)
            return self._pcm[start : self._position]
        self._position = (start + frames) % length
        if start + frames <= length:
            return self._pcm[start : start + frames]
        return np.take(self._pcm, np.arange(start, start + frames) % length, axis=0)


class GainRamp:
    """A gain that moves toward its target at a bounded rate, so changes never click."""

    def __init__(self, value: float, *, rise_frames: int, fall_frames: int) -> None:
        self.value = value
        self.target = value
        self._rise = 1.0 / max(rise_frames, 1)
        self._fall = 1.0 / max(fall_frames, 1)

    def jump(self) -> None:
        """Reach the target at once: for a gain nobody hears right now."""
        self.value = self.target

    def block(self, frames: int) -> float | npt.NDArray[np.float32]:
        """The gain for each frame of the next block, or one number when it holds still."""
        if self.value == self.target:
            return self.value
        rising = self.target > self.value
        step = self._rise if rising else -self._fall
        ramp = self.value + step * np.arange(1, frames + 1, dtype=np.float64)
        ramp = np.minimum(ramp, self.target) if rising else np.maximum(ramp, self.target)
        self.value = float(ramp[-1])
        return ramp.astype(np.float32)


def _scale(block: Samples, gain: float | npt.NDArray[np.float32]) -> None:
    """Multiply a (frames, channels) block in place by a gain or a per-frame gain ramp."""
    if isinstance(gain, np.ndarray):
        block *= gain[:, np.newaxis]
    elif gain != 1.0:
        block *= gain


@dataclass(frozen=True, slots=True)
class Route:
    """A logical output and the device channels it drives."""

    output: int
    channels: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class VoiceTag:
    """Who a voice is: handed back in events and matched by stops.

    `serial` tells apart plays that share a sequence number (one play on several outputs
    shares its serial); `scheduled_us` is the venue time asked for, None for local plays;
    `loop` says whether it plays until stopped, for the status Home Assistant resyncs from.
    """

    kind: StartKind
    ref_id: int
    seq: int
    serial: int
    output: int
    bus: str
    scheduled_us: int | None
    loop: bool


class VoiceChange(Enum):
    """What happened to a voice in a block."""

    START = "start"
    END = "end"
    """Its source ran out."""
    STOP = "stop"
    """A stop's fade-out finished."""
    CANCEL = "cancel"
    """Removed before it started."""
    DRY = "dry"
    """Its source ran dry before its end (see `SampleSource.ran_dry`)."""
    FALLBACK = "fallback"
    """It started on the frame where the voice it stands in for ran dry."""


@dataclass(frozen=True, slots=True)
class VoiceEvent:
    """A voice started or ended at a device frame, heard at `local_us` on the local clock."""

    change: VoiceChange
    tag: VoiceTag
    frame: int
    local_us: int


VoiceFilter = Callable[[VoiceTag], bool]


@dataclass(frozen=True, slots=True)
class Fallback:
    """What starts on the frame where a voice runs dry, unless a stop of it was under way."""

    tag: VoiceTag
    source: SampleSource
    gain: float
    priority: int


@dataclass(frozen=True, slots=True)
class _Stop:
    at_local_us: int | None
    fade_frames: int


@dataclass(slots=True, eq=False)
class _Voice:
    tag: VoiceTag
    source: SampleSource
    gain: float
    priority: int
    start_local_us: int | None
    start_frame: int = 0
    stop: _Stop | None = None
    fade_start: int | None = None
    fallback: Fallback | None = None


@dataclass(slots=True)
class _Block:
    """The block being rendered: where it sits on the device and on the local clock."""

    frame: int
    local_us: int
    frames: int
    rate: int
    events: list[VoiceEvent] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.frame + self.frames

    def frame_at(self, local_us: int | None) -> int:
        """The device frame heard at a local time (None: this block's first frame)."""
        if local_us is None:
            return self.frame
        return self.frame + ((local_us - self.local_us) * self.rate + _US // 2) // _US

    def local_at(self, frame: int) -> int:
        """The local time at which a device frame is heard."""
        return self.local_us + ((frame - self.frame) * _US + self.rate // 2) // self.rate

    def note(self, change: VoiceChange, voice: _Voice, frame: int) -> VoiceEvent:
        event = VoiceEvent(change, voice.tag, frame, self.local_at(frame))
        self.events.append(event)
        return event


class Mixer:
    """Mixes every voice of one sound device.

    Commands may come from any thread; they apply at the start of the next `render`.
    A cue played again while it already plays on an output starts a second voice: both
    play, each can be stopped by its cue id. `on_events` receives each block's voice
    starts and ends from the rendering thread.
    """

    def __init__(
        self,
        *,
        channels: int,
        routes: Sequence[Route],
        sample_rate: int,
        on_events: Callable[[list[VoiceEvent]], None] = lambda events: None,
        on_command: Callable[[], None] = lambda: None,
        volume_ramp_ms: float = 10.0,
        duck_fall_ms: float = 50.0,
        duck_rise_ms: float = 300.0,
    ) -> None:
        self._channels = channels
        self._routes = tuple(routes)
        self._rate = sample_rate
        self._on_events = on_events
        self._on_command = on_command
        self._duck_fall = frames_of_ms(duck_fall_ms, sample_rate)
        self._duck_rise = frames_of_ms(duck_rise_ms, sample_rate)
        volume_ramp = frames_of_ms(volume_ramp_ms, sample_rate)
        self._master = GainRamp(1.0, rise_frames=volume_ramp, fall_frames=volume_ramp)
        self._volumes = {
            route.output: GainRamp(1.0, rise_frames=volume_ramp, fall_frames=volume_ramp)
            for route in self._routes
        }
        self._ducks: dict[tuple[int, str], GainRamp] = {}
        self._commands: deque[Callable[[], None]] = deque()
        self._pending: list[_Voice] = []
        self._cancelled: list[_Voice] = []
        self._playing: list[_Voice] = []
        self._silence = np.zeros((0, channels), dtype=np.float32)

    # --- commands (any thread) ------------------------------------------------------

    def add(
        self,
        tag: VoiceTag,
        source: SampleSource,
        *,
        gain: float,
        priority: int,
        at_local_us: int | None,
        fallback: Fallback | None = None,
    ) -> None:
        """Start a voice on the frame heard at a local time (None: as soon as possible).

        A time already past starts it at once; its start event tells when it really began.
        If its source runs dry while no stop is under way, `fallback` starts on that frame.
        """
        voice = _Voice(tag, source, gain, priority, at_local_us, fallback=fallback)
        self._submit(lambda: self._pending.append(voice))

    def stop(self, select: VoiceFilter, *, at_local_us: int | None, fade_ms: float) -> None:
        """Fade out the selected voices from a local time (None: now), then remove them.

        Fades last at least `MIN_FADE_MS`. A voice that would start only after the stop
        never starts.
        """
        stop = _Stop(at_local_us, fade_frames(fade_ms, self._rate))
        self._submit(lambda: self._apply_stop(select, stop))

    def cancel_pending(self, select: VoiceFilter) -> None:
        """Forget the selected voices that have not started yet."""
        self._submit(lambda: self._apply_cancel(select))

    def set_volume(self, output: int | None, volume: float, *, muted: bool) -> None:
        """Set one output's volume (None: the device's master volume), ramped."""
        ramp = self._master if output is None else self._volumes[output]
        target = 0.0 if muted else volume
        self._submit(lambda: setattr(ramp, "target", target))

    def _submit(self, command: Callable[[], None]) -> None:
        self._commands.append(command)
        self._on_command()

    def idle(self) -> bool:
        """True when nothing plays, waits or is about to: every block would be silence."""
        return not (self._commands or self._pending or self._playing or self._cancelled)

    def _apply_stop(self, select: VoiceFilter, stop: _Stop) -> None:
        for voice in self._pending + self._playing:
            if voice.fade_start is None and select(voice.tag):
                voice.stop = stop

    def _apply_cancel(self, select: VoiceFilter) -> None:
        self._cancelled += [v for v in self._pending if select(v.tag)]
        self._pending = [v for v in self._pending if not select(v.tag)]

    # --- rendering (the output's thread) --------------------------------------------

    def render(self, frame: int, local_us: int, frames: int) -> Samples:
        """The device's next block: `frames` frames from `frame`, heard from `local_us`.

        The returned array may be shared; callers must not write to it.
        """
        while self._commands:
            self._commands.popleft()()
        block = _Block(frame, local_us, frames, self._rate)
        self._place(block)
        out = self._mix(block) if self._playing else self._idle(frames)
        if block.events:
            self._on_events(block.events)
        return out

    def _place(self, block: _Block) -> None:
        """Start the pending voices due in this block and begin the fades due in it."""
        for voice in self._cancelled:
            block.note(VoiceChange.CANCEL, voice, block.frame)
        self._cancelled = []
        waiting: list[_Voice] = []
        for voice in self._pending:
            start = max(block.frame_at(voice.start_local_us), block.frame)
            if voice.stop is not None and block.frame_at(voice.stop.at_local_us) <= start:
                block.note(VoiceChange.CANCEL, voice, block.frame)
            elif start < block.end:
                voice.start_frame = start
                self._playing.append(voice)
                block.note(VoiceChange.START, voice, start)
            else:
                waiting.append(voice)
        self._pending = waiting
        for voice in self._playing:
            if voice.stop is not None and voice.fade_start is None:
                fade_start = block.frame_at(voice.stop.at_local_us)
                if fade_start < block.end:
                    voice.fade_start = max(fade_start, voice.start_frame, block.frame)

    def _idle(self, frames: int) -> Samples:
        """Nothing plays: settle every gain where it is headed and hand out silence."""
        self._master.jump()
        for ramp in self._volumes.values():
            ramp.jump()
        self._ducks.clear()
        if len(self._silence) != frames:
            self._silence = np.zeros((frames, self._channels), dtype=np.float32)
        return self._silence

    def _mix(self, block: _Block) -> Samples:
        out = np.zeros((block.frames, self._channels), dtype=np.float32)
        finished: set[int] = set()
        heard: set[tuple[int, str]] = set()
        for route in self._routes:
            voices = [v for v in self._playing if v.tag.output == route.output]
            if voices:
                mix = self._mix_output(route.output, voices, block, finished, heard)
                _scale(mix, self._volumes[route.output].block(block.frames))
                _route(out, mix, route.channels)
        for key in self._ducks.keys() - heard:
            del self._ducks[key]
        self._playing = [v for v in self._playing if id(v) not in finished]
        _scale(out, self._master.block(block.frames))
        soft_clip(out)
        return out

    def _mix_output(
        self,
        output: int,
        voices: list[_Voice],
        block: _Block,
        finished: set[int],
        heard: set[tuple[int, str]],
    ) -> Samples:
        """One output's voices, each bus ducked while a higher priority plays here.

        A fallback that takes over from a voice is appended to `voices` and so is rendered
        in this same block, from the frame its predecessor ended on. Only the voices still
        playing at the block's end set the priority that ducks the others.
        """
        buses: dict[str, Samples] = {}
        priorities: dict[str, int] = {}
        for voice in voices:
            bus = voice.tag.bus
            if bus not in buses:
                buses[bus] = np.zeros((block.frames, 2), dtype=np.float32)
            priorities[bus] = max(priorities.get(bus, 0), voice.priority)
            end = self._render_voice(voice, buses[bus], block)
            if end is not None:
                finished.add(id(voice))
                successor = self._hand_over(voice, end, block)
                if successor is not None:
                    voices.append(successor)
        top = max((v.priority for v in voices if id(v) not in finished), default=0)
        mix = np.zeros((block.frames, 2), dtype=np.float32)
        for bus, bus_mix in buses.items():
            _scale(bus_mix, self._duck(output, bus, priorities[bus], top).block(block.frames))
            mix += bus_mix
            heard.add((output, bus))
        return mix

    def _hand_over(self, voice: _Voice, end: VoiceEvent, block: _Block) -> _Voice | None:
        """Start a voice's fallback on the frame it ran dry on; None if it has none to start."""
        fallback = voice.fallback
        if end.change is not VoiceChange.DRY or fallback is None or voice.stop is not None:
            return None
        successor = _Voice(
            fallback.tag,
            fallback.source,
            fallback.gain,
            fallback.priority,
            end.local_us,
            start_frame=end.frame,
        )
        self._playing.append(successor)
        block.note(VoiceChange.FALLBACK, successor, end.frame)
        return successor

    def _duck(self, output: int, bus: str, priority: int, top: int) -> GainRamp:
        """The bus's gain on this output: ducked unless it holds the highest priority."""
        ramp = self._ducks.get((output, bus))
        target = 1.0 if priority >= top else DUCK_GAIN
        if ramp is None:
            ramp = GainRamp(target, rise_frames=self._duck_rise, fall_frames=self._duck_fall)
            self._ducks[(output, bus)] = ramp
        ramp.target = target
        return ramp

    def _render_voice(self, voice: _Voice, into: Samples, block: _Block) -> VoiceEvent | None:
        """Add a voice's samples for this block; its end event once it has finished."""
        offset = max(voice.start_frame - block.frame, 0)
        samples = voice.source.read(block.frames - offset)
        count = len(samples)
        segment = samples * np.float32(voice.gain)
        stop = voice.stop
        if voice.fade_start is not None and stop is not None:
            first = block.frame + offset
            done = np.arange(first - voice.fade_start, first - voice.fade_start + count)
            envelope = np.clip(1.0 - done / stop.fade_frames, 0.0, 1.0).astype(np.float32)
            segment *= envelope[:, np.newaxis]
            fade_end = voice.fade_start + stop.fade_frames
            if fade_end <= block.end:
                into[offset : offset + count] += segment
                return block.note(VoiceChange.STOP, voice, fade_end)
        into[offset : offset + count] += segment
        if count < block.frames - offset:
            change = VoiceChange.DRY if voice.source.ran_dry else VoiceChange.END
            return block.note(change, voice, block.frame + offset + count)
        return None


def _route(out: Samples, mix: Samples, channels: tuple[int, ...]) -> None:
    """Add an output's stereo mix to its device channels; one channel gets (L + R) / 2."""
    if len(channels) == 1:
        out[:, channels[0]] += mix.mean(axis=1)
    else:
        out[:, channels[0]] += mix[:, 0]
        out[:, channels[1]] += mix[:, 1]
