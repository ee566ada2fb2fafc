"""The controller's link client against a real satellite on loopback, without Home Assistant.

The client and the satellite are both the real code: handshake, venue clock sync, preload
of a sound file, a play trigger landing on its scheduled frame, reconnection, and a
refused key.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from pi_satellite import link
from pi_satellite.link.client import (
    Asset,
    Preload,
    SatelliteAddress,
    SatelliteAuthFailed,
    SatelliteUnreachable,
    WebSocketHandler,
    async_probe,
    venue_clock_us,
)
from pi_satellite.satellite import Satellite
from tests.satellite_harness import KEY, records, satellite_config, tone_wav

FRAME_US = 1e6 / 48000


class Recorder:
    """A LinkListener that keeps everything it hears."""

    def __init__(self) -> None:
        self.hellos: list[link.Hello] = []
        self.messages: list[link.Message] = []
        self.disconnects = 0
        self.auth_failures = 0
        self.changed = asyncio.Event()

    def link_connected(self, hello: link.Hello) -> None:
        self.hellos.append(hello)
        self.changed.set()

    def link_disconnected(self) -> None:
        self.disconnects += 1
        self.changed.set()

    def link_auth_failed(self) -> None:
        self.auth_failures += 1
        self.changed.set()

    def link_message(self, message: link.Message) -> None:
        self.messages.append(message)
        self.changed.set()


async def wait_for(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll a condition on the loop until it holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.fixture
async def satellite(tmp_path: Path) -> AsyncIterator[Satellite]:
    running = Satellite(satellite_config(tmp_path, "Gate Pi"))
    await running.start()
    yield running
    await running.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _asset(data: bytes) -> Asset:
    async def read() -> bytes:
        return data

    return Asset(hashlib.sha256(data).digest(), "tone.wav", "wav", read)


async def test_probe_reads_the_hello(satellite: Satellite, http: aiohttp.ClientSession) -> None:
    address = SatelliteAddress("127.0.0.1", satellite.server.port)
    hello = await async_probe(http, address, KEY, "Home Assistant")
    assert hello.name == "Gate Pi"
    assert hello.satellite_id == satellite.identity.satellite_id
    assert [o.name for o in hello.outputs] == ["Left", "Right"]
    assert [i.name for i in hello.inputs] == ["Gate button"]


async def test_probe_with_the_wrong_key_is_an_auth_failure(
    satellite: Satellite, http: aiohttp.ClientSession
) -> None:
    address = SatelliteAddress("127.0.0.1", satellite.server.port)
    with pytest.raises(SatelliteAuthFailed):
        await async_probe(http, address, bytes(32), "Home Assistant")


async def test_preload_sync_and_play_on_the_scheduled_frame(
    satellite: Satellite, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    listener = Recorder()
    sat_link = WebSocketHandler(
        http, SatelliteAddress("127.0.0.1", satellite.server.port), KEY, listener
    )
    sound = _asset(tone_wav())
    cue = link.CueEntry(1, sound.sha256, "Lightning", 0.8, False, "fx", 5)
    await sat_link.set_preload(Preload(link.CueTable((cue,)), {sound.sha256: sound}))
    sat_link.start()
    try:
        await wait_for(lambda: sat_link.synchronised)
        await wait_for(
            lambda: any(isinstance(m, link.AssetResult) and m.ok for m in listener.messages)
        )
        assert satellite.player.cue_id_by_name("Lightning") == 1
        assert sat_link.status is not None
        bound_us = sat_link.status.sync_error_us  # what the satellite vouches for
        start_us = venue_clock_us() + 50_000
        assert await sat_link.send(link.Play(1, sat_link.next_seq(), start_us, 0b01, 1000, 0))
        await wait_for(lambda: records(tmp_path / "record.jsonl", "cue_start"))
        (start,) = records(tmp_path / "record.jsonl", "cue_start")
        assert start["cue_id"] == 1
        assert start["output"] == 0
        assert start["scheduled_us"] == start_us
        # By the satellite's clock mapping the first sample is on the scheduled frame.
        assert abs(start["actual_us"] - start_us) <= FRAME_US + 1
        # Same machine: the venue clock is the monotonic clock the record also reports,
        # so this is the true error, which includes the clock estimate's: within the
        # error bound the satellite reported just before.
        true_error_us = start["mono_us"] - start_us
        print(f"\nfirst sample {true_error_us:+d} us from the venue time it was scheduled for")
        print(f"the satellite's error bound: {bound_us} us")
        assert abs(true_error_us) <= bound_us + FRAME_US
        await wait_for(lambda: any(isinstance(m, link.Started) for m in listener.messages))
        started = next(m for m in listener.messages if isinstance(m, link.Started))
        assert started.scheduled_us == start_us
        assert abs(started.actual_us - start_us) <= 2 * FRAME_US
    finally:
        await sat_link.stop()


async def test_a_second_connect_sends_only_the_cue_table(
    satellite: Satellite, http: aiohttp.ClientSession
) -> None:
    listener = Recorder()
    address = SatelliteAddress("127.0.0.1", satellite.server.port)
    sound = _asset(tone_wav(0.1))
    cue = link.CueEntry(3, sound.sha256, "Creak", 1.0, False, "fx", 1)
    preload = Preload(link.CueTable((cue,)), {sound.sha256: sound})
    for connection in range(2):
        sat_link = WebSocketHandler(http, address, KEY, listener)
        await sat_link.set_preload(preload)
        sat_link.start()
        await wait_for(lambda n=connection: len(listener.hellos) == n + 1)
        if connection == 0:
            await wait_for(lambda: any(isinstance(m, link.AssetResult) for m in listener.messages))
        # A status report comes after the satellite has handled everything sent before it.
        statuses = sum(isinstance(m, link.Status) for m in listener.messages)
        await wait_for(
            lambda seen=statuses: sum(isinstance(m, link.Status) for m in listener.messages) > seen
        )
        assert satellite.player.cue_id_by_name("Creak") == 3
        await sat_link.stop()
    # The second hello already lists the asset as cached, so it was not sent again.
    assert sound.sha256 in listener.hellos[-1].cached
    results = [m for m in listener.messages if isinstance(m, link.AssetResult)]
    assert len(results) == 1


async def test_link_reconnects_after_the_satellite_restarts(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = satellite_config(tmp_path, "Gate Pi")
    first = Satellite(config)
    await first.start()
    port = first.server.port
    listener = Recorder()
    sat_link = WebSocketHandler(http, SatelliteAddress("127.0.0.1", port), KEY, listener)
    sat_link.start()
    try:
        await wait_for(lambda: sat_link.connected)
        await first.close()
        await wait_for(lambda: listener.disconnects == 1 and not sat_link.connected)
        again = Satellite(satellite_config(tmp_path, "Gate Pi", port=port))
        await again.start()
        try:
            loop = asyncio.get_running_loop()
            restarted = loop.time()
            await wait_for(lambda: sat_link.synchronised)
            print(f"\nback in sync {loop.time() - restarted:.2f} s after the restart")
            assert len(listener.hellos) == 2
            assert listener.hellos[0].satellite_id == listener.hellos[1].satellite_id
        finally:
            await sat_link.stop()
            await again.close()
    finally:
        await sat_link.stop()


async def test_a_refused_key_stops_the_link_and_says_so(
    satellite: Satellite, http: aiohttp.ClientSession
) -> None:
    listener = Recorder()
    sat_link = WebSocketHandler(
        http, SatelliteAddress("127.0.0.1", satellite.server.port), bytes(32), listener
    )
    sat_link.start()
    try:
        await wait_for(lambda: listener.auth_failures == 1)
        assert not sat_link.connected
        assert "pairing key" in (sat_link.last_error or "")
    finally:
        await sat_link.stop()


async def test_tls_satellite_with_its_fingerprint_pinned(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    config = satellite_config(tmp_path, "Vault Pi", tls=True)
    secure = Satellite(config)
    await secure.start()
    try:
        fingerprint = secure.identity.cert_fingerprint
        assert fingerprint is not None
        pinned = SatelliteAddress("127.0.0.1", secure.server.port, fingerprint)
        assert pinned.url.startswith("wss://")
        hello = await async_probe(http, pinned, KEY, "Home Assistant")
        assert hello.name == "Vault Pi"
        other = SatelliteAddress("127.0.0.1", secure.server.port, "ab" * 32)
        with pytest.raises(SatelliteUnreachable):
            await async_probe(http, other, KEY, "Home Assistant")
    finally:
        await secure.close()


class FailingListener(Recorder):
    """A listener whose chosen callbacks raise, as a buggy one would."""

    def __init__(self, *, connect_failures: int = 0, message_failures: bool = False) -> None:
        super().__init__()
        self.connect_failures = connect_failures
        self.message_failures = message_failures

    def link_connected(self, hello: link.Hello) -> None:
        super().link_connected(hello)
        if self.connect_failures:
            self.connect_failures -= 1
            raise RuntimeError("listener bug on connect")

    def link_message(self, message: link.Message) -> None:
        super().link_message(message)
        if self.message_failures:
            raise RuntimeError("listener bug on a message")


async def test_a_listener_that_raises_on_connect_does_not_end_the_link(
    satellite: Satellite, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    listener = FailingListener(connect_failures=2)
    handler = WebSocketHandler(
        http, SatelliteAddress("127.0.0.1", satellite.server.port), KEY, listener
    )
    handler.start()
    try:
        # Two failed connects are logged, closed and retried; the third one serves.
        await wait_for(lambda: len(listener.hellos) == 3 and handler.synchronised)
        assert listener.disconnects == 2
        logged = [r for r in caplog.records if r.exc_info and "on connect" in str(r.exc_info[1])]
        assert len(logged) == 2  # each with its traceback
    finally:
        await handler.stop()


async def test_a_listener_that_raises_on_messages_does_not_end_the_link(
    satellite: Satellite, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    listener = FailingListener(message_failures=True)
    handler = WebSocketHandler(
        http, SatelliteAddress("127.0.0.1", satellite.server.port), KEY, listener
    )
    handler.start()
    try:
        await wait_for(lambda: handler.synchronised)
        assert listener.disconnects == 0
        assert "listener bug on a message" in caplog.text
    finally:
        await handler.stop()


async def test_time_sync_goes_on_while_an_asset_uploads(
    satellite: Satellite, http: aiohttp.ClientSession
) -> None:
    listener = Recorder()
    data = tone_wav(0.1)
    reading = asyncio.Event()
    release = asyncio.Event()

    async def slow_read() -> bytes:
        reading.set()
        await release.wait()  # the upload is stuck until the test lets it go
        return data

    sound = Asset(hashlib.sha256(data).digest(), "slow.wav", "wav", slow_read)
    cue = link.CueEntry(4, sound.sha256, "Slow", 1.0, False, "fx", 1)
    handler = WebSocketHandler(
        http, SatelliteAddress("127.0.0.1", satellite.server.port), KEY, listener
    )
    await handler.set_preload(Preload(link.CueTable((cue,)), {sound.sha256: sound}))
    handler.start()
    try:
        await wait_for(reading.is_set)
        await wait_for(lambda: handler.synchronised)
        assert not any(isinstance(m, link.AssetResult) for m in listener.messages)
        release.set()
        await wait_for(
            lambda: any(isinstance(m, link.AssetResult) and m.ok for m in listener.messages)
        )
    finally:
        release.set()
        await handler.stop()


async def test_the_preload_is_sent_once_per_connect(
    satellite: Satellite, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    tables: list[tuple[link.CueEntry, ...]] = []
    set_cue_table = satellite.set_cue_table

    async def counting(cues: tuple[link.CueEntry, ...]) -> None:
        tables.append(cues)
        await set_cue_table(cues)

    monkeypatch.setattr(satellite, "set_cue_table", counting)
    listener = Recorder()
    sound = _asset(tone_wav(0.1))
    preload = Preload(
        link.CueTable((link.CueEntry(5, sound.sha256, "Knock", 1.0, False, "fx", 1),)),
        {sound.sha256: sound},
    )
    handler = WebSocketHandler(
        http, SatelliteAddress("127.0.0.1", satellite.server.port), KEY, listener
    )
    await handler.set_preload(preload)
    handler.start()
    try:
        await wait_for(lambda: any(isinstance(m, link.AssetResult) for m in listener.messages))
        # The venue sets the same preload again when told the satellite connected.
        await handler.set_preload(preload)
        statuses = sum(isinstance(m, link.Status) for m in listener.messages)
        await wait_for(
            lambda: sum(isinstance(m, link.Status) for m in listener.messages) > statuses
        )
        assert len(tables) == 1
        assert len([m for m in listener.messages if isinstance(m, link.AssetResult)]) == 1
    finally:
        await handler.stop()
