"""The voices each installed speech engine offers, for listings (``audioguide voices``)."""

from __future__ import annotations

from audioguide.errors import SpeechError
from audioguide.speak.engines import espeak
from audioguide.speak.engines.hibari import BUNDLED_VOICES, HibariEngine
from audioguide.speak.engines.pyttsx3_engine import Pyttsx3Engine, list_voices


def engine_voices(timeout_s: float = 20.0) -> dict[str, dict[str, object]]:
    """Per speech engine: whether it is installed here, its identity, and the voices it offers
    (id, name, language, gender). A missing or broken engine is reported, not raised."""
    out: dict[str, dict[str, object]] = {}
    try:
        out["hibari"] = {
            "available": True,
            "identity": HibariEngine().identity(),
            "voices": [{"id": v, "name": v, "language": "en-us", "gender": "female"} for v in BUNDLED_VOICES],
        }
    except SpeechError as exc:
        out["hibari"] = {"available": False, "error": str(exc), "voices": []}
    try:
        voices = espeak.list_voices()
        out["espeak"] = {
            "available": True,
            "identity": espeak.EspeakEngine().identity(),
            "voices": voices,
            "variants": espeak.list_variants(),
        }
    except SpeechError as exc:
        out["espeak"] = {"available": False, "error": str(exc), "voices": []}
    try:
        identity = Pyttsx3Engine().identity()
        out["pyttsx3"] = {"available": True, "identity": identity, "voices": list_voices(timeout_s)}
    except SpeechError as exc:
        out["pyttsx3"] = {"available": False, "error": str(exc), "voices": []}
    return out


def speaks(voice: dict[str, str], language: str) -> bool:
    """Whether an engine voice (a row of ``engine_voices``) is for ``language`` or one of its
    regional forms: "en" matches en, en-gb, en-us-nyc and the like (BCP 47 primary subtag)."""
    tag = voice.get("language", "").lower().replace("_", "-")
    return tag == language or tag.startswith(language + "-")
