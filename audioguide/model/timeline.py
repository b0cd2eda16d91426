"""The Timeline: every event of a session at an exact sample; the one source for audio, chapters and text."""

from __future__ import annotations

from dataclasses import dataclass, field

from audioguide.units import SAMPLE_RATE, samples_to_ms

SPEECH = "speech"
"""A spoken phrase; ``clip`` is the speech cache key, ``text`` what is said."""
CUE = "cue"
"""A synthesized sound (chime, breath tone, tick, bell); ``clip`` names it (``audioguide.render.sounds``)."""
HOLD = "hold"
"""A silent span in which the listener holds a pose (no audio of its own)."""
REST = "rest"
"""A silent span of rest or transition (no audio of its own)."""

AUDIBLE_KINDS = frozenset({SPEECH, CUE})


@dataclass(frozen=True)
class Event:
    """One thing that happens at an exact place in the session."""

    start_sample: int
    length_samples: int
    kind: str
    text: str
    step_index: int
    clip: str | None = None
    side: str | None = None  # "left", "right" or None: where a spatial render pans it

    @property
    def end_sample(self) -> int:
        return self.start_sample + self.length_samples


@dataclass(frozen=True)
class Chapter:
    """A titled span of the session; chapters tile the whole file without gaps."""

    start_sample: int
    end_sample: int
    title: str
    step_index: int


@dataclass(frozen=True)
class Timeline:
    """The scheduled session: events sorted by start, chapters in order, one exact length."""

    title: str
    length_samples: int
    events: tuple[Event, ...]
    chapters: tuple[Chapter, ...]
    sample_rate: int = SAMPLE_RATE
    meta: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def length_ms(self) -> int:
        return samples_to_ms(self.length_samples, self.sample_rate)

    def ms(self, samples: int) -> int:
        """Whole milliseconds for a sample position on this timeline."""
        return samples_to_ms(samples, self.sample_rate)

    def audible(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind in AUDIBLE_KINDS)

    def speech(self) -> tuple[Event, ...]:
        return tuple(e for e in self.events if e.kind == SPEECH)
