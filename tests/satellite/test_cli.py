"""The `pi-satellite` command: pairing-key, install-service, run and the exit statuses."""

from __future__ import annotations

import configparser
import logging
import re
import stat
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from pi_satellite import link
from pi_satellite.__main__ import main, render_unit
from pi_satellite.config import SatelliteConfig, load_config
from pi_satellite.outputs import OutputError

UNIT_TEMPLATE = Path(__file__).parents[2] / "pi_satellite" / "pi-satellite.service"


def write_config(folder: Path, **extra: object) -> Path:
    data = {
        "name": "Crypt",
        "state_dir": "state",
        "devices": [{"name": "card", "type": "null"}],
        "outputs": [{"name": "Crypt", "device": "card"}],
        **extra,
    }
    path = folder / "satellite.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def read_unit(text: str) -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]  # systemd keys are case-sensitive
    unit.read_string(text)
    return unit


def test_pairing_key_prints_and_keeps_the_identity(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    assert main(["pairing-key", "--config", str(config)]) == 0
    first = capsys.readouterr().out
    fields = dict(re.findall(r"^([\w ]+):\s+(.+)$", first, re.MULTILINE))
    assert fields.keys() == {"Satellite", "Id", "Pairing key"}
    assert fields["Satellite"] == "Crypt"
    assert re.fullmatch(r"sat-[0-9a-f]{12}", fields["Id"])
    assert re.fullmatch(r"[0-9a-f]{8}(-[0-9a-f]{8}){7}", fields["Pairing key"])

    state = tmp_path / "state"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "pairing.key").stat().st_mode) == 0o600
    key = link.parse_pairing_key((state / "pairing.key").read_text())
    assert link.format_pairing_key(key) == fields["Pairing key"]

    assert main(["pairing-key", "--config", str(config)]) == 0
    assert capsys.readouterr().out == first  # generated once, then kept


def test_pairing_key_shows_the_tls_fingerprint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, tls=True)
    assert main(["pairing-key", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    fingerprint = re.search(r"^TLS fingerprint: ([0-9a-f]{64})$", out, re.MULTILINE)
    assert fingerprint is not None
    assert (tmp_path / "state" / "tls.crt").is_file()


def test_pairing_key_failure_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state").write_text("a file where the state folder should be")
    assert main(["pairing-key", "--config", str(write_config(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pi-satellite: cannot load the identity from")
    assert len(err.strip().splitlines()) == 1


def test_install_service_dry_run_prints_the_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path)
    args = ["install-service", "--config", str(config), "--user", "maze", "--dry-run"]
    assert main(args) == 0
    captured = capsys.readouterr()
    unit = read_unit(captured.out)
    service = unit["Service"]
    assert service["ExecStart"] == (
        f"{sys.executable} -m pi_satellite run --config {config.resolve()}"
    )
    assert service["User"] == "maze"
    assert service["Restart"] == "always"
    assert service["RestartSec"] == "2"
    assert service["RestartPreventExitStatus"] == "2"  # a bad config does not loop
    assert "StateDirectory" not in service  # the state folder is not under /var/lib
    assert "network-online.target" in unit["Unit"]["After"]
    assert "sound.target" in unit["Unit"]["After"]
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "systemctl enable --now pi-satellite.service" in captured.err
    assert not Path("/etc/systemd/system/pi-satellite.service").exists()


def test_unit_uses_systemd_directories_and_quotes_odd_paths() -> None:
    config = load_config(Path(__file__).parents[2] / "config_examples" / "satellite.yaml")
    template = UNIT_TEMPLATE.read_text(encoding="utf-8")
    unit = read_unit(
        render_unit(template, config, Path("/srv/maze 50%/sat.yaml"), "pi", "/opt/venv/bin/python")
    )
    service = unit["Service"]
    assert service["ExecStart"] == (
        '/opt/venv/bin/python -m pi_satellite run --config "/srv/maze 50%%/sat.yaml"'
    )
    assert service["StateDirectory"] == "pi-satellite"  # /var/lib/pi-satellite
    assert service["StateDirectoryMode"] == "0700"
    assert service["CacheDirectory"] == "pi-satellite"  # /var/cache/pi-satellite
    assert service["Nice"] == "-10"
    assert "LimitRTPRIO" in service


def test_bad_config_exits_2_for_every_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, port="eighty")
    for command in ("run", "check", "pairing-key", "install-service"):
        assert main([command, "--config", str(config)]) == 2
        err = capsys.readouterr().err
        assert re.fullmatch(
            rf"{re.escape(str(config))}:\d+: port: expected a whole number, got 'eighty'\n", err
        )
    assert not (tmp_path / "state").exists()  # nothing was generated


def test_run_hands_the_config_to_the_satellite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[SatelliteConfig] = []

    async def run(config: SatelliteConfig) -> None:
        started.append(config)

    fake = types.ModuleType("pi_satellite.satellite")
    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pi_satellite.satellite", fake)
    config = write_config(tmp_path)
    assert main(["run", "--config", str(config)]) == 0
    assert [item.name for item in started] == ["Crypt"]
    assert started[0].state_dir == tmp_path.resolve() / "state"


def test_run_reports_an_expected_failure_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def run(config: SatelliteConfig) -> None:
        raise OutputError("cannot open sound device 'USB Audio': no such device")

    fake = types.ModuleType("pi_satellite.satellite")
    fake.run = run  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pi_satellite.satellite", fake)
    assert main(["run", "--config", str(write_config(tmp_path))]) == 1
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.getMessage() == (
        "Satellite stopped: cannot open sound device 'USB Audio': no such device"
    )
    assert record.exc_info is None  # no traceback


def test_module_entry_point_and_usage_errors(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    command = [sys.executable, "-m", "pi_satellite"]
    ok = subprocess.run(
        [*command, "check", "--config", str(config)], check=False, capture_output=True
    )
    assert ok.returncode == 0
    assert ok.stdout.decode().startswith(f"{config}: OK")
    usage = subprocess.run([*command, "haunt"], check=False, capture_output=True)
    assert usage.returncode == 2
    assert b"invalid choice: 'haunt'" in usage.stderr
