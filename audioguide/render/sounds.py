"""The cue palette: chimes, ticks, bells and breath tones, synthesized deterministically in numpy."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from audioguide.model.cues import (
    BREATH_MAX_SAMPLES,
    BREATH_MIN_SAMPLES,
    BREATH_NAMES,
    check_name,
    natural_length,
)
from audioguide.units import SAMPLE_RATE

# Levels (sample peak, dBFS). Speech is normalised later and peaks near -1 dBTP after mastering; these
# sit well under it so that the mastering gain, applied to the whole mix, keeps cues in proportion:
# audible and clear, never louder than the voice. Breath tones run underneath the guidance for
# seconds at a time, so they are quieter still.
PEAK_DBFS: Mapping[str, float] = MappingProxyType(
    {
        "chime": -12.0,  # start/end of a hold: clear but gentle
        "transition": -14.0,  # a softer marker between poses
        "tick": -14.0,  # frequent, so restrained
        "bell": -10.0,  # the closing bell, the one cue allowed to stand out
        "inhale": -20.0,  # breath swells under the voice
        "exhale": -20.0,
    }
)


_EDGE_SECONDS = 0.005  # every sound starts and ends with at least this raised-cosine ramp: no clicks
_BREATH_SEED = 20_240_611  # fixed seed for the breath noise: identical output on every run


def cue(name: str, length_samples: int | None = None) -> np.ndarray:
    """A cue sound as read-only mono float32 at SAMPLE_RATE. Fixed sounds have their natural length
    (any other explicit length is a ValueError); ``inhale``/``exhale`` need ``length_samples`` (one
    breath phase, 1-20 s) and fill exactly that length, silent at both ends."""
    return _render(name, cue_length(name, length_samples))


def cue_length(name: str, length_samples: int | None = None) -> int:
    """The length ``cue(name, length_samples)`` has, or the ValueError it raises."""
    check_name(name)
    if name in BREATH_NAMES:
        if length_samples is None:
            raise ValueError(f"cue {name!r} needs length_samples (the length of the breath phase)")
        if not BREATH_MIN_SAMPLES <= length_samples <= BREATH_MAX_SAMPLES:
            raise ValueError(
                f"cue {name!r}: a breath phase must last {BREATH_MIN_SAMPLES} to {BREATH_MAX_SAMPLES} "
                f"samples (1-20 s), got {length_samples}"
            )
        return int(length_samples)
    natural = natural_length(name)
    if length_samples is not None and length_samples != natural:
        raise ValueError(f"cue {name!r} has a fixed length of {natural} samples, got {length_samples}")
    assert natural is not None  # check_name passed: every fixed cue has one
    return natural


@functools.lru_cache(maxsize=1)
def palette_id() -> str:
    """Everything the palette's samples depend on besides a cue's name and length: this module's own
    text (its recipes and levels) and numpy's version (its FFT and transcendental functions), so that a
    cached cue is always the one this code would synthesize. The cue cache's namespace."""
    source = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return f"cue palette {source} numpy {np.__version__} {SAMPLE_RATE} Hz"


@functools.lru_cache(maxsize=32)
def _render(name: str, length: int) -> np.ndarray:
    raw = _breath(length, rising=name == "inhale") if name in BREATH_NAMES else _FIXED[name](length)
    shaped = _edges(raw, round(_EDGE_SECONDS * SAMPLE_RATE))
    out = (shaped * (10.0 ** (PEAK_DBFS[name] / 20.0) / np.abs(shaped).max())).astype(np.float32)
    out.flags.writeable = False
    return out


# --- building blocks ---------------------------------------------------------------------------------


def _time(length: int) -> np.ndarray:
    return np.arange(length) / SAMPLE_RATE


