"""The impairment proxy itself: measured delay, throughput, stall and cut on real sockets."""

from __future__ import annotations

import asyncio
import socket
import statistics
import time
from collections.abc import AsyncIterator

import pytest

from tests.impairment import Direction, ImpairmentProxy


class Echo:
    """A loopback TCP server that echoes, and counts what it received."""

    def __init__(self) -> None:
        self.received = 0
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                self.received += len(data)
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port


@pytest.fixture
async def echo(socket_enabled: None) -> AsyncIterator[Echo]:
    server = Echo()
    server.server = await asyncio.start_server(server._serve, "127.0.0.1", 0)
    try:
        yield server
    finally:
        server.server.close()


@pytest.fixture
async def proxy(echo: Echo) -> AsyncIterator[ImpairmentProxy]:
    async with ImpairmentProxy(echo.port, seed=1) as running:
        yield running


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    # As the link does: the kernel keeps little unsent, so the limit reaches the writer.
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT, 16384)
    return reader, writer


async def round_trip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
    started = time.monotonic()
    writer.write(b"ping")
    await writer.drain()
    async with asyncio.timeout(5):
        assert await reader.readexactly(4) == b"ping"
    return time.monotonic() - started


async def test_a_fixed_delay_is_added_each_way(proxy: ImpairmentProxy) -> None:
    reader, writer = await connect(proxy.port)
    plain = statistics.median([await round_trip(reader, writer) for _ in range(5)])
    proxy.set_delay(0.05)
    delayed = [await round_trip(reader, writer) for _ in range(10)]
    print(
        f"\nround trip {plain * 1000:.2f} ms plain, {statistics.median(delayed) * 1000:.1f} ms "
        "with 50 ms each way"
    )
    assert plain < 0.02
    assert all(0.1 <= value < 0.13 for value in delayed), delayed
    writer.close()


async def test_jitter_spreads_the_delay_uniformly(proxy: ImpairmentProxy) -> None:
    reader, writer = await connect(proxy.port)
    proxy.set_delay(0.02, 0.08, Direction.UP)
    trips = [await round_trip(reader, writer) for _ in range(40)]
    print(
        f"\none-way 20-80 ms: min {min(trips) * 1000:.1f}, median "
        f"{statistics.median(trips) * 1000:.1f}, max {max(trips) * 1000:.1f} ms"
    )
    assert all(0.02 <= value < 0.1 for value in trips)
    assert min(trips) < 0.035
    assert max(trips) > 0.065
    assert 0.04 <= statistics.mean(trips) <= 0.06
    writer.close()


async def test_the_rate_limit_holds_and_pushes_back(proxy: ImpairmentProxy, echo: Echo) -> None:
    rate = 40_000
    proxy.set_rate(rate, Direction.UP)
    reader, writer = await connect(proxy.port)
    drain = asyncio.create_task(_read_all(reader))
    started = time.monotonic()
    offered = 0
    while time.monotonic() - started < 3.0:
        while writer.transport.get_write_buffer_size() < 16384:
            writer.write(b"x" * 1000)
            offered += 1000
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - started
    measured = echo.received / elapsed
    held_back = writer.transport.get_write_buffer_size()
    print(
        f"\nrate limit {rate} B/s: measured {measured:.0f} B/s at the far end; the proxy "
        f"read {proxy.up.read} B of {offered} offered; {held_back} B wait in the sender"
    )
    assert 0.85 * rate <= measured <= 1.1 * rate
    # Backpressure: the proxy took no more than it forwarded plus its small buffers, and
    # the rest waits in the sender (whose kernel keeps only 16 KiB unsent).
    assert proxy.up.read - proxy.up.forwarded <= 16384
    assert offered - echo.received >= 20_000  # what the proxy would not take stayed behind
    writer.close()
    drain.cancel()


async def test_a_stall_holds_everything_and_closes_nothing(
    proxy: ImpairmentProxy, echo: Echo
) -> None:
    reader, writer = await connect(proxy.port)
    await round_trip(reader, writer)
    proxy.stall(1.0)
    started = time.monotonic()
    writer.write(b"during")
    await writer.drain()
    async with asyncio.timeout(3):
        echoed = await reader.readexactly(6)
    waited = time.monotonic() - started
    print(f"\nstall of 1 s: the echo came back after {waited:.3f} s")
    assert echoed == b"during"
    assert 0.95 <= waited < 1.2
    assert proxy.connections == 1
    writer.close()


async def test_a_cut_resets_and_refuses_until_restored(proxy: ImpairmentProxy) -> None:
    reader, writer = await connect(proxy.port)
    await round_trip(reader, writer)
    await proxy.cut()
    async with asyncio.timeout(2):
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await reader.readexactly(1)  # the reset arrives: no data, no clean end
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", proxy.port)
    await proxy.restore()
    reader, writer = await connect(proxy.port)
    assert await round_trip(reader, writer) < 0.1
    assert proxy.connections == 2
    writer.close()


async def _read_all(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass
