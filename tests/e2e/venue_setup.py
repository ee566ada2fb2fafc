"""A venue set up end to end: Home Assistant, two satellites, the show, through HTTP only.

Shared by the end-to-end tests and by the venue benchmark (`make demo`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.satellite_harness import KEY_HEX, free_port, records, satellite_settings, tone_wav

from .harness import (
    HassClient,
    HassInstance,
    Processes,
    SatelliteProcess,
    onboard,
    start_hass,
    wait_for,
    wait_until_up,
)

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
    assert created["result"]["state"] == "loaded"


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
    assert created["result"]["state"] == "loaded"


@contextlib.asynccontextmanager
async def set_up_venue(
    workdir: Path, processes: Processes, http: aiohttp.ClientSession
) -> AsyncIterator[Venue]:
    """Two satellites (clocks +700 ms/+80 ppm and -400 ms/-60 ppm) and Home Assistant,
    set up through its HTTP API as a user would."""
    entrance = loopback_satellite(workdir / "entrance-pi", "Entrance Pi", 700.0, 80.0)
    gate = loopback_satellite(workdir / "gate-pi", "Gate Pi", -400.0, -60.0)
    for satellite in (entrance, gate):
        satellite.start(processes)
    config_dir = workdir / "hass"
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
    """Each satellite's one recorded cue start for a venue start time, in the given order."""

    async def started() -> list[list[dict[str, Any]]] | None:
        found = [satellite.cue_starts(start_us) for satellite in satellites]
        return found if all(found) else None

    names = ", ".join(satellite.name for satellite in satellites)
    found, _ = await wait_for(
        started, f"cue start at venue time {start_us} on {names}", PLAY_WAIT_S, venue.explain
    )
    assert all(len(starts) == 1 for starts in found), f"one output each expected: {found}"
    return [starts[0] for starts in found]


async def cue_end(
    venue: Venue, satellite: SatelliteProcess, start: dict[str, Any]
) -> dict[str, Any]:
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
