"""The mixer, checked sample by sample: mixing, limiting, ducking, loops, fades, routing, volume."""

from __future__ import annotations

import numpy as np
import pytest

from pi_satellite.engine import (
    CLIP_THRESHOLD,
    DUCK_GAIN,
    CueSource,
    Fallback,
    GainRamp,
    Mixer,
    Route,
    Samples,
    VoiceChange,
    VoiceEvent,
    VoiceTag,
    channel_indices,
    fade_frames,
    frames_of_ms,
    soft_clip,
)
from pi_satellite.link import StartKind

RATE = 48000
BLOCK = 240
LOCAL_AT_FRAME_0 = 7_000_000
"""The local clock reads 7 s when device frame 0 is heard."""


def ms(duration: float) -> int:
    return frames_of_ms(duration, RATE)


def local_at(frame: int) -> int:
    return LOCAL_AT_FRAME_0 + round(frame * 1_000_000 / RATE)


def make_mixer(
    routes: tuple[Route, ...] = (Route(0, (0, 1)),), events: list[VoiceEvent] | None = None
) -> Mixer:
    sink = events if events is not None else []
    return Mixer(channels=2, routes=routes, sample_rate=RATE, on_events=sink.extend)


def render(mixer: Mixer, frames: int, start: int = 0) -> Samples:
    """Render whole blocks from `start`, as an output would, and join them."""
    blocks = [
        mixer.render(frame, local_at(frame), BLOCK) for frame in range(start, start + frames, BLOCK)
    ]
    return np.concatenate(blocks)


def tag(ref_id: int = 1, *, output: int = 0, bus: str = "fx", serial: int = 1) -> VoiceTag:
    return VoiceTag(StartKind.CUE, ref_id, serial, serial, output, bus, None, False)


def constant(level: float, frames: int) -> Samples:
    return np.full((frames, 2), level, dtype=np.float32)


def noise(frames: int, seed: int = 1, level: float = 0.2) -> Samples:
    return (level * np.random.default_rng(seed).uniform(-1, 1, (frames, 2))).astype(np.float32)


def play(
    mixer: Mixer,
    pcm: Samples,
    *,
    at_frame: int | None = 0,
    loop: bool = False,
    gain: float = 1.0,
    priority: int = 0,
    voice: VoiceTag | None = None,
) -> None:
    mixer.add(
        voice or tag(),
        CueSource(pcm, loop=loop),
        gain=gain,
        priority=priority,
        at_local_us=None if at_frame is None else local_at(at_frame),
    )


def test_a_cue_starts_on_the_frame_its_local_time_maps_to() -> None:
    events: list[VoiceEvent] = []
    mixer = make_mixer(events=events)
    pcm = constant(0.5, 100)
    mixer.add(
        tag(), CueSource(pcm, loop=False), gain=1.0, priority=0, at_local_us=local_at(0) + 12_345
    )
    out = render(mixer, 1200)
    expected = round(12_345 * RATE / 1_000_000)  # 592.56 µs-frames -> 593
    assert np.flatnonzero(out[:, 0])[0] == expected == 593
    assert np.all(out[expected : expected + 100] == 0.5)
    assert np.all(out[expected + 100 :] == 0.0)
    assert events[0].change is VoiceChange.START
    assert events[0].frame == expected
    assert abs(events[0].local_us - (LOCAL_AT_FRAME_0 + 12_345)) <= 1_000_000 / RATE
    assert events[1].change is VoiceChange.END
    assert events[1].frame == expected + 100


def test_a_start_already_past_begins_at_once_and_says_when() -> None:
    events: list[VoiceEvent] = []
    mixer = make_mixer(events=events)
    render(mixer, 960)
    play(mixer, constant(0.5, 480), at_frame=100)
    out = render(mixer, 960, start=960)
    assert np.flatnonzero(out[:, 0])[0] == 0
    assert events[0].frame == 960
    assert events[0].local_us == local_at(960)


def test_two_cues_sum_sample_for_sample() -> None:
    mixer = make_mixer()
    first, second = noise(2000, seed=1), noise(2000, seed=2)
    play(mixer, first, voice=tag(1))
    play(mixer, second, voice=tag(2, serial=2), gain=0.5)
    out = render(mixer, 2400)
    np.testing.assert_allclose(out[:2000], first + 0.5 * second, atol=1e-6)
    assert np.all(out[2000:] == 0.0)


