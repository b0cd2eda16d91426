"""Stage 2: what the compiler says and where, checked on the Script before any audio exists."""

from __future__ import annotations

import itertools
import os
from collections import Counter
from pathlib import Path

import pytest

from audioguide.compile.compiler import Options, compile_routine
from audioguide.errors import RoutineError
from audioguide.load.poses import library, phrases
from audioguide.load.routine import builtin_routines, load_routine, parse_routine
from audioguide.model.script import Placed, Say, Script, Sound, Span

GOLDEN = Path(__file__).parent / "data" / "golden"
BUILTINS = sorted(builtin_routines())
BRIEF_WORD_RATIO = 0.70  # the bound: brief speaks well under 70 % of full's words


def script_text(script: Script) -> str:
    """A readable, diffable rendering of a script (the golden file format)."""
    lines = [f"# {script.title} (target {script.target_ms} ms)"]
    for section in script.sections:
        lines.append(f"\n== {section.title} [step {section.step_index}, side {section.side}]")
        for item in section.items:
            if isinstance(item, Say):
                lines.append(f"say  {item.text}  (+{item.pause_ms} ms)")
            elif isinstance(item, Sound):
                lines.append(f"cue  {item.name}  (+{item.advance_ms} ms)")
            else:
                lines.append(
                    f"span {item.kind} {item.label} base={item.base_ms} min={item.min_ms} max={item.max_ms}"
                    f" link={item.link}"
                )
                for p in item.placed:
                    where = f"{p.anchor}{'+' if p.anchor != 'end' else '-'}{p.offset_ms}"
                    if p.anchor == "fraction":
                        where = f"at {p.fraction:g}"
                    lines.append(f"     {p.kind:6} {where:12} {'(opt) ' if p.optional else ''}{p.what}")
    return "\n".join(lines) + "\n"


