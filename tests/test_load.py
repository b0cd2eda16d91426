"""Stage 1, load: good routines become a typed Routine; every bad one is one clear RoutineError."""

from __future__ import annotations

import itertools
import re
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioguide.errors import AudioguideError, RoutineError
from audioguide.load.poses import library
from audioguide.load.routine import builtin_routines, load_routine, parse_routine
from audioguide.load.voices import load_profile
from audioguide.model.amounts import Amount
from audioguide.model.routine import BREATH_PATTERNS, SIDES, Breath, Routine, Step

DATA = Path(__file__).resolve().parent / "data"
DESIGN_EXAMPLE = DATA / "design_example.yaml"
POSE_IDS = sorted(library())
WriteRoutine = Callable[..., Path]
"""The conftest ``write_routine`` fixture: text in, path out."""

# A minimal valid routine that each bad case below changes in one place.
GOOD = "title: T\nsteps:\n  - pose: cat-cow\n"


def step_with(line: str) -> str:
    """The minimal routine with one more key (``line``) in its first step, on line 4."""
    return f"{GOOD}    {line}\n"


def expect_error(
    ref: str | Path, *, line: int | None, key: str | None, fragments: tuple[str, ...] = ()
) -> RoutineError:
    """Load ``ref`` and check the message is ``file[:line]: [key: ]message`` with every fragment."""
    with pytest.raises(RoutineError) as info:
        load_routine(ref)
    err = info.value
    message = str(err)
    where = f"{ref}:{line}: " if line is not None else f"{ref}: "
    assert message.startswith(where), message
    assert (err.file, err.line, err.key) == (str(ref), line, key), message
    if key is not None:
        assert message.startswith(f"{where}{key}: "), message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert "\n" not in message.strip(), "a routine error is one line"
    return err


# --- good routines


def test_design_example_loads_as_documented() -> None:
    routine = load_routine(DESIGN_EXAMPLE)
    assert isinstance(routine, Routine)
    assert routine.title == "Ten-Minute Lower Back Release"
    assert routine.id == "design_example"
    assert routine.source == str(DESIGN_EXAMPLE)
    assert routine.base_dir == DATA
    assert routine.duration_ms == 10 * 60 * 1000
    assert routine.voice == "default"
    assert routine.ambience == "none"
    assert (routine.breath.inhale_ms, routine.breath.exhale_ms) == (4000, 6000)
    assert (routine.breath.hold_in_ms, routine.breath.hold_out_ms) == (0, 0)
    assert routine.breath.cycle_ms == 10_000
    assert routine.breath.phases() == (("inhale", 4000), ("exhale", 6000))

    assert [s.kind for s in routine.steps] == ["pose", "pose", "pose", "rest", "say"]
    assert [s.line for s in routine.steps] == [7, 11, 14, 20, 21]
    knee, tilt, twist, rest, say = routine.steps
    assert knee == Step(
        kind="pose", line=7, pose="knee-to-chest", hold=Amount(ms=20_000), reps=3, sides="both"
    )
    assert tilt == Step(kind="pose", line=11, pose="pelvic-tilt", reps=12, tempo_ms=4000)
    assert twist.pose is None and twist.name == "Supine twist"
    assert twist.say == (
        "Lie on your back with your knees bent and your arms out wide.",
        "Let both knees fall slowly to one side.",
    )
    assert twist.hold == Amount(breaths=8)
    assert twist.sides == "both"
    assert (twist.reps, twist.tempo_ms) == (None, None)
    assert rest == Step(kind="rest", line=20, rest_ms=10_000)
    assert say == Step(kind="say", line=21, say=("Notice how your lower back feels now.",))


def test_routine_is_frozen() -> None:
    routine = load_routine(DESIGN_EXAMPLE)
    with pytest.raises(AttributeError):
        routine.title = "changed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        routine.steps[0].reps = 9  # type: ignore[misc]
    assert isinstance(routine.steps, tuple)


def test_there_are_built_in_routines() -> None:
    assert len(builtin_routines()) >= 6
    assert "lower-back-10min" in builtin_routines()


