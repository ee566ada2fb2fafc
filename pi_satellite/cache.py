"""The on-disk asset cache: sound files named by their SHA-256, within a size cap.

Home Assistant sends each asset once; the satellite keeps it across restarts and lists
what it holds in its hello, so a reconnect costs no transfers. Every file is checked
against its name when it arrives and again when it is loaded: a corrupt file is dropped
and reported missing, so Home Assistant simply sends it again.

The methods do blocking file I/O; callers on the event loop run the big ones
(`finish`, `get`) in a worker thread.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO, NoReturn

from . import link

_LOGGER = logging.getLogger(__name__)

TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".tmp"
_NAME_PATTERN = re.compile(r"[0-9a-f]{64}")


class CacheError(Exception):
    """An asset the cache refuses; the text says why (sent back in ASSET_RESULT)."""


def _short(sha256: bytes) -> str:
    return sha256.hex()[:12]


class AssetCache:
    """Content-addressed files under `folder`, least recently used evicted past `max_bytes`.

    Assets of the current cue table are pinned and never evicted.
    """

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._sizes: OrderedDict[bytes, int] = OrderedDict()  # least recently used first
        self._pinned: frozenset[bytes] = frozenset()
        self._last_use_ns = 0
        folder.mkdir(parents=True, exist_ok=True)
        self._rebuild_index()

    @property
    def used_bytes(self) -> int:
        """Bytes the cached assets take on disk."""
        return sum(self._sizes.values())

    def __contains__(self, sha256: object) -> bool:
        return sha256 in self._sizes

    def held(self) -> tuple[bytes, ...]:
        """What the hello reports: the cached assets, most recently used first."""
        return tuple(reversed(self._sizes))[: link.MAX_CACHE_ENTRIES]

    def pin(self, shas: Iterable[bytes]) -> None:
        """Protect exactly these assets (the current cue table's) from eviction."""
        self._pinned = frozenset(shas)

    def begin(self, sha256: bytes, size: int) -> AssetUpload:
        """Start receiving an asset of `size` bytes; refuse one that can never fit."""
        if len(sha256) != link.DIGEST_BYTES:
            raise CacheError(f"an asset name is a {link.DIGEST_BYTES}-byte SHA-256")
        if size > self.max_bytes:
            raise CacheError(
                f"asset {_short(sha256)} of {size} bytes is larger than the whole cache "
                f"({self.max_bytes} bytes)"
            )
        pinned = sum(self._sizes.get(sha, 0) for sha in self._pinned - {sha256})
        if pinned + size > self.max_bytes:
            raise CacheError(
                f"cache full: the cue table's assets take {pinned} of {self.max_bytes} bytes, "
                f"no room for {size} more"
            )
        return AssetUpload(self, sha256, size)

    def get(self, sha256: bytes) -> bytes | None:
        """The asset's bytes, or None when it is missing or failed its hash check."""
        if sha256 not in self._sizes:
            return None
        path = self.path_of(sha256)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            _LOGGER.warning("Cached asset %s vanished from %s", _short(sha256), self.folder)
            del self._sizes[sha256]
            return None
        if hashlib.sha256(data).digest() != sha256:
            _LOGGER.warning(
                "Cached asset %s is corrupt (hash mismatch); deleted, it will be sent again",
                _short(sha256),
            )
            self._forget(sha256)
            return None
        self._touch(sha256)
        return data

    def path_of(self, sha256: bytes) -> Path:
        """Where an asset lives (or would live) in the cache."""
        return self.folder / sha256.hex()

    def _store(self, sha256: bytes, temp_path: Path, size: int) -> Path:
        """Move a verified upload into place, then evict down to the cap."""
        path = self.path_of(sha256)
        os.replace(temp_path, path)
        self._sizes[sha256] = size
        self._touch(sha256)
        self._evict()
        return path

    def _touch(self, sha256: bytes) -> None:
        """Mark as most recently used, in memory and in the file's mtime for restarts.

        The time is set explicitly and always moves forward: the kernel's own "now" for
        file times is coarse, and two uses within one tick must still keep their order.
        """
        self._sizes.move_to_end(sha256)
        self._last_use_ns = max(time.time_ns(), self._last_use_ns + 1)
        try:
            os.utime(self.path_of(sha256), ns=(self._last_use_ns, self._last_use_ns))
        except FileNotFoundError:
            del self._sizes[sha256]

    def _evict(self) -> None:
        used = self.used_bytes
        for sha in list(self._sizes):
            if used <= self.max_bytes:
                return
            if sha in self._pinned:
                continue
            used -= self._sizes[sha]
            self._forget(sha)
            _LOGGER.info("Evicted least recently used asset %s", _short(sha))

    def _forget(self, sha256: bytes) -> None:
        self._sizes.pop(sha256, None)
        self.path_of(sha256).unlink(missing_ok=True)

    def _rebuild_index(self) -> None:
        """Index the assets already on disk, oldest use first; delete abandoned uploads."""
        found: list[tuple[int, bytes, int]] = []
        for entry in os.scandir(self.folder):
            if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
                _LOGGER.info("Removing unfinished upload %s", entry.name)
                Path(entry.path).unlink(missing_ok=True)
            elif _NAME_PATTERN.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                stat = entry.stat(follow_symlinks=False)
                found.append((stat.st_mtime_ns, bytes.fromhex(entry.name), stat.st_size))
        for mtime_ns, sha, size in sorted(found):
            self._sizes[sha] = size
            self._last_use_ns = max(self._last_use_ns, mtime_ns)
        self._evict()


class AssetUpload:
    """One asset arriving in chunks, written to a temporary file until verified.

    Any refusal deletes the partial file: an upload that raised is finished.
    """

    def __init__(self, cache: AssetCache, sha256: bytes, size: int) -> None:
        self.sha256 = sha256
        self.size = size
        self.received = 0
        self._cache = cache
        self._hash = hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=cache.folder, prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX)
        self._temp_path = Path(name)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")

    def write(self, offset: int, data: bytes) -> None:
        """Append the chunk that starts at `offset`; chunks must come in order."""
        file = self._open_file()
        if offset != self.received:
            self._fail(f"chunk at offset {offset}, expected {self.received}")
        if offset + len(data) > self.size:
            self._fail(f"chunk ends at {offset + len(data)}, past the announced {self.size} bytes")
        try:
            file.write(data)
        except OSError as err:
            self._fail(f"cannot write the cache: {err}")
        self._hash.update(data)
        self.received += len(data)

    def finish(self) -> Path:
        """Check length and hash, then move the file into the cache and return its path."""
        file = self._open_file()
        if self.received != self.size:
            self._fail(f"got {self.received} of {self.size} bytes")
        if self._hash.digest() != self.sha256:
            self._fail(
                f"hash mismatch: received data hashes to {self._hash.hexdigest()[:12]}, "
                f"not {_short(self.sha256)}"
            )
        try:
            file.flush()
            os.fsync(file.fileno())
            file.close()
            self._file = None
            return self._cache._store(self.sha256, self._temp_path, self.size)
        except OSError as err:
            self._fail(f"cannot store in the cache: {err}")

    def abort(self) -> None:
        """Give up on this upload (the connection went away) and delete the partial file."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self._temp_path.unlink(missing_ok=True)

    def _open_file(self) -> BinaryIO:
        if self._file is None:
            raise CacheError(f"upload of {_short(self.sha256)} is already finished")
        return self._file

    def _fail(self, reason: str) -> NoReturn:
        self.abort()
        raise CacheError(reason)
