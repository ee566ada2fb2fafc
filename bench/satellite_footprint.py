"""Resident memory and CPU of a real `pi-satellite` process, at rest and mixing eight cues.

Starts the satellite as a process on loopback with a null output, reads its resident
set and CPU time from /proc, connects as Home Assistant would, preloads eight looping
cues, plays them all, and reads again. Budgets (docs/performance.md): at rest ≤ 60 MB
RSS and ≤ 1 % of one core.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _repo  # noqa: F401  (the repository root on sys.path, for tests.*)
import aiohttp
import yaml

from pi_satellite import link
from tests.satellite.controller import Controller, venue_now_us
from tests.satellite_harness import KEY, free_port, satellite_settings, tone_wav

MEASURE_S = 10.0
CUES = 8
TICKS = os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


async def _cpu_percent(pid: int, seconds: float) -> float:
    before, started = _cpu_s(pid), time.monotonic()
    await asyncio.sleep(seconds)
    return 100 * (_cpu_s(pid) - before) / (time.monotonic() - started)


async def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
        else:
            writer.close()
            await writer.wait_closed()
            return
    raise TimeoutError(f"satellite did not listen on {port}")


async def _measure(folder: Path) -> list[tuple[str, float, float]]:
    port = free_port()
    config = folder / "satellite.yaml"
    settings = satellite_settings(folder, "Footprint", port=port)
    settings["devices"][0].pop("path")  # no record file: a venue's satellite keeps none
    config.write_text(yaml.safe_dump(settings))
    process = subprocess.Popen(
        [sys.executable, "-m", "pi_satellite", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows: list[tuple[str, float, float]] = []
    try:
        await _wait_port(port)
        await asyncio.sleep(2.0)
        rows.append(("at rest, no controller", _rss_mb(process.pid), 0.0))
        rows[-1] = (rows[-1][0], rows[-1][1], await _cpu_percent(process.pid, MEASURE_S))
        async with aiohttp.ClientSession() as http, Controller(http, port, KEY) as controller:
            cues = []
            for index in range(CUES):
                sha = await controller.upload(tone_wav(2.0, 200.0 + 50 * index), f"{index}.wav")
                cues.append(link.CueEntry(index + 1, sha, f"cue {index}", 0.3, True, "fx", 5))
            await controller.send(link.CueTable(tuple(cues)))
            await controller.wait_synchronised()
            await asyncio.sleep(12.0)  # let time sync settle to its slow pace
            cpu = await _cpu_percent(process.pid, MEASURE_S)
            rows.append(("connected, synchronised, silent", _rss_mb(process.pid), cpu))
            start_us = venue_now_us() + 50_000
            for cue in cues:
                await controller.send(link.Play(cue.cue_id, cue.cue_id, start_us, 0b11, 1000, 0))
            await asyncio.sleep(1.0)
            cpu = await _cpu_percent(process.pid, MEASURE_S)
            rows.append((f"mixing {CUES} looping cues", _rss_mb(process.pid), cpu))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        rows = asyncio.run(_measure(Path(folder)))
    print(f"{'satellite state':34} {'RSS MB':>8} {'CPU %':>7}  budget")
    budgets = ["<= 60 MB, <= 1 %", "-", "-"]
    for (what, rss, cpu), budget in zip(rows, budgets, strict=True):
        print(f"{what:34} {rss:>8.1f} {cpu:>7.2f}  {budget}")


if __name__ == "__main__":
    main()