def test_the_same_cue_played_twice_plays_twice() -> None:
    mixer = make_mixer()
    pcm = noise(1000)
    play(mixer, pcm, voice=tag(1, serial=1))
    play(mixer, pcm, voice=tag(1, serial=2), at_frame=500)
    out = render(mixer, 1680)
    np.testing.assert_allclose(out[:500], pcm[:500], atol=1e-6)
    np.testing.assert_allclose(out[500:1000], pcm[500:] + pcm[:500], atol=1e-6)
    np.testing.assert_allclose(out[1000:1500], pcm[500:], atol=1e-6)


def test_a_loud_mix_is_bent_below_full_scale_not_clipped_or_wrapped() -> None:
    mixer = make_mixer()
    ramp = np.linspace(-1.0, 1.0, 4800, dtype=np.float32)
    pcm = np.stack([ramp, ramp], axis=1)
    for serial in (1, 2, 3):
        play(mixer, pcm, voice=tag(serial, serial=serial))
    out = render(mixer, 4800)[:, 0]
    summed = 3 * ramp
    assert np.max(np.abs(out)) <= 1.0
    assert np.max(np.abs(out)) > 0.99
    assert np.all(np.diff(out) >= 0.0), "louder input never comes out quieter (no wrap-around)"
    quiet = np.abs(summed) <= CLIP_THRESHOLD
    np.testing.assert_allclose(out[quiet], summed[quiet], atol=1e-6)
    assert np.all(np.sign(out) == np.sign(summed))


def test_soft_clip_joins_the_signal_smoothly() -> None:
    level = np.linspace(0.0, 3.0, 30001, dtype=np.float32)
    block = np.stack([level, -level], axis=1)
    soft_clip(block)
    assert np.max(np.abs(block)) <= 1.0
    slope = np.diff(block[:, 0]) / np.diff(level)
    assert np.all(slope <= 1.0 + 1e-3)
    assert np.all(slope >= 0.0)
    np.testing.assert_array_equal(block[:, 1], -block[:, 0])


def test_a_higher_priority_cue_ducks_the_ambient_bus_smoothly_and_it_comes_back() -> None:
    events: list[VoiceEvent] = []
    mixer = make_mixer(events=events)
    play(mixer, constant(0.5, 1000), loop=True, voice=tag(1, bus="ambient"), priority=0)
    # A silent effect: whatever the output holds is the ambient bus alone.
    fx_frames = 24000
    play(mixer, constant(0.0, fx_frames), at_frame=4800, voice=tag(2, serial=2), priority=10)
    out = render(mixer, 4800 + fx_frames + 24000)[:, 0]
    fx_end = 4800 + fx_frames
    assert np.all(out[:4800] == 0.5)
    ducked = 0.5 * DUCK_GAIN
    falling = out[4800 : 4800 + ms(50)]
    assert falling[0] < 0.5
    assert np.all(np.diff(falling) <= 0.0)
    np.testing.assert_allclose(out[4800 + ms(50) : fx_end], ducked, atol=1e-6)
    rising = out[fx_end : fx_end + ms(300)]
    assert np.all(np.diff(rising) >= 0.0)
    np.testing.assert_allclose(out[fx_end + ms(300) :], 0.5, atol=1e-6)
    step_limit = 0.5 / ms(50) * 1.01
    assert np.max(np.abs(np.diff(out))) <= step_limit, "the duck never jumps: no click"
    assert [e.frame for e in events if e.tag.ref_id == 2] == [4800, fx_end]


def test_a_bus_does_not_duck_itself_or_a_higher_one() -> None:
    mixer = make_mixer()
    play(mixer, constant(0.25, 4800), voice=tag(1, bus="fx"), priority=10)
    play(mixer, constant(0.25, 4800), voice=tag(2, bus="fx", serial=2), priority=5)
    play(mixer, constant(0.0, 4800), voice=tag(3, bus="ambient", serial=3), priority=0)
    out = render(mixer, 4800)
    np.testing.assert_allclose(out, 0.5, atol=1e-6)


def test_a_loop_wraps_sample_exactly() -> None:
    pcm = noise(1001)
    mixer = make_mixer()
    play(mixer, pcm, loop=True, at_frame=37)
    out = render(mixer, 9600)
    expected = np.tile(pcm, (10, 1))[: 9600 - 37]
    np.testing.assert_array_equal(out[37:], expected)
    assert np.all(out[:37] == 0.0)


def test_a_loop_shorter_than_a_block_still_wraps_exactly() -> None:
    pcm = noise(100)
    mixer = make_mixer()
    play(mixer, pcm, loop=True)
    np.testing.assert_array_equal(render(mixer, 960), np.tile(pcm, (10, 1))[:960])


