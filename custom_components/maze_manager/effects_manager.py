"""Running effects and themes, and stopping them: the seed's EffectsManager.

An effect run picks one start time on the venue clock for every room and satellite
involved: now plus a lead that covers the slowest target's delay and output latency.
Satellites get a 20-byte play trigger for that time; light and action steps are
scheduled on the same time base, earlier by each light's latency.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import ATTR_ENTITY_ID, STATE_ON
from homeassistant.core import CALLBACK_TYPE, HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from . import link
from .audio_manager import AudioManager, play_flags, play_gain_permille, stream_gain_permille
from .audio_stream import AudioStream, StreamOptions, StreamTarget
from .const import CONF_LEAD_MS, DEFAULT_LEAD_MS, DOMAIN
from .errors import no_show, unknown_item
from .light_config import LightConfigManager, Target
from .remote_hosts import RemoteHostManager
from .satellites import MIN_LEAD_US, SatelliteDevice
from .show import Effect, Room, Show, Step, Theme
from .start_report import PendingStart, async_outcomes, merge_sound, room_sound
from .timeline import StepJob, Timeline
from .venue_state import LoopKey, VenueState

_LOGGER = logging.getLogger(__name__)

RESTORE_FADE_MS = 500
"""A stray loop found after a reconnect fades out rather than cutting off."""
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
    sound: dict[str, dict[str, Any]]
    """Per room, whether its satellites confirmed the start (see start_report.py)."""

    def as_dict(self) -> dict[str, Any]:
        """The service response."""
        return {
            "start_us": self.start_us,
            "lead_ms": round(self.lead_ms, 3),
            "rooms": list(self.rooms),
            "satellites": list(self.satellites),
            "offline_rooms": list(self.offline_rooms),
            "sound": self.sound,
        }


@dataclass(frozen=True, slots=True)
class Fired:
    """An effect sent to its rooms, its satellites' answers still to come."""

    effect: Effect
    rooms: tuple[str, ...]
    with_speakers: frozenset[str]
    by_room: dict[str, list[Target]]
    start_us: int
    satellites: tuple[str, ...]
    pending: list[PendingStart]
    has_sound: bool

    @property
    def offline_rooms(self) -> tuple[str, ...]:
        """Rooms with speakers none of which is connected."""
        return tuple(
            room
            for room in self.rooms
            if room in self.with_speakers
            and not any(t.device.available for t in self.by_room[room])
        )

    async def async_sound(self, *, wait: bool = True) -> dict[str, dict[str, Any]]:
        """Wait for the answers (unless told not to) and report per room."""
        outcomes = await async_outcomes(self.pending, self.start_us, wait=wait)
        rooms = [room for room in self.rooms if self.has_sound and room in self.with_speakers]
        return room_sound(self.rooms, rooms, self.by_room, outcomes)


