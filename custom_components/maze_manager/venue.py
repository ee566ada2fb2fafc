"""The venue: its show, and running effects and themes in its rooms.

This is the seed's EffectsManager and LightConfigManager in one place. An effect run picks
one start time on the venue clock for every room and satellite involved: now plus a lead
that covers the slowest target's delay and output latency. Satellites get a 20-byte play
trigger for that time; light and action steps are scheduled for the same time base,
earlier by each light's latency. A bad show file keeps the last good show running and
raises a repair issue.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, STATE_ON
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    area_registry as ar,
)
from homeassistant.helpers import (
    device_registry as dr,
)
from homeassistant.helpers import (
    entity_registry as er,
)
from homeassistant.helpers import (
    issue_registry as ir,
)

from . import link
from .audio import EMPTY_LIBRARY, AudioLibrary, build_library, play_flags, play_gain_permille
from .const import (
    CONF_DEFAULT_VOLUME,
    CONF_LEAD_MS,
    CONF_SHOW_FOLDER,
    DEFAULT_LEAD_MS,
    DEFAULT_SHOW_FOLDER,
    DEFAULT_VOLUME,
    DOMAIN,
)
from .remote_hosts import RemoteHostManager, Target, output_mask
from .satellite_link import venue_clock_us
from .satellites import SatelliteDevice
from .show import Effect, Room, Show, ShowError, Step, Theme, load_show
from .timeline import Timeline

_LOGGER = logging.getLogger(__name__)

MIN_LEAD_US = 10_000
"""Even on loopback a trigger needs one output block (5 ms) plus margin to arrive."""
LEAD_MARGIN_US = 3_000
BLOCK_US = 5_000
SHOW_ISSUE_ID = "show_invalid"
EVENT_EFFECT_RUN = f"{DOMAIN}_effect_run"
EVENT_STOPPED = f"{DOMAIN}_stopped"


@dataclass(frozen=True, slots=True)
class RunResult:
    """What an effect or theme run did, returned to service callers."""

    start_us: int
    lead_ms: float
    rooms: tuple[str, ...]
    satellites: tuple[str, ...]
    offline_rooms: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """The service response."""
        return {
            "start_us": self.start_us,
            "lead_ms": round(self.lead_ms, 3),
            "rooms": list(self.rooms),
            "satellites": list(self.satellites),
            "offline_rooms": list(self.offline_rooms),
        }


@dataclass(frozen=True, slots=True)
class LoopKey:
    """A loop that should be playing: which cue on which satellite's outputs."""

    satellite_id: str
    cue_id: int
    output_mask: int


@dataclass
class VenueState:
    """What operators set on the venue, shown by its entities."""

    strobe_safe: bool = False
    master_volume: float = 1.0
    emergency: bool = False
    theme: str | None = None
    loops: dict[LoopKey, int] = field(default_factory=dict)
    """Loops that should be playing, with their gain in permille."""