def test_stop_fades_linearly_over_the_requested_frames_then_silence() -> None:
    events: list[VoiceEvent] = []
    mixer = make_mixer(events=events)
    play(mixer, constant(0.5, 1000), loop=True)
    render(mixer, 2400)
    stop_frame, fade = 2400 + 1000, ms(20)
    mixer.stop(lambda t: t.ref_id == 1, at_local_us=local_at(stop_frame), fade_ms=20)
    out = render(mixer, 4800, start=2400)[:, 0]
    before, during, after = out[:1000], out[1000 : 1000 + fade], out[1000 + fade :]
    assert np.all(before == 0.5)
    np.testing.assert_allclose(during, 0.5 * (1 - np.arange(fade) / fade), atol=1e-6)
    assert np.all(after == 0.0)
    assert events[-1].change is VoiceChange.STOP
    assert events[-1].frame == stop_frame + fade
    assert mixer.idle()


def test_an_instant_stop_still_fades_briefly() -> None:
    mixer = make_mixer()
    play(mixer, constant(0.5, 1000), loop=True)
    render(mixer, 480)
    mixer.stop(lambda t: True, at_local_us=None, fade_ms=0)
    out = render(mixer, 960, start=480)[:, 0]
    assert fade_frames(0, RATE) == ms(5) == 240
    assert np.max(np.abs(np.diff(out))) <= 0.5 / 240 * 1.01
    assert np.all(out[240:] == 0.0)


def test_a_stop_before_the_start_cancels_the_voice() -> None:
    events: list[VoiceEvent] = []
    mixer = make_mixer(events=events)
    play(mixer, constant(0.5, 1000), at_frame=2000)
    mixer.stop(lambda t: True, at_local_us=local_at(1000), fade_ms=10)
    out = render(mixer, 4800)
    assert np.all(out == 0.0)
    assert [e.change for e in events] == [VoiceChange.CANCEL]


def test_cancel_pending_spares_what_already_plays() -> None:
    mixer = make_mixer()
    play(mixer, constant(0.25, 4800), voice=tag(1, serial=1))
    play(mixer, constant(0.5, 4800), voice=tag(2, serial=2), at_frame=2400)
    render(mixer, 480)
    mixer.cancel_pending(lambda t: True)
    out = render(mixer, 4320, start=480)
    assert np.all(out == 0.25)


def test_channel_routing_left_right_and_both() -> None:
    routes = (
        Route(0, channel_indices("left", 2)),
        Route(1, channel_indices("right", 2)),
        Route(2, channel_indices("both", 2)),
    )
    mixer = make_mixer(routes)
    stereo = np.stack([np.full(2000, 0.2), np.full(2000, 0.4)], axis=1).astype(np.float32)
    play(mixer, stereo, voice=tag(1, output=0, serial=1))
    out = render(mixer, 2400)
    np.testing.assert_allclose(out[:2000, 0], 0.3, atol=1e-6)  # (L + R) / 2
    assert np.all(out[:, 1] == 0.0)

    mixer = make_mixer(routes)
    play(mixer, stereo, voice=tag(1, output=1, serial=1))
    out = render(mixer, 2400)
    assert np.all(out[:, 0] == 0.0)
    np.testing.assert_allclose(out[:2000, 1], 0.3, atol=1e-6)

    mixer = make_mixer(routes)
    play(mixer, stereo, voice=tag(1, output=2, serial=1))
    out = render(mixer, 2400)
    np.testing.assert_allclose(out[:2000], stereo, atol=1e-6)