@pytest.mark.parametrize("rid", sorted(builtin_routines()))
def test_every_built_in_routine_loads(rid: str) -> None:
    routine = load_routine(rid)
    assert routine.id == rid
    assert routine.source == f"<built-in {rid}>"
    assert routine.title.strip() and routine.description.strip()
    assert routine.steps
    assert routine.duration_ms is not None and routine.duration_ms % 60_000 == 0
    raw = yaml.safe_load(builtin_routines()[rid].read_text(encoding="utf-8"))
    assert routine.title == raw["title"]
    assert len(routine.steps) == len(raw["steps"])
    for step in routine.steps:
        assert step.kind in ("pose", "say", "rest")
        if step.pose is not None:
            assert step.pose in POSE_IDS


def test_named_breath_patterns_and_custom_breath() -> None:
    for name, pattern in BREATH_PATTERNS.items():
        routine = parse_routine(f"title: T\nbreath: {name}\nsteps:\n  - say: Hi.\n", "b.yaml")
        assert routine.breath == pattern
    box = BREATH_PATTERNS["box"]
    assert box.phases() == (("inhale", 4000), ("hold_in", 4000), ("exhale", 4000), ("hold_out", 4000))
    custom = parse_routine(
        "title: T\nbreath: {inhale: 4s, hold_in: 2s, exhale: 8s, hold_out: 0}\nsteps:\n  - say: Hi.\n",
        "b.yaml",
    ).breath
    assert custom == Breath(4000, 8000, 2000, 0, "custom")


def test_defaults_and_whitespace_folding() -> None:
    routine = parse_routine("title: '  Two   words '\nsteps:\n  - rest: 5s\n", "d.yaml", rid="d")
    assert routine.title == "Two words"
    assert (routine.voice, routine.ambience, routine.duration_ms) == ("default", "none", None)
    assert routine.breath == BREATH_PATTERNS["relaxed"]
    assert routine.steps == (Step(kind="rest", line=3, rest_ms=5000),)


def test_a_utf8_bom_and_crlf_line_ends_are_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbftitle: Caf\xc3\xa9\r\nsteps:\r\n  - say: Hi.\r\n")
    routine = load_routine(path)
    assert routine.title == "Café"
    assert routine.steps[0].line == 3


