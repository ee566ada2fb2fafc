"""Round trips, size limits and malformed input for every maze-link message."""

from __future__ import annotations

import contextlib
import re
import struct
from typing import Any

import msgpack
import pytest
from hypothesis import given, settings, strategies as st

from pi_satellite import link
from pi_satellite.link.fields import (
    Blob,
    Choice,
    Flag,
    Int,
    Many,
    Nested,
    Real,
    Rule,
    Text,
    record_rules,
    record_to_wire,
)
from pi_satellite.link.messages import MESSAGE_CLASSES, MessageType


def strategy_for(kind: Rule) -> st.SearchStrategy[Any]:
    """Valid Python values for a field rule."""
    if isinstance(kind, Int):
        return st.integers(kind.low, kind.high)
    if isinstance(kind, Real):
        return st.floats(kind.low, kind.high, allow_nan=False, allow_infinity=False)
    if isinstance(kind, Flag):
        return st.booleans()
    if isinstance(kind, Blob):
        return st.binary(min_size=kind.min_len, max_size=min(kind.max_len, 256))
    if isinstance(kind, Text):
        return st.text(min_size=kind.min_len, max_size=min(kind.max_len, 40))
    if isinstance(kind, Choice):
        return st.sampled_from(list(kind.enum))
    if isinstance(kind, Many):
        return st.lists(strategy_for(kind.item), max_size=min(kind.max_len, 4)).map(tuple)
    if isinstance(kind, Nested):
        return record_strategy(kind.record)
    raise AssertionError(f"no strategy for {kind!r}")


def record_strategy(record: type[Any]) -> st.SearchStrategy[Any]:
    fields = {name: strategy_for(kind) for name, kind in record_rules(record)}
    return st.fixed_dictionaries(fields).map(lambda values: record(**values))


ANY_MESSAGE = st.one_of([record_strategy(cls) for cls in MESSAGE_CLASSES.values()])


@settings(max_examples=600)
@given(ANY_MESSAGE)
def test_every_message_round_trips(message: Any) -> None:
    frame = link.encode(message)
    assert len(frame) <= link.MAX_FRAME_BYTES
    assert link.decode(frame) == message


@given(st.sampled_from(list(MessageType)), st.data())
def test_each_type_has_a_class_and_its_first_byte(
    message_type: MessageType, data: st.DataObject
) -> None:
    message = data.draw(record_strategy(MESSAGE_CLASSES[message_type]))
    assert link.encode(message)[0] == message_type


def test_play_trigger_is_twenty_bytes_at_the_largest_values() -> None:
    biggest = link.Play(
        cue_id=0xFFFF,
        seq=0xFFFFFFFF,
        start_us=(1 << 64) - 1,
        output_mask=0xFFFF,
        gain_permille=0xFFFF,
        flags=0xFF,
    )
    frame = link.encode(biggest)
    assert len(frame) == link.PLAY_FRAME_BYTES == 20
    assert len(frame) <= 24
    assert link.decode(frame) == biggest


def test_audio_frame_header_is_fixed() -> None:
    frame = link.encode(link.AudioFrame(stream_id=7, seq=9, pts_us=10, payload=b"\x01\x02\x03"))
    assert len(frame) == link.AUDIO_HEADER_BYTES + 3
    assert frame[-3:] == b"\x01\x02\x03"


def test_largest_asset_chunk_fits_in_a_frame() -> None:
    chunk = link.AssetChunk(sha256=b"\x00" * 32, offset=0, data=b"\xaa" * link.MAX_CHUNK_BYTES)
    assert link.decode(link.encode(chunk)) == chunk


@pytest.mark.parametrize(
    ("build", "problem"),
    [
        (lambda: link.Play(70000, 1, 1, 1, 1000, 0), "cue_id: 70000 is outside 0..65535"),
        (lambda: link.Play(1, -1, 1, 1, 1000, 0), "seq: -1 is outside"),
        (lambda: link.Play(True, 1, 1, 1, 1000, 0), "cue_id: expected an integer, got bool"),
        (lambda: link.Volume(0, float("nan"), False), "volume: nan is outside"),
        (lambda: link.Volume(0, 1.5, False), "volume: 1.5 is outside"),
        (lambda: link.Volume(0, 0.5, 1), "muted: expected true or false, got int"),
        (lambda: link.Auth(b"short"), "proof: 5 bytes, expected 32..32"),
        (lambda: link.ClientHello(1, b"n" * 32, "x" * 65), "client_name: 65 characters"),
        (lambda: link.CueTable(cues=("not a cue",)), "cues[0]: expected a CueEntry record"),
        (
            lambda: link.Status(True, 0, 0, 0, 0, 0, (), tuple(range(65))),
            "streams: 65 items, at most 64 allowed",
        ),
    ],
)
def test_building_a_bad_message_names_the_field(build: Any, problem: str) -> None:
    with pytest.raises(link.ProtocolError, match=re.escape(problem)):
        build()


