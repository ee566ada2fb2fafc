"""The session's venue clock mapping: given once synchronised, kept through small wobbles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pi_satellite import link
from pi_satellite.clock import MonotonicClock
from pi_satellite.player import PlayerStatus
from pi_satellite.session import LOSS_BOUND_US, ControllerSession


@dataclass
class FakeEstimator:
    """Stands in for VenueClockEstimator: the test sets what it reports."""

    synchronised: bool = False
    error_bound_us: float = float("inf")
    rtt_us: int | None = None
    added: list[link.SyncSample] = field(default_factory=list)

    def add(self, sample: link.SyncSample) -> None:
        self.added.append(sample)

    def to_local(self, venue_us: int) -> int:
        return venue_us

    def to_venue(self, local_us: int) -> int:
        return local_us


@dataclass
class RecordingPlayer:
    """Records the venue mappings the session hands over."""

    mappings: list[bool] = field(default_factory=list)

    def set_venue_mapping(self, to_local: Any, to_venue: Any) -> None:
        self.mappings.append(to_local is not None)

    def status(self) -> PlayerStatus:
        return PlayerStatus((), (), 0, 0, 0)


@dataclass
class StubSatellite:
    """The parts of a Satellite a session uses for time sync."""

    player: RecordingPlayer = field(default_factory=RecordingPlayer)
    clock: MonotonicClock = field(default_factory=MonotonicClock)


class RecordingConnection:
    """Keeps what the session sends."""

    def __init__(self) -> None:
        self.sent: list[link.Message] = []

    async def send(self, message: link.Message) -> None:
        self.sent.append(message)


async def _answer(session: ControllerSession, satellite: StubSatellite, seq: int) -> None:
    t1 = satellite.clock.now_us()
    session._pending_t1[seq] = t1
    await session._on_time(link.TimeResponse(seq, t1, t1, t1))


async def test_mapping_is_kept_until_the_bound_passes_the_loss_limit() -> None:
    satellite = StubSatellite()
    connection = RecordingConnection()
    session = ControllerSession(satellite, connection)  # type: ignore[arg-type]
    estimator = FakeEstimator()
    session._estimator = estimator  # type: ignore[assignment]

    await _answer(session, satellite, 1)
    assert satellite.player.mappings[-1] is False
    assert session.venue_now_us() is None

    estimator.synchronised, estimator.error_bound_us = True, 400.0
    await _answer(session, satellite, 2)
    assert satellite.player.mappings[-1] is True
    reports = [m for m in connection.sent if isinstance(m, link.Status)]
    assert reports[-1].synchronised

    # A busy moment: the estimator no longer calls itself synchronised, but the bound
    # is still far inside the loss limit, so scheduled starts keep their mapping.
    estimator.synchronised, estimator.error_bound_us = False, LOSS_BOUND_US / 2
    await _answer(session, satellite, 3)
    assert satellite.player.mappings[-1] is True
    assert session.venue_now_us() is not None

    estimator.error_bound_us = LOSS_BOUND_US + 1
    await _answer(session, satellite, 4)
    assert satellite.player.mappings[-1] is False
    reports = [m for m in connection.sent if isinstance(m, link.Status)]
    assert not reports[-1].synchronised
    assert len(estimator.added) == 4


async def test_a_response_to_no_request_is_ignored() -> None:
    satellite = StubSatellite()
    session = ControllerSession(satellite, RecordingConnection())  # type: ignore[arg-type]
    estimator = FakeEstimator()
    session._estimator = estimator  # type: ignore[assignment]
    await session._on_time(link.TimeResponse(99, 1, 2, 3))
    assert estimator.added == []
    assert satellite.player.mappings == []
