"""The venue: show loading and repairs, rooms as areas, effect timelines, and what outlives
a satellite's restart, checked against real satellites and Home Assistant's registries.
"""

from __future__ import annotations

import asyncio
import json
from ipaddress import ip_address
from typing import Any

import pytest
from homeassistant.config_entries import SOURCE_REAUTH, SOURCE_ZEROCONF
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    area_registry as ar,
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.maze_manager.const import (
    CONF_LEAD_MS,
    CONF_PAIRING_KEY,
    CONF_SHOW_FOLDER,
    DOMAIN,
    ZEROCONF_TYPE,
)
from custom_components.maze_manager.link import client as link_client, venue_clock_us
from custom_components.maze_manager.venue import SHOW_ISSUE_ID
from pi_satellite.discovery import txt_records
from pi_satellite.inputs import Gesture
from tests.integration.venue_fixtures import (
    CELLAR,
    GATE,
    SHOW_YAML,
    Maze,
    async_start_maze,
    maze,
    unix_sockets,
    venue_maze,
    wait_for,
)
from tests.satellite_harness import tone_wav

__all__ = ["maze", "unix_sockets", "venue_maze"]

LATE_US = 25_000
"""How late a step may run on a busy test loop; it must never run early."""
RESYNC_SETTLE_S = 1.0
"""Long enough for a resync's stop to be recorded: the lead, then its 500 ms fade."""


async def run(hass: HomeAssistant, data: dict[str, Any]) -> dict[str, Any]:
    """Call run_effect and return its response."""
    response = await hass.services.async_call(
        DOMAIN, "run_effect", data, blocking=True, return_response=True
    )
    assert isinstance(response, dict)
    return response


def line_of(text: str, fragment: str) -> int:
    """The 1-based number of the first line of `text` containing `fragment`."""
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def starts(maze: Maze, name: str, effect: str) -> list[dict[str, Any]]:
    """A satellite's recorded starts of an effect's cue."""
    cue_id = maze.cue_id(effect)
    return [line for line in maze[name].cue_starts() if line["cue_id"] == cue_id]


def assert_on_time(at_us: int, due_us: int) -> None:
    """A step ran at its venue time: never early, at most a little late."""
    assert 0 <= at_us - due_us <= LATE_US, f"{(at_us - due_us) / 1000:+.1f} ms"


# --- show loading and repairs -----------------------------------------------------------

BAD_VOLUME = SHOW_YAML.replace("volume: 0.5", "volume: 1.8")
TWO_PROBLEMS = BAD_VOLUME.replace("      - effect: Lightning\n", "      - effect: Lightnin\n")
BAD_SYNTAX = SHOW_YAML.replace("  Crypt:\n", "  Crypt: [\n")
VOLUME_LINE = line_of(BAD_VOLUME, "volume: 1.8")
THEME_LINE = line_of(TWO_PROBLEMS, "effect: Lightnin")
AUDIO_CONFIG = '{\n  "effects": {\n    "Thunder": {"audio_file": "thunder.mp3"}\n  }\n}\n'


