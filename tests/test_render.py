"""Tests for audioguide.render.mixer: the mixer (placement, length, edges, panning, ambience) and prefetch.

Fast: hand-made Timelines with synthetic tone clips, no speech engine and no encoder (the real builds
are in test_master.py and test_build.py).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from audio_tools import rms_db
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.signal import sosfilt

from audioguide.errors import RenderError
from audioguide.model import cues as cues_module
from audioguide.model.timeline import CUE, HOLD, SPEECH, Chapter, Event, Timeline
from audioguide.render import mixer as mixer_module
from audioguide.render import sounds
from audioguide.render.mixer import (
    AMBIENCE_BRIDGE_MS,
    AMBIENCE_DUCK_DB,
    AMBIENCE_FADE_IN_MS,
    AMBIENCE_FADE_OUT_MS,
    AMBIENCE_RAMP_MS,
    CUE_PAN,
    EDGE_FADE_SAMPLES,
    SPEECH_PAN,
    Mixer,
    RenderOptions,
    master,
    pan_gains,
    phase_rotator_sos,
    prefetch,
    rebatch,
    rotate_phase,
)

RATE = 44_100
SECOND = RATE

ONSET_THRESHOLD = 1e-7
"""A sample counts as sound above this: silence in the mix is exactly 0.0, and every clip's first sample
(faded in at half-sample offsets) is larger than this."""
CLICK_STEP = 0.01
"""Largest sample-to-sample step allowed at a clip edge. The test clips are at 0.5, so a hard edge would
step by up to 0.5; the 5 ms raised-cosine fade moves at most 0.5 * pi / (2 * 220) ~ 0.004 per sample."""
PAN_TOL_DB = 0.01
"""Channel levels against the pan law: float32 mixing, nothing else in the signal."""
DUCK_TOL_DB = 1.0
"""The bed is noise: its RMS over a 2 s window wanders by a few tenths of a dB from window to window."""
FADE_DEPTH_DB = 20.0
"""The first and last 300 ms of the bed sit at least this far under its full level (raised-cosine fades
of 3 s and 5 s are at -35 dB and -40 dB at those points)."""


def _tone(n: int, hz: float = 220.0, level: float = 0.5) -> np.ndarray:
    """A cosine (so its first sample is at full level: a hard edge if nothing fades it)."""
    return (level * np.cos(2 * np.pi * hz * np.arange(n) / RATE)).astype(np.float32)


def _timeline(length: int, events: list[Event]) -> Timeline:
    events = sorted(events, key=lambda e: e.start_sample)
    return Timeline("test", length, tuple(events), (Chapter(0, length, "All", 0),), RATE)


def _speech(start: int, n: int, key: str, side: str | None = None) -> Event:
    return Event(start, n, SPEECH, key, 0, clip=key, side=side)


def _render(
    timeline: Timeline, clips: dict[str, np.ndarray], block: int = 65_536, **options: object
) -> np.ndarray:
    mixer = Mixer(timeline, clips, RenderOptions(**options))  # type: ignore[arg-type]
    return np.concatenate(list(mixer.blocks(block)))


# --- placement and length -------------------------------------------------------------------------------


def test_every_clip_lands_at_its_exact_start_sample() -> None:
    starts = [1, 4_410, 30_001, 77_777, 123_457]
    lengths = [1_000, 9_999, 12_345, 441, 20_000]
    clips = {f"p{i}": _tone(n, 200 + 50 * i) for i, n in enumerate(lengths)}
    events = [_speech(s, n, f"p{i}") for i, (s, n) in enumerate(zip(starts, lengths, strict=True))]
    out = _render(_timeline(150_001, events), clips, block=4_096)
    sounding = np.abs(out) > ONSET_THRESHOLD
    onsets = np.flatnonzero(sounding[1:] & ~sounding[:-1]) + 1
    offsets = np.flatnonzero(sounding[:-1] & ~sounding[1:]) + 1
    assert onsets.tolist() == starts  # sample 0 is silent, so the first clip's onset at 1 is found too
    assert offsets.tolist() == [s + n for s, n in zip(starts, lengths, strict=True)]


LENGTHS = [1, 999, 65_535, 65_536, 65_537, 3 * 65_536 + 17]


@pytest.mark.parametrize(
    ("length", "block"), [(n, b) for n in LENGTHS for b in (1_000, 65_536)] + [(1, 7), (999, 7), (1_001, 7)]
)
def test_rendered_length_is_the_timeline_length(length: int, block: int) -> None:
    clips = {"p": _tone(500)}
    mixer = Mixer(_timeline(length, [_speech(0, min(500, length), "p")]), clips, RenderOptions())
    blocks = list(mixer.blocks(block))
    assert sum(len(b) for b in blocks) == length
    assert all(len(b) == block for b in blocks[:-1])


@st.composite
def _layouts(draw: st.DrawFn) -> tuple[Timeline, dict[str, np.ndarray], RenderOptions]:
    length = draw(st.integers(1, 40_000))
    clips: dict[str, np.ndarray] = {}
    events: list[Event] = []
    for i in range(draw(st.integers(0, 8))):
        start = draw(st.integers(0, length - 1))
        kind = draw(st.sampled_from([SPEECH, CUE]))
        side = draw(st.sampled_from([None, "left", "right"]))
        if kind == SPEECH:
            n = draw(st.integers(1, 6_000))
            clips[f"p{i}"] = _tone(n, 100 + 37 * i)
            slot = draw(st.sampled_from([n, n + draw(st.integers(1, 500))]))  # a slot may be longer
            events.append(_speech(start, slot, f"p{i}", side))
        else:
            name = draw(st.sampled_from(["tick", "transition"]))
            natural = sounds.natural_length(name)
            assert natural is not None
            slot = draw(st.integers(1, natural + 100))  # cut short by its event, or not
            events.append(Event(start, slot, CUE, name, 0, clip=name, side=side))
    options = RenderOptions(
        channels=draw(st.sampled_from([1, 2])),
        spatial=draw(st.booleans()),
        ambience=draw(st.sampled_from(["none", "none", "brown-noise"])),
    )
    return _timeline(length, events), clips, options


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=_layouts(), block=st.integers(1, 50_000))
def test_block_size_never_changes_a_sample(
    layout: tuple[Timeline, dict[str, np.ndarray], RenderOptions], block: int
) -> None:
    timeline, clips, options = layout
    mixer = Mixer(timeline, clips, options)
    whole = np.concatenate(list(mixer.blocks(timeline.length_samples)))
    parts = list(mixer.blocks(block))
    assert sum(len(p) for p in parts) == timeline.length_samples == len(whole)
    np.testing.assert_array_equal(np.concatenate(parts), whole)  # bit-identical, not merely close


def test_events_past_the_end_are_cut_at_the_timeline_length() -> None:
    clips = {"p": _tone(5_000)}
    out = _render(_timeline(3_000, [_speech(1_000, 5_000, "p")]), clips, block=512)
    assert len(out) == 3_000 and np.abs(out[1_000:]).min() >= 0.0 and np.abs(out[2_999]) > 0.0


# --- clicks -------------------------------------------------------------------------------------------


def test_no_clicks_at_clip_edges() -> None:
    """Clips that start and end at full level (cosines, DC) are faded in and out by the mixer."""
    # A clip shorter than two fades is faded over half its length each way: 100 samples at 0.2 step by
    # at most 0.2 * pi / (2 * 50) ~ 0.006.
    clips = {
        "cos": _tone(20_000, 50.0),
        "dc": np.full(8_000, 0.5, np.float32),
        "short": _tone(100, 50.0, 0.2),
    }
    starts = {"cos": 1_000, "dc": 30_000, "short": 45_000}
    events = [_speech(s, len(clips[k]), k) for k, s in starts.items()]
    out = _render(_timeline(50_000, events), clips, block=997)
    steps = np.abs(np.diff(out.astype(np.float64), prepend=0.0))
    for key, start in starts.items():
        end = start + len(clips[key])
        for edge in (start, end):
            near = steps[max(edge - 2 * EDGE_FADE_SAMPLES, 0) : edge + 2 * EDGE_FADE_SAMPLES]
            assert near.max() < CLICK_STEP, (key, edge)
    # Speech passes the phase rotator (an all-pass: unity gain at DC), so the middle of the DC clip
    # settles back at its level.
    assert out[starts["dc"] + 4_000] == pytest.approx(0.5, abs=1e-3)


def test_a_cue_cut_short_by_its_event_fades_out() -> None:
    chime = sounds.cue("chime")
    cut = 10_000  # the chime is still ringing here: a hard cut would step by about its level
    assert np.abs(chime[cut - 50 : cut]).max() > 0.05
    out = _render(_timeline(20_000, [Event(100, cut, CUE, "chime", 0, clip="chime")]), {})
    steps = np.abs(np.diff(out.astype(np.float64)))
    assert steps[100 + cut - 2 * EDGE_FADE_SAMPLES :].max() < CLICK_STEP
    assert np.all(out[100 + cut :] == 0.0)


# --- channels and panning -------------------------------------------------------------------------------


def _channel_db(x: np.ndarray) -> tuple[float, float]:
    return rms_db(x[:, 0]), rms_db(x[:, 1])


@pytest.mark.parametrize("side", ["left", "right"])
def test_one_sided_cues_and_speech_lean_to_their_side_by_the_pan_law(side: str) -> None:
    clips = {"p": _tone(20_000)}
    events = [Event(1_000, 30_870, CUE, "transition", 0, clip="transition", side=side)]
    events.append(_speech(40_000, 20_000, "p", side))
    out = _render(_timeline(70_000, events), clips, spatial=True)
    assert out.shape == (70_000, 2)
    for (a, b), amount in (((1_000, 31_870), CUE_PAN), ((40_000, 60_000), SPEECH_PAN)):
        left_db, right_db = _channel_db(out[a:b])
        # Constant-power law: left = cos(t), right = sin(t), t = (position + 1) * pi / 4.
        angle = (1 - amount) * np.pi / 4
        expected = 20 * np.log10(np.cos(angle) / np.sin(angle))  # the near side's lead, 16.1 dB for cues
        lead = left_db - right_db if side == "left" else right_db - left_db
        assert lead == pytest.approx(expected, abs=PAN_TOL_DB)
        mono = _render(_timeline(70_000, events), clips)  # the same events, not spatial
        total = 10 * np.log10(10 ** (left_db / 10) + 10 ** (right_db / 10))
        assert total == pytest.approx(rms_db(mono[a:b]), abs=PAN_TOL_DB)  # left² + right² = 1: power kept


def test_pan_gains_are_constant_power() -> None:
    for side in (None, "left", "right"):
        for amount in (0.0, 0.35, 0.8, 1.0):
            left, right = pan_gains(side, amount)
            assert left**2 + right**2 == pytest.approx(1.0, abs=1e-12)
    assert pan_gains(None, 0.8) == pytest.approx((np.sqrt(0.5), np.sqrt(0.5)))
    assert pan_gains("left", 1.0) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_mono_unless_spatial_or_stereo() -> None:
    clips = {"p": _tone(5_000)}
    timeline = _timeline(10_000, [_speech(100, 5_000, "p", "left")])
    mono = list(Mixer(timeline, clips, RenderOptions()).blocks(4_000))
    assert all(b.ndim == 1 and b.dtype == np.float32 for b in mono)
    stereo = np.concatenate(list(Mixer(timeline, clips, RenderOptions(channels=2)).blocks(4_000)))
    assert stereo.shape == (10_000, 2)
    np.testing.assert_array_equal(stereo[:, 0], stereo[:, 1])  # not spatial: a side is not placed
    assert RenderOptions(spatial=True).out_channels == 2 and RenderOptions().out_channels == 1


def test_missing_phrase_audio_and_bad_cue_are_render_errors() -> None:
    with pytest.raises(RenderError, match="no audio for the phrase"):
        Mixer(_timeline(1_000, [_speech(0, 500, "gone")]), {}, RenderOptions())
    with pytest.raises(RenderError, match="gong"):
        Mixer(_timeline(1_000, [Event(0, 500, CUE, "gong", 0, clip="gong")]), {}, RenderOptions())


# --- ambience -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bed_only() -> tuple[Timeline, np.ndarray]:
    """The bed as it is in the mix (the mix with ambience minus the same mix without), 40 s with speech
    at 10-14 s and 14.6-18 s (a 0.6 s gap, bridged) and 21-23 s (after a 3 s gap, released)."""
    spans = [(10 * SECOND, 14 * SECOND), (146 * SECOND // 10, 18 * SECOND), (21 * SECOND, 23 * SECOND)]
    clips = {f"p{i}": _tone(b - a, 300.0, 0.3) for i, (a, b) in enumerate(spans)}
    events = [_speech(a, b - a, f"p{i}") for i, (a, b) in enumerate(spans)]
    events.append(Event(24 * SECOND, 14 * SECOND, HOLD, "hold", 0))
    timeline = _timeline(40 * SECOND, events)
    with_bed = _render(timeline, clips, ambience="brown-noise")
    without = _render(timeline, clips)
    return timeline, with_bed.astype(np.float64) - without


def _window_db(x: np.ndarray, centre_s: float, seconds: float = 2.0) -> float:
    a = int((centre_s - seconds / 2) * SECOND)
    return rms_db(x[a : a + int(seconds * SECOND)])


def test_bed_is_ducked_12_db_under_speech(bed_only: tuple[Timeline, np.ndarray]) -> None:
    _, bed = bed_only
    free = _window_db(bed, 7.0)  # 3 s before any speech, past the fade-in
    assert _window_db(bed, 12.0) - free == pytest.approx(AMBIENCE_DUCK_DB, abs=DUCK_TOL_DB)
    assert _window_db(bed, 30.0) - free == pytest.approx(0.0, abs=DUCK_TOL_DB)  # a long hold: full level


def test_gaps_under_a_second_stay_ducked(bed_only: tuple[Timeline, np.ndarray]) -> None:
    _, bed = bed_only
    assert AMBIENCE_BRIDGE_MS > 600 and 2 * AMBIENCE_RAMP_MS < 3_000  # the layout tests what it says
    free = _window_db(bed, 7.0)
    assert _window_db(bed, 14.3, 0.6) - free == pytest.approx(AMBIENCE_DUCK_DB, abs=DUCK_TOL_DB)
    assert _window_db(bed, 19.5, 0.5) - free == pytest.approx(0.0, abs=DUCK_TOL_DB)  # 3 s gap: released


def test_bed_ramps_are_smooth(bed_only: tuple[Timeline, np.ndarray]) -> None:
    _, bed = bed_only
    ramp = AMBIENCE_RAMP_MS * SECOND // 1000
    before = [_window_db(bed, 10.0 - ramp / SECOND + t, 0.1) for t in np.linspace(0.05, 0.45, 5)]
    assert all(b < a for a, b in itertools.pairwise(before))  # falls steadily into speech


def test_bed_fades_in_and_out(bed_only: tuple[Timeline, np.ndarray]) -> None:
    timeline, bed = bed_only
    assert AMBIENCE_FADE_IN_MS >= 1_000 and AMBIENCE_FADE_OUT_MS >= 1_000
    full = _window_db(bed, 7.0)
    assert bed[0] == 0.0 and bed[-1] == 0.0
    assert rms_db(bed[: int(0.3 * SECOND)]) < full - FADE_DEPTH_DB
    assert rms_db(bed[-int(0.3 * SECOND) :]) < full - FADE_DEPTH_DB
    assert len(bed) == timeline.length_samples


def test_unknown_bed_is_a_render_error() -> None:
    with pytest.raises(RenderError, match="did you mean 'rain'"):
        Mixer(_timeline(1_000, []), {}, RenderOptions(ambience="rian"))


# --- mastering errors -------------------------------------------------------------------------------------


def test_a_silent_session_cannot_be_mastered() -> None:
    with pytest.raises(RenderError, match="silent"):
        master(Mixer(_timeline(5 * SECOND, []), {}, RenderOptions()))


def test_an_unreachable_loudness_target_is_a_render_error() -> None:
    # A sparse click train: all peak, no loudness. -9 LUFS under -1 dBTP would need it flattened.
    clip = np.zeros(5 * SECOND, np.float32)
    clip[:: SECOND // 4] = 0.9
    timeline = _timeline(5 * SECOND, [_speech(0, 5 * SECOND, "c")])
    with pytest.raises(RenderError, match="choose a lower loudness target"):
        master(Mixer(timeline, {"c": clip}, RenderOptions(loudness_lufs=-9.0)))


# --- prefetch -------------------------------------------------------------------------------------------


def _render_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "audioguide-render"]


def test_prefetch_passes_blocks_through_in_order() -> None:
    blocks = [np.full(3, i, np.float32) for i in range(20)]
    got = list(prefetch(iter(blocks), depth=2))
    assert [int(b[0]) for b in got] == list(range(20))


@pytest.mark.parametrize("error", [ValueError("boom"), KeyboardInterrupt()])
def test_prefetch_raises_the_producers_error_after_its_blocks(error: BaseException) -> None:
    def source() -> Iterator[np.ndarray]:
        for i in range(3):
            yield np.full(2, i, np.float32)
        raise error

    got = []
    with pytest.raises(type(error)):
        for block in prefetch(source()):
            got.append(block)
    assert len(got) == 3
    _wait_until(lambda: not _render_threads())


def test_prefetch_stops_the_producer_when_the_consumer_stops() -> None:
    state = {"made": 0, "closed": False}

    def endless() -> Iterator[np.ndarray]:
        try:
            while True:
                state["made"] += 1
                yield np.zeros(4, np.float32)
        finally:
            state["closed"] = True

    stream = prefetch(endless(), depth=3)
    for _ in range(2):
        next(stream)
    _wait_until(lambda: state["made"] >= 2 + 3)  # the queue has filled up
    started = time.perf_counter()
    stream.close()  # what a consumer's early exit (break, error, interrupt) does to the generator
    assert time.perf_counter() - started < 2.0
    assert state["closed"]  # the source was closed, in the producer's thread, before close() returned
    assert not _render_threads()
    assert state["made"] <= 2 + 3 + 2  # consumed, queued, and at most one in hand and one more


def test_prefetch_producer_failing_while_the_queue_is_full_does_not_hang() -> None:
    def source() -> Iterator[np.ndarray]:
        for _ in range(4):
            yield np.zeros(4, np.float32)
        raise ValueError("late failure")

    stream = prefetch(source(), depth=1)
    next(stream)
    time.sleep(0.2)  # the producer is now blocked offering a block (or the error) to a full queue
    started = time.perf_counter()
    stream.close()
    assert time.perf_counter() - started < 2.0 and not _render_threads()


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=0, max_value=40), max_size=30),
    samples=st.integers(min_value=1, max_value=64),
    stereo=st.booleans(),
)
def test_rebatch_keeps_every_sample_in_blocks_of_at_least_the_size(
    sizes: list[int], samples: int, stereo: bool
) -> None:
    rng = np.random.default_rng(len(sizes))
    blocks = [rng.standard_normal((n, 2) if stereo else n).astype(np.float32) for n in sizes]
    got = list(rebatch(iter(blocks), samples))
    whole = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
    assert np.array_equal(np.concatenate(got) if got else whole[:0], whole)
    assert all(len(b) >= samples for b in got[:-1])
    assert all(b.dtype == np.float32 and b.shape[1:] == whole.shape[1:] for b in got)


def test_rebatch_closes_its_source_when_closed() -> None:
    closed = []

    def source() -> Iterator[np.ndarray]:
        try:
            while True:
                yield np.zeros(10, np.float32)
        finally:
            closed.append(True)

    stream = rebatch(source(), 25)
    assert len(next(stream)) == 30
    stream.close()
    assert closed == [True]


def _wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        assert time.perf_counter() < deadline, "timed out"
        time.sleep(0.01)


def test_rotated_speech_is_cached_beside_the_speech_and_keyed_by_the_rotator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(3)
    clip = (0.2 * rng.standard_normal(4_000)).astype(np.float32)
    timeline = _timeline(6_000, [_speech(100, 4_000, "p")])
    cold = Mixer(timeline, {"p": clip}, RenderOptions(), tmp_path)
    assert len(list((tmp_path / "derived").rglob("*.f32"))) == 1
    assert np.array_equal(cold.audio["p"], rotate_phase(clip, RATE))

    calls = []
    monkeypatch.setattr(mixer_module, "rotate_phase", lambda x, rate: calls.append(1) or x)
    warm = Mixer(timeline, {"p": clip}, RenderOptions(), tmp_path)
    assert not calls  # read from the cache, not filtered again
    assert np.array_equal(warm.audio["p"], cold.audio["p"])
    # Another rotator (here: another version) misses, and so does another clip.
    monkeypatch.setattr(mixer_module, "PHASE_ROTATOR_VERSION", mixer_module.PHASE_ROTATOR_VERSION + 1)
    Mixer(timeline, {"p": clip}, RenderOptions(), tmp_path)
    Mixer(timeline, {"p": clip * np.float32(0.5)}, RenderOptions(), tmp_path)
    assert len(calls) == 2


ROTATOR_TOL = 1e-6
"""rotate_phase against scipy's sosfilt in float64: the cascade agrees with it to ~1e-10 (test_dsp),
so what is left is the rounding of the float32 result (3e-8 at 0.5) with a wide margin. The float32
sosfilt it replaced was off by up to 1.7e-4 on the flagship's speech and would fail this."""


