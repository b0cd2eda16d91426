"""The Script: what to say and do, in order, with fixed spans (speech) and flexible spans (holds, rests)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Say:
    """Speak ``text``, then leave ``pause_ms`` of quiet before the next item."""

    text: str
    pause_ms: int = 600


@dataclass(frozen=True)
class Sound:
    """Play a cue sound; the next item starts ``advance_ms`` after it starts (the tail may ring on)."""

    name: str
    advance_ms: int = 800


@dataclass(frozen=True)
class Placed:
    """Something said or played inside a span, at a position that depends on the span's final length.

    ``anchor`` is "start" (``offset_ms`` after the span starts), "end" (``offset_ms`` before it ends)
    or "fraction" (at ``fraction`` of the span). ``window_ms`` bounds how long speech may last there
    (a breath phase, a rep phase); speech must also end before the span does. Optional items are left
    out when the span is shorter than ``min_span_ms`` or when they would overlap other speech; a
    required item that cannot fit is a schedule error naming the step.
    """

    kind: str  # "speech" or "cue"
    what: str  # the words, or the sound's name
    anchor: str = "start"
    offset_ms: int = 0
    fraction: float = 0.0
    length_ms: int | None = None  # for sounds that fill a phase (breath tones)
    window_ms: int | None = None
    optional: bool = False
    min_span_ms: int = 0
    side: str | None = None


@dataclass(frozen=True)
class Span:
    """Quiet time (a hold or a rest) that may stretch between ``min_ms`` and ``max_ms``.

    Spans with the same ``link`` always get the same length (both sides of a stretch).
    A rigid span has ``min_ms == base_ms == max_ms`` (reps at a tempo, holds counted in breaths).
    """

    kind: str  # "hold" or "rest"
    base_ms: int
    min_ms: int
    max_ms: int
    label: str
    placed: tuple[Placed, ...] = ()
    link: str | None = None
    side: str | None = None

    @property
    def rigid(self) -> bool:
        return self.min_ms == self.max_ms


Item = Say | Sound | Span


@dataclass(frozen=True)
class Section:
    """One chapter of the session: a step (or one side of it), the welcome, or the closing."""

    title: str
    step_index: int  # index into the routine's steps; -1 for the welcome and closing
    items: tuple[Item, ...]
    line: int | None = None  # where the step is written, for error messages
    side: str | None = None
    position: str | None = None  # where the listener is for this chapter (None: not known)
    props: tuple[str, ...] = ()  # what the pose needs to hand


@dataclass(frozen=True)
class Script:
    """The compiled session, before any audio exists."""

    title: str
    sections: tuple[Section, ...]
    target_ms: int | None
    source: str = ""
    target_about: bool = False  # the target is "about" this long: the nearest achievable length is used

    def phrases(self) -> list[str]:
        """Every distinct phrase to synthesize, in order of first use."""
        seen: dict[str, None] = {}
        for item in self.items():
            if isinstance(item, Say):
                seen.setdefault(item.text)
            elif isinstance(item, Span):
                for placed in item.placed:
                    if placed.kind == "speech":
                        seen.setdefault(placed.what)
        return list(seen)

    def items(self) -> Iterator[Item]:
        for section in self.sections:
            yield from section.items

    def words(self) -> int:
        """How many words the session can speak (optional placed speech included)."""
        return sum(len(p.split()) for p in self._spoken())

    def _spoken(self) -> Iterator[str]:
        for item in self.items():
            if isinstance(item, Say):
                yield item.text
            elif isinstance(item, Span):
                yield from (p.what for p in item.placed if p.kind == "speech")
