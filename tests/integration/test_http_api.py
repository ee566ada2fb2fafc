"""The seed's HTTP API, called as an existing client calls it, against real satellites."""

from __future__ import annotations

import json
from typing import Any

import pytest
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.typing import (  # type: ignore[import-untyped]
    ClientSessionGenerator,
)

from tests.integration.venue_fixtures import (
    CELLAR,
    GATE,
    SHOW_YAML,
    Maze,
    maze,
    venue_maze,
    wait_for,
)
from tests.seed_examples import SEED_RUN_EFFECT, SEED_RUN_EFFECT_ALL_ROOMS

__all__ = ["maze", "venue_maze"]

RUN_EFFECT = "/api/maze_manager/run_effect"
RUN_EFFECT_ALL_ROOMS = "/api/maze_manager/run_effect_all_rooms"
REMOTE_HOSTS = "/api/maze_manager/remote_hosts"
REMOTE_HOST_CONFIG = {
    "remote_hosts": {
        "192.168.1.101": {"name": "Gate Pi", "rooms": ["Cop Dodge", "Entrance"]},
        "192.168.1.102": {"name": "Host2", "rooms": ["Gate", "Guy Line Climb"]},
    }
}
ATTIC = """\
  Attic:
    speakers: attic-pi.local
"""


async def post(
    hass_client: ClientSessionGenerator, url: str, body: Any
) -> tuple[int, dict[str, Any]]:
    """POST a body (JSON unless it is already text) and return the status and answer."""
    client = await hass_client()
    data = body if isinstance(body, str) else json.dumps(body)
    response = await client.post(url, data=data, headers={"Content-Type": "application/json"})
    return response.status, await response.json()


def starts_of(maze: Maze, name: str, cue_id: int) -> list[dict[str, Any]]:
    return [line for line in maze[name].cue_starts() if line["cue_id"] == cue_id]


async def test_run_effect_with_the_seed_body(
    hass: HomeAssistant, venue_maze: Maze, hass_client: ClientSessionGenerator
) -> None:
    status, answer = await post(hass_client, RUN_EFFECT, SEED_RUN_EFFECT)
    assert status == 200
    assert answer["status"] == "ok"
    assert answer["rooms"] == ["Entrance"]
    assert answer["satellites"] == [venue_maze[GATE].satellite_id]
    assert answer["offline_rooms"] == []

    lightning = venue_maze.cue_id("Lightning")
    await wait_for(lambda: starts_of(venue_maze, GATE, lightning))
    [start] = starts_of(venue_maze, GATE, lightning)
    assert (start["output"], start["scheduled_us"]) == (0, answer["start_us"])
    assert venue_maze[CELLAR].cue_starts() == []


async def test_run_effect_all_rooms_with_the_seed_body(
    hass: HomeAssistant, venue_maze: Maze, hass_client: ClientSessionGenerator
) -> None:
    status, answer = await post(hass_client, RUN_EFFECT_ALL_ROOMS, SEED_RUN_EFFECT_ALL_ROOMS)
    assert status == 200
    assert answer["status"] == "ok"
    assert answer["rooms"] == ["Entrance", "Cop Dodge", "Crypt"]

    lightning = venue_maze.cue_id("Lightning")
    await wait_for(
        lambda: (
            len(starts_of(venue_maze, GATE, lightning) + starts_of(venue_maze, CELLAR, lightning))
            == 4
        )
    )
    for name in (GATE, CELLAR):
        starts = starts_of(venue_maze, name, lightning)
        assert {line["output"] for line in starts} == {0, 1}
        assert {line["scheduled_us"] for line in starts} == {answer["start_us"]}


@pytest.mark.parametrize(
    ("url", "body", "error"),
    [
        (RUN_EFFECT, "{not json", "the body is not valid JSON"),
        (RUN_EFFECT, '["Entrance", "Lightning"]', "the body must be a JSON object"),
        (
            RUN_EFFECT,
            {**SEED_RUN_EFFECT, "audio": {"volume": 1.8}},
            "value must be at most 1.0 for dictionary value @ data['audio']['volume']. Got 1.8",
        ),
        (
            RUN_EFFECT,
            {"room": "Entrance"},
            "required key not provided @ data['effect_name']. Got None",
        ),
        (
            RUN_EFFECT,
            {**SEED_RUN_EFFECT, "effect_name": "Fog"},
            "The show has no effect named Fog",
        ),
        (
            RUN_EFFECT,
            {"effect_name": "Lightning"},
            "Name a room, rooms or area, or set all_rooms",
        ),
        (
            RUN_EFFECT,
            {**SEED_RUN_EFFECT, "room": "Attic"},
            "The show has no room named Attic",
        ),
        (
            RUN_EFFECT_ALL_ROOMS,
            {"effect_name": "Fog", "audio": {"volume": 0.8}},
            "The show has no effect named Fog",
        ),
        (
            RUN_EFFECT_ALL_ROOMS,
            {**SEED_RUN_EFFECT_ALL_ROOMS, "room": "Entrance"},
            "extra keys not allowed @ data['room']. Got 'Entrance'",
        ),
    ],
    ids=[
        "not_json",
        "not_an_object",
        "volume_too_high",
        "no_effect_name",
        "unknown_effect",
        "no_room",
        "unknown_room",
        "all_rooms_unknown_effect",
        "all_rooms_takes_no_room",
    ],
)
async def test_bad_bodies_are_refused_with_a_reason(
    venue_maze: Maze,
    hass_client: ClientSessionGenerator,
    url: str,
    body: Any,
    error: str,
) -> None:
    status, answer = await post(hass_client, url, body)
    assert (status, answer) == (400, {"status": "error", "error": error})
    assert venue_maze[GATE].records() == []


