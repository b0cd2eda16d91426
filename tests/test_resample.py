"""Resampling to 44.1 kHz (audioguide.speak.resample) against scipy.signal, the reference it replaces:
the polyphase path must give resample_poly's samples to the bit, so clips cached when scipy made them
stay valid, and real neural speech comes out the same through both."""

from __future__ import annotations

from math import gcd

import numpy as np
import pytest
from scipy.signal import firwin, resample_poly
from scipy.special import i0

from audioguide.speak import resample
from audioguide.speak.engines.hibari import SAMPLE_RATE_HZ, HibariEngine
from audioguide.units import SAMPLE_RATE


def _scipy(x: np.ndarray, rate: int) -> np.ndarray:
    g = gcd(rate, SAMPLE_RATE)
    return resample_poly(x, SAMPLE_RATE // g, rate // g)


def test_the_kaiser_window_and_filter_equal_scipys_to_the_bit() -> None:
    args = np.linspace(0.0, 8.0, 4001)
    assert np.array_equal([resample._i0(float(a)) for a in args], i0(args))
    for up in (147, 160, 441):
        ours = resample._kaiser_lowpass(20 * up + 1, 1.0 / up, resample.POLY_KAISER_BETA)
        assert np.array_equal(ours, firwin(20 * up + 1, 1.0 / up, window=("kaiser", 5.0)))


@pytest.mark.parametrize("length", [1, 2, 3, 79, 80, 81, 147, 160, 1001, 24_000 * 2 + 17])
def test_24_khz_speech_resamples_exactly_as_scipy_does(length: int) -> None:
    rng = np.random.default_rng(length)
    x = np.round(rng.standard_normal(length) * 4000).clip(-32768, 32767)
    ours = resample.to_44k1(x, 24_000)
    assert ours.dtype == np.float64
    assert np.array_equal(ours, _scipy(x, 24_000))


@pytest.mark.parametrize("rate", [8_000, 11_025, 16_000, 32_000, 44_000])
def test_other_rates_below_44k1_resample_exactly_as_scipy_does(rate: int) -> None:
    x = np.random.default_rng(rate).standard_normal(rate // 10 + 3)
    assert np.array_equal(resample.to_44k1(x, rate), _scipy(x, rate))


def test_rates_above_44k1_still_go_through_scipy() -> None:
    x = np.random.default_rng(48).standard_normal(4_801)
    assert np.array_equal(resample.to_44k1(x, 48_000), _scipy(x, 48_000))


def test_a_tone_keeps_its_frequency_and_the_clip_its_duration() -> None:
    """A physical check that does not lean on scipy: 1 kHz stays at 1 kHz, one second stays one."""
    t = np.arange(24_000) / 24_000
    y = resample.to_44k1(np.sin(2 * np.pi * 1000 * t), 24_000)
    assert y.size == SAMPLE_RATE
    spectrum = np.abs(np.fft.rfft(y[2000:-2000] * np.hanning(y.size - 4000)))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / (y.size - 4000)
    assert abs(peak_hz - 1000) < 2 * SAMPLE_RATE / (y.size - 4000)  # within two FFT bins


def test_real_neural_speech_resamples_exactly_as_scipy_does() -> None:
    engine = HibariEngine()
    engine.load()
    pcm, rate = engine.synthesize("Gently hug your right knee toward your chest.", {"rate": 180})
    assert rate == SAMPLE_RATE_HZ
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert np.array_equal(resample.to_44k1(x, rate), _scipy(x, rate))


def _check_loud_part(x: np.ndarray, rate: int) -> float:
    """loud_part_to_44k1 returns the whole resampled signal's samples, from the kept margin before
    its first loud sample to the one after its last (as postprocess trims); the share it computed."""
    y, offset, total = resample.loud_part_to_44k1(x, rate, 0.01, 441, 1764)
    whole = resample.to_44k1(x, rate)
    assert total == whole.size
    assert np.array_equal(y, whole[offset : offset + y.size])
    loud = np.flatnonzero(np.abs(whole) > np.max(np.abs(whole)) * 0.01)
    assert offset <= max(0, loud[0] - 441) and min(total, loud[-1] + 1764) <= offset + y.size
    return y.size / total


def _speechlike(rng: np.random.Generator, lead: int, body: int, tail: int, hiss: float) -> np.ndarray:
    t = np.arange(body) / 24_000
    voice = 9000 * np.sin(2 * np.pi * 180 * t) * np.hanning(body)
    x = np.concatenate([np.zeros(lead), voice, np.zeros(tail)]) + rng.normal(0, hiss, lead + body + tail)
    return np.round(x).clip(-32768, 32767)


CASES = {
    "hiss-around-speech": lambda rng: _speechlike(rng, 9000, 30_000, 14_000, 8.0),
    "speech-from-the-first-sample": lambda rng: _speechlike(rng, 0, 30_000, 14_000, 8.0),
    "speech-to-the-last-sample": lambda rng: _speechlike(rng, 9000, 30_000, 0, 8.0),
    "a-click-at-each-end": lambda rng: np.concatenate([[20_000.0], np.zeros(20_000), [-20_000.0]]),
    "quiet-throughout": lambda rng: np.round(rng.normal(0, 3.0, 30_000)),
    "one-sample": lambda rng: np.array([5.0]),
    "loud-throughout": lambda rng: np.round(rng.normal(0, 4000.0, 30_000)).clip(-32768, 32767),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_loud_part_is_the_whole_signals_samples(case: str) -> None:
    """loud_part_to_44k1 leaves out a quiet lead-in or tail only where a bound proves it quiet."""
    share = _check_loud_part(CASES[case](np.random.default_rng(len(case))), 24_000)
    if case == "hiss-around-speech":
        assert share < 0.7


def test_real_neural_speech_keeps_the_same_loud_part() -> None:
    engine = HibariEngine()
    engine.load()
    for text in ("Breathe in.", "Gently hug your right knee toward your chest."):
        pcm, rate = engine.synthesize(text, {"rate": 190})
        share = _check_loud_part(np.frombuffer(pcm, dtype="<i2").astype(np.float64), rate)
        assert share < 0.9  # the quiet lead-in and tail were not resampled
