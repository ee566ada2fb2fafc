"""The satellite's WebSocket server: handshake, one controller at a time, rate limiting.

Home Assistant connects to `/maze-link`. The server authenticates it with the mutual
HMAC handshake, then hands the connection to a ControllerSession. A newly authenticated
controller replaces the previous one. Peers that fail the handshake repeatedly are
refused for a while, so a wrong key on the network cannot flood the satellite.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

from . import link

_LOGGER = logging.getLogger(__name__)

PATH = "/maze-link"
HANDSHAKE_TIMEOUT_S = 5.0
HEARTBEAT_S = 1.0
"""aiohttp pings every second and drops a peer whose pong is half a second late."""
CLOSE_PROTOCOL_ERROR = 4002
CLOSE_AUTH_FAILED = 4001
CLOSE_REPLACED = 4000


@dataclass
class HandshakeLimiter:
    """Refuse a peer address for `penalty_s` after `max_failures` within `window_s`."""

    max_failures: int = 5
    window_s: float = 60.0
    penalty_s: float = 30.0
    _failures: dict[str, deque[float]] = field(default_factory=lambda: defaultdict(deque))
    _blocked_until: dict[str, float] = field(default_factory=dict)

    def blocked(self, peer: str, now: float | None = None) -> bool:
        """Whether the peer is refused right now."""
        now = time.monotonic() if now is None else now
        until = self._blocked_until.get(peer)
        if until is None:
            return False
        if now >= until:
            del self._blocked_until[peer]
            return False
        return True

    def failed(self, peer: str, now: float | None = None) -> None:
        """Count a failed handshake; block the peer when it has failed too often."""
        now = time.monotonic() if now is None else now
        failures = self._failures[peer]
        failures.append(now)
        while failures and failures[0] < now - self.window_s:
            failures.popleft()
        if len(failures) >= self.max_failures:
            self._blocked_until[peer] = now + self.penalty_s
            failures.clear()
            _LOGGER.warning(
                "Refusing %s for %.0f s after repeated failed handshakes", peer, self.penalty_s
            )


class Connection:
    """An authenticated controller connection: send, receive, close."""

    def __init__(self, socket: web.WebSocketResponse, peer: str) -> None:
        self._socket = socket
        self.peer = peer

    @property
    def closed(self) -> bool:
        """Whether the connection has ended."""
        return self._socket.closed

    async def send(self, message: link.Message) -> None:
        """Send one message; a connection that went away is not an error here."""
        if not self._socket.closed:
            try:
                await self._socket.send_bytes(link.encode(message))
            except ConnectionError:
                _LOGGER.debug("Send to %s failed: connection gone", self.peer)

    async def receive(self) -> link.Message | None:
        """The next known message, or None when the connection ends.

        Unknown message types are skipped; anything else malformed raises ProtocolError.
        """
        while True:
            frame = await self._socket.receive()
            if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return None
            if frame.type == WSMsgType.ERROR:
                return None
            if frame.type != WSMsgType.BINARY:
                raise link.ProtocolError(f"expected a binary frame, got {frame.type.name}")
            try:
                return link.decode(frame.data)
            except link.UnknownMessageType as err:
                _LOGGER.debug("Ignoring %s from %s", err, self.peer)

    async def close(self, code: int, reason: str) -> None:
        """Close with a WebSocket code and a short reason the peer can log."""
        await self._socket.close(code=code, message=reason.encode()[:120])


SessionRunner = Callable[[Connection], Awaitable[None]]


class SatelliteServer:
    """Accepts controllers, authenticates them and runs one session at a time."""

    def __init__(
        self,
        key: bytes,
        satellite_id: str,
        run_session: SessionRunner,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext | None = None,
        limiter: HandshakeLimiter | None = None,
    ) -> None:
        self._key = key
        self._satellite_id = satellite_id
        self._run_session = run_session
        self._host = host
        self._port = port
        self._ssl_context = ssl_context
        self._limiter = limiter or HandshakeLimiter()
        self._runner: web.AppRunner | None = None
        self._current: Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def port(self) -> int:
        """The port actually bound (useful when configured as 0)."""
        if self._runner is None:
            return self._port
        for site in self._runner.sites:
            server = getattr(site, "_server", None)
            if server is not None and server.sockets:
                port: int = server.sockets[0].getsockname()[1]
                return port
        return self._port

    async def start(self) -> None:
        """Listen for controllers."""
        app = web.Application()
        app.router.add_get(PATH, self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, ssl_context=self._ssl_context)
        await site.start()
        _LOGGER.info("Listening on %s:%s%s", self._host, self.port, PATH)

    async def close(self) -> None:
        """Stop listening and end the current session."""
        if self._current is not None:
            await self._current.close(1001, "satellite shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        peer = request.remote or "unknown"
        if self._limiter.blocked(peer):
            return web.Response(status=429, text="too many failed handshakes\n")
        socket = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=link.MAX_FRAME_BYTES)
        await socket.prepare(request)
        connection = Connection(socket, peer)
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT_S):
                authenticated = await self._handshake(connection)
        except TimeoutError:
            _LOGGER.warning("Handshake with %s timed out", peer)
            authenticated = False
        if not authenticated:
            if not socket.closed:
                await connection.close(CLOSE_AUTH_FAILED, "handshake failed")
            return socket
        await self._take_over(connection)
        try:
            await self._run_session(connection)
        except link.ProtocolError as err:
            _LOGGER.warning("Closing connection from %s: %s", peer, err)
            await connection.send(link.Error(link.ErrorCode.BAD_MESSAGE, str(err)[:512], 0))
            await connection.close(CLOSE_PROTOCOL_ERROR, "protocol error")
        finally:
            if self._current is connection:
                self._current = None
            if not socket.closed:
                await socket.close()
        return socket

    async def _take_over(self, connection: Connection) -> None:
        async with self._lock:
            previous, self._current = self._current, connection
        if previous is not None and not previous.closed:
            _LOGGER.info("Controller %s replaces %s", connection.peer, previous.peer)
            await previous.close(CLOSE_REPLACED, "replaced by a newer controller")

    async def _handshake(self, connection: Connection) -> bool:
        handshake = link.SatelliteHandshake(self._key, self._satellite_id)
        try:
            hello = await connection.receive()
            if not isinstance(hello, link.ClientHello):
                raise link.ProtocolError(f"expected ClientHello, got {type(hello).__name__}")
            await connection.send(handshake.challenge(hello))
            auth = await connection.receive()
            if not isinstance(auth, link.Auth):
                raise link.ProtocolError(f"expected Auth, got {type(auth).__name__}")
            handshake.verify(auth)
        except link.AuthenticationError as err:
            _LOGGER.warning("Refused controller %s: %s", connection.peer, err)
            self._limiter.failed(connection.peer)
            await connection.send(link.Error(link.ErrorCode.AUTH_FAILED, str(err), 0))
            return False
        except link.ProtocolError as err:
            _LOGGER.warning("Bad handshake from %s: %s", connection.peer, err)
            self._limiter.failed(connection.peer)
            code = (
                link.ErrorCode.UNSUPPORTED_VERSION
                if isinstance(err, link.UnsupportedVersion)
                else link.ErrorCode.BAD_MESSAGE
            )
            await connection.send(link.Error(code, str(err)[:512], 0))
            return False
        _LOGGER.info("Controller %s authenticated", connection.peer)
        return True
