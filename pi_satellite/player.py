"""The satellite's player: maze-link playback commands in, sound on the configured devices out.

Every device gets a `Mixer` and an `Output`; every logical output (a room's speaker) is a
route to some channels of one device. Commands arrive on the asyncio thread, venue times
are turned into local times with the session's venue clock mapping, and the mixers place
sound on exact frames from their own rendering threads. What they report back (starts,
stops) returns to the asyncio thread, which writes play records and calls `on_started`.

A play or stream on several outputs becomes one voice per output, so each output can be
stopped on its own. Playing a cue that already plays starts another voice: both play.
A stream ducks lower buses by its own priority. When it runs dry before its end (its
source failed, or the link is gone), it fades out where its sound stops and its fallback
cue, if it names a loaded one, starts on that frame of each output.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field

from . import link
from .clock import LocalClock
from .config import SatelliteConfig
from .decode import OpusPacketDecoder
from .engine import (
    AMBIENT_BUS,
    CueSource,
    Fallback,
    Mixer,
    Route,
    Samples,
    VoiceChange,
    VoiceEvent,
    VoiceFilter,
    VoiceTag,
    channel_indices,
    fade_frames,
    frames_of_ms,
)
from .link.opus import OPUS_PACKET_FRAMES, OPUS_RATE
from .outputs import KeptPcm, Output, PlaybackRecord, open_output
from .streams import JitterBuffer, StreamReader

_LOGGER = logging.getLogger(__name__)

StartedCallback = Callable[[link.Started], None]
VenueMapping = Callable[[int], int]

_US = 1_000_000
_STREAM_FADE_MS = 2.5
"""Fade at the edges of a stream's gaps."""
_STREAM_TOLERANCE_MS = 2.0
"""How far a stream packet may sit from where the previous one ended and still join it."""
_STREAM_GRACE_MS = 250
"""How long a stream may starve, nothing buffered, before it counts as run dry."""
_REPLACED_STREAM_FADE_MS = 20
_MAX_STATUS_CUES = 256
_MAX_STATUS_STREAMS = 64
_MAX_BUFFER_MS = 0xFFFF
_EVENT_NAMES = {link.StartKind.CUE: "cue", link.StartKind.STREAM: "stream"}
_STARTS = (VoiceChange.START, VoiceChange.FALLBACK)
_REASONS = {
    VoiceChange.END: "ended",
    VoiceChange.STOP: "stopped",
    VoiceChange.CANCEL: "cancelled",
    VoiceChange.DRY: "ran dry",
    VoiceChange.FALLBACK: "fallback",
}


