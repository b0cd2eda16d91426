"""Recorded voice packs: the script a person reads aloud, and finding their recording of a phrase.

A pack is a folder of recordings named after the phrase they speak: ``<stem>.wav`` or
``<stem>.flac``, where the stem is ``p-`` and the first 12 hex digits of the SHA-256 of the
phrase's exact text. Change one word of a phrase and its stem changes with it, so an old
recording of the old words is simply never used. ``script.txt`` (stem, a tab, the text) is the
list to read from; ``script.json`` maps stem to text for tools.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import SpeechError

RECORDING_SUFFIXES = (".wav", ".flac")
STEM_PREFIX = "p-"
STEM_HEX = 12
SCRIPT_TXT = "script.txt"
SCRIPT_JSON = "script.json"


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
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (OSError, RuntimeError) as exc:  # LibsndfileError is a RuntimeError
        raise SpeechError(f"cannot read the recording {path}: {exc} (expected a WAV or FLAC file)") from None
    if data.size == 0:
        raise SpeechError(f"the recording {path} is empty; record the phrase again or delete the file")
    return data.mean(axis=1), int(rate)


def recording_key(text: str, path: Path) -> str:
    """The clip key of a recording: its text and its exact bytes (never a speech cache key)."""
    digest = hashlib.sha256()
    digest.update(b"recording\0" + text.encode("utf-8") + b"\0")
    digest.update(path.read_bytes())
    return "rec-" + digest.hexdigest()


def check_pack(folder: Path) -> None:
    """A recordings folder that is named must exist: a typo must not silently mean 'no recordings'."""
    if not folder.is_dir():
        raise SpeechError(
            f"the recordings folder {folder} does not exist; create it (see 'audioguide voices script') "
            "or fix the profile's 'recordings:' path"
        )


def routine_phrases(routines: Iterable[str | Path], verbosities: Sequence[str] = ("full",)) -> list[str]:
    """Every distinct phrase the routines speak at the given verbosities, in order of first use."""
    from dataclasses import replace

    from .compile import Options, compile_routine
    from .load import load_routine

    seen: dict[str, None] = {}
    for ref in routines:
        routine = load_routine(ref)
        for verbosity in verbosities:
            # The short safety reminder (--no-intro, later series episodes) is part of the pack too.
            for intro in ("full", "short"):
                script = compile_routine(routine, replace(Options(), verbosity=verbosity, intro=intro))
                for text in script.phrases():
                    if text.strip():
                        seen.setdefault(text)
    return list(seen)


@dataclass(frozen=True)
class PackReport:
    """What ``write_script`` found: phrases to record, those already recorded, and recordings left over."""

    folder: Path
    phrases: int
    recorded: int
    unused: tuple[str, ...]  # recordings whose stem is no phrase of this script (old words, other routines)


def write_script(phrases: Sequence[str], folder: Path) -> PackReport:
    """Write ``script.txt`` and ``script.json`` for ``phrases`` into ``folder`` (atomically)."""
    from .fsutil import atomic_write

    folder.mkdir(parents=True, exist_ok=True)
    stems = {phrase_stem(text): text for text in phrases}
    if len(stems) != len(set(phrases)):
        raise SpeechError("two different phrases share a file stem; please report this")  # 48-bit clash
    for name, body in (
        (SCRIPT_TXT, "".join(f"{stem}\t{' '.join(text.split())}\n" for stem, text in stems.items())),
        (SCRIPT_JSON, json.dumps(stems, indent=2, ensure_ascii=False) + "\n"),
    ):
        with atomic_write(folder / name, "w", encoding="utf-8") as fh:
            fh.write(body)
    recorded = sum(1 for text in phrases if find_recording(folder, text) is not None)
    unused = tuple(
        sorted(
            p.name
            for p in folder.iterdir()
            if p.suffix.lower() in RECORDING_SUFFIXES
            and p.stem.startswith(STEM_PREFIX)
            and p.stem not in stems
        )
    )
    return PackReport(folder, len(stems), recorded, unused)