def test_an_ambience_file_beside_the_routine_is_found(write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nambience: bed.wav\nsteps:\n  - say: Hi.\n")
    (path.parent / "bed.wav").write_bytes(b"RIFF")
    assert load_routine(path).ambience == "bed.wav"


# --- bad routines: file, line, key path, expected form, did-you-mean

BAD_TEXT = [
    # id, text, line, key, fragments of the message
    ("malformed-yaml", "title: [oops\nsteps:\n  - pose: cat-cow\n", 2, None, ("malformed YAML",)),
    ("tab-indent", "title: T\nsteps:\n\t- pose: cat-cow\n", 3, None, ("tab", "indent with spaces")),
    ("tab-in-step", f"{GOOD}  \thold: 5s\n", 4, None, ("tab", "indent with spaces")),
    ("top-level-list", "- pose: cat-cow\n- rest: 5s\n", 1, None, ("must be a mapping", "title", "steps")),
    ("top-level-scalar", "just some words\n", 1, None, ("must be a mapping",)),
    ("empty-file", "# only a comment\n", None, None, ("empty",)),
    (
        "unknown-top-key",
        "titel: T\nsteps:\n  - pose: cat-cow\n",
        1,
        "titel",
        ("unknown key 'titel'", "did you mean 'title'?"),
    ),
    (
        "unknown-top-key-no-match",
        f"{GOOD}zzz: 1\n",
        4,
        "zzz",
        ("unknown key 'zzz'", "allowed keys: title, description"),
    ),
    (
        "unknown-step-key",
        step_with("hodl: 20s"),
        4,
        "steps[0].hodl",
        ("unknown key 'hodl'", "did you mean 'hold'?"),
    ),
    (
        "title-list",
        "title: [a, b]\nsteps:\n  - pose: cat-cow\n",
        1,
        "title",
        ("expected a single value, got a list",),
    ),
    ("title-empty", "title: '  '\nsteps:\n  - pose: cat-cow\n", 1, "title", ("expected text",)),
    ("title-bool", "title: yes\nsteps:\n  - pose: cat-cow\n", 1, "title", ("expected text",)),
    (
        "reps-word",
        step_with("reps: three"),
        4,
        "steps[0].reps",
        ("whole number of reps from 1 to 100", "'three'"),
    ),
    ("reps-float", step_with("reps: 2.5"), 4, "steps[0].reps", ("whole number of reps",)),
    ("reps-zero", step_with("reps: 0"), 4, "steps[0].reps", ("whole number of reps from 1 to 100", "got 0")),
    ("reps-too-many", step_with("reps: 1000"), 4, "steps[0].reps", ("from 1 to 100",)),
    (
        "hold-mapping",
        step_with("hold: {a: 1}"),
        4,
        "steps[0].hold",
        ("expected a single value, got a mapping",),
    ),
    ("hold-negative", step_with("hold: -5s"), 4, "steps[0].hold", ("30s, 1m30s", "'-5s'")),
    ("hold-negative-number", step_with("hold: -5"), 4, "steps[0].hold", ("longer than zero",)),
    ("hold-zero", step_with("hold: 0"), 4, "steps[0].hold", ("longer than zero",)),
    ("hold-hours", step_with("hold: 5h"), 4, "steps[0].hold", ("too long", "10m")),
    ("hold-too-short", step_with("hold: 0.5s"), 4, "steps[0].hold", ("too short", "1s")),
    ("hold-zero-breaths", step_with("hold: 0 breaths"), 4, "steps[0].hold", ("1 to 60 breaths", "got 0")),
    ("hold-1000-breaths", step_with("hold: 1000 breaths"), 4, "steps[0].hold", ("1 to 60 breaths", "1000")),
    (
        "hold-soon",
        step_with("hold: soon"),
        4,
        "steps[0].hold",
        ("30s, 1m30s, 2 minutes, 90 (seconds) or 8 breaths", "'soon'"),
    ),
    ("hold-empty", step_with("hold:"), 4, "steps[0].hold", ("30s, 1m30s",)),
    ("tempo-breaths", step_with("tempo: 3 breaths"), 4, "steps[0].tempo", ("not breaths",)),
    (
        "sides-typo",
        step_with("sides: bothh"),
        4,
        "steps[0].sides",
        ("left, right, both, none", "did you mean 'both'?"),
    ),
    ("steps-empty", "title: T\nsteps: []\n", 2, "steps", ("empty", "at least one step")),
    ("steps-not-a-list", "title: T\nsteps: knee-to-chest\n", 2, "steps", ("expected a list",)),
    ("step-not-a-mapping", "title: T\nsteps:\n  - cat-cow\n", 3, "steps[0]", ("write `- pose: cat-cow`",)),
    ("step-a-misspelt-pose", "title: T\nsteps:\n  - chlds-pose\n", 3, "steps[0]", ("`- pose: childs-pose`",)),
    ("step-a-bare-time", "title: T\nsteps:\n  - 10s\n", 3, "steps[0]", ("write `- rest: 10s`",)),
    ("step-bare-words", "title: T\nsteps:\n  - hello\n", 3, "steps[0]", ("`- say: words to speak`",)),
    ("step-a-list", "title: T\nsteps:\n  - [a]\n", 3, "steps[0]", ("expected a step",)),
    (
        "yaml-a-key-indented-less",
        "title: T\nsteps:\n  - pose: cat-cow\n   hold: 20s\n",
        4,
        None,
        ("check the indentation of line 4", "two spaces in from its '-'"),
    ),
    (
        "yaml-a-colon-in-a-value",
        "title: Back: Basics\nsteps:\n  - pose: cat-cow\n",
        1,
        None,
        ("needs quotes",),
    ),
    ("yaml-an-open-quote", 'title: "Back\nsteps:\n  - pose: cat-cow\n', 4, None, ("never closed",)),
    ("steps-missing", "title: T\n", 1, "steps", ("missing 'steps'",)),
    ("title-missing", "steps:\n  - pose: cat-cow\n", 1, "title", ("missing 'title'",)),
    (
        "pose-typo",
        "title: T\nsteps:\n  - pose: cat-cwo\n",
        3,
        "steps[0].pose",
        ("unknown pose 'cat-cwo'", "did you mean 'cat-cow'?"),
    ),
    (
        "pose-unknown",
        "title: T\nsteps:\n  - pose: handstand\n",
        3,
        "steps[0].pose",
        ("unknown pose 'handstand'", "audioguide poses"),
    ),
    ("pose-number", "title: T\nsteps:\n  - pose: 5\n", 3, "steps[0].pose", ("expected a pose id",)),
    (
        "ambience-missing-file",
        "title: T\nambience: nothere.wav\nsteps:\n  - say: Hi.\n",
        2,
        "ambience",
        ("'nothere.wav' not found", "looked at"),
    ),
    (
        "ambience-unknown-name",
        "title: T\nambience: rian\nsteps:\n  - say: Hi.\n",
        2,
        "ambience",
        ("unknown ambience 'rian'", "brown-noise", "did you mean 'rain'?"),
    ),
    (
        "breath-zero-inhale",
        "title: T\nbreath: {inhale: 0s, exhale: 6s}\nsteps:\n  - say: Hi.\n",
        2,
        "breath.inhale",
        ("longer than zero",),
    ),
    (
        "breath-missing-exhale",
        "title: T\nbreath: {inhale: 4s}\nsteps:\n  - say: Hi.\n",
        2,
        "breath.exhale",
        ("missing 'exhale'", "exhale: 4s"),
    ),
    (
        "breath-key-typo",
        "title: T\nbreath: {inhail: 4s, exhale: 6s}\nsteps:\n  - say: Hi.\n",
        2,
        "breath.inhail",
        ("unknown key 'inhail'", "did you mean 'inhale'?"),
    ),
    (
        "breath-pattern-typo",
        "title: T\nbreath: boxx\nsteps:\n  - say: Hi.\n",
        2,
        "breath",
        ("unknown breath pattern 'boxx'", "relaxed, box, 4-7-8", "did you mean 'box'?"),
    ),
    (
        "duration-breaths",
        "title: T\nduration: 8 breaths\nsteps:\n  - say: Hi.\n",
        2,
        "duration",
        ("not breaths",),
    ),
    (
        "duration-too-short",
        "title: T\nduration: 5s\nsteps:\n  - say: Hi.\n",
        2,
        "duration",
        ("too short", "10s"),
    ),
    ("duplicate-top-key", "title: T\ntitle: U\nsteps:\n  - pose: cat-cow\n", 2, "title", ("given twice",)),
    ("duplicate-step-key", f"{GOOD}    hold: 5s\n    hold: 6s\n", 5, "steps[0].hold", ("given twice",)),
    ("pose-and-rest", step_with("rest: 5s"), 3, "steps[0]", ("not pose and rest",)),
    ("pose-and-name", step_with("name: Twist"), 3, "steps[0]", ("not pose and name",)),
    ("inline-pose-without-say", "title: T\nsteps:\n  - name: Twist\n", 3, "steps[0].say", ("needs 'say'",)),
    (
        "say-step-with-hold",
        "title: T\nsteps:\n  - say: Hi.\n    hold: 5s\n",
        4,
        "steps[0].hold",
        ("needs a pose",),
    ),
    (
        "rest-with-reps",
        "title: T\nsteps:\n  - rest: 5s\n    reps: 3\n",
        4,
        "steps[0].reps",
        ("takes no 'reps'",),
    ),
    ("non-string-key", f"{GOOD}1: x\n", 4, "1", ("keys must be names",)),
    ("two-documents", f"{GOOD}---\ntitle: U\n", 4, None, ("malformed YAML", "another document")),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "fragments"), [c[1:] for c in BAD_TEXT], ids=[c[0] for c in BAD_TEXT]
)
def test_bad_routine_names_file_line_key_and_expectation(
    write_routine: WriteRoutine, text: str, line: int | None, key: str | None, fragments: tuple[str, ...]
) -> None:
    path = write_routine(text)
    err = expect_error(path, line=line, key=key, fragments=fragments)
    assert isinstance(err, AudioguideError) and err.exit_code == 2


