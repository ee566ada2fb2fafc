"""End-to-end harness: real `hass` and `pi-satellite` processes, driven over HTTP only.

Shared by the end-to-end tests (their fixtures are in conftest.py) and by the benchmarks
under bench/. A `hass` process is driven the way a user's browser does (onboarding,
config flows, REST and the WebSocket API), and what the satellites played is read from
their null-output records. Every process is started through `Processes`, so whoever owns
it (a test fixture, a benchmark) kills and reaps all of them when done, whatever happened;
every wait is a bounded poll whose failure message carries the tail of the logs that
explain it.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml  # type: ignore[import-untyped]

from tests.satellite_harness import records

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
"""The virtual environment's scripts: `hass` and `pi-satellite` live beside its Python."""
INTEGRATION = REPO / "custom_components" / "maze_manager"

HASS_UP_S = 60.0
SATELLITE_UP_S = 30.0
POLL_S = 0.05
KILL_WAIT_S = 10.0
LOG_TAIL_LINES = 60
OWNER_PASSWORD = "haunted-maze-e2e"


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, headed by its path, for failure messages."""
    if not path.exists():
        return f"--- {path}: not written ---"
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return "\n".join([f"--- last lines of {path} ---", *text])


async def wait_for[T](
    probe: Callable[[], Awaitable[T | None]],
    what: str,
    timeout_s: float,
    explain: Callable[[], str] = lambda: "",
) -> tuple[T, float]:
    """Poll `probe` until it returns a value; that value and the seconds it took.

    On timeout the test fails naming `what`, with `explain()` (log tails) appended.
    """
    started = time.monotonic()
    while True:
        value = await probe()
        elapsed = time.monotonic() - started
        if value is not None:
            return value, elapsed
        if elapsed > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s:g} s\n{explain()}")
        await asyncio.sleep(POLL_S)


class Processes:
    """Every process a test starts; the fixture kills and reaps all of them at teardown."""

    def __init__(self) -> None:
        self._running: list[subprocess.Popen[bytes]] = []
        self.hass_logs: list[Path] = []
        """The logs of the `hass` processes started, for the tests to read at the end."""

    def start(
        self, args: Sequence[str], log: Path, netns: str | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a command with stdout and stderr appended to `log`, maybe in a namespace.

        `ip netns exec` execs the command itself, so the process id is the command's.
        """
        command = ["ip", "netns", "exec", netns, *args] if netns else list(args)
        with log.open("ab") as output:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT
            )
        self._running.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        """SIGKILL one process and reap it: no clean shutdown, as when it crashes."""
        process.kill()
        process.wait(timeout=KILL_WAIT_S)
        self._running.remove(process)

    def kill_all(self) -> None:
        """Kill and reap everything still running; one failure does not spare the rest."""
        with contextlib.ExitStack() as kills:
            for process in list(self._running):
                kills.callback(self.kill, process)


@dataclass
class HassInstance:
    """A `hass` process serving HTTP on 127.0.0.1 (of its network namespace, if any)."""

    config_dir: Path
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        """The base URL of its HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """Where its stdout and stderr go."""
        return self.config_dir / "hass.out"

    def explain(self) -> str:
        """The tail of its log, for failure messages."""
        return tail(self.log)


def write_hass_config(config_dir: Path, port: int, *, zeroconf: bool) -> None:
    """A minimal configuration with the integration linked in; zeroconf only when asked."""
    components = config_dir / "custom_components"
    components.mkdir(parents=True, exist_ok=True)
    (components / "maze_manager").symlink_to(INTEGRATION, target_is_directory=True)
    config: dict[str, Any] = {
        "homeassistant": {
            "name": "Haunted maze",
            "latitude": 0,
            "longitude": 0,
            "elevation": 0,
            "unit_system": "metric",
            "time_zone": "UTC",
        },
        "http": {"server_host": "127.0.0.1", "server_port": port},
        "api": None,
        "config": None,
        "onboarding": None,
        "websocket_api": None,
        "logger": {"default": "warning", "logs": {"custom_components.maze_manager": "debug"}},
    }
    if zeroconf:
        config["zeroconf"] = None
    (config_dir / "configuration.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")


def start_hass(
    processes: Processes,
    config_dir: Path,
    port: int,
    *,
    zeroconf: bool = False,
    netns: str | None = None,
) -> HassInstance:
    """Write a configuration and start `hass` on it (returns at once; see wait_until_up)."""
    write_hass_config(config_dir, port, zeroconf=zeroconf)
    log = config_dir / "hass.out"
    process = processes.start([str(BIN / "hass"), "-c", str(config_dir), "--skip-pip"], log, netns)
    processes.hass_logs.append(log)
    return HassInstance(config_dir, port, process)


@dataclass
class SatelliteProcess:
    """A `pi-satellite run` process on a null output that records to `record.jsonl`."""

    folder: Path
    settings: dict[str, Any]
    netns: str | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _starts: int = field(default=0, init=False)

    @property
    def name(self) -> str:
        """The satellite's configured name."""
        return str(self.settings["name"])

    @property
    def port(self) -> int:
        """Where its maze-link server listens."""
        return int(self.settings["port"])

    @property
    def log(self) -> Path:
        """Where its stdout and stderr go (appended across restarts)."""
        return self.folder / "satellite.log"

    @property
    def record(self) -> Path:
        """Its null output's record of what played."""
        return self.folder / "record.jsonl"

    @property
    def satellite_id(self) -> str:
        """The id it generated on first start and advertises."""
        return (self.folder / "state" / "satellite_id").read_text(encoding="utf-8").strip()

    def start(self, processes: Processes) -> None:
        """Start it with its config; a restart reuses the same config, port and state."""
        config = self.folder / "satellite.yaml"
        self.folder.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(self.settings), encoding="utf-8")
        self._starts += 1
        self.process = processes.start(
            [str(BIN / "pi-satellite"), "run", "--config", str(config)], self.log, self.netns
        )

    def kill(self, processes: Processes) -> None:
        """SIGKILL it: the process dies without any goodbye to Home Assistant."""
        assert self.process is not None, f"{self.name} was never started"
        processes.kill(self.process)
        self.process = None

    async def wait_ready(self) -> None:
        """Wait until this start logged that it serves."""

        async def ready() -> bool | None:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited\n{self.explain()}")
            text = self.log.read_text(encoding="utf-8") if self.log.exists() else ""
            return True if text.count(" ready on port ") >= self._starts else None

        await wait_for(ready, f"{self.name} ready", SATELLITE_UP_S, self.explain)

    def cue_starts(self, scheduled_us: int) -> list[dict[str, Any]]:
        """The cue starts its null output recorded for one venue start time."""
        return [
            line
            for line in records(self.record, "cue_start")
            if line["scheduled_us"] == scheduled_us
        ]

    def explain(self) -> str:
        """The tail of its log, for failure messages."""
        return tail(self.log)