@pytest.mark.parametrize(
    ("files", "file", "line", "problems"),
    [
        (
            {"show.yaml": BAD_VOLUME},
            "show.yaml",
            str(VOLUME_LINE),
            f"- show.yaml line {VOLUME_LINE}: effects.Lightning.audio.volume: "
            "1.8 is above the maximum 1.0",
        ),
        (
            {"show.yaml": TWO_PROBLEMS},
            "show.yaml",
            str(VOLUME_LINE),
            f"- show.yaml line {VOLUME_LINE}: effects.Lightning.audio.volume: "
            "1.8 is above the maximum 1.0\n"
            f"- show.yaml line {THEME_LINE}: themes.Halloween Night.cues[1].effect: "
            "unknown effect 'Lightnin'; did you mean 'Lightning'?",
        ),
        (
            {"show.yaml": BAD_SYNTAX},
            "show.yaml",
            str(line_of(BAD_SYNTAX, "effects:")),
            f"- show.yaml line {line_of(BAD_SYNTAX, 'effects:')}: YAML syntax: "
            "expected ',' or ']', but got ':' (while parsing a flow sequence)",
        ),
        (
            {"remote_host_config.json": '{"remote_hosts": {"10.0.0.5": {"name": "Host2",}}}'},
            "remote_host_config.json",
            "1",
            "- remote_host_config.json line 1: JSON syntax: "
            "Illegal trailing comma before end of object",
        ),
        (
            {"audio_config.json": AUDIO_CONFIG},
            "audio_config.json",
            "3",
            "- audio_config.json line 3: effects.Thunder.audio_file: effect 'Thunder': "
            "audio file 'thunder.mp3' is not in {folder}",
        ),
    ],
    ids=["volume", "two_problems", "yaml_syntax", "json_syntax", "missing_sound"],
)
async def test_a_bad_show_raises_a_repair_naming_file_line_and_problem(
    maze: Maze, files: dict[str, str], file: str, line: str, problems: str
) -> None:
    maze.write_show(**files)
    maze.add_venue_entry()
    await maze.async_setup()

    issue = ir.async_get(maze.hass).async_get_issue(DOMAIN, SHOW_ISSUE_ID)
    assert issue is not None
    folder = str(maze.show_folder)
    assert (issue.severity, issue.is_fixable, issue.translation_key) == (
        ir.IssueSeverity.ERROR,
        False,
        SHOW_ISSUE_ID,
    )
    assert issue.translation_placeholders == {
        "folder": folder,
        "file": file,
        "line": line,
        "problems": problems.format(folder=folder),
    }
    assert maze.venue.show is None


