"""Time units: integer milliseconds and samples inside, seconds only at the edges."""

from __future__ import annotations

SAMPLE_RATE = 44_100
"""Every buffer inside audioguide runs at this rate (samples per second, per channel)."""


def ms_to_samples(ms: int, rate: int = SAMPLE_RATE) -> int:
    """Convert whole milliseconds to a whole number of samples (rounded half up)."""
    return (ms * rate + 500) // 1000


def samples_to_ms(samples: int, rate: int = SAMPLE_RATE) -> int:
    """Convert samples to whole milliseconds (rounded half up)."""
    return (samples * 1000 + rate // 2) // rate


def seconds_to_samples(seconds: float, rate: int = SAMPLE_RATE) -> int:
    """Convert seconds to the nearest whole sample."""
    return round(seconds * rate)


CLOCK_STYLES = ("cue", "timestamp", "notes")


def format_clock(ms: int, style: str = "cue") -> str:
    """Whole milliseconds as a clock, the one formatter for every place a time is shown.

    - ``cue``: ``m:ss.mmm`` (``h:mm:ss.mmm`` from an hour on), for cue sheets, plans and logs;
    - ``timestamp``: ``HH:MM:SS.mmm``, the WebVTT timestamp and the Vorbis chapter time (hours grow
      past two digits if they must, as WebVTT allows);
    - ``notes``: ``MM:SS`` (``H:MM:SS`` from an hour on) in whole seconds, as podcast apps show
      chapter times in show notes.
    """
    if style not in CLOCK_STYLES:
        raise ValueError(f"unknown clock style {style!r}; expected one of {', '.join(CLOCK_STYLES)}")
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    if style == "timestamp":
        return f"{sign}{h:02d}:{m:02d}:{s:02d}.{milli:03d}"
    if style == "notes":
        return f"{sign}{h}:{m:02d}:{s:02d}" if h else f"{sign}{m:02d}:{s:02d}"
    if h:
        return f"{sign}{h}:{m:02d}:{s:02d}.{milli:03d}"
    return f"{sign}{m}:{s:02d}.{milli:03d}"


USER_AUDIO_RATES_HZ = (8_000, 192_000)
"""Sample rates accepted in a user's audio (recordings, ambience): telephone to studio. A header
claiming more (4 GHz) or 0 is damage, and decoding it would allocate gigabytes or divide by zero."""
USER_AUDIO_MAX_CHANNELS = 8
"""Channels accepted in a user's audio: up to 7.1; 0 is damage."""
