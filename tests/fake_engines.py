"""Deliberately broken speech engines, loaded by import path (``fake_engines:HangingEngine``).

They exist to prove that a broken engine is an error with a fix, within bounded time, and
never silence in place of speech. Workers import them through PYTHONPATH=tests/.
"""

from __future__ import annotations

import math
import os
import struct
import sys
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


class CountingEngine:
    """Speaks a short tone, and logs each engine start and each phrase with the worker that spoke it
    (the parent of the phrase's forked child) to the file named by $FAKE_ENGINE_LOG."""

    name = "counting"

    def __init__(self) -> None:
        if sys.argv[0].endswith("worker.py"):  # only inside a speech worker, not in the test process
            self._log(f"load {os.getpid()}")

    @staticmethod
    def _log(line: str) -> None:
        with open(os.environ["FAKE_ENGINE_LOG"], "a", encoding="utf-8") as fh:
            fh.write(line + "\n")

    def identity(self) -> str:
        return "counting 1"

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        self._log(f"speak {os.getppid()}")
        time.sleep(0.2)  # long enough that every worker gets phrases
        samples = [round(8000 * math.sin(2 * math.pi * 440 * n / 22_050)) for n in range(11_025)]
        return struct.pack(f"<{len(samples)}h", *samples), 22_050