LIGHTNING = "effects:\n  Lightning:\n    audio: lightning.wav\n"
MISTAKES = {
    "room_named_all": (
        "rooms:\n  All: {}\n" + LIGHTNING,
        "show.yaml line 2: rooms.All: 'All' is reserved: rooms: all means every room",
    ),
    "not_a_stream_address": (
        "effects:\n  Lightning:\n    audio: ftp://host/thunder.wav\n",
        "show.yaml line 3: effects.Lightning.audio.file: 'ftp://host/thunder.wav' is not a "
        "media-source://, http:// or https:// address",
    ),
    "outside_the_folder": (
        "effects:\n  Lightning:\n    audio: ../thunder.wav\n",
        "show.yaml line 3: effects.Lightning.audio.file: '../thunder.wav' is outside the show "
        "folder: use a path relative to it, or a URL",
    ),
    "output_as_list": (
        "rooms:\n  Entrance:\n    speakers:\n      - satellite: Gate Pi\n        output: [1, 2]\n"
        + LIGHTNING,
        "show.yaml line 5: rooms.Entrance.speakers[0].output: expected an output name or index, "
        "got a list",
    ),
    "theme_without_effects": (
        "themes:\n  Night:\n    cues:\n      - effect: Lightning\n",
        "show.yaml line 4: themes.Night.cues[0].effect: unknown effect 'Lightning': the show has "
        "no effects",
    ),
    "cue_in_no_rooms": (
        LIGHTNING + "themes:\n  Night:\n    cues:\n      - effect: Lightning\n        rooms: []\n",
        "show.yaml line 8: themes.Night.cues[0].rooms: names no rooms (write all for every room)",
    ),
    "two_colours": (
        "effects:\n  Flash:\n    steps:\n"
        "      - light: {rgb_color: [255, 0, 0], color_name: red}\n",
        "show.yaml line 4: effects.Flash.steps[0].light: sets rgb_color and color_name: a light "
        "takes one colour at a time",
    ),
    "two_brightnesses": (
        "effects:\n  Flash:\n    steps:\n      - light: {brightness: 9, brightness_pct: 50}\n",
        "show.yaml line 4: effects.Flash.steps[0].light: sets brightness and brightness_pct: "
        "keep one",
    ),
    "light_and_action": (
        "effects:\n  Flash:\n    steps:\n      - light: on\n        action: switch.turn_on\n",
        "show.yaml line 4: effects.Flash.steps[0]: has both light and action: give each its own "
        "step",
    ),
    "light_with_target": (
        "effects:\n  Flash:\n    steps:\n"
        "      - light: on\n        target: {entity_id: light.hall}\n",
        "show.yaml line 4: effects.Flash.steps[0]: target and data go with action; a light step "
        "sets the room's lights",
    ),
    "theme_binding_with_rooms": (
        LIGHTNING
        + "themes:\n  Night:\n    cues:\n      - effect: Lightning\n"
        + "inputs:\n  - satellite: Gate Pi\n    input: Gate button\n    theme: Night\n"
        + "    rooms: all\n",
        "show.yaml line 9: inputs[0]: rooms go with effect; a theme's cues name their own rooms",
    ),
    "audio_without_file": (
        "effects:\n  Lightning:\n    audio: {volume: 0.5}\n",
        "show.yaml line 3: effects.Lightning.audio: has no file: set it here or as the effect's "
        "audio_file in audio_config.json",
    ),
    "yes_as_text": (
        "rooms:\n  Entrance:\n    area: yes\n" + LIGHTNING,
        "show.yaml line 3: rooms.Entrance.area: expected text, got true (YAML reads unquoted "
        "yes, no, on and off as true or false: quote the text)",
    ),
    "name_too_long": (
        f"effects:\n  {'L' * 65}:\n    audio: lightning.wav\n",
        f"show.yaml line 2: effects.{'L' * 65}: '{'L' * 65}' is longer than 64 characters",
    ),
    "not_a_boolean": (
        "effects:\n  Flash:\n    steps:\n      - light: on\n        strobe: sometimes\n",
        "show.yaml line 5: effects.Flash.steps[0].strobe: expected true or false, got 'sometimes'",
    ),
    "volume_below_zero": (
        "effects:\n  Lightning:\n    audio: {file: lightning.wav, volume: -0.2}\n",
        "show.yaml line 3: effects.Lightning.audio.volume: -0.2 is below the minimum 0.0",
    ),
    "volume_in_words": (
        "effects:\n  Lightning:\n    audio: {file: lightning.wav, volume: loud}\n",
        "show.yaml line 3: effects.Lightning.audio.volume: expected a number, got 'loud'",
    ),
    "not_a_time": (
        "effects:\n  Flash:\n    steps:\n      - at: '01:75'\n        light: on\n",
        "show.yaml line 4: effects.Flash.steps[0].at: '01:75' is not a time: write milliseconds "
        "(120) or '120ms', '2s', '1.5min', '00:02' or '00:00:02'",
    ),
    "steps_not_a_list": (
        "effects:\n  Flash:\n    steps: flash\n",
        "show.yaml line 3: effects.Flash.steps: expected a list, got 'flash'",
    ),
    "short_colour": (
        "effects:\n  Flash:\n    steps:\n      - light: {rgb_color: [255, 0]}\n",
        "show.yaml line 4: effects.Flash.steps[0].light.rgb_color: expected a list of 3 numbers, "
        "got 2",
    ),
    "latency_as_list": (
        "rooms:\n  Entrance:\n    light_latency_ms: [80]\n" + LIGHTNING,
        "show.yaml line 3: rooms.Entrance.light_latency_ms: expected a mapping, got a list",
    ),
    "settings_as_list": (
        "settings: [1]\n" + LIGHTNING,
        "show.yaml line 1: settings: expected a mapping of default_volume, lead_ms, house_lights; "
        "got a list",
    ),
    "switch_as_room_light": (
        "rooms:\n  Entrance:\n    lights: [switch.hall]\n" + LIGHTNING,
        "show.yaml line 3: rooms.Entrance.lights[0]: 'switch.hall' is not a light entity",
    ),
    "misspelt_key": (
        "effects:\n  Lightning:\n    audoi: lightning.wav\n",
        "show.yaml line 3: effects.Lightning.audoi: unknown key; did you mean 'audio'?",
    ),
    "key_written_twice": (
        "effects:\n  Lightning:\n    audio: lightning.wav\n    audio: lightning.wav\n",
        "show.yaml line 4: effects.Lightning.audio: written twice (first on line 3)",
    ),
    "tab_indent": (
        "effects:\n\tLightning: {}\n",
        "show.yaml line 2: YAML syntax: found character '\\t' that cannot start any token "
        "(while scanning for the next token)",
    ),
    "merged_room": (
        "defaults: &hall {area: hall}\nrooms:\n  Entrance:\n    <<: *hall\n    lights: 5\n"
        + LIGHTNING,
        "show.yaml line 1: defaults: unknown key (expected settings, rooms, effects, themes, "
        "inputs)\n- show.yaml line 5: rooms.Entrance.lights[0]: 5 is not an entity id "
        "(domain.object_id in lower case, e.g. light.entrance_strip)",
    ),
    "a_set_as_text": (
        "rooms:\n  Entrance:\n    area: !!set {a}\n" + LIGHTNING,
        "show.yaml line 3: rooms.Entrance.area: expected text, got {'a'}",
    ),
}
HOST_MISTAKES = {
    "not_a_host": (
        '{"remote_hosts": {"not a host!": {"name": "X", "rooms": ["Gate"]}}}',
        "remote_host_config.json line 1: remote_hosts.not a host!: 'not a host!' is not an IP "
        "address or host name",
    ),
    "room_as_object": (
        '{"remote_hosts": {"10.0.0.5": {"name": "X",\n  "rooms": [{"a": 1}]}}}',
        "remote_host_config.json line 2: remote_hosts.10.0.0.5.rooms[0]: expected text, got a "
        "mapping",
    ),
    "escaped_all": (
        '{"remote_hosts": {"10.0.0.5": {"name": "X", "rooms": ["\\u0041ll"]}}}',
        "remote_host_config.json line 1: remote_hosts.10.0.0.5.rooms[0]: 'All' is reserved: "
        "rooms: all means every room",
    ),
}


