"""The check that fails an end-to-end test on a deprecation report in `hass`'s log."""

from __future__ import annotations

from tests.deprecations import reports_in_log

FRAME_REPORT = (
    "2026-12-04 16:45:49.101 WARNING (MainThread) [homeassistant.helpers.frame] Detected that"
    " custom integration 'maze_manager' calls `device_registry.async_get_device`, which is"
    " deprecated because device identifiers and connections are no longer unique across"
    " config entries at custom_components/maze_manager/satellites.py, line 217: device = ..."
    " This will stop working in Home Assistant 2027.8.0, please create a bug report"
)
UNATTRIBUTED_REPORT = (
    "2026-12-04 16:45:49.102 WARNING (MainThread) [homeassistant.helpers.frame] Detected code"
    " that calls `something`. This will stop working in Home Assistant 2027.8.0, please report"
    " this issue\nStack (most recent call last):\n"
    '  File "/config/custom_components/maze_manager/venue.py", line 12, in start\n'
    "    something()"
)
LOG = "\n".join(
    [
        "2026-12-04 16:45:47.084 WARNING (MainThread) [homeassistant.bootstrap] Skipping pip"
        " installation of required modules. This may cause issues",
        "2026-12-04 16:45:48.000 WARNING (MainThread) [homeassistant.loader] We found a custom"
        " integration maze_manager which has not been tested by Home Assistant.",
        "2026-12-04 16:45:48.500 WARNING (MainThread) [homeassistant.helpers.frame] Detected"
        " code that calls `other`. This will stop working in Home Assistant 2027.1.0",
        "2026-12-04 16:45:48.900 WARNING (MainThread) [custom_components.maze_manager.show]"
        " effect Fog: the key 'sound' is deprecated and will be removed",
        FRAME_REPORT,
        UNATTRIBUTED_REPORT,
        "2026-12-04 16:45:50.000 INFO (MainThread) [homeassistant.setup] Setup of maze_manager",
    ]
)


def test_reports_about_the_integration_are_found_and_nothing_else() -> None:
    assert reports_in_log(LOG) == [FRAME_REPORT, UNATTRIBUTED_REPORT.splitlines()[0]]


def test_a_clean_log_has_no_reports() -> None:
    assert reports_in_log("\n".join(LOG.splitlines()[:4])) == []
