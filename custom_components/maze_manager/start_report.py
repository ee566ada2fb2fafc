"""What each room heard: every start is confirmed by its satellite, or the caller is told why not.

A satellite answers each play trigger (and each stream) with a Started report once the
first sample is placed, or with an Error that refused it. A run waits for those answers
until a little after the start time and reports, per room: `started` (with the worst
start error a satellite observed), `degraded` (started, on a clock worse than the sync
bound), `not_played` (refused, or the link dropped), `not_acknowledged` (no answer: that
link is probed at once), `offline` (no satellite of the room connected), `scheduled`
(too far ahead to wait for) or `none` (the effect has no sound there).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import link
from .light_config import Target
from .satellites import StartAnswer

ACK_MARGIN_US: Final = 150_000
"""How long after the start time a satellite's Started report may take to arrive."""
ACK_WAIT_MAX_US: Final = 2_000_000
"""Starts further ahead than this are reported `scheduled` rather than waited for."""
DEGRADED_BOUND_US: Final = 2_000
"""A satellite whose clock error bound exceeds this plays, but its room is `degraded`."""

_RANK: Final = {
    "none": 0,
    "started": 1,
    "scheduled": 2,
    "degraded": 3,
    "not_acknowledged": 4,
    "not_played": 5,
    "offline": 6,
}


@dataclass(frozen=True, slots=True)
class PendingStart:
    """A start sent to one satellite, and the future its answer arrives on."""

    target: Target
    kind: link.StartKind
    key: int
    waiter: asyncio.Future[StartAnswer]


@dataclass(frozen=True, slots=True)
class TargetOutcome:
    """How one satellite answered."""

    status: str
    reason: str | None = None
    error_us: int | None = None


async def async_outcomes(
    pending: Iterable[PendingStart], start_us: int, *, wait: bool = True
) -> dict[str, TargetOutcome]:
    """Wait for every pending start (until start + margin) and say how each satellite did.

    Without `wait`, or for a start too far ahead, the starts are reported `scheduled`.
    """
    items = list(pending)
    now = link.venue_clock_us()
    if not wait or start_us - now > ACK_WAIT_MAX_US:
        for item in items:
            item.target.device.forget_start(item.kind, item.key)
        return {item.target.device.satellite_id: TargetOutcome("scheduled") for item in items}
    timeout_s = max(0.0, (start_us + ACK_MARGIN_US - now) / 1_000_000)
    if items:
        await asyncio.wait([item.waiter for item in items], timeout=timeout_s)
    return {item.target.device.satellite_id: _outcome(item) for item in items}


def _outcome(item: PendingStart) -> TargetOutcome:
    device = item.target.device
    if not item.waiter.done():
        device.forget_start(item.kind, item.key)
        device.link.check_now()
        return TargetOutcome("not_acknowledged", f"{device.name} did not confirm the start")
    answer = item.waiter.result()
    if answer is None:
        return TargetOutcome("not_played", f"{device.name} disconnected")
    if isinstance(answer, link.Error):
        return TargetOutcome("not_played", f"{device.name}: {answer.message}")
    error_us = answer.actual_us - answer.scheduled_us
    status = device.status
    bound = status.sync_error_us if status else 0
    if bound > DEGRADED_BOUND_US:
        return TargetOutcome(
            "degraded", f"{device.name}: clock within ±{bound / 1000:.1f} ms", error_us
        )
    return TargetOutcome("started", None, error_us)


def room_sound(
    rooms: Iterable[str],
    sounding: Iterable[str],
    by_room: Mapping[str, list[Target]],
    outcomes: Mapping[str, TargetOutcome],
) -> dict[str, dict[str, Any]]:
    """Per room: the worst outcome among its satellites, with every reason given.

    `sounding` are the rooms that should hear the sound (they have speakers, and the
    effect has a sound); the others are `none`.
    """
    should_sound = set(sounding)
    report: dict[str, dict[str, Any]] = {}
    for room in rooms:
        targets = by_room.get(room, [])
        if room not in should_sound:
            report[room] = {"status": "none"}
            continue
        heard = [
            outcomes[t.device.satellite_id] for t in targets if t.device.satellite_id in outcomes
        ]
        if not heard:
            report[room] = {"status": "offline", "reason": "no satellite of this room is connected"}
            continue
        report[room] = _worst(heard)
    return report


def merge_sound(reports: Iterable[Mapping[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """One report for several runs (a theme's cues): each room's worst."""
    merged: dict[str, dict[str, Any]] = {}
    for report in reports:
        for room, entry in report.items():
            previous = merged.get(room)
            if previous is None or _RANK[entry["status"]] > _RANK[previous["status"]]:
                merged[room] = entry
    return merged


def _worst(outcomes: list[TargetOutcome]) -> dict[str, Any]:
    worst = max(outcomes, key=lambda outcome: _RANK[outcome.status])
    entry: dict[str, Any] = {"status": worst.status}
    reasons = sorted({o.reason for o in outcomes if o.reason and o.status == worst.status})
    if reasons:
        entry["reason"] = "; ".join(reasons)
    errors = [abs(o.error_us) for o in outcomes if o.error_us is not None]
    if errors:
        entry["start_error_us"] = max(errors)
    return entry
