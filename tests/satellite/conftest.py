"""Fixtures for the satellite's tests, which run on Python 3.11 and 3.13."""

from __future__ import annotations

import pytest

from tests.satellite_harness import allow_real_sockets


@pytest.fixture(autouse=True)
def _allow_sockets() -> None:
    """A satellite is a network server: let its tests open real sockets."""
    allow_real_sockets()
