"""The `pi-satellite` command: run, check, pairing-key, install-service and press.

Exit status: 0 done, 2 a bad config file or command line, 1 anything else that went wrong.
Expected failures print one clear line, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import grp
import logging
import os
import pwd
import subprocess
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path

from . import __version__, link
from .cache import CacheError
from .config import DEFAULT_CONFIG_PATH, MEBIBYTE, ConfigError, SatelliteConfig, load_config
from .identity import IdentityError, load_identity
from .inputs import Gesture, InputError, control_socket_path, send_gesture

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

UNIT_NAME = "pi-satellite.service"
UNIT_PATH = Path("/etc/systemd/system") / UNIT_NAME
SERVICE_USER = "pi-satellite"
SERVICE_GROUPS = ("audio", "gpio")  # sound cards and GPIO pins, where the groups exist
STATE_BASE = Path("/var/lib")
CACHE_BASE = Path("/var/cache")

_LOGGER = logging.getLogger("pi_satellite")
_DEFAULT_TARGET = {"sounddevice": "(default card)", "null": "(no record)", "wav": ""}


class CommandError(Exception):
    """An expected failure: printed as one line, exit status 1."""


def _error(message: str) -> None:
    print(f"pi-satellite: {message}", file=sys.stderr)


def _load(args: argparse.Namespace) -> SatelliteConfig:
    return load_config(args.config)


# --- run ---


def _run(args: argparse.Namespace) -> int:
    config = _load(args)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # the sound stack loads only for `run`
    from .outputs import OutputError  # noqa: PLC0415
    from .satellite import run  # noqa: PLC0415

    try:
        asyncio.run(run(config))
    except KeyboardInterrupt:
        return EXIT_OK
    except (IdentityError, InputError, CacheError, OutputError, OSError) as err:
        _LOGGER.error("Satellite stopped: %s", err)
        return EXIT_FAILURE
    return EXIT_OK


# --- check ---


def _check(args: argparse.Namespace) -> int:
    config = _load(args)
    print(f"{args.config}: OK")
    for line in describe(config):
        print(f"  {line}")
    return EXIT_OK


def describe(config: SatelliteConfig) -> list[str]:
    """A short summary of a valid config, for a technician to eyeball."""
    tls = "TLS on" if config.tls else "TLS off"
    advertised = "advertised" if config.advertise else "not advertised"
    lines = [
        f"satellite {config.name!r} on {config.host}:{config.port} ({tls}, {advertised})",
        f"state in {config.state_dir}; cache in {config.cache.folder}, "
        f"at most {config.cache.max_bytes / MEBIBYTE:g} MB",
    ]
    for device in config.devices:
        what = device.path or device.device or _DEFAULT_TARGET[device.type]
        lines.append(
            f"device {device.name!r}: {device.type} {what}, {device.channels} channels, "
            f"{device.latency_us / 1000:g} ms extra latency"
        )
    lines.extend(
        f"output {output.index} {output.name!r}: {output.device} {output.channels}"
        for output in config.outputs
    )
    for item in config.inputs:
        source = "simulated" if item.pin is None else f"GPIO {item.pin}"
        cue = config.fallback.inputs.get(item.name)
        fallback = f", fires {cue!r} without Home Assistant" if cue else ""
        lines.append(f"input {item.index} {item.name!r}: {source}{fallback}")
    if config.clock.offset_us or config.clock.drift_ppm:
        lines.append(
            f"TEST HOOK: clock offset {config.clock.offset_us / 1000:g} ms, "
            f"drift {config.clock.drift_ppm:g} ppm"
        )
    return lines


# --- pairing-key ---


def _pairing_key(args: argparse.Namespace) -> int:
    config = _load(args)
    try:
        identity = load_identity(config)
    except (IdentityError, OSError) as err:
        raise CommandError(f"cannot load the identity from {config.state_dir}: {err}") from err
    print(f"Satellite:       {config.name}")
    print(f"Id:              {identity.satellite_id}")
    print(f"Pairing key:     {link.format_pairing_key(identity.key)}")
    if identity.cert_fingerprint is not None:
        print(f"TLS fingerprint: {identity.cert_fingerprint}")
    return EXIT_OK


# --- install-service ---


def _install_service(args: argparse.Namespace) -> int:
    config = _load(args)
    template = resources.files("pi_satellite").joinpath(UNIT_NAME).read_text(encoding="utf-8")
    unit = render_unit(template, config, args.config.resolve(), args.user, sys.executable)
    steps = [*_user_steps(args.user), ["systemctl", "daemon-reload"]]
    steps.append(["systemctl", "enable", "--now", UNIT_NAME])
    if args.dry_run:
        print(unit, end="")
        print(f"# would write {UNIT_PATH}, then run:", file=sys.stderr)
        for step in steps:
            print(f"#   {' '.join(step)}", file=sys.stderr)
        return EXIT_OK
    if os.geteuid() != 0:
        raise CommandError("install-service changes systemd's configuration: run it with sudo")
    for step in steps[:-2]:
        _run_step(step)
    UNIT_PATH.write_text(unit, encoding="utf-8")
    UNIT_PATH.chmod(0o644)
    for step in steps[-2:]:
        _run_step(step)
    print(f"Installed and started {UNIT_NAME}; follow it with: journalctl -u pi-satellite -f")
    return EXIT_OK


def render_unit(
    template: str, config: SatelliteConfig, config_path: Path, user: str, python: str
) -> str:
    """The shipped unit with this installation's command, user and directories."""
    state = _below(config.state_dir, STATE_BASE)
    cache = _below(config.cache.folder, CACHE_BASE)
    values: dict[str, str | None] = {
        "ExecStart": " ".join(
            _systemd_word(word)
            for word in (python, "-m", "pi_satellite", "run", "--config", str(config_path))
        ),
        "User": user,
        "StateDirectory": state,
        "StateDirectoryMode": "0700" if state else None,
        "CacheDirectory": cache,
        "CacheDirectoryMode": "0700" if cache else None,
    }
    lines = []
    for line in template.splitlines():
        key = line.partition("=")[0]
        if key not in values or line.startswith("#"):
            lines.append(line)
        elif (value := values[key]) is not None:
            lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def _below(path: Path, base: Path) -> str | None:
    """`path` relative to a systemd-managed base folder, or None when outside it."""
    if path == base or not path.is_relative_to(base):
        return None
    return str(path.relative_to(base))


