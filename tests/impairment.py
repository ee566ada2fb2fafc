"""An impairment proxy: a TCP relay on 127.0.0.1 that makes a link slow, late or absent.

Tests and benchmarks put it between Home Assistant and a satellite (point the satellite's
entry at `proxy.port`) and then change the link while it runs:

- **delay**: each chunk of bytes is held for a one-way delay drawn uniformly from
  `[low_s, high_s]`, per direction. A byte stream cannot overtake itself, so a chunk is
  never released before the one read ahead of it (as a queue in a router behaves).
- **rate**: at most `bytes_per_s` per direction. The proxy reads from the source only as
  fast as it forwards, and its own sockets have small kernel buffers (`SOCKET_BUFFER`),
  so the sender feels the limit (its writes wait) instead of the kernel absorbing
  seconds of data. Loopback's 64 KiB MSS would also let a sender's kernel buffer grow to
  megabytes; the proxy announces an Ethernet-sized MSS so the sender sizes its buffers
  as it would on a LAN.
- **stall**: nothing moves for a while in one or both directions; the connections stay
  open, so TCP itself never notices (as when Wi-Fi stops carrying frames).
- **cut**: every connection through the proxy is reset and new ones are refused until
  `restore()` (as when a cable is pulled or an access point dies).

Every wait is bounded: `stall(seconds)` ends by itself, and `close()` ends every
connection. The proxy counts the bytes it forwarded per direction, so a benchmark can
measure what a link carried on the wire.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import random
import socket
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Final, Self

SOCKET_BUFFER: Final = 4096
"""SO_RCVBUF and SO_SNDBUF of the proxy's sockets (Linux doubles it for bookkeeping)."""
MSS: Final = 1448
"""The TCP segment size the proxy announces: Ethernet's, as on a venue's network."""
CHUNK: Final = 4096
"""Most bytes read in one go; smaller when the rate asks for finer steps."""
READ_LIMIT: Final = 1024
"""asyncio's read buffer of the proxy's sockets (it stops reading at twice this)."""
IN_FLIGHT: Final = 64 * 1024
"""Most bytes held in one direction's delay line (a bandwidth-delay product)."""
RATE_STEP_S: Final = 0.01
"""With a rate set, each read is at most this much of a second's worth of bytes."""
HALF_CLOSE_S: Final = 5.0
"""How long one direction may go on after the other ended cleanly."""
STALL_LIMIT_S: Final = 600.0
"""No stall lasts longer than this, whatever a caller asks."""


class Direction(enum.Flag):
    """Which way bytes flow: to the server behind the proxy, back to the client, or both."""

    UP = enum.auto()
    """From the connecting client (Home Assistant) to the target (a satellite)."""
    DOWN = enum.auto()
    """From the target back to the client."""
    BOTH = UP | DOWN


@dataclass
class Shape:
    """One direction's impairment; change its fields at any time, they apply at once."""

    delay_s: tuple[float, float] = (0.0, 0.0)
    """One-way delay, drawn uniformly from [low, high] for each chunk."""
    bytes_per_s: float | None = None
    """Throughput limit; None for none."""
    stalled_until: float = 0.0
    """time.monotonic() until which nothing is forwarded."""
    forwarded: int = 0
    """Bytes written to the far side so far (every connection)."""
    read: int = 0
    """Bytes taken from the near side so far (every connection)."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when the shape changes, so that waiting pumps look again."""

    def stalled(self, now: float) -> float:
        """Seconds of stall left (0 when flowing)."""
        return max(0.0, self.stalled_until - now)

    def changed(self) -> None:
        """Wake every pump of this direction to apply a new setting."""
        self.wake.set()
        self.wake = asyncio.Event()


