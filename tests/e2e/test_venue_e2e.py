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

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.conftest import (
    HassClient,
    HassInstance,
    Processes,
    SatelliteProcess,
    free_port,
    onboard,
    start_hass,
    wait_for,
    wait_until_up,
)
from tests.satellite_harness import KEY_HEX, records, satellite_settings, tone_wav

pytestmark = [pytest.mark.usefixtures("socket_enabled"), pytest.mark.slow]

RATE = 48000
LIGHTNING_S = 0.25
LIGHTNING_WAV = tone_wav(seconds=LIGHTNING_S, frequency=880.0, rate=RATE)
AMBIENT_WAV = tone_wav(seconds=1.0, frequency=110.0, rate=RATE)
SHOW_FOLDER = "maze_manager"

# The seed specification's own examples (sections 4.1, 4.2, 5.1 and 5.2), unchanged.
SEED_REMOTE_HOSTS = {
    "remote_hosts": {
        "192.168.1.101": {"name": "Host1", "rooms": ["Cop Dodge", "Entrance"]},
        "192.168.1.102": {"name": "Host2", "rooms": ["Gate", "Guy Line Climb"]},
    }
}
SEED_AUDIO_CONFIG = {
    "effects": {
        "Lightning": {"audio_file": "lightning_crack.mp3", "loop": False, "volume": 0.8},
        "Background Music": {"audio_file": "ambient_music.mp3", "loop": True, "volume": 0.5},
    },
    "default_volume": 0.7,
}
SEED_RUN_EFFECT = {
    "room": "Entrance",
    "effect_name": "Lightning",
    "audio": {"volume": 0.8, "loop": False},
    "all_rooms": False,
}
SEED_RUN_EFFECT_ALL_ROOMS = {"effect_name": "Lightning", "audio": {"volume": 0.8, "loop": False}}

SHOW_YAML = """\
# Two rooms with a satellite each; the seed's JSON files add two more rooms whose hosts
# (192.168.1.101 and .102) do not exist here. The WAV files replace the seed's MP3s.
rooms:
  Entrance:
    speakers:
      - satellite: {entrance}
        output: Left
  Gate:
    speakers:
      - satellite: {gate}
        output: Right

effects:
  Lightning:
    priority: 200
    audio:
      file: lightning_crack.wav
  Background Music:
    priority: 10
    audio:
      file: ambient_loop.wav
      bus: ambient
"""

MAX_SKEW_US = 2000
"""The acceptance bound between the two satellites' first samples."""
MAX_START_ERROR_US = 2000
"""How far a first sample may land from its venue time (the bench measures the budgets)."""
PLAY_WAIT_S = 5.0
SYNC_WAIT_S = 20.0
LINK_CHANGE_S = 5.0
"""The acceptance bound for remote_hosts to show a killed or restarted satellite."""


@dataclass
class Venue:
    """Home Assistant with the venue and two satellites set up through its API."""

    hass: HassInstance
    client: HassClient
    entrance: SatelliteProcess
    gate: SatelliteProcess

    @property
    def satellites(self) -> tuple[SatelliteProcess, SatelliteProcess]:
        """Both satellites, Entrance's first."""
        return (self.entrance, self.gate)

    def explain(self) -> str:
        """Every log tail, for failure messages."""
        return "\n".join(
            [self.hass.explain(), *(satellite.explain() for satellite in self.satellites)]
        )


def write_show(folder: Path, entrance: str, gate: str) -> None:
    """The show folder: show.yaml, the seed's two JSON files and the sound files."""
    folder.mkdir(parents=True)
    (folder / "show.yaml").write_text(
        SHOW_YAML.format(entrance=entrance, gate=gate), encoding="utf-8"
    )
    (folder / "remote_host_config.json").write_text(json.dumps(SEED_REMOTE_HOSTS), "utf-8")
    (folder / "audio_config.json").write_text(json.dumps(SEED_AUDIO_CONFIG), "utf-8")
    (folder / "lightning_crack.wav").write_bytes(LIGHTNING_WAV)
    (folder / "ambient_loop.wav").write_bytes(AMBIENT_WAV)


def loopback_satellite(
    folder: Path, name: str, offset_ms: float, drift_ppm: float
) -> SatelliteProcess:
    """A satellite process on loopback with a simulated clock."""
    settings = satellite_settings(
        folder, name, port=free_port(), offset_ms=offset_ms, drift_ppm=drift_ppm
    )
    return SatelliteProcess(folder, settings)


async def add_venue(client: HassClient) -> None:
    """Settings → Add integration → set up the venue, with the default show folder."""
    menu = await client.start_flow("maze_manager")
    assert menu["type"] == "menu"
    assert menu["menu_options"] == ["venue", "satellite"]
    form = await client.flow_step(menu["flow_id"], {"next_step_id": "venue"})
    assert form["type"] == "form"
    assert form["step_id"] == "venue"
    created = await client.flow_step(form["flow_id"], {"show_folder": SHOW_FOLDER})
    assert created["type"] == "create_entry", created
    assert created["title"] == "Venue"


