"""Streams: Opus packets through the jitter buffer, in order, with late packets and gaps."""

from __future__ import annotations

import numpy as np

from pi_satellite.decode import OpusPacketDecoder
from pi_satellite.engine import Samples
from pi_satellite.link.opus import OPUS_PACKET_FRAMES, OpusEncoder
from pi_satellite.streams import JitterBuffer, StreamReader

RATE = 48000
BLOCK = 240
TOLERANCE = 96
FADE = 120
GRACE = 12000

Packets = list[tuple[int, bytes]]


def sine(seconds: float, frequency: float = 440.0) -> Samples:
    t = np.arange(round(seconds * RATE)) / RATE
    wave = (0.5 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.stack([wave, wave], axis=1)


def chirp(seconds: float) -> Samples:
    """A sweep from 200 Hz to 2 kHz: any packet out of place would show."""
    t = np.arange(round(seconds * RATE)) / RATE
    phase = 2 * np.pi * (200 * t + (1800 / (2 * seconds)) * t**2)
    wave = (0.5 * np.sin(phase)).astype(np.float32)
    return np.stack([wave, -wave], axis=1)


def encode(pcm: Samples) -> Packets:
    encoder = OpusEncoder()
    return encoder.encode(pcm) + encoder.flush()


def stream(capacity: int = 1500) -> tuple[JitterBuffer, StreamReader]:
    buffer = JitterBuffer(
        packet_frames=OPUS_PACKET_FRAMES, tolerance=TOLERANCE, grace=GRACE, capacity=capacity
    )
    reader = StreamReader(buffer, OpusPacketDecoder(RATE), fade=FADE, tolerance=TOLERANCE)
    return buffer, reader


def read_all(reader: StreamReader) -> Samples:
    blocks = []
    while True:
        block = reader.read(BLOCK)
        blocks.append(block)
        if len(block) < BLOCK:
            return np.concatenate(blocks)


def decoded_in_order(packets: Packets) -> Samples:
    """What a perfect network delivers: every packet decoded in order, look-ahead dropped."""
    decoder = OpusPacketDecoder(RATE)
    decoded = np.concatenate([decoder.decode(payload) for _, payload in packets])
    return decoded[-packets[0][0] :]


def test_packets_pushed_out_of_order_play_in_timeline_order() -> None:
    source = chirp(0.5)
    packets = encode(source)
    buffer, reader = stream()
    for index in np.random.default_rng(7).permutation(len(packets)):
        assert buffer.push(*packets[index])
    buffer.close(None)
    out = read_all(reader)
    np.testing.assert_array_equal(out, decoded_in_order(packets))
    assert np.corrcoef(out[: len(source), 0], source[:, 0])[0, 1] > 0.98
    assert np.corrcoef(out[: len(source), 1], source[:, 1])[0, 1] > 0.98
    assert reader.underruns == 0
    assert buffer.late_frames == 0


def test_packets_arriving_with_jitter_while_playing_lose_nothing() -> None:
    source = chirp(1.0)
    packets = encode(source)
    rng = np.random.default_rng(3)
    arrivals = sorted(
        (pts - 1200 + int(rng.integers(0, 700)), pts, payload) for pts, payload in packets
    )
    buffer, reader = stream()
    blocks, position = [], 0
    while position < len(source):
        while arrivals and arrivals[0][0] <= position:
            _, pts, payload = arrivals.pop(0)
            assert buffer.push(pts, payload)
        blocks.append(reader.read(BLOCK))
        position += BLOCK
    out = np.concatenate(blocks)[: len(source)]
    np.testing.assert_array_equal(out, decoded_in_order(packets)[: len(source)])
    assert reader.underruns == 0


def test_a_packet_whose_moment_has_passed_is_dropped_and_counted() -> None:
    packets = encode(sine(0.3))
    buffer, reader = stream()
    for index, packet in enumerate(packets[:10]):
        if index != 3:
            buffer.push(*packet)
    reader.read(5 * OPUS_PACKET_FRAMES)
    assert reader.underruns == 1, "packet 3 was missing when its turn came"
    assert not buffer.push(*packets[3])
    assert not buffer.push(*packets[1])
    assert buffer.late_frames == 2
    assert buffer.push(*packets[12])


def test_a_missing_packet_becomes_silence_faded_at_both_edges() -> None:
    packets = encode(sine(0.5))
    missing = 10
    buffer, reader = stream()
    for index, packet in enumerate(packets):
        if index != missing:
            buffer.push(*packet)
    buffer.close(None)
    out = read_all(reader)
    assert reader.underruns == 1
    gap_start = packets[missing][0]
    gap = out[gap_start : gap_start + OPUS_PACKET_FRAMES]
    assert np.all(gap == 0.0)
    assert np.max(np.abs(out[gap_start - 400 : gap_start - FADE])) > 0.4, "sound up to the fade"
    assert np.max(np.abs(np.diff(out, axis=0))) < 0.05, "no click: a hard edge would jump ~0.5"


def test_the_edges_really_need_the_fades() -> None:
    """The same gap cut hard would click: the threshold above is meaningful."""
    decoded = decoded_in_order(encode(sine(0.5)))
    cut = decoded.copy()
    cut[9600 : 9600 + OPUS_PACKET_FRAMES] = 0.0
    assert np.max(np.abs(np.diff(cut, axis=0))) > 0.2


def test_a_corrupt_packet_plays_as_silence() -> None:
    packets = encode(sine(0.2))
    buffer, reader = stream()
    for index, (pts, payload) in enumerate(packets):
        buffer.push(pts, b"\xff\xfe\x00garbage" if index == 4 else payload)
    buffer.close(None)
    out = read_all(reader)
    assert reader.underruns == 1
    start = packets[4][0]
    assert np.all(out[start : start + OPUS_PACKET_FRAMES] == 0.0)


def test_a_stream_closed_at_an_offset_ends_there_without_underruns() -> None:
    packets = encode(sine(0.4))
    buffer, reader = stream()
    for packet in packets:
        buffer.push(*packet)
    buffer.close(3000)
    out = read_all(reader)
    assert len(out) == 3000
    np.testing.assert_array_equal(out, decoded_in_order(packets)[:3000])
    assert reader.underruns == 0


def test_buffered_frames_reach_to_the_last_packet_and_capacity_is_enforced() -> None:
    packets = encode(sine(0.2))
    buffer, reader = stream(capacity=5)
    for packet in packets[:5]:
        assert buffer.push(*packet)
    assert buffer.buffered_frames() == packets[4][0] + OPUS_PACKET_FRAMES
    assert not buffer.push(*packets[5])
    assert buffer.late_frames == 1
    reader.read(BLOCK)
    assert buffer.buffered_frames() == packets[4][0] - packets[0][0]


def test_a_stream_whose_packets_stop_fades_then_runs_dry_after_the_grace() -> None:
    packets = encode(sine(1.0))
    kept = 20
    buffer, reader = stream()
    for packet in packets[:kept]:
        buffer.push(*packet)
    out = read_all(reader)
    stop = packets[kept - 1][0] + OPUS_PACKET_FRAMES
    assert reader.ran_dry
    assert len(out) == stop + GRACE, "silence for exactly the grace, then the end"
    np.testing.assert_array_equal(out[: stop - FADE], decoded_in_order(packets)[: stop - FADE])
    assert np.all(out[stop:] == 0.0)
    assert np.max(np.abs(np.diff(out, axis=0))) < 0.05, "faded out, no click"
    assert reader.underruns == -(-GRACE // OPUS_PACKET_FRAMES)


def test_a_packet_arriving_within_the_grace_carries_on() -> None:
    packets = encode(sine(1.0))
    buffer, reader = stream()
    for packet in packets[:10]:
        buffer.push(*packet)
    first = reader.read(packets[9][0] + OPUS_PACKET_FRAMES + GRACE // 2)
    for packet in packets[10 + GRACE // 2 // OPUS_PACKET_FRAMES + 1 :]:
        buffer.push(*packet)
    buffer.close(None)
    rest = read_all(reader)
    assert not reader.ran_dry
    assert len(first) + len(rest) == len(decoded_in_order(packets))


def test_an_abandoned_stream_plays_what_it_holds_and_fades_out_at_its_end() -> None:
    packets = encode(sine(1.0))
    buffer, reader = stream()
    for packet in packets[:15]:
        buffer.push(*packet)
    buffer.abandon()
    out = read_all(reader)
    stop = packets[14][0] + OPUS_PACKET_FRAMES
    assert reader.ran_dry
    assert len(out) == stop, "it ends where its sound stops, with no grace to wait for"
    np.testing.assert_array_equal(out[: stop - FADE], decoded_in_order(packets)[: stop - FADE])
    np.testing.assert_allclose(out[-1], 0.0, atol=1e-6)
    assert np.max(np.abs(np.diff(out, axis=0))) < 0.05, "faded out, no click"
    assert reader.underruns == 0


def test_a_stream_that_was_ended_never_runs_dry() -> None:
    packets = encode(sine(0.4))
    for end in (None, packets[-1][0] + OPUS_PACKET_FRAMES + 2 * GRACE):
        buffer, reader = stream()
        for packet in packets[:8]:
            buffer.push(*packet)
        buffer.close(end)
        buffer.abandon()
        out = read_all(reader)
        assert not reader.ran_dry
        assert len(out) == (packets[7][0] + OPUS_PACKET_FRAMES if end is None else end)
