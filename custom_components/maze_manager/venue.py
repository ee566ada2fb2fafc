"""The venue's lifecycle: its show files, its managers, and what satellites get on connecting.

The venue entry's runtime. It loads the show (a bad show file keeps the last good show
running and raises a repair issue that names the file and line), hands it to the
LightConfigManager (rooms), AudioManager (sound) and EffectsManager (running), preloads
every satellite that connects, and tells the venue's entities when anything changes.
"""

from __future__ import annotations

import logging
from pathlib import Path

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from . import link
from .audio_manager import DATA_AUDIO, EMPTY_LIBRARY
from .const import (
    CONF_DEFAULT_VOLUME,
    CONF_SHOW_FOLDER,
    DEFAULT_SHOW_FOLDER,
    DEFAULT_VOLUME,
    DOMAIN,
)
from .effects_manager import EffectsManager
from .light_config import LightConfigManager
from .remote_hosts import RemoteHostManager
from .satellites import SatelliteDevice
from .show import Show, ShowError, load_show
from .venue_state import LoopKey, StoredLoop, VenueState, VenueStore

_LOGGER = logging.getLogger(__name__)

SHOW_ISSUE_ID = "show_invalid"


class Venue:
    """The loaded venue entry's runtime."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, hosts: RemoteHostManager) -> None:
        self.hass = hass
        self.entry = entry
        self.hosts = hosts
        self.show: Show | None = None
        self.state = VenueState()
        self.audio = hass.data[DATA_AUDIO]
        self.rooms = LightConfigManager(hass, hosts)
        self.effects = EffectsManager(
            hass,
            entry,
            state=self.state,
            hosts=hosts,
            rooms=self.rooms,
            audio=self.audio,
            notify=self.notify,
        )
        self._listeners: list[CALLBACK_TYPE] = []
        self._store = VenueStore(hass)
        self._stored_loops: list[StoredLoop] = []
        """Loops stored before a restart, adopted once a show names their effects."""

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
        """Tell the venue entities that something changed, and keep it for a restart."""
        for update in list(self._listeners):
            update()
        names = {cue_id: name for name, cue_id in self.audio.library.cue_ids.items()}
        self._store.schedule_save(self.state, names, self._stored_loops)

    # --- lifecycle --------------------------------------------------------------------

    async def async_start(self) -> None:
        """Restore the stored state, load the show and follow the satellites from now on."""
        stored, self._stored_loops = await self._store.async_load()
        self.state.emergency, self.state.theme = stored.emergency, stored.theme
        self.entry.async_on_unload(self.hosts.async_add_listener(self))
        await self.async_reload()

    async def async_reload(self) -> bool:
        """Re-read the show files; on error keep the last good show and raise a repair."""
        try:
            show = await self.hass.async_add_executor_job(
                load_show, self.show_folder, self.default_volume
            )
            library = await self.audio.async_build(show)
        except ShowError as err:
            first = err.problems[0]
            problems = "\n".join(f"- {problem}" for problem in err.problems)
            self._raise_show_issue(first.file, first.line, problems)
            _LOGGER.error("Show files in %s are invalid:\n%s", self.show_folder, err)
            return False
        except OSError as err:
            self._raise_show_issue(self.show_folder.name, None, str(err))
            _LOGGER.error("Show files in %s cannot be read: %s", self.show_folder, err)
            return False
        ir.async_delete_issue(self.hass, DOMAIN, SHOW_ISSUE_ID)
        self.show = show
        self.audio.use(library)
        self.rooms.load(show)
        self.effects.load(show)
        self._adopt_stored_loops()
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

    def _adopt_stored_loops(self) -> None:
        """Loops that played before a restart should play still: they are the venue's again."""
        cue_ids = self.audio.library.cue_ids
        for loop in self._stored_loops:
            cue_id = cue_ids.get(loop.effect)
            if cue_id is None:
                _LOGGER.info("Stored loop %s is not in the show any more", loop.effect)
                continue
            key = LoopKey(loop.satellite_id, cue_id, loop.output_mask)
            self.state.loops[key] = loop.gain_permille
        self._stored_loops = []

    def _raise_show_issue(self, file: str, line: int | None, problems: str) -> None:
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

    async def async_close(self) -> None:
        """Cancel everything scheduled and forget the show's sounds; the entry is unloading."""
        await self.effects.async_close()
        self.audio.use(EMPTY_LIBRARY)

    # --- satellites (the RemoteHostManager's listener) ---------------------------------

    def satellite_connected(self, device: SatelliteDevice) -> None:
        """Preload the satellite with the show's cues and its master volume.

        During an emergency stop the satellite is silenced first, at once and without a
        fade: it may have missed the stop while it was cut off.
        """
        if self.state.emergency:
            silence = link.Stop(device.link.next_seq(), 0, 0, link.ALL_OUTPUTS, 0)
            self.entry.async_create_background_task(
                self.hass, device.link.send(silence), f"maze emergency {device.satellite_id}"
            )
        self.entry.async_create_background_task(
            self.hass,
            device.link.set_preload(self.audio.library.preload),
            f"maze preload {device.satellite_id}",
        )
        volume = link.Volume(link.MASTER_OUTPUT, self.state.master_volume, False)
        self.entry.async_create_background_task(
            self.hass, device.link.send(volume), f"maze volume {device.satellite_id}"
        )

    def satellite_synchronised(self, device: SatelliteDevice) -> None:
        """The satellite's clock is good again: make its loops match the venue's."""
        self.effects.restore_loops(device)

    async def async_set_master_volume(self, volume: float) -> None:
        """Set the master volume of every satellite."""
        self.state.master_volume = volume
        for device in self.hosts.devices:
            await device.link.send(link.Volume(link.MASTER_OUTPUT, volume, False))
        self.notify()
