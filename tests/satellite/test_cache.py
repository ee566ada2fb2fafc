"""The asset cache: content-addressed, verified, size-capped, and kept across restarts."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from pi_satellite import link
from pi_satellite.cache import AssetCache, CacheError


def asset(seed: int, size: int = 1000) -> tuple[bytes, bytes]:
    """Distinct content of `size` bytes and its SHA-256."""
    data = (bytes([seed]) * 7 + seed.to_bytes(4, "big")) * (size // 11 + 1)
    data = data[:size]
    return hashlib.sha256(data).digest(), data


def store(cache: AssetCache, data: bytes, chunk: int = 300) -> Path:
    sha = hashlib.sha256(data).digest()
    upload = cache.begin(sha, len(data))
    for offset in range(0, len(data), chunk):
        upload.write(offset, data[offset : offset + chunk])
    return upload.finish()


def files_in(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()}


def test_store_and_get(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path / "cache", 10_000)
    sha, data = asset(1)
    path = store(cache, data)
    assert path == tmp_path / "cache" / sha.hex()
    assert path.read_bytes() == data
    assert files_in(tmp_path / "cache") == {sha.hex()}  # the temporary file became the asset
    assert cache.get(sha) == data
    assert sha in cache
    assert cache.held() == (sha,)
    assert cache.used_bytes == len(data)
    assert cache.get(asset(2)[0]) is None


def test_hash_mismatch_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path / "cache", 10_000)
    sha, data = asset(1)
    upload = cache.begin(sha, len(data))
    upload.write(0, data[:-1] + bytes([data[-1] ^ 0xFF]))
    with pytest.raises(CacheError, match="hash mismatch"):
        upload.finish()
    assert files_in(tmp_path / "cache") == set()
    assert cache.get(sha) is None
    assert cache.held() == ()


@pytest.mark.parametrize(
    ("offset", "chunk", "reason"),
    [
        (100, b"x" * 10, "chunk at offset 100, expected 0"),
        (0, b"x" * 1001, "chunk ends at 1001, past the announced 1000 bytes"),
    ],
)
def test_bad_chunks_are_refused(tmp_path: Path, offset: int, chunk: bytes, reason: str) -> None:
    cache = AssetCache(tmp_path / "cache", 10_000)
    sha, _ = asset(1)
    upload = cache.begin(sha, 1000)
    with pytest.raises(CacheError, match=reason):
        upload.write(offset, chunk)
    assert files_in(tmp_path / "cache") == set()
    with pytest.raises(CacheError, match="already finished"):
        upload.write(0, b"x")


def test_short_upload_and_abort_leave_nothing(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path / "cache", 10_000)
    sha, data = asset(1)
    upload = cache.begin(sha, len(data))
    upload.write(0, data[:500])
    with pytest.raises(CacheError, match="got 500 of 1000 bytes"):
        upload.finish()
    upload = cache.begin(sha, len(data))
    upload.write(0, data[:500])
    upload.abort()
    assert files_in(tmp_path / "cache") == set()


def test_an_asset_larger_than_the_cache_is_refused(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path / "cache", 2000)
    sha, _ = asset(1, 2001)
    with pytest.raises(CacheError, match="larger than the whole cache"):
        cache.begin(sha, 2001)


def test_lru_eviction_respects_the_cap_and_pins(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path / "cache", 3000)
    (a, data_a), (b, data_b), (c, data_c), (d, data_d) = (asset(i) for i in range(4))
    for data in (data_a, data_b, data_c):
        store(cache, data)
    assert cache.held() == (c, b, a)
    cache.pin({a})  # `a` is oldest, but the cue table uses it
    store(cache, data_d)
    assert cache.held() == (d, c, a)  # `b` went: the least recently used unpinned asset
    assert files_in(tmp_path / "cache") == {a.hex(), c.hex(), d.hex()}
    assert cache.used_bytes <= 3000

    assert cache.get(c) == data_c  # using `c` makes `d` the oldest unpinned
    store(cache, data_b)
    assert cache.held() == (b, c, a)
    assert cache.get(d) is None


def test_pinned_assets_can_fill_the_cache(tmp_path: Path) -> None:
    cache = AssetCache(tmp_path / "cache", 2500)
    (a, data_a), (b, data_b), (c, _) = (asset(i) for i in range(3))
    store(cache, data_a)
    store(cache, data_b)
    cache.pin({a, b, c})
    with pytest.raises(CacheError, match="cache full"):
        cache.begin(c, 1000)
    cache.pin({a, c})
    store(cache, asset(2)[1])
    assert set(cache.held()) == {a, c}


def test_restart_rebuilds_the_index_in_use_order(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache = AssetCache(folder, 10_000)
    (a, data_a), (b, data_b), (c, data_c) = (asset(i) for i in range(3))
    for data in (data_a, data_b, data_c):
        store(cache, data)
    assert cache.get(a) == data_a  # most recently used now
    restarted = AssetCache(folder, 10_000)
    assert restarted.held() == (a, c, b)
    assert restarted.get(b) == data_b
    assert restarted.used_bytes == 3000

    smaller = AssetCache(folder, 2000)  # a smaller cap evicts at start
    assert smaller.held() == (b, a)


def test_corrupt_file_is_dropped_and_reported_missing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "cache"
    cache = AssetCache(folder, 10_000)
    sha, data = asset(1)
    path = store(cache, data)
    spoiled = bytearray(path.read_bytes())
    spoiled[500] ^= 0x01
    path.write_bytes(bytes(spoiled))

    restarted = AssetCache(folder, 10_000)
    assert restarted.held() == (sha,)  # not read at start: checked when loaded
    with caplog.at_level(logging.WARNING, logger="pi_satellite.cache"):
        assert restarted.get(sha) is None
    assert "corrupt" in caplog.text
    assert not path.exists()
    assert restarted.held() == ()
    store(restarted, data)  # Home Assistant sends it again
    assert restarted.get(sha) == data


def test_stray_temporary_files_are_cleaned(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    cache = AssetCache(folder, 10_000)
    sha, data = asset(1)
    store(cache, data)
    unfinished = cache.begin(asset(2)[0], 1000)
    unfinished.write(0, b"x" * 200)  # the satellite dies mid-transfer
    (folder / "notes.txt").write_text("the technician's file")
    assert len(files_in(folder)) == 3

    restarted = AssetCache(folder, 10_000)
    assert files_in(folder) == {sha.hex(), "notes.txt"}
    assert restarted.held() == (sha,)


def test_held_is_bounded_for_the_hello(tmp_path: Path) -> None:
    (tmp_path / "cache").mkdir()
    for seed in range(link.MAX_CACHE_ENTRIES + 3):
        data = seed.to_bytes(4, "big")
        (tmp_path / "cache" / hashlib.sha256(data).hexdigest()).write_bytes(data)
    restarted = AssetCache(tmp_path / "cache", 10**9)
    assert len(restarted.held()) == link.MAX_CACHE_ENTRIES
