"""The satellite's wheel carries the protocol from its one source as pi_satellite.link."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LINK_SOURCE = ROOT / "custom_components" / "maze_manager" / "link"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        cwd=build,
    )
    (built,) = out.glob("pi_satellite-*.whl")
    return built


def test_wheel_maps_the_protocol_source_without_copying_the_integration(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        for source in LINK_SOURCE.glob("*.py"):
            assert archive.read(f"pi_satellite/link/{source.name}") == source.read_bytes()
    assert not any(name.startswith("custom_components/") for name in names)


def test_wheel_in_a_clean_environment_imports_pi_satellite_link(
    wheel: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "clean"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel)],
        check=True,
    )
    probe = (
        "import pi_satellite.link as link, sys;"
        "frame = link.encode(link.Play(7, 1, 2, 3, 1000, 0));"
        "assert link.decode(frame).cue_id == 7;"
        "print(link.__file__)"
    )
    done = subprocess.run(
        [str(python), "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.stdout.strip().startswith(str(env_dir))