async def add_satellite(client: HassClient, satellite: SatelliteProcess) -> None:
    """Settings → Add integration → add a satellite by host, port and pairing key."""
    menu = await client.start_flow("maze_manager")
    form = await client.flow_step(menu["flow_id"], {"next_step_id": "satellite"})
    assert form["step_id"] == "satellite"
    created = await client.flow_step(
        form["flow_id"],
        {"host": "127.0.0.1", "port": satellite.port, "pairing_key": KEY_HEX},
    )
    assert created["type"] == "create_entry", created
    assert created["title"] == satellite.name
    assert created["result"]["unique_id"] == satellite.satellite_id


@pytest.fixture
async def venue(
    tmp_path: Path, processes: Processes, http: aiohttp.ClientSession
) -> AsyncIterator[Venue]:
    """Two satellites (clocks +700 ms/+80 ppm and -400 ms/-60 ppm) and Home Assistant."""
    entrance = loopback_satellite(tmp_path / "entrance-pi", "Entrance Pi", 700.0, 80.0)
    gate = loopback_satellite(tmp_path / "gate-pi", "Gate Pi", -400.0, -60.0)
    for satellite in (entrance, gate):
        satellite.start(processes)
    config_dir = tmp_path / "hass"
    write_show(config_dir / SHOW_FOLDER, entrance.name, gate.name)
    hass = start_hass(processes, config_dir, free_port())
    up_s = await wait_until_up(http, hass)
    for satellite in (entrance, gate):
        await satellite.wait_ready()
    print(f"\nHome Assistant answered HTTP {up_s:.1f} s after its start")
    client = await onboard(http, hass)
    try:
        await add_venue(client)
        for satellite in (entrance, gate):
            await add_satellite(client, satellite)
        yield Venue(hass, client, entrance, gate)
    finally:
        await client.close()


async def wait_until_synchronised(venue: Venue) -> float:
    """Wait until both satellites are connected, synchronised and hold both sounds."""
    wanted = {satellite.satellite_id: satellite for satellite in venue.satellites}
    sounds = [hashlib.sha256(wav).hexdigest() for wav in (LIGHTNING_WAV, AMBIENT_WAV)]

    async def ready() -> bool | None:
        listed = (await venue.client.command("maze_manager/satellites"))["satellites"]
        states = {item["satellite_id"]: item for item in listed}
        for satellite_id, satellite in wanted.items():
            state = states.get(satellite_id)
            if state is None or not (state["connected"] and state["synchronised"]):
                return None
            if not all((satellite.folder / "cache" / sha).exists() for sha in sounds):
                return None
        return True

    _, elapsed = await wait_for(
        ready, "both satellites synchronised and preloaded", SYNC_WAIT_S, venue.explain
    )
    return elapsed


async def first_samples(
    venue: Venue, satellites: tuple[SatelliteProcess, ...], start_us: int
) -> list[dict[str, Any]]:
    """Each satellite's recorded cue start for one venue start time, in the given order."""

    async def started() -> list[dict[str, Any]] | None:
        found = [satellite.cue_starts(start_us) for satellite in satellites]
        return [starts[0] for starts in found] if all(found) else None

    names = ", ".join(satellite.name for satellite in satellites)
    starts, _ = await wait_for(
        started, f"cue start at venue time {start_us} on {names}", PLAY_WAIT_S, venue.explain
    )
    return starts


async def cue_end(venue: Venue, satellite: SatelliteProcess, start: dict[str, Any]) -> Any:
    """The recorded end of the cue whose start was recorded as `start`."""

    async def ended() -> dict[str, Any] | None:
        stops = records(satellite.record, "cue_stop")
        return next(
            (
                line
                for line in stops
                if line["seq"] == start["seq"] and line["output"] == start["output"]
            ),
            None,
        )

    stop, _ = await wait_for(ended, f"cue end on {satellite.name}", PLAY_WAIT_S, venue.explain)
    return stop


async def remote_hosts(client: HassClient) -> dict[str, dict[str, Any]]:
    """GET /api/maze_manager/remote_hosts, keyed by host name."""
    body = await client.get("/api/maze_manager/remote_hosts")
    return {host["name"]: host for host in body["remote_hosts"]}


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

    def status_becomes(status: str) -> Any:
        async def probe() -> bool | None:
            hosts = await remote_hosts(venue.client)
            return True if hosts[venue.gate.name]["status"] == status else None

        return probe

    venue.gate.kill(processes)
    _, down_s = await wait_for(
        status_becomes("disconnected"), "Gate Pi disconnected", LINK_CHANGE_S, venue.explain
    )
    assert (await remote_hosts(venue.client))[venue.entrance.name]["status"] == "connected"
    venue.gate.start(processes)
    _, up_s = await wait_for(
        status_becomes("connected"), "Gate Pi connected again", LINK_CHANGE_S, venue.explain
    )
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
