"""The venue's sound library in Home Assistant's media browser.

The library is every audio file under the show folder (the venue's, or the default
`<config>/maze_manager` when no venue is loaded), with its folders as directories. An item's
id is `media-source://maze_manager/<path in the show folder>`; the speakers read such ids
straight from disk (audio_source.py). Other players get a URL of an authenticated view,
which Home Assistant signs when it hands the URL to a player.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from aiohttp import web
from homeassistant.components.media_player.const import MediaClass, MediaType
from homeassistant.components.media_player.errors import BrowseError
from homeassistant.components.media_source import (
    BrowseMediaSource,
    MediaSource,
    MediaSourceItem,
    PlayMedia,
    Unresolvable,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.util.hass_dict import HassKey

from .const import DEFAULT_SHOW_FOLDER, DOMAIN
from .runtime import loaded_venue

AUDIO_TYPES = {
    ".wav": "audio/wav",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".m4a": "audio/mp4",
}
"""The library's files by suffix, with the MIME type players are told."""
LIBRARY_URL = "/api/maze_manager/library"
LIBRARY_TITLE = "Maze sound library"
DATA_VIEW: HassKey[bool] = HassKey(f"{DOMAIN}_library_view")


def library_folder(hass: HomeAssistant) -> Path:
    """The show folder: the loaded venue's, else the default one."""
    venue = loaded_venue(hass)
    if venue is not None:
        return venue.show_folder
    return Path(hass.config.path(DEFAULT_SHOW_FOLDER))


def audio_type(path: Path) -> str | None:
    """The MIME type of a library sound, None for any other file."""
    return AUDIO_TYPES.get(path.suffix.lower())


def library_file(folder: Path, relative: str) -> Path:
    """The file or folder at a path in the show folder; never one outside it (blocking)."""
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"{relative} is outside the show folder")
    return path


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    identifier: str
    is_dir: bool
    mime: str


def _listing(folder: Path, relative: str) -> tuple[str, list[_Entry]] | None:
    """A folder's title and its sub-folders and sounds, or None when it is not a folder.

    The library's top is listed (empty) even before the show folder exists.
    """
    try:
        path = library_file(folder, relative)
    except ValueError:
        return None
    if relative and not path.is_dir():
        return None
    root = folder.resolve()
    entries: list[_Entry] = []
    if path.is_dir():
        for child in path.iterdir():
            if child.name.startswith("."):
                continue
            child_id = quote(child.relative_to(root).as_posix())
            if child.is_dir():
                entries.append(_Entry(child.name, child_id, True, ""))
            elif (mime := audio_type(child)) is not None and child.is_file():
                entries.append(_Entry(child.name, child_id, False, mime))
    entries.sort(key=lambda entry: (not entry.is_dir, entry.name.casefold()))
    return (path.name if relative else LIBRARY_TITLE), entries


def _playable(folder: Path, relative: str) -> tuple[Path, str] | None:
    """The sound file at a path in the show folder and its MIME type, or None (blocking).

    Only the library's kinds of sound file are served, whatever else the folder holds.
    """
    try:
        path = library_file(folder, relative)
    except ValueError:
        return None
    mime = audio_type(path)
    if mime is None or not path.is_file():
        return None
    return path, mime


async def async_get_media_source(hass: HomeAssistant) -> SoundLibrarySource:
    """The media source of the venue's sound library, and the view that serves its files."""
    if not hass.data.get(DATA_VIEW):
        hass.http.register_view(SoundLibraryView(hass))
        hass.data[DATA_VIEW] = True
    return SoundLibrarySource(hass)


class SoundLibrarySource(MediaSource):
    """The audio files of the show folder."""

    name = LIBRARY_TITLE

    def __init__(self, hass: HomeAssistant) -> None:
        super().__init__(DOMAIN)
        self.hass = hass

    async def async_resolve_media(self, item: MediaSourceItem) -> PlayMedia:
        """A sound's URL on Home Assistant (signed for the player that asks)."""
        folder = library_folder(self.hass)
        relative = unquote(item.identifier or "")  # None at the library's top
        found = await self.hass.async_add_executor_job(_playable, folder, relative)
        if found is None:
            raise Unresolvable(
                translation_domain=DOMAIN,
                translation_key="library_item_missing",
                translation_placeholders={"item": relative},
            )
        return PlayMedia(f"{LIBRARY_URL}/{quote(relative)}", found[1])

    async def async_browse_media(self, item: MediaSourceItem) -> BrowseMediaSource:
        """A folder of the library: its folders, then its sounds."""
        folder = library_folder(self.hass)
        relative = unquote(item.identifier or "")  # None at the library's top
        listing = await self.hass.async_add_executor_job(_listing, folder, relative)
        if listing is None:
            raise BrowseError(
                translation_domain=DOMAIN,
                translation_key="library_item_missing",
                translation_placeholders={"item": relative},
            )
        title, entries = listing
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=item.identifier or None,
            media_class=MediaClass.DIRECTORY,
            media_content_type=MediaType.MUSIC,
            title=title,
            can_play=False,
            can_expand=True,
            children_media_class=MediaClass.MUSIC,
            children=[_child(entry) for entry in entries],
        )


def _child(entry: _Entry) -> BrowseMediaSource:
    if entry.is_dir:
        return BrowseMediaSource(
            domain=DOMAIN,
            identifier=entry.identifier,
            media_class=MediaClass.DIRECTORY,
            media_content_type=MediaType.MUSIC,
            title=entry.name,
            can_play=False,
            can_expand=True,
        )
    return BrowseMediaSource(
        domain=DOMAIN,
        identifier=entry.identifier,
        media_class=MediaClass.MUSIC,
        media_content_type=entry.mime,
        title=entry.name,
        can_play=True,
        can_expand=False,
    )


class SoundLibraryView(HomeAssistantView):
    """Serves the library's sounds to players, for authenticated (or signed) requests."""

    url = LIBRARY_URL + "/{location:.*}"
    name = "api:maze_manager:library"

    def __init__(self, hass: HomeAssistant) -> None:
        self.hass = hass

    async def get(self, request: web.Request, location: str) -> web.FileResponse:
        """One sound file of the library (`location` arrives decoded)."""
        folder = library_folder(self.hass)
        found = await self.hass.async_add_executor_job(_playable, folder, location)
        if found is None:
            raise web.HTTPNotFound
        path, mime = found
        return web.FileResponse(path, headers={"Content-Type": mime})
