"""Stage 2, compile: a Routine becomes a Script of what to say and do, in order, with flexible spans."""

from __future__ import annotations

from audioguide.compile.compiler import Options, compile_routine

__all__ = ["Options", "compile_routine"]
