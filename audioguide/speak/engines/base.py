"""The engine interface and the registry that picks one by name (``auto`` picks the best present)."""

from __future__ import annotations

import importlib
import os
from typing import Protocol

from audioguide.errors import SpeechError
from audioguide.model.voice import ENGINE_NAMES
from audioguide.speak.engines import espeak

DEFAULT_TIMEOUT_S = 30.0
TIMEOUT_ENV = "AUDIOGUIDE_SPEECH_TIMEOUT"
MAX_TIMEOUT_S = 3600.0
"""No phrase takes an hour; a longer timeout (or inf) would let a hung engine hang the build."""


class Engine(Protocol):
    """A speech synthesizer: text in, mono 16-bit PCM out.

    Engines run inside speech worker processes (see ``audioguide.speak.synth``), one engine per
    process, so they may keep global state; they must never print, and must raise
    ``SpeechError`` (not return silence) when synthesis fails. An engine whose output does not
    depend on what it said before may say so with a class attribute ``stateless = True``, or, when
    that depends on the settings, with a method ``repeatable(settings) -> bool``: its phrases are
    then spoken in one long-lived child process instead of a fresh one each. An
    optional ``prepare(settings)`` is called once in the worker before its first phrase, with the
    settings all its phrases share (``speak`` sends one profile's), for set-up that phrase children
    would otherwise each repeat; it must not change what they speak.
    """

    name: str

    def identity(self) -> str:
        """Engine name and version; part of every speech cache key."""
        ...

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        """Speak ``text`` with ``settings`` (voice, rate, pitch, volume); return (int16 LE PCM, rate)."""
        ...


ENGINES: dict[str, str] = {
    "hibari": "audioguide.speak.engines.hibari:HibariEngine",
    "espeak": "audioguide.speak.engines.espeak:EspeakEngine",
    "pyttsx3": "audioguide.speak.engines.pyttsx3_engine:Pyttsx3Engine",
    "tone": "audioguide.speak.engines.tone:ToneEngine",
}
"""The registry: each engine name (``audioguide.model.voice.ENGINE_NAMES`` but "auto") and where its
class is. A module is imported when its engine is made, so a speech worker loads its own engine's
dependencies only (pyttsx3's module brought soundfile and importlib.metadata into every worker)."""


def resolve_engine_name(name: str) -> str:
    """Map ``auto`` to a concrete engine: libespeak-ng where it loads, else pyttsx3."""
    if name != "auto":
        return name

    return "espeak" if espeak.library_path() is not None else "pyttsx3"


def make_engine(name: str) -> Engine:
    """Create an engine by (resolved) name, or from an import path ``package.module:Class``.

    The import path is for engines that live outside this package (tests use it for engines
    that hang or return nothing); the class is called without arguments.
    """

    name = resolve_engine_name(name)
    if name in ENGINES:
        module, _, attr = ENGINES[name].partition(":")
        engine: Engine = getattr(importlib.import_module(module), attr)()
        return engine
    if ":" in name:
        return _import_engine(name)
    raise SpeechError(f"unknown speech engine '{name}'; engines: {', '.join(ENGINE_NAMES)}")


def _import_engine(spec: str) -> Engine:

    module_name, _, attr = spec.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SpeechError(
            f"cannot load the speech engine '{spec}': {exc}; check that the module is importable "
            f"(PYTHONPATH) or use one of {', '.join(ENGINE_NAMES)}"
        ) from None
    engine = cls()
    if not callable(getattr(engine, "synthesize", None)) or not callable(getattr(engine, "identity", None)):
        raise SpeechError(f"'{spec}' is not a speech engine (it needs identity() and synthesize())")
    return engine


def engine_fix(name: str) -> str:
    """What to try when engine ``name`` fails: the second half of every engine error message."""
    if name == "espeak":
        return (
            "check the profile's voice id against 'audioguide voices', or try '--engine pyttsx3'; "
            "'make setup' reinstalls libespeak-ng"
        )
    if name == "hibari":
        return (
            "'make setup' reinstalls hibari-tts and onnxruntime; '--engine espeak' speaks a draft meanwhile"
        )
    if name == "pyttsx3":
        return (
            "try '--engine espeak' (the direct, faster eSpeak NG engine), or check that your system's "
            "speech driver works; 'make setup' reinstalls pyttsx3"
        )
    return f"try another engine with '--engine' ({', '.join(n for n in ENGINE_NAMES if n != name)})"


def speech_timeout_s(override: float | None = None) -> float:
    """Seconds one phrase may take: ``override``, else $AUDIOGUIDE_SPEECH_TIMEOUT, else 30."""

    if override is not None:
        value: float = override
    else:
        raw = os.environ.get(TIMEOUT_ENV, "").strip()
        if not raw:
            return DEFAULT_TIMEOUT_S
        try:
            value = float(raw)
        except ValueError:
            raise SpeechError(f"{TIMEOUT_ENV}={raw!r} is not a number of seconds") from None
    if not 0 < value <= MAX_TIMEOUT_S:  # also refuses nan and inf
        raise SpeechError(
            f"the speech timeout ({TIMEOUT_ENV}) must be more than 0 and at most {MAX_TIMEOUT_S:g} "
            f"seconds, not {value}"
        )
    return value
