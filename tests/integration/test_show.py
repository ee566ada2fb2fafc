"""The venue's show files: the example show, the seed's JSON files, and every class of problem."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from custom_components.maze_manager.show import (
    AUDIO_CONFIG_FILE,
    REMOTE_HOSTS_FILE,
    SHOW_FILE,
    AudioCue,
    InputBinding,
    RemoteHost,
    Settings,
    ShowError,
    ShowProblem,
    SpeakerRef,
    ThemeCue,
    load_show,
    parse_show,
    show_digest,
)

EXAMPLES = Path(__file__).parents[2] / "config_examples"
SEED_ROOMS = ["Cop Dodge", "Entrance", "Gate", "Guy Line Climb"]
AUDIO_FILES = ("lightning_crack.mp3", "ambient_music.mp3", "thunder.wav")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A show folder holding dummy audio files (the show never decodes them)."""
    for name in AUDIO_FILES:
        (tmp_path / name).write_bytes(b"ID3 not really audio")
    return tmp_path


def seed_json(name: str) -> str:
    return (EXAMPLES / name).read_text(encoding="utf-8")


def problems(
    folder: Path, yaml_text: str | None, hosts: str | None = None, audio: str | None = None
) -> tuple[ShowProblem, ...]:
    with pytest.raises(ShowError) as caught:
        parse_show(textwrap.dedent(yaml_text) if yaml_text else yaml_text, hosts, audio, folder)
    return caught.value.problems


def only_problem(folder: Path, yaml_text: str) -> ShowProblem:
    found = problems(folder, yaml_text)
    assert len(found) == 1, found
    return found[0]


def test_example_show_merges_with_the_seed_files(folder: Path) -> None:
    for name in (SHOW_FILE, REMOTE_HOSTS_FILE, AUDIO_CONFIG_FILE):
        shutil.copy(EXAMPLES / name, folder / name)

    show = load_show(folder)

    assert list(show.rooms) == ["Entrance", "Cop Dodge", "Gate", "Guy Line Climb"]
    entrance = show.rooms["Entrance"]
    assert entrance.area is None
    assert entrance.lights == ("light.entrance_strip",)
    assert entrance.light_latency_ms == {"light.entrance_strip": 80}
    # show.yaml names Host1 for Entrance, so remote_host_config.json adds no second speaker.
    assert entrance.speakers == (SpeakerRef("Host1", "left"),)
    assert show.rooms["Cop Dodge"].speakers == (SpeakerRef("Host1", "right"),)
    assert show.rooms["Gate"].speakers == (SpeakerRef("192.168.1.102", None),)
    assert show.rooms["Guy Line Climb"].lights == ()
    assert show.remote_hosts["192.168.1.101"] == RemoteHost(
        "192.168.1.101", "Host1", ("Cop Dodge", "Entrance")
    )

    lightning = show.effects["Lightning"]
    assert lightning.priority == 200
    assert lightning.audio == AudioCue(
        source="lightning_crack.mp3",
        volume=0.8,
        loop=False,
        bus="fx",
        is_stream=False,
        path=(folder / "lightning_crack.mp3").resolve(),
    )
    assert [step.at_ms for step in lightning.steps] == [0, 120, 250, 400, 2000, 6000]
    flash = lightning.steps[0]
    assert (flash.kind, flash.strobe) == ("light", True)
    assert flash.light == {
        "state": "on",
        "brightness": 255,
        "rgb_color": [255, 255, 255],
        "transition": 0.0,
    }
    assert lightning.steps[1].light == {"state": "off"}
    fog = lightning.steps[4]
    assert (fog.kind, fog.action, fog.light) == ("action", "switch.turn_on", None)
    assert fog.target == {"entity_id": ["switch.fog_machine"]}

    music = show.effects["Background Music"].audio
    assert music is not None
    assert (music.source, music.loop, music.volume, music.bus) == (
        "ambient_music.mp3",
        True,
        0.5,
        "ambient",
    )
    assert show.themes["Halloween Night"].cues == (
        ThemeCue("Background Music", "all", 0),
        ThemeCue("Lightning", ("Entrance",), 5000),
    )
    assert show.inputs == (
        InputBinding("Host2", "Gate button", "press", "Lightning", None, ("Gate",)),
        InputBinding("Host2", "Gate button", "long_press", None, "Halloween Night", None),
    )
    assert show.settings == Settings(0.7, None, ("light.house_1", "light.house_2"))
    assert show.audio_files == {
        (folder / "lightning_crack.mp3").resolve(),
        (folder / "ambient_music.mp3").resolve(),
    }


