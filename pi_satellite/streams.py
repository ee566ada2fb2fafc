"""Streams: timestamped Opus packets waiting in a jitter buffer, played in timeline order.

Home Assistant stamps each 20 ms packet with the venue time its first sample should be
heard. The player turns that into an offset in frames from the stream's start, so a
stream plays by position once its first frame is placed, like a cue. Packets may arrive
out of order or not at all: the buffer orders them, drops those whose moment has passed
(counted as late) and the reader fills a missing packet with silence (counted as an
underrun), fading the sound out before the gap and in after it so the gap never clicks.

A stream runs dry when no packet is buffered for a grace of continuous underrun before
its STREAM_END came (its source failed, or the link is stalling), or as soon as the
buffer empties once the link is gone: it fades out where its sound stops and ends, and
its voice reports that it ran dry so a fallback can take over on that frame.
"""

from __future__ import annotations

import heapq
import logging
import threading
from dataclasses import dataclass
from enum import Enum
from typing import Final, Protocol

import numpy as np

from .decode import StreamDecodeError
from .engine import Samples

_LOGGER = logging.getLogger(__name__)

DEFAULT_CAPACITY: Final = 1500
"""Packets a stream may hold ahead of playback: 30 s of 20 ms packets."""


class PacketDecoder(Protocol):
    """Decodes a stream's packets in playback order (see decode.OpusPacketDecoder)."""

    def decode(self, payload: bytes) -> Samples:
        """One packet's samples, shape (frames, 2)."""


class Ending(Enum):
    """Why a stream's timeline ends."""

    END = "end"
    """Its STREAM_END came: the sound ends where it said, or when the buffer empties."""
    DRY = "dry"
    """Its packets stopped coming before its STREAM_END."""


@dataclass(frozen=True, slots=True)
class Packet:
    """An encoded packet and where its first sample belongs on the stream's timeline."""

    offset: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class Gap:
    """Frames of silence on the timeline: `missing` when a packet could still have been
    there (an underrun), not when the stream was ended and holds nothing more."""

    frames: int
    missing: bool


class JitterBuffer:
    """One stream's packets, ordered by timeline offset (frames from the stream's start).

    Packets arrive on the asyncio thread and leave on the rendering thread, so every
    method holds a lock. The horizon is how far the reader has committed: a packet that
    would end before it can no longer play. A packet starting up to `tolerance` frames
    from the reader's position joins the sound before it seamlessly. Before it is closed,
    `grace` frames of underrun in a row with nothing buffered make the stream run dry.
    """

    def __init__(
        self,
        *,
        packet_frames: int,
        tolerance: int,
        grace: int,
        capacity: int = DEFAULT_CAPACITY,
    ) -> None:
        self._packet_frames = packet_frames
        self._tolerance = tolerance
        self._grace = grace
        self._capacity = capacity
        self._heap: list[tuple[int, int, bytes]] = []
        self._arrivals = 0
        self._horizon = 0
        self._end: int | None = None
        self._closed = False
        self._abandoned = False
        self._quiet_since: int | None = None
        self._lock = threading.Lock()
        self.late_frames = 0
        """Packets dropped because their moment had passed (or the buffer was full)."""

    def push(self, offset: int, payload: bytes) -> bool:
        """Queue a packet; False if it came too late to play (or overflowed) and was dropped."""
        with self._lock:
            if offset + self._packet_frames <= self._horizon or len(self._heap) >= self._capacity:
                self.late_frames += 1
                return False
            self._arrivals += 1
            heapq.heappush(self._heap, (offset, self._arrivals, payload))
            return True

    def close(self, end: int | None) -> None:
        """No packets follow: the stream ends at offset `end`, or once the buffer runs dry."""
        with self._lock:
            self._closed = True
            self._end = end

    def abandon(self) -> None:
        """No packets follow, yet the stream was not ended: it runs dry once it empties."""
        with self._lock:
            self._abandoned = True

    def next_due(self, cursor: int) -> Packet | Gap | Ending:
        """What plays from `cursor`: a packet, a gap of silence, or the end.

        Silence lasts until the next buffered packet, at most one packet's length, and
        stops where the grace runs out. Stale packets met on the way are dropped and
        counted as late.
        """
        with self._lock:
            if self._end is not None and cursor >= self._end:
                return Ending.END
            while self._heap and self._heap[0][0] + self._packet_frames <= cursor:
                heapq.heappop(self._heap)
                self.late_frames += 1
            if self._heap and self._heap[0][0] <= cursor + self._tolerance:
                offset, _, payload = heapq.heappop(self._heap)
                self._horizon = max(cursor, offset + self._packet_frames)
                self._quiet_since = None
                return Packet(offset, payload)
            if self._closed and self._end is None and not self._heap:
                return Ending.END
            if self._quiet_since is None:
                self._quiet_since = cursor
            gap = self._packet_frames
            if not (self._closed or self._heap):
                dry_at = cursor if self._abandoned else self._quiet_since + self._grace
                if cursor >= dry_at:
                    return Ending.DRY
                gap = min(gap, dry_at - cursor)
            if self._heap:
                gap = min(gap, self._heap[0][0] - cursor)
            if self._end is not None:
                gap = min(gap, self._end - cursor)
            self._horizon = cursor + gap
            return Gap(gap, missing=not self._closed or bool(self._heap))

    @property
    def end(self) -> int | None:
        """The offset the stream ends at, once known."""
        with self._lock:
            return self._end

    @property
    def packet_frames(self) -> int:
        """The nominal length of one packet."""
        return self._packet_frames

    def buffered_frames(self) -> int:
        """Frames of sound queued beyond what the reader has committed to."""
        with self._lock:
            if not self._heap:
                return 0
            last = max(offset for offset, _, _ in self._heap)
            return max(0, last + self._packet_frames - self._horizon)


