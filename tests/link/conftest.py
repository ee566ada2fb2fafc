"""Fixtures for the protocol's tests, which run on Python 3.11 and 3.13."""

from __future__ import annotations

import pytest

from tests.satellite_harness import allow_real_sockets


@pytest.fixture(autouse=True)
def _allow_sockets() -> None:
    """The link client's tests talk to a real satellite over loopback."""
    allow_real_sockets()