def test_seed_json_files_alone_make_a_show(folder: Path) -> None:
    for name in (REMOTE_HOSTS_FILE, AUDIO_CONFIG_FILE):
        shutil.copy(EXAMPLES / name, folder / name)

    show = load_show(folder)

    assert sorted(show.rooms) == SEED_ROOMS
    assert show.rooms["Entrance"].speakers == (SpeakerRef("192.168.1.101", None),)
    assert show.rooms["Guy Line Climb"].speakers == (SpeakerRef("192.168.1.102", None),)
    assert show.settings.default_volume == 0.7
    lightning = show.effects["Lightning"]
    assert lightning.steps == ()
    assert lightning.audio is not None
    assert (lightning.audio.volume, lightning.audio.loop) == (0.8, False)
    assert show.effects["Background Music"].audio == AudioCue(
        "ambient_music.mp3", 0.5, True, "fx", False, (folder / "ambient_music.mp3").resolve()
    )
    assert show.themes == {}
    assert show.inputs == ()


def test_a_folder_without_show_files_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ShowError) as caught:
        load_show(tmp_path / "maze_manager")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == (SHOW_FILE, None)
    assert "not found" in problem.problem


def test_show_yaml_wins_over_audio_config_json(folder: Path) -> None:
    show = parse_show(
        textwrap.dedent(
            """\
            settings: {default_volume: 0.3}
            effects:
              lightning:
                audio: {file: thunder.wav, volume: 0.9}
              Background Music:
                audio: {loop: false}
            """
        ),
        seed_json(REMOTE_HOSTS_FILE),
        seed_json(AUDIO_CONFIG_FILE),
        folder,
    )

    assert list(show.effects) == ["lightning", "Background Music"]
    lightning = show.find_effect("LIGHTNING")
    assert lightning is not None
    assert lightning.audio is not None
    assert (lightning.audio.source, lightning.audio.volume) == ("thunder.wav", 0.9)
    music = show.effects["Background Music"].audio
    assert music is not None
    assert (music.source, music.loop, music.volume) == ("ambient_music.mp3", False, 0.5)
    assert show.settings.default_volume == 0.3


def test_a_host_named_by_address_in_show_yaml_is_not_added_twice(folder: Path) -> None:
    show = parse_show(
        "rooms:\n  gate:\n    speakers: [{satellite: 192.168.1.102, output: 1}]\n",
        seed_json(REMOTE_HOSTS_FILE),
        None,
        folder,
    )

    assert show.rooms["gate"].speakers == (SpeakerRef("192.168.1.102", 1),)
    assert show.remote_hosts["192.168.1.102"].rooms == ("gate", "Guy Line Climb")
    assert show.find_room("GATE") is show.rooms["gate"]


def test_volume_defaults_to_the_venue_default(folder: Path) -> None:
    show = parse_show(
        "settings: {default_volume: 0.25}\neffects:\n  Thunder: {audio: thunder.wav}\n",
        None,
        None,
        folder,
    )

    assert show.effects["Thunder"].audio == AudioCue(
        "thunder.wav", 0.25, False, "fx", False, (folder / "thunder.wav").resolve()
    )


