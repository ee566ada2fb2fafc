"""Every maze-link v1 message, as a frozen dataclass whose fields carry their rules.

Times named `*_us` on the venue clock are Home Assistant's monotonic clock in
microseconds; `t1`/`t4` of time sync are the satellite's own clock. A satellite's
outputs are numbered 0..15 in its hello, and an output mask selects some of them.
docs/protocol.md is the specification these classes implement.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

from .fields import Blob, Choice, Flag, Int, Many, Nested, Real, Record, Text, rule, sint, uint

PROTOCOL_VERSION = 1
"""The protocol major version; peers with another major refuse the handshake."""

NONCE_BYTES = 32
DIGEST_BYTES = 32
MAX_OUTPUTS = 16
MAX_INPUTS = 64
MAX_CUES = 4096
MAX_CACHE_ENTRIES = 4096
MAX_ASSET_BYTES = 256 * 1024 * 1024
MAX_CHUNK_BYTES = 64 * 1024
MAX_AUDIO_FRAME_BYTES = 4000
MAX_BURST_FRAMES = 50
"""One second of 20 ms frames at most in one AUDIO_BURST."""
STREAM_FRAME_US = 20_000
"""Every v1 stream frame is 20 ms of sound (Opus at 48 kHz, 960 frames)."""
MAX_GAIN = 4.0
UNITY_GAIN_PERMILLE = 1000
ALL_OUTPUTS = 0xFFFF
MASTER_OUTPUT = 0xFF


class MessageType(IntEnum):
    """The first byte of every frame."""

    CLIENT_HELLO = 0x01
    CHALLENGE = 0x02
    AUTH = 0x03
    HELLO = 0x04
    TIME_REQUEST = 0x05
    TIME_RESPONSE = 0x06
    CUE_TABLE = 0x10
    ASSET_BEGIN = 0x11
    ASSET_CHUNK = 0x12
    ASSET_END = 0x13
    ASSET_RESULT = 0x14
    PLAY = 0x20
    STOP = 0x21
    VOLUME = 0x22
    STREAM_START = 0x23
    AUDIO_FRAME = 0x24
    STREAM_END = 0x25
    AUDIO_BURST = 0x26
    STATUS = 0x30
    STARTED = 0x31
    BUTTON_EVENT = 0x32
    ERROR = 0x3F


class PlayFlags(IntFlag):
    """Overrides a play trigger can carry; unknown bits are ignored by older satellites."""

    NONE = 0
    LOOP = 0x01
    NO_LOOP = 0x02


class StartKind(IntEnum):
    """What a started report is about."""

    CUE = 0
    STREAM = 1


class ButtonEventKind(IntEnum):
    """What a satellite input did."""

    PRESS = 1
    RELEASE = 2
    LONG_PRESS = 3
    DOUBLE_PRESS = 4


class ErrorCode(IntEnum):
    """Why a peer reports an error."""

    BAD_MESSAGE = 1
    AUTH_FAILED = 2
    UNSUPPORTED_VERSION = 3
    UNKNOWN_CUE = 4
    ASSET_CORRUPT = 5
    NOT_SYNCHRONISED = 6
    CACHE_FULL = 7
    INTERNAL = 8


_ID = Text(64, 1)
_NAME = Text(64)
_SHA256 = Blob(DIGEST_BYTES, DIGEST_BYTES)
_VENUE_US = uint(64)
_LOCAL_US = sint(64)
_MASK = uint(16)
_SEQ = uint(32)
_CUE = uint(16)
_ASSET_OFFSET = Int(0, MAX_ASSET_BYTES - 1)


# --- nested records -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutputInfo(Record):
    """One logical speaker of a satellite: a sound device and the channels it drives."""

    index: int = rule(uint(4))
    name: str = rule(_NAME)
    channels: str = rule(Text(8, 1))
    latency_us: int = rule(uint(32))


@dataclass(frozen=True, slots=True)
class InputInfo(Record):
    """One physical input (a button or switch) of a satellite."""

    index: int = rule(uint(6))
    name: str = rule(_NAME)


@dataclass(frozen=True, slots=True)
class CueEntry(Record):
    """One preloaded cue: which asset, how loud, looped or not, on which bus."""

    cue_id: int = rule(_CUE)
    sha256: bytes = rule(_SHA256)
    name: str = rule(_NAME)
    gain: float = rule(Real(0.0, MAX_GAIN))
    loop: bool = rule(Flag())
    bus: str = rule(Text(16, 1))
    priority: int = rule(uint(8))


@dataclass(frozen=True, slots=True)
class PlayingCue(Record):
    """A cue a satellite is playing now."""

    seq: int = rule(_SEQ)
    cue_id: int = rule(_CUE)
    output_mask: int = rule(_MASK)
    loop: bool = rule(Flag())
    """Whether it loops: a one-shot ends on its own, a loop plays until it is stopped."""


# --- handshake ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientHello(Record):
    """Home Assistant opens the handshake with its protocol version and a fresh nonce."""

    proto: int = rule(uint(8))
    nonce: bytes = rule(Blob(NONCE_BYTES, NONCE_BYTES))
    client_name: str = rule(_NAME)


@dataclass(frozen=True, slots=True)
class Challenge(Record):
    """The satellite proves it holds the key and sends its own fresh nonce."""

    proto: int = rule(uint(8))
    nonce: bytes = rule(Blob(NONCE_BYTES, NONCE_BYTES))
    satellite_id: str = rule(_ID)
    proof: bytes = rule(Blob(DIGEST_BYTES, DIGEST_BYTES))


@dataclass(frozen=True, slots=True)
class Auth(Record):
    """Home Assistant proves it holds the key."""

    proof: bytes = rule(Blob(DIGEST_BYTES, DIGEST_BYTES))


@dataclass(frozen=True, slots=True)
class Hello(Record):
    """The satellite, once authenticated: who it is, what it has, what it holds cached."""

    satellite_id: str = rule(_ID)
    name: str = rule(_NAME)
    version: str = rule(Text(32))
    sample_rate: int = rule(uint(32))
    outputs: tuple[OutputInfo, ...] = rule(Many(Nested(OutputInfo), MAX_OUTPUTS))
    inputs: tuple[InputInfo, ...] = rule(Many(Nested(InputInfo), MAX_INPUTS))
    cached: tuple[bytes, ...] = rule(Many(_SHA256, MAX_CACHE_ENTRIES))


# --- venue clock ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimeRequest(Record):
    """The satellite asks for the venue time; t1 is its own clock at sending."""

    seq: int = rule(_SEQ)
    t1: int = rule(_LOCAL_US)


@dataclass(frozen=True, slots=True)
class TimeResponse(Record):
    """Home Assistant answers with t2 (received) and t3 (sent) on the venue clock."""

    seq: int = rule(_SEQ)
    t1: int = rule(_LOCAL_US)
    t2: int = rule(_VENUE_US)
    t3: int = rule(_VENUE_US)


# --- preloading -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CueTable(Record):
    """The whole cue table; it replaces the satellite's previous one."""

    cues: tuple[CueEntry, ...] = rule(Many(Nested(CueEntry), MAX_CUES))


