"""The routine as frozen data: steps, breath patterns and the limits a routine must keep."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from audioguide.model.amounts import Amount

SIDES = ("left", "right", "both", "none")
TARGET_RANGE_MS = (10_000, 3 * 60 * 60 * 1000)
"""A target length runs from ten seconds to three hours."""


@dataclass(frozen=True)
class Breath:
    """A breath pattern in milliseconds; one cycle is inhale, hold_in, exhale, hold_out."""

    inhale_ms: int = 4000
    exhale_ms: int = 6000
    hold_in_ms: int = 0
    hold_out_ms: int = 0
    name: str = "relaxed"

    @property
    def cycle_ms(self) -> int:
        return self.inhale_ms + self.hold_in_ms + self.exhale_ms + self.hold_out_ms

    def phases(self) -> tuple[tuple[str, int], ...]:
        """(phase, length_ms) in order, skipping zero-length holds."""
        seq = (
            ("inhale", self.inhale_ms),
            ("hold_in", self.hold_in_ms),
            ("exhale", self.exhale_ms),
            ("hold_out", self.hold_out_ms),
        )
        return tuple(p for p in seq if p[1] > 0)


BREATH_PATTERNS = {
    "relaxed": Breath(4000, 6000, 0, 0, "relaxed"),
    "box": Breath(4000, 4000, 4000, 4000, "box"),
    "4-7-8": Breath(4000, 8000, 7000, 0, "4-7-8"),
}


@dataclass(frozen=True)
class Step:
    """One step of a routine: a pose (library or inline), a free ``say``, or a ``rest``."""

    kind: str  # "pose", "say" or "rest"
    line: int
    pose: str | None = None  # library id
    name: str | None = None  # inline pose name
    say: tuple[str, ...] = ()  # inline instructions, or the words of a say step
    hold: Amount | None = None
    reps: int | None = None
    tempo_ms: int | None = None
    sides: str | None = None
    rest_ms: int | None = None
    rounds: int = 1  # the step's work done this many times, with a short rest between
    position: str | None = None  # an inline pose's position (library poses carry their own)
    props: tuple[str, ...] = ()  # an inline pose's props
    why: str = ""  # why the step is there (a generated routine says), for the reader: never spoken
    guidance: str | None = None  # "brief": set up in one sentence even in full verbosity (taught before)


@dataclass(frozen=True)
class Routine:
    """A validated routine, ready to compile."""

    id: str
    source: str
    title: str
    steps: tuple[Step, ...]
    description: str = ""
    duration_ms: int | None = None
    duration_about: bool = False  # "~10m": the achievable length nearest duration_ms
    voice: str = "default"
    breath: Breath = BREATH_PATTERNS["relaxed"]
    ambience: str = "none"
    base_dir: Path | None = None
    ambience_line: int | None = None  # where ``ambience`` is written, for errors found when decoding it