def test_streamed_audio_is_not_looked_up_or_preloaded(folder: Path) -> None:
    show = parse_show(
        textwrap.dedent(
            """\
            effects:
              Radio: {audio: "https://radio.example/stream.mp3"}
              Scream: {audio: {file: "media-source://media_source/local/scream.mp3", loop: true}}
            """
        ),
        None,
        None,
        folder,
    )

    radio = show.effects["Radio"].audio
    scream = show.effects["Scream"].audio
    assert radio is not None
    assert scream is not None
    assert (radio.is_stream, radio.path, radio.volume) == (True, None, 1.0)
    assert (scream.is_stream, scream.source) == (
        True,
        "media-source://media_source/local/scream.mp3",
    )
    assert show.audio_files == frozenset()


@pytest.mark.parametrize(
    ("written", "ms"),
    [
        ("250", 250),
        ("120ms", 120),
        ("2s", 2000),
        ("1.5 s", 1500),
        ("0.5min", 30_000),
        ("00:00:02", 2000),
        ("00:01:30.25", 90_250),
        ("1:30", 90_000),
        ("59:59", 3_599_000),
        ("1:00:00", 3_600_000),
        ("12.6", 13),
    ],
)
def test_step_times_parse_from_text(folder: Path, written: str, ms: int) -> None:
    show = parse_show(
        f"effects:\n  Fog:\n    steps:\n      - at: {written}\n        action: switch.turn_on\n",
        None,
        None,
        folder,
    )

    assert show.effects["Fog"].steps[0].at_ms == ms


def test_steps_come_out_sorted_by_time(folder: Path) -> None:
    show = parse_show(
        textwrap.dedent(
            """\
            effects:
              Scare:
                steps:
                  - {at: 3s, action: script.third}
                  - {at: 1500, action: script.second}
                  - {at: 00:00:05, action: script.fourth}
                  - {action: script.first}
                  - {at: 1.5s, action: script.second_too}
            """
        ),
        None,
        None,
        folder,
    )

    steps = show.effects["Scare"].steps
    assert [(step.at_ms, step.action) for step in steps] == [
        (0, "script.first"),
        (1500, "script.second"),
        (1500, "script.second_too"),
        (3000, "script.third"),
        (5000, "script.fourth"),
    ]


def test_light_steps_read_on_and_off(folder: Path) -> None:
    show = parse_show(
        textwrap.dedent(
            """\
            effects:
              Blink:
                steps:
                  - light: on
                  - {at: 100, light: {state: "off", transition: 0.5}}
                  - {at: 200, light: {brightness_pct: 50, hs_color: [30, 100], flash: short}}
            """
        ),
        None,
        None,
        folder,
    )

    assert [step.light for step in show.effects["Blink"].steps] == [
        {"state": "on"},
        {"state": "off", "transition": 0.5},
        {"state": "on", "brightness_pct": 50.0, "hs_color": [30.0, 100.0], "flash": "short"},
    ]


def test_an_input_bound_to_all_rooms_lists_them(folder: Path) -> None:
    show = parse_show(
        textwrap.dedent(
            """\
            rooms: {Crypt: {}, Attic: {}}
            effects: {Thunder: {audio: thunder.wav}}
            inputs:
              - satellite: attic-pi
                input: Attic door
                event: DOUBLE_PRESS
                effect: thunder
                rooms: all
            """
        ),
        None,
        None,
        folder,
    )

    assert show.inputs == (
        InputBinding("attic-pi", "Attic door", "double_press", "Thunder", None, ("Crypt", "Attic")),
    )


# Problems: each names its file, line and key path.


def test_bad_yaml_syntax(folder: Path) -> None:
    problem = only_problem(folder, "rooms:\n  Entrance:\n    lights: [light.a\nthemes: {}\n")

    assert (problem.file, problem.line, problem.key_path) == (SHOW_FILE, 4, "")
    assert problem.problem.startswith("YAML syntax: ")


def test_bad_json_syntax(folder: Path) -> None:
    broken = seed_json(AUDIO_CONFIG_FILE).replace('"loop": false,', '"loop": false,,')

    (problem,) = problems(folder, None, seed_json(REMOTE_HOSTS_FILE), broken)

    assert (problem.file, problem.line) == (AUDIO_CONFIG_FILE, 5)
    assert problem.problem.startswith("JSON syntax: ")


