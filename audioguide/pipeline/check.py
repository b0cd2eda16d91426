"""The choreography check (``audioguide plan --check``): can a body follow this session, eyes closed?

It reads the compiled script and the fitted timeline, and flags what a listener on the floor would
hit: a change of position with less time than the move takes (or with no words at all), a hold
fitted outside its band around the prescribed dose, standing up without being told to open the
eyes, props used but not named at the start, and inline poses with no position to plan around.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from audioguide.compile.compiler import HOLD_SHRINK, HOLD_STRETCH
from audioguide.compile.movement import EYES_OPEN, move_ms
from audioguide.load.poses import PROPS
from audioguide.model.script import Say, Script, Section, Span
from audioguide.model.timeline import HOLD, Timeline
from audioguide.units import format_clock

EYES_WORDS = ("open your eyes", "eyes open")
BAND_SLACK = 0.001
"""Rounding to whole samples may put a fitted hold a hair outside its band: allow a thousandth."""


@dataclass(frozen=True)
class Finding:
    """One thing the check found: ``error`` (the session is not safe to follow) or ``warning``."""

    level: str
    chapter: str
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.chapter}: {self.message}"


def check(script: Script, timeline: Timeline) -> list[Finding]:
    """Every finding for a compiled, scheduled session; an empty list means it can be followed."""
    return [
        *_positions(script),
        *_doses(script, timeline),
        *_props(script),
    ]


def _said(section: Section) -> list[str]:
    return [item.text for item in section.items if isinstance(item, Say)]


def _positions(script: Script) -> Iterator[Finding]:
    where: str | None = None
    eyes_open = False
    unplaced: set[int] = set()
    for section in script.sections:
        if section.step_index < 0:
            continue
        words = " ".join(_said(section)).lower()
        opened = any(w in words for w in EYES_WORDS)
        position = section.position
        if position is None:
            is_pose = any(isinstance(i, Span) and i.kind == "hold" for i in section.items)
            if is_pose and section.step_index not in unplaced:
                unplaced.add(section.step_index)
                yield Finding(
                    "warning",
                    section.title,
                    "no 'position:' on this inline pose, so no transition can be planned around it",
                )
            continue
        if where is not None and position != where:
            needed = move_ms(where, position)
            given = sum(i.min_ms for i in section.items if isinstance(i, Span) and i.label.startswith("move"))
            if given < needed:
                yield Finding(
                    "error",
                    section.title,
                    f"moving from {where} to {position} takes {needed / 1000:g} s; the session gives "
                    f"{given / 1000:g} s",
                )
        if position in EYES_OPEN and not (eyes_open or opened):
            yield Finding("error", section.title, f"{position} with no word to open the eyes first")
        eyes_open = position in EYES_OPEN and (eyes_open or opened)
        where = position


def _doses(script: Script, timeline: Timeline) -> Iterator[Finding]:
    spans = [(s, i) for s in script.sections for i in s.items if isinstance(i, Span) and i.kind == "hold"]
    holds = [e for e in timeline.events if e.kind == HOLD]
    if len(spans) != len(holds):
        yield Finding("error", script.title, "the timeline's holds do not match the script's")
        return
    for (section, span), event in zip(spans, holds, strict=True):
        got_ms = timeline.ms(event.length_samples)
        if span.rigid:
            ok = got_ms == span.base_ms
        else:
            ratio = got_ms / span.base_ms
            ok = HOLD_SHRINK - BAND_SLACK <= ratio <= HOLD_STRETCH + BAND_SLACK
        if not ok:
            yield Finding(
                "error",
                section.title,
                f"{span.label} came out {got_ms / 1000:g} s at "
                f"{format_clock(timeline.ms(event.start_sample))}, "
                f"outside {HOLD_SHRINK:g}x-{HOLD_STRETCH:g}x of its dose",
            )


def _props(script: Script) -> Iterator[Finding]:
    welcome = " ".join(_said(script.sections[0])).lower() if script.sections else ""
    for prop in PROPS:
        users = [s.title for s in script.sections if prop in s.props]
        if users and f"a {prop}" not in welcome:
            yield Finding("error", users[0], f"needs {prop}, which the opening does not name")