@pytest.mark.parametrize(
    ("files", "problem"),
    [({"show.yaml": text}, problem) for text, problem in MISTAKES.values()]
    + [({"remote_host_config.json": text}, problem) for text, problem in HOST_MISTAKES.values()],
    ids=[*MISTAKES, *HOST_MISTAKES],
)
async def test_every_kind_of_mistake_is_named_in_the_repair(
    hass: HomeAssistant, maze: Maze, files: dict[str, str], problem: str
) -> None:
    maze.write_show(**files)
    maze.add_venue_entry()
    await maze.async_setup()
    issue = ir.async_get(hass).async_get_issue(DOMAIN, SHOW_ISSUE_ID)
    assert issue is not None
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["problems"] == f"- {problem}"


async def test_fixing_the_show_and_reloading_clears_the_repair(
    hass: HomeAssistant, maze: Maze
) -> None:
    await maze.start_satellite(GATE)
    maze.add_satellite_entry(GATE)
    maze.write_show(BAD_VOLUME)
    maze.add_venue_entry()
    await maze.async_setup()
    issues = ir.async_get(hass)
    assert issues.async_get_issue(DOMAIN, SHOW_ISSUE_ID) is not None

    maze.write_show()
    await hass.services.async_call(DOMAIN, "reload", {}, blocking=True)
    assert issues.async_get_issue(DOMAIN, SHOW_ISSUE_ID) is None
    await maze.async_ready()  # the satellite is sent the show's cues once it loads
    response = await run(hass, {"effect_name": "Lightning", "room": "Entrance"})
    await wait_for(lambda: starts(maze, GATE, "Lightning"))
    assert starts(maze, GATE, "Lightning")[0]["scheduled_us"] == response["start_us"]


async def test_a_sound_changed_on_disk_is_not_sent_until_reloaded(
    hass: HomeAssistant, maze: Maze, caplog: pytest.LogCaptureFixture
) -> None:
    await async_start_maze(maze, GATE)
    (maze.show_folder / "lightning.wav").write_bytes(b"RIFF not the sound the show hashed")
    await maze.start_satellite(CELLAR)
    cellar = maze.add_satellite_entry(CELLAR)
    assert await hass.config_entries.async_setup(cellar.entry_id)
    await wait_for(lambda: "lightning.wav changed on disk; reload the show" in caplog.text)
    await wait_for(lambda: maze[CELLAR].satellite.player.cue_id_by_name("Ambience"))
    await wait_for(lambda: maze[CELLAR].device.link.synchronised)
    assert maze[CELLAR].satellite.player.cue_id_by_name("Lightning") is None
    # The satellite that lacks the sound says so when asked to play it; the one that
    # already holds it plays the sound the show was loaded with.
    await run(hass, {"effect_name": "Lightning", "rooms": ["Crypt", "Entrance"]})
    lightning = maze.cue_id("Lightning")
    await wait_for(lambda: f"Satellite {CELLAR} reports UNKNOWN_CUE" in caplog.text)
    assert f"cue {lightning} is not in the cue table" in caplog.text
    await wait_for(lambda: starts(maze, GATE, "Lightning"))
    assert maze[CELLAR].cue_starts() == []