class _Pump:
    """Bytes of one direction of one connection: read at the allowed pace, released late.

    The reader fills a delay line of (release time, bytes); the writer empties it in
    order. Reading stops while the line holds IN_FLIGHT bytes, while stalled, and while
    the rate's budget is spent, so the source's own socket fills and its writes wait.
    """

    def __init__(
        self,
        shape: Shape,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        rng: random.Random,
    ) -> None:
        self._shape = shape
        self._reader = reader
        self._writer = writer
        self._rng = rng
        self._line: deque[tuple[float, bytes]] = deque()
        self._held = 0
        self._space = asyncio.Event()
        self._data = asyncio.Event()
        self._eof = False
        self._next_read = 0.0
        self._last_release = 0.0

    async def run(self) -> None:
        """Forward until the source ends (then end the far side's write half) or fails."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._read())
            group.create_task(self._write())

    async def _wait_shape(self, seconds: float) -> None:
        """Sleep up to `seconds`, or until the shape changes."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._shape.wake.wait()

    async def _read(self) -> None:
        shape = self._shape
        while True:
            now = time.monotonic()
            wait = max(shape.stalled(now), self._next_read - now)
            if wait > 0:
                await self._wait_shape(wait)
                continue
            if self._held >= IN_FLIGHT:
                self._space.clear()
                await self._space.wait()
                continue
            size = CHUNK
            if shape.bytes_per_s is not None:
                size = max(1, min(CHUNK, int(shape.bytes_per_s * RATE_STEP_S)))
            data = await self._reader.read(size)
            if not data:
                self._eof = True
                self._data.set()
                return
            now = time.monotonic()
            shape.read += len(data)
            if shape.bytes_per_s is not None:
                self._next_read = max(self._next_read, now) + len(data) / shape.bytes_per_s
            low, high = shape.delay_s
            release = max(now + self._rng.uniform(low, high), self._last_release)
            self._last_release = release
            self._line.append((release, data))
            self._held += len(data)
            self._data.set()

    async def _write(self) -> None:
        shape = self._shape
        while True:
            if not self._line:
                if self._eof:
                    if self._writer.can_write_eof():
                        self._writer.write_eof()
                    return
                self._data.clear()
                await self._data.wait()
                continue
            release, data = self._line[0]
            now = time.monotonic()
            wait = max(release - now, shape.stalled(now))
            if wait > 0:
                await self._wait_shape(wait)
                continue
            self._line.popleft()
            self._writer.write(data)
            await self._writer.drain()
            self._held -= len(data)
            shape.forwarded += len(data)
            self._space.set()


