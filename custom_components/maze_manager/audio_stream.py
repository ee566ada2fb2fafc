"""One sound streamed to several satellites: decoded once, encoded once per bitrate, fanned out.

The sound is decoded with PyAV off the event loop into 48 kHz stereo PCM, encoded to Opus
in 20 ms packets stamped with venue-clock times, and sent to every target satellite's
lane in bursts of a fifth of a second (one AUDIO_BURST, encoded once per bitrate). Every
target plays the first packet at the same venue time.

Each lane (one satellite) has its own queue, written with the link's bulk path, so a slow
satellite never holds up another or a trigger. A lane whose queue grows steps down the
bitrate ladder, and climbs back after a calm spell; a lane that falls a second behind is
dropped (its stream ended at once, cleanly) and rejoins as a fresh stream at the lowest
step when its link has drained. Each bitrate in use is encoded once, whatever the number
of lanes on it.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from homeassistant.core import HomeAssistant

from . import link
from .const import DOMAIN
from .link.opus import OPUS_PACKET_FRAMES, OPUS_PACKET_US, OPUS_RATE, OpusEncoder
from .satellites import SatelliteDevice

if TYPE_CHECKING:
    import av
    import numpy as np
    from numpy.typing import NDArray

    Pcm = NDArray[np.float32]

_LOGGER = logging.getLogger(__name__)

BITRATE_LADDER: Final = (128_000, 64_000, 32_000, 16_000)
"""Opus stereo bitrates, best first. 128 kbps is transparent for music, 64 kbps still good
music, 32 kbps clear speech and ambience, 16 kbps the floor where speech stays clear. Each
step halves the bytes, so one step answers a link that carries about half what it should."""
TICK_S: Final = 0.2
"""How often a stream encodes the next packets and reviews its lanes: each satellite gets
one burst of 200 ms five times a second, well inside the 600 ms it holds ahead."""
AHEAD_US: Final = 600_000
"""How far ahead of playback packets are sent: rides out a Wi-Fi stall of half a second."""
FIRST_MARGIN_US: Final = 30_000
"""Extra lead of a stream over a trigger: the first packets are larger than a trigger."""
STEP_DOWN_BACKLOG_US: Final = 200_000
DROP_BACKLOG_US: Final = 1_000_000
CALM_BACKLOG_US: Final = 60_000
STEP_UP_AFTER_S: Final = 5.0
STEP_HOLD_S: Final = 1.0
"""A lane keeps a new step at least this long before it moves again."""
DECODE_CHUNK_FRAMES: Final = OPUS_RATE // 2
STREAM_BUS: Final = "fx"
EVENT_STREAM_FAILED: Final = f"{DOMAIN}_stream_failed"
_stream_ids = itertools.cycle(range(1, 0x10000))


class StreamDecodeError(Exception):
    """The sound cannot be decoded; the text says why."""


def decoded_pcm(data: bytes) -> Iterator[Pcm]:
    """Blocks of 48 kHz stereo float32 PCM, shape (frames, 2); run it off the event loop.

    When decoding fails part-way, everything decoded before the failure is yielded
    first, then StreamDecodeError is raised: a broken file plays up to where it breaks.
    """
    import av  # noqa: PLC0415 - PyAV is large; only streams need it
    import av.error  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    pending: list[Pcm] = []
    size = 0
    failure: StreamDecodeError | None = None
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise StreamDecodeError("the file holds no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="stereo", rate=OPUS_RATE)
            try:
                for frame in container.decode(stream):
                    for out in resampler.resample(frame):
                        pending.append(
                            np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1, 2)
                        )
                        size += len(pending[-1])
                    if size >= DECODE_CHUNK_FRAMES:
                        yield np.concatenate(pending)
                        pending, size = [], 0
            except av.error.FFmpegError as err:
                failure = StreamDecodeError(f"FFmpeg cannot decode it: {err.strerror}")
            pending += [_stereo(out) for out in resampler.resample(None)]
    except av.error.FFmpegError as err:
        raise StreamDecodeError(f"FFmpeg cannot decode it: {err.strerror}") from err
    if pending:
        yield np.concatenate(pending)
    if failure is not None:
        raise failure


def _stereo(frame: av.AudioFrame) -> Pcm:
    """A packed float stereo frame as an array of shape (frames, 2)."""
    import numpy as np  # noqa: PLC0415

    return np.asarray(frame.to_ndarray(), dtype=np.float32).reshape(-1, 2)


def probe_duration_s(data: bytes) -> float | None:
    """The sound's length as its container states it, if it does."""
    import av  # noqa: PLC0415
    import av.error  # noqa: PLC0415

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if container.duration:
                return float(container.duration) / 1_000_000
    except av.error.FFmpegError:
        return None
    return None


