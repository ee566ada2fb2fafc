"""Turning encoded audio into float32 samples ready to mix, and PCM into Opus packets.

PyAV's bundled FFmpeg does all the work, so every container and codec it knows (WAV,
MP3, Ogg Vorbis, Opus, FLAC…) can be a cue's asset. Everything comes out as float32
stereo frames at the satellite's sample rate: the mixer never converts during a show.
Streams use Opus in 20 ms packets; FFmpeg's native `opus` decoder reads them and
`libopus` (bundled with PyAV's wheels) encodes them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final, Literal

import numpy as np

from .engine import Samples

if TYPE_CHECKING:
    import av
    from av.audio.codeccontext import AudioCodecContext

OPUS_RATE: Final = 48000
"""Opus always runs at 48 kHz internally; its packets are stamped in 48 kHz frames."""

OPUS_PACKET_FRAMES: Final = 960
"""One 20 ms Opus packet at 48 kHz."""

OPUS_DECODERS: Final = ("opus", "libopus")
"""FFmpeg's native decoder first: it hands out float samples directly."""

OPUS_ENCODERS: Final = ("libopus", "opus")
"""libopus first: FFmpeg's native encoder is experimental and lower quality."""


class AssetDecodeError(Exception):
    """An asset cannot be turned into sound; the text says why."""


class StreamDecodeError(Exception):
    """One stream packet cannot be decoded; the stream goes on without it."""


def decode_asset(data: bytes, sample_rate: int) -> Samples:
    """Decode a whole asset into float32 frames of shape (frames, 2) at `sample_rate`.

    Mono assets are copied to both channels at full level (FFmpeg's own upmix would lower
    them by 3 dB); assets with more than two channels are downmixed by FFmpeg.
    """
    import av  # noqa: PLC0415 - PyAV is large; a satellite at rest does without it
    import av.error  # noqa: PLC0415

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AssetDecodeError("the file holds no audio stream")
            stream = container.streams.audio[0]
            mono = stream.codec_context.layout.nb_channels == 1
            resampler = av.AudioResampler(
                format="fltp", layout="mono" if mono else "stereo", rate=sample_rate
            )
            planes = list(_resampled(container.decode(stream), resampler))
    except av.error.FFmpegError as err:
        raise AssetDecodeError(f"FFmpeg cannot decode it: {err.strerror}") from err
    if not planes:
        raise AssetDecodeError("the audio stream holds no samples")
    samples: Samples = np.concatenate(planes, axis=1)
    if mono:
        samples = np.concatenate([samples, samples])
    return np.ascontiguousarray(samples.T, dtype=np.float32)


def _resampled(frames: Iterable[av.AudioFrame], resampler: av.AudioResampler) -> Iterator[Samples]:
    """Planar (channels, frames) arrays of every frame, resampler flushed at the end."""
    for frame in frames:
        for out in resampler.resample(frame):
            yield _planes(out)
    for out in resampler.resample(None):
        yield _planes(out)


def _planes(frame: av.AudioFrame) -> Samples:
    """A planar float frame as a (channels, frames) array."""
    return np.asarray(frame.to_ndarray(), dtype=np.float32)


def _codec_context(names: tuple[str, ...], mode: Literal["r", "w"]) -> AudioCodecContext:
    """The first of the named audio codecs this FFmpeg build has."""
    import av  # noqa: PLC0415 - PyAV is large; a satellite at rest does without it
    import av.error  # noqa: PLC0415
    from av.audio.codeccontext import AudioCodecContext  # noqa: PLC0415

    for name in names:
        if name in av.codec.codecs_available:
            context = av.CodecContext.create(name, mode)
            if isinstance(context, AudioCodecContext):
                return context
    raise RuntimeError(f"PyAV's FFmpeg has none of the audio codecs {', '.join(names)}")


