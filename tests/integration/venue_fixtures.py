"""A venue in Home Assistant with real satellites on loopback, for the venue-level tests.

`Maze` starts real `pi_satellite` satellites (null outputs that record every start and
stop, or WAV outputs that keep every sample), writes a show folder into Home
Assistant's config folder, adds the satellite and venue entries as a user's flows would
have, and waits until every satellite is connected, synchronised and holds the show's
cues. Tests then act through services, the HTTP API or the satellites' own inputs and
read back what the satellites recorded.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import pytest_socket  # type: ignore[import-untyped]
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, ServiceCall, callback
from homeassistant.setup import async_setup_component
from homeassistant.util.async_ import get_scheduled_timer_handles
from pytest_homeassistant_custom_component.common import (  # type: ignore[import-untyped]
    MockConfigEntry,
)

from custom_components.maze_manager.const import (
    CONF_DEFAULT_VOLUME,
    CONF_FINGERPRINT,
    CONF_KIND,
    CONF_LEAD_MS,
    CONF_OUTPUTS,
    CONF_PAIRING_KEY,
    CONF_SATELLITE_ID,
    CONF_SHOW_FOLDER,
    DOMAIN,
    KIND_SATELLITE,
    KIND_VENUE,
)
from custom_components.maze_manager.link import venue_clock_us
from custom_components.maze_manager.satellites import SatelliteDevice
from custom_components.maze_manager.venue import Venue
from pi_satellite.config import SatelliteConfig, parse_config
from pi_satellite.inputs import Gesture, control_socket_path, send_gesture
from pi_satellite.satellite import Satellite
from tests.satellite_harness import KEY_HEX, records, satellite_settings, tone_wav

SHOW_FOLDER = "maze_manager"
GATE = "Gate Pi"
CELLAR = "Cellar Pi"
TONE_PEAK = 12000 / 32768
"""The peak of `tone_wav`'s sine as a float sample."""
FRAME_US = 1e6 / 48000
"""One output frame of the test satellites."""

SHOW_YAML = """\
settings:
  house_lights: [light.house]
rooms:
  Entrance:
    lights: [light.entrance_strip]
    light_latency_ms:
      light.entrance_strip: 80ms
    speakers:
      - satellite: Gate Pi
        output: Left
  Cop Dodge:
    speakers:
      - satellite: Gate Pi
        output: 1
  Crypt:
    speakers: Cellar Pi
effects:
  Lightning:
    priority: 200
    audio: {file: lightning.wav, volume: 0.5}
    steps:
      - at: 100ms
        light: {brightness: 255, rgb_color: [255, 255, 255], transition: 0}
        strobe: true
      - at: 250ms
        light: {state: off, transition: 0.5}
      - at: 300ms
        action: input_boolean.turn_on
        target: {entity_id: input_boolean.fog_machine}
  Ambience:
    priority: 10
    audio: {file: ambience.wav, loop: true, bus: ambient}
  Blackout:
    steps:
      - at: 200ms
        light: off
themes:
  Halloween Night:
    cues:
      - effect: Ambience
        rooms: all
      - effect: Lightning
        rooms: Entrance
        at: 200ms
inputs:
  - satellite: Gate Pi
    input: Gate button
    effect: Lightning
    rooms: Entrance
  - satellite: Cellar Pi
    input: Gate button
    event: long_press
    theme: Halloween Night
  - satellite: Gate Pi
    input: Spare button
    event: double_press
    effect: Ambience
"""
SOUNDS = {"lightning.wav": tone_wav(0.5, 440.0), "ambience.wav": tone_wav(0.5, 220.0)}


