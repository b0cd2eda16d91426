"""Measure how a voice profile sounds, in numbers: speaking rate, mean pitch (F0) and brightness.

Used to choose and check the shipped profiles (see docs/voices.md) without relying on one
person's ears alone. Run ``python -m audioguide.tools.measure [PROFILE...]`` for a table.

- words per minute: words spoken over the summed length of the finished (trimmed) clips;
- mean F0: autocorrelation pitch over voiced 40 ms frames (normalised peak >= VOICED_MIN);
- spectral centroid: power-weighted mean frequency of the frames that carry speech.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

from audioguide.load.voices import available_profiles, load_profile
from audioguide.speak.synth import speak
from audioguide.units import SAMPLE_RATE

SENTENCES = (
    "Hello, and welcome to Ten-Minute Lower Back Release.",
    "Move gently, and only as far as is comfortable.",
    "Lie on your back with your knees bent and feet flat.",
    "Draw your left knee slowly toward your chest.",
    "Stay here, breathing easily.",
    "Let your lower back rest heavy on the floor.",
    "Gently tighten your lower tummy and flatten your back into the floor.",
    "Notice how your lower back feels now.",
)
"""The fixed sentence set every profile is measured on (phrases the flagship routine speaks)."""

FRAME = 1764  # 40 ms at 44.1 kHz
HOP = 441  # 10 ms
F0_MIN_HZ, F0_MAX_HZ = 70.0, 400.0
VOICED_MIN = 0.6  # normalised autocorrelation peak for a frame to count as voiced
GATE_DB = 30.0  # frames more than this below the loudest frame are pauses, not speech


@dataclass(frozen=True)
class VoiceMeasure:
    """One profile's numbers on SENTENCES."""

    words_per_minute: float
    mean_f0_hz: float
    f0_spread_st: float  # standard deviation of F0 in semitones: how much the voice's pitch moves
    centroid_hz: float
    seconds: float


def _frames(x: np.ndarray) -> np.ndarray:
    if len(x) < FRAME:
        x = np.pad(x, (0, FRAME - len(x)))
    count = 1 + (len(x) - FRAME) // HOP
    idx = np.arange(FRAME)[None, :] + HOP * np.arange(count)[:, None]
    return x[idx]


def speech_frames(x: np.ndarray) -> np.ndarray:
    """The 40 ms frames of ``x`` that carry speech (within GATE_DB of the loudest)."""
    frames = _frames(np.asarray(x, dtype=np.float64))
    energy = np.mean(frames**2, axis=1)
    return frames[energy > energy.max() * 10 ** (-GATE_DB / 10)]


def f0_track(x: np.ndarray, rate: int = SAMPLE_RATE) -> np.ndarray:
    """F0 in Hz of every voiced frame of ``x`` (autocorrelation with parabolic peak refinement)."""
    frames = speech_frames(x)
    window = np.hanning(FRAME)
    frames = (frames - frames.mean(axis=1, keepdims=True)) * window
    ac = np.fft.irfft(np.abs(np.fft.rfft(frames, 2 * FRAME, axis=1)) ** 2, axis=1)[:, :FRAME]
    ac /= np.maximum(ac[:, :1], 1e-12)
    # Divide out the window's own autocorrelation (Boersma 1993), so long periods are not penalised.
    w_ac = np.fft.irfft(np.abs(np.fft.rfft(window, 2 * FRAME)) ** 2)[:FRAME]
    ac /= np.maximum(w_ac / w_ac[0], 1e-3)
    lo, hi = int(rate / F0_MAX_HZ), int(rate / F0_MIN_HZ)
    out = []
    for row in ac:
        seg = row[lo:hi]
        best = float(seg.max())
        if best < VOICED_MIN:
            continue
        lag = lo + int(np.flatnonzero(seg >= 0.9 * best)[0])  # earliest strong peak: no octave errors
        while lag + 1 < hi and row[lag + 1] > row[lag]:
            lag += 1
        a, b, c = row[lag - 1], row[lag], row[lag + 1]
        if lag + 1 >= hi or not (b >= a and b >= c) or a - 2 * b + c >= 0:
            continue  # no clear peak inside the pitch range
        shift = min(0.5, max(-0.5, 0.5 * (a - c) / (a - 2 * b + c)))
        out.append(rate / (lag + shift))
    return np.asarray(out)


def spectral_centroid(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """Power-weighted mean frequency (Hz) over the frames that carry speech."""
    frames = speech_frames(x) * np.hanning(FRAME)
    power = np.sum(np.abs(np.fft.rfft(frames, axis=1)) ** 2, axis=0)
    freqs = np.fft.rfftfreq(FRAME, 1 / rate)
    return float(np.sum(freqs * power) / np.sum(power))


def dominant_frequency(x: np.ndarray, rate: int = SAMPLE_RATE) -> float:
    """The frequency (Hz) of the strongest spectral peak of ``x`` (whole signal, Hann window)."""
    x = np.asarray(x, dtype=np.float64)
    power = np.abs(np.fft.rfft(x * np.hanning(len(x)))) ** 2
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(power[1:])) + 1])


def measure_clips(clips: list[np.ndarray], texts: list[str], rate: int = SAMPLE_RATE) -> VoiceMeasure:
    """Rate, mean F0 and centroid of finished clips of ``texts``."""
    seconds = sum(len(c) for c in clips) / rate
    words = sum(len(t.split()) for t in texts)
    f0 = np.concatenate([f0_track(c, rate) for c in clips])
    joined = np.concatenate(clips)
    return VoiceMeasure(
        words_per_minute=words / seconds * 60,
        mean_f0_hz=float(np.mean(f0)) if len(f0) else 0.0,
        f0_spread_st=float(np.std(12 * np.log2(f0))) if len(f0) else 0.0,
        centroid_hz=spectral_centroid(joined, rate),
        seconds=seconds,
    )


def measure_profile(name: str, engine: str | None = None) -> VoiceMeasure:
    """Synthesize SENTENCES with profile ``name`` (through the cache) and measure the result."""

    clips = speak(SENTENCES, load_profile(name), engine=engine)
    return measure_clips([clips[t].samples for t in SENTENCES], list(SENTENCES))


def main(argv: list[str]) -> int:

    names = argv or sorted(available_profiles())
    print(f"{'profile':14} {'wpm':>6} {'F0 Hz':>7} {'F0 sd st':>9} {'centroid Hz':>12} {'seconds':>8}")
    for name in names:
        m = measure_profile(name)
        print(
            f"{name:14} {m.words_per_minute:6.1f} {m.mean_f0_hz:7.1f} {m.f0_spread_st:9.2f} "
            f"{m.centroid_hz:12.0f} {m.seconds:8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
