"""The satellite's server: handshake, one controller at a time, rate limiting, bad frames."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import AsyncIterator

import aiohttp
import pytest

from pi_satellite import link
from pi_satellite.server import (
    CLOSE_AUTH_FAILED,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_REPLACED,
    HEARTBEAT_S,
    PATH,
    Connection,
    HandshakeLimiter,
    SatelliteServer,
)

KEY = bytes(range(32))
WRONG_KEY = bytes(32)


class EchoSessions:
    """A session runner that answers every TimeRequest, records the rest, and counts sessions."""

    def __init__(self) -> None:
        self.received: list[link.Message] = []
        self.sessions = 0

    async def __call__(self, connection: Connection) -> None:
        self.sessions += 1
        await connection.send(link.Hello("sat-test", "Test", "1", 48000, (), (), ()))
        while (message := await connection.receive()) is not None:
            self.received.append(message)
            if isinstance(message, link.TimeRequest):
                await connection.send(link.TimeResponse(message.seq, message.t1, 1, 2))


@pytest.fixture
async def server() -> AsyncIterator[tuple[SatelliteServer, EchoSessions]]:
    sessions = EchoSessions()
    satellite_server = SatelliteServer(
        KEY,
        "sat-test",
        sessions,
        host="127.0.0.1",
        port=0,
        limiter=HandshakeLimiter(max_failures=3, window_s=60, penalty_s=30),
    )
    await satellite_server.start()
    yield satellite_server, sessions
    await satellite_server.close()


async def _connect(
    http: aiohttp.ClientSession, port: int, key: bytes = KEY
) -> tuple[aiohttp.ClientWebSocketResponse, link.Message]:
    socket = await http.ws_connect(f"ws://127.0.0.1:{port}{PATH}")
    handshake = link.ControllerHandshake(key, "test controller")
    await socket.send_bytes(link.encode(handshake.hello()))
    challenge = link.decode(await socket.receive_bytes())
    assert isinstance(challenge, link.Challenge)
    try:
        auth = handshake.answer(challenge)
    except link.AuthenticationError:
        # Answer anyway with a proof made from the wrong key, as a confused client would.
        auth = link.Auth(b"\x00" * 32)
    await socket.send_bytes(link.encode(auth))
    reply = await socket.receive()
    if reply.type == aiohttp.WSMsgType.BINARY:
        return socket, link.decode(reply.data)
    raise AssertionError(f"unexpected {reply.type}")


async def test_right_key_is_served(server: tuple[SatelliteServer, EchoSessions]) -> None:
    satellite_server, sessions = server
    async with aiohttp.ClientSession() as http:
        socket, hello = await _connect(http, satellite_server.port)
        assert isinstance(hello, link.Hello)
        await socket.send_bytes(link.encode(link.TimeRequest(7, 123)))
        answer = link.decode(await socket.receive_bytes())
        assert answer == link.TimeResponse(7, 123, 1, 2)
        await socket.close()
    assert sessions.sessions == 1


async def test_wrong_key_is_refused_and_repeated_failures_are_blocked(
    server: tuple[SatelliteServer, EchoSessions],
) -> None:
    satellite_server, sessions = server
    async with aiohttp.ClientSession() as http:
        for _ in range(3):
            socket, reply = await _connect(http, satellite_server.port, WRONG_KEY)
            assert isinstance(reply, link.Error)
            assert reply.code == link.ErrorCode.AUTH_FAILED
            closing = await socket.receive()
            assert closing.type == aiohttp.WSMsgType.CLOSE
            assert closing.data == CLOSE_AUTH_FAILED
            await socket.close()
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"ws://127.0.0.1:{satellite_server.port}{PATH}")
        assert refused.value.status == 429
    assert sessions.sessions == 0


async def test_a_new_controller_replaces_the_old_one(
    server: tuple[SatelliteServer, EchoSessions],
) -> None:
    satellite_server, sessions = server
    async with aiohttp.ClientSession() as http:
        first, _ = await _connect(http, satellite_server.port)
        second, _ = await _connect(http, satellite_server.port)
        closing = await first.receive()
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert closing.data == CLOSE_REPLACED
        await second.send_bytes(link.encode(link.TimeRequest(1, 5)))
        assert isinstance(link.decode(await second.receive_bytes()), link.TimeResponse)
        await second.close()
    assert sessions.sessions == 2


async def test_a_wrong_first_message_fails_the_handshake(
    server: tuple[SatelliteServer, EchoSessions],
) -> None:
    satellite_server, _ = server
    async with aiohttp.ClientSession() as http:
        socket = await http.ws_connect(f"ws://127.0.0.1:{satellite_server.port}{PATH}")
        await socket.send_bytes(link.encode(link.TimeRequest(1, 1)))
        reply = link.decode(await socket.receive_bytes())
        assert isinstance(reply, link.Error)
        assert "expected ClientHello" in reply.message
        await socket.close()


async def test_another_major_version_is_told_so(
    server: tuple[SatelliteServer, EchoSessions],
) -> None:
    satellite_server, _ = server
    async with aiohttp.ClientSession() as http:
        socket = await http.ws_connect(f"ws://127.0.0.1:{satellite_server.port}{PATH}")
        await socket.send_bytes(link.encode(link.ClientHello(9, os.urandom(32), "future")))
        reply = link.decode(await socket.receive_bytes())
        assert isinstance(reply, link.Error)
        assert reply.code == link.ErrorCode.UNSUPPORTED_VERSION
        await socket.close()


def _random_frames(rng: random.Random, count: int) -> list[bytes]:
    """Malformed frames: random bytes, known types with garbage bodies, truncations."""
    frames: list[bytes] = []
    sample = link.encode(link.CueTable(()))
    for index in range(count):
        kind = index % 3
        if kind == 0:
            frames.append(rng.randbytes(rng.randint(1, 64)))
        elif kind == 1:
            code = rng.choice(list(link.MessageType))
            frames.append(bytes((code,)) + rng.randbytes(rng.randint(0, 40)))
        else:
            frames.append(sample[: rng.randint(1, len(sample) - 1)] + rng.randbytes(3))
    return frames


async def test_fuzzed_frames_close_only_that_connection(
    server: tuple[SatelliteServer, EchoSessions],
) -> None:
    satellite_server, sessions = server
    rng = random.Random(1234)
    frames = _random_frames(rng, 1000)
    closed_for_errors = 0
    async with aiohttp.ClientSession() as http:
        socket, _ = await _connect(http, satellite_server.port)
        for frame in frames:
            await socket.send_bytes(frame)
            try:
                link.decode(frame)
            except link.UnknownMessageType:
                continue  # ignored by design: the connection stays open
            except link.ProtocolError:
                reply = await socket.receive()
                while reply.type == aiohttp.WSMsgType.BINARY:
                    reply = await socket.receive()  # the error report comes first
                assert reply.type == aiohttp.WSMsgType.CLOSE
                assert reply.data == CLOSE_PROTOCOL_ERROR
                closed_for_errors += 1
                await socket.close()
                socket, _ = await _connect(http, satellite_server.port)
        # After a thousand bad frames the satellite still serves a good controller.
        await socket.send_bytes(link.encode(link.TimeRequest(99, 1)))
        assert link.decode(await socket.receive_bytes()) == link.TimeResponse(99, 1, 1, 2)
        await socket.close()
    assert closed_for_errors > 500
    assert sessions.sessions == closed_for_errors + 1


async def test_text_frames_are_a_protocol_error(
    server: tuple[SatelliteServer, EchoSessions],
) -> None:
    satellite_server, _ = server
    async with aiohttp.ClientSession() as http:
        socket, _ = await _connect(http, satellite_server.port)
        await socket.send_str("hello")
        reply = link.decode(await socket.receive_bytes())
        assert isinstance(reply, link.Error)
        assert "binary frame" in reply.message
        await socket.close()


def test_limiter_forgets_old_failures_and_unblocks() -> None:
    limiter = HandshakeLimiter(max_failures=2, window_s=10, penalty_s=5)
    limiter.failed("10.0.0.1", now=0)
    limiter.failed("10.0.0.1", now=20)  # the first is outside the window by now
    assert not limiter.blocked("10.0.0.1", now=20)
    limiter.failed("10.0.0.1", now=21)
    assert limiter.blocked("10.0.0.1", now=22)
    assert not limiter.blocked("10.0.0.2", now=22)
    assert not limiter.blocked("10.0.0.1", now=27)


async def test_a_silent_peer_is_dropped_by_the_heartbeat(
    server: tuple[SatelliteServer, EchoSessions],
) -> None:
    satellite_server, sessions = server
    async with aiohttp.ClientSession() as http:
        socket = await http.ws_connect(
            f"ws://127.0.0.1:{satellite_server.port}{PATH}", autoping=False
        )
        handshake = link.ControllerHandshake(KEY, "silent")
        await socket.send_bytes(link.encode(handshake.hello()))
        challenge = link.decode(await socket.receive_bytes())
        assert isinstance(challenge, link.Challenge)
        await socket.send_bytes(link.encode(handshake.answer(challenge)))
        loop = asyncio.get_running_loop()
        started = loop.time()
        # Never answer pings: the satellite must give up on this peer within 3 s.
        while True:
            frame = await asyncio.wait_for(socket.receive(), timeout=5)
            if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                break
        assert loop.time() - started < 3.0
        await socket.close()
    assert sessions.sessions == 1
    # aiohttp re-arms the dropped socket's heartbeat timer once more; let it run out.
    await asyncio.sleep(2 * HEARTBEAT_S)