def test_one_stereo_device_serves_two_rooms_at_once() -> None:
    mixer = make_mixer((Route(0, (0,)), Route(1, (1,))))
    left, right = noise(2400, seed=3), noise(2400, seed=4)
    play(mixer, left, voice=tag(1, output=0, serial=1))
    play(mixer, right, voice=tag(2, output=1, serial=2))
    out = render(mixer, 2400)
    np.testing.assert_allclose(out[:, 0], left.mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(out[:, 1], right.mean(axis=1), atol=1e-6)


def test_channel_indices_refuses_a_missing_channel() -> None:
    assert channel_indices("both", 1) == (0,)
    with pytest.raises(ValueError, match="no right channel"):
        channel_indices("right", 1)


def test_output_and_master_volume_and_mute_scale_samples() -> None:
    mixer = make_mixer((Route(0, (0,)), Route(1, (1,))))
    play(mixer, constant(0.5, 1000), loop=True, voice=tag(1, output=0, serial=1))
    play(mixer, constant(0.5, 1000), loop=True, voice=tag(2, output=1, serial=2))
    settle = ms(10)

    def level_after_change() -> tuple[Samples, Samples]:
        out = render(mixer, 2400)
        return out[:settle], out[settle:]

    mixer.set_volume(0, 0.5, muted=False)
    ramp, settled = level_after_change()
    np.testing.assert_allclose(settled, [[0.25, 0.5]] * len(settled), atol=1e-6)
    assert np.all(np.diff(ramp[:, 0]) <= 0.0)
    assert np.max(np.abs(np.diff(ramp[:, 0]))) <= 0.5 / settle * 1.01

    mixer.set_volume(None, 0.5, muted=False)
    _, settled = level_after_change()
    np.testing.assert_allclose(settled, [[0.125, 0.25]] * len(settled), atol=1e-6)

    mixer.set_volume(1, 0.5, muted=True)
    _, settled = level_after_change()
    np.testing.assert_allclose(settled, [[0.125, 0.0]] * len(settled), atol=1e-6)

    mixer.set_volume(None, 1.0, muted=True)
    _, settled = level_after_change()
    assert np.all(settled == 0.0)

    mixer.set_volume(None, 1.0, muted=False)
    mixer.set_volume(1, 1.0, muted=False)
    _, settled = level_after_change()
    np.testing.assert_allclose(settled, [[0.25, 0.5]] * len(settled), atol=1e-6)


def test_gain_ramp_moves_at_its_rate_and_holds_still_at_the_target() -> None:
    ramp = GainRamp(1.0, rise_frames=100, fall_frames=50)
    assert ramp.block(10) == 1.0
    ramp.target = 0.0
    falling = ramp.block(60)
    assert isinstance(falling, np.ndarray)
    np.testing.assert_allclose(falling[:50], 1.0 - np.arange(1, 51) / 50, atol=1e-6)
    assert np.all(falling[50:] == 0.0)
    assert ramp.block(10) == 0.0


def test_an_idle_mixer_hands_out_silence_and_says_so() -> None:
    mixer = make_mixer()
    assert mixer.idle()
    assert np.all(render(mixer, 480) == 0.0)
    play(mixer, constant(0.5, 240))
    assert not mixer.idle(), "a queued command is work"
    render(mixer, 480)
    assert mixer.idle()


class DrySource:
    """A stream-like source that runs dry after `frames` frames of its samples."""

    def __init__(self, pcm: Samples) -> None:
        self._cue = CueSource(pcm, loop=False)
        self.ran_dry = False

    def read(self, frames: int) -> Samples:
        samples = self._cue.read(frames)
        self.ran_dry = len(samples) < frames
        return samples


def test_a_voice_that_runs_dry_hands_over_to_its_fallback_on_the_same_frame() -> None:
    events: list[VoiceEvent] = []
    mixer = make_mixer(events=events)
    stream_tag = tag(1, bus="announce", serial=1)
    fallback_tag = tag(9, bus="fx", serial=2)
    mixer.add(
        stream_tag,
        DrySource(constant(0.5, 1000)),
        gain=1.0,
        priority=255,
        at_local_us=local_at(100),
        fallback=Fallback(fallback_tag, CueSource(constant(0.25, 700), loop=False), 0.8, 10),
    )
    out = render(mixer, 2400)
    np.testing.assert_array_equal(out[:100], 0.0)
    np.testing.assert_array_equal(out[100:1100], 0.5)
    np.testing.assert_allclose(out[1100:1800], 0.2)
    np.testing.assert_array_equal(out[1800:], 0.0)
    assert [(e.change, e.tag.ref_id, e.frame) for e in events] == [
        (VoiceChange.START, 1, 100),
        (VoiceChange.DRY, 1, 1100),
        (VoiceChange.FALLBACK, 9, 1100),
        (VoiceChange.END, 9, 1800),
    ]
    assert events[2].local_us == local_at(1100)


def test_a_voice_that_ends_or_is_stopped_does_not_hand_over() -> None:
    events: list[VoiceEvent] = []
    mixer = make_mixer(events=events)
    fallback = Fallback(tag(9, serial=3), CueSource(constant(0.25, 700), loop=False), 1.0, 0)
    mixer.add(
        tag(1, serial=1),
        CueSource(constant(0.5, 300), loop=False),
        gain=1.0,
        priority=0,
        at_local_us=None,
        fallback=fallback,
    )
    mixer.add(
        tag(2, serial=2),
        DrySource(constant(0.5, 2000)),
        gain=1.0,
        priority=0,
        at_local_us=None,
        fallback=fallback,
    )
    mixer.stop(lambda t: t.ref_id == 2, at_local_us=local_at(1900), fade_ms=10)
    render(mixer, 4800)
    changes = [(e.change, e.tag.ref_id) for e in events]
    assert (VoiceChange.END, 1) in changes
    assert (VoiceChange.DRY, 2) in changes, "it ran dry inside its stop's fade"
    assert all(ref_id != 9 for _, ref_id in changes)
