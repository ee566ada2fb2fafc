"""One media player per satellite output: a speaker, placed in the area of its room.

A speaker plays sound Home Assistant streams to it (`media_player.play_media` with a URL,
a media-source id, a text-to-speech result; an announcement over what plays), and shows
the cues and streams playing on its output. Volume and mute go to the satellite as VOLUME
messages; they are kept (also across restarts) and sent again every time the satellite
connects, so a Pi that rebooted plays at the level Home Assistant shows.

Several speakers in one call start together: Home Assistant calls each entity of a
`play_media` at once with the call's context, so calls that share the context and the
sound within a few turns of the event loop become ONE stream to every output they name,
from one venue time. A speaker that leads a group (`media_player.join`) plays on its
members too.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from homeassistant.components import media_source
from homeassistant.components.media_player import MediaPlayerDeviceClass, MediaPlayerEntity
from homeassistant.components.media_player.browse_media import (
    BrowseMedia,
    async_process_play_media_url,
)
from homeassistant.components.media_player.const import (
    MediaPlayerEntityFeature,
    MediaPlayerState,
    MediaType,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from . import link
from .audio_manager import DATA_AUDIO
from .audio_stream import AudioStream, StreamOptions, StreamTarget
from .const import DOMAIN
from .entity import SatelliteEntity
from .media_source import library_folder
from .runtime import SatelliteConfigEntry, loaded_venue
from .satellites import MIN_LEAD_US, OutputLayout, SatelliteDevice

_LOGGER = logging.getLogger(__name__)

PARALLEL_UPDATES = 0
"""Commands go out on each satellite's own connection, and the speakers of one play_media
call must all be inside it at once to start as one stream: nothing to serialise."""

STOP_FADE_MS = 300
ATTR_CUE_IDS = "cue_ids"
MEDIA_BUS = "media"
"""The bus of what a speaker plays; an effect of a higher priority ducks it."""
ANNOUNCE_BUS = "announce"
ANNOUNCE_PRIORITY = 255
"""Announcements outrank everything: the satellite ducks every other bus on the outputs
they play on, and restores them when the announcement ends."""
GATHER_TURNS = 3
"""Event-loop turns a play_media call waits for the other speakers of the same call. Home
Assistant starts them all in one turn; the rest is margin."""

DATA_SPEAKERS: HassKey[Speakers] = HassKey(f"{DOMAIN}_speakers")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SatelliteConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a speaker for each output the satellite reported."""
    device = entry.runtime_data
    async_add_entities(SatelliteSpeaker(device, output) for output in device.outputs)


@dataclass(frozen=True, slots=True)
class SpeakerLevel(ExtraStoredData):
    """The volume and mute Home Assistant set on an output."""

    volume: float
    muted: bool

    def as_dict(self) -> dict[str, Any]:
        """The stored form."""
        return {"volume": self.volume, "muted": self.muted}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SpeakerLevel | None:
        """The level from stored data, or None when it is not one."""
        volume, muted = data.get("volume"), data.get("muted")
        if not isinstance(volume, int | float) or not isinstance(muted, bool):
            return None
        return cls(min(1.0, max(0.0, float(volume))), muted)