def _frame(message_type: MessageType, body: Any) -> bytes:
    return bytes((message_type,)) + msgpack.packb(body, use_bin_type=True)


@pytest.mark.parametrize(
    ("frame", "problem"),
    [
        (b"", "empty frame"),
        (b"\x20" + b"\x00" * 18, "Play: 19 bytes, expected 20"),
        (b"\x20" + b"\x00" * 20, "Play: 21 bytes, expected 20"),
        (b"\x24" + b"\x00" * 13, r"AudioFrame: 14 bytes, expected 15\+"),
        (b"\x24" + b"\x00" * 14, r"AudioFrame\.payload: 0 bytes, expected 1\.\.4000"),
        (_frame(MessageType.AUTH, {"proof": b"x" * 32}), "Auth: body must be a list"),
        (_frame(MessageType.AUTH, []), "Auth: 0 fields, Auth needs 1"),
        (_frame(MessageType.AUTH, ["x" * 32]), r"Auth\.proof: expected bytes, got str"),
        (_frame(MessageType.VOLUME, [300, 0.5, False]), r"Volume\.output: 300 is outside"),
        (
            _frame(MessageType.ERROR, [99, "boom", 0]),
            r"Error\.code: 99 is not a known ErrorCode",
        ),
        (
            _frame(MessageType.CUE_TABLE, [[[1, b"x" * 32, "n", 9.0, False, "fx", 1]]]),
            r"CueTable\.cues\[0\]\.gain: 9\.0 is outside",
        ),
        (bytes((MessageType.AUTH,)) + b"\xc1", "Auth: body is not valid msgpack"),
        (_frame(MessageType.AUTH, [b"x" * 32]) + b"\x00", "Auth: body is not valid msgpack"),
        (b"\x12" + b"\x00" * (link.MAX_FRAME_BYTES + 1), "exceeds the"),
    ],
)
def test_decoding_a_bad_frame_says_what_is_wrong(frame: bytes, problem: str) -> None:
    with pytest.raises(link.ProtocolError, match=problem) as caught:
        link.decode(frame)
    assert not isinstance(caught.value, link.UnknownMessageType)


def test_unknown_type_is_reported_as_unknown_not_corrupt() -> None:
    with pytest.raises(link.UnknownMessageType) as caught:
        link.decode(b"\x7e\x93\x01\x02\x03")
    assert caught.value.code == 0x7E


def test_a_newer_peer_may_append_fields() -> None:
    frame = _frame(MessageType.VOLUME, [2, 0.25, True, "a field from maze-link 1.1"])
    assert link.decode(frame) == link.Volume(output=2, volume=0.25, muted=True)


def test_unknown_play_flags_are_carried_for_the_satellite_to_ignore() -> None:
    frame = b"\x20" + struct.pack("<HIQHHB", 1, 2, 3, 4, 5, 0x80)
    assert link.decode(frame).flags == 0x80


@settings(max_examples=2000)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise_anything_but_protocol_errors(data: bytes) -> None:
    with contextlib.suppress(link.ProtocolError):
        link.decode(data)


@settings(max_examples=1000)
@given(ANY_MESSAGE, st.data())
def test_truncated_frames_raise_protocol_errors(message: Any, data: st.DataObject) -> None:
    frame = link.encode(message)
    cut = data.draw(st.integers(0, len(frame) - 1))
    try:
        decoded = link.decode(frame[:cut])
    except link.ProtocolError:
        return
    # Only an audio frame (whose payload is the rest of the frame) survives a cut.
    assert isinstance(message, link.AudioFrame)
    assert decoded.payload == message.payload[: len(decoded.payload)]


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(1 << 63), (1 << 64) - 1)
    | st.floats()
    | st.text(max_size=20)
    | st.binary(max_size=40),
    lambda children: (
        st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=2000)
@given(st.sampled_from(list(MessageType)), msgpack_values)
def test_wrongly_typed_bodies_raise_protocol_errors(message_type: MessageType, body: Any) -> None:
    with contextlib.suppress(link.ProtocolError):
        link.decode(_frame(message_type, body))


@settings(max_examples=500)
@given(ANY_MESSAGE, st.data())
def test_a_flipped_field_type_is_a_protocol_error(message: Any, data: st.DataObject) -> None:
    message_type = link.MESSAGE_TYPES[type(message)]
    if message_type in (MessageType.PLAY, MessageType.AUDIO_FRAME):
        return
    fields = record_to_wire(message)
    index = data.draw(st.integers(0, len(fields) - 1))
    fields[index] = {"not": "a field"}
    with pytest.raises(link.ProtocolError):
        link.decode(_frame(message_type, fields))
