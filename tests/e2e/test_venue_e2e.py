"""End to end: a venue set up through Home Assistant's HTTP API plays in its rooms, in sync.

A real `hass` process with the integration and two real `pi-satellite` processes on
loopback, each on a null output and each with its own simulated clock (offset and drift),
so the two starts can only coincide if both satellites really follow the venue clock.
Home Assistant is set up as a user would: onboarding, the venue's config flow, each
satellite's config flow with host, port and pairing key. Effects are fired with the seed's
example bodies, and the results are read from what the satellites' outputs recorded: the
machine's monotonic time of each first sample, which is also Home Assistant's venue clock.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from tests.satellite_harness import records
from tests.seed_examples import SEED_RUN_EFFECT, SEED_RUN_EFFECT_ALL_ROOMS

from .harness import (
    Processes,
    wait_for,
)
from .venue_setup import (
    LIGHTNING_S,
    LINK_CHANGE_S,
    MAX_SKEW_US,
    MAX_START_ERROR_US,
    RATE,
    Venue,
    cue_end,
    first_samples,
    remote_hosts,
    set_up_venue,
    wait_until_synchronised,
)

pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.slow]


@pytest.fixture
async def venue(
    workdir: Path, processes: Processes, http: aiohttp.ClientSession
) -> AsyncIterator[Venue]:
    """The venue of venue_setup, for one test."""
    async with set_up_venue(workdir, processes, http) as ready:
        yield ready


async def test_effects_start_in_their_rooms_in_sync(venue: Venue) -> None:
    """The seed's run_effect plays in the Entrance only; run_effect_all_rooms in both rooms
    with the two satellites' first samples within 2 ms of each other."""
    sync_s = await wait_until_synchronised(venue)
    print(f"both satellites synchronised and preloaded {sync_s:.1f} s after setup")

    answer = await venue.client.post("/api/maze_manager/run_effect", SEED_RUN_EFFECT)
    assert answer["status"] == "ok"
    assert answer["rooms"] == ["Entrance"]
    assert answer["satellites"] == [venue.entrance.satellite_id]
    assert answer["offline_rooms"] == []
    (start,) = await first_samples(venue, (venue.entrance,), answer["start_us"])
    assert start["output"] == 0, "Entrance is served by the Entrance Pi's Left output"
    stop = await cue_end(venue, venue.entrance, start)
    assert stop["reason"] == "ended"
    assert stop["frame"] - start["frame"] == round(LIGHTNING_S * RATE), (
        "the cue that played is not the 0.25 s lightning sound"
    )
    assert records(venue.gate.record, "cue_start") == [], "the Gate played an Entrance effect"
    lightning_cue = start["cue_id"]

    called = await venue.client.post(
        "/api/services/maze_manager/run_effect_all_rooms?return_response",
        SEED_RUN_EFFECT_ALL_ROOMS,
    )
    run = called["service_response"]
    assert sorted(run["rooms"]) == ["Cop Dodge", "Entrance", "Gate", "Guy Line Climb"]
    assert sorted(run["satellites"]) == sorted(s.satellite_id for s in venue.satellites)
    assert sorted(run["offline_rooms"]) == ["Cop Dodge", "Guy Line Climb"]
    entrance, gate = await first_samples(venue, venue.satellites, run["start_us"])
    assert (entrance["output"], gate["output"]) == (0, 1), "Entrance on Left, Gate on Right"
    assert entrance["cue_id"] == gate["cue_id"] == lightning_cue
    errors_us = [line["mono_us"] - run["start_us"] for line in (entrance, gate)]
    skew_us = abs(entrance["mono_us"] - gate["mono_us"])
    print(
        f"run_effect_all_rooms: lead {run['lead_ms']} ms; first samples {errors_us[0]:+d} µs "
        f"and {errors_us[1]:+d} µs from the venue time; skew between satellites {skew_us} µs"
    )
    assert skew_us <= MAX_SKEW_US
    assert all(abs(error) <= MAX_START_ERROR_US for error in errors_us), errors_us


async def test_remote_hosts_follow_a_satellite_that_dies_and_comes_back(
    venue: Venue, processes: Processes
) -> None:
    """remote_hosts has the seed's shape; a killed satellite shows disconnected within 5 s,
    connected again within 5 s of its restart, and then plays again."""
    await wait_until_synchronised(venue)
    hosts = await remote_hosts(venue.client)
    assert hosts == {
        "Host1": {
            "ip": "192.168.1.101",
            "name": "Host1",
            "rooms": ["Cop Dodge", "Entrance"],
            "status": "disconnected",
        },
        "Host2": {
            "ip": "192.168.1.102",
            "name": "Host2",
            "rooms": ["Gate", "Guy Line Climb"],
            "status": "disconnected",
        },
        **{
            satellite.name: {
                "ip": "127.0.0.1",
                "name": satellite.name,
                "rooms": [room],
                "status": "connected",
                "satellite_id": satellite.satellite_id,
            }
            for satellite, room in ((venue.entrance, "Entrance"), (venue.gate, "Gate"))
        },
    }

    def status_becomes(status: str) -> Callable[[], Awaitable[bool | None]]:
        async def probe() -> bool | None:
            hosts = await remote_hosts(venue.client)
            return True if hosts[venue.gate.name]["status"] == status else None

        return probe

    killed_at = time.monotonic()
    venue.gate.kill(processes)
    await wait_for(
        status_becomes("disconnected"), "Gate Pi disconnected", LINK_CHANGE_S, venue.explain
    )
    down_s = time.monotonic() - killed_at
    assert (await remote_hosts(venue.client))[venue.entrance.name]["status"] == "connected"
    restarted_at = time.monotonic()
    venue.gate.start(processes)
    await wait_for(
        status_becomes("connected"), "Gate Pi connected again", LINK_CHANGE_S, venue.explain
    )
    up_s = time.monotonic() - restarted_at
    assert down_s <= LINK_CHANGE_S
    assert up_s <= LINK_CHANGE_S
    resync_s = await wait_until_synchronised(venue)
    print(
        f"\nGate Pi killed: disconnected after {down_s:.2f} s; restarted: connected after "
        f"{up_s:.2f} s, synchronised {resync_s:.2f} s later"
    )

    answer = await venue.client.post(
        "/api/maze_manager/run_effect", {**SEED_RUN_EFFECT, "room": "Gate"}
    )
    (start,) = await first_samples(venue, (venue.gate,), answer["start_us"])
    assert start["output"] == 1
