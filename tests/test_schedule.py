"""Stage 4: every event at an exact sample, spans fitted to the target, speech never overrunning."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioguide.compile.compiler import Options
from audioguide.errors import AudioguideError, RoutineError, ScheduleError
from audioguide.load.poses import library
from audioguide.load.routine import builtin_routines, load_routine, parse_routine
from audioguide.model.timeline import CUE, HOLD, SPEECH, Timeline
from audioguide.pipeline.build import BuildOptions, make_plan
from audioguide.pipeline.check import check
from audioguide.schedule import _Flex, fit_spans
from audioguide.units import SAMPLE_RATE

BUILTINS = sorted(builtin_routines())
TARGET_TOLERANCE_SAMPLES = 0  # the scheduler hits the target exactly; the issue allows 0.5 s
FAST = BuildOptions(engine="tone")  # instant, deterministic stand-in speech: timing logic only


def plan(text: str, options: BuildOptions = FAST, **compile_kw: object) -> Timeline:
    routine = parse_routine(text, "t.yaml")
    if compile_kw:
        options = BuildOptions(engine=options.engine, compile=Options(**compile_kw))  # type: ignore[arg-type]
    return make_plan(routine, options).timeline


def assert_well_formed(tl: Timeline) -> None:
    speech = [e for e in tl.events if e.kind == SPEECH]
    for a, b in itertools.pairwise(speech):
        assert a.end_sample <= b.start_sample, f"{a.text!r} overlaps {b.text!r}"
    for e in tl.events:
        assert e.start_sample >= 0 and e.end_sample <= tl.length_samples
    assert tl.chapters[0].start_sample == 0
    assert tl.chapters[-1].end_sample == tl.length_samples
    for a, b in itertools.pairwise(tl.chapters):
        assert a.end_sample == b.start_sample


@pytest.mark.parametrize("rid", BUILTINS)
def test_every_builtin_routine_lands_exactly_on_its_length_with_the_real_voice(rid: str) -> None:
    routine = load_routine(rid)
    tl = make_plan(routine).timeline
    assert routine.duration_ms is not None
    assert abs(tl.length_samples - routine.duration_ms * SAMPLE_RATE // 1000) <= TARGET_TOLERANCE_SAMPLES
    assert_well_formed(tl)


@pytest.mark.parametrize("rid", BUILTINS)
@pytest.mark.parametrize("verbosity", ["full", "brief", "minimal"])
@pytest.mark.parametrize("pace", ["slow", "normal", "brisk"])
def test_every_builtin_fits_at_every_verbosity_and_pace(rid: str, verbosity: str, pace: str) -> None:
    """...and the choreography check passes: time to move, holds within their band, eyes open before
    standing, props named."""
    options = BuildOptions(compile=Options(verbosity=verbosity, pace=pace))  # the real voice's lengths
    routine = load_routine(rid)
    plan = make_plan(routine, options)
    tl = plan.timeline
    assert routine.duration_ms is not None
    assert tl.length_samples == routine.duration_ms * SAMPLE_RATE // 1000
    assert_well_formed(tl)
    assert [f for f in check(plan.script, tl) if f.level == "error"] == []


def test_both_sides_get_identical_holds() -> None:
    tl = make_plan("lower-back-10min").timeline
    by_step: dict[int, list[int]] = {}
    for e in tl.events:
        if e.kind == HOLD and e.side is not None:
            by_step.setdefault(e.step_index, []).append(e.length_samples)
    assert by_step
    for lengths in by_step.values():
        assert len(lengths) == 2 and lengths[0] == lengths[1]


def test_breath_hold_ends_on_an_exhale_tone() -> None:
    tl = plan("title: T\nsteps:\n  - pose: childs-pose\n    hold: 4 breaths\n")
    hold = next(e for e in tl.events if e.kind == HOLD)
    tones = [
        e
        for e in tl.events
        if e.kind == CUE
        and e.text in ("inhale", "exhale")
        and hold.start_sample <= e.start_sample < hold.end_sample
    ]
    assert tones[-1].text == "exhale"
    assert tones[-1].end_sample == hold.end_sample


def test_without_a_target_the_length_is_what_the_steps_add_up_to() -> None:
    short = plan("title: T\nsteps:\n  - pose: childs-pose\n    hold: 20s\n")
    longer = plan("title: T\nsteps:\n  - pose: childs-pose\n    hold: 30s\n")
    assert longer.length_samples - short.length_samples == 10 * SAMPLE_RATE


def test_a_target_too_short_for_the_speech_says_what_would_work() -> None:
    with pytest.raises(ScheduleError, match=r"duration 20s is too short.*set duration to at least \d+m\d\ds"):
        plan("title: T\nduration: 20s\nsteps:\n  - pose: childs-pose\n    hold: 20s\n")


def test_a_target_too_long_for_the_steps_says_what_would_work() -> None:
    with pytest.raises(ScheduleError, match=r"too long for these steps.*at most"):
        plan("title: T\nduration: 30m\nsteps:\n  - pose: childs-pose\n    hold: 20s\n")


def test_speech_that_overruns_its_rep_phase_is_an_error_naming_the_step() -> None:
    text = "title: T\nsteps:\n  - say: Hello.\n  - pose: cat-cow\n    reps: 4\n    tempo: 1s\n"
    with pytest.raises(
        ScheduleError, match=r"t.yaml:4: step 2 \(Cat-cow\): '.+' takes \d\.\d s but only .*tempo"
    ):
        plan(text, BuildOptions())  # the real voice: these are real clip lengths


def test_fit_spans_hits_the_total_exactly_and_keeps_bounds() -> None:
    flex = [_Flex(100, 50, 300), _Flex(1000, 500, 3000), _Flex(7, 3, 20)]
    for needed in (553, 1107, 1500, 3320):
        lengths = fit_spans(flex, needed)
        assert sum(lengths) == needed
        assert all(f.low <= n <= f.high for f, n in zip(flex, lengths, strict=True))


POSES = sorted(library())
step = st.one_of(
    st.builds(
        lambda p, h, s: f"  - pose: {p}\n    hold: {h}\n    sides: {s}\n",
        st.sampled_from(POSES),
        st.sampled_from(["10s", "25s", "45s", "3 breaths", "6 breaths"]),
        st.sampled_from(["both", "left", "none"]),
    ),
    st.builds(
        lambda p, r, t: f"  - pose: {p}\n    reps: {r}\n    tempo: {t}s\n",
        st.sampled_from(POSES),
        st.integers(1, 12),
        st.integers(2, 8),
    ),
    st.builds(lambda r: f"  - rest: {r}s\n", st.integers(1, 60)),
    st.just("  - say: Take a slow breath and notice your back.\n"),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, min_size=1, max_size=6),
    minutes=st.one_of(st.none(), st.integers(1, 20)),
    verbosity=st.sampled_from(["full", "brief", "minimal"]),
)
def test_any_routine_fits_exactly_or_fails_with_a_clear_error(
    steps: list[str], minutes: int | None, verbosity: str
) -> None:
    """The invariant: a routine either schedules to exactly its target with no overlapping speech,
    or raises an AudioguideError (RoutineError for what cannot compile, ScheduleError for time)."""
    text = "title: Generated\n" + (f"duration: {minutes}m\n" if minutes else "") + "steps:\n" + "".join(steps)
    try:
        tl = plan(text, verbosity=verbosity)
    except (RoutineError, ScheduleError):
        return
    except AudioguideError as exc:  # pragma: no cover - any other stage failing here is a bug
        pytest.fail(f"unexpected {type(exc).__name__}: {exc}")
    if minutes:
        assert tl.length_samples == minutes * 60 * SAMPLE_RATE
    assert_well_formed(tl)
