"""Where a streamed sound's bytes come from: a URL, a media source item, a TTS result or a file.

Everything that is not preloaded on the satellites is fetched here once, whole, before it
is decoded and streamed. A sound that cannot be had raises SoundUnavailable with the
reason, which the caller reports (no silent success).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import aiohttp
from homeassistant.components import media_source
from homeassistant.components.media_player.browse_media import async_process_play_media_url
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import DOMAIN

MAX_SOUND_BYTES = 64 * 1024 * 1024
"""A streamed sound is fetched whole; an hour of 128 kbps MP3 is about 58 MB."""
FETCH_TIMEOUT_S = 15.0
TTS_PREFIX = "media-source://tts/"
LIBRARY_PREFIX = f"media-source://{DOMAIN}/"


class SoundUnavailable(HomeAssistantError):
    """A sound cannot be fetched or read; the message says why."""


@dataclass(frozen=True, slots=True)
class Sound:
    """A streamed sound's encoded bytes and the title players show for it."""

    data: bytes
    title: str


async def async_fetch_sound(hass: HomeAssistant, media_id: str, show_folder: Path) -> Sound:
    """The bytes of a URL, a media-source id (TTS, the venue's library, any other) or a path."""
    if media_id.startswith(TTS_PREFIX):
        return await _tts(hass, media_id)
    if media_id.startswith(LIBRARY_PREFIX):
        return await _read_file(hass, library_path(show_folder, media_id[len(LIBRARY_PREFIX) :]))
    if media_source.is_media_source_id(media_id):
        return await _media_source(hass, media_id)
    if media_id.startswith(("http://", "https://")):
        return await _download(hass, media_id)
    path = Path(media_id)
    if not path.is_absolute():
        path = show_folder / path
    return await _read_file(hass, path)


def library_path(show_folder: Path, relative: str) -> Path:
    """A file of the venue's sound library; never a path outside the show folder."""
    folder = show_folder.resolve()
    path = (folder / unquote(relative)).resolve()
    if not path.is_relative_to(folder):
        raise SoundUnavailable(f"{relative} is outside the show folder")
    return path


async def _tts(hass: HomeAssistant, media_id: str) -> Sound:
    from homeassistant.components import tts  # noqa: PLC0415 - only when TTS is used

    try:
        extension, data = await tts.async_get_media_source_audio(hass, media_id)
    except (HomeAssistantError, ValueError, KeyError) as err:
        raise SoundUnavailable(f"text-to-speech failed: {err}") from err
    return Sound(_checked_size(data, media_id), f"Announcement ({extension})")


async def _media_source(hass: HomeAssistant, media_id: str) -> Sound:
    try:
        item = await media_source.async_resolve_media(hass, media_id, None)
    except HomeAssistantError as err:
        raise SoundUnavailable(f"{media_id} cannot be resolved: {err}") from err
    title = media_id.rsplit("/", 1)[-1]
    path = getattr(item, "path", None) or _local_media_path(hass, item.url)
    if path is not None:
        return Sound((await _read_file(hass, Path(path))).data, title)
    url = async_process_play_media_url(hass, item.url)
    return Sound((await _download(hass, url)).data, title)


def _local_media_path(hass: HomeAssistant, url: str) -> Path | None:
    """The file behind a local media source URL (`/media/<dir>/<path>`), if it is one."""
    parts = urlparse(url)
    if parts.scheme or not parts.path.startswith("/media/"):
        return None
    source_dir, _, location = parts.path[len("/media/") :].partition("/")
    base = hass.config.media_dirs.get(source_dir)
    if base is None:
        return None
    base_path = Path(base).resolve()
    path = (base_path / unquote(location)).resolve()
    return path if path.is_relative_to(base_path) else None


async def _download(hass: HomeAssistant, url: str) -> Sound:
    session = async_get_clientsession(hass)
    try:
        async with (
            asyncio.timeout(FETCH_TIMEOUT_S),
            session.get(url, raise_for_status=True) as response,
        ):
            if (response.content_length or 0) > MAX_SOUND_BYTES:
                raise SoundUnavailable(f"{url} is larger than {MAX_SOUND_BYTES} bytes")
            body = bytearray()
            async for chunk in response.content.iter_any():  # read(n) stops at one chunk
                body += chunk
                if len(body) > MAX_SOUND_BYTES:
                    break
            data = bytes(body)
    except TimeoutError as err:
        raise SoundUnavailable(f"{url} did not answer within {FETCH_TIMEOUT_S:g} s") from err
    except aiohttp.ClientResponseError as err:
        raise SoundUnavailable(f"{url} answered {err.status} {err.message}") from err
    except (aiohttp.ClientError, OSError) as err:
        raise SoundUnavailable(f"{url} cannot be reached: {err}") from err
    return Sound(_checked_size(data, url), url.rsplit("/", 1)[-1] or url)


async def _read_file(hass: HomeAssistant, path: Path) -> Sound:
    try:
        data = await hass.async_add_executor_job(path.read_bytes)
    except OSError as err:
        raise SoundUnavailable(f"{path} cannot be read: {err.strerror or err}") from err
    return Sound(_checked_size(data, str(path)), path.name)


def _checked_size(data: bytes, name: str) -> bytes:
    if not data:
        raise SoundUnavailable(f"{name} is empty")
    if len(data) > MAX_SOUND_BYTES:
        raise SoundUnavailable(f"{name} is larger than {MAX_SOUND_BYTES} bytes")
    return data