async def test_a_sound_too_big_for_a_satellite_is_reported(
    hass: HomeAssistant, maze: Maze, caplog: pytest.LogCaptureFixture
) -> None:
    await maze.start_satellite(GATE, cache_mb=1)
    maze.add_satellite_entry(GATE)
    storm = maze.show_folder / "storm.wav"
    storm.write_bytes(b"RIFF" + bytes(2 * 1024 * 1024))
    maze.write_show(SHOW_YAML.replace("  Blackout:", "  Storm:\n    audio: storm.wav\n  Blackout:"))
    maze.add_venue_entry()
    await maze.async_setup(ready=False)  # the satellite will never hold every cue
    await wait_for(lambda: f"Satellite {GATE} could not store sound" in caplog.text)
    assert "is larger than the whole cache (1048576 bytes)" in caplog.text
    player = maze[GATE].satellite.player
    assert player.cue_id_by_name("Storm") is None
    assert player.cue_id_by_name("Lightning") == maze.cue_id("Lightning")


# --- rooms are areas ----------------------------------------------------------------------

AREAS_SHOW = """\
rooms:
  Entrance: {}
  Cop Dodge: {}
  Crypt:
    area: wine_cellar
  Gate:
    area: no_such_area
effects:
  Blackout:
    steps:
      - light: off
"""


async def test_rooms_become_areas(hass: HomeAssistant, maze: Maze) -> None:
    areas = ar.async_get(hass)
    cop_dodge = areas.async_create("Cop Dodge")
    wine_cellar = areas.async_create("Wine Cellar")
    maze.write_show(AREAS_SHOW)
    maze.add_venue_entry()
    await maze.async_setup()

    entrance = areas.async_get_area_by_name("Entrance")
    gate = areas.async_get_area_by_name("Gate")
    assert entrance is not None
    assert gate is not None  # an area id the registry does not know: named after the room
    assert maze.venue.rooms.room_areas == {
        "Entrance": entrance.id,
        "Cop Dodge": cop_dodge.id,
        "Crypt": wine_cellar.id,
        "Gate": gate.id,
    }
    assert areas.async_get_area_by_name("Crypt") is None
    assert len(list(areas.async_list_areas())) == 4


# --- effect timelines ---------------------------------------------------------------------


def add_entrance_lights(hass: HomeAssistant) -> None:
    """Lights in the Entrance area: one directly, one through its device, one disabled;
    and in the Attic: one directly, one whose device is in the Entrance."""
    entrance = ar.async_get(hass).async_create("Entrance")
    entities = er.async_get(hass)
    lamp = entities.async_get_or_create("light", "demo", "lamp", suggested_object_id="lamp")
    entities.async_update_entity(lamp.entity_id, area_id=entrance.id)
    demo = MockConfigEntry(domain="demo")
    demo.add_to_hass(hass)
    devices = dr.async_get(hass)
    torch_device = devices.async_get_or_create(
        config_entry_id=demo.entry_id, identifiers={("demo", "torch")}
    )
    devices.async_update_device(torch_device.id, area_id=entrance.id)
    entities.async_get_or_create(
        "light", "demo", "torch", suggested_object_id="torch", device_id=torch_device.id
    )
    spare = entities.async_get_or_create(
        "light",
        "demo",
        "spare",
        suggested_object_id="spare",
        disabled_by=er.RegistryEntryDisabler.USER,
    )
    entities.async_update_entity(spare.entity_id, area_id=entrance.id)
    attic = ar.async_get(hass).async_create("Attic")
    elsewhere = entities.async_get_or_create("light", "demo", "far", suggested_object_id="far")
    entities.async_update_entity(elsewhere.entity_id, area_id=attic.id)
    # An entity with a name of its own: newer Home Assistant releases refuse an area of its
    # own to one named only after its device.
    moved = entities.async_get_or_create(
        "light",
        "demo",
        "beam",
        suggested_object_id="beam",
        device_id=torch_device.id,
        original_name="Beam",
    )
    entities.async_update_entity(moved.entity_id, area_id=attic.id)  # its device stays


def track_state(hass: HomeAssistant, entity_id: str) -> list[tuple[str, int]]:
    """Each new state of an entity with the venue time it was set."""
    changes: list[tuple[str, int]] = []

    @callback
    def changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None:
            changes.append((new.state, venue_clock_us()))

    async_track_state_change_event(hass, entity_id, changed)
    return changes