class ImpairmentProxy:
    """Relays TCP connections from 127.0.0.1:`port` to a target, impaired as told.

    Use it as an async context manager, or call `start()` and `close()`.
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1", *, seed: int = 0) -> None:
        self.target = (target_host, target_port)
        self.up = Shape()
        """Client to target (Home Assistant to satellite)."""
        self.down = Shape()
        """Target to client."""
        self.port = 0
        """Where the proxy listens, once started."""
        self.connections = 0
        """Connections accepted so far."""
        self._rng = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._cut = False
        self._stall_timer: asyncio.TimerHandle | None = None

    # --- lifecycle --------------------------------------------------------------------

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1 (a free port unless given); the port."""
        self._server = await asyncio.start_server(
            self._serve, sock=_listening_socket(port), limit=READ_LIMIT
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        """Stop listening and end every connection."""
        await self._stop_listening()
        if self._stall_timer is not None:
            self._stall_timer.cancel()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    # --- impairments --------------------------------------------------------------------

    def shapes(self, direction: Direction) -> list[Shape]:
        """The shapes of one or both directions."""
        return [
            shape
            for flag, shape in ((Direction.UP, self.up), (Direction.DOWN, self.down))
            if flag in direction
        ]

    def set_delay(
        self, low_s: float, high_s: float | None = None, direction: Direction = Direction.BOTH
    ) -> None:
        """One-way delay, uniform in [low_s, high_s] (fixed at low_s when high_s is None)."""
        high = low_s if high_s is None else high_s
        if not 0 <= low_s <= high <= 10:
            raise ValueError(f"delay must satisfy 0 <= low <= high <= 10 s: {low_s}, {high}")
        for shape in self.shapes(direction):
            shape.delay_s = (low_s, high)
            shape.changed()

    def set_rate(self, bytes_per_s: float | None, direction: Direction = Direction.BOTH) -> None:
        """Limit the throughput (None lifts the limit)."""
        if bytes_per_s is not None and bytes_per_s <= 0:
            raise ValueError(f"a rate must be positive: {bytes_per_s}")
        for shape in self.shapes(direction):
            shape.bytes_per_s = bytes_per_s
            shape.changed()

    def stall(self, seconds: float, direction: Direction = Direction.BOTH) -> None:
        """Forward nothing for `seconds` (at most STALL_LIMIT_S); connections stay open."""
        seconds = min(max(0.0, seconds), STALL_LIMIT_S)
        until = time.monotonic() + seconds
        for shape in self.shapes(direction):
            shape.stalled_until = until
            shape.changed()

    def resume(self) -> None:
        """End a stall now."""
        for shape in (self.up, self.down):
            shape.stalled_until = 0.0
            shape.changed()

    def clear(self) -> None:
        """No delay, no limit, no stall: a plain relay again."""
        for shape in (self.up, self.down):
            shape.delay_s = (0.0, 0.0)
            shape.bytes_per_s = None
            shape.stalled_until = 0.0
            shape.changed()

    async def cut(self) -> None:
        """Reset every connection and refuse new ones until restore()."""
        self._cut = True
        await self._stop_listening()

    async def restore(self) -> None:
        """Accept connections again on the same port, after a cut."""
        if not self._cut:
            return
        self._cut = False
        await self.start(self.port)

    @property
    def is_cut(self) -> bool:
        """Whether the link is cut now."""
        return self._cut

    # --- relaying -----------------------------------------------------------------------

    async def _serve(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        if self._cut:
            _abort(client)
            return
        _shrink(client)
        self.connections += 1
        try:
            upstream = _connecting_socket()
            await asyncio.get_running_loop().sock_connect(upstream, self.target)
            target_reader, target = await asyncio.open_connection(sock=upstream, limit=READ_LIMIT)
        except OSError:
            _abort(client)
            return
        _shrink(target)
        self._writers.update((client, target))
        pumps = (
            _Pump(self.up, client_reader, target, self._rng),
            _Pump(self.down, target_reader, client, self._rng),
        )
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        runs = [asyncio.ensure_future(pump.run()) for pump in pumps]
        try:
            # A reset ends both directions at once; a clean end of one direction leaves
            # the other a bounded while to finish (a half-closed connection).
            done, pending = await asyncio.wait(runs, return_when=asyncio.FIRST_COMPLETED)
            if pending and not any(run.exception() for run in done):
                await asyncio.wait(pending, timeout=HALF_CLOSE_S)
        finally:
            for run in runs:
                run.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
            self._tasks.discard(task)
            for writer in (client, target):
                self._writers.discard(writer)
                writer.close()

    async def _stop_listening(self) -> None:
        """Close the listening socket and reset every connection.

        The server's wait_closed() waits for its connections' handlers, so they go first.
        """
        server, self._server = self._server, None
        if server is not None:
            server.close()
        await self._drop_connections()
        if server is not None:
            await server.wait_closed()

    async def _drop_connections(self) -> None:
        for writer in list(self._writers):
            _abort(writer)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _listening_socket(port: int) -> socket.socket:
    """A listening socket whose accepted connections inherit small buffers and the MSS."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    _small_buffers(sock)
    sock.bind(("127.0.0.1", port))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def _connecting_socket() -> socket.socket:
    """A socket to the target with small buffers, set before the handshake sizes its window."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    _small_buffers(sock)
    sock.setblocking(False)
    return sock


def _small_buffers(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, MSS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _shrink(writer: asyncio.StreamWriter) -> None:
    """Keep asyncio's own write buffer small too: drain() waits beyond one chunk."""
    writer.transport.set_write_buffer_limits(high=CHUNK)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close at once with a reset, as a dead link would look to the peer."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