class HassClient:
    """Home Assistant's HTTP and WebSocket APIs, authenticated as the onboarded owner."""

    def __init__(self, session: aiohttp.ClientSession, hass: HassInstance, token: str) -> None:
        self._session = session
        self.hass = hass
        self._headers = {"Authorization": f"Bearer {token}"}
        self._token = token
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._next_id = 0

    async def get(self, path: str) -> Any:
        """GET a JSON document; any status but 200 fails the test."""
        async with self._session.get(self.hass.url + path, headers=self._headers) as response:
            return await self._json(response, f"GET {path}")

    async def post(self, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """POST a JSON body and read the JSON answer; any status but 200 fails the test."""
        url = self.hass.url + path
        async with self._session.post(url, json=body, headers=self._headers) as response:
            return await self._json(response, f"POST {path}")

    async def _json(self, response: aiohttp.ClientResponse, request: str) -> Any:
        text = await response.text()
        assert response.status == 200, (
            f"{request} answered {response.status}: {text}\n{self.hass.explain()}"
        )
        return await response.json()

    async def command(self, message_type: str, **fields: Any) -> Any:
        """Send one WebSocket API command and return its result."""
        websocket = await self._websocket()
        self._next_id += 1
        await websocket.send_json({"id": self._next_id, "type": message_type, **fields})
        while True:
            message = await websocket.receive_json()
            if message.get("id") == self._next_id and message.get("type") == "result":
                break
        assert message["success"], f"{message_type} failed: {message}\n{self.hass.explain()}"
        return message["result"]

    async def _websocket(self) -> aiohttp.ClientWebSocketResponse:
        if self._socket is None or self._socket.closed:
            websocket = await self._session.ws_connect(self.hass.url + "/api/websocket")
            assert (await websocket.receive_json())["type"] == "auth_required"
            await websocket.send_json({"type": "auth", "access_token": self._token})
            answer = await websocket.receive_json()
            assert answer["type"] == "auth_ok", f"WebSocket authentication failed: {answer}"
            self._socket = websocket
        return self._socket

    async def start_flow(self, handler: str) -> dict[str, Any]:
        """Open a config flow as the "Add integration" dialog does."""
        result: dict[str, Any] = await self.post(
            "/api/config/config_entries/flow", {"handler": handler}
        )
        return result

    async def flow_step(self, flow_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
        """Submit a form, or pick a menu item, of a config flow."""
        result: dict[str, Any] = await self.post(f"/api/config/config_entries/flow/{flow_id}", data)
        return result

    async def close(self) -> None:
        """Close the WebSocket, if one was opened."""
        if self._socket is not None:
            await self._socket.close()
            self._socket = None


async def wait_until_up(session: aiohttp.ClientSession, hass: HassInstance) -> float:
    """Wait until Home Assistant answers HTTP; the seconds that took."""

    async def answers() -> bool | None:
        if hass.process.poll() is not None:
            raise AssertionError(f"hass exited with {hass.process.returncode}\n{hass.explain()}")
        try:
            async with session.get(hass.url + "/api/onboarding") as response:
                return True if response.status == 200 else None
        except aiohttp.ClientConnectionError:
            return None

    _, elapsed = await wait_for(answers, "Home Assistant answering HTTP", HASS_UP_S, hass.explain)
    return elapsed


async def onboard(session: aiohttp.ClientSession, hass: HassInstance) -> HassClient:
    """Create the owner account as the onboarding page does and log in with it."""
    client_id = hass.url + "/"
    async with session.post(
        hass.url + "/api/onboarding/users",
        json={
            "client_id": client_id,
            "name": "Maze Owner",
            "username": "owner",
            "password": OWNER_PASSWORD,
            "language": "en",
        },
    ) as response:
        assert response.status == 200, f"onboarding: {await response.text()}\n{hass.explain()}"
        auth_code = (await response.json())["auth_code"]
    async with session.post(
        hass.url + "/auth/token",
        data={"grant_type": "authorization_code", "code": auth_code, "client_id": client_id},
    ) as response:
        assert response.status == 200, f"token: {await response.text()}\n{hass.explain()}"
        token = (await response.json())["access_token"]
    return HassClient(session, hass, token)