async def test_light_steps_land_with_the_sound_and_slow_lights_go_first(
    hass: HomeAssistant, maze: Maze
) -> None:
    add_entrance_lights(hass)
    await async_start_maze(maze, GATE)
    fog = track_state(hass, "input_boolean.fog_machine")

    response = await run(hass, {"effect_name": "Lightning", "room": "Entrance"})
    start_us = response["start_us"]
    await wait_for(lambda: fog)
    await asyncio.sleep(0.05)

    lights = maze.lights
    flash = {"brightness": 255, "rgb_color": [255, 255, 255], "transition": 0.0}
    # The strip reacts 80 ms late, so it is commanded 80 ms before each step's time.
    [(service, data, on_us), (off, off_data, off_us)] = lights.of("light.entrance_strip")
    assert (service, data, off, off_data) == ("turn_on", flash, "turn_off", {"transition": 0.5})
    assert_on_time(on_us, start_us + 20_000)
    assert_on_time(off_us, start_us + 170_000)
    # The area's lamp and the torch (through its device) share one call per step, on time.
    area_calls = lights.of("light.lamp")
    assert area_calls == lights.of("light.torch")
    assert [(service, data) for service, data, _ in area_calls] == [
        ("turn_on", flash),
        ("turn_off", {"transition": 0.5}),
    ]
    assert_on_time(area_calls[0][2], start_us + 100_000)
    assert_on_time(area_calls[1][2], start_us + 250_000)
    assert lights.of("light.spare") == lights.of("light.far") == lights.of("light.beam") == []
    # The action step: the fog machine is switched on 300 ms in.
    [(state, fog_us)] = fog
    assert state == "on"
    assert_on_time(fog_us, start_us + 300_000)
    # And the sound: on the same venue time.
    [sound] = starts(maze, GATE, "Lightning")
    assert abs(sound["mono_us"] - start_us) <= maze.vouched_error_us()


async def test_strobe_safe_leaves_out_strobe_steps(hass: HomeAssistant, venue_maze: Maze) -> None:
    await hass.services.async_call(
        "switch", "turn_on", {"entity_id": "switch.venue_strobe_safe"}, blocking=True
    )
    await run(hass, {"effect_name": "Lightning", "room": "Entrance"})
    await asyncio.sleep(0.4)
    assert [service for service, _, _ in venue_maze.lights.of("light.entrance_strip")] == [
        "turn_off"
    ]
    await wait_for(lambda: starts(venue_maze, GATE, "Lightning"))  # the sound still plays


HAUNT = """\
  Haunt:
    steps:
      - action: script.thunder_roll
      - at: 50ms
        light: on
"""


async def test_a_failing_step_is_logged_and_the_rest_runs(
    hass: HomeAssistant, maze: Maze, caplog: pytest.LogCaptureFixture
) -> None:
    await async_start_maze(maze, GATE, show=SHOW_YAML.replace("  Blackout:", HAUNT + "  Blackout:"))
    await run(hass, {"effect_name": "Haunt", "room": "Entrance"})
    await wait_for(lambda: "A step of effect Haunt failed" in caplog.text)
    assert "script.thunder_roll" in caplog.text
    assert maze.lights.of("light.entrance_strip")[0][:2] == ("turn_on", {})


@pytest.mark.parametrize(
    ("options", "show", "lead_ms"),
    [
        ({CONF_LEAD_MS: 250}, SHOW_YAML, 250),
        ({CONF_LEAD_MS: 0}, "settings:\n  lead_ms: 120ms\n" + SHOW_YAML.split("\n", 1)[1], 120),
    ],
    ids=["venue_option", "show_setting"],
)
async def test_a_fixed_lead_schedules_that_far_ahead(
    hass: HomeAssistant, maze: Maze, options: dict[str, Any], show: str, lead_ms: int
) -> None:
    await async_start_maze(maze, GATE, show=show, **options)
    called_us = venue_clock_us()
    response = await run(hass, {"effect_name": "Lightning", "room": "Entrance"})
    assert lead_ms - 5 <= response["lead_ms"] <= lead_ms
    assert 0 <= response["start_us"] - (called_us + lead_ms * 1000) <= 5_000
    await wait_for(lambda: starts(maze, GATE, "Lightning"))
    assert starts(maze, GATE, "Lightning")[0]["scheduled_us"] == response["start_us"]


