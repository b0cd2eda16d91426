"""Stage 1, load: routine YAML, the pose library and voice profiles become validated, frozen data."""

from __future__ import annotations

from audioguide.load.routine import builtin_routines, load_routine, parse_routine

__all__ = ["builtin_routines", "load_routine", "parse_routine"]
