"""The exception hierarchy: one root, one subclass per pipeline stage."""

from __future__ import annotations

import re
from pathlib import Path

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def one_line(text: str) -> str:
    """``text`` with control characters shown as escapes: a message quoting a user's value (a line
    break, an ESC sequence) stays one line and cannot drive the terminal."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class AudioguideError(Exception):
    """Root of every expected failure; the CLI prints it as one line and exits non-zero."""

    exit_code = 1


class RoutineError(AudioguideError):
    """A routine or series file is malformed; names the file, line and key path."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.key = key
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        key = f"{self.key}: " if self.key else ""
        hint = f" ({self.hint})" if self.hint else ""
        return one_line(f"{where}{key}{self.message}{hint}")


class OptionError(AudioguideError):
    """An option given to the library or the CLI has a value that cannot work; ``option`` names it."""

    exit_code = 2

    def __init__(self, option: str, message: str) -> None:
        self.option = option
        self.message = message
        super().__init__(f"{option}: {message}")


class ScheduleError(AudioguideError):
    """The speech does not fit the time the routine gives it."""

    exit_code = 3


class SpeechError(AudioguideError):
    """A speech engine is missing, failed, hung or returned no audio."""

    exit_code = 4


class CacheError(SpeechError):
    """The speech cache cannot be written or lost an entry: about the cache folder, not the engine."""


class EngineUnavailable(SpeechError):
    """A speech engine cannot start on this machine (not installed, or its runtime does not load)."""


class RenderError(AudioguideError):
    """Mixing or mastering failed (for example an unreadable ambience file)."""

    exit_code = 5


class ExportError(AudioguideError):
    """Encoding or writing the output files failed."""

    exit_code = 6
