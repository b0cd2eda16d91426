"""The movement model and the choreography check: time to move, doses kept, eyes open before
standing, props named up front, closings that match where the body is (audioguide.compile.movement,
audioguide.pipeline.check). Plans use the real neural voice's lengths."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from audioguide.cli import main
from audioguide.compile.compiler import BREATH_TONES, Options
from audioguide.compile.movement import MOVES, move_ms, path
from audioguide.errors import RoutineError, ScheduleError
from audioguide.load.poses import POSITIONS
from audioguide.load.routine import load_routine, parse_routine
from audioguide.model.script import Say, Script, Section, Span
from audioguide.model.timeline import HOLD, REST, SPEECH, Timeline
from audioguide.pipeline.build import BuildOptions, Plan, make_plan
from audioguide.pipeline.check import check
from audioguide.units import SAMPLE_RATE

ROOT = Path(__file__).resolve().parents[1]

MIXED = """\
title: Mixed Positions
steps:
  - name: Standing reach
    position: standing
    say: Stand tall and reach both arms up.
    hold: 15s
  - pose: cat-cow
    reps: 4
    tempo: 6s
  - name: Back rest
    position: supine
    props: [mat, cushion]
    say: Lie on your back with a cushion under your knees.
    hold: 30s
"""


def _plan(text: str, **compile_kw: object) -> Plan:
    return make_plan(parse_routine(text, "t.yaml"), BuildOptions(compile=Options(**compile_kw)))  # type: ignore[arg-type]


def _speech(tl: Timeline) -> list[tuple[int, int, str]]:
    return [(e.start_sample, e.end_sample, e.text) for e in tl.events if e.kind == SPEECH]


# --- the model ----------------------------------------------------------------------------------------


def test_every_position_reaches_every_other_and_each_move_takes_time() -> None:
    assert all(m.ms >= 3_000 for m in MOVES)
    for a, b in itertools.permutations(POSITIONS, 2):
        chain = path(a, b)
        assert chain[0].start == a and chain[-1].end == b
        assert all(x.end == y.start for x, y in itertools.pairwise(chain))


def test_the_big_moves_take_well_over_five_seconds() -> None:
    # Hand-written expectations: lying to hands and knees is a roll and a press up; lying to standing
    # also rises to kneeling and stands; a chair to the floor stands first.
    assert [m.end for m in path("supine", "hands-and-knees")] == ["side-lying", "hands-and-knees"]
    assert [m.end for m in path("supine", "standing")] == [
        "side-lying",
        "hands-and-knees",
        "kneeling",
        "standing",
    ]
    assert [m.end for m in path("seated", "kneeling")] == ["standing", "kneeling"]
    assert move_ms("supine", "hands-and-knees") == 9_000
    assert move_ms("supine", "standing") == 20_000
    assert move_ms("prone", "standing") >= 15_000


# --- a user's routine gets transitions --------------------------------------------------------------


def test_a_routine_with_mixed_positions_gets_spoken_moves_with_time_to_do_them() -> None:
    plan = _plan(MIXED)
    tl = plan.timeline
    said = _speech(tl)
    texts = [t for _, _, t in said]
    # Standing first: eyes open; then down to hands and knees, then over onto the back, move by move.
    assert texts.index("Keep your eyes open for this one.") < texts.index(
        "Stand tall and reach both arms up."
    )
    down = [m.text for m in path("standing", "hands-and-knees")]
    assert down[0] in texts
    over = [m.text for m in path("hands-and-knees", "supine")]
    assert all(t in texts for t in over[:-1])
    # After each spoken move, the next speech starts no sooner than the move takes.
    for move in (*path("standing", "hands-and-knees")[:-1], *path("hands-and-knees", "supine")):
        for k, (_, end, text) in enumerate(said):
            if text == move.text and k + 1 < len(said):
                assert said[k + 1][0] - end >= move.ms * SAMPLE_RATE // 1000, text
    assert check(plan.script, tl) == []


def test_a_hold_starts_only_after_time_to_settle() -> None:
    """Between the last set-up words and a hold or rep timer there is a quiet settle of 3 s or more
    (a count-in such as "Now eight times.", or what the breath tones mean, may follow it)."""
    tl = make_plan("lower-back-10min").timeline
    for hold in (e for e in tl.events if e.kind == HOLD):
        quiet = [e for e in tl.events if e.kind == REST and e.end_sample <= hold.start_sample]
        settle = quiet[-1]
        assert settle.length_samples >= 3 * SAMPLE_RATE
        assert hold.start_sample - settle.end_sample < 12 * SAMPLE_RATE, hold


def test_no_position_instruction_is_repeated_in_the_flagship() -> None:
    texts = [t for _, _, t in _speech(make_plan("lower-back-10min").timeline)]
    for a, b in itertools.pairwise(texts):
        assert a != b
    assert texts.count("Lie on your back with your knees bent and feet flat.") <= 3


# --- doses, lengths ---------------------------------------------------------------------------------------


def test_the_flagship_keeps_every_prescribed_hold() -> None:
    plan = make_plan("lower-back-10min")
    spans = [i for i in plan.script.items() if isinstance(i, Span) and i.kind == "hold"]
    holds = [e for e in plan.timeline.events if e.kind == HOLD]
    assert [plan.timeline.ms(h.length_samples) for h in holds] == [s.base_ms for s in spans]


def test_a_length_that_cannot_be_met_says_the_achievable_range_and_its_suggestion_works(
    tmp_path: Path,
) -> None:
    text = MIXED.replace("steps:", "duration: 30m\nsteps:")
    with pytest.raises(ScheduleError) as info:
        _plan(text)
    message = str(info.value)
    assert "can last" in message and "~30m00s" in message
    most = re.search(r"set duration to at most (\S+) ", message)
    assert most is not None
    _plan(MIXED.replace("steps:", f"duration: {most[1]}\nsteps:"))  # the suggestion builds as written
    with pytest.raises(ScheduleError) as short:
        _plan(MIXED.replace("steps:", "duration: 1m\nsteps:"))
    least = re.search(r"at least (\S+) ", str(short.value))
    assert least is not None
    _plan(MIXED.replace("steps:", f"duration: {least[1]}\nsteps:"))


def test_about_a_length_picks_the_nearest_achievable_one() -> None:
    tl = _plan(MIXED.replace("steps:", "duration: ~30m\nsteps:")).timeline
    assert 60 * SAMPLE_RATE < tl.length_samples < 30 * 60 * SAMPLE_RATE
    exact = _plan(MIXED.replace("steps:", "duration: ~4m\nsteps:")).timeline
    assert exact.length_samples == 4 * 60 * SAMPLE_RATE  # achievable: met exactly


def test_rounds_repeat_the_work_and_never_change_the_rep_count() -> None:
    one = _plan("title: R\nsteps:\n  - pose: pelvic-tilt\n    reps: 5\n    tempo: 4s\n")
    three = _plan("title: R\nsteps:\n  - pose: pelvic-tilt\n    reps: 5\n    tempo: 4s\n    rounds: 3\n")
    reps = [e for e in three.timeline.events if e.kind == HOLD]
    assert len(reps) == 3 and all(three.timeline.ms(e.length_samples) == 20_000 for e in reps)
    assert len([e for e in one.timeline.events if e.kind == HOLD]) == 1
    with pytest.raises(RoutineError, match=r"steps\[0\]\.rounds"):
        parse_routine("title: R\nsteps:\n  - pose: pelvic-tilt\n    rounds: 0\n", "t.yaml")


# --- words: props, breath, closings, eyes ---------------------------------------------------------------


def test_props_are_named_before_the_first_pose() -> None:
    plan = make_plan("mid-back-10min")
    welcome = [i.text for i in plan.script.sections[0].items if isinstance(i, Say)]
    assert any("a mat" in t and "a foam roller" in t for t in welcome)


@pytest.mark.parametrize("verbosity", ["full", "brief", "minimal"])
def test_the_first_breath_hold_says_which_tone_is_which_once(verbosity: str) -> None:
    texts = [
        t
        for _, _, t in _speech(
            make_plan("bedtime-unwind-20min", BuildOptions(compile=Options(verbosity=verbosity))).timeline
        )
    ]
    assert texts.count(BREATH_TONES) == 1


@pytest.mark.parametrize("verbosity", ["full", "brief", "minimal"])
def test_a_session_ending_lying_down_says_to_roll_to_the_side(verbosity: str) -> None:
    texts = [
        t
        for _, _, t in _speech(
            make_plan("lower-back-10min", BuildOptions(compile=Options(verbosity=verbosity))).timeline
        )
    ]
    closing = " ".join(texts[-3:]).lower()
    assert "roll" in closing and "side" in closing


def test_the_no_floor_routine_never_goes_to_the_floor() -> None:
    for verbosity in ("full", "minimal"):
        plan = make_plan("no-floor-10min", BuildOptions(compile=Options(verbosity=verbosity)))
        positions = {s.position for s in plan.script.sections if s.step_index >= 0}
        assert positions <= {"seated", "standing"}


def test_standing_after_the_floor_is_preceded_by_open_your_eyes() -> None:
    texts = [t for _, _, t in _speech(make_plan("morning-mobility-15min").timeline)]
    first_stand = next(i for i, t in enumerate(texts) if "push up slowly to standing" in t)
    assert "Open your eyes." in texts[:first_stand]


# --- the check can fail ---------------------------------------------------------------------------------


def test_the_check_flags_a_jump_without_time_missing_eyes_and_unnamed_props() -> None:
    hold = Span("hold", 20_000, 15_000, 30_000, "hold 20 s")
    script = Script(
        "Bad",
        (
            Section("Welcome", -1, (Say("Hello."),)),
            Section("Lying", 0, (Say("Lie down."), hold), position="supine"),
            Section("Standing", 1, (Say("Stand up."), hold), position="standing", props=("wall",)),
        ),
        None,
    )
    n = 20 * SAMPLE_RATE
    events = tuple(
        __import__("audioguide.model.timeline", fromlist=["Event"]).Event(k * n, n, HOLD, "hold", k)
        for k in range(2)
    )
    tl = Timeline("Bad", 2 * n, events, ())
    found = {(f.chapter, f.message.split(" ")[0]) for f in check(script, tl)}
    assert ("Standing", "moving") in found
    assert ("Standing", "standing") in found
    assert ("Standing", "needs") in found
    squeezed = Timeline("Bad", 2 * n, (events[0], events[1].__class__(n, n // 2, HOLD, "hold", 1)), ())
    assert any("outside" in f.message for f in check(script, squeezed))


def test_plan_check_through_the_cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["plan", "lower-back-10min", "--check"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 error(s), 0 warning(s)")
    routine = tmp_path / "r.yaml"
    routine.write_text("title: R\nsteps:\n  - name: Thing\n    say: Do the thing.\n    hold: 20s\n")
    assert main(["plan", str(routine), "--check"]) == 0
    assert "no 'position:'" in capsys.readouterr().out


@pytest.mark.parametrize("doc", ["README.md", "docs/routines.md"])
def test_the_documented_routine_example_builds_as_written(doc: str, tmp_path: Path) -> None:
    text = (ROOT / doc).read_text(encoding="utf-8")
    examples = [b for b in re.findall(r"```yaml\n(title:.*?)```", text, re.S) if "\nsteps:" in b]
    assert examples  # the first routine example (a series example comes first in the README)
    path = tmp_path / "example.yaml"
    path.write_text(examples[0], encoding="utf-8")
    plan = make_plan(load_routine(path))
    assert plan.timeline.length_samples == 10 * 60 * SAMPLE_RATE
    assert check(plan.script, plan.timeline) == []


def test_a_library_pose_takes_no_position() -> None:
    with pytest.raises(RoutineError, match=r"steps\[0\]\.position: a library pose has its own position"):
        parse_routine("title: R\nsteps:\n  - pose: cat-cow\n    position: supine\n", "t.yaml")
