"""The compiler's wording: rotating phrase variants, number words, names inside sentences and titles."""

from __future__ import annotations

import re
import zlib

from audioguide.load.poses import phrases

UNSAFE = re.compile(
    r"\b(?:push|work|keep going|carry on|go on|press on|power)(?:ing)?\s+(?:through|past)\b"
    r"|\b(?:ignore|fight|embrace)\s+(?:the|any|your)?\s*pain\b"
    r"|\bno pain,? no gain\b|\bpain is (?:good|gain|weakness)\b|\bfeel the burn\b|\bthrough the pain\b",
    re.I,
)
"""Words a listener in pain must never be told; user-written text with them is refused."""

POSITION_WORDS = {
    "supine": re.compile(
        r"\b(?:lie|lying|lay|roll|rolling|turn|come)\b[^.]*\b(?:on|onto)\s+your\s+back\b", re.I
    ),
    "prone": re.compile(r"\b(?:on|onto)\s+your\s+(?:front|stomach|belly|tummy)\b", re.I),
    "side-lying": re.compile(r"\blie\b[^.]*\bon\s+your\s+side\b", re.I),
    "kneeling": re.compile(r"\bkneel(?:ing)?\b", re.I),
    "hands-and-knees": re.compile(r"\bhands\s+and\s+knees\b", re.I),
    "lying": re.compile(r"\blying\b|\blie down\b", re.I),
    "standing": re.compile(r"\bstand(?:ing)?\s+up\b|\bcome\s+up\s+to\s+standing\b", re.I),
}
"""Sentences that move the listener into a position: with --avoid, free words like these are left out."""


def agree(text: str) -> str:
    """Number agreement after filling in a count: 'one breaths' -> 'one breath', 'one times' -> 'once'."""
    text = re.sub(r"\b([Oo]ne) (breath|repetition|rep)s\b", r"\1 \2", text)
    return re.sub(r"\b([Oo])ne times\b", lambda m: "Once" if m[1] == "O" else "once", text)


class Vocabulary:
    """Rotates through each slot's variants so nearby sentences differ; deterministic per routine."""

    def __init__(self, seed: str) -> None:
        self.table = phrases()
        self.seed = seed
        self.used: dict[str, int] = {}

    def pick(self, slot: str, **values: str) -> str:
        variants = self.table[slot]
        turn = self.used.get(slot, 0)
        self.used[slot] = turn + 1
        start = zlib.crc32(f"{self.seed}/{slot}".encode()) % len(variants)
        text = variants[(start + turn) % len(variants)]
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        text = agree(text)
        return text[:1].upper() + text[1:]  # "{count} times" starts a sentence

    def all(self, slot: str) -> tuple[str, ...]:
        return self.table[slot]

    def number(self, n: int) -> str:
        words = self.table["numbers"]
        return words[n - 1] if 1 <= n <= len(words) else str(n)


def sentence_name(name: str) -> str:
    """'Supine twist' inside a sentence reads 'supine twist'; acronyms stay."""
    return name if name[:2].isupper() else name[:1].lower() + name[1:]


def title_case(name: str) -> str:
    return name[:1].upper() + name[1:]


def chapter_title(sentence: str, limit: int = 40) -> str:
    """A chapter title from a spoken sentence: its first words, cut at a word boundary."""
    text = sentence.rstrip(".!?")
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "…"