@pytest.mark.parametrize(
    ("text", "line", "key", "fragments"), [c[1:] for c in BAD_TEXT], ids=[c[0] for c in BAD_TEXT]
)
def test_parse_routine_names_the_given_file(
    text: str, line: int | None, key: str | None, fragments: tuple[str, ...]
) -> None:
    with pytest.raises(RoutineError) as info:
        parse_routine(text, "display-name.yaml", base_dir=Path("/nonexistent-audioguide-dir"))
    assert str(info.value).startswith("display-name.yaml:" if line else "display-name.yaml: ")
    assert info.value.line == line


def test_an_unknown_key_on_line_7_reports_line_7(write_routine: WriteRoutine) -> None:
    text = (
        "title: Lines\n"  # 1
        "steps:\n"  # 2
        "  - pose: cat-cow\n"  # 3
        "    reps: 5\n"  # 4
        "  - pose: knee-to-chest\n"  # 5
        "    hold: 20s\n"  # 6
        "    sied: both\n"  # 7
    )
    path = write_routine(text)
    err = expect_error(path, line=7, key="steps[1].sied", fragments=("did you mean 'sides'?",))
    assert f"{path}:7: steps[1].sied: " in str(err)


def test_line_numbers_are_exact_deep_in_a_file(write_routine: WriteRoutine) -> None:
    lines = ["title: Lines", "description: A routine with a bad hold far down.", "steps:"]
    for _ in range(10):
        lines += ["  - pose: cat-cow", "    reps: 5", "    tempo: 4s"]
    lines += ["  # a comment line", "", "  - pose: knee-to-chest", "    sides: both", "    hold: 20 s econds"]
    path = write_routine("\n".join(lines) + "\n")
    expect_error(path, line=len(lines), key="steps[10].hold", fragments=("'20 s econds'",))
    assert len(lines) == 38


