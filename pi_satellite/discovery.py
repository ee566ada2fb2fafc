"""Zeroconf advertisement, so Home Assistant lists every new satellite under "Discovered".

The TXT records carry what Home Assistant needs before connecting: the stable id (to
match a known satellite whose address changed), the protocol major version, how to
authenticate and, with TLS on, the certificate fingerprint to pin.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Sequence

import ifaddr
from zeroconf import IPVersion
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from . import __version__, link
from .config import SatelliteConfig
from .identity import Identity

_LOGGER = logging.getLogger(__name__)

SERVICE_TYPE = "_maze-satellite._tcp.local."
AUTH_SCHEME = "hmac-sha256"
INSTANCE_BYTES = 63  # DNS-SD's limit on an instance name
TXT_VALUE_BYTES = 200  # a TXT string holds 255 bytes, key and '=' included
ADDRESS_RECHECK_S = 30.0


def _utf8_prefix(text: str, max_bytes: int) -> str:
    """The longest start of `text` that fits in `max_bytes` of UTF-8."""
    return text.encode()[:max_bytes].decode(errors="ignore")


def txt_records(name: str, identity: Identity) -> dict[str, str]:
    """The TXT records Home Assistant reads from the advertisement."""
    records = {
        "id": identity.satellite_id,
        "name": _utf8_prefix(name, TXT_VALUE_BYTES),
        "proto": str(link.PROTOCOL_VERSION),
        "version": __version__,
        "auth": AUTH_SCHEME,
    }
    if identity.cert_fingerprint is not None:
        records["fp"] = identity.cert_fingerprint
    return records


def machine_addresses() -> list[str]:
    """This machine's IPv4 addresses for the venue network (loopback only when alone)."""
    found = [
        ip.ip for adapter in ifaddr.get_adapters() for ip in adapter.ips if isinstance(ip.ip, str)
    ]
    outside = [address for address in found if not ipaddress.ip_address(address).is_loopback]
    return outside or found


def _specific_address(host: str) -> str | None:
    """The host as an address when it names one address, None for a wildcard or a name."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    return None if address.is_unspecified else str(address)


class Advertiser:
    """Announces one satellite as `<name>._maze-satellite._tcp.local.`.

    It announces, and answers queries on, these addresses: `interfaces` (or the config's
    `advertise_interfaces`), else the configured host when it is one address, else this
    machine's addresses, re-read every `recheck_s` seconds so that a new DHCP lease is
    announced without a restart.
    """

    def __init__(
        self,
        config: SatelliteConfig,
        identity: Identity,
        *,
        port: int | None = None,
        interfaces: Sequence[str] | None = None,
        recheck_s: float = ADDRESS_RECHECK_S,
    ) -> None:
        self._identity = identity
        self._name = config.name
        self._port = config.port if port is None else port
        chosen = tuple(interfaces if interfaces is not None else config.advertise_interfaces)
        host = _specific_address(config.host)
        if not chosen and host is not None:
            chosen = (host,)
        self._interfaces = chosen
        self._recheck_s = recheck_s
        self._addresses: list[str] = []
        self._zeroconf: AsyncZeroconf | None = None
        self._info: AsyncServiceInfo | None = None
        self._requested_name = ""  # before zeroconf's renaming on a clash
        self._watcher: asyncio.Task[None] | None = None
        self._broadcasts: set[asyncio.Future[object]] = set()  # zeroconf's repeat announcements

    @property
    def service_name(self) -> str | None:
        """The full announced name (zeroconf appends `-2` on a clash), once started."""
        return None if self._info is None else self._info.name

    async def start(self) -> None:
        """Join multicast and announce; returns once the name is claimed on the network."""
        self._addresses = self._current_addresses()
        await self._open()
        if not self._interfaces:
            self._watcher = asyncio.create_task(self._follow_machine_addresses())

    async def update(self, *, name: str | None = None, port: int | None = None) -> None:
        """Announce a new name or port (a renamed satellite, a server on a new port)."""
        if name is not None:
            self._name = name
        if port is not None:
            self._port = port
        zeroconf, old = self._zeroconf, self._info
        if zeroconf is None or old is None:
            return
        if self._instance_name() == self._requested_name:
            self._info = self._service_info(old.name)
            self._keep(await zeroconf.async_update_service(self._info))
        else:
            self._keep(await zeroconf.async_unregister_service(old))
            await self._register(zeroconf)

    async def close(self) -> None:
        """Say goodbye on the network and leave multicast."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        await self._shut()

    async def _open(self) -> None:
        ip_version = IPVersion.All if self._any_ipv6() else IPVersion.V4Only
        self._zeroconf = AsyncZeroconf(interfaces=list(self._addresses), ip_version=ip_version)
        await self._register(self._zeroconf)

    async def _shut(self) -> None:
        for broadcast in self._broadcasts:
            broadcast.cancel()
        await asyncio.gather(*self._broadcasts, return_exceptions=True)
        self._broadcasts.clear()
        if self._zeroconf is not None:
            await self._zeroconf.async_close()  # unregisters, sending goodbye packets
            self._zeroconf = None
            self._info = None

    async def _register(self, zeroconf: AsyncZeroconf) -> None:
        self._requested_name = self._instance_name()
        self._info = self._service_info(self._requested_name)
        self._keep(await zeroconf.async_register_service(self._info, allow_name_change=True))
        _LOGGER.info(
            "Advertising %s on %s port %s", self._info.name, ", ".join(self._addresses), self._port
        )

    def _keep(self, broadcast: Awaitable[object]) -> None:
        """Hold a repeat-announcement task until it ends, so close can cut it short."""
        future = asyncio.ensure_future(broadcast)
        self._broadcasts.add(future)
        future.add_done_callback(self._broadcasts.discard)

    async def _follow_machine_addresses(self) -> None:
        """Re-announce from a fresh zeroconf when the machine's addresses change."""
        while True:
            await asyncio.sleep(self._recheck_s)
            addresses = self._current_addresses()
            if addresses != self._addresses:
                _LOGGER.info("Addresses changed to %s; announcing again", ", ".join(addresses))
                self._addresses = addresses
                await self._shut()
                await self._open()

    def _current_addresses(self) -> list[str]:
        return list(self._interfaces) or machine_addresses()

    def _any_ipv6(self) -> bool:
        return any(ipaddress.ip_address(address).version == 6 for address in self._addresses)

    def _instance_name(self) -> str:
        return f"{_utf8_prefix(self._name, INSTANCE_BYTES)}.{SERVICE_TYPE}"

    def _service_info(self, full_name: str) -> AsyncServiceInfo:
        return AsyncServiceInfo(
            SERVICE_TYPE,
            full_name,
            port=self._port,
            properties=txt_records(self._name, self._identity),
            server=f"{self._identity.satellite_id}.local.",
            parsed_addresses=self._addresses,
        )
