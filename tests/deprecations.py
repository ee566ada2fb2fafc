"""Home Assistant's reports that this integration uses a deprecated API, as test failures.

Home Assistant logs a warning when an integration calls something deprecated ("Detected
that custom integration 'maze_manager' calls ... This will stop working in Home Assistant
2027.8.0", from helpers/frame.py; "The deprecated function ... was called from
maze_manager", from helpers/deprecation.py). A warning in a log is easy to miss, and the
next release turns it into a break, so tests/integration (through caplog) and tests/e2e
(through each `hass` process's log) fail on any such report.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

INTEGRATION = "maze_manager"
REPORT = re.compile(r"deprecat|will stop working|will be removed", re.IGNORECASE)
LOG_RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")
"""How a record starts in Home Assistant's log; other lines continue the one before."""


def is_report(text: str) -> bool:
    """Whether a log record's text (message, and stack where logged) is such a report."""
    return bool(REPORT.search(text)) and INTEGRATION in text


def reports_in_records(records: Iterable[logging.LogRecord]) -> list[str]:
    """The deprecation reports about this integration among captured log records."""
    found = []
    for record in records:
        if record.levelno < logging.WARNING or record.name.startswith(
            ("custom_components.", "pi_satellite")
        ):
            continue
        text = "\n".join(filter(None, [record.getMessage(), record.stack_info]))
        if is_report(text):
            found.append(f"{record.name}: {record.getMessage()}")
    return found


def reports_in_log(text: str) -> list[str]:
    """The deprecation reports about this integration in a `hass` process's log."""
    records: list[list[str]] = []
    for line in text.splitlines():
        if LOG_RECORD_START.match(line) or not records:
            records.append([line])
        else:
            records[-1].append(line)
    return [
        lines[0]
        for lines in records
        if (" WARNING " in lines[0] or " ERROR " in lines[0])
        and "[custom_components." not in lines[0]
        and is_report("\n".join(lines))
    ]