def test_a_step_line_is_where_the_step_starts(write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\n\n\nsteps:\n  - say: One.\n\n  - rest: 5s\n")
    assert [s.line for s in load_routine(path).steps] == [5, 7]
    path = write_routine("title: T\nsteps:\n  - say: One.\n\n  - rest: 5x\n")
    expect_error(path, line=5, key="steps[1].rest")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"title: caf\xe9\n")
    expect_error(path, line=1, key=None, fragments=("not UTF-8", "0xe9", "save it as UTF-8"))
    path.write_bytes(b"title: T\nsteps:\n  - say: caf\xe9\n")
    expect_error(path, line=3, key=None, fragments=("not UTF-8",))


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "noise.yaml"
    path.write_bytes(b"title: T\n\x00\x01\x02\xff\xfe" * 10)
    expect_error(path, line=None, key=None, fragments=("NUL bytes", "expected YAML"))


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "routines.yaml"
    folder.mkdir()
    expect_error(folder, line=None, key=None, fragments=("is a directory",))


def test_missing_path(tmp_path: Path) -> None:
    expect_error(tmp_path / "nope.yaml", line=None, key=None, fragments=("no such file",))


def test_unknown_built_in_name_lists_or_suggests() -> None:
    expect_error("lower-back-10mn", line=None, key=None, fragments=("did you mean 'lower-back-10min'?",))
    expect_error("zzzz", line=None, key=None, fragments=("built-in routines:", "desk-break-5min"))


def test_a_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    path.write_text("title: T\n" + "# padding\n" * 120_000, encoding="utf-8")
    expect_error(path, line=None, key=None, fragments=("bytes",))


