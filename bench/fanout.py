"""Home Assistant's CPU to fan one effect out to 50 satellites.

Starts a real `hass` and 50 `pi-satellite` processes on loopback, one room per satellite,
all set up through the HTTP API. Then it reads Home Assistant's own CPU time from /proc
around repeated effect runs, in the same run:

- baseline: no effect at all (what 50 connected satellites cost anyway: status reports);
- one room (one satellite) per effect;
- every room (50 satellites) per effect.

The fan-out cost is the all-rooms CPU per effect minus the one-room CPU per effect
(both after subtracting the idle baseline over the same time). Budget: ≤ 5 ms for 50.

Each figure is measured twice in the same run. First with every process free to use every
core; then with Home Assistant pinned to one core and the satellites to the others, as in
a venue where each satellite is a Pi of its own: sharing cores, a loopback send wakes a
satellite that then competes with Home Assistant for the core it is sending from.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import _repo  # noqa: F401  (the repository root on sys.path, for tests.*)
import aiohttp

from tests.e2e.harness import (
    HassClient,
    Processes,
    SatelliteProcess,
    onboard,
    start_hass,
    wait_for,
    wait_until_up,
)
from tests.e2e.venue_setup import LIGHTNING_WAV, SHOW_FOLDER, add_satellite, add_venue
from tests.satellite_harness import free_port, satellite_settings

SATELLITES = 50
PORT_BASE = 21000
"""Below Linux's ephemeral range, so the satellites' ports cannot meet an outgoing one."""
CALLS = 200
GAP_S = 0.05
TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _show(names: list[str]) -> str:
    rooms = "".join(
        f"  Room {index}:\n    speakers:\n      - satellite: {name}\n"
        for index, name in enumerate(names)
    )
    return f"rooms:\n{rooms}effects:\n  Lightning:\n    audio:\n      file: lightning.wav\n"


async def _all_synchronised(client: HassClient) -> bool | None:
    listed = (await client.command("maze_manager/satellites"))["satellites"]
    ready = [item for item in listed if item["connected"] and item["synchronised"]]
    return True if len(ready) == SATELLITES else None


async def _cpu_per_call(client: HassClient, pid: int, body: dict[str, object] | None) -> float:
    """Home Assistant's CPU ms per call (or per idle slot when body is None)."""
    before = _cpu_s(pid)
    for _ in range(CALLS):
        if body is not None:
            await client.post("/api/services/maze_manager/run_effect", body)
        await asyncio.sleep(GAP_S)
    return 1000 * (_cpu_s(pid) - before) / CALLS


@dataclass(frozen=True)
class Figures:
    """Home Assistant's CPU ms per idle slot, per one-room effect, per all-rooms effect."""

    idle: float
    one: float
    every: float

    @property
    def one_net(self) -> float:
        return self.one - self.idle

    @property
    def every_net(self) -> float:
        return self.every - self.idle

    @property
    def fan_out(self) -> float:
        return self.every_net - self.one_net


async def _figures(client: HassClient, pid: int) -> Figures:
    idle = await _cpu_per_call(client, pid, None)
    one = await _cpu_per_call(client, pid, {"effect_name": "Lightning", "room": "Room 0"})
    every = await _cpu_per_call(client, pid, {"effect_name": "Lightning", "all_rooms": True})
    return Figures(idle, one, every)


def _pin(pid: int, cores: set[int]) -> None:
    """Keep every thread of a process on these cores (threads started later inherit it)."""
    for thread in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(thread), cores)


def _print(shared: Figures, pinned: Figures | None) -> None:
    print(f"Home Assistant CPU per effect, {CALLS} calls each, {SATELLITES} satellites connected")
    print(f"{'CPU ms':44} {'shared':>8} {'own core':>9}  budget")
    rows = [
        ("idle slot (status reports only, baseline)", "idle", "-"),
        ("effect in 1 room (1 satellite), net", "one_net", "-"),
        ("effect in all rooms (50 satellites), net", "every_net", "-"),
        ("fan-out to 49 more satellites", "fan_out", "<= 5"),
    ]
    for label, name, budget in rows:
        own = f"{getattr(pinned, name):>9.2f}" if pinned else f"{'-':>9}"
        print(f"{label:44} {getattr(shared, name):>8.2f} {own}  {budget}")
    if pinned is None:
        print("(one core only: Home Assistant cannot have a core of its own)")


async def _measure(folder: Path) -> None:
    processes = Processes()
    try:
        satellites = [
            SatelliteProcess(
                folder / f"sat{index}",
                satellite_settings(folder / f"sat{index}", f"Sat {index}", port=PORT_BASE + index),
            )
            for index in range(SATELLITES)
        ]
        for satellite in satellites:
            satellite.settings["devices"][0].pop("path")  # no record file for 50 processes
            satellite.start(processes)
        config_dir = folder / "hass"
        show = config_dir / SHOW_FOLDER
        show.mkdir(parents=True)
        (show / "show.yaml").write_text(_show([s.name for s in satellites]))
        (show / "lightning.wav").write_bytes(LIGHTNING_WAV)
        hass = start_hass(processes, config_dir, free_port())
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await wait_until_up(http, hass)
            for satellite in satellites:
                await satellite.wait_ready()
            client = await onboard(http, hass)
            await add_venue(client)
            for satellite in satellites:
                await add_satellite(client, satellite)
            await wait_for(lambda: _all_synchronised(client), "50 satellites in sync", 120.0)
            await asyncio.sleep(12.0)  # time sync slows to its resting pace
            pid = hass.process.pid
            shared = await _figures(client, pid)
            pinned = None
            cores = os.sched_getaffinity(0)
            if len(cores) > 1:
                home = min(cores)
                _pin(pid, {home})
                for satellite in satellites:
                    assert satellite.process is not None
                    _pin(satellite.process.pid, cores - {home})
                pinned = await _figures(client, pid)
            await client.close()
    finally:
        processes.kill_all()
    _print(shared, pinned)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="maze-fanout-") as folder:
        asyncio.run(_measure(Path(folder)))


if __name__ == "__main__":
    main()
