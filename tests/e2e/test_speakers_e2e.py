"""End to end: speakers as media players in a real Home Assistant with real satellites.

`media_player.play_media` on one speaker of each satellite, in one call through the REST
API, starts one stream that both satellites' null outputs record from the same venue time;
the media browser lists the venue's sound library, and a library item resolves to a
signed URL that serves the file without any other authentication.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.satellite_harness import records

from .harness import Processes, SatelliteProcess, wait_for
from .venue_setup import (
    AMBIENT_WAV,
    MAX_SKEW_US,
    Venue,
    set_up_venue,
    wait_until_synchronised,
)

pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.slow]

PLAY_WAIT_S = 10.0


@pytest.fixture
async def venue(
    workdir: Path, processes: Processes, http: aiohttp.ClientSession
) -> AsyncIterator[Venue]:
    """The venue of venue_setup, for one test."""
    async with set_up_venue(workdir, processes, http) as ready:
        yield ready


async def speakers(venue: Venue) -> dict[str, str]:
    """Each speaker's entity id by its name as the frontend shows it."""
    states: list[dict[str, Any]] = await venue.client.get("/api/states")
    return {
        state["attributes"]["friendly_name"]: state["entity_id"]
        for state in states
        if state["entity_id"].startswith("media_player.")
    }


def stream_starts(satellite: SatelliteProcess) -> list[dict[str, Any]]:
    return records(satellite.record, "stream_start")


async def test_play_media_on_two_satellites_is_one_stream_in_sync(venue: Venue) -> None:
    await wait_until_synchronised(venue)
    found = await speakers(venue)
    targets = [found["Entrance Pi Left"], found["Gate Pi Right"]]

    await venue.client.post(
        "/api/services/media_player/play_media",
        {
            "entity_id": targets,
            "media_content_id": "media-source://maze_manager/ambient_loop.wav",
            "media_content_type": "music",
        },
    )

    async def started() -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | None:
        entrance, gate = (stream_starts(satellite) for satellite in venue.satellites)
        return (entrance, gate) if entrance and gate else None

    (entrance, gate), _ = await wait_for(
        started, "a stream start on both satellites", PLAY_WAIT_S, venue.explain
    )
    assert len(entrance) == len(gate) == 1, (entrance, gate)
    assert entrance[0]["scheduled_us"] == gate[0]["scheduled_us"]
    assert (entrance[0]["output"], gate[0]["output"]) == (0, 1)
    skew_us = abs(entrance[0]["mono_us"] - gate[0]["mono_us"])
    print(f"play_media start skew between two satellite processes: {skew_us} us")
    assert skew_us <= MAX_SKEW_US
    state = await venue.client.get(f"/api/states/{targets[0]}")
    assert state["state"] == "playing"
    assert state["attributes"]["media_title"] == "ambient_loop.wav"


async def test_the_library_is_browsed_and_served_signed(
    venue: Venue, http: aiohttp.ClientSession
) -> None:
    top = await venue.client.command(
        "media_source/browse_media", media_content_id="media-source://maze_manager"
    )
    titles = [child["title"] for child in top["children"]]
    assert titles == ["ambient_loop.wav", "lightning_crack.wav"]

    resolved = await venue.client.command(
        "media_source/resolve_media",
        media_content_id="media-source://maze_manager/ambient_loop.wav",
    )
    assert resolved["mime_type"] == "audio/wav"
    assert "authSig=" in resolved["url"]
    url = resolved["url"] if "://" in resolved["url"] else venue.hass.url + resolved["url"]
    async with http.get(url) as answer:  # no Authorization header: the signature is enough
        assert answer.status == 200
        assert await answer.read() == AMBIENT_WAV
    async with http.get(venue.hass.url + "/api/maze_manager/library/ambient_loop.wav") as bare:
        assert bare.status == 401
