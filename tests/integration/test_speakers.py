"""Speakers are media players: play_media (URLs, the sound library, TTS), announcements,
the media browser, groups; several speakers of one call start as one stream, in sync,
on real satellites."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components import media_source
from homeassistant.components.demo import tts as tts_demo
from homeassistant.components.media_player import ATTR_GROUP_MEMBERS
from homeassistant.components.tts import TextToSpeechEntity, TtsAudioType
from homeassistant.components.tts.const import DATA_COMPONENT as TTS_COMPONENT
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import area_registry as ar, entity_registry as er
from homeassistant.setup import async_setup_component

from custom_components.maze_manager.audio_manager import DATA_AUDIO
from custom_components.maze_manager.const import DOMAIN
from custom_components.maze_manager.media_player import ANNOUNCE_PRIORITY
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

__all__ = ["maze"]

SONG = tone_wav(3.0, 262.0)
SPEECH = (Path(tts_demo.__file__).parent / "tts.mp3").read_bytes()
"""Home Assistant's demo speech: MP3, which the TTS cache keeps without FFmpeg."""


@pytest.fixture
async def sound_server(socket_enabled: None) -> AsyncIterator[str]:
    """A local web server with a three-second song."""
    async with serve_sounds({"/song.wav": (SONG, "audio/wav")}) as base:
        yield base


def speaker(hass: HomeAssistant, maze: Maze, name: str, output: int) -> str:
    """The entity id of one output of a satellite."""
    unique_id = f"{maze[name].satellite_id}-output-{output}"
    found = er.async_get(hass).async_get_entity_id("media_player", DOMAIN, unique_id)
    assert found is not None, unique_id
    return found


async def play(
    hass: HomeAssistant, entity_ids: str | list[str], media_id: str, **extra: Any
) -> None:
    await hass.services.async_call(
        "media_player",
        "play_media",
        {
            ATTR_ENTITY_ID: entity_ids,
            "media_content_id": media_id,
            "media_content_type": "music",
            **extra,
        },
        blocking=True,
    )


def stream_ids(maze: Maze, name: str) -> set[int]:
    return {start["stream_id"] for start in maze[name].records("stream_start")}


