"""Streamed effects: sound from a URL, fetched and decoded once in Home Assistant and sent
to real satellites as Opus, in sync; unreachable and undecodable sounds are errors."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import av
import numpy as np
import pytest
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError

from custom_components.maze_manager.audio_manager import DATA_AUDIO
from custom_components.maze_manager.audio_stream import EVENT_STREAM_FAILED
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
from tests.sound_server import serve_sounds

SOUND = tone_wav(1.0, 330.0)


def flac_broken_halfway(seconds: float = 4.0) -> bytes:
    """A FLAC tone whose second half is garbage: FFmpeg decodes the first half, then fails."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as container:
        stream = container.add_stream("flac", rate=48000)
        stream.layout = "stereo"
        times = np.arange(int(48000 * seconds)) / 48000
        tone = (0.3 * np.sin(2 * np.pi * 440 * times)).astype(np.float32)
        for start in range(0, len(tone), 960):
            block = np.ascontiguousarray(np.stack([tone[start : start + 960]] * 2))
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="stereo")
            frame.sample_rate, frame.pts = 48000, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    data = buffer.getvalue()
    middle = len(data) // 2
    # Garbage to the end: a garbled stretch followed by good frames is not enough, as newer
    # FFmpeg releases (PyAV 19) skip it and decode on.
    garbage = bytes(range(256)) * (len(data) // 256 + 1)
    return data[:middle] + garbage[: len(data) - middle]


BROKEN = flac_broken_halfway()

__all__ = ["maze"]


@pytest.fixture
async def sound_server(socket_enabled: None) -> AsyncIterator[str]:
    """A local web server with a sound, a file that is not sound, and a missing path."""

    files = {
        "/thunder.wav": (SOUND, "audio/wav"),
        "/garbage.wav": (b"this is not audio" * 100, "audio/wav"),
        "/broken.flac": (BROKEN, "audio/flac"),
    }
    async with serve_sounds(files) as base:
        yield base


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
  Broken:
    audio: {{file: "{base}/broken.flac", fallback: lightning.wav}}
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


async def test_a_stream_that_breaks_off_plays_its_fallback_where_it_stops(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR, show=stream_show(sound_server))
    failures: list[dict[str, Any]] = []
    hass.bus.async_listen(EVENT_STREAM_FAILED, lambda event: failures.append(event.data))
    fallback = maze.venue.audio.fallback_for(maze.venue.effects.effect("Broken"))
    assert fallback

    response = await run(hass, {"effect_name": "Broken", "room": "Crypt"})

    await wait_for(maze[CELLAR].cue_starts, timeout=10)
    (stream,) = [s for s in stream_starts(maze, CELLAR) if s["output"] == 0]
    start = next(c for c in maze[CELLAR].cue_starts() if c["output"] == 0)
    assert stream["scheduled_us"] == response["start_us"]
    assert start["cue_id"] == fallback
    # The first half (about 2 s of the 4 s tone) played; the fallback starts where it ended.
    played_s = (start["scheduled_us"] - response["start_us"]) / 1e6
    print(f"\nthe stream broke off after {played_s:.2f} s; the fallback started there")
    assert 1.0 < played_s < 3.0
    assert failures
    assert failures[0]["title"] == "Broken"
    assert failures[0]["fallback"] is True
    assert "decode" in failures[0]["reason"]
