"""Who this satellite is: its id, its pairing key and, with TLS on, its certificate.

All three are made on first use and kept in the state folder, so Home Assistant sees the
same satellite (same id, key and pinned certificate) across restarts and reinstalls of
the software.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
import os
import re
import secrets
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import link
from .config import SatelliteConfig

_LOGGER = logging.getLogger(__name__)

ID_FILE = "satellite_id"
KEY_FILE = "pairing.key"
CERT_FILE = "tls.crt"
CERT_KEY_FILE = "tls.key"
CERT_VALIDITY = datetime.timedelta(days=100 * 365)
_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")


class IdentityError(Exception):
    """The state folder holds something that cannot be this satellite's identity."""


@dataclass(frozen=True, slots=True)
class Identity:
    """The satellite's id and pairing key, plus its TLS certificate when TLS is on.

    `cert_fingerprint` is the SHA-256 of the DER certificate in lowercase hex without
    colons: what the `fp` TXT record carries and Home Assistant pins.
    """

    satellite_id: str
    key: bytes
    cert_path: Path | None = None
    cert_key_path: Path | None = None
    cert_fingerprint: str | None = None


def load_identity(config: SatelliteConfig) -> Identity:
    """Read the identity from the state folder, creating what is missing."""
    ensure_state_dir(config.state_dir)
    satellite_id = _load_satellite_id(config.state_dir / ID_FILE)
    key = _load_key(config)
    if not config.tls:
        return Identity(satellite_id, key)
    cert_path = config.state_dir / CERT_FILE
    cert_key_path = config.state_dir / CERT_KEY_FILE
    if not (cert_path.is_file() and cert_key_path.is_file()):
        _create_certificate(cert_path, cert_key_path, satellite_id, config.name)
    return Identity(satellite_id, key, cert_path, cert_key_path, certificate_fingerprint(cert_path))


def server_ssl_context(identity: Identity) -> ssl.SSLContext | None:
    """The TLS context the satellite's server listens with, or None when TLS is off."""
    if identity.cert_path is None or identity.cert_key_path is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(identity.cert_path, identity.cert_key_path)
    return context


def certificate_fingerprint(cert_path: Path) -> str:
    """SHA-256 of the certificate's DER encoding, as lowercase hex without colons."""
    # cryptography is large and only TLS satellites need it: load it here, not at start.
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        certificate = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError as err:
        raise IdentityError(f"{cert_path} is not a PEM certificate: {err}") from err
    der = certificate.public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def ensure_state_dir(state_dir: Path) -> None:
    """Create the state folder private to the satellite's user; leave an existing one be."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


def _load_satellite_id(path: Path) -> str:
    if path.exists():
        satellite_id = path.read_text(encoding="utf-8").strip()
        if not _ID_PATTERN.fullmatch(satellite_id):
            raise IdentityError(
                f"{path} holds {satellite_id!r}, not a satellite id "
                "(1-64 letters, digits, '.', '_' or '-'); delete it to get a new id"
            )
        return satellite_id
    satellite_id = "sat-" + secrets.token_hex(6)
    _write_atomically(path, satellite_id + "\n", 0o644)
    _LOGGER.info("New satellite id %s stored in %s", satellite_id, path)
    return satellite_id


def _load_key(config: SatelliteConfig) -> bytes:
    """The configured key, else the key file's, else one made now and stored 0600."""
    if config.key is not None:
        return config.key
    path = config.key_file if config.key_file is not None else config.state_dir / KEY_FILE
    if path.exists():
        try:
            key = link.parse_pairing_key(path.read_text(encoding="utf-8"))
        except ValueError as err:
            raise IdentityError(f"{path}: {err}") from err
        if path.stat().st_mode & 0o077:
            _LOGGER.warning("%s is readable by other users; chmod 600 it", path)
        return key
    key = link.generate_pairing_key()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_atomically(path, link.format_pairing_key(key) + "\n", 0o600)
    _LOGGER.info("New pairing key stored in %s", path)
    return key


def _create_certificate(cert_path: Path, key_path: Path, satellite_id: str, name: str) -> None:
    """A self-signed EC P-256 certificate; Home Assistant pins it, so no CA is involved."""
    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    private_key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, satellite_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"{satellite_id}.local")]), False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(private_key, hashes.SHA256())
    )
    key_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    _write_atomically(key_path, key_pem.decode(), 0o600)
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    _write_atomically(cert_path, cert_pem.decode(), 0o644)
    _LOGGER.info("New TLS certificate for %s stored in %s", satellite_id, cert_path)


def _write_atomically(path: Path, text: str, mode: int) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a key behind."""
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
