"""All satellites of the venue, and routing rooms to their speakers (the seed's RemoteHostManager).

Satellite entries register here as they load; the venue, when loaded, is told when a
satellite connects (to preload it) and when its clock is synchronised (to restore what
should be playing). The seed's `GET /api/maze_manager/remote_hosts` reads from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeassistant.util.hass_dict import HassKey

from . import link
from .const import DOMAIN

if TYPE_CHECKING:
    from .satellites import SatelliteDevice
    from .show import Room, Show, SpeakerRef
    from .venue import Venue


DATA_HOSTS: HassKey[RemoteHostManager] = HassKey(DOMAIN)


@dataclass(frozen=True, slots=True)
class Target:
    """Where a room's sound goes: some outputs of one satellite."""

    device: SatelliteDevice
    output_mask: int


class RemoteHostManager:
    """The registry of satellite devices."""

    def __init__(self) -> None:
        self._devices: dict[str, SatelliteDevice] = {}
        self._index: dict[str, SatelliteDevice] | None = None
        self.venue: Venue | None = None

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

    def satellite_connected(self, device: SatelliteDevice) -> None:
        """Forward to the venue, if one is loaded (the satellite's name may be new)."""
        self._index = None
        if self.venue is not None:
            self.venue.satellite_connected(device)

    def satellite_synchronised(self, device: SatelliteDevice) -> None:
        """Forward to the venue, if one is loaded."""
        if self.venue is not None:
            self.venue.satellite_synchronised(device)

    def find(self, reference: str) -> SatelliteDevice | None:
        """A satellite by id, name (any case) or host address, as show files name them."""
        if self._index is None:
            # Every effect run looks up every speaker: index once, not per lookup.
            self._index = {}
            for device in self._devices.values():
                for key in (device.host, device.name, device.satellite_id):
                    self._index.setdefault(key.casefold(), device)
        return self._index.get(reference.strip().casefold())

    def targets(self, room: Room) -> list[Target]:
        """The satellites and outputs that play a room's sound, one target per satellite."""
        masks: dict[str, int] = {}
        for speaker in room.speakers:
            device = self.find(speaker.satellite)
            if device is None:
                continue
            mask = output_mask(device, speaker)
            if mask:
                masks[device.satellite_id] = masks.get(device.satellite_id, 0) | mask
        return [Target(self._devices[sid], mask) for sid, mask in masks.items()]

    def rooms_of(self, device: SatelliteDevice, show: Show) -> list[str]:
        """The rooms whose speakers include this satellite."""
        return [
            room.name
            for room in show.rooms.values()
            if any(self.find(speaker.satellite) is device for speaker in room.speakers)
        ]

    def remote_hosts(self, show: Show | None) -> list[dict[str, Any]]:
        """The seed's remote host list.

        First the hosts of remote_host_config.json (by their address and name there),
        then satellites it does not list, then any other satellite the show names that
        has no config entry; the last are always disconnected.
        """
        hosts: list[dict[str, Any]] = []
        listed: set[str] = set()
        for address, host in show.remote_hosts.items() if show else ():
            device = self.find(address) or self.find(host.name)
            if device is not None:
                listed.add(device.satellite_id)
            hosts.append(_host_entry(address, host.name, list(host.rooms), device))
        for device in self._devices.values():
            if device.satellite_id not in listed:
                rooms = self.rooms_of(device, show) if show else []
                hosts.append(_host_entry(device.host, device.name, rooms, device))
        if show is None:
            return hosts
        named = {entry["ip"] for entry in hosts} | {entry["name"] for entry in hosts}
        for room in show.rooms.values():
            for speaker in room.speakers:
                if speaker.satellite in named or self.find(speaker.satellite) is not None:
                    continue
                named.add(speaker.satellite)
                rooms = [r.name for r in show.rooms.values() if _names(r, speaker.satellite)]
                hosts.append(_host_entry(speaker.satellite, speaker.satellite, rooms, None))
        return hosts


def _names(room: Room, satellite: str) -> bool:
    return any(speaker.satellite == satellite for speaker in room.speakers)


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


def output_mask(device: SatelliteDevice, speaker: SpeakerRef) -> int:
    """The output bits a speaker reference selects on a satellite (0 when none match)."""
    outputs = device.hello.outputs if device.hello else ()
    if speaker.output is None:
        return sum(1 << item.index for item in outputs) if outputs else link.ALL_OUTPUTS
    if isinstance(speaker.output, int):
        return 1 << speaker.output if 0 <= speaker.output < link.MAX_OUTPUTS else 0
    wanted = speaker.output.strip().casefold()
    return sum(1 << item.index for item in outputs if item.name.casefold() == wanted)
