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


def format_clock(ms: int) -> str:
    """``m:ss.mmm`` (or ``h:mm:ss.mmm``) for cue sheets and logs."""
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, milli = divmod(rem, 1000)
    if h:
        return f"{sign}{h}:{m:02d}:{s:02d}.{milli:03d}"
    return f"{sign}{m}:{s:02d}.{milli:03d}"