@dataclass
class _Batch:
    """The speakers of one play_media call gathered so far, and the stream they share."""

    speakers: list[SatelliteSpeaker]
    stream: asyncio.Future[AudioStream] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Speakers:
    """Every speaker in Home Assistant, and the play_media calls being gathered."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass
        self.all: list[SatelliteSpeaker] = []
        self._batches: dict[tuple[str, str, bool], _Batch] = {}
        self.media_ids: weakref.WeakKeyDictionary[AudioStream, str] = weakref.WeakKeyDictionary()

    def find(self, entity_id: str) -> SatelliteSpeaker | None:
        """The speaker with this entity id, if it is one of ours."""
        return next((speaker for speaker in self.all if speaker.entity_id == entity_id), None)

    async def async_play(
        self, speaker: SatelliteSpeaker, media_id: str, *, announce: bool, context_id: str | None
    ) -> AudioStream:
        """Play a sound on a speaker together with the other speakers of the same call."""
        if context_id is None:
            return await self._async_start([speaker], media_id, announce=announce)
        key = (context_id, media_id, announce)
        batch = self._batches.get(key)
        if batch is not None:
            batch.speakers.append(speaker)
            return await asyncio.shield(batch.stream)
        batch = self._batches[key] = _Batch([speaker])
        try:
            for _ in range(GATHER_TURNS):
                await asyncio.sleep(0)
        except asyncio.CancelledError:
            batch.stream.cancel()
            raise
        finally:
            del self._batches[key]
        try:
            stream = await self._async_start(batch.speakers, media_id, announce=announce)
        except asyncio.CancelledError:
            batch.stream.cancel()
            raise
        except Exception as err:
            batch.stream.set_exception(err)
            batch.stream.exception()  # every other speaker of the call raises it; none may
            raise
        batch.stream.set_result(stream)
        return stream

    async def _async_start(
        self, called: list[SatelliteSpeaker], media_id: str, *, announce: bool
    ) -> AudioStream:
        """One stream to every output of these speakers and their group members."""
        speakers: list[SatelliteSpeaker] = []
        for speaker in called:
            for member in [speaker, *speaker.members]:
                if member not in speakers:
                    speakers.append(member)
        live = [speaker for speaker in speakers if speaker.device.available]
        masks: dict[str, StreamTarget] = {}
        for speaker in live or speakers:  # none live: async_stream says no satellite is
            device = speaker.device
            known = masks.get(device.satellite_id)
            mask = (known.output_mask if known else 0) | speaker.bit
            masks[device.satellite_id] = StreamTarget(device, mask)
        targets = list(masks.values())
        options = (
            StreamOptions(bus=ANNOUNCE_BUS, priority=ANNOUNCE_PRIORITY)
            if announce
            else StreamOptions(bus=MEDIA_BUS)
        )
        stream = await self.hass.data[DATA_AUDIO].async_stream(
            media_id,
            targets,
            options,
            folder=library_folder(self.hass),
            lead_us=self._lead_us([target.device for target in targets]),
            replace=not announce,
        )
        self.media_ids[stream] = media_id
        for shown in speakers:
            shown.async_write_ha_state()
        lost = {lane.target.device.satellite_id for lane in stream.lanes if lane.lost}
        missing = [
            speaker
            for speaker in speakers
            if speaker not in live or speaker.device.satellite_id in lost
        ]
        if missing:
            _LOGGER.warning(
                "%s plays on %s but not on %s: their satellite is not connected",
                media_id,
                ", ".join(s.entity_id for s in speakers if s not in missing),
                ", ".join(s.entity_id for s in missing),
            )
        return stream

    def _lead_us(self, devices: list[SatelliteDevice]) -> int:
        """The venue's lead for these satellites, or what they need without a venue."""
        venue = loaded_venue(self.hass)
        if venue is not None:
            return venue.effects.lead_us(devices)
        return max((device.needed_lead_us for device in devices), default=MIN_LEAD_US)


def _speakers(hass: HomeAssistant) -> Speakers:
    if DATA_SPEAKERS not in hass.data:
        hass.data[DATA_SPEAKERS] = Speakers(hass)
    return hass.data[DATA_SPEAKERS]


def _streamable_id(hass: HomeAssistant, media_id: str) -> str:
    """What AudioManager.async_stream takes for a play_media id: media-source ids and
    http(s) URLs as they are, Home Assistant's own paths as signed URLs."""
    if media_source.is_media_source_id(media_id) or media_id.startswith(("http://", "https://")):
        return media_id
    if media_id.startswith("/"):
        try:
            return async_process_play_media_url(hass, media_id)
        except HomeAssistantError as err:  # Home Assistant knows no URL of its own
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="sound_unavailable",
                translation_placeholders={"sound": media_id, "reason": str(err)},
            ) from err
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="media_not_playable",
        translation_placeholders={"media_id": media_id},
    )


def _audio_only(item: BrowseMedia) -> bool:
    return item.media_content_type.startswith("audio/")


