"""Key paths: one notation for messages, the satellite's config and the show files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgpack
import pytest
import yaml  # type: ignore[import-untyped]

from pi_satellite import link
from pi_satellite.link.keypaths import (
    child_path,
    format_key_path,
    line_of,
    load_yaml_with_lines,
)

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    ("path", "written"),
    [
        ((), ""),
        (("outputs", 1, "channels"), "outputs[1].channels"),
        (("effects", "Lightning", "steps", 0, "at"), "effects.Lightning.steps[0].at"),
        (("fallback", "inputs", True), "fallback.inputs.true"),
        (("rooms", None), "rooms.null"),
        ((0, "name"), "[0].name"),
    ],
)
def test_format_key_path(path: tuple[object, ...], written: str) -> None:
    assert format_key_path(path) == written


def test_child_path_extends_a_written_path() -> None:
    assert child_path("", "Hello") == "Hello"
    assert child_path("Hello.outputs", 2) == "Hello.outputs[2]"
    assert child_path("Hello.outputs[2]", "name") == "Hello.outputs[2].name"


def test_a_nested_field_error_names_its_path() -> None:
    bad_output = [0, "Crypt", "", 0]  # channels must have at least one character
    body = ["sat-1", "Crypt", "1.0", 48000, [bad_output], [], []]
    frame = bytes((link.MessageType.HELLO,)) + msgpack.packb(body, use_bin_type=True)
    with pytest.raises(link.ProtocolError, match=r"^Hello\.outputs\[0\]\.channels: 0 characters"):
        link.decode(frame)


def test_line_of_falls_back_to_the_nearest_written_ancestor() -> None:
    lines = {(): 1, ("outputs",): 3, ("outputs", 1): 5}
    assert line_of(lines, ("outputs", 1, "channels")) == 5
    assert line_of(lines, ("inputs", 0)) == 1
    assert line_of({}, ("inputs",)) is None


def _key_lines(text: str) -> dict[tuple[object, ...], int]:
    return dict(load_yaml_with_lines(yaml.SafeLoader(text))[1].lines)


def test_yaml_lines_name_every_key_and_item() -> None:
    text = "name: Crypt\noutputs:\n  - name: Left\n    channels: left\n  - {name: Right}\n1: one\n"
    assert _key_lines(text) == {
        (): 1,
        ("name",): 1,
        ("outputs",): 2,
        ("outputs", 0): 3,
        ("outputs", 0, "name"): 3,
        ("outputs", 0, "channels"): 4,
        ("outputs", 1): 5,
        ("outputs", 1, "name"): 5,
        (1,): 6,
    }


def test_yaml_lines_list_repeated_keys_and_survive_self_aliases() -> None:
    text = "loop: &loop\n  again: *loop\nport: 1\nport: 2\n"
    data, found = load_yaml_with_lines(yaml.SafeLoader(text))
    assert data["loop"]["again"] is data["loop"]
    assert data["port"] == 2
    assert found.lines[("loop", "again")] == 2
    assert found.lines[("port",)] == 3
    assert [(key.path, key.line, key.first_line) for key in found.repeated] == [(("port",), 4, 3)]
    assert load_yaml_with_lines(yaml.SafeLoader(""))[0] is None
    assert _key_lines("") == {}


def test_the_protocol_needs_neither_yaml_nor_voluptuous() -> None:
    probe = (
        "import sys\n"
        "for name in ('yaml', 'voluptuous', 'homeassistant'):\n"
        "    sys.modules[name] = None\n"
        "import pi_satellite.link.keypaths, pi_satellite.link\n"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=ROOT)
