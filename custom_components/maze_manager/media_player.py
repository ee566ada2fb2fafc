"""One media player per satellite output: a speaker, placed in the area of its room.

It plays while the satellite reports a cue on that output. Volume and mute go to the
satellite as VOLUME messages; they are kept (also across restarts) and sent again every
time the satellite connects, so a Pi that rebooted plays at the level Home Assistant shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.components.media_player import MediaPlayerDeviceClass, MediaPlayerEntity
from homeassistant.components.media_player.const import MediaPlayerEntityFeature, MediaPlayerState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoreEntity

from . import link
from .const import DOMAIN
from .entity import SatelliteEntity
from .runtime import SatelliteConfigEntry
from .satellites import OutputLayout, SatelliteDevice

PARALLEL_UPDATES = 0
"""Each command is one frame on the satellite's own connection: nothing to serialise."""

STOP_FADE_MS = 300
ATTR_CUE_IDS = "cue_ids"


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


class SatelliteSpeaker(SatelliteEntity, RestoreEntity, MediaPlayerEntity):
    """One output of a satellite."""

    _attr_device_class = MediaPlayerDeviceClass.SPEAKER
    _attr_supported_features = (
        MediaPlayerEntityFeature.VOLUME_SET
        | MediaPlayerEntityFeature.VOLUME_MUTE
        | MediaPlayerEntityFeature.STOP
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

    @property
    def _bit(self) -> int:
        return 1 << self.index

    @property
    def _playing_cue_ids(self) -> list[int]:
        status = self.device.status
        if status is None:
            return []
        return sorted({cue.cue_id for cue in status.playing if cue.output_mask & self._bit})

    @property
    def state(self) -> MediaPlayerState:
        """Playing while the satellite reports a cue on this output."""
        return MediaPlayerState.PLAYING if self._playing_cue_ids else MediaPlayerState.IDLE

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
        self._follow_connection()
        self._settle_area()

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

    async def async_media_stop(self) -> None:
        """Fade out every cue on this output now."""
        seq = self.device.link.next_seq()
        await self._async_send(link.Stop(seq, 0, 0, self._bit, STOP_FADE_MS))

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
