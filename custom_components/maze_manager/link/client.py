"""The controller's side of one satellite connection: the seed's WebSocketHandler.

Free of Home Assistant, so it is tested on its own. A WebSocketHandler keeps one
satellite connected for as long as its owner wants: it connects (plain or TLS with the
certificate fingerprint pinned), runs the mutual handshake, answers time sync requests at
once on the venue clock, preloads the cue table and any asset the satellite lacks after
every connect, and reconnects with backoff, or immediately when zeroconf sees the
satellite again. What the satellite reports goes to a listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import socket as stdlib_socket
import struct
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from .clock import venue_clock_us
from .codec import MAX_FRAME_BYTES, decode, encode
from .errors import AuthenticationError, ProtocolError, UnknownMessageType
from .handshake import ControllerHandshake
from .messages import (
    MAX_CHUNK_BYTES,
    AssetBegin,
    AssetChunk,
    AssetEnd,
    Challenge,
    CueTable,
    Error,
    ErrorCode,
    Hello,
    Message,
    Status,
    TimeRequest,
    TimeResponse,
)

if sys.platform == "linux":
    import fcntl
    import termios

    _SIOCOUTQ: int | None = termios.TIOCOUTQ
    """SIOCOUTQ has TIOCOUTQ's number: a TCP socket's unsent plus unacknowledged bytes."""
else:
    _SIOCOUTQ = None

_LOGGER = logging.getLogger(__name__)

PATH = "/maze-link"
CONNECT_TIMEOUT_S = 5.0
HEARTBEAT_S = 1.0
BULK_HIGH_WATER = 16 * 1024
"""Bytes of stream frames and asset chunks allowed in a socket's write buffer: a trigger,
written straight to the socket, waits behind at most this much."""
BULK_POLL_S = 0.002
CLOSE_TIMEOUT_S = 0.5
"""A dead link never answers a close: waiting long for it would only delay the reconnect."""
PROBE_S = 0.2
"""How long a suspect link has to answer a ping before it is declared down."""
DRAINED_BYTES = 2048
"""A link holding no more than this unacknowledged counts as drained (a few frames)."""
UNSENT_LOW_WATER = 16 * 1024
"""Bytes the kernel may hold unsent for a link (TCP_NOTSENT_LOWAT). Without it the kernel's
send buffer grows with the congestion window (hundreds of KB, seconds of a stream), so a
slow link would never show in the write buffer that BULK_HIGH_WATER watches."""
BACKOFF_S = (0.25, 0.5, 1.0, 2.0, 3.0)
"""Seconds between attempts; capped low because a satellite back from a reboot should
play again within seconds, and one refused TCP connection every 3 s costs nothing."""


class SatelliteUnreachable(Exception):
    """The satellite could not be reached or dropped the connection during set-up."""


class SatelliteAuthFailed(Exception):
    """The satellite and Home Assistant do not share the pairing key."""


@dataclass(frozen=True, slots=True)
class SatelliteAddress:
    """Where a satellite listens; a fingerprint means TLS with that certificate pinned."""

    host: str
    port: int
    fingerprint: str | None = None

    @property
    def url(self) -> str:
        """The WebSocket URL of the satellite's maze-link endpoint."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "wss" if self.fingerprint else "ws"
        return f"{scheme}://{host}:{self.port}{PATH}"

    def ssl(self) -> aiohttp.Fingerprint | bool:
        """What aiohttp should check of the satellite's certificate."""
        if not self.fingerprint:
            return True
        return aiohttp.Fingerprint(bytes.fromhex(self.fingerprint.replace(":", "")))


@dataclass(frozen=True, slots=True)
class Asset:
    """A sound file a satellite preloads, named by the SHA-256 of its bytes."""

    sha256: bytes
    name: str
    format: str
    read: Callable[[], Awaitable[bytes]]


