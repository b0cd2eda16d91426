"""Programs: a series file that describes weeks of generated sessions, with progression.

The rules are checked on the episodes as loaded (the routines that will be built): holds grow week by
week within their band, poses come in a few at a time, a pose taught in full is later set up briefly,
the first episode alone carries the full safety note; and a creator can replace, reorder and pin.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from audioguide.compile.compiler import HOLD_STRETCH
from audioguide.errors import RoutineError
from audioguide.load.poses import library
from audioguide.series.manifest import data_files, fingerprints
from audioguide.series.spec import Episode, Series, load_series

HEAD = """\
title: Back Care in Four Weeks
description: Twelve sessions for a stiff lower back, building week by week.
base_url: https://example.org/backcare/
"""
PROGRAM = HEAD + "program: {weeks: 4, per_week: 3, length: 15m, focus: lower back, where: floor, seed: 7}\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "series.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Series:
    return load_series(write(tmp_path_factory.mktemp("program"), PROGRAM))


def steps(episode: Episode) -> dict[str, object]:
    return {s.pose: s for s in episode.routine.steps if s.pose}


def test_a_program_is_twelve_numbered_weekly_episodes(program: Series) -> None:
    assert [e.number for e in program.episodes] == list(range(1, 13))
    assert program.episodes[0].title == "Week 1, Session 1 of Back Care in Four Weeks"
    assert program.episodes[11].title == "Week 4, Session 3 of Back Care in Four Weeks"
    assert program.episodes[4].filename == "05-week-2-session-2.mp3"
    assert all(e.routine.duration_ms == 900_000 for e in program.episodes)


def test_holds_grow_week_by_week_within_their_band(program: Series) -> None:
    poses = library()
    scale_by_week: dict[int, set[float]] = {}
    for e in program.episodes:
        week = (e.number - 1) // 3 + 1
        for s in e.routine.steps:
            dose = poses[s.pose].hold if s.pose else None
            if s.hold is None or dose is None or dose.ms is None or s.hold.ms is None:
                continue
            scale = s.hold.ms / dose.ms
            assert 1.0 <= scale <= HOLD_STRETCH + 0.05
            scale_by_week.setdefault(week, set()).add(round(scale, 1))
    assert scale_by_week[1] == {1.0}
    assert max(scale_by_week[4]) == HOLD_STRETCH
    medians = [sorted(scale_by_week[w])[len(scale_by_week[w]) // 2] for w in (1, 2, 3, 4)]
    assert medians == sorted(medians) and medians[0] < medians[-1]


def test_poses_are_introduced_a_few_at_a_time(program: Series) -> None:
    seen: set[str] = set()
    for e in program.episodes:
        new = set(steps(e)) - seen
        assert len(new) <= (8 if e.number == 1 else 2), (e.number, new)
        seen |= new


def test_guidance_is_brief_once_a_pose_has_been_taught_in_full(program: Series) -> None:
    seen: set[str] = set()
    for e in program.episodes:
        for s in e.routine.steps:
            assert (s.guidance == "brief") == (s.pose in seen), (e.number, s.pose)
        seen |= set(steps(e))
    later = program.episodes[5]
    assert any(s.guidance == "brief" for s in later.routine.steps)


def test_only_the_first_episode_has_the_full_safety_note(program: Series) -> None:
    assert [e.intro for e in program.episodes] == ["full"] + ["short"] * 11


def test_brief_guidance_says_less_than_full_guidance_but_still_says_how(program: Series) -> None:
    """The same pose, set up in full in episode 1 and briefly later: fewer words, one sentence."""
    from audioguide.compile.compiler import compile_routine
    from audioguide.model.script import Say

    first, later = program.episodes[0], program.episodes[6]
    shared = next(p for p in steps(later) if p in steps(first) and library()[p].kind == "hold")

    def said(episode: Episode) -> list[str]:
        script = compile_routine(episode.routine)
        index = next(i for i, s in enumerate(episode.routine.steps) if s.pose == shared)
        return [
            i.text
            for sec in script.sections
            if sec.step_index == index
            for i in sec.items
            if isinstance(i, Say)
        ]

    pose = library()[shared]
    full, brief = said(first), said(later)
    assert any(line in full for line in (pose.text(s, "left") for s in pose.setup[1:]))
    assert pose.text(pose.brief, "left") in brief or pose.text(pose.brief, None) in brief
    assert len(" ".join(brief).split()) < len(" ".join(full).split())


def test_a_creator_can_replace_reorder_and_pin(tmp_path: Path) -> None:
    listed = PROGRAM + "episodes:\n  - generated: 2\n  - routine: lower-back-10min\n  - generated: 1\n"
    series = load_series(write(tmp_path, listed))
    assert [e.key for e in series.episodes] == ["program/2", "lower-back-10min", "program/1"]
    assert series.episodes[0].intro == "full"
    assert not any(s.guidance for s in series.episodes[0].routine.steps)  # first heard: taught in full
    before = set(steps(series.episodes[0])) | set(steps(series.episodes[1]))
    for s in series.episodes[2].routine.steps:
        assert (s.guidance == "brief") == (s.pose in before)
    # Pin: the routine file `series routines` writes builds the same routine as the generated entry.
    out = tmp_path / "routines"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "audioguide.cli",
            "series",
            "routines",
            str(tmp_path / "series.yaml"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    pinned = out / "01-week-1-session-2.yaml"
    (tmp_path / "pinned.yaml").write_text(pinned.read_text(encoding="utf-8"), encoding="utf-8")
    again = load_series(write(tmp_path, PROGRAM + "episodes:\n  - routine: pinned.yaml\n"))
    assert again.episodes[0].routine.steps == series.episodes[0].routine.steps
    assert again.episodes[0].title == series.episodes[0].title


def test_changing_one_episode_rebuilds_only_that_one(tmp_path: Path, program: Series) -> None:
    from audioguide.pipeline.build import BuildOptions

    def prints(series: Series) -> list[str]:
        data = data_files()
        return [fingerprints(e, BuildOptions(), "cover", data)[0] for e in series.episodes]

    listed = PROGRAM + "episodes:\n" + "".join(f"  - generated: {n}\n" for n in range(1, 13))
    same = load_series(write(tmp_path, listed))
    assert prints(same) == prints(program)  # listing them as they come changes nothing
    retitled = load_series(
        write(tmp_path, listed.replace("generated: 12\n", "generated: 12\n    title: Finale\n"))
    )
    changed = [a != b for a, b in zip(prints(retitled), prints(program), strict=True)]
    assert changed == [False] * 11 + [True]


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        (PROGRAM + "episodes:\n  - generated: 13\n", "episodes[0].generated", "1 to 12"),
        (HEAD + "episodes:\n  - generated: 1\n", "episodes[0].generated", "needs a 'program:'"),
        (PROGRAM.replace("focus: lower back", "focus: knees"), "program.focus", "knees"),
        (PROGRAM.replace("weeks: 4", "weeks: 0"), "program.weeks", "from 1"),
        (PROGRAM.replace("length: 15m", "length: 2s"), "program.length", "out of range"),
        (HEAD + "program: {weeks: 2, length: 10m}\n", "program.per_week", "missing"),
        (PROGRAM + "episodes:\n  - generated: 1\n    routine: lower-back-10min\n", "episodes[0]", "not both"),
    ],
)
def test_program_mistakes_name_the_file_line_and_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    with pytest.raises(RoutineError) as info:
        load_series(write(tmp_path, text))
    assert info.value.key == key
    assert words in str(info.value)
    assert info.value.line is not None


@pytest.mark.slow
def test_a_small_program_builds_and_every_episode_passes_the_check(tmp_path: Path) -> None:
    """Two weeks of one ten-minute chair session, built as a series with the real voice."""
    from audioguide.pipeline.build import BuildOptions, make_plan
    from audioguide.pipeline.check import check

    text = HEAD + "program: {weeks: 2, per_week: 1, length: 10m, focus: neck and shoulders, where: chair}\n"
    series = load_series(write(tmp_path, text))
    for e in series.episodes:
        plan = make_plan(
            e.routine, BuildOptions(compile=dataclasses.replace(BuildOptions().compile, intro=e.intro))
        )
        assert plan.timeline.length_ms == 600_000
        assert [str(f) for f in check(plan.script, plan.timeline)] == []
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "audioguide.cli",
            "series",
            "build",
            str(tmp_path / "series.yaml"),
            "-o",
            str(tmp_path / "site"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "site").glob("*.mp3")) == [
        "01-week-1-session-1.mp3",
        "02-week-2-session-1.mp3",
    ]


# -- the session cache: a rebuild reads generated sessions instead of generating them again ---------


def texts(series: Series) -> list[str]:
    return [episode.source_text for episode in series.episodes]


def test_sessions_come_from_the_cache_unchanged_and_without_generating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import audioguide.series.program as programs

    monkeypatch.setenv("AUDIOGUIDE_CACHE", str(tmp_path / "cache"))
    path = write(tmp_path, PROGRAM)
    generated = texts(load_series(path))  # a cold cache: every session generated (the reference)
    assert len(list((tmp_path / "cache" / "programs").iterdir())) == 12

    def no_generating(*args: object) -> None:
        raise AssertionError("a cached program was generated again")

    monkeypatch.setattr(programs, "generate", no_generating)
    assert texts(load_series(path)) == generated


def test_the_session_cache_lives_in_the_cache_folder_a_build_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUDIOGUIDE_CACHE", str(tmp_path / "default"))
    path = write(tmp_path, PROGRAM)
    load_series(path, cache_dir=tmp_path / "given")  # as build_series and plan_series call it
    assert len(list((tmp_path / "given" / "programs").iterdir())) == 12
    assert not (tmp_path / "default").exists()


@pytest.mark.parametrize(
    "change",
    ["another seed", "another title", "other code", "damaged entries", "a pinned episode"],
)
def test_anything_that_shapes_a_session_misses_the_cache(
    change: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After the change, the texts are those a cold cache gives (generated), not the cached ones."""
    import audioguide.series.program as programs

    cache = tmp_path / "cache"
    monkeypatch.setenv("AUDIOGUIDE_CACHE", str(cache))
    text = PROGRAM.replace("weeks: 4, per_week: 3", "weeks: 2, per_week: 2")
    path = write(tmp_path, text)
    load_series(path)
    if change == "another seed":
        text = text.replace("seed: 7", "seed: 8")
    elif change == "another title":
        text = text.replace("title: Back Care in Four Weeks", "title: Back Care in Two Weeks")
    elif change == "other code":
        monkeypatch.setattr(programs, "code_identity", lambda: "0" * 64)
    elif change == "damaged entries":
        entries = sorted((cache / "programs").iterdir())
        for entry in entries:
            entry.write_text('{"key": "not this one", "text": "title: X\\nsteps: [{rest: 5s}]\\n"}')
        entries[0].unlink()
        entries[0].mkdir()  # cannot be replaced: the text is generated all the same
    else:  # episode 1 replaced by a built-in: what session 2 is told was taught changes
        pinned = "".join(f"  - generated: {n}\n" for n in (2, 3, 4))
        text += f"episodes:\n  - routine: lower-back-10min\n{pinned}"
    path.write_text(text, encoding="utf-8")
    calls: list[object] = []
    real = programs.generate
    monkeypatch.setattr(programs, "generate", lambda request: calls.append(request) or real(request))
    warm = texts(load_series(path))
    assert calls, "nothing was generated"
    monkeypatch.setenv("AUDIOGUIDE_CACHE", str(tmp_path / "cold"))
    assert warm == texts(load_series(path))
