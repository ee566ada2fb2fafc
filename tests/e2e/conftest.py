"""Fixtures of the end-to-end tests: a working folder, the processes a test starts, and
an HTTP client session, each cleaned up when the test ends. A test fails when a `hass`
it started logged a report of this integration using a deprecated API.

The processes talk over loopback, or over a veth pair between two network namespaces
for discovery (see test_discovery_e2e). Everything else the tests use is in harness.py
(shared with the benchmarks) and venue_setup.py.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.deprecations import reports_in_log

from .harness import Processes


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A folder for the test's configs, logs and records, removed when the test ends."""
    with tempfile.TemporaryDirectory(prefix="maze-e2e-") as folder:
        yield Path(folder)


@pytest.fixture
def processes(workdir: Path) -> Iterator[Processes]:
    """Start processes through this; none outlives the test (nor its working folder)."""
    running = Processes()
    try:
        yield running
    finally:
        running.kill_all()
    reports = [
        f"{log}: {line}"
        for log in running.hass_logs
        if log.exists()
        for line in reports_in_log(log.read_text(encoding="utf-8", errors="replace"))
    ]
    if reports:
        pytest.fail(
            "Home Assistant reports a deprecated API in use:\n" + "\n".join(reports),
            pytrace=False,
        )


@pytest.fixture
async def http(socket_enabled: None) -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP client session for the test, closed inside it."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        yield session
