"""The one error type of maze-link, and the two cases a receiver treats differently."""

from __future__ import annotations


class ProtocolError(Exception):
    """A frame or message broke the protocol; the text says what was wrong.

    A receiver closes the connection that sent it, logs the text and carries on
    serving everything else.
    """


class UnknownMessageType(ProtocolError):
    """A well-formed frame of a type this side does not know.

    Newer peers may add message types, so a receiver ignores these rather than
    closing the connection.
    """

    def __init__(self, code: int) -> None:
        super().__init__(f"unknown message type 0x{code:02x}")
        self.code = code


class AuthenticationError(ProtocolError):
    """The peer does not hold the same pairing key (or replayed an old handshake)."""


class UnsupportedVersion(ProtocolError):
    """The peer speaks another major version of maze-link."""