def test_a_json_syntax_error_does_not_hide_rooms_from_show_yaml(folder: Path) -> None:
    found = problems(
        folder,
        "themes:\n  Night:\n    cues: [{effect: Thunder, rooms: [Gate]}]\n",
        '{"remote_hosts": {"192.168.1.102": {"name": "Host2", "rooms": ["Gate"]}',
        '{"effects": {"Thunder": {"audio_file": "thunder.wav"}}}',
    )

    assert [(problem.file, problem.line) for problem in found] == [(REMOTE_HOSTS_FILE, 1)]


@pytest.mark.parametrize(
    ("yaml_text", "line", "key_path", "message"),
    [
        pytest.param(
            """\
            effects:
              Lightning:
                priority: high
                audio: thunder.wav
            """,
            3,
            "effects.Lightning.priority",
            "expected a whole number, got 'high'",
            id="wrong type",
        ),
        pytest.param(
            """\
            effects:
              Lightning:
                priority: 5
                audio:
                  file: thunder.wav
                  volume: 1.8
            """,
            6,
            "effects.Lightning.audio.volume",
            "1.8 is above the maximum 1.0",
            id="volume out of range",
        ),
        pytest.param(
            """\
            effects:
              Lightning: {audio: thunder.wav, priority: 256}
            """,
            2,
            "effects.Lightning.priority",
            "256 is above the maximum 255",
            id="priority out of range",
        ),
        pytest.param(
            """\
            effects:
              Lightning: {audio: thunder.wav}
            themes:
              Halloween Night:
                cues:
                  - effect: Lightning
                  - effect: Lightnin
            """,
            7,
            "themes.Halloween Night.cues[1].effect",
            "unknown effect 'Lightnin'; did you mean 'Lightning'?",
            id="unknown effect in a theme",
        ),
        pytest.param(
            """\
            rooms:
              Entrance: {}
            effects:
              Lightning: {audio: thunder.wav}
            themes:
              Halloween Night:
                cues:
                  - effect: Lightning
                    rooms: [Entrance, Cellar]
            """,
            9,
            "themes.Halloween Night.cues[0].rooms[1]",
            "unknown room 'Cellar'",
            id="unknown room",
        ),
        pytest.param(
            """\
            effects:
              Lightning:
                audio:
                  file: sounds/lightning.mp3
            """,
            4,
            "effects.Lightning.audio.file",
            "effect 'Lightning': audio file 'sounds/lightning.mp3' is not in",
            id="missing audio file",
        ),
        pytest.param(
            """\
            effects:
              Lightning: {audio: ../secret.mp3}
            """,
            2,
            "effects.Lightning.audio.file",
            "'../secret.mp3' is outside the show folder",
            id="audio file outside the folder",
        ),
        pytest.param(
            """\
            rooms:
              Entrance:
                lights:
                  - light.entrance
                  - Light.Entrance Strip
            """,
            5,
            "rooms.Entrance.lights[1]",
            "'Light.Entrance Strip' is not an entity id",
            id="bad entity id",
        ),
        pytest.param(
            """\
            rooms:
              Entrance:
                lights: [switch.fog]
            """,
            3,
            "rooms.Entrance.lights[0]",
            "'switch.fog' is not a light entity",
            id="entity of the wrong domain",
        ),
        pytest.param(
            """\
            effects:
              Lightning:
                steps:
                  - at: 0
                    light: on
                  - at: 2 seconds
                    light: off
            """,
            6,
            "effects.Lightning.steps[1].at",
            "'2 seconds' is not a time",
            id="bad time string",
        ),
        pytest.param(
            """\
            effects:
              Lightning:
                steps:
                  - at: 2h
                    light: on
            """,
            4,
            "effects.Lightning.steps[0].at",
            "'2h' is not a time",
            id="unknown time unit",
        ),
        pytest.param(
            """\
            effects:
              Lightning:
                steps:
                  - at: 01:00:01
                    light: on
            """,
            4,
            "effects.Lightning.steps[0].at",
            "'01:00:01' is above the maximum 3600000 ms",
            id="time above one hour",
        ),
        pytest.param(
            """\
            effects:
              Lightning: {audio: thunder.wav}
              LIGHTNING: {audio: thunder.wav}
            """,
            3,
            "effects.LIGHTNING",
            "duplicate effect name: 'LIGHTNING' and 'Lightning' differ only in case or spacing",
            id="duplicate effect names",
        ),
        pytest.param(
            """            effects:
              Background Music: {audio: ambient_music.mp3}
              Background  music: {audio: ambient_music.mp3}
            """,
            3,
            "effects.Background  music",
            "duplicate effect name: 'Background  music' and 'Background Music'",
            id="effect names differing in spacing",
        ),
        pytest.param(
            """\
            effects:
              Lightning: {audio: thunder.wav}
              Lightning: {audio: lightning_crack.mp3}
            """,
            3,
            "effects.Lightning",
            "written twice (first on line 2)",
            id="effect written twice",
        ),
        pytest.param(
            """\
            effects:
              Fog:
                steps:
                  - action: fog on
            """,
            4,
            "effects.Fog.steps[0].action",
            "'fog on' is not an action (domain.service, e.g. switch.turn_on)",
            id="bad action",
        ),
        pytest.param(
            """\
            effects:
              Fog:
                steps:
                  - at: 0
                    light: {state: off, brightness: 30}
            """,
            5,
            "effects.Fog.steps[0].light",
            "turns lights off but sets brightness",
            id="light off with brightness",
        ),
        pytest.param(
            """\
            effects:
              Fog:
                steps:
                  - at: 0
            """,
            4,
            "effects.Fog.steps[0]",
            "needs light or action",
            id="step doing nothing",
        ),
        pytest.param(
            """\
            effects:
              Fog:
                audio: {volume: 0.5}
            """,
            3,
            "effects.Fog.audio",
            "has no file",
            id="audio without a file",
        ),
        pytest.param(
            """\
            effects:
              Fog:
                adio: thunder.wav
            """,
            3,
            "effects.Fog.adio",
            "unknown key; did you mean 'audio'?",
            id="misspelt key",
        ),
        pytest.param(
            """\
            rooms:
              Entrance:
                speakers:
                  - output: left
            """,
            4,
            "rooms.Entrance.speakers[0].satellite",
            "is required",
            id="missing required key",
        ),
        pytest.param(
            """\
            effects:
              Lightning: {audio: thunder.wav}
            inputs:
              - {satellite: Host1, input: Gate button, effect: Lightning}
              - {satellite: host1, input: gate button, effect: Lightning}
            """,
            5,
            "inputs[1]",
            "binds the same input and event as inputs[0]",
            id="input bound twice",
        ),
        pytest.param(
            """\
            effects:
              Lightning: {audio: thunder.wav}
            themes:
              Night: {cues: [{effect: Lightning}]}
            inputs:
              - {satellite: Host1, input: Gate button, effect: Lightning, theme: Night}
            """,
            6,
            "inputs[0]",
            "needs either effect or theme",
            id="input firing two things",
        ),
    ],
)
def test_each_problem_names_file_line_and_key(
    folder: Path, yaml_text: str, line: int, key_path: str, message: str
) -> None:
    problem = only_problem(folder, yaml_text)

    assert (problem.file, problem.line, problem.key_path) == (SHOW_FILE, line, key_path)
    assert message in problem.problem
    assert str(problem).startswith(f"{SHOW_FILE} line {line}: {key_path}: ")


