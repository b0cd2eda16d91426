"""Golden cue sheets: the scheduled timeline of two routines, spoken by the deterministic 'tone' engine.

Each sheet lists every event (start ms, end ms, kind, text) and every chapter, and is reviewed like code.
The choreography (what is said, pauses, holds) and the voice are expected to change; when they do,
regenerate the sheets and read the diff before committing it:

    AUDIOGUIDE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden_timeline.py

The hand-check test below does not depend on the sheets' numbers being current: it recomputes the start
of the small routine from its clip lengths and pauses, and so checks whatever the golden file says.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import pytest

from audioguide.fsutil import atomic_write
from audioguide.model.cues import NATURAL_SECONDS
from audioguide.model.script import Say, Sound, Span
from audioguide.model.timeline import CUE, SPEECH, Timeline
from audioguide.pipeline.build import BuildOptions, Plan, make_plan

GOLDEN = Path(__file__).parent / "data" / "golden"
ROUTINES: dict[str, str | Path] = {
    "desk-break-5min": "desk-break-5min",  # a built-in, by name
    "chair-twist": GOLDEN / "chair-twist.yaml",  # small and hand-checked below
}
UPDATE = os.environ.get("AUDIOGUIDE_UPDATE_GOLDEN") == "1"
RATE = 44_100  # samples per second, as the tone clips come out of the speech stage


@pytest.fixture(scope="module")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Plan]:
    """Both routines planned once with one fresh speech cache: the tone engine is deterministic but spends
    ~60 ms a phrase (a pure-Python sample loop), so phrases the routines share are made once."""
    options = BuildOptions(engine="tone", cache_dir=tmp_path_factory.mktemp("tone-cache"))
    return {name: make_plan(ref, options) for name, ref in ROUTINES.items()}


def cue_sheet(tl: Timeline) -> str:
    """One line per event, then one per chapter: start ms, end ms, kind, text."""
    lines = [f"# {tl.title}: {tl.length_ms} ms ({tl.length_samples} samples at {tl.sample_rate} Hz)"]
    lines.append("# start_ms   end_ms  kind    text")
    lines += [f"{tl.ms(e.start_sample):>8} {tl.ms(e.end_sample):>8}  {e.kind:<7} {e.text}" for e in tl.events]
    lines.append("# chapters: start_ms end_ms title")
    lines += [f"{tl.ms(c.start_sample):>8} {tl.ms(c.end_sample):>8}  chapter {c.title}" for c in tl.chapters]
    return "\n".join(lines) + "\n"


def rows(sheet: str) -> list[tuple[int, int, str, str]]:
    """A cue sheet read back: (start ms, end ms, kind, text) for every event and chapter line."""
    found = []
    for line in sheet.splitlines():
        if not line.startswith("#"):
            start, end, kind, text = line.split(None, 3)
            found.append((int(start), int(end), kind, text))
    return found


@pytest.mark.parametrize("name", ROUTINES)
def test_timeline_matches_golden_cue_sheet(plans: dict[str, Plan], name: str) -> None:
    text = cue_sheet(plans[name].timeline)
    golden = GOLDEN / f"{name}.timeline.txt"
    if UPDATE:
        with atomic_write(golden, "w", encoding="utf-8") as fh:
            fh.write(text)
    assert text == golden.read_text(encoding="utf-8")


def _ms(samples: int) -> int:
    """Whole milliseconds, rounded half up, computed here rather than with audioguide.units."""
    return int(Fraction(samples * 1000, RATE) + Fraction(1, 2))


def _samples(ms: int) -> int:
    # Every pause and advance the compiler writes is a whole number of 10 ms (441 samples): exact.
    assert ms % 10 == 0, ms
    return ms * RATE // 1000


def test_small_golden_follows_from_clip_lengths_and_pauses(plans: dict[str, Plan]) -> None:
    """An oracle independent of the scheduler: up to the first hold, each event starts where the one
    before it started plus its length and pause (a phrase), its advance (a sound) or its length (the
    settling rest), and the hold lasts exactly its written 12 s because the routine has no target to
    stretch it to.

    Checked by hand against the sheet when it was written (44.1 samples per ms; tone clip lengths):
      phrase 1: 0, 86341 samples long -> ends at 1957.85 ms -> 1958
      phrase 2: 86341 + 900 ms (39690) = 126031 -> 2857.85 ms -> 2858; + 192188 = 318219 -> 7215.85 -> 7216
      phrase 3: 318219 + 500 ms (22050) = 340269 -> 7715.85 ms -> 7716; + 156915 = 497184 -> 11274.01 -> 11274
      phrase 4: 497184 + 22050 = 519234 -> 11774.01 ms -> 11774; + 280430 = 799664 -> 18132.97 -> 18133
      (since the movement model: the last set-up phrase, its 500 ms pause, a 3 s settling rest, then the
      12 s hold, 529200 samples)
    """
    plan = plans["chair-twist"]
    assert plan.script.target_ms is None
    expected: list[tuple[int, int, str, str]] = []
    cursor = 0
    for item in plan.script.items():
        if isinstance(item, Say):
            n = plan.clips[item.text].length_samples
            expected.append((_ms(cursor), _ms(cursor + n), SPEECH, item.text))
            cursor += n + _samples(item.pause_ms)
        elif isinstance(item, Sound):
            n = round(NATURAL_SECONDS[item.name] * RATE)
            expected.append((_ms(cursor), _ms(cursor + n), CUE, item.name))
            cursor += _samples(item.advance_ms)
        else:
            assert isinstance(item, Span)
            n = _samples(item.base_ms)
            expected.append(
                (_ms(cursor), _ms(cursor + n), item.kind, f"{item.kind} {item.base_ms / 1000:.1f} s")
            )
            if item.kind == "hold":
                break
            cursor += n
    assert len(expected) > 4
    golden = (GOLDEN / "chair-twist.timeline.txt").read_text(encoding="utf-8")
    assert rows(golden)[: len(expected)] == expected  # the reviewed file
    assert rows(cue_sheet(plan.timeline))[: len(expected)] == expected  # and today's schedule
