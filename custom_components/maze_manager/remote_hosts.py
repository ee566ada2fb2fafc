"""Every satellite Home Assistant knows: the seed's RemoteHostManager.

Satellite entries register here as they load, so a show can name a satellite by id, name
or address. Whoever cares (the venue, when loaded) listens for satellites connecting and
synchronising. The seed's `GET /api/maze_manager/remote_hosts` list is built here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from homeassistant.core import CALLBACK_TYPE, callback
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

if TYPE_CHECKING:
    from .satellites import SatelliteDevice
    from .show import Show


DATA_HOSTS: HassKey[RemoteHostManager] = HassKey(DOMAIN)


class SatelliteListener(Protocol):
    """Told when a satellite connects and when its clock is synchronised."""

    def satellite_connected(self, device: SatelliteDevice) -> None:
        """The satellite authenticated (its name may be new)."""

    def satellite_synchronised(self, device: SatelliteDevice) -> None:
        """The satellite reports its venue clock synchronised."""


class RemoteHostManager:
    """The registry of satellite devices."""

    def __init__(self) -> None:
        self._devices: dict[str, SatelliteDevice] = {}
        self._index: dict[str, SatelliteDevice] | None = None
        self._listeners: list[SatelliteListener] = []

    @property
    def devices(self) -> tuple[SatelliteDevice, ...]:
        """Every satellite with a loaded config entry."""
        return tuple(self._devices.values())

    def add(self, device: SatelliteDevice) -> None:
        """A satellite entry loaded."""
        self._devices[device.satellite_id] = device
        self._index = None

    def remove(self, device: SatelliteDevice) -> None:
        """A satellite entry unloaded."""
        if self._devices.get(device.satellite_id) is device:
            del self._devices[device.satellite_id]
            self._index = None

    @callback
    def async_add_listener(self, listener: SatelliteListener) -> CALLBACK_TYPE:
        """Tell `listener` about satellites connecting and synchronising; returns the remover."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def satellite_connected(self, device: SatelliteDevice) -> None:
        """A satellite connected: forget the name index (its name may be new), tell listeners."""
        self._index = None
        for listener in list(self._listeners):
            listener.satellite_connected(device)

    def satellite_synchronised(self, device: SatelliteDevice) -> None:
        """A satellite's clock is synchronised: tell listeners."""
        for listener in list(self._listeners):
            listener.satellite_synchronised(device)

    def find(self, reference: str) -> SatelliteDevice | None:
        """A satellite by id, name (any case) or host address, as show files name them."""
        if self._index is None:
            # Every effect run looks up every speaker: index once, not per lookup.
            self._index = {}
            for device in self._devices.values():
                for key in (device.host, device.name, device.satellite_id):
                    self._index.setdefault(key.casefold(), device)
        return self._index.get(reference.strip().casefold())

    def rooms_of(self, device: SatelliteDevice, show: Show) -> list[str]:
        """The rooms whose speakers include this satellite."""
        return [
            room.name
            for room in show.rooms.values()
            if any(self.find(speaker.satellite) is device for speaker in room.speakers)
        ]

    def remote_hosts(self, show: Show | None) -> list[dict[str, Any]]:
        """The seed's remote host list, in three parts.

        First the hosts of remote_host_config.json (by their address and name there),
        then satellites it does not list, then any other satellite the show names that
        has no config entry; the last are always disconnected.
        """
        hosts, listed = self._configured_hosts(show)
        hosts += self._unlisted_satellites(listed, show)
        if show is not None:
            hosts += self._named_only(show, hosts)
        return hosts

    def _configured_hosts(self, show: Show | None) -> tuple[list[dict[str, Any]], set[str]]:
        """The hosts remote_host_config.json lists, and the satellite ids they matched."""
        hosts: list[dict[str, Any]] = []
        listed: set[str] = set()
        for address, host in show.remote_hosts.items() if show else ():
            device = self.find(address) or self.find(host.name)
            if device is not None:
                listed.add(device.satellite_id)
            hosts.append(_host_entry(address, host.name, list(host.rooms), device))
        return hosts, listed

    def _unlisted_satellites(self, listed: set[str], show: Show | None) -> list[dict[str, Any]]:
        """Satellites with a config entry that remote_host_config.json does not list."""
        return [
            _host_entry(
                device.host, device.name, self.rooms_of(device, show) if show else [], device
            )
            for device in self._devices.values()
            if device.satellite_id not in listed
        ]

    def _named_only(self, show: Show, hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Satellites the show's rooms name that are neither listed nor set up."""
        named = {entry["ip"] for entry in hosts} | {entry["name"] for entry in hosts}
        found: list[dict[str, Any]] = []
        for room in show.rooms.values():
            for speaker in room.speakers:
                if speaker.satellite in named or self.find(speaker.satellite) is not None:
                    continue
                named.add(speaker.satellite)
                rooms = [
                    other.name
                    for other in show.rooms.values()
                    if any(s.satellite == speaker.satellite for s in other.speakers)
                ]
                found.append(_host_entry(speaker.satellite, speaker.satellite, rooms, None))
        return found


def _host_entry(
    address: str, name: str, rooms: list[str], device: SatelliteDevice | None
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "ip": address,
        "name": name,
        "rooms": rooms,
        "status": "connected" if device is not None and device.available else "disconnected",
    }
    if device is not None:
        entry["satellite_id"] = device.satellite_id
    return entry