@dataclass(frozen=True, slots=True)
class Preload:
    """What a satellite should hold: the cue table and the assets its cues use."""

    cue_table: CueTable
    assets: dict[bytes, Asset]


class LinkListener(Protocol):
    """Receives what a satellite link learns."""

    def link_connected(self, hello: Hello) -> None:
        """The satellite authenticated and said hello."""

    def link_disconnected(self) -> None:
        """The connection ended; the link is reconnecting."""

    def link_auth_failed(self) -> None:
        """The satellite refused the key (or proved it holds another)."""

    def link_message(self, message: Message) -> None:
        """A status, started, button event, asset result or error report."""


async def async_handshake(
    socket: aiohttp.ClientWebSocketResponse, key: bytes, client_name: str
) -> Hello:
    """Authenticate both ways and return the satellite's hello."""
    handshake = ControllerHandshake(key, client_name)
    await socket.send_bytes(encode(handshake.hello()))
    challenge = await _receive(socket)
    if isinstance(challenge, Error):
        raise SatelliteUnreachable(f"satellite refused the handshake: {challenge.message}")
    if not isinstance(challenge, Challenge):
        raise ProtocolError(f"expected Challenge, got {type(challenge).__name__}")
    try:
        auth = handshake.answer(challenge)
    except AuthenticationError as err:
        raise SatelliteAuthFailed(str(err)) from err
    await socket.send_bytes(encode(auth))
    hello = await _receive(socket)
    if isinstance(hello, Error) and hello.code == ErrorCode.AUTH_FAILED:
        raise SatelliteAuthFailed(hello.message)
    if not isinstance(hello, Hello):
        raise ProtocolError(f"expected Hello, got {type(hello).__name__}")
    return hello


async def _receive(socket: aiohttp.ClientWebSocketResponse) -> Message:
    """The next known message; unknown types are skipped, pings answered."""
    while True:
        frame = await socket.receive()
        if frame.type == aiohttp.WSMsgType.PING:
            await socket.pong(frame.data)
            continue
        if frame.type == aiohttp.WSMsgType.PONG:
            continue
        if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            raise SatelliteUnreachable(f"connection closed ({frame.extra or frame.data})")
        if frame.type == aiohttp.WSMsgType.ERROR:
            raise SatelliteUnreachable(f"connection failed ({frame.data})")
        if frame.type != aiohttp.WSMsgType.BINARY:
            raise ProtocolError(f"expected a binary frame, got {frame.type.name}")
        try:
            return decode(frame.data)
        except UnknownMessageType as err:
            _LOGGER.debug("Ignoring %s", err)


async def async_close(socket: aiohttp.ClientWebSocketResponse) -> None:
    """Close a link's WebSocket, leaving no heartbeat timer behind.

    aiohttp 3.14 (Home Assistant 2026.x) re-arms a client WebSocket's heartbeat when data
    arrives while close() waits for the peer's closing frame, so a closed socket would
    still ping its dead connection once, a heartbeat later (aiohttp 3.11, with Home
    Assistant 2025.4, does not). The timer is cancelled here with the method aiohttp's
    own close() uses for it; where aiohttp has no such method this is a plain close().
    """
    await socket.close()
    cancel_heartbeat = getattr(socket, "_cancel_heartbeat", None)
    if callable(cancel_heartbeat):
        cancel_heartbeat()


async def async_open(
    session: aiohttp.ClientSession, address: SatelliteAddress, key: bytes, client_name: str
) -> tuple[aiohttp.ClientWebSocketResponse, Hello]:
    """Connect and authenticate; raises SatelliteUnreachable or SatelliteAuthFailed."""
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            socket = await session.ws_connect(
                address.url,
                ssl=address.ssl(),
                heartbeat=HEARTBEAT_S,
                timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_TIMEOUT_S),
                max_msg_size=MAX_FRAME_BYTES,
                autoping=False,  # pongs are seen by the receive loop: they prove the link
            )
            _limit_unsent(socket)
            try:
                hello = await async_handshake(socket, key, client_name)
            except BaseException:
                await async_close(socket)
                raise
    except (TimeoutError, aiohttp.ClientError, OSError, ProtocolError) as err:
        raise SatelliteUnreachable(f"{address.url}: {err or type(err).__name__}") from err
    return socket, hello