def test_problem_reads_as_one_line_for_a_designer(folder: Path) -> None:
    problem = only_problem(
        folder, "effects:\n  Lightning:\n    audio: {file: thunder.wav, volume: 1.8}\n"
    )

    assert str(problem) == (
        "show.yaml line 3: effects.Lightning.audio.volume: 1.8 is above the maximum 1.0"
    )


def test_json_problems_name_their_line(folder: Path) -> None:
    audio = seed_json(AUDIO_CONFIG_FILE).replace('"volume": 0.5', '"volume": 5')
    audio = audio.replace("ambient_music.mp3", "missing.mp3")
    hosts = seed_json(REMOTE_HOSTS_FILE).replace('"name": "Host2",', '"name": 2,')

    found = problems(folder, None, hosts, audio)

    assert [(p.file, p.line, p.key_path, p.problem) for p in found] == [
        (REMOTE_HOSTS_FILE, 8, "remote_hosts.192.168.1.102.name", "expected text, got 2"),
        (
            AUDIO_CONFIG_FILE,
            9,
            "effects.Background Music.audio_file",
            f"effect 'Background Music': audio file 'missing.mp3' is not in {folder}",
        ),
        (
            AUDIO_CONFIG_FILE,
            11,
            "effects.Background Music.volume",
            "5 is above the maximum 1.0",
        ),
    ]


