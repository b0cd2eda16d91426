"""The engine interface and the registry that picks one by name (``auto`` picks the best present)."""

from __future__ import annotations

from typing import Protocol

ENGINE_NAMES = ("auto", "espeak", "pyttsx3", "tone")


class Engine(Protocol):
    """A speech synthesizer: text in, mono 16-bit PCM out.

    Engines run inside speech worker processes (see ``audioguide.speak``), one engine per
    process, so they may keep global state; they must never print, and must raise
    ``SpeechError`` (not return silence) when synthesis fails.
    """

    name: str

    def identity(self) -> str:
        """Engine name and version; part of every speech cache key."""
        ...

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        """Speak ``text`` with ``settings`` (voice, rate, pitch, volume); return (int16 LE PCM, rate)."""
        ...


def resolve_engine_name(name: str) -> str:
    """Map ``auto`` to a concrete engine: libespeak-ng where it loads, else pyttsx3."""
    if name != "auto":
        return name
    from . import espeak

    return "espeak" if espeak.library_path() is not None else "pyttsx3"


def make_engine(name: str) -> Engine:
    """Create an engine by (resolved) name."""
    from ..errors import SpeechError

    name = resolve_engine_name(name)
    if name == "espeak":
        from .espeak import EspeakEngine

        return EspeakEngine()
    if name == "pyttsx3":
        from .pyttsx3_engine import Pyttsx3Engine

        return Pyttsx3Engine()
    if name == "tone":
        from .tone import ToneEngine

        return ToneEngine()
    raise SpeechError(f"unknown speech engine '{name}'; engines: {', '.join(ENGINE_NAMES)}")