def test_too_many_values_are_refused(write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nsteps:\n" + "  - say: Hi.\n" * 10_001)
    expect_error(path, line=None, key=None, fragments=("more than 20,000 values",))


def alias_bomb(levels: int = 9) -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in itertools.pairwise("abcdefghijklmnopqrstuvwxyz"[:levels]):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "title: Lots of laughs\n" + "\n".join(lines) + "\nsteps:\n  - say: Hi.\n"


def test_alias_bomb_fails_fast_and_small(write_routine: WriteRoutine) -> None:
    text = alias_bomb(9)  # 9**9 ≈ 387 million strings if anything expanded it
    assert text.count("*") == 8 * 9
    path = write_routine(text)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(RoutineError) as info:
            load_routine(path)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 2.0, f"alias bomb took {elapsed:.1f} s"  # composing 90 nodes is milliseconds
    assert peak < 20 * 2**20, f"alias bomb used {peak / 2**20:.0f} MiB"
    message = str(info.value)
    assert message.startswith(f"{path}:")
    assert "aliases" in message and info.value.line is not None


def test_a_single_alias_is_refused_too(write_routine: WriteRoutine) -> None:
    path = write_routine("title: &t T\ndescription: *t\nsteps:\n  - say: Hi.\n")
    with pytest.raises(RoutineError) as info:
        load_routine(path)
    # an alias is the anchored node itself, so either line (anchor or alias) is a fair place to point at
    assert info.value.line in (1, 2)
    assert str(info.value).startswith(f"{path}:{info.value.line}: YAML anchors and aliases")
    assert "write each value out in full" in str(info.value)


# --- voice profiles: checked when the profile is loaded (at build time), not by the routine loader


def test_unknown_voice_profile_lists_the_profiles() -> None:
    with pytest.raises(RoutineError) as info:
        load_profile("defualt")
    message = str(info.value)
    assert "unknown voice profile 'defualt'" in message
    assert re.search(r"\(profiles: [^)]*\bdefault\b", message)
    assert "did you mean 'default'?" in message


def test_missing_voice_profile_file() -> None:
    with pytest.raises(RoutineError, match=r"voice profile file 'nothere\.yaml' not found"):
        load_profile("nothere.yaml")


def test_the_default_profile_loads() -> None:
    assert load_profile("default").name == "default"


def test_an_unknown_voice_in_a_routine_fails_at_plan_time(write_routine: WriteRoutine) -> None:
    from audioguide.pipeline.build import BuildOptions, make_plan

    path = write_routine("title: T\nvoice: defualt\nsteps:\n  - say: Hi.\n")
    with pytest.raises(RoutineError, match=r"unknown voice profile 'defualt' \(profiles: [^)]*\bdefault\b"):
        make_plan(path, BuildOptions(engine="tone"))


def test_an_unknown_voice_in_a_routine_names_the_routine_line(write_routine: WriteRoutine) -> None:
    from audioguide.pipeline.build import BuildOptions, make_plan

    path = write_routine("title: T\nvoice: defualt\nsteps:\n  - say: Hi.\n")
    with pytest.raises(RoutineError) as info:
        make_plan(path, BuildOptions(engine="tone"))
    assert str(info.value).startswith(f"{path}:2: voice: ")


# --- found in review: anything but RoutineError escaping the loader (fixed)


@pytest.mark.parametrize(
    "hold",
    [
        pytest.param("9" * 400, id="400-digit-int"),
        pytest.param("9" * 400 + "s", id="400-digit-s"),
        pytest.param("1.0e+308", id="float-1e308"),
    ],
)
def test_huge_hold_is_a_routine_error(write_routine: WriteRoutine, hold: str) -> None:
    expect_error(write_routine(step_with(f"hold: {hold}")), line=4, key="steps[0].hold")


@pytest.mark.parametrize(
    "value",
    [
        "!!int x",
        "!!float x",
        "!!bool x",
        "!!timestamp x",
        "!!binary abc",
        "!foo x",
        "!!python/object:os.system x",
    ],
)
def test_explicit_yaml_tags_are_a_routine_error(write_routine: WriteRoutine, value: str) -> None:
    expect_error(write_routine(step_with(f"reps: {value}")), line=4, key="steps[0].reps")


def test_ambience_with_an_unknown_user_home_is_a_routine_error(write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nambience: ~no-such-user-audioguide/bed.wav\nsteps:\n  - say: Hi.\n")
    expect_error(path, line=2, key="ambience")


def test_inline_pose_name_error_has_the_full_key_path(write_routine: WriteRoutine) -> None:
    path = write_routine("title: T\nsteps:\n  - say: Hi.\n  - name: [a, b]\n    say: Hi.\n")
    expect_error(path, line=4, key="steps[1].name")


# --- the STYLE.md invariant: any document either loads or raises RoutineError

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**9),
    st.floats(-1e9, 1e9),  # wider floats overflow: a known bug, tested above
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
    st.text(max_size=24),
)
JUNK = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def mostly(valid: st.SearchStrategy, invalid: st.SearchStrategy) -> st.SearchStrategy:
    """Valid about nine times in ten, so that whole documents load often enough to test that path too."""
    return st.sampled_from([valid] * 9 + [invalid]).flatmap(lambda chosen: chosen)


