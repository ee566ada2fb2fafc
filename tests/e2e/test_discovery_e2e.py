"""End to end: Home Assistant's own zeroconf discovers a satellite, and the user adds it.

Why network namespaces and not loopback: Home Assistant 2025.4.4's zeroconf integration
(`_async_get_zc_args` in `homeassistant/components/zeroconf/__init__.py`) never listens on
loopback. It builds its interface list from the `network` integration's enabled adapters
and drops every loopback address from it; the only other choice it makes,
`InterfaceChoice.Default` (the kernel's route for 224.0.0.251), is taken only when no
enabled adapter has IPv6 and no non-default adapter is enabled. `lo` always carries ::1,
and the host's own adapter here (eth0) carries IPv6 too, so no setting of enabled adapters
(auto-detected, or `lo` alone, which leaves an empty interface list) makes it hear a
satellite announcing on 127.0.0.1, with or without multicast on `lo`. Changing the host's
IPv6 or multicast routing would affect everything else running on it.

So the venue's network is modelled the way it is built: Home Assistant and the satellite
each in a private network namespace that this test creates, joined by a veth pair with
addresses in 10.77.0.0/24 (IPv6 link-local addresses are not generated, as on an
IPv4-only venue network), and deleted afterwards; no traffic leaves the two namespaces.
Home Assistant picks the veth adapter by its normal auto-detection, the satellite
announces on its own address, and the test's client reaches Home Assistant's HTTP API
on the loopback of Home Assistant's namespace. This needs root, as the CI runs.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.satellite_harness import KEY_HEX, satellite_settings

from .harness import (
    HassClient,
    Processes,
    SatelliteProcess,
    onboard,
    start_hass,
    wait_for,
    wait_until_up,
)

pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.slow]

HASS_ADDRESS = "10.77.0.1"
SATELLITE_ADDRESS = "10.77.0.2"
PREFIX = 24
HASS_PORT = 8123
SATELLITE_PORT = 8765
DISCOVERY_S = 20.0
CONNECT_S = 5.0


@dataclass(frozen=True)
class VenueNetwork:
    """Two network namespaces joined by a veth pair: Home Assistant's and the satellite's."""

    hass: str
    satellite: str


def _ip(*args: str) -> None:
    """Run `ip` and fail the test with its message if it fails."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.fail(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}")


def _create_network(network: VenueNetwork) -> None:
    """Both namespaces, the veth pair between them, addresses, and every link up."""
    _ip("netns", "add", network.hass)
    _ip("netns", "add", network.satellite)
    _ip(
        "link", "add", "to-satellite", "netns", network.hass,
        "type", "veth", "peer", "name", "to-hass", "netns", network.satellite,
    )  # fmt: skip
    for namespace, link, address in (
        (network.hass, "to-satellite", HASS_ADDRESS),
        (network.satellite, "to-hass", SATELLITE_ADDRESS),
    ):
        _ip("-n", namespace, "link", "set", link, "addrgenmode", "none")
        _ip("-n", namespace, "addr", "add", f"{address}/{PREFIX}", "dev", link)
        _ip("-n", namespace, "link", "set", link, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")


@pytest.fixture
def venue_network() -> Iterator[VenueNetwork]:
    """The two namespaces, deleted (with the veth pair) when the test ends."""
    if os.geteuid() != 0:
        pytest.fail(
            "the discovery test creates network namespaces (`ip netns add`): run it as root"
        )
    network = VenueNetwork(f"maze-hass-{os.getpid()}", f"maze-satellite-{os.getpid()}")
    try:
        _create_network(network)
        yield network
    finally:
        for namespace in (network.hass, network.satellite):
            if Path("/run/netns", namespace).exists():
                subprocess.run(["ip", "netns", "del", namespace], check=False)


@contextmanager
def sockets_in(namespace: str) -> Iterator[None]:
    """Open this thread's new sockets in a named network namespace, then come back."""
    with (
        open("/proc/thread-self/ns/net", "rb") as home,
        open(f"/run/netns/{namespace}", "rb") as target,
    ):
        os.setns(target.fileno(), os.CLONE_NEWNET)
        try:
            yield
        finally:
            os.setns(home.fileno(), os.CLONE_NEWNET)


async def discovered_flow(
    client: HassClient, satellite: SatelliteProcess
) -> tuple[dict[str, Any], float]:
    """Wait for the "Discovered" card: a zeroconf flow of this integration for the satellite."""

    async def probe() -> dict[str, Any] | None:
        for flow in await client.command("config_entries/flow/progress"):
            context = flow["context"]
            if (
                flow["handler"] == "maze_manager"
                and context["source"] == "zeroconf"
                and context["unique_id"] == satellite.satellite_id
            ):
                found: dict[str, Any] = flow
                return found
        return None

    def explain() -> str:
        return f"{client.hass.explain()}\n{satellite.explain()}"

    return await wait_for(probe, "a discovered maze_manager flow", DISCOVERY_S, explain)


async def test_home_assistant_discovers_a_satellite_and_adds_it(
    venue_network: VenueNetwork,
    workdir: Path,
    processes: Processes,
    http: aiohttp.ClientSession,
) -> None:
    """The satellite's announcement becomes a discovered flow; the pairing key finishes it,
    and Home Assistant connects to the address it discovered."""
    folder = workdir / "crypt-pi"
    settings = satellite_settings(folder, "Crypt Pi", port=SATELLITE_PORT)
    settings.update(host=SATELLITE_ADDRESS, advertise=True)
    satellite = SatelliteProcess(folder, settings, netns=venue_network.satellite)
    satellite.start(processes)
    hass = start_hass(
        processes, workdir / "hass", HASS_PORT, zeroconf=True, netns=venue_network.hass
    )
    with sockets_in(venue_network.hass):
        await wait_until_up(http, hass)
        await satellite.wait_ready()
        client = await onboard(http, hass)
        try:
            await discover_and_add(client, satellite)
        finally:
            await client.close()


async def discover_and_add(client: HassClient, satellite: SatelliteProcess) -> None:
    """Find the discovered flow, check what it shows, finish it with the pairing key."""
    flow, found_s = await discovered_flow(client, satellite)
    print(f"\nHome Assistant's zeroconf offered the satellite {found_s:.1f} s after onboarding")
    assert flow["step_id"] == "zeroconf_confirm"
    assert flow["context"]["title_placeholders"] == {"name": satellite.name}
    form = await client.get(f"/api/config/config_entries/flow/{flow['flow_id']}")
    assert form["description_placeholders"] == {
        "name": satellite.name,
        "host": SATELLITE_ADDRESS,
    }

    created = await client.flow_step(flow["flow_id"], {"pairing_key": KEY_HEX})
    assert created["type"] == "create_entry", created
    assert created["title"] == satellite.name
    assert created["result"]["source"] == "zeroconf"

    async def connected() -> dict[str, Any] | None:
        body = await client.get("/api/maze_manager/remote_hosts")
        hosts = [host for host in body["remote_hosts"] if host["status"] == "connected"]
        return hosts[0] if hosts else None

    host, connect_s = await wait_for(
        connected, "the discovered satellite connected", CONNECT_S, client.hass.explain
    )
    print(f"connected to it at {host['ip']} {connect_s:.2f} s after its entry was created")
    assert host == {
        "ip": SATELLITE_ADDRESS,
        "name": satellite.name,
        "rooms": [],
        "status": "connected",
        "satellite_id": satellite.satellite_id,
    }
