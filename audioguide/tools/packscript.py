"""Write a voice pack's script: every phrase the routines speak, to record in a person's own voice."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from audioguide.compile.compiler import Options, compile_routine
from audioguide.errors import SpeechError
from audioguide.fsutil import atomic_write
from audioguide.load.routine import load_routine
from audioguide.speak.packs import (
    RECORDING_SUFFIXES,
    SCRIPT_JSON,
    SCRIPT_TXT,
    STEM_PREFIX,
    find_recording,
    phrase_stem,
)


def routine_phrases(routines: Iterable[str | Path], verbosities: Sequence[str] = ("full",)) -> list[str]:
    """Every distinct phrase the routines speak at the given verbosities, in order of first use."""
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
