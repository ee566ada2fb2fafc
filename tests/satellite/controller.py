"""A minimal controller for satellite tests: what Home Assistant does, over the real wire.

It authenticates, answers time sync on the machine's monotonic clock (the venue clock),
and sends what a test asks. The satellite tests run on Python 3.11 too, where Home
Assistant's own link client cannot be imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable

import aiohttp

from pi_satellite import link

PATH = "/maze-link"


def venue_now_us() -> int:
    """The venue clock: the machine's monotonic clock in microseconds."""
    return time.monotonic_ns() // 1000


class Controller:
    """One authenticated connection to a satellite, answering its time requests."""

    def __init__(self, http: aiohttp.ClientSession, port: int, key: bytes) -> None:
        self._http = http
        self._port = port
        self._key = key
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.hello: link.Hello | None = None
        self.received: list[link.Message] = []
        self._seq = 0

    async def __aenter__(self) -> Controller:
        socket = await self._http.ws_connect(f"ws://127.0.0.1:{self._port}{PATH}")
        handshake = link.ControllerHandshake(self._key, "test controller")
        await socket.send_bytes(link.encode(handshake.hello()))
        challenge = link.decode(await socket.receive_bytes())
        assert isinstance(challenge, link.Challenge), challenge
        await socket.send_bytes(link.encode(handshake.answer(challenge)))
        hello = link.decode(await socket.receive_bytes())
        assert isinstance(hello, link.Hello), hello
        self._socket, self.hello = socket, hello
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Disconnect."""
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def _read(self) -> None:
        assert self._socket is not None
        async for frame in self._socket:
            if frame.type != aiohttp.WSMsgType.BINARY:
                return
            received = venue_now_us()
            message = link.decode(frame.data)
            if isinstance(message, link.TimeRequest):
                reply = link.TimeResponse(message.seq, message.t1, received, venue_now_us())
                await self._socket.send_bytes(link.encode(reply))
            else:
                self.received.append(message)

    async def send(self, message: link.Message) -> None:
        """Send one message."""
        assert self._socket is not None
        await self._socket.send_bytes(link.encode(message))

    def next_seq(self) -> int:
        """A fresh sequence number."""
        self._seq += 1
        return self._seq

    async def wait_for(
        self, condition: Callable[[link.Message], bool], timeout: float = 10.0
    ) -> link.Message:
        """The first received message that meets the condition (waiting for it)."""
        async with asyncio.timeout(timeout):
            while True:
                for message in self.received:
                    if condition(message):
                        return message
                await asyncio.sleep(0.02)

    async def wait_synchronised(self, timeout: float = 30.0) -> None:
        """Until the satellite reports its venue clock synchronised."""
        await self.wait_for(lambda m: isinstance(m, link.Status) and m.synchronised, timeout)

    async def upload(self, data: bytes, name: str = "sound.wav") -> bytes:
        """Send an asset in chunks and wait for the satellite to confirm it."""
        sha = hashlib.sha256(data).digest()
        await self.send(link.AssetBegin(sha, len(data), name.rsplit(".", 1)[-1], name))
        for offset in range(0, len(data), link.MAX_CHUNK_BYTES):
            await self.send(link.AssetChunk(sha, offset, data[offset : offset + 65536]))
        await self.send(link.AssetEnd(sha))
        result = await self.wait_for(lambda m: isinstance(m, link.AssetResult) and m.sha256 == sha)
        assert isinstance(result, link.AssetResult)
        assert result.ok, result
        return sha
