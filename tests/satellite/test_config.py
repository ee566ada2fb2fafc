"""The satellite's YAML config: the example parses, every mistake names its key path."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from pi_satellite.__main__ import main
from pi_satellite.config import (
    ConfigError,
    format_key_path,
    load_config,
    parse_config,
)

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "config_examples" / "satellite.yaml"
KEY_TEXT = "0a1b2c3d-4e5f6a7b-8c9d0e1f-2a3b4c5d-6e7f8a9b-0c1d2e3f-4a5b6c7d-8e9f0a1b"

VALID: dict[str, Any] = {
    "name": "Crypt",
    "devices": [{"name": "card", "type": "null", "channels": 2}],
    "outputs": [
        {"name": "Crypt", "device": "card", "channels": "left"},
        {"name": "Chapel", "device": "card", "channels": "right"},
    ],
    "inputs": [{"name": "Panic", "pin": 17}, {"name": "Door", "simulated": True}],
    "fallback": {"inputs": {"Panic": "Lightning"}},
}


def problems_of(data: object) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, "/venue/satellite.yaml")
    return caught.value.problems


def edited(change: str, value: object) -> dict[str, Any]:
    """VALID with one dotted key path set (or removed, for value None)."""
    data = copy.deepcopy(VALID)
    *parents, last = [int(part) if part.isdigit() else part for part in change.split(".")]
    target: Any = data
    for part in parents:
        target = target[part]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return data


def test_example_config_parses() -> None:
    config = load_config(EXAMPLE)
    assert config.name == "Crypt and Chapel"
    assert config.port == 8765
    assert [(o.index, o.name, o.device, o.channels) for o in config.outputs] == [
        (0, "Crypt", "card", "left"),
        (1, "Chapel", "card", "right"),
    ]
    assert config.devices[0].type == "sounddevice"
    assert config.devices[0].channels == 2
    assert [(i.name, i.pin, i.bounce_ms) for i in config.inputs] == [("Panic button", 17, 30)]
    assert config.fallback.inputs == {"Panic button": "Lightning"}
    assert config.cache.folder == Path("/var/cache/pi-satellite")
    assert config.cache.max_bytes == 512 * 1024 * 1024


def test_the_guide_shows_the_example() -> None:
    guide = (ROOT / "docs" / "satellite.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", guide, re.DOTALL)
    shown = next(yaml.safe_load(block) for block in blocks if "outputs:" in block)
    assert shown == yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def test_defaults_and_unit_conversions(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["clock"] = {"offset_ms": 1500.5, "drift_ppm": -80}
    data["devices"][0]["latency_ms"] = 12.25
    data["cache"] = {"max_mb": 2}
    config = parse_config(data, str(tmp_path / "satellite.yaml"))
    assert config.state_dir == Path("/var/lib/pi-satellite")
    assert config.cache.folder == Path("/var/lib/pi-satellite/cache")
    assert config.cache.max_bytes == 2 * 1024 * 1024
    assert config.clock.offset_us == 1_500_500
    assert config.clock.drift_ppm == -80.0
    assert config.devices[0].latency_us == 12_250
    assert config.key is None
    assert config.inputs[1].pin is None  # simulated
    assert config.inputs[0].index == 0
    assert config.inputs[1].index == 1


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    data = copy.deepcopy(VALID)
    data["state_dir"] = "state"
    data["key_file"] = "keys/pairing.key"
    data["devices"] = [{"name": "card", "type": "wav", "path": "out/show.wav"}]
    (tmp_path / "satellite.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(tmp_path / "satellite.yaml")
    base = tmp_path.resolve()
    assert config.state_dir == base / "state"
    assert config.cache.folder == base / "state" / "cache"
    assert config.key_file == base / "keys" / "pairing.key"
    assert config.devices[0].path == base / "out" / "show.wav"


def test_a_configured_key_is_parsed() -> None:
    config = parse_config(edited("key", KEY_TEXT.upper()), "satellite.yaml")
    assert config.key == bytes.fromhex(KEY_TEXT.replace("-", ""))


def test_both_channels_fit_a_mono_device() -> None:
    data = edited("devices.0.channels", 1)
    data["outputs"] = [{"name": "Crypt", "device": "card", "channels": "both"}]
    assert parse_config(data, "satellite.yaml").outputs[0].channels == "both"


def test_bare_null_device_type_means_the_null_device() -> None:
    data = copy.deepcopy(VALID)
    data["devices"][0]["type"] = None  # what YAML makes of `type: null`
    config = parse_config(data, "satellite.yaml")
    assert config.devices[0].type == "null"


@pytest.mark.parametrize(
    ("change", "value", "key_path", "wording"),
    [
        ("name", None, "name", "missing (required)"),
        ("outputs", None, "outputs", "missing (required)"),
        ("port", "8765", "port", "expected a whole number"),
        ("tls", "yes please", "tls", "expected true or false"),
        ("port", 70000, "port", "outside 0..65535"),
        ("outputs.1.device", "attic", "outputs[1].device", "no device named 'attic'"),
        ("outputs.1.name", "Crypt", "outputs[1].name", "'Crypt' is used by an earlier entry"),
        ("inputs.1.name", "Panic", "inputs[1].name", "'Panic' is used by an earlier entry"),
        ("devices.0.channels", 1, "outputs[1].channels", "'right' needs 2 channels"),
        ("outputs.0.channels", "stereo", "outputs[0].channels", "not one of left, right, both"),
        ("key", "0a1b2c3d", "key", "64 hexadecimal digits"),
        ("key", 1234, "key", "quoted text"),
        ("fallback.inputs.Ghost", "Scream", "fallback.inputs.Ghost", "no input named 'Ghost'"),
        ("inputs.0.pin", None, "inputs[0]", "give either pin"),
        ("inputs.0.pin", 40, "inputs[0].pin", "outside 0..27"),
        ("outputs.0.volume", 3, "outputs[0].volume", "unknown option"),
        ("devices.0.type", "alsa", "devices[0].type", "not one of sounddevice, null, wav"),
        ("devices.0.device", "hw:0", "devices[0].device", "only a sounddevice device"),
    ],
)
def test_each_mistake_names_its_key_path(
    change: str, value: object, key_path: str, wording: str
) -> None:
    problems = problems_of(edited(change, value))
    assert f"/venue/satellite.yaml: {key_path}: " in problems[0]
    assert wording in problems[0]


def test_too_many_outputs() -> None:
    outputs = [{"name": f"Room {i}", "device": "card", "channels": "left"} for i in range(17)]
    (problem,) = problems_of(edited("outputs", outputs))
    assert problem == "/venue/satellite.yaml: outputs: at most 16 outputs allowed, got 17"


def test_too_many_inputs() -> None:
    inputs = [{"name": f"Button {i}", "simulated": True} for i in range(65)]
    (problem,) = problems_of(edited("inputs", inputs))
    assert "inputs: at most 64 inputs allowed, got 65" in problem


def test_key_and_key_file_together() -> None:
    data = edited("key", KEY_TEXT)
    data["key_file"] = "pairing.key"
    (problem,) = problems_of(data)
    assert "key_file: give either key or key_file, not both" in problem


def test_every_problem_gets_its_own_line() -> None:
    data = edited("outputs.1.device", "attic")
    data["outputs"][0]["device"] = "cellar"
    data["fallback"]["inputs"]["Ghost"] = "Scream"
    error = ConfigError(problems_of(data))
    lines = str(error).splitlines()
    assert len(lines) == 3
    assert [line.split(": ")[1] for line in lines] == [
        "outputs[0].device",
        "outputs[1].device",
        "fallback.inputs.Ghost",
    ]


def test_file_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "satellite.yaml"
    text = yaml.safe_dump(VALID, sort_keys=False).replace("channels: right", "channels: rear")
    path.write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "channels: rear" in row)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}:{line}: outputs[1].channels: 'rear' is not one of left, right, both"
    )


def test_yaml_syntax_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "satellite.yaml"
    path.write_text("name: Crypt\noutputs: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"satellite\.yaml:3: not valid YAML"):
        load_config(path)
    path.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.yaml")


def _load_problems(tmp_path: Path, text: str) -> tuple[str, ...]:
    path = tmp_path / "satellite.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return tuple(problem.removeprefix(f"{path}:") for problem in caught.value.problems)


@pytest.mark.parametrize(
    ("key", "key_path", "shown"),
    [("1", "fallback.inputs[1]", "1"), ("yes", "fallback.inputs.true", "True")],
)
def test_file_errors_name_the_line_of_keys_yaml_reads_as_numbers_or_booleans(
    tmp_path: Path, key: str, key_path: str, shown: str
) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False).replace("Panic: Lightning", f"{key}: Gone")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if f"{key}: Gone" in row)
    assert _load_problems(tmp_path, text) == (f"{line}: {key_path}: expected text, got {shown}",)


def test_a_key_written_twice_counts_once_with_its_last_line(tmp_path: Path) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False) + "port: 80\nport: high\n"
    line = len(text.splitlines())
    assert _load_problems(tmp_path, text) == (f"{line}: port: expected a whole number, got 'high'",)


def test_an_alias_of_its_own_ancestor_is_reported_not_followed(tmp_path: Path) -> None:
    text = yaml.safe_dump(VALID, sort_keys=False) + "clock: &clock\n  offset_ms: *clock\n"
    line = len(text.splitlines())
    (problem,) = _load_problems(tmp_path, text)
    assert problem.startswith(f"{line}: clock.offset_ms: expected a number, got {{")


def test_format_key_path() -> None:
    assert format_key_path(("outputs", 1, "channels")) == "outputs[1].channels"
    assert format_key_path(("fallback", "inputs", "Panic")) == "fallback.inputs.Panic"
    assert format_key_path(()) == ""


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert f"{EXAMPLE}: OK" in out
    assert "output 1 'Chapel': card right" in out

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(edited("outputs.1.device", "attic")), encoding="utf-8")
    assert main(["check", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "outputs[1].device: no device named 'attic'" in err
    assert "Traceback" not in err