def test_the_phase_rotator_is_sosfilt_in_double_precision_from_rest() -> None:
    rng = np.random.default_rng(11)
    for n in (1, 31, 32, 33, 5_000, 100_003):
        clip = (0.3 * rng.standard_normal(n)).astype(np.float32)
        expected = sosfilt(phase_rotator_sos(RATE), clip.astype(np.float64))
        rotated = rotate_phase(clip, RATE)
        assert rotated.dtype == np.float32 and rotated.shape == clip.shape
        np.testing.assert_allclose(rotated, expected, rtol=0, atol=ROTATOR_TOL)
    assert np.array_equal(rotate_phase(clip, RATE), rotated)  # every call starts from rest


def test_a_corrupt_rotated_clip_reads_as_a_miss(tmp_path: Path) -> None:
    clip = np.linspace(-0.3, 0.3, 3_000, dtype=np.float32)
    timeline = _timeline(4_000, [_speech(0, 3_000, "p")])
    Mixer(timeline, {"p": clip}, RenderOptions(), tmp_path)
    (entry,) = (tmp_path / "derived").rglob("*.f32")
    entry.write_bytes(entry.read_bytes()[:-4] + b"\x00\x00\x80\x7f")  # a NaN where a sample was
    again = Mixer(timeline, {"p": clip}, RenderOptions(), tmp_path)
    assert np.array_equal(again.audio["p"], rotate_phase(clip, RATE))