@dataclass(frozen=True, slots=True)
class AssetBegin(Record):
    """An asset transfer starts: its hash, size and container format."""

    sha256: bytes = rule(_SHA256)
    size: int = rule(_ASSET_OFFSET)
    format: str = rule(Text(16, 1))
    name: str = rule(Text(128))


@dataclass(frozen=True, slots=True)
class AssetChunk(Record):
    """A piece of an asset at a byte offset."""

    sha256: bytes = rule(_SHA256)
    offset: int = rule(_ASSET_OFFSET)
    data: bytes = rule(Blob(1, MAX_CHUNK_BYTES))


@dataclass(frozen=True, slots=True)
class AssetEnd(Record):
    """All chunks are sent; the satellite verifies the hash and stores the asset."""

    sha256: bytes = rule(_SHA256)


@dataclass(frozen=True, slots=True)
class AssetResult(Record):
    """The satellite stored an asset, or says why not."""

    sha256: bytes = rule(_SHA256)
    ok: bool = rule(Flag())
    reason: str = rule(Text(256))


# --- playback -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Play(Record):
    """Start a preloaded cue at a venue time: the fixed 20-byte trigger."""

    cue_id: int = rule(_CUE)
    seq: int = rule(_SEQ)
    start_us: int = rule(_VENUE_US)
    output_mask: int = rule(_MASK)
    gain_permille: int = rule(uint(16))
    flags: int = rule(uint(8))


@dataclass(frozen=True, slots=True)
class Stop(Record):
    """Stop one cue (or every cue when cue_id is 0) on some outputs, with a fade."""

    seq: int = rule(_SEQ)
    at_us: int = rule(_VENUE_US)
    cue_id: int = rule(_CUE)
    output_mask: int = rule(_MASK)
    fade_ms: int = rule(uint(16))


@dataclass(frozen=True, slots=True)
class Volume(Record):
    """Set one output's volume and mute (output MASTER_OUTPUT is the whole satellite)."""

    output: int = rule(uint(8))
    volume: float = rule(Real(0.0, 1.0))
    muted: bool = rule(Flag())


@dataclass(frozen=True, slots=True)
class StreamStart(Record):
    """A stream of timestamped frames follows; it plays from start_us.

    A stream of a higher priority ducks lower buses, as a cue does (announcements).
    If the stream runs dry before its StreamEnd (its source failed or the link dropped),
    the satellite fades it out and plays `fallback_cue` there, unless that is 0.
    """

    stream_id: int = rule(uint(16))
    codec: str = rule(Text(16, 1))
    sample_rate: int = rule(uint(32))
    channels: int = rule(uint(2))
    start_us: int = rule(_VENUE_US)
    output_mask: int = rule(_MASK)
    gain_permille: int = rule(uint(16))
    bus: str = rule(Text(16, 1))
    priority: int = rule(uint(8))
    fallback_cue: int = rule(uint(16))


