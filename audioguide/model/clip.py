"""A spoken phrase as it enters the schedule: its cache key, its words and its exact samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the model holds arrays but needs no numpy to be imported
    import numpy as np


@dataclass(frozen=True)
class Clip:
    """One spoken phrase at 44.1 kHz, trimmed, levelled and faded; ``source`` says where it came from."""

    key: str
    text: str
    samples: np.ndarray
    source: str  # "cache", "engine" or "recording"

    @property
    def length_samples(self) -> int:
        return len(self.samples)
