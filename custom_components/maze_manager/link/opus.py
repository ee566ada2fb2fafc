"""Stream audio on the wire: Opus in 20 ms packets at 48 kHz, stamped in 48 kHz frames.

Home Assistant encodes each stream once per bitrate in use; tests and benchmarks encode
with the same class. PyAV (whose wheels bundle libopus) and numpy are imported when an
encoder is made, so the protocol itself still needs only msgpack.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, Literal

if TYPE_CHECKING:
    import av
    import numpy as np
    from av.audio.codeccontext import AudioCodecContext
    from numpy.typing import NDArray

OPUS_RATE: Final = 48000
"""Opus always runs at 48 kHz internally; its packets are stamped in 48 kHz frames."""

OPUS_PACKET_FRAMES: Final = 960
"""One 20 ms Opus packet at 48 kHz."""

OPUS_PACKET_US: Final = 20_000

OPUS_ENCODERS: Final = ("libopus", "opus")
"""libopus first: FFmpeg's native encoder is experimental and lower quality."""


def opus_codec_context(names: tuple[str, ...], mode: Literal["r", "w"]) -> AudioCodecContext:
    """The first of the named audio codecs this FFmpeg build has."""
    import av  # noqa: PLC0415 - PyAV is large; only stream code needs it
    from av.audio.codeccontext import AudioCodecContext  # noqa: PLC0415

    for name in names:
        if name in av.codec.codecs_available:
            context = av.CodecContext.create(name, mode)
            if isinstance(context, AudioCodecContext):
                return context
    raise RuntimeError(f"PyAV's FFmpeg has none of the audio codecs {', '.join(names)}")


class OpusEncoder:
    """Turns float32 PCM at 48 kHz into 20 ms Opus packets stamped in 48 kHz frames.

    A packet's `pts` is where its first decoded sample belongs relative to the first
    input sample. The first packet's pts is negative (the encoder's look-ahead): a
    receiver placing packets by pts and dropping samples before 0 plays the input back
    sample-aligned.
    """

    def __init__(self, channels: int = 2, bitrate: int = 96000) -> None:
        import numpy as np  # noqa: PLC0415

        if channels not in (1, 2):
            raise ValueError(f"Opus streams have 1 or 2 channels, not {channels}")
        self._context = opus_codec_context(OPUS_ENCODERS, "w")
        self._context.sample_rate = OPUS_RATE
        self._context.layout = "mono" if channels == 1 else "stereo"
        self._context.format = self._sample_format()
        self._context.bit_rate = bitrate
        self._context.options = {"frame_duration": "20", "strict": "experimental"}
        self._context.open()
        self.bitrate = bitrate
        self._channels = channels
        self._pending: NDArray[np.float32] = np.zeros((0, channels), dtype=np.float32)
        self._frames_in = 0

    def _sample_format(self) -> str:
        formats = [f.name for f in self._context.codec.audio_formats or ()]
        return "flt" if "flt" in formats else formats[0]

    @property
    def codec_name(self) -> str:
        """Which FFmpeg encoder does the work."""
        return str(self._context.codec.name)

    def encode(self, pcm: NDArray[np.float32]) -> list[tuple[int, bytes]]:
        """Packets (pts, payload) completed by this PCM, shape (frames, channels)."""
        import numpy as np  # noqa: PLC0415

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
        import numpy as np  # noqa: PLC0415

        packets: list[tuple[int, bytes]] = []
        if len(self._pending):
            padding = np.zeros((OPUS_PACKET_FRAMES - len(self._pending), self._channels))
            packets += self._encode_frame(np.concatenate([self._pending, padding]))
            self._pending = self._pending[:0]
        packets += self._packets(self._context.encode(None))
        return packets

    def _encode_frame(self, block: NDArray[np.float32]) -> list[tuple[int, bytes]]:
        import av  # noqa: PLC0415
        import numpy as np  # noqa: PLC0415

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