WORDS = st.text(st.sampled_from("abcdefgh XYZ-é,"), min_size=1, max_size=24).filter(str.strip)
DURATIONS = st.one_of(
    st.sampled_from(
        [
            *("30s", "1m30s", "90", "2m", "1h", "5h", "8 breaths", "1 breath", "0 breaths", "1000 breaths"),
            *("0", "0s", "-5s", "0.5s", "1.5s", "soon", "", "1e9", "nan", "10m", "4s", "12 s"),
        ]
    ),
    st.builds(lambda m, s: f"{m}m{s}s", st.integers(0, 12), st.integers(0, 99)),
    st.builds(lambda n: f"{n} breaths", st.integers(-2, 80)),
    st.integers(-100, 10_000),
    st.floats(-100, 10_000),
    SCALARS,
)
SECONDS = st.builds(lambda s: f"{s}s", st.integers(1, 30))
HOLDS = st.one_of(
    st.integers(1, 600), SECONDS, st.builds(lambda n: f"{n} breaths", st.integers(1, 60)), st.just("1m30s")
)
POSE_REFS = st.one_of(st.sampled_from(POSE_IDS), st.sampled_from(["cat-cwo", "", "Cat-Cow", "knee"]), SCALARS)
SAY = st.one_of(st.sampled_from(["Breathe.", "Lie down. Relax!", "  ", "One? Two."]), SCALARS)
GOOD_SAY = st.sampled_from(["Breathe.", "Lie down. Relax!", "One? Two.", "Slowly now"])
SIDE = st.one_of(st.sampled_from([*SIDES, "bothh", "LEFT"]), SCALARS)
ANY_STEP = st.fixed_dictionaries(
    {},
    optional={
        "pose": POSE_REFS,
        "name": st.one_of(st.text(max_size=12), SCALARS),
        "say": SAY,
        "hold": DURATIONS,
        "reps": st.one_of(st.integers(-3, 120), SCALARS),
        "tempo": DURATIONS,
        "sides": SIDE,
        "rest": DURATIONS,
        "hodl": DURATIONS,
    },
)
LIKELY_STEP = st.one_of(
    st.fixed_dictionaries(
        {"pose": mostly(st.sampled_from(POSE_IDS), POSE_REFS)},
        optional={
            "hold": mostly(HOLDS, DURATIONS),
            "reps": mostly(st.integers(1, 100), st.integers(-1, 120)),
            "sides": mostly(st.sampled_from(SIDES), SIDE),
            "tempo": mostly(SECONDS, DURATIONS),
        },
    ),
    st.fixed_dictionaries(
        {"name": mostly(WORDS, SCALARS), "say": mostly(GOOD_SAY, SAY)},
        optional={"hold": mostly(HOLDS, DURATIONS), "sides": mostly(st.sampled_from(SIDES), SIDE)},
    ),
    st.fixed_dictionaries({"rest": mostly(SECONDS, DURATIONS)}, optional={"say": mostly(GOOD_SAY, SAY)}),
    st.fixed_dictionaries({"say": mostly(GOOD_SAY, SAY)}),
)
PHASE = mostly(st.sampled_from(["1s", "4s", "6s", "20s", 5, 0.5]), DURATIONS)
BREATH = st.one_of(
    st.sampled_from([*BREATH_PATTERNS, "boxx"]),
    st.fixed_dictionaries({"inhale": PHASE, "exhale": PHASE}, optional={"hold_in": PHASE, "hold_out": PHASE}),
    st.fixed_dictionaries(
        {}, optional={"inhale": DURATIONS, "exhale": DURATIONS, "hold_in": DURATIONS, "hold_out": DURATIONS}
    ),
    SCALARS,
)
# Ambience text may name a file: keep to names that cannot start with '~' (a known bug, tested above).
AMBIENCE = st.one_of(
    st.sampled_from(["none", "rain", "rian", "drone", "brown-noise", "nothere.wav", "/no/such/bed.ogg", "."]),
    SCALARS.filter(lambda v: not (isinstance(v, str) and v.lstrip().startswith("~"))),
)
ROUTINE_DOC = st.fixed_dictionaries(
    {
        "title": mostly(WORDS, st.one_of(SCALARS, JUNK)),
        "steps": mostly(
            st.lists(mostly(LIKELY_STEP, st.one_of(ANY_STEP, JUNK)), min_size=1, max_size=4),
            st.one_of(st.lists(ANY_STEP, max_size=3), JUNK),
        ),
    },
    optional={
        "description": mostly(WORDS, SCALARS),
        "duration": mostly(st.sampled_from(["10s", "5m", "1h", 600, "2m30s"]), DURATIONS),
        "voice": mostly(st.just("default"), SCALARS),
        "breath": BREATH,
        "ambience": mostly(st.sampled_from(["none", "rain", "drone", "brown-noise"]), AMBIENCE),
    },
)
MESSY_DOC = st.fixed_dictionaries(
    {},
    optional={
        "title": st.one_of(st.text(max_size=30), JUNK),
        "duration": DURATIONS,
        "breath": BREATH,
        "ambience": AMBIENCE,
        "steps": st.one_of(st.lists(st.one_of(LIKELY_STEP, ANY_STEP, JUNK), max_size=5), JUNK),
        "titel": SCALARS,
    },
)
DOCUMENTS = st.one_of(ROUTINE_DOC, ROUTINE_DOC, ROUTINE_DOC, MESSY_DOC, JUNK)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=DOCUMENTS)
def test_any_document_loads_or_raises_routine_error(doc: object) -> None:
    text = yaml.safe_dump(doc, allow_unicode=True)
    try:
        routine = parse_routine(text, "gen.yaml")
    except RoutineError as err:
        assert str(err).startswith("gen.yaml")
    else:
        assert isinstance(routine, Routine)
        assert routine.title.strip() and routine.steps
        assert all(isinstance(s, Step) and s.kind in ("pose", "say", "rest") for s in routine.steps)


