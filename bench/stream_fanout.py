"""Home Assistant streaming one sound to 1, 5 and 20 satellites: CPU, latency, bytes.

Starts a real `hass` and 20 `pi-satellite` processes (null outputs that record every
start) on loopback, one room per satellite, set up through the HTTP API; a web server in
this process serves the sounds on 127.0.0.1 (the show's effects are `http://` URLs, so
they stream). Satellite 0 is reached through the impairment proxy (tests/impairment.py),
which counts the bytes it carries. Then, in one run:

- CPU: Home Assistant's CPU time (from /proc) while one 10 s stream plays to 1, 5 and 20
  satellites, as % of one core over the stream's duration; the baseline is the same
  window with no stream (status reports and time sync of 20 connected satellites).
- Latency: from just before each `run_effect` request to each satellite's recorded first
  sample (the null output's `stream_start`, on the machine's monotonic clock, which is
  the venue clock), over repeated calls to all 20 satellites.
- Bytes per second per satellite at each ladder step, on the wire (WebSocket
  frames, everything the link carries) through the proxy: the top step while nothing is
  impaired; then the link is throttled and stalled until Home Assistant drops that lane,
  it rejoins at the lowest step, and climbs one step per 5 s calm spell (STEP_UP_AFTER_S),
  so each step is measured in the middle of its plateau. The idle link's bytes (time
  sync, status) are measured too.

Everything runs on loopback, and every wait and request count is bounded.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _repo  # noqa: F401  (the repository root on sys.path, for tests.*)
import aiohttp

from custom_components.maze_manager.audio_stream import BITRATE_LADDER, STEP_UP_AFTER_S
from tests.e2e.harness import (
    HassClient,
    Processes,
    SatelliteProcess,
    onboard,
    start_hass,
    wait_for,
    wait_until_up,
)
from tests.e2e.venue_setup import SHOW_FOLDER, add_venue
from tests.impairment import Direction, ImpairmentProxy
from tests.integration.test_stream_bitrate import music_wav
from tests.satellite_harness import KEY_HEX, free_port, records, satellite_settings
from tests.sound_server import serve_sounds

SATELLITES = 20
COUNTS = (1, 5, 20)
PORT_BASE = 22000
"""Below Linux's ephemeral range, so the satellites' ports cannot meet an outgoing one."""
STREAM_S = 10.0
LADDER_S = 40.0
CALLS = 20
CALL_GAP_S = 1.6
SETTLE_S = 10.0
TICKS = os.sysconf("SC_CLK_TCK")
THROTTLE = 0.6
STALL_S = 1.2


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def _now_us() -> int:
    return time.monotonic_ns() // 1000


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _show(names: list[str], base: str) -> str:
    rooms = "".join(
        f"  Room {index}:\n    speakers:\n      - satellite: {name}\n"
        for index, name in enumerate(names)
    )
    return (
        f"rooms:\n{rooms}effects:\n"
        f'  Music:\n    audio: "{base}/music.wav"\n'
        f'  Long:\n    audio: "{base}/long.wav"\n'
        f'  Blip:\n    audio: "{base}/blip.wav"\n'
    )


def _sounds() -> dict[str, tuple[bytes, str]]:
    """The bench's sounds by path: a stream, a long one for the ladder, and a short one."""
    return {
        "/music.wav": (music_wav(STREAM_S), "audio/wav"),
        "/long.wav": (music_wav(LADDER_S, seed=3), "audio/wav"),
        "/blip.wav": (music_wav(1.0, seed=5), "audio/wav"),
    }


async def _add_satellite(client: HassClient, satellite: SatelliteProcess, port: int) -> None:
    menu = await client.start_flow("maze_manager")
    form = await client.flow_step(menu["flow_id"], {"next_step_id": "satellite"})
    created = await client.flow_step(
        form["flow_id"], {"host": "127.0.0.1", "port": port, "pairing_key": KEY_HEX}
    )
    assert created["type"] == "create_entry", created


async def _run(client: HassClient, effect: str, count: int) -> dict[str, Any]:
    rooms = [f"Room {index}" for index in range(count)]
    answer = await client.post(
        "/api/services/maze_manager/run_effect?return_response",
        {"effect_name": effect, "rooms": rooms},
    )
    response: dict[str, Any] = answer["service_response"]
    return response


def _first_sample_us(satellite: SatelliteProcess, start_us: int) -> int | None:
    found = [
        line["mono_us"]
        for line in records(satellite.record, "stream_start")
        if line["scheduled_us"] == start_us
    ]
    return min(found) if found else None


async def _cpu(client: HassClient, pid: int, count: int | None) -> float:
    """Home Assistant's CPU, % of one core, over one stream to `count` satellites (None: idle)."""
    started, before = time.monotonic(), _cpu_s(pid)
    if count is not None:
        await _run(client, "Music", count)
    await asyncio.sleep(max(0.0, started + STREAM_S + 0.5 - time.monotonic()))
    return 100 * (_cpu_s(pid) - before) / (time.monotonic() - started)


async def _latencies(client: HassClient, satellites: list[SatelliteProcess]) -> list[float]:
    values: list[float] = []
    for _ in range(CALLS):
        called_us = _now_us()
        response = await _run(client, "Blip", len(satellites))
        start_us = response["start_us"]

        async def played(start_us: int = start_us) -> list[int] | None:
            found = [_first_sample_us(satellite, start_us) for satellite in satellites]
            return [value for value in found if value is not None] if all(found) else None

        firsts, _ = await wait_for(played, "every satellite's first sample", 10.0)
        values += [(first - called_us) / 1000 for first in firsts]
        await asyncio.sleep(CALL_GAP_S)
    return values