@dataclass(frozen=True, slots=True)
class AudioFrame(Record):
    """One encoded frame of a stream, to be heard at pts_us on the venue clock."""

    stream_id: int = rule(uint(16))
    seq: int = rule(_SEQ)
    pts_us: int = rule(_VENUE_US)
    payload: bytes = rule(Blob(1, MAX_AUDIO_FRAME_BYTES))


@dataclass(frozen=True, slots=True)
class AudioBurst(Record):
    """Consecutive frames of a stream: the first heard at pts_us, each next one 20 ms later.

    Home Assistant sends a stream in bursts of a fifth of a second, so a satellite gets
    five messages a second rather than fifty: less work on both sides and on the network.
    """

    stream_id: int = rule(uint(16))
    seq: int = rule(_SEQ)
    pts_us: int = rule(_VENUE_US)
    frames: tuple[bytes, ...] = rule(Many(Blob(1, MAX_AUDIO_FRAME_BYTES), MAX_BURST_FRAMES))


@dataclass(frozen=True, slots=True)
class StreamEnd(Record):
    """The stream ends at at_us (after its last frame), fading over fade_ms."""

    stream_id: int = rule(uint(16))
    at_us: int = rule(_VENUE_US)
    fade_ms: int = rule(uint(16))


# --- satellite reports ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status(Record):
    """What the satellite knows of its sync and what it plays."""

    synchronised: bool = rule(Flag())
    sync_error_us: int = rule(uint(32))
    rtt_us: int = rule(uint(32))
    buffer_ms: int = rule(uint(16))
    underruns: int = rule(uint(32))
    late_frames: int = rule(uint(32))
    playing: tuple[PlayingCue, ...] = rule(Many(Nested(PlayingCue), 256))
    streams: tuple[int, ...] = rule(Many(uint(16), 64))


@dataclass(frozen=True, slots=True)
class Started(Record):
    """A cue or stream started: when it was asked to and when its first sample played."""

    kind: StartKind = rule(Choice(StartKind))
    ref_id: int = rule(uint(16))
    seq: int = rule(_SEQ)
    scheduled_us: int = rule(_VENUE_US)
    actual_us: int = rule(_VENUE_US)


@dataclass(frozen=True, slots=True)
class ButtonEvent(Record):
    """A satellite input was pressed, released, long pressed or double pressed."""

    input_index: int = rule(uint(6))
    event: ButtonEventKind = rule(Choice(ButtonEventKind))
    seq: int = rule(_SEQ)
    at_us: int = rule(_VENUE_US)


@dataclass(frozen=True, slots=True)
class Error(Record):
    """Something went wrong on the peer; ref_seq names the message it is about, or 0."""

    code: ErrorCode = rule(Choice(ErrorCode))
    message: str = rule(Text(512))
    ref_seq: int = rule(_SEQ)


Message = (
    ClientHello
    | Challenge
    | Auth
    | Hello
    | TimeRequest
    | TimeResponse
    | CueTable
    | AssetBegin
    | AssetChunk
    | AssetEnd
    | AssetResult
    | Play
    | Stop
    | Volume
    | StreamStart
    | AudioFrame
    | AudioBurst
    | StreamEnd
    | Status
    | Started
    | ButtonEvent
    | Error
)

MESSAGE_CLASSES: dict[MessageType, type[Message]] = {
    MessageType.CLIENT_HELLO: ClientHello,
    MessageType.CHALLENGE: Challenge,
    MessageType.AUTH: Auth,
    MessageType.HELLO: Hello,
    MessageType.TIME_REQUEST: TimeRequest,
    MessageType.TIME_RESPONSE: TimeResponse,
    MessageType.CUE_TABLE: CueTable,
    MessageType.ASSET_BEGIN: AssetBegin,
    MessageType.ASSET_CHUNK: AssetChunk,
    MessageType.ASSET_END: AssetEnd,
    MessageType.ASSET_RESULT: AssetResult,
    MessageType.PLAY: Play,
    MessageType.STOP: Stop,
    MessageType.VOLUME: Volume,
    MessageType.STREAM_START: StreamStart,
    MessageType.AUDIO_FRAME: AudioFrame,
    MessageType.AUDIO_BURST: AudioBurst,
    MessageType.STREAM_END: StreamEnd,
    MessageType.STATUS: Status,
    MessageType.STARTED: Started,
    MessageType.BUTTON_EVENT: ButtonEvent,
    MessageType.ERROR: Error,
}
MESSAGE_TYPES: dict[type[Message], MessageType] = {cls: t for t, cls in MESSAGE_CLASSES.items()}