class PcmSource:
    """The decoded sound, read in 20 ms packets; loops restart the decoder on the same bytes."""

    def __init__(self, data: bytes, *, loop: bool) -> None:
        self._data = data
        self._loop = loop
        self._blocks = decoded_pcm(data)
        self._pending: list[Pcm] = []
        self._size = 0
        self._failure: StreamDecodeError | None = None
        self.ended = False

    def read_packets(self, count: int) -> Pcm | None:
        """Up to `count` whole packets of PCM (the last one padded); None once it has ended.

        A decoding failure is raised only once the sound decoded before it has been read.
        """
        import numpy as np  # noqa: PLC0415

        if self._failure is not None and not self._size:
            raise self._failure
        wanted = count * OPUS_PACKET_FRAMES
        while self._size < wanted and not self.ended and self._failure is None:
            try:
                block = next(self._blocks, None)
            except StreamDecodeError as err:
                self._failure = err
                break
            if block is None:
                if not self._loop:
                    self.ended = True
                    break
                self._blocks = decoded_pcm(self._data)
                continue
            self._pending.append(block)
            self._size += len(block)
        if not self._size:
            return None
        pcm = np.concatenate(self._pending)
        taken, rest = pcm[:wanted], pcm[wanted:]
        self._pending, self._size = ([rest], len(rest)) if len(rest) else ([], 0)
        if len(taken) % OPUS_PACKET_FRAMES:
            padding = OPUS_PACKET_FRAMES - len(taken) % OPUS_PACKET_FRAMES
            taken = np.concatenate([taken, np.zeros((padding, 2), dtype=np.float32)])
        return taken


@dataclass(frozen=True, slots=True)
class StreamTarget:
    """Some outputs of one satellite that a stream plays on."""

    device: SatelliteDevice
    output_mask: int


@dataclass(frozen=True, slots=True)
class StreamOptions:
    """How a stream plays: its level, bus, priority, fallback cue and title."""

    gain_permille: int = link.UNITY_GAIN_PERMILLE
    bus: str = STREAM_BUS
    priority: int = 0
    fallback_cue: int = 0
    title: str = ""
    loop: bool = False


@dataclass(frozen=True, slots=True)
class Burst:
    """Consecutive frames of one lane, encoded as one AUDIO_BURST."""

    last_us: int
    """When the last frame's sound starts: past that, the whole burst is too late."""
    frames: int
    data: bytes


@dataclass
class Lane:
    """One satellite's share of a stream: its queue, its bitrate step and its stream id."""

    target: StreamTarget
    stream_id: int
    step: int = 0
    queue: deque[Burst] = field(default_factory=deque)
    """Bursts of frames waiting to be written."""
    queued_frames: int = 0
    next_pts_frames: int = 0
    dropped: bool = False
    lost: bool = False
    changed_at: float = 0.0
    calm_since: float = 0.0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    frames_sent: int = 0
    bytes_sent: int = 0

    @property
    def backlog_us(self) -> int:
        """How much sound waits in this lane's queue."""
        return self.queued_frames * OPUS_PACKET_US

    def push(self, burst: Burst) -> None:
        """Queue a burst for the writer."""
        self.queue.append(burst)
        self.queued_frames += burst.frames

    def pop(self) -> Burst:
        """The next burst to write."""
        burst = self.queue.popleft()
        self.queued_frames -= burst.frames
        return burst

    def clear(self) -> None:
        """Forget what waits (the lane stops or is dropped)."""
        self.queue.clear()
        self.queued_frames = 0