def test_cue_sounds_are_cached_beside_the_speech_and_read_back_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    length = 2 * RATE
    events = [
        Event(0, length, CUE, "", 0, clip=f"inhale:{length}"),
        Event(length, 30_000, CUE, "", 0, clip="bell"),
    ]
    timeline = _timeline(length + 40_000, events)
    cold = Mixer(timeline, {}, RenderOptions(), tmp_path)
    assert len(list((tmp_path / "derived").rglob("*.f32"))) == 2
    calls = []
    real = sounds.cue
    monkeypatch.setattr(sounds, "cue", lambda *a: calls.append(a) or real(*a))
    warm = Mixer(timeline, {}, RenderOptions(), tmp_path)
    assert not calls  # both read from the cache
    for key in (f"inhale:{length}", "bell"):
        name, _, n = key.partition(":")
        assert np.array_equal(warm.audio[key], real(name, int(n) if n else None))
        assert np.array_equal(warm.audio[key], cold.audio[key])
    # Another palette (its source changed) misses; so does a damaged entry.
    monkeypatch.setattr(sounds, "palette_id", lambda: "cue palette edited")
    Mixer(timeline, {}, RenderOptions(), tmp_path)
    assert len(calls) == 2
    for entry in (tmp_path / "derived").rglob("*.f32"):
        entry.write_bytes(entry.read_bytes()[:-4] + b"\x00\x00\x80\x7f")
    calls.clear()
    again = Mixer(timeline, {}, RenderOptions(), tmp_path)
    assert len(calls) == 2 and np.array_equal(again.audio["bell"], real("bell", None))


def test_a_cached_cue_of_another_length_is_not_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upgrade that changes a fixed cue's natural length (model/cues.py) must not get the old cue back.
    events = [Event(0, 30_000, CUE, "", 0, clip="bell")]
    Mixer(_timeline(200_000, events), {}, RenderOptions(), tmp_path)
    monkeypatch.setitem(cues_module._NATURAL_LENGTHS, "bell", 3 * RATE)
    sounds._render.cache_clear()
    warm = Mixer(_timeline(200_000, events), {}, RenderOptions(), tmp_path)
    assert warm.audio["bell"].size == 3 * RATE
    sounds._render.cache_clear()
    with pytest.raises(RenderError, match="fixed length"):  # as uncached: a wrong explicit length fails
        Mixer(
            _timeline(200_000, [Event(0, 30_000, CUE, "", 0, clip="bell:52920")]),
            {},
            RenderOptions(),
            tmp_path,
        )
