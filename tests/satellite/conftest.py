"""Fixtures for the satellite's tests, which run on Python 3.11 and 3.13."""

from __future__ import annotations

import pytest

try:  # present only beside Home Assistant's test plugin, which blocks sockets by default
    import pytest_socket
except ImportError:  # the Python 3.11 environment has no socket blocking to undo
    pytest_socket = None


@pytest.fixture(autouse=True)
def _allow_sockets() -> None:
    """A satellite is a network server: let its tests open real sockets."""
    if pytest_socket is not None:
        pytest_socket.enable_socket()
        pytest_socket._remove_restrictions()  # undo the plugin's 127.0.0.1-only connect guard