async def _wire_rate(proxy: ImpairmentProxy, seconds: float) -> float:
    before, started = proxy.up.forwarded, time.monotonic()
    await asyncio.sleep(seconds)
    return (proxy.up.forwarded - before) / (time.monotonic() - started)


async def _ladder(
    client: HassClient, proxy: ImpairmentProxy, satellite: SatelliteProcess
) -> dict[str, float]:
    """Wire bytes per second to satellite 0 at each step, and with nothing streaming."""
    rates = {"idle link": await _wire_rate(proxy, 4.0)}
    response = await _run(client, "Long", 1)
    await asyncio.sleep(1.5)  # the first 600 ms go out at once
    top = await _wire_rate(proxy, 3.0)
    rates[f"step 0 ({BITRATE_LADDER[0] // 1000} kbps)"] = top
    proxy.set_rate(THROTTLE * top, Direction.UP)
    await asyncio.sleep(3.0)
    proxy.stall(STALL_S, Direction.UP)
    await asyncio.sleep(STALL_S)
    proxy.clear()

    async def rejoined() -> int | None:
        found = [
            line["mono_us"]
            for line in records(satellite.record, "stream_start")
            if line["scheduled_us"] > response["start_us"]
        ]
        return min(found) if found else None

    first_us, _ = await wait_for(rejoined, "satellite 0 rejoining the stream", 10.0)
    rejoin_s = time.monotonic() - (_now_us() - first_us) / 1e6 - 0.6  # sent 600 ms ahead
    for index, step in enumerate(range(len(BITRATE_LADDER) - 1, 0, -1)):
        plateau = rejoin_s + index * STEP_UP_AFTER_S
        await asyncio.sleep(max(0.0, plateau + 1.0 - time.monotonic()))
        rate = await _wire_rate(proxy, STEP_UP_AFTER_S - 2.0)
        rates[f"step {step} ({BITRATE_LADDER[step] // 1000} kbps)"] = rate
    return rates


def _print(
    cpu: dict[str, float], latencies: list[float], rates: dict[str, float], cores: int
) -> None:
    print(f"\nOne stream from Home Assistant, {SATELLITES} satellites connected, {cores} cores")
    title = f"Home Assistant CPU over a {STREAM_S:g} s stream"
    print(f"{title:44} {'% core':>7}  budget")
    for label, value in cpu.items():
        budget = "<= 5" if label.endswith("net of idle") else "-"
        print(f"{label:44} {value:>7.2f}  {budget}")
    print(f"\ncall to first sample, {CALLS} calls x {SATELLITES} satellites (ms)")
    print(f"{'median':44} {statistics.median(latencies):>7.1f}  <= 150")
    print(f"{'p99':44} {_percentile(latencies, 0.99):>7.1f}  -")
    print(f"{'max':44} {max(latencies):>7.1f}  -")
    print("\nbytes per second to one satellite on the wire (through the proxy)")
    for label, value in rates.items():
        print(f"{label:44} {value:>7.0f}")


async def _measure(folder: Path) -> None:
    processes = Processes()
    async with serve_sounds(_sounds()) as base:
        await _measure_with(folder, processes, base)


async def _measure_with(folder: Path, processes: Processes, base: str) -> None:
    try:
        satellites = [
            SatelliteProcess(
                folder / f"sat{index}",
                satellite_settings(folder / f"sat{index}", f"Sat {index}", port=PORT_BASE + index),
            )
            for index in range(SATELLITES)
        ]
        for satellite in satellites:
            satellite.start(processes)
        config_dir = folder / "hass"
        show = config_dir / SHOW_FOLDER
        show.mkdir(parents=True)
        (show / "show.yaml").write_text(_show([s.name for s in satellites], base))
        hass = start_hass(processes, config_dir, free_port())
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
            ImpairmentProxy(satellites[0].port) as proxy,
        ):
            await wait_until_up(http, hass)
            for satellite in satellites:
                await satellite.wait_ready()
            client = await onboard(http, hass)
            await add_venue(client)
            for index, satellite in enumerate(satellites):
                await _add_satellite(
                    client, satellite, proxy.port if index == 0 else satellite.port
                )

            async def synchronised() -> bool | None:
                listed = (await client.command("maze_manager/satellites"))["satellites"]
                ready = [item for item in listed if item["connected"] and item["synchronised"]]
                return True if len(ready) == SATELLITES else None

            await wait_for(synchronised, f"{SATELLITES} satellites in sync", 120.0, hass.explain)
            await asyncio.sleep(SETTLE_S)
            pid = hass.process.pid
            cpu = {"idle, no stream (baseline)": await _cpu(client, pid, None)}
            for count in COUNTS:
                cpu[f"{count} satellite{'s' if count > 1 else ''}"] = await _cpu(client, pid, count)
            cpu["20 satellites, net of idle"] = (
                cpu["20 satellites"] - cpu["idle, no stream (baseline)"]
            )
            cpu["per added satellite (1 -> 20), net"] = (
                cpu["20 satellites"] - cpu["1 satellite"]
            ) / 19
            latencies = await _latencies(client, satellites)
            rates = await _ladder(client, proxy, satellites[0])
            await client.close()
    finally:
        processes.kill_all()
    _print(cpu, latencies, rates, len(os.sched_getaffinity(0)))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="maze-stream-") as folder:
        asyncio.run(asyncio.wait_for(_measure(Path(folder)), timeout=600))


if __name__ == "__main__":
    main()
