"""The running satellite: wires config, identity, cache, player, server, inputs, discovery.

It also owns what outlives one Home Assistant connection: the cue table and its decoded
sound, asset uploads in progress, and the local fallback that lets inputs fire their
mapped cues and ambient loops keep going while Home Assistant is away.
"""

from __future__ import annotations

import asyncio
import logging
import signal

import numpy as np
import numpy.typing as npt

from . import link
from .cache import AssetCache, AssetUpload, CacheError
from .clock import LocalClock, make_clock
from .config import SatelliteConfig
from .decode import AssetDecodeError, decode_asset
from .discovery import Advertiser
from .identity import Identity, load_identity, server_ssl_context
from .inputs import InputSet, start_inputs
from .player import Player, PlayerError
from .server import Connection, SatelliteServer
from .session import ControllerSession

_LOGGER = logging.getLogger(__name__)

FALLBACK_FADE_MS = 2000


class Satellite:
    """One satellite process."""

    def __init__(self, config: SatelliteConfig) -> None:
        self.config = config
        self.identity: Identity = load_identity(config)
        self.clock: LocalClock = make_clock(config.clock.offset_us, config.clock.drift_ppm)
        self.cache = AssetCache(config.cache.folder, config.cache.max_bytes)
        self.player = Player(config, self.clock, on_started=self._on_started)
        self.server = SatelliteServer(
            self.identity.key,
            self.identity.satellite_id,
            self._run_session,
            host=config.host,
            port=config.port,
            ssl_context=server_ssl_context(self.identity),
        )
        self._advertiser: Advertiser | None = None
        self._inputs: InputSet | None = None
        self._session: ControllerSession | None = None
        self._cues: tuple[link.CueEntry, ...] = ()
        self._pcm: dict[bytes, npt.NDArray[np.float32]] = {}
        self._uploads: dict[bytes, AssetUpload] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connected(self) -> bool:
        """Whether a Home Assistant is connected and authenticated."""
        return self._session is not None

    async def start(self) -> None:
        """Start playing, serving, listening to inputs and advertising."""
        await self.player.start()
        await self.server.start()
        self._inputs = await start_inputs(self.config, self._on_input)
        if self.config.advertise:
            self._advertiser = Advertiser(self.config, self.identity, port=self.server.port)
            await self._advertiser.start()
        _LOGGER.info(
            "Satellite %s (%s) ready on port %s",
            self.config.name,
            self.identity.satellite_id,
            self.server.port,
        )

    async def close(self) -> None:
        """Stop everything; safe to call twice."""
        if self._advertiser is not None:
            await self._advertiser.close()
            self._advertiser = None
        if self._inputs is not None:
            await self._inputs.close()
            self._inputs = None
        await self.server.close()
        for task in list(self._tasks):
            task.cancel()
        await self.player.close()

    async def _run_session(self, connection: Connection) -> None:
        session = ControllerSession(self, connection)
        self._session = session
        try:
            await session.run()
        finally:
            for upload in self._uploads.values():
                upload.abort()
            self._uploads.clear()
            if self._session is session:
                self._session = None
                self._fall_back()

    def _fall_back(self) -> None:
        """Home Assistant went away: keep ambient loops (if configured), fade the other
        cues; streams play what they hold, then fade out and hand over to their fallback."""
        _LOGGER.info("Home Assistant disconnected; local fallback is active")
        self.player.abandon_streams()
        self.player.stop_all(
            fade_ms=FALLBACK_FADE_MS,
            keep_ambient=self.config.fallback.keep_ambient,
            keep_streams=True,
        )

    def _send_soon(self, message: link.Message) -> None:
        session = self._session
        if session is None:
            return
        task = asyncio.create_task(session.send(message))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_started(self, started: link.Started) -> None:
        self._send_soon(started)

    def _on_input(self, index: int, kind: link.ButtonEventKind) -> None:
        session = self._session
        if session is not None:
            at_us = session.venue_now_us() or 0
            self._send_soon(link.ButtonEvent(index, kind, 0, at_us))
            return
        if kind != link.ButtonEventKind.PRESS:
            return
        name = self.config.inputs[index].name
        cue_name = self.config.fallback.inputs.get(name)
        cue_id = self.player.cue_id_by_name(cue_name) if cue_name else None
        if cue_id is None:
            _LOGGER.info("Input %s pressed while Home Assistant is away; no local cue", name)
            return
        _LOGGER.info("Input %s fires local cue %s", name, cue_name)
        try:
            self.player.play_now(cue_id)
        except PlayerError as err:
            _LOGGER.warning("Local cue %s for input %s failed: %s", cue_name, name, err)

    async def set_cue_table(self, cues: tuple[link.CueEntry, ...]) -> None:
        """Replace the cue table and load every cue whose asset is cached."""
        self._cues = cues
        self.cache.pin({cue.sha256 for cue in cues})
        await self._load_cues()

    async def receive_asset(
        self, message: link.AssetBegin | link.AssetChunk | link.AssetEnd
    ) -> link.AssetResult | None:
        """Take one step of an asset transfer; the end answers with the result."""
        sha = message.sha256
        try:
            match message:
                case link.AssetBegin():
                    self._uploads[sha] = self.cache.begin(sha, message.size)
                case link.AssetChunk():
                    upload = self._uploads.get(sha)
                    if upload is None:
                        raise CacheError("chunk for an asset that was not begun")
                    upload.write(message.offset, message.data)
                case link.AssetEnd():
                    upload = self._uploads.pop(sha, None)
                    if upload is None:
                        raise CacheError("end of an asset that was not begun")
                    await asyncio.to_thread(upload.finish)
                    await self._load_cues()
                    return link.AssetResult(sha, True, "")
        except CacheError as err:
            self._uploads.pop(sha, None)
            _LOGGER.warning("Asset %s refused: %s", sha.hex()[:12], err)
            return link.AssetResult(sha, False, str(err)[:256])
        return None

    async def _load_cues(self) -> None:
        wanted = {cue.sha256 for cue in self._cues}
        for sha in wanted - self._pcm.keys():
            data = await asyncio.to_thread(self.cache.get, sha)
            if data is None:
                continue
            try:
                self._pcm[sha] = await asyncio.to_thread(
                    decode_asset, data, self.config.sample_rate
                )
            except AssetDecodeError as err:
                _LOGGER.warning("Asset %s cannot be decoded: %s", sha.hex()[:12], err)
        for sha in self._pcm.keys() - wanted:
            del self._pcm[sha]
        ready = tuple(cue for cue in self._cues if cue.sha256 in self._pcm)
        self.player.load_cues(ready, self._pcm)


async def run(config: SatelliteConfig) -> None:
    """Run a satellite until SIGINT or SIGTERM."""
    satellite = Satellite(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await satellite.start()
    try:
        await stop.wait()
    finally:
        await satellite.close()
