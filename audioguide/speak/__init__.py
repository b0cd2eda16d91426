"""Stage 3, speak: every distinct phrase synthesized once (cached, in parallel) into exact clips."""

from __future__ import annotations

from audioguide.speak.synth import speak

__all__ = ["speak"]
