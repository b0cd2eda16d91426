"""Speech engines behind one small interface; nothing outside this package imports an engine directly."""

from __future__ import annotations

from audioguide.speak.engines.base import ENGINE_NAMES, Engine, make_engine, resolve_engine_name

__all__ = ["ENGINE_NAMES", "Engine", "make_engine", "resolve_engine_name"]