async def test_changed_options_reload_the_venue_from_the_new_folder(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    other = venue_maze.show_folder.parent / "winter"
    other.mkdir()
    (other / "show.yaml").write_text(
        "rooms:\n  Sleigh: {}\neffects:\n  Snow:\n    steps:\n      - light: on\n",
        encoding="utf-8",
    )
    entry = venue_maze.venue_entry
    assert entry is not None
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, CONF_SHOW_FOLDER: "winter"}
    )
    await hass.async_block_till_done()
    assert list(venue_maze.venue.show.effects) == ["Snow"]  # type: ignore[union-attr]
    assert ar.async_get(hass).async_get_area_by_name("Sleigh") is not None


# --- loops and reconnects -----------------------------------------------------------------


async def test_loops_play_again_after_a_satellite_restarts(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    await run(hass, {"effect_name": "Ambience", "room": "Crypt"})
    await run(hass, {"effect_name": "Lightning", "room": "Crypt"})
    await wait_for(lambda: len(starts(venue_maze, CELLAR, "Ambience")) == 2)
    await wait_for(lambda: len(starts(venue_maze, CELLAR, "Lightning")) == 2)

    restarted = await venue_maze.restart_satellite(CELLAR)
    restarted_us = venue_clock_us()
    await venue_maze.async_ready()
    await wait_for(lambda: len(starts(venue_maze, CELLAR, "Ambience")) == 4)
    again = starts(venue_maze, CELLAR, "Ambience")[2:]
    assert {line["output"] for line in again} == {0, 1}
    assert all(line["scheduled_us"] > restarted_us for line in again)
    await asyncio.sleep(0.3)
    # The one-shot Lightning is not played again; the other satellite was not touched.
    assert len(starts(venue_maze, CELLAR, "Lightning")) == 2
    assert venue_maze[GATE].records() == []
    assert restarted.device.available


async def test_after_an_emergency_stop_no_loop_comes_back(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    await run(hass, {"effect_name": "Ambience", "room": "Crypt"})
    await wait_for(lambda: len(starts(venue_maze, CELLAR, "Ambience")) == 2)
    await hass.services.async_call(DOMAIN, "emergency_stop", {}, blocking=True)
    await hass.services.async_call(DOMAIN, "clear_emergency_stop", {}, blocking=True)

    await venue_maze.restart_satellite(CELLAR)
    await venue_maze.async_ready()
    await asyncio.sleep(0.5)
    assert len(starts(venue_maze, CELLAR, "Ambience")) == 2


async def test_a_loop_still_playing_when_home_assistant_returns_is_left_alone(
    hass: HomeAssistant, venue_maze: Maze
) -> None:
    await run(hass, {"effect_name": "Ambience", "room": "Crypt"})
    await wait_for(lambda: len(starts(venue_maze, CELLAR, "Ambience")) == 2)
    cellar = venue_maze[CELLAR]
    assert cellar.entry is not None

    # Home Assistant's side reconnects (as after its restart); the satellite kept the
    # ambient loop going meanwhile, so nothing is started twice or stopped.
    assert await hass.config_entries.async_reload(cellar.entry.entry_id)
    await venue_maze.async_ready()
    await asyncio.sleep(RESYNC_SETTLE_S)
    assert len(starts(venue_maze, CELLAR, "Ambience")) == 2
    assert cellar.records("cue_stop") == []


async def test_a_one_shot_of_a_looping_cue_is_left_to_finish(
    hass: HomeAssistant, maze: Maze
) -> None:
    await maze.start_satellite(CELLAR)
    entry = maze.add_satellite_entry(CELLAR)
    maze.write_show()
    (maze.show_folder / "ambience.wav").write_bytes(tone_wav(5.0, 220.0))
    maze.add_venue_entry()
    await maze.async_setup()
    cellar = maze[CELLAR]
    # The ambience loops by the show; this run asks for it once.
    await run(hass, {"effect_name": "Ambience", "room": "Crypt", "audio": {"loop": False}})
    await wait_for(lambda: len(starts(maze, CELLAR, "Ambience")) == 2)

    # Home Assistant reconnects while it still sounds: it wanted no loop there, and what
    # plays is no loop, so it is neither stopped nor started again.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await maze.async_ready()
    await asyncio.sleep(RESYNC_SETTLE_S)
    assert cellar.records("cue_stop") == []
    assert len(starts(maze, CELLAR, "Ambience")) == 2
    ambience = maze.cue_id("Ambience")
    await wait_for(
        lambda: (
            cellar.device.status is not None
            and [(item.cue_id, item.loop) for item in cellar.device.status.playing]
            == [(ambience, False)]
        )
    )


async def test_zeroconf_brings_a_restarted_satellite_back_at_once(
    hass: HomeAssistant, venue_maze: Maze, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(link_client, "BACKOFF_S", (600.0,))  # no retry on its own
    cellar = venue_maze[CELLAR]
    await venue_maze.stop_satellite(CELLAR)
    await wait_for(lambda: not cellar.device.available)
    restarted = await venue_maze.start_satellite(
        CELLAR, port=cellar.port, inputs=("Gate button", "Spare button")
    )
    await asyncio.sleep(0.3)
    assert not cellar.device.available

    announcement = ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        port=restarted.port,
        hostname="cellar-pi.local.",
        type=ZEROCONF_TYPE,
        name=f"{CELLAR}.{ZEROCONF_TYPE}",
        properties=txt_records(CELLAR, restarted.satellite.identity),
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_ZEROCONF}, data=announcement
    )
    assert (result["type"], result["reason"]) == (FlowResultType.ABORT, "already_configured")
    await venue_maze.async_ready()
    assert cellar.device.available


@pytest.mark.usefixtures("unix_sockets")
async def test_a_loop_home_assistant_did_not_ask_for_is_stopped(
    hass: HomeAssistant, maze: Maze
) -> None:
    cellar = await maze.start_satellite(
        CELLAR, inputs=("Gate button",), fallback={"inputs": {"Gate button": "Ambience"}}
    )
    entry = maze.add_satellite_entry(CELLAR)
    maze.write_show()
    maze.add_venue_entry()
    await maze.async_setup()
    ambience = maze.cue_id("Ambience")

    # Home Assistant goes away; a switch fires the ambience on the satellite's own.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await wait_for(lambda: not cellar.satellite.connected)
    await cellar.press(hass, "Gate button", Gesture.PRESS)
    await wait_for(lambda: len(cellar.cue_starts()) == 2)
    assert {line["scheduled_us"] for line in cellar.cue_starts()} == {None}

    # Back, Home Assistant's state wins: nothing should loop there, so it is faded out.
    assert await hass.config_entries.async_setup(entry.entry_id)
    await wait_for(lambda: len(cellar.records("cue_stop")) == 2)
    assert sorted(
        (line["cue_id"], line["output"], line["reason"]) for line in cellar.records("cue_stop")
    ) == [(ambience, 0, "stopped"), (ambience, 1, "stopped")]


async def test_the_remote_host_files_add_rooms_and_speakers(
    hass: HomeAssistant, maze: Maze
) -> None:
    await maze.start_satellite(GATE)
    maze.add_satellite_entry(GATE)
    hosts = {"remote_hosts": {"127.0.0.1": {"name": "Host1", "rooms": ["Gate"]}}}
    maze.write_show(**{"remote_host_config.json": json.dumps(hosts)})
    maze.add_venue_entry()
    await maze.async_setup()

    # Gate is declared by the seed's file alone: every output of the host at that address.
    response = await run(hass, {"effect_name": "Lightning", "room": "Gate"})
    assert response["satellites"] == [maze[GATE].satellite_id]
    await wait_for(lambda: len(starts(maze, GATE, "Lightning")) == 2)
    assert {line["output"] for line in starts(maze, GATE, "Lightning")} == {0, 1}


async def test_a_satellite_that_refuses_the_key_asks_for_the_new_one(
    hass: HomeAssistant, maze: Maze
) -> None:
    await maze.start_satellite(GATE)
    entry = maze.add_satellite_entry(GATE)
    hass.config_entries.async_update_entry(entry, data={**entry.data, CONF_PAIRING_KEY: "0f" * 32})
    await maze.async_setup(ready=False)

    await wait_for(lambda: hass.config_entries.flow.async_progress_by_handler(DOMAIN))
    [flow] = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH
    assert flow["context"]["entry_id"] == entry.entry_id
    assert not maze[GATE].device.available
    assert not maze[GATE].satellite.connected
