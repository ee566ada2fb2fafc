"""Light and action steps scheduled on the venue clock.

Home Assistant's event loop runs on the monotonic clock, which is the venue clock, so a
step due at venue time T (in µs) is a `loop.call_at(T / 1e6)`. Each scheduled step
remembers which run and rooms it belongs to, so a stop can cancel what has not fired yet.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError

_LOGGER = logging.getLogger(__name__)

StepJob = Callable[[], Coroutine[Any, Any, None]]


@dataclass(eq=False)
class ScheduledStep:
    """One pending step: when, for which run and rooms, and its timer."""

    run_id: int
    effect: str
    rooms: frozenset[str]
    at_us: int
    handle: asyncio.TimerHandle | None = field(default=None, repr=False)


class Timeline:
    """The venue's pending light and action steps."""

    def __init__(self, hass: HomeAssistant) -> None:
        self._hass = hass
        self._pending: set[ScheduledStep] = set()

    @property
    def pending(self) -> int:
        """How many steps have not fired yet."""
        return len(self._pending)

    @callback
    def schedule(
        self, run_id: int, effect: str, rooms: frozenset[str], at_us: int, job: StepJob
    ) -> None:
        """Run `job` at venue time `at_us` (at once if that is already past)."""
        step = ScheduledStep(run_id, effect, rooms, at_us)
        self._pending.add(step)
        step.handle = self._hass.loop.call_at(at_us / 1e6, self._fire, step, job)

    @callback
    def _fire(self, step: ScheduledStep, job: StepJob) -> None:
        self._pending.discard(step)
        self._hass.async_create_task(self._run(step, job), eager_start=True)

    async def _run(self, step: ScheduledStep, job: StepJob) -> None:
        try:
            await job()
        except HomeAssistantError as err:
            _LOGGER.warning("A step of effect %s failed: %s", step.effect, err)

    @callback
    def cancel(self, rooms: frozenset[str] | None = None, effect: str | None = None) -> int:
        """Cancel pending steps of these rooms and/or this effect (all when both None)."""
        cancelled = 0
        for step in list(self._pending):
            if rooms is not None and not step.rooms & rooms:
                continue
            if effect is not None and step.effect != effect:
                continue
            if step.handle is not None:
                step.handle.cancel()
            self._pending.discard(step)
            cancelled += 1
        return cancelled
