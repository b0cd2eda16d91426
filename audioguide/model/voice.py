"""A voice profile as frozen data: which engine speaks, with which voice, rate, pitch and volume."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

ENGINE_NAMES = ("auto", "hibari", "espeak", "pyttsx3", "tone")
"""Every speech engine by name: "hibari" is the neural voice; "auto" picks the formant synthesizer
installed here (eSpeak NG, else pyttsx3's platform voice); "tone" drafts timing with tones.
``audioguide.speak.engines.base.ENGINES`` builds each one."""


@dataclass(frozen=True)
class VoiceProfile:
    """How a session sounds: engine, engine voice id, words per minute, pitch (0-100), volume (0-1)."""

    name: str
    engine: str = "auto"
    voice: str = "en-us"
    rate: int = 150
    pitch: int = 45
    volume: float = 1.0
    recordings: Path | None = None
    description: str = ""
    source: Path | None = None

    def settings(self) -> dict[str, object]:
        """The settings that shape synthesized audio (the speech cache key includes these)."""
        return {"voice": self.voice, "rate": self.rate, "pitch": self.pitch, "volume": self.volume}

    def with_rate_scale(self, scale: float) -> VoiceProfile:
        """The same profile spoken faster or slower (for --pace)."""
        return replace(self, rate=max(80, min(400, round(self.rate * scale))))
