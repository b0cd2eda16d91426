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

from collections.abc import Sequence
from dataclasses import dataclass, replace

from audioguide.compile.compiler import HOLD_STRETCH
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
