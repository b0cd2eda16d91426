"""Recorded voice packs: the script a person reads aloud, and finding their recording of a phrase.

A pack is a folder of recordings named after the phrase they speak: ``<stem>.wav`` or
``<stem>.flac``, where the stem is ``p-`` and the first 12 hex digits of the SHA-256 of the
phrase's exact text. Change one word of a phrase and its stem changes with it, so an old
recording of the old words is simply never used. ``script.txt`` (stem, a tab, the text) is the
list to read from; ``script.json`` maps stem to text for tools.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from audioguide.errors import SpeechError
from audioguide.fsutil import read_capped
from audioguide.units import USER_AUDIO_MAX_CHANNELS, USER_AUDIO_RATES_HZ

RECORDING_SUFFIXES = (".wav", ".flac")
STEM_PREFIX = "p-"
STEM_HEX = 12
SCRIPT_TXT = "script.txt"
SCRIPT_JSON = "script.json"
MAX_RECORDING_S = 120
"""One recorded phrase: the longest phrase is spoken in about 20 s; two minutes is not a phrase."""
MAX_RECORDING_BYTES = 200_000_000
"""Two minutes of 8 channels of 32-bit audio at 192 kHz is under this; a larger file is not a phrase."""


def phrase_stem(text: str) -> str:
    """The stable file stem of a phrase: ``p-`` and 12 hex digits of SHA-256 of its exact text."""
    return STEM_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:STEM_HEX]


def find_recording(folder: Path, text: str) -> Path | None:
    """The recording of ``text`` in ``folder`` (``<stem>.wav`` or ``<stem>.flac``), or None."""
    stem = phrase_stem(text)
    found = [
        folder / f"{stem}{suffix}" for suffix in RECORDING_SUFFIXES if (folder / f"{stem}{suffix}").is_file()
    ]
    if len(found) > 1:
        raise SpeechError(
            f"two recordings of {text[:60]!r} in {folder}: {found[0].name} and {found[1].name}; keep one"
        )
    return found[0] if found else None


def read_recording(path: Path) -> tuple[np.ndarray, int]:
    """A recording as mono float64 (channels averaged) and its sample rate; SpeechError if unreadable."""
    import soundfile  # libsndfile through cffi (25-40 ms): speech workers never read recordings

    low, high = USER_AUDIO_RATES_HZ
    try:
        info = soundfile.info(str(path))
        if not (low <= info.samplerate <= high and 1 <= info.channels <= USER_AUDIO_MAX_CHANNELS):
            raise SpeechError(
                f"the recording {path} claims {info.channels} channel(s) at {info.samplerate} Hz; expected "
                f"1 to {USER_AUDIO_MAX_CHANNELS} channels at {low} to {high} Hz: export it again"
            )
        if info.frames > MAX_RECORDING_S * info.samplerate:
            raise SpeechError(
                f"the recording {path} lasts {info.frames / info.samplerate:.0f} s; one phrase is at most "
                f"{MAX_RECORDING_S} s: trim it"
            )
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (OSError, RuntimeError) as exc:  # LibsndfileError is a RuntimeError
        raise SpeechError(f"cannot read the recording {path}: {exc} (expected a WAV or FLAC file)") from None
    if data.size == 0:
        raise SpeechError(f"the recording {path} is empty; record the phrase again or delete the file")
    if not np.isfinite(data).all():
        raise SpeechError(
            f"the recording {path} holds samples that are not numbers (NaN or infinite): export it again"
        )
    return data.mean(axis=1), int(rate)


def recording_key(text: str, path: Path) -> str:
    """The clip key of a recording: its text and its exact bytes (never a speech cache key)."""
    digest = hashlib.sha256()
    digest.update(b"recording\0" + text.encode("utf-8") + b"\0")
    try:
        digest.update(read_capped(path, MAX_RECORDING_BYTES))
    except OSError as exc:
        raise SpeechError(f"cannot read the recording {path}: {exc.strerror or exc}") from None
    return "rec-" + digest.hexdigest()


def check_pack(folder: Path) -> None:
    """A recordings folder that is named must exist: a typo must not silently mean 'no recordings'."""
    if not folder.is_dir():
        raise SpeechError(
            f"the recordings folder {folder} does not exist; create it (see 'audioguide voices script') "
            "or fix the profile's 'recordings:' path"
        )
