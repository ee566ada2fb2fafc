"""Rooms with their areas, lights and speakers: the seed's LightConfigManager.

A room of the show is an area (the one it names, or one named after it, created when
missing). Its lights are the light entities in that area plus any it lists; its speakers
are the satellite outputs its show entry names, resolved to one target per satellite.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
)

from . import link
from .const import DOMAIN
from .errors import no_show, unknown_item
from .remote_hosts import RemoteHostManager
from .satellites import SatelliteDevice
from .show import Room, Show, SpeakerRef


@dataclass(frozen=True, slots=True)
class Target:
    """Where a room's sound goes: some outputs of one satellite."""

    device: SatelliteDevice
    output_mask: int


class LightConfigManager:
    """Maps the loaded show's rooms to areas, light entities and satellite outputs."""

    def __init__(self, hass: HomeAssistant, hosts: RemoteHostManager) -> None:
        self.hass = hass
        self.hosts = hosts
        self.show: Show | None = None
        self.room_areas: dict[str, str] = {}

    def load(self, show: Show) -> None:
        """Use a newly loaded show: every room gets its area."""
        self.show = show
        areas = ar.async_get(self.hass)
        self.room_areas = {}
        for room in show.rooms.values():
            area = areas.async_get_area(room.area) if room.area else None
            if area is None:
                area = areas.async_get_or_create(room.name)
            self.room_areas[room.name] = area.id

    # --- choosing rooms ---------------------------------------------------------------

    def select(self, names: Iterable[str] | None, areas: Iterable[str] = ()) -> list[Room]:
        """Rooms by name (any case) or area id; None and no areas mean every room."""
        show = self._require_show()
        if names is None and not areas:
            return list(show.rooms.values())
        chosen: dict[str, Room] = {}
        for name in names or ():
            room = show.find_room(name)
            if room is None:
                raise unknown_item("room", name)
            chosen[room.name] = room
        for area_id in areas:
            for name in self._rooms_in_area(area_id):
                chosen[name] = show.rooms[name]
        return list(chosen.values())

    def _rooms_in_area(self, area_id: str) -> list[str]:
        matches = [name for name, area in self.room_areas.items() if area == area_id]
        if not matches:
            raise ServiceValidationError(
                f"Area {area_id} is not a room of the show",
                translation_domain=DOMAIN,
                translation_key="area_not_a_room",
                translation_placeholders={"area": area_id},
            )
        return matches

    def _require_show(self) -> Show:
        if self.show is None:
            raise no_show()
        return self.show

    # --- lights -----------------------------------------------------------------------

    def room_lights(self, room: Room) -> list[str]:
        """The light entities of a room: those in its area plus the ones it lists."""
        lights = list(room.lights)
        area_id = self.room_areas.get(room.name)
        if area_id is None:
            return lights
        for entry in self._entities_in_area(area_id):
            if entry.domain == "light" and not entry.disabled and entry.entity_id not in lights:
                lights.append(entry.entity_id)
        return lights

    def _entities_in_area(self, area_id: str) -> list[er.RegistryEntry]:
        """Entities placed in the area, and those of its devices that have no area of their own."""
        entities = er.async_get(self.hass)
        devices = dr.async_entries_for_area(dr.async_get(self.hass), area_id)
        return [
            *er.async_entries_for_area(entities, area_id),
            *(
                entry
                for device in devices
                for entry in er.async_entries_for_device(entities, device.id)
                if entry.area_id is None  # an entity's own area overrides its device's
            ),
        ]

    def lights_by_latency(self, rooms: Iterable[Room]) -> dict[int, list[str]]:
        """The rooms' lights grouped by their latency in ms, so slow ones are sent earlier."""
        groups: dict[int, list[str]] = {}
        for room in rooms:
            for entity_id in self.room_lights(room):
                latency = room.light_latency_ms.get(entity_id, 0)
                groups.setdefault(latency, []).append(entity_id)
        return groups

    # --- speakers ---------------------------------------------------------------------

    def targets(self, room: Room) -> list[Target]:
        """The satellites and outputs that play a room's sound, one target per satellite."""
        masks: dict[str, tuple[SatelliteDevice, int]] = {}
        for speaker in room.speakers:
            device = self.hosts.find(speaker.satellite)
            if device is None:
                continue
            mask = output_mask(device, speaker)
            if mask:
                _, previous = masks.get(device.satellite_id, (device, 0))
                masks[device.satellite_id] = (device, previous | mask)
        return [Target(device, mask) for device, mask in masks.values()]

    def connected_targets(self, rooms: Iterable[Room]) -> list[Target]:
        """One target per connected satellite, its outputs for every room OR-ed together."""
        merged: dict[str, Target] = {}
        for room in rooms:
            for target in self.targets(room):
                previous = merged.get(target.device.satellite_id)
                mask = target.output_mask | (previous.output_mask if previous else 0)
                merged[target.device.satellite_id] = Target(target.device, mask)
        return [target for target in merged.values() if target.device.available]

    def speaker_rooms(self, device: SatelliteDevice, output_index: int) -> list[str]:
        """The rooms one satellite output plays for."""
        if self.show is None:
            return []
        return [
            room.name
            for room in self.show.rooms.values()
            for speaker in room.speakers
            if self.hosts.find(speaker.satellite) is device
            and output_mask(device, speaker) & (1 << output_index)
        ]


def output_mask(device: SatelliteDevice, speaker: SpeakerRef) -> int:
    """The output bits a speaker reference selects on a satellite (0 when none match)."""
    outputs = device.hello.outputs if device.hello else ()
    if speaker.output is None:
        return sum(1 << item.index for item in outputs) if outputs else link.ALL_OUTPUTS
    if isinstance(speaker.output, int):
        return 1 << speaker.output if 0 <= speaker.output < link.MAX_OUTPUTS else 0
    wanted = speaker.output.strip().casefold()
    return sum(1 << item.index for item in outputs if item.name.casefold() == wanted)