class PlayerError(Exception):
    """A command the player refuses; `code` is the maze-link error to report."""

    def __init__(self, code: link.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class PlayerStatus:
    """What plays now, and how the streams fare (counters since the player started)."""

    playing: tuple[link.PlayingCue, ...]
    streams: tuple[int, ...]
    buffer_ms: int
    underruns: int
    late_frames: int


@dataclass(frozen=True, slots=True)
class _Cue:
    entry: link.CueEntry
    pcm: Samples


@dataclass(slots=True, eq=False)
class _Device:
    output: Output
    mixer: Mixer
    channels: dict[int, tuple[int, ...]]
    """The device channels of each logical output it serves."""


@dataclass(slots=True, eq=False)
class _Stream:
    """One stream's buffers and readers (one of each per output) and its voices still on.

    `fallback` is the serial its fallback cue's voices share, None without one.
    """

    start_us: int
    serial: int
    fallback_cue: int
    fallback: int | None
    buffers: list[JitterBuffer] = field(default_factory=list)
    readers: list[StreamReader] = field(default_factory=list)
    voices: int = 0
    ran_dry: bool = False

    @property
    def underruns(self) -> int:
        return max((reader.underruns for reader in self.readers), default=0)

    @property
    def late_frames(self) -> int:
        return max((buffer.late_frames for buffer in self.buffers), default=0)


class Player:
    """Plays cues and streams on the satellite's outputs at venue times."""

    def __init__(
        self,
        config: SatelliteConfig,
        clock: LocalClock,
        *,
        on_started: StartedCallback = lambda started: None,
    ) -> None:
        self._config = config
        self._rate = config.sample_rate
        self._on_started = on_started
        self._devices: list[_Device] = []
        self._routes: dict[int, _Device] = {}
        self._build_devices(clock)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._to_local: VenueMapping | None = None
        self._to_venue: VenueMapping | None = None
        self._cues: dict[int, _Cue] = {}
        self._cue_names: dict[str, int] = {}
        self._serials = itertools.count(1)
        self._awaiting: dict[int, int] = {}
        self._playing: dict[tuple[int, int], VoiceTag] = {}
        self._streams: dict[int, _Stream] = {}
        self._retired_underruns = 0
        self._retired_late_frames = 0

    def _build_devices(self, clock: LocalClock) -> None:
        names = {device.name for device in self._config.devices}
        for output_config in self._config.outputs:
            if output_config.device not in names:
                raise ValueError(
                    f"output {output_config.name} names no device {output_config.device}"
                )
        for device in self._config.devices:
            outputs = [o for o in self._config.outputs if o.device == device.name]
            routes = [Route(o.index, channel_indices(o.channels, device.channels)) for o in outputs]
            output = open_output(
                device, clock, sample_rate=self._rate, block_frames=self._config.block_frames
            )
            mixer = Mixer(
                channels=device.channels,
                routes=routes,
                sample_rate=self._rate,
                on_events=self._forwarder(output),
                on_command=output.wake,
            )
            entry = _Device(output, mixer, {route.output: route.channels for route in routes})
            self._devices.append(entry)
            self._routes.update({o.index: entry for o in outputs})

    # --- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        """Open every device and start rendering."""
        self._loop = asyncio.get_running_loop()
        for device in self._devices:
            device.output.start(device.mixer)

    async def close(self) -> None:
        """Stop every device and finalise files; safe to call twice."""
        self._loop = None
        for device in self._devices:
            await asyncio.to_thread(device.output.close)

    @property
    def outputs(self) -> tuple[link.OutputInfo, ...]:
        """The logical outputs for the hello, with their device's configured latency."""
        latency = {device.name: device.latency_us for device in self._config.devices}
        return tuple(
            link.OutputInfo(o.index, o.name, o.channels, latency[o.device])
            for o in self._config.outputs
        )

    # --- venue clock and cue table --------------------------------------------------

    def set_venue_mapping(
        self, to_local: VenueMapping | None, to_venue: VenueMapping | None
    ) -> None:
        """Take the venue clock mapping; None means not synchronised.

        Without a mapping, voices waiting for a venue time are dropped (they cannot be
        placed); what already plays goes on, and local plays still work.
        """
        self._to_local = to_local
        self._to_venue = to_venue
        if to_local is None:
            for device in self._devices:
                device.mixer.cancel_pending(lambda tag: tag.scheduled_us is not None)

    def load_cues(self, entries: Sequence[link.CueEntry], pcm: Mapping[bytes, Samples]) -> None:
        """Replace the cue table. Cues whose asset has no decoded samples stay unknown.

        Voices already playing keep their samples.
        """
        self._cues = {e.cue_id: _Cue(e, pcm[e.sha256]) for e in entries if e.sha256 in pcm}
        self._cue_names = {cue.entry.name: cue_id for cue_id, cue in self._cues.items()}

    def cue_id_by_name(self, name: str) -> int | None:
        """The id of a playable cue, by its name in the cue table."""
        return self._cue_names.get(name)

    # --- cues -----------------------------------------------------------------------

    def play(self, message: link.Play) -> None:
        """Start a cue so its first sample is heard at the message's venue time."""
        cue = self._cue(message.cue_id)
        to_local = self._mapping()
        loop = cue.entry.loop
        if message.flags & link.PlayFlags.LOOP:
            loop = True
        elif message.flags & link.PlayFlags.NO_LOOP:
            loop = False
        self._start_cue(
            cue,
            seq=message.seq,
            output_mask=message.output_mask,
            gain=cue.entry.gain * message.gain_permille / link.UNITY_GAIN_PERMILLE,
            loop=loop,
            scheduled_us=message.start_us,
            at_local_us=to_local(message.start_us),
        )

    def play_now(self, cue_id: int, output_mask: int = link.ALL_OUTPUTS) -> None:
        """Start a cue as soon as possible, without a venue clock (the local fallback)."""
        cue = self._cue(cue_id)
        self._start_cue(
            cue,
            seq=0,
            output_mask=output_mask,
            gain=cue.entry.gain,
            loop=cue.entry.loop,
            scheduled_us=None,
            at_local_us=None,
        )

    def stop(self, message: link.Stop) -> None:
        """Fade out one cue (every cue for cue id 0) on some outputs from a venue time."""

        def select(tag: VoiceTag) -> bool:
            return (
                tag.kind is link.StartKind.CUE
                and message.cue_id in (0, tag.ref_id)
                and bool(message.output_mask >> tag.output & 1)
            )

        self._stop(select, message.at_us, message.fade_ms)

    def stop_all(
        self, fade_ms: int = 0, *, keep_ambient: bool = False, keep_streams: bool = False
    ) -> None:
        """Fade out every cue and stream now, or spare the ambient bus, or the streams."""

        def select(tag: VoiceTag) -> bool:
            spared = keep_streams and tag.kind is link.StartKind.STREAM
            return not (spared or (keep_ambient and tag.bus == AMBIENT_BUS))

        self._stop(select, 0, fade_ms)

    def set_volume(self, message: link.Volume) -> None:
        """Set an output's volume and mute, or the master's (output 255)."""
        if message.output == link.MASTER_OUTPUT:
            for device in self._devices:
                device.mixer.set_volume(None, message.volume, muted=message.muted)
            return
        routed = self._routes.get(message.output)
        if routed is None:
            raise PlayerError(link.ErrorCode.BAD_MESSAGE, f"there is no output {message.output}")
        routed.mixer.set_volume(message.output, message.volume, muted=message.muted)

    def _cue(self, cue_id: int) -> _Cue:
        cue = self._cues.get(cue_id)
        if cue is None:
            raise PlayerError(link.ErrorCode.UNKNOWN_CUE, f"cue {cue_id} is not in the cue table")
        return cue

    def _mapping(self) -> VenueMapping:
        if self._to_local is None:
            raise PlayerError(
                link.ErrorCode.NOT_SYNCHRONISED, "the venue clock is not synchronised yet"
            )
        return self._to_local

    def _start_cue(
        self,
        cue: _Cue,
        *,
        seq: int,
        output_mask: int,
        gain: float,
        loop: bool,
        scheduled_us: int | None,
        at_local_us: int | None,
    ) -> None:
        serial = next(self._serials)
        targets = self._targets(output_mask)
        if targets:
            self._awaiting[serial] = len(targets)
        for output in targets:
            tag = VoiceTag(
                link.StartKind.CUE,
                cue.entry.cue_id,
                seq,
                serial,
                output,
                cue.entry.bus,
                scheduled_us,
                loop,
            )
            self._routes[output].mixer.add(
                tag,
                CueSource(cue.pcm, loop=loop),
                gain=gain,
                priority=cue.entry.priority,
                at_local_us=at_local_us,
            )

    def _targets(self, output_mask: int) -> list[int]:
        return [output for output in self._routes if output_mask >> output & 1]

    def _stop(self, select: VoiceFilter, at_us: int, fade_ms: int) -> None:
        """Stop at a venue time; time 0, or no venue clock, stops now."""
        at_local = self._to_local(at_us) if self._to_local is not None and at_us else None
        for device in self._devices:
            device.mixer.stop(select, at_local_us=at_local, fade_ms=fade_ms)

    # --- streams --------------------------------------------------------------------

    def stream_start(self, message: link.StreamStart) -> None:
        """Prepare a stream whose first sample is heard at the message's venue time."""
        if message.codec != "opus" or message.channels not in (1, 2):
            raise PlayerError(
                link.ErrorCode.BAD_MESSAGE,
                f"streams are Opus in 1 or 2 channels, not {message.codec} in {message.channels}",
            )
        to_local = self._mapping()
        old = self._streams.pop(message.stream_id, None)
        if old is not None:
            self._stop(_of_stream(old.serial), 0, _REPLACED_STREAM_FADE_MS)
            self._retire(old)
        fallback = self._cues.get(message.fallback_cue) if message.fallback_cue else None
        stream = _Stream(
            start_us=message.start_us,
            serial=next(self._serials),
            fallback_cue=message.fallback_cue,
            fallback=next(self._serials) if fallback is not None else None,
        )
        self._streams[message.stream_id] = stream
        packet_frames = OPUS_PACKET_FRAMES * self._rate // OPUS_RATE
        tolerance = frames_of_ms(_STREAM_TOLERANCE_MS, self._rate)
        grace = frames_of_ms(_STREAM_GRACE_MS, self._rate)
        for output in self._targets(message.output_mask):
            mixer = self._routes[output].mixer
            buffer = JitterBuffer(packet_frames=packet_frames, tolerance=tolerance, grace=grace)
            reader = StreamReader(
                buffer,
                OpusPacketDecoder(self._rate, message.channels),
                fade=frames_of_ms(_STREAM_FADE_MS, self._rate),
                tolerance=tolerance,
            )
            stream.buffers.append(buffer)
            stream.readers.append(reader)
            stream.voices += 1
            tag = VoiceTag(
                link.StartKind.STREAM,
                message.stream_id,
                0,
                stream.serial,
                output,
                message.bus,
                message.start_us,
                False,
            )
            mixer.add(
                tag,
                reader,
                gain=message.gain_permille / link.UNITY_GAIN_PERMILLE,
                priority=message.priority,
                at_local_us=to_local(message.start_us),
                fallback=_fallback(fallback, stream.fallback, output),
            )
        if stream.voices:
            self._awaiting[stream.serial] = stream.voices

    def stream_frame(self, message: link.AudioFrame) -> None:
        """Queue a stream's frame; frames of unknown streams are ignored."""
        self._queue_frames(message.stream_id, message.pts_us, (message.payload,))

    def stream_burst(self, message: link.AudioBurst) -> None:
        """Queue a stream's consecutive frames, 20 ms apart from pts_us on."""
        self._queue_frames(message.stream_id, message.pts_us, message.frames)

    def _queue_frames(self, stream_id: int, pts_us: int, frames: Sequence[bytes]) -> None:
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        for index, payload in enumerate(frames):
            at_us = pts_us + index * link.STREAM_FRAME_US
            offset = self._frames_between(stream.start_us, at_us)
            for buffer in stream.buffers:
                buffer.push(offset, payload)

    def stream_end(self, message: link.StreamEnd) -> None:
        """End a stream at a venue time, fading over fade_ms from there."""
        stream = self._streams.get(message.stream_id)
        if stream is None:
            return
        end: int | None = None
        if self._to_local is not None and message.at_us:
            fade = fade_frames(message.fade_ms, self._rate)
            end = self._frames_between(stream.start_us, message.at_us) + fade
        for buffer in stream.buffers:
            buffer.close(end)
        self._stop(_of_stream(stream.serial), message.at_us, message.fade_ms)

    def abandon_streams(self) -> None:
        """Home Assistant is gone: each stream plays what it holds, then runs dry."""
        for stream in self._streams.values():
            for buffer in stream.buffers:
                buffer.abandon()

    def _frames_between(self, start_us: int, at_us: int) -> int:
        return ((at_us - start_us) * self._rate + _US // 2) // _US

    def _retire(self, stream: _Stream) -> None:
        self._retired_underruns += stream.underruns
        self._retired_late_frames += stream.late_frames

    # --- status ---------------------------------------------------------------------

    def status(self) -> PlayerStatus:
        """What plays where, and the streams' buffer and counters."""
        masks: dict[int, int] = {}
        tags: dict[int, VoiceTag] = {}
        for (serial, output), tag in self._playing.items():
            masks[serial] = masks.get(serial, 0) | 1 << output
            tags[serial] = tag
        playing = tuple(
            link.PlayingCue(tags[serial].seq, tags[serial].ref_id, mask, tags[serial].loop)
            for serial, mask in masks.items()
        )
        buffered = max(
            (b.buffered_frames() for s in self._streams.values() for b in s.buffers), default=0
        )
        return PlayerStatus(
            playing=playing[:_MAX_STATUS_CUES],
            streams=tuple(sorted(self._streams))[:_MAX_STATUS_STREAMS],
            buffer_ms=min(buffered * 1000 // self._rate, _MAX_BUFFER_MS),
            underruns=self._retired_underruns + sum(s.underruns for s in self._streams.values()),
            late_frames=self._retired_late_frames
            + sum(s.late_frames for s in self._streams.values()),
        )

    def kept(self, output: int) -> KeptPcm | None:
        """What an output's null device kept of its rendering, on that output's channels."""
        device = self._routes.get(output)
        kept = device.output.kept() if device is not None else None
        if device is None or kept is None:
            return None
        return KeptPcm(kept.first_frame, kept.samples[:, device.channels[output]])

    # --- what the mixers report -----------------------------------------------------

    def _forwarder(self, output: Output) -> Callable[[list[VoiceEvent]], None]:
        """Hands a mixer's events from its rendering thread to the asyncio thread."""

        def forward(events: list[VoiceEvent]) -> None:
            loop = self._loop
            if loop is not None:
                with suppress(RuntimeError):  # the loop closed while a block rendered
                    loop.call_soon_threadsafe(self._on_voice_events, output, events)

        return forward

    def _on_voice_events(self, output: Output, events: list[VoiceEvent]) -> None:
        for event in events:
            tag = event.tag
            actual_us = self._to_venue(event.local_us) if self._to_venue is not None else None
            started = event.change in _STARTS
            output.record(
                PlaybackRecord(
                    event=f"{_EVENT_NAMES[tag.kind]}_{'start' if started else 'stop'}",
                    kind=tag.kind,
                    ref_id=tag.ref_id,
                    seq=tag.seq,
                    output=tag.output,
                    frame=event.frame,
                    local_us=event.local_us,
                    scheduled_us=tag.scheduled_us,
                    actual_us=actual_us,
                    reason=_REASONS.get(event.change),
                )
            )
            if started:
                self._voice_started(tag, actual_us)
            else:
                self._voice_ended(tag, event.change)

    def _voice_started(self, tag: VoiceTag, actual_us: int | None) -> None:
        if tag.kind is link.StartKind.CUE:
            self._playing[(tag.serial, tag.output)] = tag
        if self._awaiting.pop(tag.serial, None) is None or actual_us is None:
            return
        actual_us = max(actual_us, 0)
        scheduled_us = actual_us if tag.scheduled_us is None else tag.scheduled_us
        self._on_started(link.Started(tag.kind, tag.ref_id, tag.seq, scheduled_us, actual_us))

    def _voice_ended(self, tag: VoiceTag, change: VoiceChange) -> None:
        self._playing.pop((tag.serial, tag.output), None)
        if change is VoiceChange.CANCEL and tag.serial in self._awaiting:
            self._awaiting[tag.serial] -= 1
            if not self._awaiting[tag.serial]:
                del self._awaiting[tag.serial]
        stream = self._streams.get(tag.ref_id)
        if tag.kind is link.StartKind.STREAM and stream is not None and stream.serial == tag.serial:
            if change is VoiceChange.DRY and not stream.ran_dry:
                self._ran_dry(tag.ref_id, stream)
            stream.voices -= 1
            if not stream.voices:
                del self._streams[tag.ref_id]
                self._retire(stream)

    def _ran_dry(self, stream_id: int, stream: _Stream) -> None:
        """Note once that a stream ran dry; its fallback's first start will be reported."""
        stream.ran_dry = True
        if stream.fallback is not None:
            self._awaiting[stream.fallback] = 1
            then = f"fallback cue {stream.fallback_cue} plays from there"
        elif stream.fallback_cue:
            then = f"its fallback cue {stream.fallback_cue} is not loaded"
        else:
            then = "it names no fallback cue"
        _LOGGER.warning("Stream %d ran dry before its end and faded out; %s", stream_id, then)


def _fallback(cue: _Cue | None, serial: int | None, output: int) -> Fallback | None:
    """The fallback cue's voice on one output, taking over where its stream runs dry."""
    if cue is None or serial is None:
        return None
    entry = cue.entry
    tag = VoiceTag(link.StartKind.CUE, entry.cue_id, 0, serial, output, entry.bus, None, entry.loop)
    return Fallback(tag, CueSource(cue.pcm, loop=entry.loop), entry.gain, entry.priority)


def _of_stream(serial: int) -> VoiceFilter:
    """Selects the voices of one stream (by its serial, which outlives a replaced id)."""
    return lambda tag: tag.kind is link.StartKind.STREAM and tag.serial == serial