class StreamReader:
    """One stream on one output: decodes packets in timeline order for the mixer.

    It reads `fade` frames ahead of what the mixer takes, so that when a packet is found
    missing the sound already handed over can still be faded out before the silence.
    """

    def __init__(
        self, buffer: JitterBuffer, decoder: PacketDecoder, *, fade: int, tolerance: int
    ) -> None:
        self._buffer = buffer
        self._decoder = decoder
        self._fade = fade
        self._tolerance = tolerance
        self._pending: Samples = np.zeros((0, 2), dtype=np.float32)
        self._cursor = 0
        self._after_gap = False
        self._ended = False
        self.ran_dry = False
        """Whether the stream ended by running dry (see `Ending.DRY`)."""
        self.underruns = 0
        """Packets that were missing (or undecodable) when their turn came, played as silence."""

    def read(self, frames: int) -> Samples:
        """The next samples; fewer than asked once the stream has ended."""
        while len(self._pending) < frames + self._fade and not self._ended:
            self._fill()
        out, self._pending = self._pending[:frames], self._pending[frames:]
        return out

    def _fill(self) -> None:
        due = self._buffer.next_due(self._cursor)
        if isinstance(due, Ending):
            if due is Ending.DRY:
                self._fade_out()
                self.ran_dry = True
            self._ended = True
        elif isinstance(due, Packet):
            self._play(due)
        else:
            self._silence(due.frames, missing=due.missing)

    def _play(self, packet: Packet) -> None:
        try:
            pcm = self._decoder.decode(packet.payload)
        except StreamDecodeError as err:
            _LOGGER.warning("stream packet at frame %d played as silence: %s", packet.offset, err)
            self._silence(self._buffer.packet_frames, missing=True)
            return
        late = self._cursor - packet.offset
        if late > self._tolerance:
            pcm = pcm[late:]
        end = self._buffer.end
        if end is not None:
            pcm = pcm[: end - self._cursor]
        if self._after_gap:
            ramp = min(self._fade, len(pcm))
            pcm[:ramp] *= np.linspace(0.0, 1.0, ramp, dtype=np.float32)[:, np.newaxis]
        self._after_gap = False
        self._append(pcm)

    def _silence(self, frames: int, *, missing: bool) -> None:
        self.underruns += missing
        self._fade_out()
        self._append(np.zeros((frames, 2), dtype=np.float32))

    def _fade_out(self) -> None:
        """Fade the sound not yet handed over down to nothing at its end (once per gap)."""
        if not self._after_gap:
            ramp = min(self._fade, len(self._pending))
            tail = self._pending[len(self._pending) - ramp :]
            tail *= np.linspace(1.0, 0.0, ramp, dtype=np.float32)[:, np.newaxis]
        self._after_gap = True

    def _append(self, pcm: Samples) -> None:
        self._pending = np.concatenate([self._pending, pcm])
        self._cursor += len(pcm)
