"""One authenticated Home Assistant connection: sync the clock, preload, play, report.

The session sends the hello, then runs three things side by side until the connection
ends: time sync requests (fast until synchronised, then slow), a status report every
second (and at once when sync state changes), and the handling of every message Home
Assistant sends. A fresh session starts with a fresh clock estimate, so nothing plays on
a stale mapping after Home Assistant restarts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from typing import TYPE_CHECKING

from . import __version__, link
from .player import PlayerError

if TYPE_CHECKING:
    from .satellite import Satellite
    from .server import Connection

_LOGGER = logging.getLogger(__name__)

STATUS_INTERVAL_S = 1.0
SYNC_BOUND_US = 2_000
"""Error bound under which a session starts trusting its venue clock mapping. The bound
includes half the shortest round trip, so a tighter one would keep a satellite on a busy
network or a busy Pi from ever playing; the estimate keeps improving after that."""
LOSS_BOUND_US = 5_000
"""Past this error bound a synchronised session stops trusting its venue clock mapping."""


class ControllerSession:
    """Serves one controller connection for the satellite."""

    def __init__(self, satellite: Satellite, connection: Connection) -> None:
        self._satellite = satellite
        self._connection = connection
        self._estimator = link.VenueClockEstimator(sync_threshold_us=SYNC_BOUND_US)
        self._time_seq = 0
        self._pending_t1: dict[int, int] = {}
        self._synchronised = False

    @property
    def estimator(self) -> link.VenueClockEstimator:
        """This session's venue clock estimate."""
        return self._estimator

    async def run(self) -> None:
        """Serve until the connection ends; ProtocolError propagates to the server."""
        satellite = self._satellite
        satellite.player.set_venue_mapping(None, None)
        await self.send(self._hello())
        tasks = [
            asyncio.create_task(self._sync_loop(), name="maze-link time sync"),
            asyncio.create_task(self._status_loop(), name="maze-link status"),
        ]
        try:
            while (message := await self._connection.receive()) is not None:
                await self._handle(message)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            satellite.player.set_venue_mapping(None, None)

    async def send(self, message: link.Message) -> None:
        """Send one message to Home Assistant."""
        await self._connection.send(message)

    def venue_now_us(self) -> int | None:
        """The venue clock now, or None before synchronisation."""
        if not self._synchronised:
            return None
        return self._estimator.to_venue(self._satellite.clock.now_us())

    def _hello(self) -> link.Hello:
        satellite = self._satellite
        return link.Hello(
            satellite_id=satellite.identity.satellite_id,
            name=satellite.config.name,
            version=__version__,
            sample_rate=satellite.config.sample_rate,
            outputs=satellite.player.outputs,
            inputs=tuple(link.InputInfo(item.index, item.name) for item in satellite.config.inputs),
            cached=satellite.cache.held(),
        )

    async def _sync_loop(self) -> None:
        while True:
            self._time_seq = (self._time_seq + 1) & 0xFFFFFFFF
            t1 = self._satellite.clock.now_us()
            self._pending_t1[self._time_seq] = t1
            if len(self._pending_t1) > 16:  # forget requests whose answers were lost
                self._pending_t1.pop(next(iter(self._pending_t1)))
            await self.send(link.TimeRequest(self._time_seq, t1))
            await asyncio.sleep(self._estimator.suggested_interval_s)

    async def _status_loop(self) -> None:
        while True:
            await self.send(self._status())
            await asyncio.sleep(STATUS_INTERVAL_S)

    def _status(self) -> link.Status:
        player = self._satellite.player.status()
        return link.Status(
            synchronised=self._synchronised,
            sync_error_us=_clamp_us(self._estimator.error_bound_us),
            rtt_us=_clamp_us(self._estimator.rtt_us or 0),
            buffer_ms=min(player.buffer_ms, 0xFFFF),
            underruns=player.underruns & 0xFFFFFFFF,
            late_frames=player.late_frames & 0xFFFFFFFF,
            playing=player.playing,
            streams=player.streams,
        )

    async def _on_time(self, response: link.TimeResponse) -> None:
        t4 = self._satellite.clock.now_us()
        t1 = self._pending_t1.pop(response.seq, None)
        if t1 is None or t1 != response.t1:
            _LOGGER.debug("Ignoring time response %s that matches no request", response.seq)
            return
        try:
            sample = link.SyncSample(t1, response.t2, response.t3, t4)
        except ValueError as err:
            raise link.ProtocolError(f"TimeResponse {response.seq}: {err}") from None
        self._estimator.add(sample)
        synchronised = self._keeps_sync()
        if synchronised:
            self._satellite.player.set_venue_mapping(
                self._estimator.to_local, self._estimator.to_venue
            )
        else:
            self._satellite.player.set_venue_mapping(None, None)
        if synchronised != self._synchronised:
            self._synchronised = synchronised
            _LOGGER.info(
                "Venue clock %s (error bound %.0f µs)",
                "synchronised" if synchronised else "lost",
                self._estimator.error_bound_us,
            )
            await self.send(self._status())

    def _keeps_sync(self) -> bool:
        """Whether the venue clock mapping may be used, with hysteresis.

        The estimator calls itself synchronised below a tight error bound. Once a session
        is synchronised it stays so until the bound grows past LOSS_BOUND_US (a restart of
        Home Assistant's clock resets the estimator, which clears it at once): a busy
        moment that widens the bound a little must not cancel the scheduled starts.
        """
        if self._synchronised:
            return self._estimator.error_bound_us <= LOSS_BOUND_US
        return self._estimator.synchronised

    async def _handle(self, message: link.Message) -> None:
        satellite = self._satellite
        player = satellite.player
        try:
            match message:
                case link.TimeResponse():
                    await self._on_time(message)
                case link.Play():
                    player.play(message)
                case link.Stop():
                    player.stop(message)
                case link.Volume():
                    player.set_volume(message)
                case link.StreamStart():
                    player.stream_start(message)
                case link.AudioFrame():
                    player.stream_frame(message)
                case link.AudioBurst():
                    player.stream_burst(message)
                case link.StreamEnd():
                    player.stream_end(message)
                case link.CueTable():
                    await satellite.set_cue_table(message.cues)
                case link.AssetBegin() | link.AssetChunk() | link.AssetEnd():
                    result = await satellite.receive_asset(message)
                    if result is not None:
                        await self.send(result)
                case link.Error():
                    _LOGGER.warning("Home Assistant reports %s: %s", message.code.name, message)
                case _:
                    raise link.ProtocolError(
                        f"{type(message).__name__} is not a message a controller sends"
                    )
        except PlayerError as err:
            seq = getattr(message, "seq", 0)
            await self.send(link.Error(err.code, str(err)[:512], seq))


def _clamp_us(value: float) -> int:
    """A microsecond figure as a status field: unknown (infinite) or huge reads as the max."""
    if not math.isfinite(value) or value >= 0xFFFFFFFF:
        return 0xFFFFFFFF
    return max(0, int(value))