class OpusPacketDecoder:
    """Decodes one stream's Opus packets, in order, into float32 stereo frames.

    The decoder keeps state between packets, so feed it packets in playback order.
    Output is at `sample_rate`: resampled from 48 kHz when the satellite runs at another
    rate, in which case packet lengths vary by a frame or so.
    """

    def __init__(self, sample_rate: int, channels: int = 2) -> None:
        import av  # noqa: PLC0415 - PyAV is large; a satellite at rest does without it
        import av.error  # noqa: PLC0415

        if channels not in (1, 2):
            raise ValueError(f"Opus streams have 1 or 2 channels, not {channels}")
        self._context = _codec_context(OPUS_DECODERS, "r")
        self._context.sample_rate = OPUS_RATE
        self._context.layout = "mono" if channels == 1 else "stereo"
        self._resampler = av.AudioResampler(
            format="fltp", layout=self._context.layout.name, rate=sample_rate
        )
        self._mono = channels == 1

    def decode(self, payload: bytes) -> Samples:
        """One packet's samples, shape (frames, 2); mono streams play on both channels."""
        import av  # noqa: PLC0415 - PyAV is large; a satellite at rest does without it
        import av.error  # noqa: PLC0415

        try:
            decoded = self._context.decode(av.Packet(payload))
            planes = [_planes(out) for f in decoded for out in self._resampler.resample(f)]
        except av.error.FFmpegError as err:
            raise StreamDecodeError(f"bad Opus packet: {err.strerror}") from err
        if not planes:
            return np.zeros((0, 2), dtype=np.float32)
        samples: Samples = np.concatenate(planes, axis=1)
        if self._mono:
            samples = np.concatenate([samples, samples])
        return np.ascontiguousarray(samples.T, dtype=np.float32)


class OpusEncoder:
    """Turns float32 PCM at 48 kHz into 20 ms Opus packets stamped in 48 kHz frames.

    A packet's `pts` is where its first decoded sample belongs relative to the first
    input sample. The first packet's pts is negative (the encoder's look-ahead): a
    receiver placing packets by pts and dropping samples before 0 plays the input back
    sample-aligned.
    """

    def __init__(self, channels: int = 2, bitrate: int = 96000) -> None:
        if channels not in (1, 2):
            raise ValueError(f"Opus streams have 1 or 2 channels, not {channels}")
        self._context = _codec_context(OPUS_ENCODERS, "w")
        self._context.sample_rate = OPUS_RATE
        self._context.layout = "mono" if channels == 1 else "stereo"
        self._context.format = self._sample_format()
        self._context.bit_rate = bitrate
        self._context.options = {"frame_duration": "20", "strict": "experimental"}
        self._context.open()
        self._channels = channels
        self._pending: Samples = np.zeros((0, channels), dtype=np.float32)
        self._frames_in = 0

    def _sample_format(self) -> str:
        formats = [f.name for f in self._context.codec.audio_formats or ()]
        return "flt" if "flt" in formats else formats[0]

    @property
    def codec_name(self) -> str:
        """Which FFmpeg encoder does the work."""
        return str(self._context.codec.name)

    def encode(self, pcm: Samples) -> list[tuple[int, bytes]]:
        """Packets (pts, payload) completed by this PCM, shape (frames, channels)."""
        if pcm.ndim != 2 or pcm.shape[1] != self._channels:
            raise ValueError(f"expected PCM of shape (frames, {self._channels}), got {pcm.shape}")
        self._pending = np.concatenate([self._pending, pcm.astype(np.float32)])
        whole = len(self._pending) // OPUS_PACKET_FRAMES * OPUS_PACKET_FRAMES
        ready, self._pending = self._pending[:whole], self._pending[whole:]
        return [
            packet
            for start in range(0, whole, OPUS_PACKET_FRAMES)
            for packet in self._encode_frame(ready[start : start + OPUS_PACKET_FRAMES])
        ]

    def flush(self) -> list[tuple[int, bytes]]:
        """Encode what is left (padded with silence to a whole packet); the encoder is done."""
        packets: list[tuple[int, bytes]] = []
        if len(self._pending):
            padding = np.zeros((OPUS_PACKET_FRAMES - len(self._pending), self._channels))
            packets += self._encode_frame(np.concatenate([self._pending, padding]))
            self._pending = self._pending[:0]
        packets += self._packets(self._context.encode(None))
        return packets

    def _encode_frame(self, block: Samples) -> list[tuple[int, bytes]]:
        import av  # noqa: PLC0415 - PyAV is large; a satellite at rest does without it
        import av.error  # noqa: PLC0415

        fmt = self._context.format
        data = np.ascontiguousarray(block.T if fmt.is_planar else block.reshape(1, -1))
        frame = av.AudioFrame.from_ndarray(
            data.astype(np.float32), format=fmt.name, layout=self._context.layout.name
        )
        frame.sample_rate = OPUS_RATE
        frame.pts = self._frames_in
        self._frames_in += len(block)
        return self._packets(self._context.encode(frame))

    @staticmethod
    def _packets(packets: Iterable[av.Packet]) -> list[tuple[int, bytes]]:
        return [(int(p.pts or 0), bytes(p)) for p in packets]
