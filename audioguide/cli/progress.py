"""Progress on stderr for build and plan: a bar with counts and ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

BAR_WIDTH = 24
REDRAW_S = 0.1
"""A terminal line is redrawn at most this often (a render reports every block, hundreds a second)."""
LINE_EVERY_S = 10.0
"""Without a terminal (a log, CI) a line is printed at each quarter, and at least this often."""
UNITS = {"speech": "phrases"}
"""Stages whose counts mean something to a reader; the others (render counts samples) show percent."""


def clock(seconds: float) -> str:
    """``m:ss`` for an ETA or an elapsed time."""
    whole = max(0, round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


@dataclass
class _Stage:
    started: float
    first_done: int
    last_drawn: float = -1e9
    last_quarter: int = -1
    finished: bool = False


@dataclass
class Progress:
    """``progress(stage, done, total)`` as the library calls it, drawn on ``stream`` (stderr)."""

    quiet: bool = False
    stream: TextIO | None = None
    tty: bool | None = None
    now: Callable[[], float] = time.monotonic
    stages: dict[str, _Stage] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.out: TextIO = self.stream or sys.stderr
        if self.tty is None:
            self.tty = self.out.isatty()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet or total <= 0:
            return
        t = self.now()
        state = self.stages.get(stage)
        if state is None or (state.finished and done < total):
            state = self.stages[stage] = _Stage(started=t, first_done=done)
        if state.finished:
            return
        finished = done >= total
        if self.tty:
            if finished or t - state.last_drawn >= REDRAW_S:
                state.last_drawn = t
                self._write(
                    "\r" + self._bar(stage, state, done, total, t) + "\033[K" + ("\n" if finished else "")
                )
        else:
            quarter = done * 4 // total
            if finished or quarter != state.last_quarter or t - state.last_drawn >= LINE_EVERY_S:
                if not (done == 0 and state.last_quarter == 0):
                    self._write(self._line(stage, state, done, total, t) + "\n")
                state.last_quarter, state.last_drawn = quarter, t
        state.finished = finished

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def _counts(self, stage: str, done: int, total: int) -> str:
        pct = done * 100 // total
        unit = UNITS.get(stage)
        return f"{done}/{total} {unit} ({pct}%)" if unit else f"{pct}%"

    def _eta(self, state: _Stage, done: int, total: int, t: float) -> str | None:
        """Seconds left at the rate since the stage started (cached work, counted at once, excluded)."""
        worked, elapsed = done - state.first_done, t - state.started
        if worked <= 0 or elapsed < 0.5:
            return None
        return clock((total - done) * elapsed / worked)

    def _bar(self, stage: str, state: _Stage, done: int, total: int, t: float) -> str:
        filled = done * BAR_WIDTH // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        if done >= total:
            tail = f"done in {clock(t - state.started)}"
        else:
            eta = self._eta(state, done, total, t)
            tail = f"ETA {eta}" if eta else "ETA --:--"
        return f"{stage:<7}[{bar}] {self._counts(stage, done, total)}  {tail}"

    def _line(self, stage: str, state: _Stage, done: int, total: int, t: float) -> str:
        if done >= total:
            return f"{stage}: {self._counts(stage, done, total)}, done in {clock(t - state.started)}"
        eta = self._eta(state, done, total, t)
        return f"{stage}: {self._counts(stage, done, total)}" + (f", about {eta} left" if eta else "")