def _raised_cosine(n: int) -> np.ndarray:
    """A 0 -> 1 ramp of n samples starting exactly at 0 (n >= 2)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / (n - 1))


def _edges(x: np.ndarray, n: int) -> np.ndarray:
    """Raised-cosine fade-in and fade-out of n samples; the first and last samples become 0."""
    out = x.copy()
    ramp = _raised_cosine(n)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


def _struck(length: int, partials: list[tuple[float, float, float]], attack_s: float) -> np.ndarray:
    """A struck, bell-like tone: sum of (frequency Hz, amplitude, decay time constant s) partials,
    each decaying exponentially after a soft raised-cosine attack (a felt mallet, not a click)."""
    t = _time(length)
    tone = np.zeros(length)
    for i, (freq, amplitude, decay) in enumerate(partials):
        # Fixed phases, spread so the partials do not all peak together at the onset.
        tone += amplitude * np.sin(2 * np.pi * freq * t + 0.7 * i) * np.exp(-t / decay)
    attack = round(attack_s * SAMPLE_RATE)
    tone[:attack] *= _raised_cosine(attack)
    return tone


def _chime(length: int) -> np.ndarray:
    # A small singing-bowl-like tone on E5: the inharmonic ratios of a free bar's modes (1, 2.76, 5.40)
    # kept low in level, plus a faintly detuned twin of the fundamental for a slow shimmer.
    f = 659.26
    partials = [(f, 1.0, 0.45), (f * 1.0025, 0.35, 0.5), (f * 2.76, 0.22, 0.18), (f * 5.40, 0.06, 0.08)]
    tone = _struck(length, partials, attack_s=0.008)
    return tone * _tail(length, 0.25)


def _transition(length: int) -> np.ndarray:
    # Softer and shorter than the chime: an almost pure C5 with a whisper of the first inharmonic mode.
    f = 523.25
    tone = _struck(length, [(f, 1.0, 0.22), (f * 2.76, 0.08, 0.08)], attack_s=0.015)
    return tone * _tail(length, 0.2)


def _tick(length: int) -> np.ndarray:
    # A woodblock-like knock: two strongly damped modes in an inharmonic ratio, a 4 ms soft attack.
    tone = _struck(length, [(720.0, 1.0, 0.018), (720.0 * 2.32, 0.35, 0.010)], attack_s=0.004)
    return tone * _tail(length, 0.03)


def _bell(length: int) -> np.ndarray:
    # A small church-bell spectrum on G4 (hum, prime, minor-third tierce, quint, nominal, upper partials)
    # with slightly split pairs that beat slowly; low partials ring longest.
    f = 392.0
    partials = [
        (f * 0.5, 0.55, 2.2),
        (f * 0.5 * 1.004, 0.25, 2.0),
        (f, 1.0, 1.6),
        (f * 1.003, 0.4, 1.5),
        (f * 1.19, 0.35, 1.0),
        (f * 1.5, 0.2, 0.8),
        (f * 2.0, 0.3, 0.7),
        (f * 2.51, 0.12, 0.4),
        (f * 3.01, 0.08, 0.3),
    ]
    tone = _struck(length, partials, attack_s=0.012)
    return tone * _tail(length, 0.6)


def _tail(length: int, seconds: float) -> np.ndarray:
    """Unity, then a raised-cosine fade to zero over the last ``seconds``."""
    env = np.ones(length)
    n = min(length, round(seconds * SAMPLE_RATE))
    env[-n:] = _raised_cosine(n)[::-1]
    return env


@functools.lru_cache(maxsize=8)
def _shaped_noise(length: int, centre_hz: float, width_octaves: float, seed: int) -> np.ndarray:
    """Seeded white noise given a smooth log-Gaussian band around ``centre_hz`` (in the FFT domain),
    read-only: an inhale and an exhale of one length share their two noises."""
    noise = np.random.default_rng(seed).standard_normal(length)
    spectrum = np.fft.rfft(noise)
    freqs = np.fft.rfftfreq(length, 1.0 / SAMPLE_RATE)
    octaves = np.log2(np.maximum(freqs, 1.0) / centre_hz)
    spectrum *= np.exp(-0.5 * (octaves / width_octaves) ** 2)
    out = np.fft.irfft(spectrum, length)
    out /= np.sqrt(np.mean(out**2))
    out.flags.writeable = False
    return out


def _breath(length: int, *, rising: bool) -> np.ndarray:
    """A breath phase: a warm tone gliding up a fourth (inhale) or down (exhale) under a breathy
    noise that brightens (inhale) or darkens (exhale), swelling in and easing out across the phase."""
    u = np.arange(length) / length  # progress through the phase, 0 -> 1
    ease = u * u * (3 - 2 * u)  # smoothstep: the glide starts and ends gently
    if not rising:
        ease = 1.0 - ease
    freq = 174.61 * 2.0 ** (5 / 12 * ease)  # F3 up to B-flat3 and back
    phase = 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    tone = np.sin(phase) + 0.3 * np.sin(2 * phase) + 0.1 * np.sin(3 * phase)
    dark = _shaped_noise(length, 350.0, 0.8, _BREATH_SEED)
    bright = _shaped_noise(length, 1400.0, 0.8, _BREATH_SEED + 1)
    breath = (1.0 - ease) * dark + ease * bright
    swell = np.sin(np.pi * u) ** 0.6  # full through the middle, easing to zero at both ends
    fade = min(length // 4, round(0.25 * SAMPLE_RATE))  # joins the next phase without a bump
    edges = _edges(np.ones(length), fade)
    return (0.6 * tone + 0.15 * breath) * swell * edges


_FIXED = {"chime": _chime, "transition": _transition, "tick": _tick, "bell": _bell}
