"""Files beside the audio: the WebVTT transcript and Podcasting 2.0 JSON chapters."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from audioguide.errors import ExportError
from audioguide.fsutil import atomic_write
from audioguide.units import format_clock

MAX_LINE_CHARS = 65
"""Longest transcript line, in characters (code points), escapes included; see DESIGN.md."""
MAX_CUE_LINES = 2
"""Lines per cue; a longer phrase becomes several consecutive cues."""

CHAPTERS_JSON_VERSION = "1.2.0"
"""Podcasting 2.0 JSON chapters format (podcast namespace, docs/examples/chapters/jsonChapters.md)."""

Phrase = tuple[int, int, str]
"""(start_ms, end_ms, text) of one spoken phrase."""


class ChapterLike(Protocol):
    """Anything with a millisecond span and a title, like ``audioguide.export.tags.ChapterMark``."""

    @property
    def start_ms(self) -> int: ...
    @property
    def end_ms(self) -> int: ...
    @property
    def title(self) -> str: ...


def sidecar_paths(audio_path: Path) -> dict[str, Path]:
    """``x.mp3`` -> ``{"vtt": x.vtt, "chapters": x.chapters.json}`` in the same folder."""
    audio_path = Path(audio_path)
    return {
        "vtt": audio_path.with_suffix(".vtt"),
        "chapters": audio_path.with_suffix(".chapters.json"),
    }


# --- WebVTT (W3C WebVTT: The Web Video Text Tracks Format)


def vtt_escape(text: str) -> str:
    """Escape the characters that would start markup or an entity in cue text (&, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _width(word: str) -> int:
    return len(vtt_escape(word))


def _break_long_word(word: str) -> list[str]:
    """Cut a word wider than a line into pieces that fit, never inside an escape."""
    pieces, piece = [], ""
    for char in word:
        if piece and _width(piece + char) > MAX_LINE_CHARS:
            pieces.append(piece)
            piece = ""
        piece += char
    return [*pieces, piece] if piece else pieces


def _wrap(words: Sequence[str]) -> list[str]:
    """Greedy wrap of words (each narrower than a line) into lines of at most MAX_LINE_CHARS."""
    lines: list[str] = []
    for word in words:
        if lines and _width(lines[-1]) + 1 + _width(word) <= MAX_LINE_CHARS:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def _fits(words: Sequence[str]) -> bool:
    return len(_wrap(words)) <= MAX_CUE_LINES


# Where a cue may end, best first: after a sentence, after a clause, after any word.
_BOUNDARIES = (re.compile(r"[.!?…][\"'”’)\]]*$"), re.compile(r"[,;:–—][\"'”’)\]]*$"))


def _groups(words: Sequence[str], boundary: re.Pattern[str]) -> list[list[str]]:
    """Consecutive runs of words, each ending at a word that matches ``boundary`` (or the end)."""
    groups: list[list[str]] = [[]]
    for word in words:
        groups[-1].append(word)
        if boundary.search(word):
            groups.append([])
    return [g for g in groups if g]


def _pack(words: Sequence[str], level: int = 0) -> list[list[str]]:
    """Pack words into cues of at most two lines, cutting at the best boundary that makes them fit."""
    # Past the last boundary kind, every word is a group of its own (each fits a line: _break_long_word).
    groups = _groups(words, _BOUNDARIES[level]) if level < len(_BOUNDARIES) else [[w] for w in words]
    cues: list[list[str]] = []
    current: list[str] = []
    for group in groups:
        if _fits(current + group):
            current += group
            continue
        if current:
            cues.append(current)
        if _fits(group):
            current = list(group)
        else:  # too long for one cue: cut it at the next kind of boundary, keep packing after it
            *whole, current = _pack(group, level + 1)
            cues += whole
    if current:
        cues.append(current)
    return cues


def split_phrase(text: str) -> list[list[str]]:
    """The words of ``text`` cut into cues of at most two lines, at sentence ends where possible."""
    return _pack([piece for word in text.split() for piece in _break_long_word(word)])


def _divide(start_ms: int, end_ms: int, weights: Sequence[int]) -> list[int]:
    """Boundaries start..end split in proportion to weights; each part gets at least 1 ms if it can."""
    total, span = sum(weights), end_ms - start_ms
    bounds, acc = [start_ms], 0
    for i, weight in enumerate(weights[:-1]):
        acc += weight
        at = start_ms + (span * acc + total // 2) // total
        lowest, highest = bounds[-1] + 1, end_ms - (len(weights) - 1 - i)
        bounds.append(min(max(at, lowest), highest) if lowest <= highest else bounds[-1])
    bounds.append(end_ms)
    return bounds


def vtt_cues(phrases: Sequence[Phrase]) -> list[tuple[int, int, list[str]]]:
    """(start_ms, end_ms, lines) of every cue, in order; long phrases become consecutive cues."""
    cues: list[tuple[int, int, list[str]]] = []
    previous_end = 0
    for start_ms, end_ms, text in phrases:
        if start_ms < previous_end or end_ms <= start_ms:
            raise ExportError(
                f"transcript phrase {text[:40]!r} at {start_ms}-{end_ms} ms is empty, "
                f"out of order or overlaps the one before (ending at {previous_end} ms)"
            )
        previous_end = end_ms
        parts = split_phrase(text)
        if not parts:
            continue
        # Time follows the characters spoken: the text of each part, spaces included.
        bounds = _divide(start_ms, end_ms, [len(" ".join(words)) for words in parts])
        for i, words in enumerate(parts):
            cues.append((bounds[i], bounds[i + 1], [vtt_escape(line) for line in _wrap(words)]))
    return cues


def vtt_text(phrases: Sequence[Phrase]) -> str:
    """A WebVTT transcript: one cue per phrase (or several for a long one), lines of <= 65 characters."""
    blocks = ["WEBVTT\n"]
    for start_ms, end_ms, lines in vtt_cues(phrases):
        timing = f"{format_clock(start_ms, 'timestamp')} --> {format_clock(end_ms, 'timestamp')}"
        blocks.append("\n".join([timing, *lines]) + "\n")
    return "\n".join(blocks)


def write_vtt(path: Path, phrases: Sequence[Phrase]) -> None:
    """Write the transcript to ``path`` (UTF-8) atomically."""
    _write_text(path, vtt_text(phrases))


# --- Podcasting 2.0 JSON chapters


def _span(chapter: ChapterLike | tuple[int, int, str]) -> tuple[int, int, str]:
    if isinstance(chapter, tuple):
        return chapter
    return chapter.start_ms, chapter.end_ms, chapter.title


def chapters_json_text(
    chapters: Sequence[ChapterLike | tuple[int, int, str]], title: str | None = None
) -> str:
    """Podcasting 2.0 chapters JSON (version 1.2.0): seconds to the millisecond, keys in a fixed order."""
    entries = []
    previous_end = 0
    for chapter in chapters:
        start_ms, end_ms, name = _span(chapter)
        if start_ms < previous_end or end_ms <= start_ms:
            raise ExportError(
                f"chapter {name!r} at {start_ms}-{end_ms} ms is empty, out of order or overlapping"
            )
        previous_end = end_ms
        # ms / 1000 is the double nearest to the decimal value, so json prints e.g. 12.345 exactly.
        entries.append({"startTime": start_ms / 1000, "endTime": end_ms / 1000, "title": name})
    document: dict[str, object] = {"version": CHAPTERS_JSON_VERSION}
    if title is not None:
        document["title"] = title
    document["chapters"] = entries
    return json.dumps(document, ensure_ascii=False, indent=2) + "\n"


def write_chapters_json(
    path: Path, chapters: Sequence[ChapterLike | tuple[int, int, str]], title: str | None = None
) -> None:
    """Write the chapters JSON to ``path`` (UTF-8) atomically."""
    _write_text(path, chapters_json_text(chapters, title))


def _write_text(path: Path, text: str) -> None:
    try:
        with atomic_write(path, "wb") as fh:  # bytes: "\n" line ends on every platform
            fh.write(text.encode("utf-8"))
    except OSError as err:
        raise ExportError(f"{path}: cannot write: {err}") from err