def test_flagship_script_matches_golden_file() -> None:
    """The flagship's words are reviewed like code: AUDIOGUIDE_UPDATE_GOLDEN=1 regenerates; read the diff."""
    text = script_text(compile_routine(load_routine("lower-back-10min")))
    golden = GOLDEN / "lower-back-10min.script.txt"
    if os.environ.get("AUDIOGUIDE_UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("rid", BUILTINS)
def test_opening_safety_note_is_spoken_in_full_by_default(rid: str) -> None:
    welcome = compile_routine(load_routine(rid)).sections[0]
    said = [i.text for i in welcome.items if isinstance(i, Say)]
    for sentence in phrases()["safety_full"]:
        assert sentence in said


def test_no_intro_keeps_a_one_line_reminder() -> None:
    script = compile_routine(load_routine("lower-back-10min"), Options(intro="short"))
    said = [i.text for i in script.sections[0].items if isinstance(i, Say)]
    assert phrases()["safety_short"][0] in said
    assert not set(phrases()["safety_full"]) & set(said)


def _sections_by_step(script: Script) -> dict[int, list]:
    out: dict[int, list] = {}
    for s in script.sections:
        out.setdefault(s.step_index, []).append(s)
    return out


@pytest.mark.parametrize("rid", BUILTINS)
def test_sides_come_in_pairs_left_then_right_with_linked_equal_holds(rid: str) -> None:
    routine = load_routine(rid)
    script = compile_routine(routine)
    for index, sections in _sections_by_step(script).items():
        if index < 0 or routine.steps[index].kind != "pose":
            continue
        sides = [s.side for s in sections]
        if sides == [None]:
            continue
        assert sides == ["left", "right"], f"step {index}: {sides}"
        left, right = ([i for i in s.items if isinstance(i, Span) and i.kind == "hold"] for s in sections)
        assert len(left) == len(right) > 0
        for a, b in zip(left, right, strict=True):
            assert (a.base_ms, a.min_ms, a.max_ms) == (b.base_ms, b.min_ms, b.max_ms)
        switch = next(i.text for i in sections[1].items if isinstance(i, Say))
        assert "right" in switch.lower()


def test_rep_counts_match_the_step() -> None:
    routine = parse_routine("title: T\nsteps:\n  - pose: pelvic-tilt\n    reps: 7\n    tempo: 5s\n", "t.yaml")
    span = next(i for i in compile_routine(routine).items() if isinstance(i, Span) and "reps" in i.label)
    ticks = [p for p in span.placed if p.kind == "cue" and p.what == "tick"]
    assert len(ticks) == 7
    assert [p.offset_ms for p in ticks] == [r * 5000 for r in range(7)]
    assert span.base_ms == span.min_ms == span.max_ms == 35_000


@pytest.mark.parametrize("pattern", ["relaxed", "box", "4-7-8"])
def test_breath_holds_are_cued_in_time_and_end_on_an_exhale(pattern: str) -> None:
    routine = parse_routine(
        f"title: T\nbreath: {pattern}\nsteps:\n  - pose: childs-pose\n    hold: 5 breaths\n", "t.yaml"
    )
    span = next(i for i in compile_routine(routine).items() if isinstance(i, Span) and "breaths" in i.label)
    tones = sorted((p for p in span.placed if p.what in ("inhale", "exhale")), key=lambda p: p.offset_ms)
    assert [p.what for p in tones] == ["inhale", "exhale"] * 5
    last = tones[-1]
    assert last.what == "exhale"
    assert last.offset_ms + (last.length_ms or 0) == span.base_ms  # the hold ends as the exhale does
    assert span.rigid
    words = [p for p in span.placed if p.kind == "speech" and not p.optional]
    assert all(p.window_ms is not None and p.window_ms > 0 for p in words)


@pytest.mark.parametrize("rid", BUILTINS)
def test_brief_speaks_well_under_70_percent_of_full(rid: str) -> None:
    routine = load_routine(rid)
    full = compile_routine(routine, Options(verbosity="full")).words()
    brief = compile_routine(routine, Options(verbosity="brief")).words()
    minimal = compile_routine(routine, Options(verbosity="minimal")).words()
    assert brief < BRIEF_WORD_RATIO * full
    assert minimal < brief


def test_minimal_speaks_names_and_sides_only() -> None:
    script = compile_routine(load_routine("lower-back-10min"), Options(verbosity="minimal"))
    pose_sections = [s for s in script.sections if s.step_index >= 0 and s.title != "Rest"]
    for section in pose_sections:
        for item in section.items:
            if isinstance(item, Span):
                assert all(p.kind == "cue" for p in item.placed)


def test_phrases_vary_instead_of_repeating_every_minute() -> None:
    script = compile_routine(load_routine("lower-back-10min"))
    placed = [p.what for i in script.items() if isinstance(i, Span) for p in i.placed if p.kind == "speech"]
    starts = [t for t in placed if t in phrases()["hold_start"]]
    assert len(set(starts)) >= min(3, len(starts))
    assert all(a != b for a, b in itertools.pairwise(starts))
    counts = Counter(i.text for i in script.items() if isinstance(i, Say))
    assert counts.most_common(1)[0][1] <= 4


def test_avoid_supine_swaps_every_lying_on_back_pose() -> None:
    script = compile_routine(load_routine("lower-back-10min"), Options(avoid=("supine",)))
    titles = {s.title.split(" (")[0].lower() for s in script.sections if s.step_index >= 0}
    supine = {p.name.lower() for p in library().values() if p.position == "supine"}
    assert not titles & supine


def test_avoid_fails_clearly_when_no_alternative_exists() -> None:
    stuck = next(
        (p for p in library().values() if all(library()[a].position == p.position for a in p.alternatives)),
        None,
    )
    if stuck is None:
        pytest.skip("every pose has an alternative in another position")
    routine = parse_routine(f"title: T\nsteps:\n  - pose: {stuck.id}\n", "t.yaml")
    with pytest.raises(
        RoutineError, match=rf"t.yaml:3: steps\[0\].pose: pose '{stuck.id}' is {stuck.position}"
    ):
        compile_routine(routine, Options(avoid=(stuck.position,)))


def test_user_words_that_say_push_through_pain_are_refused() -> None:
    routine = parse_routine("title: T\nsteps:\n  - say: Push through the pain now.\n", "t.yaml")
    with pytest.raises(RoutineError, match=r"t.yaml:3: steps\[0\].say"):
        compile_routine(routine)


def test_hold_and_tempo_together_are_refused_with_the_step() -> None:
    routine = parse_routine("title: T\nsteps:\n  - pose: bridge\n    hold: 10s\n    tempo: 4s\n", "t.yaml")
    with pytest.raises(RoutineError, match=r"t.yaml:3: steps\[0\]: a step takes either 'hold' or 'tempo'"):
        compile_routine(routine)


def test_one_sided_text_names_the_working_side() -> None:
    script = compile_routine(load_routine("lower-back-10min"))
    for section in script.sections:
        text = " ".join(i.text for i in section.items if isinstance(i, Say))
        assert "{" not in text
        if section.side == "left" and "knee to chest" in section.title.lower():
            assert "left knee" in text


def test_placed_items_are_well_formed_everywhere() -> None:
    for rid in BUILTINS:
        for verbosity in ("full", "brief", "minimal"):
            for item in compile_routine(load_routine(rid), Options(verbosity=verbosity)).items():
                if isinstance(item, Span):
                    assert item.min_ms <= item.base_ms <= item.max_ms
                    for p in item.placed:
                        assert isinstance(p, Placed)
                        assert p.anchor in ("start", "end", "fraction")


def test_words_before_a_pose_open_its_chapter_and_words_at_the_end_get_their_own() -> None:
    routine = parse_routine(
        "title: T\nsteps:\n  - say: Come onto your hands and knees.\n  - pose: cat-cow\n"
        "  - say: Notice how your lower back feels now.\n",
        "t.yaml",
    )
    sections = compile_routine(routine).sections
    titles = [s.title for s in sections]
    assert titles == ["Welcome", "Cat-cow", "Notice how your lower back feels now", "Closing"]
    first_words = next(i for i in sections[1].items if isinstance(i, Say))
    assert first_words.text == "Come onto your hands and knees."


@pytest.mark.parametrize("rid", BUILTINS)
def test_avoid_supine_never_asks_the_listener_to_lie_on_their_back(rid: str) -> None:
    """The pregnancy filter: free words such as 'lie down on your back again' go with the poses."""
    from audioguide.compile.wording import POSITION_WORDS

    script = compile_routine(load_routine(rid), Options(avoid=("supine",)))
    said = [i.text for i in script.items() if isinstance(i, Say)]
    assert not [s for s in said if POSITION_WORDS["supine"].search(s)]


@pytest.mark.parametrize(
    "words",
    [
        "Keep going through the pain.",
        "Feel the burn.",
        "Ignore the pain and keep going.",
        "Push past the pain.",
    ],
)
def test_any_wording_that_says_to_ignore_pain_is_refused(words: str) -> None:
    routine = parse_routine(f"title: T\nsteps:\n  - say: {words}\n", "t.yaml")
    with pytest.raises(RoutineError, match=r"t.yaml:3: steps\[0\].say"):
        compile_routine(routine)


def test_an_inline_pose_name_is_checked_too() -> None:
    routine = parse_routine("title: T\nsteps:\n  - name: Push through the pain\n    say: Sit.\n", "t.yaml")
    with pytest.raises(RoutineError, match=r"steps\[0\].name"):
        compile_routine(routine)


def test_counts_of_one_read_naturally() -> None:
    routine = parse_routine(
        "title: T\nsteps:\n  - pose: childs-pose\n    hold: 1 breath\n  - pose: pelvic-tilt\n    reps: 1\n",
        "t.yaml",
    )
    said = " ".join(i.text for i in compile_routine(routine).items() if isinstance(i, Say))
    assert "one breaths" not in said.lower() and "one times" not in said.lower()


def test_the_closing_mentions_lying_down_only_after_floor_work() -> None:
    def closing_words(rid: str) -> str:
        closing = compile_routine(load_routine(rid)).sections[-1]
        return " ".join(i.text for i in closing.items if isinstance(i, Say)).lower()

    assert "lying" in closing_words("lower-back-10min")
    assert "lying" not in closing_words("desk-break-5min")
