"""Amounts of time as the user writes them: milliseconds, or a number of breaths."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Amount:
    """A prescribed length (a hold, a rest) in milliseconds or in breaths (exactly one is set)."""

    ms: int | None = None
    breaths: int | None = None

    def describe(self) -> str:
        if self.breaths is not None:
            return f"{self.breaths} breath{'s' if self.breaths != 1 else ''}"
        assert self.ms is not None
        return f"{self.ms / 1000:g}s"