class SatelliteSpeaker(SatelliteEntity, RestoreEntity, MediaPlayerEntity):
    """One output of a satellite."""

    _attr_device_class = MediaPlayerDeviceClass.SPEAKER
    _attr_supported_features = (
        MediaPlayerEntityFeature.PLAY_MEDIA
        | MediaPlayerEntityFeature.BROWSE_MEDIA
        | MediaPlayerEntityFeature.MEDIA_ANNOUNCE
        | MediaPlayerEntityFeature.STOP
        | MediaPlayerEntityFeature.VOLUME_SET
        | MediaPlayerEntityFeature.VOLUME_MUTE
        | MediaPlayerEntityFeature.GROUPING
    )
    _attr_translation_key = "output"

    def __init__(self, device: SatelliteDevice, output: OutputLayout) -> None:
        super().__init__(device, f"output-{output.index}")
        self.index = output.index
        self._attr_translation_placeholders = {"index": str(output.index)}
        if output.name:
            self._attr_name = output.name
        self._level: SpeakerLevel | None = None
        self._was_available = False
        self._area_settled = False
        self._leader: SatelliteSpeaker | None = None
        self.members: list[SatelliteSpeaker] = []
        """The speakers this one leads (empty unless it leads a group)."""
        self._shown: tuple[AudioStream, int, datetime] | None = None

    @property
    def bit(self) -> int:
        """This output in an output mask."""
        return 1 << self.index

    @property
    def _playing_cue_ids(self) -> list[int]:
        status = self.device.status
        if status is None:
            return []
        return sorted({cue.cue_id for cue in status.playing if cue.output_mask & self.bit})

    @property
    def _stream(self) -> AudioStream | None:
        """The newest stream playing on this output (an announcement over music, say)."""
        streams = self.hass.data[DATA_AUDIO].streams_on(self.device.satellite_id, self.index)
        return streams[-1] if streams else None

    @property
    def state(self) -> MediaPlayerState:
        """Playing while a stream plays on this output or the satellite reports a cue on it."""
        if self._stream is not None or self._playing_cue_ids:
            return MediaPlayerState.PLAYING
        return MediaPlayerState.IDLE

    @property
    def media_content_id(self) -> str | None:
        """What the playing stream was asked to play."""
        stream = self._stream
        return _speakers(self.hass).media_ids.get(stream) if stream is not None else None

    @property
    def media_content_type(self) -> MediaType | None:
        """Music while a stream plays (whatever it holds: a speaker plays sound)."""
        return MediaType.MUSIC if self._stream is not None else None

    @property
    def media_title(self) -> str | None:
        """The playing stream's title."""
        stream = self._stream
        return (stream.options.title or None) if stream is not None else None

    @property
    def media_duration(self) -> int | None:
        """The playing stream's length in seconds, when its file states it."""
        stream = self._stream
        if stream is None or stream.duration_s is None:
            return None
        return round(stream.duration_s)

    @property
    def media_position(self) -> int | None:
        """Seconds of the playing stream heard when the position was last taken."""
        shown = self._position()
        return shown[1] if shown else None

    @property
    def media_position_updated_at(self) -> datetime | None:
        """When the position was taken (the stream's start, before it starts)."""
        shown = self._position()
        return shown[2] if shown else None

    def _position(self) -> tuple[AudioStream, int, datetime] | None:
        """The stream's position, taken once per stream: it then moves with the clock."""
        stream = self._stream
        if stream is None:
            self._shown = None
        elif self._shown is None or self._shown[0] is not stream:
            elapsed_s = (link.venue_clock_us() - stream.start_us) / 1_000_000
            whole = max(0, int(elapsed_s))
            at = dt_util.utcnow() - timedelta(seconds=elapsed_s - whole)
            self._shown = (stream, whole, at)
        return self._shown

    @property
    def group_members(self) -> list[str]:
        """The group this speaker is in, its leader first (itself alone when in none)."""
        leader = self._leader or self
        return [leader.entity_id, *(member.entity_id for member in leader.members)]

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The ids of the cues playing on this output."""
        return {ATTR_CUE_IDS: self._playing_cue_ids}

    @property
    def volume_level(self) -> float | None:
        """The volume Home Assistant set, if any."""
        return self._level.volume if self._level else None

    @property
    def is_volume_muted(self) -> bool | None:
        """The mute Home Assistant set, if any."""
        return self._level.muted if self._level else None

    @property
    def extra_restore_state_data(self) -> SpeakerLevel | None:
        """Kept even while unavailable, unlike the state's attributes."""
        return self._level

    async def async_added_to_hass(self) -> None:
        """Restore the level, then place the speaker in its room's area."""
        await super().async_added_to_hass()
        stored = await self.async_get_last_extra_data()
        if stored is not None:
            self._level = SpeakerLevel.from_dict(stored.as_dict())
        speakers = _speakers(self.hass)
        speakers.all.append(self)
        self.async_on_remove(lambda: speakers.all.remove(self))
        self.async_on_remove(
            self.hass.data[DATA_AUDIO].async_add_listener(self.async_write_ha_state)
        )
        self._follow_connection()
        self._settle_area()

    async def async_will_remove_from_hass(self) -> None:
        """Leave any group, so no other speaker names this one."""
        for speaker in self._leave_group():
            if speaker is not self:
                speaker.async_write_ha_state()
        await super().async_will_remove_from_hass()

    @callback
    def _handle_device_update(self) -> None:
        self._follow_connection()
        self._settle_area()
        super()._handle_device_update()

    @callback
    def _follow_connection(self) -> None:
        """Send the kept level whenever the satellite (re)connects."""
        available = self.device.available
        if available and not self._was_available and self._level is not None:
            message = link.Volume(self.index, self._level.volume, self._level.muted)
            self.device.entry.async_create_background_task(
                self.hass,
                self.device.link.send(message),
                f"maze volume {self.device.satellite_id} {self.index}",
            )
        self._was_available = available

    @callback
    def _settle_area(self) -> None:
        """Put the speaker in its room's area, once, if it serves exactly one room.

        Named outputs resolve only after the satellite's hello, so this is tried again
        on updates until it is decided. An area the entity already has is kept.
        """
        if self._area_settled or self.registry_entry is None:
            return
        if self.registry_entry.area_id is not None:
            self._area_settled = True
            return
        venue = self.venue
        if venue is None:
            return
        rooms = venue.rooms.speaker_rooms(self.device, self.index)
        if len(rooms) != 1 or rooms[0] not in venue.rooms.room_areas:
            return
        self._area_settled = True
        er.async_get(self.hass).async_update_entity(
            self.entity_id, area_id=venue.rooms.room_areas[rooms[0]]
        )

    async def async_set_volume_level(self, volume: float) -> None:
        """Set this output's volume, keeping its mute."""
        muted = self._level.muted if self._level else False
        await self._async_set_level(SpeakerLevel(volume, muted))

    async def async_mute_volume(self, mute: bool) -> None:
        """Mute or unmute this output, keeping its volume."""
        volume = self._level.volume if self._level else 1.0
        await self._async_set_level(SpeakerLevel(volume, mute))

    async def async_play_media(
        self,
        media_type: MediaType | str,
        media_id: str,
        announce: bool | None = None,
        **kwargs: Any,
    ) -> None:
        """Stream a sound here (and on the members this speaker leads).

        A sound replaces what this speaker streams; an announcement plays over it at the
        highest priority, the rest ducked, and leaves it playing. Speakers of the same call
        share one stream. Anything that keeps the sound from playing is an error.
        """
        streamable = _streamable_id(self.hass, media_id)
        context_id = self._context.id if self._context is not None else None
        await _speakers(self.hass).async_play(
            self, streamable, announce=bool(announce), context_id=context_id
        )

    async def async_browse_media(
        self,
        media_content_type: MediaType | str | None = None,
        media_content_id: str | None = None,
    ) -> BrowseMedia:
        """Home Assistant's media sources (the venue's sound library among them), audio only."""
        return await media_source.async_browse_media(
            self.hass, media_content_id, content_filter=_audio_only
        )

    async def async_media_stop(self) -> None:
        """Fade out every stream and cue on this output now.

        A stream started for several speakers at once (or for a group) is one stream:
        stopping it on one of them stops it on all.
        """
        await self.hass.data[DATA_AUDIO].async_stop_streams(
            [StreamTarget(self.device, self.bit)], fade_ms=STOP_FADE_MS
        )
        seq = self.device.link.next_seq()
        await self._async_send(link.Stop(seq, 0, 0, self.bit, STOP_FADE_MS))

    async def async_join_players(self, group_members: list[str]) -> None:
        """Lead a group: these speakers (of any satellite) play what this one plays."""
        speakers = _speakers(self.hass)
        joining: list[SatelliteSpeaker] = []
        for entity_id in group_members:
            speaker = speakers.find(entity_id)
            if speaker is None:
                raise ServiceValidationError(
                    translation_domain=DOMAIN,
                    translation_key="not_a_speaker",
                    translation_placeholders={"entity_id": entity_id},
                )
            if speaker is not self and speaker not in joining:
                joining.append(speaker)
        changed: list[SatelliteSpeaker] = []
        if self._leader is not None:
            changed += self._leave_group()
        for speaker in joining:
            if speaker in self.members:
                continue
            changed += speaker._leave_group()
            speaker._leader = self
            self.members.append(speaker)
        for speaker in [self, *self.members, *changed]:
            speaker.async_write_ha_state()

    async def async_unjoin_player(self) -> None:
        """Leave the group; a leader that leaves ends its group."""
        for speaker in self._leave_group():
            speaker.async_write_ha_state()

    def _leave_group(self) -> list[SatelliteSpeaker]:
        """Leave this speaker's group (ending it, if this one leads); who changed."""
        changed: list[SatelliteSpeaker] = [self]
        leader = self._leader
        if leader is not None:
            leader.members.remove(self)
            self._leader = None
            changed += [leader, *leader.members]
        for member in self.members:
            member._leader = None
            changed.append(member)
        self.members = []
        return changed

    async def _async_set_level(self, level: SpeakerLevel) -> None:
        await self._async_send(link.Volume(self.index, level.volume, level.muted))
        self._level = level
        self.async_write_ha_state()

    async def _async_send(self, message: link.Message) -> None:
        if not await self.device.link.send(message):
            raise HomeAssistantError(
                f"Satellite {self.device.name} is not connected",
                translation_domain=DOMAIN,
                translation_key="satellite_not_connected",
                translation_placeholders={"name": self.device.name},
            )
