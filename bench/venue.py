"""The venue demo and benchmark: a real Home Assistant, two satellites, effects in sync.

Starts `hass` and two `pi-satellite` processes on loopback (null outputs; clocks skewed
+700 ms/+80 ppm and -400 ms/-60 ppm), sets them up through Home Assistant's HTTP API as a
user would, fires the seed's example effect, then measures over many runs of
`maze_manager.run_effect_all_rooms` called through the REST API:

- service call to first sample: from just before the HTTP request to each satellite's
  recorded first sample, on the machine's monotonic clock (which is the venue clock);
- start skew between the two satellites' first samples.

Baseline in the same run: the same calls with the venue's lead forced to 1 ms, so every
trigger arrives after its start time and each satellite plays it on arrival — the seed
design's "send audio_start, play when it comes".
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _repo  # noqa: F401  (the repository root on sys.path, for tests.*)
import aiohttp

from tests.e2e.harness import HassClient, Processes, wait_for
from tests.e2e.venue_setup import (
    SHOW_FOLDER,
    Venue,
    first_samples,
    set_up_venue,
    wait_until_synchronised,
)
from tests.seed_examples import SEED_RUN_EFFECT, SEED_RUN_EFFECT_ALL_ROOMS

RUNS = 60
GAP_S = 0.15
SETTLE_S = 30.0
"""Let the satellites' clock estimates settle, as they have long before a venue opens."""


def _now_us() -> int:
    return time.monotonic_ns() // 1000


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def _venue_entry_id(client: HassClient) -> str:
    entries = await client.get("/api/config/config_entries/entry?domain=maze_manager")
    return next(entry["entry_id"] for entry in entries if entry["title"] == "Venue")


async def _set_lead(client: HassClient, entry_id: str, lead_ms: int) -> None:
    """Change the venue's lead through its options flow, as the settings page does."""
    form = await client.post("/api/config/config_entries/options/flow", {"handler": entry_id})
    done = await client.post(
        f"/api/config/config_entries/options/flow/{form['flow_id']}",
        {"show_folder": SHOW_FOLDER, "lead_ms": lead_ms, "default_volume": 0.7},
    )
    assert done["type"] == "create_entry", done

    async def reloaded() -> bool | None:
        summary = await client.command("maze_manager/venue")
        return True if summary["loaded"] and summary["effects"] else None

    await wait_for(reloaded, "the venue reloaded with its new lead", 30.0)


async def _runs(venue: Venue) -> tuple[list[float], list[float], list[float]]:
    """Latencies (ms), skews (µs) and leads (ms) over RUNS calls of run_effect_all_rooms."""
    latencies: list[float] = []
    skews: list[float] = []
    leads: list[float] = []
    for _ in range(RUNS):
        called_us = _now_us()
        answer = await venue.client.post(
            "/api/services/maze_manager/run_effect_all_rooms?return_response",
            SEED_RUN_EFFECT_ALL_ROOMS,
        )
        response = answer["service_response"]
        starts = await first_samples(venue, venue.satellites, response["start_us"])
        latencies += [(start["mono_us"] - called_us) / 1000 for start in starts]
        skews.append(abs(starts[0]["mono_us"] - starts[1]["mono_us"]))
        leads.append(response["lead_ms"])
        await asyncio.sleep(GAP_S)
    return latencies, skews, leads


async def _demo(venue: Venue) -> None:
    print("The seed's example request, POST /api/maze_manager/run_effect:")
    print(f"  {SEED_RUN_EFFECT}")
    answer: dict[str, Any] = await venue.client.post(
        "/api/maze_manager/run_effect", SEED_RUN_EFFECT
    )
    (start,) = await first_samples(venue, (venue.entrance,), answer["start_us"])
    print(
        f"  -> {answer['rooms']} on {venue.entrance.name}, output {start['output']}, "
        f"first sample {start['mono_us'] - answer['start_us']:+d} µs from its venue time"
    )
    await asyncio.sleep(0.5)
    silent = not venue.gate.cue_starts(answer["start_us"])
    print(f"  {venue.gate.name} (Gate) played nothing: {silent}")
    print()


async def _measure() -> None:
    with tempfile.TemporaryDirectory(prefix="maze-bench-") as folder:
        processes = Processes()
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
                set_up_venue(Path(folder), processes, http) as venue,
            ):
                synced_s = await wait_until_synchronised(venue)
                print(
                    f"Venue set up through the HTTP API; satellites in sync after {synced_s:.1f} s"
                )
                await _demo(venue)
                await asyncio.sleep(SETTLE_S)
                scheduled = await _runs(venue)
                await _set_lead(venue.client, await _venue_entry_id(venue.client), 1)
                await wait_until_synchronised(venue)
                baseline = await _runs(venue)
                await venue.client.close()
        finally:
            processes.kill_all()
    _report(scheduled, baseline)


def _report(
    scheduled: tuple[list[float], list[float], list[float]],
    baseline: tuple[list[float], list[float], list[float]],
) -> None:
    print(f"{RUNS} runs of maze_manager.run_effect_all_rooms over REST, 2 satellites each")
    print(f"{'figure':36} {'scheduled':>10} {'on arrival':>11} {'ratio':>7}  budget")
    rows = [
        ("call to first sample, median (ms)", statistics.median, 0, "<= 25"),
        ("call to first sample, p99 (ms)", lambda v: _percentile(v, 0.99), 0, "<= 40"),
        ("start skew, median (µs)", statistics.median, 1, "<= 200"),
        ("start skew, p99 (µs)", lambda v: _percentile(v, 0.99), 1, "<= 1000"),
        ("lead chosen, median (ms)", statistics.median, 2, "-"),
    ]
    for what, figure, column, budget in rows:
        ours, base = figure(scheduled[column]), figure(baseline[column])
        ratio = f"{ours / base:7.2f}" if base else "      -"
        print(f"{what:36} {ours:>10.2f} {base:>11.2f} {ratio}  {budget}")


def main() -> None:
    asyncio.run(_measure())


if __name__ == "__main__":
    main()
