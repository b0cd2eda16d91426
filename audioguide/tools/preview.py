"""Speak a short preview of a voice profile into an audio file (``audioguide voices preview``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioguide.errors import ExportError
from audioguide.export.encode import encode_file
from audioguide.export.formats import FORMATS
from audioguide.load.voices import load_profile
from audioguide.speak.synth import speak
from audioguide.units import SAMPLE_RATE

PREVIEW_TEXT = (
    "Welcome. This is the voice that will guide your session. "
    "Find a comfortable position, and take a slow, easy breath in, and out."
)
"""What ``audioguide voices preview`` says: calm, and about what the voice will do."""


def write_preview(
    name: str,
    output: Path | None = None,
    *,
    engine: str | None = None,
    text: str = PREVIEW_TEXT,
    base_dir: Path | None = None,
) -> Path:
    """Speak ``text`` with profile ``name`` into ``output`` (default ``output/preview-<profile>.wav``;
    the format follows the suffix: wav, mp3, flac or ogg), written atomically."""
    profile = load_profile(name, base_dir)
    output = output or Path("output") / f"preview-{profile.name}.wav"
    fmt = output.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ExportError(f"{output}: unknown audio format '{fmt}'; use one of {', '.join(FORMATS)}")
    clip = speak([text], profile, engine=engine)[text]
    quiet = np.zeros(SAMPLE_RATE // 4, dtype=np.float32)  # a breath of silence either side
    encode_file(output, [np.concatenate([quiet, clip.samples, quiet])], fmt, rate=SAMPLE_RATE)
    return output