def test_a_json_file_show_yaml_overrides_need_not_exist(folder: Path) -> None:
    audio = seed_json(AUDIO_CONFIG_FILE).replace("lightning_crack.mp3", "gone.mp3")

    show = parse_show("effects:\n  Lightning: {audio: thunder.wav}\n", None, audio, folder)

    lightning = show.effects["Lightning"].audio
    assert lightning is not None
    assert (lightning.source, lightning.volume) == ("thunder.wav", 0.8)


def test_all_problems_are_reported_at_once(folder: Path) -> None:
    found = problems(
        folder,
        """\
        settings:
          default_volume: 1.5
          house_lights: [light.house, "light house"]
        rooms:
          Entrance: {lights: [light.ok]}
        effects:
          Lightning:
            audio: {file: nowhere.mp3, bus: loud}
            steps:
              - {at: soon, light: on}
              - {at: -10, action: switch.turn_on}
        themes:
          Halloween Night:
            cues:
              - {effect: Thunderclap, rooms: [Attic]}
        inputs:
          - {satellite: Host1, input: Gate button, theme: Halloween Nite}
        """,
    )

    assert [(problem.line, problem.key_path) for problem in found] == [
        (2, "settings.default_volume"),
        (3, "settings.house_lights[1]"),
        (8, "effects.Lightning.audio.file"),
        (8, "effects.Lightning.audio.bus"),
        (10, "effects.Lightning.steps[0].at"),
        (11, "effects.Lightning.steps[1].at"),
        (15, "themes.Halloween Night.cues[0].effect"),
        (15, "themes.Halloween Night.cues[0].rooms[0]"),
        (17, "inputs[0].theme"),
    ]
    message = str(ShowError(found))
    assert message.splitlines() == [str(problem) for problem in found]
    assert "unknown theme 'Halloween Nite'; did you mean 'Halloween Night'?" in message


def test_unreadable_files_are_problems(folder: Path) -> None:
    (folder / SHOW_FILE).mkdir()
    (folder / AUDIO_CONFIG_FILE).write_bytes(b'{"effects": {"Gr\xfcn": {}}}')

    with pytest.raises(ShowError) as caught:
        load_show(folder)

    assert [(p.file, p.line) for p in caught.value.problems] == [
        (SHOW_FILE, None),
        (AUDIO_CONFIG_FILE, None),
    ]
    assert caught.value.problems[0].problem.startswith("cannot be read")
    assert caught.value.problems[1].problem.startswith("is not UTF-8 text")


def test_digest_changes_only_with_the_show(folder: Path) -> None:
    text = (EXAMPLES / SHOW_FILE).read_text(encoding="utf-8")
    hosts, audio = seed_json(REMOTE_HOSTS_FILE), seed_json(AUDIO_CONFIG_FILE)

    first = show_digest(parse_show(text, hosts, audio, folder))
    again = show_digest(parse_show("# reloaded\n" + text, hosts, audio, folder))
    louder = show_digest(parse_show(text, hosts, audio.replace("0.8", "0.9"), folder))

    assert first == again
    assert louder != first
    assert len(first) == 64
