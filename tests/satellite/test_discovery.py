"""Zeroconf advertisement, checked with a real python-zeroconf browser on loopback.

Multicast on loopback needs the `lo` interface's MULTICAST flag and a route for
224.0.0.0/4; the fixture sets whichever is missing (this needs root, as CI runs) and
undoes exactly what it set.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

from pi_satellite import __version__, discovery, link
from pi_satellite.config import CacheConfig, DeviceConfig, OutputConfig, SatelliteConfig
from pi_satellite.discovery import SERVICE_TYPE, Advertiser
from pi_satellite.identity import Identity

LOOPBACK = "127.0.0.1"
FINGERPRINT = "ab" * 32
WAIT_S = 10.0


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def loopback_multicast() -> Iterator[None]:
    """Let multicast flow on `lo`, undoing afterwards only what was changed here."""
    undo: list[list[str]] = []
    if "MULTICAST" not in _ip("link", "show", "lo").stdout.split(">")[0]:
        undo.append(["link", "set", "lo", "multicast", "off"])
        _change(["link", "set", "lo", "multicast", "on"])
    if _ip("route", "get", "224.0.0.251").returncode != 0:
        undo.append(["route", "del", "224.0.0.0/4", "dev", "lo"])
        _change(["route", "add", "224.0.0.0/4", "dev", "lo"])
    yield
    for args in reversed(undo):
        _ip(*args)


def _change(args: list[str]) -> None:
    if os.geteuid() != 0:
        pytest.fail(
            f"zeroconf tests need multicast on loopback: run as root, or run "
            f"`sudo ip {' '.join(args)}` first"
        )
    result = _ip(*args)
    if result.returncode != 0:
        pytest.fail(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


def make_config(name: str) -> SatelliteConfig:
    return SatelliteConfig(
        name=name,
        state_dir=Path("/unused"),
        cache=CacheConfig(Path("/unused/cache")),
        devices=(DeviceConfig("card", "null"),),
        outputs=(OutputConfig(0, "Crypt", "card"),),
        port=8765,
    )


def unique_name(prefix: str) -> str:
    """Satellite names no other test on this machine advertises."""
    return f"{prefix} {os.getpid()}-{os.urandom(3).hex()}"


class Browser:
    """A Home Assistant stand-in: browses the service type on loopback."""

    def __init__(self) -> None:
        self.zeroconf = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
        self.seen: dict[str, list[ServiceStateChange]] = {}
        self._changed = asyncio.Event()
        self._browser = AsyncServiceBrowser(
            self.zeroconf.zeroconf, SERVICE_TYPE, handlers=[self._on_change]
        )

    def _on_change(
        self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        self.seen.setdefault(name, []).append(state_change)
        self._changed.set()

    async def wait_for(self, name: str, change: ServiceStateChange, times: int = 1) -> None:
        async with asyncio.timeout(WAIT_S):
            while self.seen.get(name, []).count(change) < times:
                self._changed.clear()
                await self._changed.wait()

    async def info(self, name: str) -> AsyncServiceInfo:
        info = AsyncServiceInfo(SERVICE_TYPE, name)
        assert await info.async_request(self.zeroconf.zeroconf, 3000)
        return info

    async def close(self) -> None:
        await self._browser.async_cancel()
        await self.zeroconf.async_close()


@pytest.fixture
async def browser(loopback_multicast: None) -> AsyncIterator[Browser]:
    browser = Browser()
    yield browser
    await browser.close()


def text_records(info: AsyncServiceInfo) -> dict[str, str]:
    return {key.decode(): (value or b"").decode() for key, value in info.properties.items()}


async def test_browser_finds_the_satellite_and_reads_its_records(browser: Browser) -> None:
    name = unique_name("Crypt")
    identity = Identity("sat-0123456789ab", bytes(32), cert_fingerprint=FINGERPRINT)
    advertiser = Advertiser(make_config(name), identity, port=18765, interfaces=[LOOPBACK])
    await advertiser.start()
    try:
        full_name = f"{name}.{SERVICE_TYPE}"
        assert advertiser.service_name == full_name
        await browser.wait_for(full_name, ServiceStateChange.Added)
        info = await browser.info(full_name)
        assert text_records(info) == {
            "id": "sat-0123456789ab",
            "name": name,
            "proto": str(link.PROTOCOL_VERSION),
            "version": __version__,
            "auth": "hmac-sha256",
            "fp": FINGERPRINT,
        }
        assert info.port == 18765
        assert info.parsed_addresses() == [LOOPBACK]
        assert info.server == "sat-0123456789ab.local."
    finally:
        await advertiser.close()
    await browser.wait_for(full_name, ServiceStateChange.Removed)  # goodbye on close


async def test_update_announces_a_new_port_and_name(browser: Browser) -> None:
    name = unique_name("Chapel")
    identity = Identity("sat-00000000beef", bytes(32))
    advertiser = Advertiser(make_config(name), identity, interfaces=[LOOPBACK])
    await advertiser.start()
    try:
        full_name = f"{name}.{SERVICE_TYPE}"
        await browser.wait_for(full_name, ServiceStateChange.Added)
        assert "fp" not in text_records(await browser.info(full_name))  # TLS off

        await advertiser.update(port=9999)
        await browser.wait_for(full_name, ServiceStateChange.Updated)
        assert (await browser.info(full_name)).port == 9999

        renamed = unique_name("Chapel annex")
        await advertiser.update(name=renamed)
        new_full_name = f"{renamed}.{SERVICE_TYPE}"
        await browser.wait_for(new_full_name, ServiceStateChange.Added)
        await browser.wait_for(full_name, ServiceStateChange.Removed)
        info = await browser.info(new_full_name)
        assert text_records(info)["name"] == renamed
        assert text_records(info)["id"] == "sat-00000000beef"
        assert info.port == 9999
    finally:
        await advertiser.close()


async def test_a_name_clash_gets_a_new_instance_name(browser: Browser) -> None:
    name = unique_name("Twin")
    first = Advertiser(
        make_config(name), Identity("sat-000000000001", bytes(32)), interfaces=[LOOPBACK]
    )
    second = Advertiser(
        make_config(name), Identity("sat-000000000002", bytes(32)), interfaces=[LOOPBACK]
    )
    await first.start()
    await second.start()
    try:
        assert first.service_name == f"{name}.{SERVICE_TYPE}"
        assert second.service_name == f"{name}-2.{SERVICE_TYPE}"
        await browser.wait_for(f"{name}-2.{SERVICE_TYPE}", ServiceStateChange.Added)
        info = await browser.info(f"{name}-2.{SERVICE_TYPE}")
        assert text_records(info)["id"] == "sat-000000000002"
    finally:
        await second.close()
        await first.close()


async def test_a_new_machine_address_is_announced(
    browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    addresses = [[LOOPBACK]]
    monkeypatch.setattr(discovery, "machine_addresses", lambda: addresses[0])
    name = unique_name("Gate")
    advertiser = Advertiser(
        make_config(name), Identity("sat-0000000000aa", bytes(32)), recheck_s=0.2
    )
    await advertiser.start()
    full_name = f"{name}.{SERVICE_TYPE}"
    try:
        await browser.wait_for(full_name, ServiceStateChange.Added)
        assert (await browser.info(full_name)).parsed_addresses() == [LOOPBACK]
        addresses[0] = ["127.0.0.2"]  # the DHCP lease changed
        await browser.wait_for(full_name, ServiceStateChange.Removed)  # a fresh announcement
        await browser.wait_for(full_name, ServiceStateChange.Added, times=2)
        assert (await browser.info(full_name)).parsed_addresses() == ["127.0.0.2"]
    finally:
        await advertiser.close()