async def wait_for(condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Let the loop run until `condition` holds."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@dataclass
class RunningSatellite:
    """One real satellite and the config entry Home Assistant keeps for it."""

    name: str
    folder: Path
    config: SatelliteConfig
    satellite: Satellite
    port: int
    """The loopback port the satellite listens (or listened) on."""
    entry: MockConfigEntry | None = None

    @property
    def satellite_id(self) -> str:
        """The id the satellite generated on its first start."""
        return self.satellite.identity.satellite_id

    @property
    def device(self) -> SatelliteDevice:
        """The satellite as its loaded entry sees it."""
        assert self.entry is not None
        device = self.entry.runtime_data
        assert isinstance(device, SatelliteDevice)
        return device

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        """What the null output recorded, optionally one kind of event."""
        return records(self.folder / "record.jsonl", event)

    async def press(self, hass: HomeAssistant, input_name: str, gesture: Gesture) -> None:
        """Play a gesture on a simulated input through the satellite's control socket."""
        path = control_socket_path(self.config)
        await hass.async_add_executor_job(send_gesture, path, input_name, gesture)

    def cue_starts(self) -> list[dict[str, Any]]:
        """The recorded cue starts."""
        return self.records("cue_start")

    def samples(self) -> npt.NDArray[np.float32]:
        """What a WAV output wrote (close the satellite first), as float frames."""
        with wave.open(str(self.folder / "output.wav"), "rb") as reader:
            data = reader.readframes(reader.getnframes())
            channels = reader.getnchannels()
        pcm = np.frombuffer(data, dtype=np.int16).reshape(-1, channels)
        return (pcm / 32768).astype(np.float32)


@dataclass
class ServiceRecorder:
    """Stands in for another integration's services: keeps each call and its venue time."""

    calls: list[tuple[str, dict[str, Any], int]] = field(default_factory=list)

    @callback
    def record(self, call: ServiceCall) -> None:
        """Keep one call."""
        self.calls.append((call.service, dict(call.data), venue_clock_us()))

    def of(self, entity_id: str) -> list[tuple[str, dict[str, Any], int]]:
        """The calls that named one entity (its id left out of the data)."""
        found = []
        for service, data, at_us in self.calls:
            ids = data.get("entity_id", [])
            if entity_id in ([ids] if isinstance(ids, str) else ids):
                rest = {key: value for key, value in data.items() if key != "entity_id"}
                found.append((service, rest, at_us))
        return found


class Maze:
    """Real satellites, a show folder and the integration's entries in one Home Assistant."""

    def __init__(self, hass: HomeAssistant, root: Path) -> None:
        self.hass = hass
        self.root = root
        self.satellites: dict[str, RunningSatellite] = {}
        self.venue_entry: MockConfigEntry | None = None
        self.lights = ServiceRecorder()
        hass.config.config_dir = str(root / "config")
        self.show_folder = Path(hass.config.path(SHOW_FOLDER))
        self.show_folder.mkdir(parents=True)
        for service in ("turn_on", "turn_off"):
            hass.services.async_register("light", service, self.lights.record)

    @property
    def venue(self) -> Venue:
        """The loaded venue."""
        assert self.venue_entry is not None
        venue = self.venue_entry.runtime_data
        assert isinstance(venue, Venue)
        return venue

    def __getitem__(self, name: str) -> RunningSatellite:
        return self.satellites[name]

    # --- satellites -------------------------------------------------------------------

    async def start_satellite(
        self,
        name: str,
        *,
        port: int = 0,
        wav: bool = False,
        fallback: dict[str, Any] | None = None,
        cache_mb: float | None = None,
        **settings: Any,
    ) -> RunningSatellite:
        """Start a satellite (again, on its old port and state when it ran before).

        `wav` writes what it plays to `output.wav` instead of recording starts and stops;
        `fallback` is its configuration for while Home Assistant is away; `cache_mb` caps
        its sound cache.
        """
        folder = self.root / name.replace(" ", "_")
        values = satellite_settings(folder, name, port=port, **settings)
        if fallback is not None:
            values["fallback"] = fallback
        if cache_mb is not None:
            values["cache"]["max_mb"] = cache_mb
        if wav:
            values["devices"] = [
                {"name": "card", "type": "wav", "path": str(folder / "output.wav"), "channels": 2}
            ]
        config = parse_config(values, str(folder / "satellite.yaml"))
        running = Satellite(config)
        await running.start()
        known = self.satellites.get(name)
        entry = known.entry if known is not None else None
        self.satellites[name] = RunningSatellite(
            name, folder, config, running, running.server.port, entry
        )
        return self.satellites[name]

    async def stop_satellite(self, name: str) -> None:
        """Stop a satellite process (its config entry stays)."""
        await self.satellites[name].satellite.close()

    async def restart_satellite(self, name: str) -> RunningSatellite:
        """Stop a satellite and start it again on the same port, state and cache."""
        old = self.satellites[name]
        await old.satellite.close()
        inputs = tuple(item.name for item in old.config.inputs)
        fallback = {
            "keep_ambient": old.config.fallback.keep_ambient,
            "inputs": dict(old.config.fallback.inputs),
        }
        return await self.start_satellite(name, port=old.port, inputs=inputs, fallback=fallback)

    def add_satellite_entry(self, name: str, *, port: int | None = None) -> MockConfigEntry:
        """The entry a user's flow creates for a satellite found by host and port.

        `port` reaches it through something else listening on loopback (a proxy).
        """
        running = self.satellites[name]
        entry = MockConfigEntry(
            domain=DOMAIN,
            title=name,
            unique_id=running.satellite_id,
            data={
                CONF_KIND: KIND_SATELLITE,
                CONF_HOST: "127.0.0.1",
                CONF_PORT: port or running.port,
                CONF_PAIRING_KEY: KEY_HEX,
                CONF_FINGERPRINT: None,
                CONF_SATELLITE_ID: running.satellite_id,
            },
        )
        entry.add_to_hass(self.hass)
        running.entry = entry
        return entry

    # --- the venue --------------------------------------------------------------------

    def write_show(self, text: str = SHOW_YAML, **files: str) -> None:
        """Write the show's sounds, show.yaml (`text`) and other files by name (`files` wins)."""
        for sound, data in SOUNDS.items():
            (self.show_folder / sound).write_bytes(data)
        for file, content in {"show.yaml": text, **files}.items():
            (self.show_folder / file).write_text(content, encoding="utf-8")

    def add_venue_entry(self, **options: Any) -> MockConfigEntry:
        """The venue entry, with automatic lead unless the test sets one."""
        entry = MockConfigEntry(
            domain=DOMAIN,
            title="Venue",
            unique_id=KIND_VENUE,
            data={CONF_KIND: KIND_VENUE},
            options={
                CONF_SHOW_FOLDER: SHOW_FOLDER,
                CONF_LEAD_MS: 0,
                CONF_DEFAULT_VOLUME: 0.7,
                **options,
            },
        )
        entry.add_to_hass(self.hass)
        self.venue_entry = entry
        return entry

    async def async_setup(self, *, ready: bool = True) -> None:
        """Load every entry; with `ready`, wait until each satellite is synchronised and
        holds the show's cues (a new satellite's entry reloads once after its first hello).
        """
        assert await async_setup_component(self.hass, "homeassistant", {})
        assert await async_setup_component(
            self.hass, "input_boolean", {"input_boolean": {"fog_machine": {}}}
        )
        loads = [
            self._count_loads(running.entry)
            for running in self.satellites.values()
            if running.entry is not None and CONF_OUTPUTS not in running.entry.data
        ]
        if DOMAIN in self.hass.config.components:
            for entry in self.hass.config_entries.async_entries(DOMAIN):
                if entry.state is ConfigEntryState.NOT_LOADED:
                    assert await self.hass.config_entries.async_setup(entry.entry_id)
        else:
            assert await async_setup_component(self.hass, DOMAIN, {})
        await self.hass.async_block_till_done()
        if not ready:
            return
        await wait_for(lambda: all(len(count) >= 2 for count in loads))
        await self.async_ready()

    @staticmethod
    def _count_loads(entry: MockConfigEntry) -> list[None]:
        """A list that grows each time the entry finishes loading."""
        loaded: list[None] = []

        @callback
        def changed() -> None:
            if entry.state is ConfigEntryState.LOADED:
                loaded.append(None)

        entry.async_on_state_change(changed)
        return loaded

    async def async_ready(self, timeout: float = 10.0) -> None:
        """Wait until every satellite with an entry is synchronised and holds the cues."""
        with_entries = [running for running in self.satellites.values() if running.entry]
        await wait_for(lambda: all(self._ready(running) for running in with_entries), timeout)
        await self.hass.async_block_till_done()

    def _ready(self, running: RunningSatellite) -> bool:
        return (
            running.entry is not None
            and running.entry.state is ConfigEntryState.LOADED
            and running.device.link.synchronised
            and self._holds_cues(running)
        )

    def _holds_cues(self, running: RunningSatellite) -> bool:
        if self.venue_entry is None or self.venue_entry.state is not ConfigEntryState.LOADED:
            return True
        names = self.venue.audio.library.cue_ids
        player = running.satellite.player
        return all(player.cue_id_by_name(name) == cue_id for name, cue_id in names.items())

    def cue_id(self, effect: str) -> int:
        """The cue id the venue gave an effect's sound."""
        return self.venue.audio.library.cue_ids[effect]

    def vouched_error_us(self) -> float:
        """How far a first sample may land from its venue time (the records' monotonic
        clock): the widest clock error bound a connected satellite reports, plus a frame."""
        bounds = [
            running.device.status.sync_error_us
            for running in self.satellites.values()
            if running.entry is not None
            and running.entry.state is ConfigEntryState.LOADED
            and running.device.status is not None
        ]
        return max(bounds, default=0) + FRAME_US

    async def async_close(self) -> None:
        """Unload every entry and stop every satellite."""
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            if entry.state is ConfigEntryState.LOADED:
                await self.hass.config_entries.async_unload(entry.entry_id)
        await self.hass.async_block_till_done()
        for running in self.satellites.values():
            await running.satellite.close()
        await _websocket_timers_run_out()


async def _websocket_timers_run_out() -> None:
    """Let the heartbeat timers of closed WebSockets fire.

    aiohttp (3.11) re-arms a WebSocket's heartbeat when a frame arrives while another task
    closes it; the timer then fires once, harmlessly, within a heartbeat (1 s). Home
    Assistant's test plugin would report it as a lingering timer.
    """
    loop = asyncio.get_running_loop()

    def pending() -> bool:
        return any(
            not handle.cancelled() and "WebSocketResponse." in repr(handle)
            for handle in get_scheduled_timer_handles(loop)
        )

    await wait_for(lambda: not pending(), timeout=5)


async def async_start_maze(maze: Maze, *names: str, show: str = SHOW_YAML, **options: Any) -> None:
    """The common venue: these satellites with entries, the show, and the venue entry."""
    for name in names:
        await maze.start_satellite(name, inputs=("Gate button", "Spare button"))
        maze.add_satellite_entry(name)
    maze.write_show(show)
    maze.add_venue_entry(**options)
    await maze.async_setup()


@pytest.fixture
async def maze(hass: HomeAssistant, tmp_path: Path, socket_enabled: None) -> AsyncIterator[Maze]:
    """An empty maze; the test starts satellites and adds entries.

    The satellites share Home Assistant's event loop here, so the test plugin's asyncio
    debug mode (which times every callback) would slow their clock exchanges to a round
    trip near the 1 ms that synchronisation allows; it is switched off for these tests.
    """
    asyncio.get_running_loop().set_debug(False)
    rig = Maze(hass, tmp_path)
    try:
        yield rig
    finally:
        await rig.async_close()


@pytest.fixture
def unix_sockets(socket_enabled: None) -> Iterator[None]:
    """Also allow Unix sockets (the satellites' input control socket) besides loopback."""
    pytest_socket.socket_allow_hosts(["127.0.0.1"], allow_unix_socket=True)
    yield
    pytest_socket.socket_allow_hosts(["127.0.0.1"])


@pytest.fixture
async def venue_maze(maze: Maze) -> Maze:
    """Gate Pi (Entrance on Left, Cop Dodge on Right) and Cellar Pi (Crypt), show loaded."""
    await async_start_maze(maze, GATE, CELLAR)
    return maze
