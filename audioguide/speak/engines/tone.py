"""A stand-in engine that 'speaks' soft tones, one per word: for fast tests and timing drafts."""

from __future__ import annotations

import math
import struct
import zlib

RATE = 22_050


class ToneEngine:
    """Deterministic and instant; a phrase lasts 60/rate seconds per word, like speech at that rate."""

    name = "tone"

    def identity(self) -> str:
        return "tone 1"

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        words = text.split() or ["."]
        wpm = int(settings.get("rate", 150))  # type: ignore[call-overload]
        word_len = round(RATE * 60 / wpm)
        out = bytearray()
        for word in words:
            freq = 180 + (zlib.crc32(word.encode()) % 120)
            voiced = int(word_len * 0.8)
            for i in range(word_len):
                if i < voiced:
                    env = math.sin(math.pi * i / voiced)
                    value = int(12000 * env * math.sin(2 * math.pi * freq * i / RATE))
                else:
                    value = 0
                out += struct.pack("<h", value)
        return bytes(out), RATE