def _systemd_word(word: str) -> str:
    """One ExecStart word, escaped so systemd passes it through unchanged."""
    escaped = word.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"' if escaped != word or any(ch.isspace() for ch in word) else word


def _user_steps(user: str) -> list[list[str]]:
    """Create the dedicated service user unless it exists."""
    try:
        pwd.getpwnam(user)
    except KeyError:
        pass
    else:
        return []
    groups = [name for name in SERVICE_GROUPS if _group_exists(name)]
    command = ["useradd", "--system", "--user-group", "--no-create-home"]
    command += ["--home-dir", str(STATE_BASE / SERVICE_USER), "--shell", "/usr/sbin/nologin"]
    if groups:
        command += ["--groups", ",".join(groups)]
    return [[*command, user]]


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def _run_step(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True)
    except FileNotFoundError as err:
        raise CommandError(f"{command[0]} is not installed") from err
    except subprocess.CalledProcessError as err:
        raise CommandError(f"{' '.join(command)} failed with status {err.returncode}") from err


# --- press ---


def _press(args: argparse.Namespace) -> int:
    config = _load(args)
    item = next((item for item in config.inputs if item.name == args.name), None)
    if item is None or item.pin is not None:
        simulated = [item.name for item in config.inputs if item.pin is None]
        _error(
            f"{args.config}: no simulated input named {args.name!r} "
            f"(simulated inputs: {', '.join(simulated) or 'none'})"
        )
        return EXIT_USAGE
    try:
        send_gesture(control_socket_path(config), args.name, Gesture(args.kind))
    except InputError as err:
        raise CommandError(str(err)) from err
    return EXIT_OK


# --- the command line ---


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pi-satellite",
        description="LoHP Maze Manager satellite: a room's sound player for Home Assistant.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument(
            "--config",
            type=Path,
            default=DEFAULT_CONFIG_PATH,
            help=f"the satellite's YAML file (default {DEFAULT_CONFIG_PATH})",
        )
        sub.set_defaults(handler=handler)
        return sub

    run = command("run", _run, "run the satellite until stopped")
    run.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    command("check", _check, "validate the config file and summarise it")
    command("pairing-key", _pairing_key, "print the id, pairing key and TLS fingerprint")
    install = command("install-service", _install_service, "install and start the systemd unit")
    install.add_argument("--user", default=SERVICE_USER, help="the account the service runs as")
    install.add_argument(
        "--dry-run", action="store_true", help="print the unit instead of installing it"
    )
    press = command("press", _press, "play a gesture on a simulated input of a running satellite")
    press.add_argument("name", help="the simulated input's name")
    press.add_argument("--kind", choices=[gesture.value for gesture in Gesture], default="press")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one `pi-satellite` command; returns the exit status."""
    args = _parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return EXIT_USAGE
    except CommandError as err:
        _error(str(err))
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