class AudioStream:
    """One sound playing on some satellites, from one venue time."""

    def __init__(
        self,
        hass: HomeAssistant,
        source: PcmSource,
        targets: list[StreamTarget],
        options: StreamOptions,
        *,
        duration_s: float | None,
    ) -> None:
        self.hass = hass
        self.options = options
        self.duration_s = duration_s
        stream_id = next(_stream_ids)  # ids are per satellite: every lane starts on one
        self.lanes = [Lane(target, stream_id) for target in targets]
        self.start_us = 0
        self.end_us: int | None = None
        """Where the sound ends, once it is all encoded."""
        self.failure: str | None = None
        self.done = asyncio.Event()
        self._source = source
        self._encoders: dict[int, tuple[OpusEncoder, int]] = {}
        self._position = 0
        """Frames of the sound encoded so far."""
        self._tasks: list[asyncio.Task[None]] = []
        self._listeners: list[Callable[[], None]] = []

    # --- lifecycle --------------------------------------------------------------------

    async def async_start(self, lead_us: int, at_us: int | None = None) -> None:
        """Encode the first packets, pick the start time and start every lane.

        The start is `at_us` when that leaves the lead, else now plus the lead and a
        margin for the first packets, which are larger than a trigger.
        """
        first = await self._async_encode(AHEAD_US // OPUS_PACKET_US)
        if first is None:
            raise StreamDecodeError("the sound holds no samples")
        earliest = link.venue_clock_us() + lead_us + FIRST_MARGIN_US
        self.start_us = max(at_us or 0, earliest)
        for lane in self.lanes:
            await self._open_lane(lane, self.start_us)
        self._deliver(first)
        background = self.hass.async_create_background_task
        self._tasks = [
            background(self._write_lane(lane), f"maze stream {lane.stream_id}")
            for lane in self.lanes
        ]
        self._tasks.append(background(self._produce(), "maze stream producer"))

    @property
    def position_s(self) -> float:
        """Seconds of the sound heard so far (0 before the start)."""
        return max(0.0, (link.venue_clock_us() - self.start_us) / 1_000_000)

    @property
    def playing(self) -> bool:
        """Whether the stream still sends or plays."""
        return not self.done.is_set()

    def add_listener(self, update: Callable[[], None]) -> Callable[[], None]:
        """Call `update` when the stream ends; returns the remover."""
        self._listeners.append(update)
        return lambda: self._listeners.remove(update)

    async def async_stop(self, fade_ms: int) -> None:
        """End the stream on every satellite now, fading over fade_ms."""
        if self.done.is_set():
            return
        at_us = link.venue_clock_us() + max(
            lane.target.device.needed_lead_us for lane in self.lanes
        )
        for lane in self.lanes:
            lane.clear()
            if not lane.lost and not lane.dropped:
                await lane.target.device.link.send(link.StreamEnd(lane.stream_id, at_us, fade_ms))
        self._finish()

    def _finish(self) -> None:
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        if not self.done.is_set():
            self.done.set()
            for update in list(self._listeners):
                update()

    # --- producing --------------------------------------------------------------------

    async def _produce(self) -> None:
        """Keep every lane AHEAD_US ahead of playback until the sound ends."""
        try:
            while True:
                await asyncio.sleep(TICK_S)
                self._review_lanes(time.monotonic())
                ahead_us = self.start_us + self._position * 1_000_000 // OPUS_RATE
                missing = (link.venue_clock_us() + AHEAD_US - ahead_us) // OPUS_PACKET_US
                if missing <= 0:
                    continue
                packets = await self._async_encode(int(missing))
                if packets is None:
                    break
                self._deliver(packets)
            await self._end_lanes()
        except StreamDecodeError as err:
            await self._fail(str(err))
        except asyncio.CancelledError:
            raise
        except Exception as err:
            _LOGGER.exception("Stream %s failed", self.options.title)
            await self._fail(str(err))

    async def _async_encode(self, count: int) -> dict[int, list[tuple[int, bytes]]] | None:
        """The next `count` packets at every bitrate in use, keyed by ladder step."""
        steps = {lane.step for lane in self.lanes if not lane.lost}
        return await self.hass.async_add_executor_job(self._encode, count, steps or {0})

    def _encode(self, count: int, steps: set[int]) -> dict[int, list[tuple[int, bytes]]] | None:
        """Read and encode PCM (in the executor): once per step in use."""
        pcm = self._source.read_packets(count)
        if pcm is None:
            return None
        for step in list(self._encoders):
            if step not in steps:
                del self._encoders[step]
        packets: dict[int, list[tuple[int, bytes]]] = {}
        for step in steps:
            if step not in self._encoders:
                self._encoders[step] = (OpusEncoder(2, BITRATE_LADDER[step]), self._position)
            encoder, origin = self._encoders[step]
            packets[step] = [(origin + pts, payload) for pts, payload in encoder.encode(pcm)]
        self._position += len(pcm)
        if self._source.ended:
            for step, (encoder, origin) in self._encoders.items():
                packets[step] += [(origin + pts, payload) for pts, payload in encoder.flush()]
        return packets

    def _deliver(self, packets: dict[int, list[tuple[int, bytes]]]) -> None:
        """Queue each lane, as bursts, the packets of its step that continue where it left off.

        A burst is encoded once for every lane of the same step, stream id and first packet
        (its seq is the first packet's place in the sound, the same for every satellite).
        """
        bursts: dict[tuple[int, int, int], list[Burst]] = {}
        for lane in self.lanes:
            if lane.lost or lane.dropped:
                continue
            fresh = [
                (pts, payload)
                for pts, payload in packets.get(lane.step, ())
                if pts + OPUS_PACKET_FRAMES > lane.next_pts_frames
            ]
            if not fresh:
                continue
            key = (lane.step, lane.stream_id, fresh[0][0])
            if key not in bursts:
                bursts[key] = self._bursts(lane.stream_id, fresh)
            for burst in bursts[key]:
                lane.push(burst)
            lane.next_pts_frames = fresh[-1][0] + OPUS_PACKET_FRAMES
            lane.wake.set()

    def _bursts(self, stream_id: int, packets: list[tuple[int, bytes]]) -> list[Burst]:
        """Consecutive packets as encoded AUDIO_BURSTs of at most MAX_BURST_FRAMES each."""
        bursts: list[Burst] = []
        for start in range(0, len(packets), link.MAX_BURST_FRAMES):
            chunk = packets[start : start + link.MAX_BURST_FRAMES]
            first, last = chunk[0][0], chunk[-1][0]
            seq = (first // OPUS_PACKET_FRAMES) & 0xFFFFFFFF
            message = link.AudioBurst(
                stream_id, seq, self._venue_us(first), tuple(payload for _, payload in chunk)
            )
            bursts.append(Burst(self._venue_us(last), len(chunk), link.encode(message)))
        return bursts

    def _venue_us(self, frames: int) -> int:
        return self.start_us + (frames * 1_000_000 + OPUS_RATE // 2) // OPUS_RATE

    async def _end_lanes(self) -> None:
        """The sound is over: each lane ends after its last packet, then the stream is done."""
        self.end_us = self._venue_us(self._position)
        for lane in self.lanes:
            lane.wake.set()
        await asyncio.gather(*self._tasks[:-1])  # every lane writer, not this producer
        delay_s = max(0.0, (self.end_us - link.venue_clock_us()) / 1_000_000)
        await asyncio.sleep(delay_s)
        self._finish()

    async def _fail(self, reason: str) -> None:
        """The source failed mid-way: end cleanly where the sound stops, or play the fallback."""
        self.failure = reason
        title = self.options.title or "A stream"
        _LOGGER.warning("Stream %s failed mid-way: %s", title, reason)
        self.hass.bus.async_fire(
            EVENT_STREAM_FAILED,
            {
                "title": title,
                "reason": reason,
                "satellites": [lane.target.device.name for lane in self.lanes],
                "fallback": bool(self.options.fallback_cue),
            },
        )
        end_us = self._venue_us(self._position)
        for lane in self.lanes:
            if lane.lost or lane.dropped:
                continue
            device = lane.target.device
            await device.link.send(link.StreamEnd(lane.stream_id, end_us, 50))
            if self.options.fallback_cue:
                # As the satellite's own fallback does: the cue's table gain, loop and bus.
                await device.link.send(
                    link.Play(
                        self.options.fallback_cue,
                        device.link.next_seq(),
                        end_us,
                        lane.target.output_mask,
                        link.UNITY_GAIN_PERMILLE,
                        link.PlayFlags.NONE,
                    )
                )
        self._finish()

    # --- lanes ------------------------------------------------------------------------

    async def _open_lane(self, lane: Lane, start_us: int) -> None:
        """Tell the satellite a stream starts at start_us on the lane's outputs."""
        options = self.options
        sent = await lane.target.device.link.send(
            link.StreamStart(
                lane.stream_id,
                "opus",
                OPUS_RATE,
                2,
                start_us,
                lane.target.output_mask,
                options.gain_permille,
                options.bus,
                options.priority,
                options.fallback_cue,
            )
        )
        lane.lost = not sent
        lane.changed_at = lane.calm_since = time.monotonic()

    async def _write_lane(self, lane: Lane) -> None:
        """Write the lane's packets in order with the link's bulk path; late ones are skipped."""
        link_ = lane.target.device.link
        while True:
            if not lane.queue:
                if self.end_us is not None:
                    if not lane.dropped and not lane.lost:
                        await link_.send(link.StreamEnd(lane.stream_id, self.end_us, 0))
                    return
                lane.wake.clear()
                await lane.wake.wait()
                continue
            burst = lane.pop()
            if burst.last_us + OPUS_PACKET_US < link.venue_clock_us():
                continue  # its moment has passed: the satellite would drop it
            if not await link_.send_bulk(burst.data):
                lane.lost = True
                lane.clear()
                _LOGGER.info(
                    "Stream lost %s; it falls back there and rejoins once back",
                    lane.target.device.name,
                )
                continue
            lane.frames_sent += burst.frames
            lane.bytes_sent += len(burst.data)

    def _review_lanes(self, now: float) -> None:
        """Move lanes along the ladder by their backlog; drop and rejoin the hopeless."""
        for lane in self.lanes:
            if lane.dropped or lane.lost:
                link_ = lane.target.device.link
                if not lane.queue and link_.drained and link_.synchronised:
                    self.hass.async_create_background_task(
                        self._rejoin(lane), f"maze stream rejoin {lane.stream_id}", eager_start=True
                    )
                continue
            backlog = lane.backlog_us + self._link_backlog_us(lane)
            if backlog > DROP_BACKLOG_US:
                self._drop(lane)
            elif backlog > STEP_DOWN_BACKLOG_US:
                if lane.step < len(BITRATE_LADDER) - 1 and now - lane.changed_at > STEP_HOLD_S:
                    lane.step += 1
                    lane.changed_at = lane.calm_since = now
                    _LOGGER.debug(
                        "%s steps down to %d bps", lane.target.device.name, self.bitrate(lane)
                    )
            elif backlog > CALM_BACKLOG_US:
                lane.calm_since = now
            elif lane.step > 0 and now - lane.calm_since > STEP_UP_AFTER_S:
                lane.step -= 1
                lane.changed_at = lane.calm_since = now

    def _link_backlog_us(self, lane: Lane) -> int:
        """The sound the lane's link holds unacknowledged, at the lane's step.

        Without it a lane would see only its own queue: the socket's buffers hold a second
        of the top step before the queue grows, and the satellite runs dry first.
        """
        packet_bytes = self.bitrate(lane) * OPUS_PACKET_US // 8_000_000 + link.AUDIO_HEADER_BYTES
        return lane.target.device.link.queued_bytes * OPUS_PACKET_US // packet_bytes

    def _drop(self, lane: Lane) -> None:
        """A lane a second behind: end its stream now; it rejoins once its link drains."""
        lane.clear()
        lane.dropped = True
        device = lane.target.device
        _LOGGER.warning("%s cannot keep up with the stream; it rejoins when it can", device.name)
        at_us = link.venue_clock_us() + device.needed_lead_us
        self.hass.async_create_background_task(
            device.link.send(link.StreamEnd(lane.stream_id, at_us, 20)),
            f"maze stream drop {lane.stream_id}",
            eager_start=True,
        )

    async def _rejoin(self, lane: Lane) -> None:
        """Start the lane again as a new stream from the next packet, at the lowest step.

        A lane dropped for falling behind, or whose link dropped and came back, rejoins
        this way; the satellite played its fallback, if any, in between.
        """
        if not lane.dropped and not lane.lost:
            return
        lane.dropped = lane.lost = False
        lane.step = len(BITRATE_LADDER) - 1
        lane.stream_id = next(_stream_ids)
        start_frames = self._position
        lane.next_pts_frames = start_frames
        await self._open_lane(lane, self._venue_us(start_frames))
        _LOGGER.info("%s rejoins the stream at %d bps", lane.target.device.name, self.bitrate(lane))

    @staticmethod
    def bitrate(lane: Lane) -> int:
        """The bitrate a lane receives."""
        return BITRATE_LADDER[lane.step]
