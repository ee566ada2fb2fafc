"""Frames on the wire: one type byte, then the body.

Most bodies are a msgpack array of the message's fields in order. The two hot-path
messages, the play trigger and the audio frame, have a fixed little-endian layout
instead, so a trigger is always 20 bytes and a frame header always 15, and neither
needs a msgpack parse on the satellite.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import msgpack

from .errors import ProtocolError, UnknownMessageType
from .fields import check_record, record_to_wire, record_values
from .messages import (
    MAX_CHUNK_BYTES,
    MESSAGE_CLASSES,
    MESSAGE_TYPES,
    Message,
    MessageType,
)

MAX_FRAME_BYTES: Final = MAX_CHUNK_BYTES + 1024
"""No frame may be larger: the biggest message is an asset chunk plus its header."""

_PLAY_LAYOUT: Final = struct.Struct("<HIQHHB")
_AUDIO_HEADER: Final = struct.Struct("<HIQ")
_FIXED: Final[dict[MessageType, tuple[struct.Struct, bool]]] = {
    MessageType.PLAY: (_PLAY_LAYOUT, False),
    MessageType.AUDIO_FRAME: (_AUDIO_HEADER, True),
}
"""Type -> (layout of the leading fields, whether the rest of the frame is a last bytes field)."""

PLAY_FRAME_BYTES: Final = 1 + _PLAY_LAYOUT.size
AUDIO_HEADER_BYTES: Final = 1 + _AUDIO_HEADER.size


def encode(message: Message) -> bytes:
    """Encode a message (already checked when it was built) into one frame."""
    message_type = MESSAGE_TYPES[type(message)]
    fixed = _FIXED.get(message_type)
    if fixed is not None:
        layout, has_tail = fixed
        values = record_values(message)
        if has_tail:
            tail: bytes = values[-1]
            return bytes((message_type,)) + layout.pack(*values[:-1]) + tail
        return bytes((message_type,)) + layout.pack(*values)
    body: bytes = msgpack.packb(record_to_wire(message), use_bin_type=True)
    return bytes((message_type,)) + body


def decode(frame: bytes | bytearray | memoryview) -> Message:
    """Decode one frame, checking every field.

    Raises UnknownMessageType for a type this side does not know (ignore it) and
    ProtocolError, naming the problem, for anything else that is wrong.
    """
    if not isinstance(frame, bytes | bytearray | memoryview):
        raise ProtocolError(f"a frame must be bytes, not {type(frame).__name__}")
    data = bytes(frame)
    if not data:
        raise ProtocolError("empty frame")
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(data)} bytes exceeds the {MAX_FRAME_BYTES} limit")
    try:
        message_type = MessageType(data[0])
    except ValueError:
        raise UnknownMessageType(data[0]) from None
    record = MESSAGE_CLASSES[message_type]
    name = record.__name__
    fixed = _FIXED.get(message_type)
    values = _fixed_values(data, name, *fixed) if fixed else _msgpack_values(data, name)
    message: Message = check_record(record, values, name)
    return message


def _fixed_values(data: bytes, name: str, layout: struct.Struct, has_tail: bool) -> list[Any]:
    end = 1 + layout.size
    if len(data) < end or (not has_tail and len(data) != end):
        raise ProtocolError(f"{name}: {len(data)} bytes, expected {end}{'+' if has_tail else ''}")
    values: list[Any] = list(layout.unpack_from(data, 1))
    if has_tail:
        values.append(data[end:])
    return values


def _msgpack_values(data: bytes, name: str) -> list[Any]:
    try:
        body = msgpack.unpackb(
            data[1:],
            raw=False,
            use_list=True,
            strict_map_key=True,
        )
    except (ValueError, TypeError, OverflowError, msgpack.UnpackException) as err:
        reason = str(err) or type(err).__name__
        raise ProtocolError(f"{name}: body is not valid msgpack ({reason})") from None
    if not isinstance(body, list):
        raise ProtocolError(f"{name}: body must be a list of fields, got {type(body).__name__}")
    return body
