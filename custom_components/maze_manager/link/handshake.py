"""Pairing keys and the mutual HMAC-SHA256 handshake.

Each side sends a fresh random nonce and proves it holds the pairing key by an HMAC
over both nonces and the satellite's id, with a different label per direction. The
key never crosses the wire, and a recorded handshake cannot be replayed: the other
side's fresh nonce makes every old proof worthless.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string

from .errors import AuthenticationError, ProtocolError, UnsupportedVersion
from .messages import NONCE_BYTES, PROTOCOL_VERSION, Auth, Challenge, ClientHello

KEY_BYTES = 32
_SATELLITE_LABEL = b"maze-link/1 satellite proof\x00"
_CONTROLLER_LABEL = b"maze-link/1 controller proof\x00"


def generate_pairing_key() -> bytes:
    """A new random pairing key."""
    return secrets.token_bytes(KEY_BYTES)


def format_pairing_key(key: bytes) -> str:
    """The key as people type it: 64 hex digits in groups of eight."""
    text = key.hex()
    return "-".join(text[i : i + 8] for i in range(0, len(text), 8))


def parse_pairing_key(text: str) -> bytes:
    """Read a typed or pasted key; spaces, dashes and case do not matter."""
    digits = "".join(ch for ch in text.strip().lower() if ch not in " -:\t")
    if len(digits) != 2 * KEY_BYTES or any(ch not in string.hexdigits for ch in digits):
        raise ValueError(
            f"a pairing key is {2 * KEY_BYTES} hexadecimal digits, got {len(digits)} characters"
        )
    return bytes.fromhex(digits)


def _proof(label: bytes, key: bytes, client_nonce: bytes, server_nonce: bytes, sid: str) -> bytes:
    transcript = label + client_nonce + server_nonce + sid.encode()
    return hmac.new(key, transcript, hashlib.sha256).digest()


def _check_key(key: bytes) -> bytes:
    if len(key) != KEY_BYTES:
        raise ValueError(f"a pairing key is {KEY_BYTES} bytes, got {len(key)}")
    return key


class ControllerHandshake:
    """Home Assistant's side: opens, checks the satellite's proof, then proves itself."""

    def __init__(self, key: bytes, client_name: str, nonce: bytes | None = None) -> None:
        self._key = _check_key(key)
        self._nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_BYTES)
        self._client_name = client_name
        self.satellite_id: str | None = None

    def hello(self) -> ClientHello:
        """The first message to send."""
        return ClientHello(PROTOCOL_VERSION, self._nonce, self._client_name)

    def answer(self, challenge: Challenge) -> Auth:
        """Check the satellite's challenge and return the proof to send back."""
        if challenge.proto != PROTOCOL_VERSION:
            raise UnsupportedVersion(
                f"satellite speaks maze-link {challenge.proto}, this side {PROTOCOL_VERSION}"
            )
        expected = _proof(
            _SATELLITE_LABEL, self._key, self._nonce, challenge.nonce, challenge.satellite_id
        )
        if not hmac.compare_digest(expected, challenge.proof):
            raise AuthenticationError("the satellite does not hold this pairing key")
        self.satellite_id = challenge.satellite_id
        proof = _proof(
            _CONTROLLER_LABEL, self._key, self._nonce, challenge.nonce, challenge.satellite_id
        )
        return Auth(proof)


class SatelliteHandshake:
    """The satellite's side: answers the hello with a challenge, then checks the proof."""

    def __init__(self, key: bytes, satellite_id: str, nonce: bytes | None = None) -> None:
        self._key = _check_key(key)
        self._satellite_id = satellite_id
        self._nonce = nonce if nonce is not None else secrets.token_bytes(NONCE_BYTES)
        self._client_nonce: bytes | None = None

    def challenge(self, hello: ClientHello) -> Challenge:
        """Answer Home Assistant's hello."""
        if hello.proto != PROTOCOL_VERSION:
            raise UnsupportedVersion(
                f"controller speaks maze-link {hello.proto}, this satellite {PROTOCOL_VERSION}"
            )
        if self._client_nonce is not None:
            raise ProtocolError("a handshake takes one hello")
        self._client_nonce = hello.nonce
        proof = _proof(_SATELLITE_LABEL, self._key, hello.nonce, self._nonce, self._satellite_id)
        return Challenge(PROTOCOL_VERSION, self._nonce, self._satellite_id, proof)

    def verify(self, auth: Auth) -> None:
        """Accept Home Assistant's proof, or raise AuthenticationError."""
        if self._client_nonce is None:
            raise ProtocolError("auth came before hello")
        expected = _proof(
            _CONTROLLER_LABEL, self._key, self._client_nonce, self._nonce, self._satellite_id
        )
        if not hmac.compare_digest(expected, auth.proof):
            raise AuthenticationError("the controller does not hold this pairing key")
