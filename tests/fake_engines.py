"""Deliberately broken speech engines, loaded by import path (``fake_engines:HangingEngine``).

They exist to prove that a broken engine is an error with a fix, within bounded time, and
never silence in place of speech. Workers import them through PYTHONPATH=tests/.
"""

from __future__ import annotations

import time


class HangingEngine:
    """Never finishes a phrase."""

    name = "hanging"

    def identity(self) -> str:
        return "hanging 1"

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        time.sleep(3600)
        raise AssertionError("unreachable")


class SilentEngine:
    """Returns a phrase's worth of digital silence."""

    name = "silent"

    def identity(self) -> str:
        return "silent 1"

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        return bytes(2 * 22_050), 22_050


class EmptyEngine:
    """Returns no samples at all."""

    name = "empty"

    def identity(self) -> str:
        return "empty 1"

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        return b"", 22_050


class HangingStartEngine:
    """Hangs while starting up (in the worker, before it can say hello)."""

    name = "hanging-start"

    def __init__(self) -> None:
        import sys

        if sys.argv[0].endswith("worker.py"):  # only inside a speech worker, not in the test process
            time.sleep(3600)

    def identity(self) -> str:
        return "hanging-start 1"

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        raise AssertionError("unreachable")


class StatelessHangingEngine(HangingEngine):
    """Hangs like HangingEngine, but says it is stateless: its phrases share one long-lived child."""

    stateless = True


class StatelessSilentEngine(SilentEngine):
    """Silence, from one long-lived child."""

    stateless = True
