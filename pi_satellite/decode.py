"""Turning encoded audio (cue assets, stream packets) into float32 samples ready to mix.

PyAV's bundled FFmpeg does all the work, so every container and codec it knows (WAV,
MP3, Ogg Vorbis, Opus, FLAC…) can be a cue's asset. Everything comes out as float32
stereo frames at the satellite's sample rate: the mixer never converts during a show.
Streams are Opus in 20 ms packets (`link.opus`, where Home Assistant's encoder lives);
FFmpeg's native `opus` decoder reads them.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Final

import numpy as np

from .engine import Samples
from .link.opus import OPUS_RATE, opus_codec_context

if TYPE_CHECKING:
    import av

OPUS_DECODERS: Final = ("opus", "libopus")
"""FFmpeg's native decoder first: it hands out float samples directly."""


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
        self._context = opus_codec_context(OPUS_DECODERS, "r")
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
