"""The satellite's identity: stable id, private pairing key, self-signed TLS certificate."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import ssl
import stat
from pathlib import Path

import pytest

from pi_satellite import link
from pi_satellite.config import CacheConfig, DeviceConfig, OutputConfig, SatelliteConfig
from pi_satellite.identity import (
    IdentityError,
    load_identity,
    server_ssl_context,
)

KEY = bytes(range(32))


def make_config(state_dir: Path, **changes: object) -> SatelliteConfig:
    config = SatelliteConfig(
        name="Crypt",
        state_dir=state_dir,
        cache=CacheConfig(state_dir / "cache"),
        devices=(DeviceConfig("card", "null"),),
        outputs=(OutputConfig(0, "Crypt", "card"),),
    )
    return dataclasses.replace(config, **changes)  # type: ignore[arg-type]


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_id_is_generated_once_and_stable(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = load_identity(make_config(state))
    second = load_identity(make_config(state))
    assert re.fullmatch(r"sat-[0-9a-f]{12}", first.satellite_id)
    assert second.satellite_id == first.satellite_id
    assert (state / "satellite_id").read_text().strip() == first.satellite_id
    other = load_identity(make_config(tmp_path / "other"))
    assert other.satellite_id != first.satellite_id


def test_generated_key_is_private_and_kept(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = load_identity(make_config(state))
    key_file = state / "pairing.key"
    assert mode_of(state) == 0o700
    assert mode_of(key_file) == 0o600
    assert len(first.key) == link.KEY_BYTES
    assert link.parse_pairing_key(key_file.read_text()) == first.key
    assert load_identity(make_config(state)).key == first.key
    assert not list(state.glob(".*.tmp"))  # no temporary files left behind


def test_configured_key_wins(tmp_path: Path) -> None:
    state = tmp_path / "state"
    load_identity(make_config(state))  # a generated key already on disk
    identity = load_identity(make_config(state, key=KEY))
    assert identity.key == KEY


def test_key_file_is_read_or_created(tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "venue.key"
    key_file.parent.mkdir()
    key_file.write_text(link.format_pairing_key(KEY).upper() + "\n")
    identity = load_identity(make_config(tmp_path / "state", key_file=key_file))
    assert identity.key == KEY
    assert not (tmp_path / "state" / "pairing.key").exists()

    fresh = tmp_path / "keys" / "new.key"
    created = load_identity(make_config(tmp_path / "state", key_file=fresh))
    assert mode_of(fresh) == 0o600
    assert link.parse_pairing_key(fresh.read_text()) == created.key


def test_unreadable_state_is_reported(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "satellite_id").write_text("not an id!\n")
    with pytest.raises(IdentityError, match="not a satellite id"):
        load_identity(make_config(state))
    (state / "satellite_id").unlink()
    (state / "pairing.key").write_text("12345\n")
    with pytest.raises(IdentityError, match=r"pairing\.key"):
        load_identity(make_config(state))


def test_no_tls_means_no_certificate(tmp_path: Path) -> None:
    identity = load_identity(make_config(tmp_path / "state"))
    assert identity.cert_fingerprint is None
    assert server_ssl_context(identity) is None
    assert not (tmp_path / "state" / "tls.crt").exists()


def test_tls_certificate_made_once_with_its_fingerprint(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = load_identity(make_config(state, tls=True))
    assert first.cert_path == state / "tls.crt"
    assert first.cert_key_path == state / "tls.key"
    assert mode_of(state / "tls.key") == 0o600
    pem = (state / "tls.crt").read_text()
    der = ssl.PEM_cert_to_DER_cert(pem)
    assert first.cert_fingerprint == hashlib.sha256(der).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", first.cert_fingerprint or "")

    second = load_identity(make_config(state, tls=True))
    assert second.cert_fingerprint == first.cert_fingerprint
    assert (state / "tls.crt").read_text() == pem


async def test_ssl_context_serves_the_pinned_certificate(tmp_path: Path) -> None:
    identity = load_identity(make_config(tmp_path / "state", tls=True))
    server_context = server_ssl_context(identity)
    assert server_context is not None

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    client_context = ssl.create_default_context()
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE  # the fingerprint is the trust anchor
    async with server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context)
        ssl_object = writer.get_extra_info("ssl_object")
        peer_der = ssl_object.getpeercert(binary_form=True)
        writer.write(b"boo\n")
        assert await reader.readline() == b"boo\n"
        writer.close()
    assert hashlib.sha256(peer_der).hexdigest() == identity.cert_fingerprint
