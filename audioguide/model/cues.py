"""The cue sounds and ambience beds by name, with the lengths the scheduler plans around.

The sounds themselves are synthesized at render time (``audioguide.render.sounds``); the earlier
stages only need to know what exists and how long it lasts.
"""

from __future__ import annotations

from audioguide.units import SAMPLE_RATE

NAMES = ("chime", "transition", "tick", "bell", "inhale", "exhale")
BREATH_NAMES = ("inhale", "exhale")

BREATH_MIN_SAMPLES = 1 * SAMPLE_RATE
BREATH_MAX_SAMPLES = 20 * SAMPLE_RATE

NATURAL_SECONDS = {"chime": 1.2, "transition": 0.7, "tick": 0.09, "bell": 4.0}
_NATURAL_LENGTHS = {name: round(seconds * SAMPLE_RATE) for name, seconds in NATURAL_SECONDS.items()}

BUILTIN_BEDS = ("brown-noise", "rain", "drone")
"""The generated ambience beds (``audioguide.render.ambience`` makes them); a path names a user's file."""


def natural_length(name: str) -> int | None:
    """The length in samples of a fixed sound; ``None`` for breath tones, which take a length."""
    check_name(name)
    return _NATURAL_LENGTHS.get(name)


def check_name(name: str) -> None:
    if name not in NAMES:
        raise ValueError(f"unknown cue {name!r}; the cues are: {', '.join(NAMES)}")
