"""Programs: a series that describes weeks of sessions instead of listing episodes.

A ``program:`` in a series file (weeks, sessions a week, a length, a focus, where, props, a level and
a seed) is generated into one routine per session, with the progression a course needs:

- **Holds grow** week by week within their band: from the library's dose in week one to
  ``HOLD_STRETCH`` times it in the last week (``hold_scale``).
- **Poses come in a few at a time**: the first session teaches what it needs; each later one adds at
  most ``new_per_session`` poses not met before.
- **Guidance gets briefer**: a pose taught in full in an earlier episode is set up in one sentence
  (``guidance: brief``), while its cues and release stay.
- The first episode carries the full safety note, the others a one-line reminder (as for any series).

Sessions are generated from estimated speech lengths only, so a program is the same on every machine
and needs no speech to plan; the schedule meets each length exactly with every hold at its dose.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from audioguide.compile.compiler import HOLD_STRETCH
from audioguide.errors import ExportError
from audioguide.fsutil import atomic_write, read_capped
from audioguide.pipeline.generate import Generated, Request, generate, routine_yaml

FIRST_SESSION_POSES = 8
NEW_PER_SESSION = 2
"""Poses the first session teaches, and those each later one may add, by default: a few at a time.
A session short of poses repeats what it has (rounds) before it adds more."""


@dataclass(frozen=True)
class Program:
    """What a series file's ``program:`` asks for: every session's request, weeks of them."""

    weeks: int
    per_week: int
    request: Request  # length, focus, where, avoid, props, level, seed and verbosity of every session
    new_per_session: int = NEW_PER_SESSION

    @property
    def sessions(self) -> int:
        return self.weeks * self.per_week

    def week(self, number: int) -> tuple[int, int]:
        """(week, session in that week) of session ``number`` (from 1)."""
        return (number - 1) // self.per_week + 1, (number - 1) % self.per_week + 1

    def hold_scale(self, number: int) -> float:
        """How much holds grow in session ``number``'s week: 1 in week one, HOLD_STRETCH in the last."""
        week, _ = self.week(number)
        if self.weeks == 1:
            return 1.0
        return 1.0 + (HOLD_STRETCH - 1.0) * (week - 1) / (self.weeks - 1)

    def title(self, number: int, series: str) -> str:
        """What the welcome speaks: "Hello, and welcome to Week 2, Session 1 of Back Care Basics."."""
        week, session = self.week(number)
        return f"Week {week}, Session {session} of {series}"

    def stem(self, number: int) -> str:
        week, session = self.week(number)
        return f"week-{week}-session-{session}"


@dataclass(frozen=True)
class Session:
    """One generated session of a program."""

    number: int
    title: str
    generated: Generated

    @property
    def poses(self) -> frozenset[str]:
        return frozenset(c.pose.id for c in self.generated.choices)


def sessions(program: Program, series: str) -> list[Session]:
    """Every session of ``program`` in order, each generated knowing the poses taught before it."""
    known: frozenset[str] = frozenset()
    out = []
    for number in range(1, program.sessions + 1):
        request = replace(
            program.request,
            seed=program.request.seed * 1000 + number,
            hold_scale=program.hold_scale(number),
            known=known,
            new_limit=FIRST_SESSION_POSES if number == 1 else program.new_per_session,
        )
        session = Session(number, program.title(number, series), generate(request))
        known |= session.poses
        out.append(session)
    return out


def session_yaml(session: Session, program: Program, source: str, version: str, taught: Sequence[str]) -> str:
    """The routine text of one session: what the episode builds, and what a creator can pin."""
    week, day = program.week(session.number)
    header = [
        f"# Session {session.number} of the program in {source} (week {week}, session {day}),",
        f"# made by audioguide {version}. To pin it, save this file beside the series and list it",
        "# under episodes: as '- routine: THIS_FILE' in place of its '- generated: N' entry.",
    ]
    return routine_yaml(
        session.generated, version, title=session.title, taught=frozenset(taught), header=header
    )


# -- the session cache ---------------------------------------------------------------------------------

MAX_CACHED_SESSION_BYTES = 1_000_000
"""A session's routine text is a few kilobytes; a cache entry far larger is not one of ours."""


@cache
def code_identity() -> str:
    """sha256 of every source and data file of the package and of the Python running it.

    A session's text depends on the generator, the compiler and schedule it measures with, the pose
    library and phrases, and ``random``; hashing the whole package (a few milliseconds) cannot miss a
    file that matters, as a list of modules could.
    """
    digest = hashlib.sha256(f"{sys.implementation.name} {sys.version}".encode())
    pending = [resources.files("audioguide")]
    while pending:
        folder = pending.pop()
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            if item.is_dir() and item.name != "__pycache__":
                pending.append(item)
            elif item.name.endswith((".py", ".yaml")):
                digest.update(f"{item.name}\0".encode() + item.read_bytes() + b"\0")
    return digest.hexdigest()


class SessionTexts:
    """The routine text of each session of a program, for a series: read from the cache when the same
    program, series title, file name and earlier teaching made it before; else generated (every session,
    once, in order) and kept. Generating twelve sessions takes over a second; reading them, milliseconds.

    The key holds everything that shapes a text (``session_yaml``'s arguments and ``code_identity``), so
    a cached text is the one generation would give; a damaged or foreign entry is ignored and replaced
    (one that cannot be replaced, such as a folder in its place, is left: the text is generated).
    """

    def __init__(self, program: Program, series: str, source: str, version: str, cache_dir: Path) -> None:
        self.program, self.series, self.source, self.version = program, series, source, version
        self.folder = cache_dir / "programs"
        self._sessions: list[Session] | None = None
        fields = dataclasses.asdict(program)
        self._base = {"program": fields, "series": series, "source": source, "version": version}

    def sessions(self) -> list[Session]:
        """Every session, generated on first use."""
        if self._sessions is None:
            self._sessions = sessions(self.program, self.series)
        return self._sessions

    def text(self, number: int, taught: Sequence[str]) -> str:
        """Session ``number``'s routine text, given the poses earlier episodes taught in full."""
        key = _sha({**self._base, "code": code_identity(), "session": number, "taught": sorted(taught)})
        path = self.folder / f"{key}.json"
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            entry = json.loads(read_capped(path, MAX_CACHED_SESSION_BYTES).decode("utf-8"))
            if entry["key"] == key and isinstance(entry["text"], str):
                return entry["text"]
        text = session_yaml(self.sessions()[number - 1], self.program, self.source, self.version, taught)
        with contextlib.suppress(OSError, ExportError), atomic_write(path, durable=False) as fh:
            fh.write(json.dumps({"key": key, "text": text}, ensure_ascii=False).encode("utf-8"))
        return text


def _sha(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=_plain)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _plain(value: Any) -> Any:
    """JSON for what ``dataclasses.asdict`` leaves: sets in a stable order."""
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} in a program's cache key")