@settings(max_examples=150, deadline=None)
@given(
    text=st.lists(
        st.sampled_from(
            [
                *"abs0123456789:-[]{},#&*'\"?|>%@`~. \n\t\\\x00\x85",
                *("title: ", "steps:\n", "  - ", "pose: ", "cat-cow", "hold: ", "8 breaths", "reps: "),
            ]
        ),
        max_size=40,
    ).map("".join)
)
def test_any_text_loads_or_raises_routine_error(text: str) -> None:
    # '!' (YAML tags) is left out of the alphabet: tags are a known bug, tested above.
    try:
        parse_routine(text, "gen.yaml")
    except RoutineError as err:
        assert str(err).startswith("gen.yaml")


# --- found in review (fixed)


def test_breath_phases_with_tones_need_a_second() -> None:
    text = (
        "title: T\nbreath: {inhale: 0.5s, exhale: 0.5s}\nsteps:\n  - pose: childs-pose\n    hold: 3 breaths\n"
    )
    with pytest.raises(RoutineError, match=r"t.yaml:2: breath.inhale: 0.5s is too short; the least is 1s"):
        parse_routine(text, "t.yaml")


def test_a_say_step_with_no_words_is_refused_at_its_line() -> None:
    with pytest.raises(RoutineError, match=r"t.yaml:3: steps\[0\].say: expected the words to say"):
        parse_routine('title: T\nsteps:\n  - say: "..."\n', "t.yaml")