class EffectsManager:
    """Runs the loaded show's effects and themes in its rooms, and stops them."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: ConfigEntry,
        *,
        state: VenueState,
        hosts: RemoteHostManager,
        rooms: LightConfigManager,
        audio: AudioManager,
        notify: CALLBACK_TYPE,
    ) -> None:
        self.hass = hass
        self.entry = entry
        self.state = state
        self.hosts = hosts
        self.rooms = rooms
        self.audio = audio
        self.timeline = Timeline(hass)
        self.show: Show | None = None
        self._notify = notify
        self._runs = itertools.count(1)
        self._streams: dict[str, list[AudioStream]] = {}
        """The streams each effect has playing, so a stop can end them."""

    def load(self, show: Show) -> None:
        """Run effects from a newly loaded show."""
        self.show = show

    # --- what a call names ------------------------------------------------------------

    def check_ready(self) -> Show:
        """The show to run from; refused during an emergency stop or without a show."""
        if self.state.emergency:
            raise ServiceValidationError(
                "Effects are refused until the emergency stop is cleared",
                translation_domain=DOMAIN,
                translation_key="emergency_stop_active",
            )
        if self.show is None:
            raise no_show()
        return self.show

    def effect(self, name: str) -> Effect:
        """An effect by name (any case), or a validation error naming it."""
        found = self.check_ready().find_effect(name)
        if found is None:
            raise unknown_item("effect", name)
        return found

    def theme(self, name: str) -> Theme:
        """A theme by name (any case), or a validation error naming it."""
        found = self.check_ready().find_theme(name)
        if found is None:
            raise unknown_item("theme", name)
        return found

    # --- when -------------------------------------------------------------------------

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
        return max((device.needed_lead_us for device in devices), default=MIN_LEAD_US)

    # --- running ----------------------------------------------------------------------

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
        """Fire an effect in some rooms at one venue time, and say per room what started."""
        fired = await self._fire(
            effect, rooms, volume=volume, loop=loop, source=source, start_us=start_us
        )
        lead_us = fired.start_us - link.venue_clock_us()
        sound = await fired.async_sound()
        return RunResult(
            fired.start_us,
            lead_us / 1000,
            fired.rooms,
            fired.satellites,
            fired.offline_rooms,
            sound,
        )

    async def _fire(
        self,
        effect: Effect,
        rooms: list[Room],
        *,
        volume: float | None,
        loop: bool | None,
        source: str,
        start_us: int | None,
    ) -> Fired:
        """Send an effect: triggers or a stream, and its steps on the timeline.

        A preloaded sound starts with one trigger per satellite; a streamed one first
        fetches and decodes its sound, and its start time is the stream's.
        """
        by_room = {room.name: self.rooms.targets(room) for room in rooms}
        targets = self.rooms.connected_targets(rooms)
        devices = {target.device.satellite_id: target.device for target in targets}
        lead = self.lead_us(devices.values())
        streamed = effect.audio is not None and effect.audio.is_stream
        if streamed and targets:
            start_us, pending = await self._stream_audio(
                effect, targets=targets, lead_us=lead, start_us=start_us, volume=volume, loop=loop
            )
        else:
            if start_us is None:
                start_us = link.venue_clock_us() + lead
            pending = await self._play_audio(effect, targets, start_us, volume, loop)
        self._schedule_steps(next(self._runs), effect, rooms, start_us)
        self.hass.bus.async_fire(
            EVENT_EFFECT_RUN,
            {
                "effect": effect.name,
                "rooms": [room.name for room in rooms],
                "source": source,
                "start_us": start_us,
            },
        )
        return Fired(
            effect,
            tuple(room.name for room in rooms),
            frozenset(room.name for room in rooms if room.speakers),
            by_room,
            start_us,
            tuple(devices),
            pending,
            has_sound=streamed or self.audio.cue_for(effect) is not None,
        )

    async def _play_audio(
        self,
        effect: Effect,
        targets: list[Target],
        start_us: int,
        volume: float | None,
        loop: bool | None,
    ) -> list[PendingStart]:
        """One trigger per satellite; each answer is awaited by the caller."""
        cue = self.audio.cue_for(effect)
        if cue is None:
            return []
        gain = play_gain_permille(cue, volume)
        flags = play_flags(loop)
        loops = loop if loop is not None else cue.loop
        pending: list[PendingStart] = []
        for target in targets:
            device = target.device
            seq = device.link.next_seq()
            kind = link.StartKind.CUE
            pending.append(PendingStart(target, kind, seq, device.expect_start(kind, seq)))
            trigger = link.Play(cue.cue_id, seq, start_us, target.output_mask, gain, flags)
            await device.link.send(trigger)
            if loops:
                key = LoopKey(device.satellite_id, cue.cue_id, target.output_mask)
                self.state.loops[key] = gain
        if loops and targets:
            self._notify()
        return pending

    async def _stream_audio(
        self,
        effect: Effect,
        *,
        targets: list[Target],
        lead_us: int,
        start_us: int | None,
        volume: float | None,
        loop: bool | None,
    ) -> tuple[int, list[PendingStart]]:
        """Stream an effect's sound (a URL or media source item): its start and its lanes."""
        audio = effect.audio
        assert audio is not None  # the caller checked that the effect streams a sound
        stream = await self.audio.async_stream(
            audio.source,
            [StreamTarget(target.device, target.output_mask) for target in targets],
            StreamOptions(
                gain_permille=stream_gain_permille(volume if volume is not None else audio.volume),
                bus=audio.bus,
                priority=effect.priority,
                fallback_cue=self.audio.fallback_for(effect),
                title=effect.name,
                loop=loop if loop is not None else audio.loop,
            ),
            folder=self.show.folder if self.show else Path(),
            lead_us=lead_us,
            at_us=start_us,
        )
        self._streams.setdefault(effect.name, []).append(stream)
        stream.add_listener(lambda: self._streams[effect.name].remove(stream))
        kind = link.StartKind.STREAM
        pending = [
            PendingStart(
                Target(lane.target.device, lane.target.output_mask),
                kind,
                lane.stream_id,
                lane.target.device.expect_start(kind, lane.stream_id),
            )
            for lane in stream.lanes
        ]
        return stream.start_us, pending

    def _schedule_steps(
        self, run_id: int, effect: Effect, rooms: list[Room], start_us: int
    ) -> None:
        room_names = frozenset(room.name for room in rooms)
        for step in effect.steps:
            if step.strobe and self.state.strobe_safe:
                continue
            at_us = start_us + step.at_ms * 1000
            if step.kind == "light":
                for latency_ms, lights in self.rooms.lights_by_latency(rooms).items():
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

    async def async_run_theme(self, theme: Theme, source: str = "service") -> RunResult:
        """Fire every cue of a theme from one start time."""
        self.check_ready()
        plan: list[tuple[Effect, list[Room], int]] = [
            (
                self.effect(cue.effect),
                self.rooms.select(None if cue.rooms == "all" else list(cue.rooms)),
                cue.at_ms,
            )
            for cue in theme.cues
        ]
        all_rooms = {room.name: room for _, rooms, _ in plan for room in rooms}
        targets = self.rooms.connected_targets(all_rooms.values())
        start_us = link.venue_clock_us() + self.lead_us(target.device for target in targets)
        fired = [
            await self._fire(
                effect,
                rooms,
                volume=None,
                loop=None,
                source=source,
                start_us=start_us + at_ms * 1000,
            )
            for effect, rooms, at_ms in plan
        ]
        self.state.theme = theme.name
        self._notify()
        _LOGGER.debug("Theme %s started with %d cues", theme.name, len(plan))
        # The theme's first cues are confirmed; later ones are reported as scheduled.
        sounds = await asyncio.gather(
            *(run.async_sound(wait=run.start_us == start_us) for run in fired)
        )
        return RunResult(
            start_us,
            (start_us - link.venue_clock_us()) / 1000,
            tuple(all_rooms),
            tuple(sorted({sid for run in fired for sid in run.satellites})),
            tuple(sorted({room for run in fired for room in run.offline_rooms})),
            merge_sound(sounds),
        )

    # --- stopping ---------------------------------------------------------------------

    async def async_stop(
        self, rooms: list[Room] | None, effect: Effect | None, fade_ms: int
    ) -> int:
        """Stop an effect, a room, or everything; returns how many satellites were told."""
        self._cancel_steps(rooms, effect, fade_ms)
        await self._stop_streams(rooms, effect, fade_ms)
        cue = self.audio.cue_for(effect) if effect else None
        if effect is not None and cue is None:
            return 0  # a light-only effect: cancelling its steps was all there was to do
        cue_id = cue.cue_id if cue else 0
        targets = self._stop_targets(rooms)
        at_us = link.venue_clock_us() + self.lead_us(target.device for target in targets)
        for target in targets:
            device = target.device
            await device.link.send(
                link.Stop(device.link.next_seq(), at_us, cue_id, target.output_mask, fade_ms)
            )
        self._forget_loops(targets, cue_id)
        return len(targets)

    async def _stop_streams(
        self, rooms: list[Room] | None, effect: Effect | None, fade_ms: int
    ) -> None:
        """End the streamed sound of these rooms, of this effect, or everywhere."""
        targets = (
            None
            if rooms is None
            else [
                StreamTarget(t.device, t.output_mask) for t in self.rooms.connected_targets(rooms)
            ]
        )
        if effect is None:
            await self.audio.async_stop_streams(targets, fade_ms=fade_ms)
            return
        for stream in list(self._streams.get(effect.name, ())):
            if targets is None or any(
                lane.target.device is target.device and lane.target.output_mask & target.output_mask
                for lane in stream.lanes
                for target in targets
            ):
                await stream.async_stop(fade_ms)

    def _cancel_steps(self, rooms: list[Room] | None, effect: Effect | None, fade_ms: int) -> None:
        """Cancel pending light and action steps, and tell the logbook what stops."""
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
            self._notify()

    def _stop_targets(self, rooms: list[Room] | None) -> list[Target]:
        """The rooms' speakers, or every output of every connected satellite."""
        if rooms is not None:
            return self.rooms.connected_targets(rooms)
        return [
            Target(device, link.ALL_OUTPUTS) for device in self.hosts.devices if device.available
        ]

    def _forget_loops(self, targets: list[Target], cue_id: int) -> None:
        for key in list(self.state.loops):
            for target in targets:
                if key.satellite_id != target.device.satellite_id:
                    continue
                if cue_id and key.cue_id != cue_id:
                    continue
                if key.output_mask & target.output_mask:
                    del self.state.loops[key]
                    self._notify()
                    break

    async def async_emergency_stop(self) -> None:
        """Silence everything at once, turn the house lights on, refuse effects."""
        self.state.emergency = True
        self.timeline.cancel()
        await self.audio.async_stop_streams(fade_ms=0)
        for device in self.hosts.devices:
            if device.available:
                await device.link.send(link.Stop(device.link.next_seq(), 0, 0, link.ALL_OUTPUTS, 0))
        self.state.loops.clear()
        self.state.theme = None
        await self._house_lights_on(list(self.show.settings.house_lights) if self.show else [])
        self.hass.bus.async_fire(EVENT_STOPPED, {"rooms": "all", "emergency": True})
        _LOGGER.warning("Emergency stop: all sound stopped, house lights on")
        self._notify()

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

    def clear_emergency(self) -> None:
        """Allow effects again."""
        self.state.emergency = False
        _LOGGER.info("Emergency stop cleared")
        self._notify()

    # --- after a reconnect ------------------------------------------------------------

    def restore_loops(self, device: SatelliteDevice) -> None:
        """Home Assistant's state wins: start loops that should play, stop stray loops.

        One-shots still sounding are left to end on their own.
        """
        messages = self._loop_changes(device)
        if messages:
            _LOGGER.info("Restoring %d loop changes on %s", len(messages), device.name)
            self.entry.async_create_background_task(
                self.hass, _send_all(device, messages), f"maze restore {device.satellite_id}"
            )

    def _loop_changes(self, device: SatelliteDevice) -> list[link.Message]:
        """The plays and stops that make a satellite's loops match the venue's."""
        status = device.status
        looping = {
            (item.cue_id, item.output_mask)
            for item in (status.playing if status else ())
            if item.loop
        }
        wanted = {
            (key.cue_id, key.output_mask): gain
            for key, gain in self.state.loops.items()
            if key.satellite_id == device.satellite_id
        }
        start_us = link.venue_clock_us() + self.lead_us([device])
        plays: list[link.Message] = [
            link.Play(cue_id, device.link.next_seq(), start_us, mask, gain, link.PlayFlags.LOOP)
            for (cue_id, mask), gain in wanted.items()
            if (cue_id, mask) not in looping
        ]
        stops: list[link.Message] = [
            link.Stop(device.link.next_seq(), start_us, cue_id, mask, RESTORE_FADE_MS)
            for cue_id, mask in looping - wanted.keys()
        ]
        return plays + stops

    async def async_close(self) -> None:
        """Cancel everything scheduled; the venue is unloading."""
        self.timeline.cancel()


async def _send_all(device: SatelliteDevice, messages: list[link.Message]) -> None:
    for message in messages:
        await device.link.send(message)


def _light_job(hass: HomeAssistant, step: Step, lights: list[str]) -> StepJob:
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


def _action_job(hass: HomeAssistant, step: Step) -> StepJob:
    domain, service = (step.action or ".").split(".", 1)

    async def job() -> None:
        await hass.services.async_call(
            domain, service, dict(step.data), blocking=False, target=dict(step.target or {})
        )

    return job