async def test_effects_are_refused_during_an_emergency_stop(
    hass: HomeAssistant, venue_maze: Maze, hass_client: ClientSessionGenerator
) -> None:
    await venue_maze.venue.effects.async_emergency_stop()
    status, answer = await post(hass_client, RUN_EFFECT, SEED_RUN_EFFECT)
    assert status == 400
    assert answer["error"] == (
        "Effects are refused until the emergency stop is cleared "
        "(maze_manager.clear_emergency_stop)"
    )


async def test_the_api_needs_authentication(
    hass: HomeAssistant,
    venue_maze: Maze,
    hass_client_no_auth: ClientSessionGenerator,
) -> None:
    client = await hass_client_no_auth()
    for url in (RUN_EFFECT, RUN_EFFECT_ALL_ROOMS):
        response = await client.post(url, json=SEED_RUN_EFFECT)
        assert response.status == 401
    assert (await client.get(REMOTE_HOSTS)).status == 401
    assert venue_maze[GATE].records() == []


async def remote_hosts(hass_client: ClientSessionGenerator) -> list[dict[str, Any]]:
    client = await hass_client()
    response = await client.get(REMOTE_HOSTS)
    assert response.status == 200
    answer = await response.json()
    assert list(answer) == ["remote_hosts"]
    hosts: list[dict[str, Any]] = answer["remote_hosts"]
    return hosts


def host(ip: str, name: str, rooms: list[str], status: str, **extra: str) -> dict[str, Any]:
    return {"ip": ip, "name": name, "rooms": rooms, "status": status, **extra}


async def test_remote_hosts_in_the_seed_shape(
    hass: HomeAssistant, maze: Maze, hass_client: ClientSessionGenerator
) -> None:
    await maze.start_satellite(GATE)
    await maze.start_satellite(CELLAR)
    for name in (GATE, CELLAR):
        maze.add_satellite_entry(name)
    maze.write_show(
        SHOW_YAML.replace("effects:", ATTIC + "effects:"),
        **{"remote_host_config.json": json.dumps(REMOTE_HOST_CONFIG)},
    )
    maze.add_venue_entry()
    await maze.async_setup()
    gate, cellar = maze[GATE].satellite_id, maze[CELLAR].satellite_id

    expected = [
        # remote_host_config.json's hosts first: Gate Pi by its name there, Host2 never added.
        host("192.168.1.101", "Gate Pi", ["Cop Dodge", "Entrance"], "connected", satellite_id=gate),
        host("192.168.1.102", "Host2", ["Gate", "Guy Line Climb"], "disconnected"),
        # Then the satellites it does not list, then those the show names without an entry.
        host("127.0.0.1", CELLAR, ["Crypt"], "connected", satellite_id=cellar),
        host("attic-pi.local", "attic-pi.local", ["Attic"], "disconnected"),
    ]
    assert await remote_hosts(hass_client) == expected

    await maze.stop_satellite(CELLAR)
    await wait_for(lambda: not maze[CELLAR].device.available)
    assert (await remote_hosts(hass_client))[2]["status"] == "disconnected"

    await maze.restart_satellite(CELLAR)
    await maze.async_ready()
    assert await remote_hosts(hass_client) == expected


async def test_remote_hosts_before_and_after_the_venue(
    hass: HomeAssistant, maze: Maze, hass_client: ClientSessionGenerator
) -> None:
    await maze.start_satellite(GATE)
    maze.add_satellite_entry(GATE)
    await maze.async_setup()
    gate = maze[GATE].satellite_id
    # Without a venue there are no rooms: only the satellite, at the address it is reached.
    assert await remote_hosts(hass_client) == [
        host("127.0.0.1", GATE, [], "connected", satellite_id=gate)
    ]

    maze.write_show()
    maze.add_venue_entry()
    await maze.async_setup()
    assert await remote_hosts(hass_client) == [
        host("127.0.0.1", GATE, ["Entrance", "Cop Dodge"], "connected", satellite_id=gate),
        host(CELLAR, CELLAR, ["Crypt"], "disconnected"),
    ]
