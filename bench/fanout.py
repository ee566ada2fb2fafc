"""Home Assistant's CPU to fan one effect out to 50 satellites.

Starts a real `hass` and 50 `pi-satellite` processes on loopback, one room per satellite,
all set up through the HTTP API. Then it reads Home Assistant's own CPU time from /proc
around repeated effect runs, in the same run:

- baseline: no effect at all (what 50 connected satellites cost anyway: status reports);
- one room (one satellite) per effect;
- every room (50 satellites) per effect.

The fan-out cost is the all-rooms CPU per effect minus the one-room CPU per effect
(both after subtracting the idle baseline over the same time). Budget: ≤ 5 ms for 50.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.conftest import (  # noqa: E402
    HassClient,
    Processes,
    SatelliteProcess,
    free_port,
    onboard,
    start_hass,
    wait_for,
    wait_until_up,
)
from tests.e2e.venue_setup import LIGHTNING_WAV, SHOW_FOLDER, add_satellite, add_venue  # noqa: E402
from tests.satellite_harness import satellite_settings  # noqa: E402

SATELLITES = 50
PORT_BASE = 21000
"""Below Linux's ephemeral range, so the satellites' ports cannot meet an outgoing one."""
CALLS = 100
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
    before, started = _cpu_s(pid), time.monotonic()
    for _ in range(CALLS):
        if body is not None:
            await client.post("/api/services/maze_manager/run_effect", body)
        await asyncio.sleep(GAP_S)
    return 1000 * (_cpu_s(pid) - before) / CALLS, time.monotonic() - started


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
            idle, _ = await _cpu_per_call(client, pid, None)
            one, _ = await _cpu_per_call(
                client, pid, {"effect_name": "Lightning", "room": "Room 0"}
            )
            every, _ = await _cpu_per_call(
                client, pid, {"effect_name": "Lightning", "all_rooms": True}
            )
            await client.close()
    finally:
        processes.kill_all()
    one_net, every_net = one - idle, every - idle
    print(f"Home Assistant CPU per effect, {CALLS} calls each, {SATELLITES} satellites connected")
    print(f"{'what':44} {'CPU ms':>8}  budget")
    print(f"{'idle slot (status reports only, baseline)':44} {idle:>8.2f}  -")
    print(f"{'effect in 1 room (1 satellite), net':44} {one_net:>8.2f}  -")
    print(f"{'effect in all rooms (50 satellites), net':44} {every_net:>8.2f}  -")
    print(f"{'fan-out to 49 more satellites':44} {every_net - one_net:>8.2f}  <= 5")
    print(f"{'ratio all rooms / one room':44} {every_net / one_net:>8.2f}  -")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="maze-fanout-") as folder:
        asyncio.run(_measure(Path(folder)))


if __name__ == "__main__":
    main()
