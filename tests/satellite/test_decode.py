"""Decoding assets of any format into mix-ready samples, and the Opus packet codec of streams."""

from __future__ import annotations

import io
import wave

import av
import numpy as np
import pytest
from av.audio.stream import AudioStream

from pi_satellite.decode import (
    AssetDecodeError,
    OpusPacketDecoder,
    StreamDecodeError,
    decode_asset,
)
from pi_satellite.engine import Samples
from pi_satellite.link.opus import OPUS_PACKET_FRAMES, OpusEncoder

RATE = 48000
SOURCE_RATE = 44100


def tone(frequency: float, seconds: float, rate: int, level: float = 0.5) -> Samples:
    t = np.arange(round(seconds * rate)) / rate
    return (level * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def wav_bytes(channels: list[Samples], rate: int) -> bytes:
    pcm = np.stack(channels, axis=1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(pcm * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def encoded_bytes(container: str, codec: str, stereo: Samples, rate: int) -> bytes:
    """A file made by PyAV, as a user's MP3 or Ogg asset would be."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as output:
        stream = output.add_stream(codec, rate=rate, layout="stereo")
        assert isinstance(stream, AudioStream)
        formats = stream.codec_context.codec.audio_formats or []
        fmt = next(f for f in formats if f.name.startswith("flt"))
        stream.codec_context.format = fmt
        for start in range(0, len(stereo), 1152):
            block = np.ascontiguousarray(stereo[start : start + 1152])
            data = block.T if fmt.is_planar else block.reshape(1, -1)
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(data), format=fmt.name, layout="stereo"
            )
            frame.sample_rate = rate
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def dominant_frequency(signal: Samples, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


def test_a_stereo_wav_at_44k1_comes_out_at_48k_with_its_content() -> None:
    left, right = tone(440, 1.0, SOURCE_RATE), tone(660, 1.0, SOURCE_RATE, level=0.25)
    samples = decode_asset(wav_bytes([left, right], SOURCE_RATE), RATE)
    assert samples.dtype == np.float32
    assert samples.shape == (RATE, 2)
    assert dominant_frequency(samples[:, 0], RATE) == pytest.approx(440, abs=1)
    assert dominant_frequency(samples[:, 1], RATE) == pytest.approx(660, abs=1)
    middle = samples[1000:-1000]
    assert np.max(np.abs(middle[:, 0])) == pytest.approx(0.5, abs=0.01)
    assert np.max(np.abs(middle[:, 1])) == pytest.approx(0.25, abs=0.01)
    expected = tone(440, 1.0, RATE)[1000:-1000]
    assert np.corrcoef(middle[:, 0], expected)[0, 1] > 0.99


def test_a_mono_asset_plays_on_both_channels_at_full_level() -> None:
    samples = decode_asset(wav_bytes([tone(440, 0.5, RATE)], RATE), RATE)
    np.testing.assert_array_equal(samples[:, 0], samples[:, 1])
    np.testing.assert_allclose(samples[:, 0], tone(440, 0.5, RATE), atol=1e-4)


@pytest.mark.parametrize(
    ("container", "codec", "rate"),
    [("mp3", "mp3", SOURCE_RATE), ("ogg", "libvorbis", SOURCE_RATE), ("ogg", "libopus", RATE)],
)
def test_compressed_assets_decode_to_the_satellite_rate(
    container: str, codec: str, rate: int
) -> None:
    source = tone(440, 1.0, rate)
    data = encoded_bytes(container, codec, np.stack([source, source], axis=1), rate)
    samples = decode_asset(data, RATE)
    assert abs(len(samples) - RATE) <= RATE * 0.02, "length within the codec's padding"
    assert dominant_frequency(samples[:, 0], RATE) == pytest.approx(440, abs=2)
    assert np.max(np.abs(samples)) == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize("data", [b"", b"not audio at all " * 64, bytes(range(256)) * 16])
def test_garbage_is_refused_with_a_reason(data: bytes) -> None:
    with pytest.raises(AssetDecodeError, match=r"FFmpeg cannot decode it: \w+"):
        decode_asset(data, RATE)


def test_an_empty_audio_stream_is_refused() -> None:
    with pytest.raises(AssetDecodeError, match="no samples"):
        decode_asset(wav_bytes([np.zeros(0, dtype=np.float32)], RATE), RATE)


def test_pyav_bundles_opus_both_ways() -> None:
    assert {"libopus", "opus"} <= set(av.codec.codecs_available)
    assert OpusEncoder().codec_name == "libopus"


def test_opus_packets_are_20_ms_stamped_so_playback_lines_up_with_the_input() -> None:
    source = tone(440, 1.0, RATE)
    stereo = np.stack([source, 0.5 * source], axis=1)
    encoder = OpusEncoder()
    packets = encoder.encode(stereo[:1000]) + encoder.encode(stereo[1000:]) + encoder.flush()
    stamps = [pts for pts, _ in packets]
    assert stamps[0] < 0, "the encoder's look-ahead comes first"
    assert set(np.diff(stamps)) == {OPUS_PACKET_FRAMES}
    assert all(0 < len(payload) <= 4000 for _, payload in packets)

    decoder = OpusPacketDecoder(RATE)
    decoded = np.concatenate([decoder.decode(payload) for _, payload in packets])
    aligned = decoded[-stamps[0] :][: len(stereo)]
    assert np.corrcoef(aligned[:, 0], stereo[:, 0])[0, 1] > 0.99
    assert np.corrcoef(aligned[:, 1], stereo[:, 1])[0, 1] > 0.99
    assert np.std(aligned[:, 1]) == pytest.approx(0.5 * np.std(aligned[:, 0]), rel=0.05)


def test_a_mono_stream_is_decoded_onto_both_channels() -> None:
    source = tone(440, 0.2, RATE)[:, np.newaxis]
    encoder = OpusEncoder(channels=1)
    packets = encoder.encode(source) + encoder.flush()
    decoder = OpusPacketDecoder(RATE, channels=1)
    decoded = np.concatenate([decoder.decode(payload) for _, payload in packets])
    np.testing.assert_array_equal(decoded[:, 0], decoded[:, 1])
    assert np.max(np.abs(decoded)) == pytest.approx(0.5, abs=0.05)


def test_packets_are_resampled_for_a_satellite_at_44k1() -> None:
    encoder = OpusEncoder()
    source = tone(440, 0.5, RATE)
    packets = encoder.encode(np.stack([source, source], axis=1)) + encoder.flush()
    decoder = OpusPacketDecoder(SOURCE_RATE)
    lengths = [len(decoder.decode(payload)) for _, payload in packets]
    assert set(lengths[1:]) == {882}, "20 ms at 44.1 kHz"
    assert abs(sum(lengths) - len(packets) * 882) <= 32


def test_a_corrupt_packet_raises_stream_decode_error() -> None:
    with pytest.raises(StreamDecodeError, match="bad Opus packet"):
        OpusPacketDecoder(RATE).decode(b"\xff\xfe\x00garbage")