async def async_probe(
    session: aiohttp.ClientSession, address: SatelliteAddress, key: bytes, client_name: str
) -> Hello:
    """Check that a satellite answers and shares the key, as a config flow must."""
    socket, hello = await async_open(session, address, key, client_name)
    await async_close(socket)
    return hello


class WebSocketHandler:
    """Keeps one satellite connected and talks to it."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        address: SatelliteAddress,
        key: bytes,
        listener: LinkListener,
        *,
        client_name: str = "Home Assistant",
    ) -> None:
        self._session = session
        self.address = address
        self._key = key
        self._listener = listener
        self._client_name = client_name
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._preload: Preload | None = None
        self._preload_lock = asyncio.Lock()
        self._held: set[bytes] = set()
        self._seq = 0
        self._heard_at = 0.0
        """When the satellite last sent anything (loop time): a probe waits for it to move."""
        self._probe: asyncio.Task[None] | None = None
        self.hello: Hello | None = None
        self.status: Status | None = None
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        """Whether the satellite is connected and authenticated."""
        return self._socket is not None and not self._socket.closed

    @property
    def synchronised(self) -> bool:
        """Whether the satellite reports its venue clock synchronised."""
        return self.connected and self.status is not None and self.status.synchronised

    def next_seq(self) -> int:
        """A sequence number for the next play or stop."""
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    def start(self) -> None:
        """Start connecting, and keep reconnecting until stopped."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"maze-link {self.address.url}")

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._socket is not None:
            await async_close(self._socket)
            self._socket = None

    def check_now(self) -> None:
        """Something went unanswered: probe the link now rather than at the next heartbeat.

        The satellite must answer a ping within PROBE_S, else the connection is closed
        and the link reconnects; its entities and rooms show it offline meanwhile.
        """
        socket = self._socket
        if socket is None or socket.closed or (self._probe and not self._probe.done()):
            return
        self._probe = asyncio.create_task(self._probe_link(socket), name="maze-link probe")

    async def _probe_link(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        asked = loop.time()
        with contextlib.suppress(ConnectionError, aiohttp.ClientError):
            await socket.ping()
        await asyncio.sleep(PROBE_S)
        if self._heard_at < asked and socket is self._socket and not socket.closed:
            _LOGGER.warning("Satellite at %s stopped answering; reconnecting", self.address.url)
            self.last_error = f"no answer within {PROBE_S * 1000:.0f} ms"
            await async_close(socket)

    def retry_now(self) -> None:
        """Zeroconf saw the satellite: skip the backoff (a new address reloads the entry)."""
        self._wake.set()

    async def set_preload(self, preload: Preload) -> None:
        """Set what the satellite should hold; a new preload is sent at once if connected.

        After every connect the link sends its preload by itself, so setting the preload
        it already has (as the venue does whenever a satellite connects) sends nothing.
        """
        if preload is self._preload:
            return
        self._preload = preload
        if self.connected:
            await self._send_preload()

    async def send(self, message: Message) -> bool:
        """Send one message; False when the satellite is not connected."""
        return await self.send_encoded(encode(message))

    async def send_encoded(self, frame: bytes) -> bool:
        """Send a message encoded once for several satellites (a stream's frames)."""
        socket = self._socket
        if socket is None or socket.closed:
            return False
        try:
            await socket.send_bytes(frame)
        except (ConnectionError, aiohttp.ClientError):
            return False
        return True

    @property
    def queued_bytes(self) -> int:
        """Bytes written for the satellite that it has not acknowledged yet.

        asyncio's write buffer plus the kernel's send queue (unsent, and sent but not
        acknowledged by the satellite's TCP): what a slow link holds back, in time order.
        """
        socket = self._socket
        if socket is None or socket.closed:
            return 0
        return _buffered(socket) + _unacknowledged(socket)

    @property
    def drained(self) -> bool:
        """Whether the link is connected and holds (almost) nothing unacknowledged."""
        return self.connected and self.queued_bytes <= DRAINED_BYTES

    async def send_bulk(self, message: Message | bytes) -> bool:
        """Send a stream frame or asset chunk (or its encoding) once the socket has room.

        Triggers, stops and time sync use `send`, which writes at once; bulk data waits
        here instead of in the socket, so it never delays them by more than
        BULK_HIGH_WATER bytes. False when the satellite is not connected.
        """
        socket = self._socket
        while socket is not None and not socket.closed and _buffered(socket) > BULK_HIGH_WATER:
            await asyncio.sleep(BULK_POLL_S)
            if socket is not self._socket:
                return False
        return await self.send_encoded(message if isinstance(message, bytes) else encode(message))

    async def _run(self) -> None:
        """Connect, serve, back off, again: nothing but a refused key or stop() ends it."""
        attempt = 0
        while True:
            try:
                socket, hello = await async_open(
                    self._session, self.address, self._key, self._client_name
                )
            except SatelliteAuthFailed as err:
                self.last_error = str(err)
                _LOGGER.error("Satellite at %s refused the pairing key", self.address.url)
                self._tell("auth_failed", self._listener.link_auth_failed)
                return
            except SatelliteUnreachable as err:
                self.last_error = str(err)
                if attempt == 0:
                    _LOGGER.info("Satellite at %s is unavailable: %s", self.address.url, err)
            except Exception:
                _LOGGER.exception("Connecting to the satellite at %s failed", self.address.url)
            else:
                attempt = 0
                await self._serve(socket, hello)
            await self._wait_before_retry(attempt)
            attempt += 1

    def _tell(self, what: str, call: Callable[[], None]) -> bool:
        """Call a listener; its failure is logged, never allowed to end the link."""
        try:
            call()
        except Exception:
            _LOGGER.exception("A listener of %s failed on %s", self.address.url, what)
            return False
        return True

    async def _wait_before_retry(self, attempt: int) -> None:
        self._wake.clear()
        delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def _serve(self, socket: aiohttp.ClientWebSocketResponse, hello: Hello) -> None:
        """Serve one connection: the preload uploads while time sync and reports go on."""
        self._socket, self.hello, self.status = socket, hello, None
        self._held = set(hello.cached)
        _LOGGER.info("Satellite %s (%s) is connected", hello.name, hello.satellite_id)
        preload: asyncio.Task[None] | None = None
        try:
            if not self._tell("connect", lambda: self._listener.link_connected(hello)):
                return  # the finally below closes; the run loop backs off and retries
            preload = asyncio.create_task(
                self._send_preload(), name=f"maze-link preload {hello.satellite_id}"
            )
            await self._receive_loop(socket)
        except ProtocolError as err:
            _LOGGER.warning("Closing link to %s: %s", hello.satellite_id, err)
            with contextlib.suppress(ConnectionError, aiohttp.ClientError):
                await socket.send_bytes(encode(Error(ErrorCode.BAD_MESSAGE, str(err)[:512], 0)))
        except (ConnectionError, aiohttp.ClientError) as err:
            _LOGGER.debug("Link to %s failed: %s", hello.satellite_id, err)
        except Exception:
            _LOGGER.exception("Link to %s failed; reconnecting", hello.satellite_id)
        finally:
            for task in (preload, self._probe):
                if task is not None and task is not asyncio.current_task():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await async_close(socket)
            self._socket = None
            self.status = None
            _LOGGER.info("Satellite %s is unavailable", hello.satellite_id)
            self._tell("disconnect", self._listener.link_disconnected)

    async def _receive_loop(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        while True:
            frame = await socket.receive()
            received_us = venue_clock_us()
            self._heard_at = loop.time()
            if frame.type == aiohttp.WSMsgType.PING:
                await socket.pong(frame.data)
                continue
            if frame.type == aiohttp.WSMsgType.PONG:
                continue
            if frame.type != aiohttp.WSMsgType.BINARY:
                if frame.type in (aiohttp.WSMsgType.TEXT,):
                    raise ProtocolError("expected a binary frame, got TEXT")
                return
            try:
                message = decode(frame.data)
            except UnknownMessageType as err:
                _LOGGER.debug("Ignoring %s", err)
                continue
            if isinstance(message, TimeRequest):
                reply = TimeResponse(message.seq, message.t1, received_us, venue_clock_us())
                await socket.send_bytes(encode(reply))
                continue
            if isinstance(message, Status):
                self.status = message
            self._tell(
                type(message).__name__, functools.partial(self._listener.link_message, message)
            )

    async def _send_preload(self) -> None:
        """Send the cue table and every asset the satellite does not hold yet."""
        async with self._preload_lock:
            preload = self._preload
            if preload is None:
                return
            try:
                await self.send(preload.cue_table)
                for sha, asset in preload.assets.items():
                    if sha not in self._held and await self._send_asset(asset):
                        self._held.add(sha)
            except (OSError, ProtocolError) as err:
                _LOGGER.error("Preloading the satellite at %s failed: %s", self.address.url, err)
            except Exception:
                _LOGGER.exception("Preloading the satellite at %s failed", self.address.url)

    async def _send_asset(self, asset: Asset) -> bool:
        """Upload one asset; False when it could not be read or sent whole."""
        data = await asset.read()
        if hashlib.sha256(data).digest() != asset.sha256:
            _LOGGER.error("Sound file %s changed on disk; reload the show", asset.name)
            return False
        await self.send(AssetBegin(asset.sha256, len(data), asset.format, asset.name[:128]))
        for offset in range(0, len(data), MAX_CHUNK_BYTES):
            chunk = data[offset : offset + MAX_CHUNK_BYTES]
            if not await self.send_bulk(AssetChunk(asset.sha256, offset, chunk)):
                return False
        return await self.send(AssetEnd(asset.sha256))


def _limit_unsent(socket: aiohttp.ClientWebSocketResponse) -> None:
    """Keep at most UNSENT_LOW_WATER bytes unsent in the kernel, where the OS allows it."""
    option = getattr(stdlib_socket, "TCP_NOTSENT_LOWAT", None)
    raw = socket.get_extra_info("socket")
    if option is None or raw is None:
        return
    with contextlib.suppress(OSError):
        raw.setsockopt(stdlib_socket.IPPROTO_TCP, option, UNSENT_LOW_WATER)


def _unacknowledged(socket: aiohttp.ClientWebSocketResponse) -> int:
    """Bytes in the kernel's send queue of the socket (Linux's SIOCOUTQ; 0 elsewhere)."""
    raw = socket.get_extra_info("socket")
    if raw is None or _SIOCOUTQ is None:
        return 0
    try:
        answer = fcntl.ioctl(raw.fileno(), _SIOCOUTQ, b"\0\0\0\0")
    except OSError:
        return 0
    return max(0, int(struct.unpack("i", answer)[0]))


def _buffered(socket: aiohttp.ClientWebSocketResponse) -> int:
    """Bytes written to the socket that the network has not taken yet (0 when unknown).

    aiohttp keeps the transport on its WebSocket writer (3.11 to 3.14); there is no public
    accessor, so a missing attribute means "unknown", never an error.
    """
    transport = getattr(getattr(socket, "_writer", None), "transport", None)
    if transport is None:
        return 0
    return int(transport.get_write_buffer_size())
