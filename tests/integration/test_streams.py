"""Streamed effects: sound from a URL, fetched and decoded once in Home Assistant and sent
to real satellites as Opus, in sync; unreachable and undecodable sounds are errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from custom_components.maze_manager.audio_manager import DATA_AUDIO
from custom_components.maze_manager.const import DOMAIN
from tests.integration.venue_fixtures import (
    CELLAR,
    GATE,
    Maze,
    async_start_maze,
    maze,
    wait_for,
)
from tests.satellite_harness import tone_wav

SOUND = tone_wav(1.0, 330.0)

__all__ = ["maze"]


@pytest.fixture
async def sound_server(socket_enabled: None) -> AsyncIterator[str]:
    """A local web server with a sound, a file that is not sound, and a missing path."""

    async def sound(request: web.Request) -> web.Response:
        return web.Response(body=SOUND, content_type="audio/wav")

    async def garbage(request: web.Request) -> web.Response:
        return web.Response(body=b"this is not audio" * 100, content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/thunder.wav", sound)
    app.router.add_get("/garbage.wav", garbage)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def stream_show(base: str) -> str:
    return f"""\
rooms:
  Entrance:
    speakers:
      - satellite: {GATE}
        output: Left
  Crypt:
    speakers: {CELLAR}
effects:
  Thunder:
    audio: {{file: "{base}/thunder.wav", volume: 0.8}}
  Static:
    audio: "{base}/garbage.wav"
  Nowhere:
    audio: "http://127.0.0.1:9/missing.wav"
"""


async def run(hass: HomeAssistant, data: dict[str, Any]) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "run_effect", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


def stream_starts(maze: Maze, name: str) -> list[dict[str, Any]]:
    return maze[name].records("stream_start")


async def test_a_url_effect_streams_to_two_satellites_in_sync(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR, show=stream_show(sound_server))

    called_us = maze.venue.effects.lead_us([])  # any lead: the start comes from the stream
    response = await run(hass, {"effect_name": "Thunder", "rooms": ["Entrance", "Crypt"]})

    assert sorted(response["rooms"]) == ["Crypt", "Entrance"]
    assert response["offline_rooms"] == []
    await wait_for(lambda: stream_starts(maze, GATE) and stream_starts(maze, CELLAR))
    (gate,) = stream_starts(maze, GATE)
    cellar = next(start for start in stream_starts(maze, CELLAR) if start["output"] == 0)
    assert gate["scheduled_us"] == cellar["scheduled_us"] == response["start_us"]
    skew_us = abs(gate["mono_us"] - cellar["mono_us"])
    print(f"\nstream start skew between the satellites: {skew_us} us (lead {called_us} us)")
    assert skew_us <= 1000
    assert gate["output"] == 0  # Entrance is the Gate Pi's left output only


async def test_an_unreachable_url_is_an_error_not_a_success(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR, show=stream_show(sound_server))

    with pytest.raises(HomeAssistantError) as caught:
        await run(hass, {"effect_name": "Nowhere", "room": "Entrance"})

    assert caught.value.translation_key == "sound_unavailable"
    assert "127.0.0.1:9" in str(caught.value.translation_placeholders)
    await asyncio.sleep(0.3)
    assert not stream_starts(maze, GATE)


async def test_a_sound_that_is_not_audio_is_an_error(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR, show=stream_show(sound_server))

    with pytest.raises(HomeAssistantError) as caught:
        await run(hass, {"effect_name": "Static", "room": "Crypt"})

    assert caught.value.translation_key == "sound_undecodable"


async def test_stop_ends_a_stream_and_frees_the_speakers(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR, show=stream_show(sound_server))
    audio = hass.data[DATA_AUDIO]

    await run(hass, {"effect_name": "Thunder", "room": "Crypt"})
    assert len(audio.streams) == 1
    await hass.services.async_call(DOMAIN, "stop", {"room": "Crypt", "fade_ms": 0}, blocking=True)

    assert audio.streams == []
    await wait_for(
        lambda: maze[CELLAR].records("stream_stop") or maze[CELLAR].records("stream_end")
    )