class Venue:
    """The loaded venue entry's runtime."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, hosts: RemoteHostManager) -> None:
        self.hass = hass
        self.entry = entry
        self.hosts = hosts
        self.show: Show | None = None
        self.library: AudioLibrary = EMPTY_LIBRARY
        self.state = VenueState()
        self.timeline = Timeline(hass)
        self.room_areas: dict[str, str] = {}
        self._runs = itertools.count(1)
        self._listeners: list[CALLBACK_TYPE] = []

    # --- options ----------------------------------------------------------------------

    @property
    def show_folder(self) -> Path:
        """Where the show files are: relative paths are inside the config folder."""
        folder = self.entry.options.get(CONF_SHOW_FOLDER, DEFAULT_SHOW_FOLDER)
        return Path(self.hass.config.path(folder))

    @property
    def default_volume(self) -> float:
        """The volume of effects whose show files set none (the venue's option)."""
        return float(self.entry.options.get(CONF_DEFAULT_VOLUME, DEFAULT_VOLUME))

    @callback
    def async_add_listener(self, update: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call `update` when the show or the venue state changes."""
        self._listeners.append(update)
        return lambda: self._listeners.remove(update)

    @callback
    def notify(self) -> None:
        """Tell the venue entities that something changed."""
        for update in list(self._listeners):
            update()

    # --- show files -------------------------------------------------------------------

    async def async_reload(self) -> bool:
        """Re-read the show files; on error keep the last good show and raise a repair."""
        try:
            show = await self.hass.async_add_executor_job(
                load_show, self.show_folder, self.default_volume
            )
            library = await self.hass.async_add_executor_job(build_library, show)
        except ShowError as err:
            self._raise_show_issue(err)
            _LOGGER.error("Show files in %s are invalid:\n%s", self.show_folder, err)
            return False
        except OSError as err:
            self._raise_show_issue_text(self.show_folder.name, None, str(err))
            _LOGGER.error("Show files in %s cannot be read: %s", self.show_folder, err)
            return False
        ir.async_delete_issue(self.hass, DOMAIN, SHOW_ISSUE_ID)
        self.show, self.library = show, library
        self._sync_areas(show)
        for device in self.hosts.devices:
            if device.available:
                self.satellite_connected(device)
            device.notify()
        self.notify()
        _LOGGER.info(
            "Show loaded: %d rooms, %d effects, %d themes",
            len(show.rooms),
            len(show.effects),
            len(show.themes),
        )
        return True

    def _raise_show_issue(self, err: ShowError) -> None:
        first = err.problems[0]
        problems = "\n".join(f"- {problem}" for problem in err.problems)
        self._raise_show_issue_text(first.file, first.line, problems)

    def _raise_show_issue_text(self, file: str, line: int | None, problems: str) -> None:
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            SHOW_ISSUE_ID,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=SHOW_ISSUE_ID,
            translation_placeholders={
                "folder": str(self.show_folder),
                "file": file,
                "line": str(line) if line is not None else "-",
                "problems": problems,
            },
        )

    def _sync_areas(self, show: Show) -> None:
        """Rooms are areas: use the named area, or the one named after the room (create it)."""
        areas = ar.async_get(self.hass)
        self.room_areas = {}
        for room in show.rooms.values():
            area = areas.async_get_area(room.area) if room.area else None
            if area is None:
                area = areas.async_get_or_create(room.name)
            self.room_areas[room.name] = area.id

    # --- satellites -------------------------------------------------------------------

    def satellite_connected(self, device: SatelliteDevice) -> None:
        """Preload the satellite with the show's cues and its master volume."""
        preload = self.library.preload
        self.entry.async_create_background_task(
            self.hass, device.link.set_preload(preload), f"maze preload {device.satellite_id}"
        )
        volume = link.Volume(link.MASTER_OUTPUT, self.state.master_volume, False)
        self.entry.async_create_background_task(
            self.hass, device.link.send(volume), f"maze volume {device.satellite_id}"
        )

    def satellite_synchronised(self, device: SatelliteDevice) -> None:
        """Home Assistant's state wins: start loops that should play, stop stray loops.

        One-shots still sounding are left to end on their own.
        """
        status = device.status
        looping = {
            (item.cue_id, item.output_mask)
            for item in (status.playing if status else ())
            if item.loop
        }
        wanted = {
            key: gain
            for key, gain in self.state.loops.items()
            if key.satellite_id == device.satellite_id
        }
        start_us = venue_clock_us() + self.lead_us([device])
        messages: list[link.Message] = []
        for key, gain in wanted.items():
            if (key.cue_id, key.output_mask) not in looping:
                messages.append(
                    link.Play(
                        key.cue_id,
                        device.link.next_seq(),
                        start_us,
                        key.output_mask,
                        gain,
                        link.PlayFlags.LOOP,
                    )
                )
        wanted_pairs = {(key.cue_id, key.output_mask) for key in wanted}
        for cue_id, mask in looping - wanted_pairs:
            messages.append(link.Stop(device.link.next_seq(), start_us, cue_id, mask, 500))
        if messages:
            _LOGGER.info("Restoring %d loop changes on %s", len(messages), device.name)
            self.entry.async_create_background_task(
                self.hass, _send_all(device, messages), f"maze restore {device.satellite_id}"
            )

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

    def lead_us(self, devices: Iterable[SatelliteDevice]) -> int:
        """How far ahead to schedule: the option, the show's setting, or what targets need.

        Automatic lead covers the slowest target's round trip and output latency plus two
        output blocks, so the trigger is there before the block that holds the start.
        """
        fixed_ms = int(self.entry.options.get(CONF_LEAD_MS, DEFAULT_LEAD_MS))
        if fixed_ms <= 0 and self.show is not None and self.show.settings.lead_ms is not None:
            fixed_ms = self.show.settings.lead_ms
        if fixed_ms > 0:
            return fixed_ms * 1000
        lead = MIN_LEAD_US
        for device in devices:
            status = device.status
            rtt = status.rtt_us if status else 0
            latency = (
                max((out.latency_us for out in device.hello.outputs), default=0)
                if (device.hello)
                else 0
            )
            lead = max(lead, rtt + latency + 2 * BLOCK_US + LEAD_MARGIN_US)
        return lead

    # --- running effects --------------------------------------------------------------

    def _require_show(self) -> Show:
        if self.state.emergency:
            raise ServiceValidationError(
                "Effects are refused until the emergency stop is cleared",
                translation_domain=DOMAIN,
                translation_key="emergency_stop_active",
            )
        if self.show is None:
            raise ServiceValidationError(
                "No show is loaded; fix the show files and reload",
                translation_domain=DOMAIN,
                translation_key="no_show",
            )
        return self.show

    def effect(self, name: str) -> Effect:
        """An effect by name (any case), or a validation error naming it."""
        show = self._require_show()
        found = show.find_effect(name)
        if found is None:
            raise _unknown("effect", name)
        return found

    def theme(self, name: str) -> Theme:
        """A theme by name (any case), or a validation error naming it."""
        show = self._require_show()
        found = show.find_theme(name)
        if found is None:
            raise _unknown("theme", name)
        return found

    def rooms(self, names: Iterable[str] | None, areas: Iterable[str] = ()) -> list[Room]:
        """Rooms by name (any case) or area id; None means every room."""
        show = self._require_show()
        if names is None and not areas:
            return list(show.rooms.values())
        chosen: dict[str, Room] = {}
        for name in names or ():
            room = show.find_room(name)
            if room is None:
                raise _unknown("room", name)
            chosen[room.name] = room
        for area_id in areas:
            matches = [n for n, a in self.room_areas.items() if a == area_id]
            if not matches:
                raise ServiceValidationError(
                    f"Area {area_id} is not a room of the show",
                    translation_domain=DOMAIN,
                    translation_key="area_not_a_room",
                    translation_placeholders={"area": area_id},
                )
            for name in matches:
                chosen[name] = show.rooms[name]
        return list(chosen.values())

    async def async_run_effect(
        self,
        effect: Effect,
        rooms: list[Room],
        *,
        volume: float | None = None,
        loop: bool | None = None,
        source: str = "service",
        start_us: int | None = None,
    ) -> RunResult:
        """Fire an effect in some rooms at one venue time."""
        by_room = {room.name: self.hosts.targets(room) for room in rooms}
        targets = _merged(by_room.values())
        devices = {target.device.satellite_id: target.device for target in targets}
        if start_us is None:
            start_us = venue_clock_us() + self.lead_us(devices.values())
        lead_us = start_us - venue_clock_us()
        run_id = next(self._runs)
        await self._play_audio(effect, targets, start_us, volume, loop)
        self._schedule_steps(run_id, effect, rooms, start_us)
        offline = tuple(
            room.name for room in rooms if room.speakers and not _any_available(by_room[room.name])
        )
        self.hass.bus.async_fire(
            EVENT_EFFECT_RUN,
            {
                "effect": effect.name,
                "rooms": [room.name for room in rooms],
                "source": source,
                "start_us": start_us,
            },
        )
        return RunResult(
            start_us,
            lead_us / 1000,
            tuple(room.name for room in rooms),
            tuple(devices),
            offline,
        )

    def _targets(self, rooms: Iterable[Room]) -> list[Target]:
        return _merged(self.hosts.targets(room) for room in rooms)

    async def _play_audio(
        self,
        effect: Effect,
        targets: list[Target],
        start_us: int,
        volume: float | None,
        loop: bool | None,
    ) -> None:
        cue = self.library.cue_for(effect)
        if cue is None:
            return
        gain = play_gain_permille(cue, volume)
        flags = play_flags(loop)
        loops = loop if loop is not None else cue.loop
        for target in targets:
            device = target.device
            trigger = link.Play(
                cue.cue_id, device.link.next_seq(), start_us, target.output_mask, gain, flags
            )
            await device.link.send(trigger)
            if loops:
                key = LoopKey(device.satellite_id, cue.cue_id, target.output_mask)
                self.state.loops[key] = gain

    def _schedule_steps(
        self, run_id: int, effect: Effect, rooms: list[Room], start_us: int
    ) -> None:
        room_names = frozenset(room.name for room in rooms)
        for step in effect.steps:
            if step.strobe and self.state.strobe_safe:
                continue
            at_us = start_us + step.at_ms * 1000
            if step.kind == "light":
                for latency_ms, lights in self._lights_by_latency(rooms).items():
                    self.timeline.schedule(
                        run_id,
                        effect.name,
                        room_names,
                        at_us - latency_ms * 1000,
                        _light_job(self.hass, step, lights),
                    )
            else:
                self.timeline.schedule(
                    run_id, effect.name, room_names, at_us, _action_job(self.hass, step)
                )

    def _lights_by_latency(self, rooms: Iterable[Room]) -> dict[int, list[str]]:
        groups: dict[int, list[str]] = {}
        for room in rooms:
            for entity_id in self.room_lights(room):
                latency = room.light_latency_ms.get(entity_id, 0)
                groups.setdefault(latency, []).append(entity_id)
        return groups

    def room_lights(self, room: Room) -> list[str]:
        """The light entities of a room: those in its area plus the ones it lists."""
        lights = list(room.lights)
        area_id = self.room_areas.get(room.name)
        if area_id is None:
            return lights
        entities = er.async_get(self.hass)
        in_area = [
            *er.async_entries_for_area(entities, area_id),
            *(
                entry
                for device in dr.async_entries_for_area(dr.async_get(self.hass), area_id)
                for entry in er.async_entries_for_device(entities, device.id)
                if entry.area_id is None  # an entity's own area overrides its device's
            ),
        ]
        for entry in in_area:
            if entry.domain == "light" and not entry.disabled and entry.entity_id not in lights:
                lights.append(entry.entity_id)
        return lights

    async def async_run_theme(self, theme: Theme, source: str = "service") -> RunResult:
        """Fire every cue of a theme from one start time."""
        show = self._require_show()
        plan: list[tuple[Effect, list[Room], int]] = []
        for cue in theme.cues:
            rooms = self.rooms(None if cue.rooms == "all" else list(cue.rooms))
            plan.append((self.effect(cue.effect), rooms, cue.at_ms))
        all_rooms = {room.name: room for _, rooms, _ in plan for room in rooms}
        devices = {t.device.satellite_id: t.device for t in self._targets(all_rooms.values())}
        start_us = venue_clock_us() + self.lead_us(devices.values())
        satellites: set[str] = set()
        offline: set[str] = set()
        for effect, rooms, at_ms in plan:
            result = await self.async_run_effect(
                effect, rooms, source=source, start_us=start_us + at_ms * 1000
            )
            satellites.update(result.satellites)
            offline.update(result.offline_rooms)
        self.state.theme = theme.name
        self.notify()
        _LOGGER.debug("Theme %s started with %d cues", theme.name, len(plan))
        del show
        return RunResult(
            start_us,
            (start_us - venue_clock_us()) / 1000,
            tuple(all_rooms),
            tuple(sorted(satellites)),
            tuple(sorted(offline)),
        )

    async def async_stop(
        self, rooms: list[Room] | None, effect: Effect | None, fade_ms: int
    ) -> int:
        """Stop an effect, a room, or everything; returns how many satellites were told."""
        names = frozenset(room.name for room in rooms) if rooms is not None else None
        self.timeline.cancel(names, effect.name if effect else None)
        self.hass.bus.async_fire(
            EVENT_STOPPED,
            {
                "rooms": sorted(names) if names is not None else "all",
                "effect": effect.name if effect else None,
                "fade_ms": fade_ms,
            },
        )
        if rooms is None and effect is None:
            self.state.theme = None
            self.notify()
        cue = self.library.cue_for(effect) if effect else None
        if effect is not None and cue is None:
            return 0  # a light-only effect: cancelling its steps was all there was to do
        cue_id = cue.cue_id if cue else 0
        if rooms is None:
            targets = [
                Target(device, link.ALL_OUTPUTS)
                for device in self.hosts.devices
                if device.available
            ]
        else:
            targets = self._targets(rooms)
        at_us = venue_clock_us() + self.lead_us(target.device for target in targets)
        for target in targets:
            device = target.device
            await device.link.send(
                link.Stop(device.link.next_seq(), at_us, cue_id, target.output_mask, fade_ms)
            )
        self._forget_loops(targets, cue_id)
        return len(targets)

    def _forget_loops(self, targets: list[Target], cue_id: int) -> None:
        for key in list(self.state.loops):
            for target in targets:
                if key.satellite_id != target.device.satellite_id:
                    continue
                if cue_id and key.cue_id != cue_id:
                    continue
                if key.output_mask & target.output_mask:
                    del self.state.loops[key]
                    break

    async def async_emergency_stop(self) -> None:
        """Silence everything at once, turn the house lights on, refuse effects."""
        self.state.emergency = True
        self.timeline.cancel()
        for device in self.hosts.devices:
            if device.available:
                await device.link.send(link.Stop(device.link.next_seq(), 0, 0, link.ALL_OUTPUTS, 0))
        self.state.loops.clear()
        self.state.theme = None
        await self._house_lights_on(list(self.show.settings.house_lights) if self.show else [])
        self.hass.bus.async_fire(EVENT_STOPPED, {"rooms": "all", "emergency": True})
        _LOGGER.warning("Emergency stop: all sound stopped, house lights on")
        self.notify()

    async def _house_lights_on(self, house: list[str]) -> None:
        """Turn the house lights (and any other listed entities) fully on."""
        lights = [entity_id for entity_id in house if entity_id.startswith("light.")]
        others = [entity_id for entity_id in house if not entity_id.startswith("light.")]
        calls = [("light", {ATTR_ENTITY_ID: lights, "brightness_pct": 100})] if lights else []
        calls += [("homeassistant", {ATTR_ENTITY_ID: others})] if others else []
        for domain, data in calls:
            try:
                await self.hass.services.async_call(domain, "turn_on", data)
            except HomeAssistantError as err:
                _LOGGER.error("Emergency stop could not turn on %s: %s", data[ATTR_ENTITY_ID], err)

    @callback
    def clear_emergency(self) -> None:
        """Allow effects again."""
        self.state.emergency = False
        _LOGGER.info("Emergency stop cleared")
        self.notify()

    async def async_set_master_volume(self, volume: float) -> None:
        """Set the master volume of every satellite."""
        self.state.master_volume = volume
        for device in self.hosts.devices:
            await device.link.send(link.Volume(link.MASTER_OUTPUT, volume, False))
        self.notify()

    async def async_close(self) -> None:
        """Cancel everything scheduled; the entry is unloading."""
        self.timeline.cancel()


def _unknown(kind: str, name: str) -> ServiceValidationError:
    """The error for a show item (effect, theme, room) that does not exist."""
    return ServiceValidationError(
        f"Unknown {kind} {name}",
        translation_domain=DOMAIN,
        translation_key=f"unknown_{kind}",
        translation_placeholders={kind: name},
    )


def _merged(per_room: Iterable[list[Target]]) -> list[Target]:
    """One target per connected satellite, its outputs for every room OR-ed together."""
    masks: dict[str, Target] = {}
    for targets in per_room:
        for target in targets:
            sid = target.device.satellite_id
            previous = masks.get(sid)
            mask = target.output_mask | (previous.output_mask if previous else 0)
            masks[sid] = Target(target.device, mask)
    return [target for target in masks.values() if target.device.available]


def _any_available(targets: list[Target]) -> bool:
    return any(target.device.available for target in targets)


async def _send_all(device: SatelliteDevice, messages: list[link.Message]) -> None:
    for message in messages:
        await device.link.send(message)


def _light_job(hass: HomeAssistant, step: Step, lights: list[str]) -> Callable[[], Any]:
    data = dict(step.light or {})
    state = data.pop("state", STATE_ON)
    service = "turn_on" if state == STATE_ON else "turn_off"
    if service == "turn_off":
        data = {key: value for key, value in data.items() if key == "transition"}

    async def job() -> None:
        await hass.services.async_call(
            "light", service, {**data, ATTR_ENTITY_ID: lights}, blocking=False
        )

    return job


def _action_job(hass: HomeAssistant, step: Step) -> Callable[[], Any]:
    domain, service = (step.action or ".").split(".", 1)

    async def job() -> None:
        await hass.services.async_call(
            domain, service, dict(step.data), blocking=False, target=dict(step.target or {})
        )

    return job