async def test_one_call_on_speakers_of_two_satellites_is_one_stream_in_sync(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    audio = hass.data[DATA_AUDIO]
    gate_left, gate_right = speaker(hass, maze, GATE, 0), speaker(hass, maze, GATE, 1)
    cellar_left = speaker(hass, maze, CELLAR, 0)

    await play(hass, [gate_left, gate_right, cellar_left], f"{sound_server}/song.wav")

    assert len(audio.streams) == 1
    (stream,) = audio.streams
    masks = {lane.target.device.name: lane.target.output_mask for lane in stream.lanes}
    assert masks == {GATE: 0b11, CELLAR: 0b01}
    await wait_for(lambda: stream_ids(maze, GATE) and stream_ids(maze, CELLAR))
    await asyncio.sleep(0.1)
    assert len(stream_ids(maze, GATE)) == 1  # one stream on the Gate Pi, on both outputs
    assert len(stream_ids(maze, CELLAR)) == 1
    gate = {start["output"]: start for start in maze[GATE].records("stream_start")}
    (cellar,) = maze[CELLAR].records("stream_start")
    assert set(gate) == {0, 1}
    assert gate[0]["scheduled_us"] == cellar["scheduled_us"] == stream.start_us
    skew_us = abs(gate[0]["mono_us"] - cellar["mono_us"])
    print(f"\nplay_media start skew between the satellites: {skew_us} us")
    assert skew_us <= 1000
    for entity_id in (gate_left, gate_right, cellar_left):
        assert hass.states.get(entity_id).state == "playing"  # type: ignore[union-attr]


async def test_play_media_on_an_area_plays_its_speakers_as_one_stream(
    hass: HomeAssistant, maze: Maze
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    crypt = ar.async_get(hass).async_get_area_by_name("Crypt")
    assert crypt is not None  # the show's rooms are areas; both Cellar outputs play the Crypt

    await hass.services.async_call(
        "media_player",
        "play_media",
        {
            "area_id": crypt.id,
            "media_content_id": f"media-source://{DOMAIN}/ambience.wav",
            "media_content_type": "music",
        },
        blocking=True,
    )

    (stream,) = hass.data[DATA_AUDIO].streams
    assert [(lane.target.device.name, lane.target.output_mask) for lane in stream.lanes] == [
        (CELLAR, 0b11)
    ]
    await wait_for(lambda: len(maze[CELLAR].records("stream_start")) == 2)
    assert len(stream_ids(maze, CELLAR)) == 1


async def test_playing_shows_title_duration_and_position_then_idle(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    left = speaker(hass, maze, GATE, 0)
    assert hass.states.get(left).state == "idle"  # type: ignore[union-attr]

    await play(hass, left, f"{sound_server}/song.wav")

    state = hass.states.get(left)
    assert state is not None
    assert state.state == "playing"
    assert state.attributes["media_title"] == "song.wav"
    assert state.attributes["media_duration"] == 3
    assert state.attributes["media_position"] == 0
    assert state.attributes["media_content_id"] == f"{sound_server}/song.wav"
    assert "media_position_updated_at" in state.attributes
    # The other output of the same satellite plays nothing.
    assert hass.states.get(speaker(hass, maze, GATE, 1)).state == "idle"  # type: ignore[union-attr]

    await wait_for(lambda: hass.states.get(left).state == "idle", timeout=8)  # type: ignore[union-attr]
    assert "media_title" not in hass.states.get(left).attributes  # type: ignore[union-attr]
    await wait_for(lambda: maze[GATE].records("stream_stop"))


async def test_a_sound_of_the_library_plays_by_its_media_source_id(
    hass: HomeAssistant, maze: Maze
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    crypt = speaker(hass, maze, CELLAR, 0)

    await play(hass, crypt, f"media-source://{DOMAIN}/lightning.wav")

    await wait_for(lambda: maze[CELLAR].records("stream_start"))
    assert hass.states.get(crypt).attributes["media_title"] == "lightning.wav"  # type: ignore[union-attr]


async def test_a_speaker_plays_without_a_venue(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await maze.start_satellite(CELLAR)
    maze.add_satellite_entry(CELLAR)
    maze.write_show()  # the default library folder, with no venue to name it
    await maze.async_setup()
    crypt = speaker(hass, maze, CELLAR, 0)

    await play(hass, crypt, f"{sound_server}/song.wav")
    await play(hass, speaker(hass, maze, CELLAR, 1), f"media-source://{DOMAIN}/ambience.wav")

    await wait_for(lambda: len(stream_ids(maze, CELLAR)) == 2)


async def test_an_announcement_plays_over_what_plays_and_leaves_it_playing(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    audio = hass.data[DATA_AUDIO]
    crypt = speaker(hass, maze, CELLAR, 0)
    await play(hass, crypt, f"{sound_server}/song.wav")
    (song,) = audio.streams

    await play(hass, crypt, f"media-source://{DOMAIN}/lightning.wav", announce=True)

    assert song.playing
    assert len(audio.streams) == 2
    announcement = audio.streams[-1]
    assert (announcement.options.priority, announcement.options.bus) == (
        ANNOUNCE_PRIORITY,
        "announce",
    )
    assert hass.states.get(crypt).attributes["media_title"] == "lightning.wav"  # type: ignore[union-attr]
    await announcement.done.wait()
    assert song.playing
    assert hass.states.get(crypt).attributes["media_title"] == "song.wav"  # type: ignore[union-attr]
    (song_lane,) = song.lanes
    stops = [
        stop
        for stop in maze[CELLAR].records("stream_stop")
        if stop["stream_id"] == song_lane.stream_id
    ]
    assert stops == []

    # A new sound (not an announcement) replaces the song.
    await play(hass, crypt, f"media-source://{DOMAIN}/ambience.wav")
    assert not song.playing
    assert len(audio.streams) == 1


async def test_stop_ends_the_stream_on_the_speaker(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    crypt = speaker(hass, maze, CELLAR, 0)
    await play(hass, crypt, f"{sound_server}/song.wav")

    await hass.services.async_call(
        "media_player", "media_stop", {ATTR_ENTITY_ID: crypt}, blocking=True
    )

    assert hass.data[DATA_AUDIO].streams == []
    assert hass.states.get(crypt).state == "idle"  # type: ignore[union-attr]
    await wait_for(lambda: maze[CELLAR].records("stream_stop"))


class SpeechEntity(TextToSpeechEntity):
    """A text-to-speech engine that says everything as a short tone."""

    _attr_name = "Test speech"
    _attr_default_language = "en"

    def __init__(self) -> None:
        self._attr_supported_languages = ["en"]

    def get_tts_audio(self, message: str, language: str, options: dict[str, Any]) -> TtsAudioType:
        return "mp3", SPEECH


async def test_tts_speak_plays_on_the_satellite_as_an_announcement(
    hass: HomeAssistant, maze: Maze
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    assert await async_setup_component(hass, "tts", {})
    await hass.data[TTS_COMPONENT].async_add_entities([SpeechEntity()])
    crypt = speaker(hass, maze, CELLAR, 0)
    audio = hass.data[DATA_AUDIO]
    announcements = []
    audio.async_add_listener(lambda: announcements.extend(audio.streams))

    await hass.services.async_call(
        "tts",
        "speak",
        {
            ATTR_ENTITY_ID: "tts.test_speech",
            "media_player_entity_id": crypt,
            "message": "The crypt is closing",
        },
        blocking=True,
    )

    await wait_for(lambda: maze[CELLAR].records("stream_start"))
    (spoken,) = set(announcements)
    assert spoken.options.priority == ANNOUNCE_PRIORITY
    assert [lane.target.output_mask for lane in spoken.lanes] == [0b01]


async def test_browse_media_lists_the_sound_library(hass: HomeAssistant, maze: Maze) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    (maze.show_folder / "storms").mkdir()
    (maze.show_folder / "storms" / "rain.wav").write_bytes(tone_wav(0.2))
    crypt = speaker(hass, maze, CELLAR, 0)

    async def browse(media_id: str | None = None) -> dict[str, Any]:
        data = {ATTR_ENTITY_ID: crypt}
        if media_id is not None:
            data["media_content_id"] = media_id
        response = await hass.services.async_call(
            "media_player", "browse_media", data, blocking=True, return_response=True
        )
        assert response is not None
        result = response[crypt]
        return result.as_dict() if hasattr(result, "as_dict") else result  # type: ignore[no-any-return]

    top = await browse(f"media-source://{DOMAIN}")
    names = [(child["title"], child["can_play"], child["can_expand"]) for child in top["children"]]
    # Folders first, then sounds; show.yaml is not a sound.
    assert names == [
        ("storms", False, True),
        ("ambience.wav", True, False),
        ("lightning.wav", True, False),
    ]
    storms = await browse(top["children"][0]["media_content_id"])
    (rain,) = storms["children"]
    assert rain["media_content_id"] == f"media-source://{DOMAIN}/storms/rain.wav"
    assert rain["media_content_type"] == "audio/wav"

    sources = await browse()  # every media source; ours is one of them
    assert f"media-source://{DOMAIN}" in [
        child["media_content_id"] for child in sources["children"]
    ]

    await play(hass, crypt, rain["media_content_id"])
    await wait_for(lambda: maze[CELLAR].records("stream_start"))


async def test_the_library_resolves_to_a_signed_url_for_other_players(
    hass: HomeAssistant, maze: Maze, hass_client: Any
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    played = await media_source.async_resolve_media(
        hass, f"media-source://{DOMAIN}/lightning.wav", None
    )
    assert played.url == f"/api/{DOMAIN}/library/lightning.wav"
    assert played.mime_type == "audio/wav"
    client = await hass_client()
    answer = await client.get(played.url)
    assert answer.status == 200
    assert await answer.read() == (maze.show_folder / "lightning.wav").read_bytes()
    assert (await client.get(f"/api/{DOMAIN}/library/show.yaml")).status == 404
    assert (await client.get(f"/api/{DOMAIN}/library/..%2Fsecrets.wav")).status in (400, 404)
    with pytest.raises(HomeAssistantError):
        await media_source.async_resolve_media(hass, f"media-source://{DOMAIN}/nothing.wav", None)


async def test_an_unreachable_url_is_an_error(hass: HomeAssistant, maze: Maze) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    crypt = speaker(hass, maze, CELLAR, 0)

    with pytest.raises(HomeAssistantError) as caught:
        await play(hass, crypt, "http://127.0.0.1:9/missing.wav")

    assert caught.value.translation_key == "sound_unavailable"
    assert hass.data[DATA_AUDIO].streams == []
    assert hass.states.get(crypt).state == "idle"  # type: ignore[union-attr]


async def test_an_unreachable_url_on_several_speakers_is_one_error(
    hass: HomeAssistant, maze: Maze
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    targets = [speaker(hass, maze, GATE, 0), speaker(hass, maze, CELLAR, 0)]

    with pytest.raises(HomeAssistantError) as caught:
        await play(hass, targets, "http://127.0.0.1:9/missing.wav")

    assert caught.value.translation_key == "sound_unavailable"


async def test_a_plain_path_is_not_playable(hass: HomeAssistant, maze: Maze) -> None:
    await async_start_maze(maze, GATE, CELLAR)

    with pytest.raises(ServiceValidationError) as caught:
        await play(hass, speaker(hass, maze, CELLAR, 0), "sounds/thunder.wav")

    assert caught.value.translation_key == "media_not_playable"


async def test_a_group_plays_together_and_comes_apart(
    hass: HomeAssistant, maze: Maze, sound_server: str
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    leader, member = speaker(hass, maze, GATE, 1), speaker(hass, maze, CELLAR, 0)
    audio = hass.data[DATA_AUDIO]

    await hass.services.async_call(
        "media_player",
        "join",
        {ATTR_ENTITY_ID: leader, ATTR_GROUP_MEMBERS: [member]},
        blocking=True,
    )
    for entity_id in (leader, member):
        state = hass.states.get(entity_id)
        assert state is not None
        assert state.attributes[ATTR_GROUP_MEMBERS] == [leader, member]

    await play(hass, leader, f"{sound_server}/song.wav")
    (stream,) = audio.streams
    masks = {lane.target.device.name: lane.target.output_mask for lane in stream.lanes}
    assert masks == {GATE: 0b10, CELLAR: 0b01}
    assert hass.states.get(member).state == "playing"  # type: ignore[union-attr]

    await hass.services.async_call(
        "media_player", "unjoin", {ATTR_ENTITY_ID: member}, blocking=True
    )
    assert hass.states.get(leader).attributes[ATTR_GROUP_MEMBERS] == [leader]  # type: ignore[union-attr]
    assert hass.states.get(member).attributes[ATTR_GROUP_MEMBERS] == [member]  # type: ignore[union-attr]
    await play(hass, leader, f"media-source://{DOMAIN}/lightning.wav")
    (alone,) = audio.streams
    assert [lane.target.device.name for lane in alone.lanes] == [GATE]

    with pytest.raises(ServiceValidationError) as caught:
        await hass.services.async_call(
            "media_player",
            "join",
            {ATTR_ENTITY_ID: leader, ATTR_GROUP_MEMBERS: ["media_player.nowhere"]},
            blocking=True,
        )
    assert caught.value.translation_key == "not_a_speaker"


async def test_a_group_member_offline_is_named_and_the_rest_plays(
    hass: HomeAssistant, maze: Maze, sound_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    await async_start_maze(maze, GATE, CELLAR)
    leader, member = speaker(hass, maze, GATE, 0), speaker(hass, maze, CELLAR, 0)
    await hass.services.async_call(
        "media_player",
        "join",
        {ATTR_ENTITY_ID: leader, ATTR_GROUP_MEMBERS: [member]},
        blocking=True,
    )
    await maze.stop_satellite(CELLAR)
    await wait_for(lambda: not maze[CELLAR].device.available)

    await play(hass, leader, f"{sound_server}/song.wav")

    (stream,) = hass.data[DATA_AUDIO].streams
    assert [lane.target.device.name for lane in stream.lanes] == [GATE]
    assert f"but not on {member}" in caplog.text
