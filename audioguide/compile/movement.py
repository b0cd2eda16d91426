"""The movement model: how a listener gets from one position to another, in words and in seconds.

Positions are joined by single moves (roll onto your side, press up onto hands and knees, rise to
kneeling, stand up, sit down). A change of position is the shortest chain of moves between the two,
and it is spoken one move at a time, each followed by the quiet that move takes, so a listener with
eyes closed does each step as it is said. Before any chain that ends standing the listener is told
to open their eyes.

Move times are for someone with a sore back moving slowly and guardedly, at about twice the pace of
an unhurried healthy adult. For reference: healthy older adults take 2-3 s for one sit-to-stand
(the five-times sit-to-stand test is usually 10-15 s), and people with low-back pain often "log
roll" to get up from lying, a roll, then a press up from the side, each a few seconds. Every move
here gets at least 3 s; lying to hands and knees takes 8 s, lying to standing 20 s.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from functools import cache

FLOOR = frozenset({"supine", "prone", "side-lying", "hands-and-knees", "kneeling"})
"""Positions on the floor (a mat); seated is on a chair, standing is upright."""
LYING = frozenset({"supine", "prone", "side-lying"})
EYES_OPEN = frozenset({"standing"})
"""Positions a listener must not reach with eyes closed: balance needs sight."""

SETTLE_MS = 3_000
"""Quiet after the last setup sentence before a hold or rep timer starts: time to arrive and settle."""
SIDE_SETTLE_MS = 4_000
"""The same on the second side, which also means releasing the first side and changing over."""
EYES_OPEN_MS = 1_500
"""After "Open your eyes.", before the first move."""


@dataclass(frozen=True)
class Move:
    """One move between two positions: what to say and how long it takes."""

    start: str
    end: str
    text: str
    ms: int


MOVES = (
    Move("supine", "side-lying", "Bend your knees, and roll slowly onto your side.", 4_000),
    Move("side-lying", "supine", "Roll slowly onto your back.", 4_000),
    Move("side-lying", "prone", "Roll slowly onto your front.", 4_000),
    Move("prone", "side-lying", "Roll slowly onto your side.", 4_000),
    Move("side-lying", "hands-and-knees", "Press up slowly with your hands, onto hands and knees.", 5_000),
    Move("hands-and-knees", "side-lying", "Lower your hips to one side, and lie down on your side.", 5_000),
    Move("prone", "hands-and-knees", "Press up slowly onto your hands and knees.", 5_000),
    Move("hands-and-knees", "prone", "Lower yourself slowly down onto your front.", 5_000),
    Move("hands-and-knees", "kneeling", "Walk your hands back, and rise up to kneeling.", 4_000),
    Move("kneeling", "hands-and-knees", "Lean forward, and place your hands on the floor.", 4_000),
    Move(
        "kneeling",
        "standing",
        "Bring one foot forward, and push up slowly to standing, a hand on a chair if that helps.",
        7_000,
    ),
    Move(
        "standing",
        "kneeling",
        "With a hand on a chair if that helps, lower one knee and then the other to the floor.",
        7_000,
    ),
    Move("standing", "seated", "Sit down near the front of your chair, feet flat on the floor.", 5_000),
    Move("seated", "standing", "Shift forward on your chair, and stand up slowly.", 5_000),
)
"""Every single move. The chains between other positions are found from these."""

_ARRIVAL = {
    "supine": "Lie on your back.",
    "prone": "Lie on your front.",
    "side-lying": "Lie on your side.",
    "hands-and-knees": "Come onto your hands and knees.",
    "kneeling": "Come up to kneeling.",
    "standing": "Stand tall.",
    "seated": "Sit tall on your chair.",
}


@cache  # seven positions: at most 49 chains, asked for again and again by the session generator
def path(start: str, end: str) -> tuple[Move, ...]:
    """The quickest chain of moves from ``start`` to ``end`` (empty when they are the same)."""
    if start == end:
        return ()
    best: dict[str, int] = {start: 0}
    queue: list[tuple[int, str, tuple[Move, ...]]] = [(0, start, ())]
    while queue:
        ms, here, chain = heapq.heappop(queue)
        if here == end:
            return chain
        if ms > best.get(here, ms):
            continue
        for move in MOVES:
            if move.start == here and ms + move.ms < best.get(move.end, 1 << 62):
                best[move.end] = ms + move.ms
                heapq.heappush(queue, (ms + move.ms, move.end, (*chain, move)))
    raise ValueError(f"no way from {start} to {end}")


@cache
def move_ms(start: str, end: str) -> int:
    """How long the whole change of position takes, in milliseconds."""
    return sum(m.ms for m in path(start, end))


def arrival(position: str) -> str:
    """A plain sentence for being in ``position`` (used where a pose's own setup is not spoken)."""
    return _ARRIVAL[position]
