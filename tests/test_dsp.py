"""The renderer's numpy kernels against scipy (the reference they replace), and silence that costs no more."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.optimize import brentq
from scipy.signal import sosfilt

from audioguide.render.dsp import BiquadCascade, find_root, running_mean, sliding_max
from audioguide.render.loudness import LoudnessProfile, k_weighting_sos
from audioguide.render.mixer import phase_rotator_sos

RATE = 44_100
IIR_TOL = 1e-10
"""Absolute agreement with sosfilt on unit-variance noise: the block products and the scan sum in
another order than sosfilt's sample loop (measured: up to 2.6e-11). 1e-10 of an RMS near 1 is
~1e-9 dB on a loudness reading, far under the 4 decimals a report shows."""


def _speech_then_silence(seconds: float, speech_fraction: float, seed: int = 1) -> np.ndarray:
    """Bursts of noisy harmonic 'speech' then digital silence: the case where a recursive filter's
    state decays into subnormal floats."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = np.zeros(n)
    t = np.arange(n) / RATE
    voiced = 0.2 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(
        n
    )
    for start in range(0, n, 5 * RATE):
        stop = start + int(5 * RATE * speech_fraction)
        x[start:stop] = voiced[start:stop]
    return x


@pytest.mark.parametrize("sos", [k_weighting_sos(44_100), k_weighting_sos(48_000), phase_rotator_sos(44_100)])
def test_biquad_cascade_agrees_with_sosfilt_across_any_calls(sos: np.ndarray) -> None:
    rng = np.random.default_rng(7)
    cascade, zi = BiquadCascade(sos), np.zeros((sos.shape[0], 2))
    for n in (1, 15, 16, 17, 1000, cascade.span, 3 * cascade.span + 5, 7):
        x = rng.standard_normal(n)
        expected, zi = sosfilt(sos, x, zi=zi)
        np.testing.assert_allclose(cascade.process(x), expected, rtol=0, atol=IIR_TOL)


def test_silence_leaves_no_subnormal_numbers_in_the_k_weighting() -> None:
    # Deterministic: subnormal floats are what made silence 13x slower than speech through sosfilt.
    cascade = BiquadCascade(k_weighting_sos(RATE))
    x = _speech_then_silence(30.0, 0.1)
    subnormal = 0
    for start in range(0, x.size, cascade.span):
        y = cascade.process(x[start : start + cascade.span])
        for values in (y, cascade.state):
            subnormal += int(np.count_nonzero((values != 0) & (np.abs(values) < np.finfo(np.float64).tiny)))
    assert subnormal == 0
    assert not cascade.state.any()  # long silence flushes the state to exact zeros


def test_sound_after_a_long_silence_is_filtered_as_sosfilt_filters_it() -> None:
    # Silence into a filter at rest is skipped (no products): what comes out, there and after, must be
    # what sosfilt gives for the whole signal in one call.
    sos = k_weighting_sos(RATE)
    x = _speech_then_silence(20.0, 0.2)
    cascade = BiquadCascade(sos)
    y = np.concatenate([cascade.process(x[i : i + 10_000]) for i in range(0, x.size, 10_000)])
    np.testing.assert_allclose(y, sosfilt(sos, x), rtol=0, atol=IIR_TOL)
    quiet = slice(int(3.5 * RATE), 5 * RATE)  # 2.5 s after the first burst: the state has come to rest
    assert not x[quiet].any() and not y[quiet].any()


def test_silence_heavy_audio_costs_no_more_than_speech_heavy_audio() -> None:
    # A ratio in one process, interleaved and taking the best of several tries, with a wide margin:
    # through sosfilt it was 8-13x, so this fails on the old code and does not flake on a busy machine.
    silent, spoken = _speech_then_silence(60.0, 0.05), _speech_then_silence(60.0, 0.95)

    def cost(x: np.ndarray) -> float:
        profile = LoudnessProfile(RATE, 1)
        start = time.process_time()
        for i in range(0, x.size, 65_536):
            profile.add(x[i : i + 65_536])
        profile.integrated()
        return time.process_time() - start

    best = {"silent": np.inf, "spoken": np.inf}
    for _ in range(5):
        best["silent"] = min(best["silent"], cost(silent))
        best["spoken"] = min(best["spoken"], cost(spoken))
    assert best["silent"] <= 2.5 * best["spoken"], best


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5, 7, 8, 9, 112, 246, 1000])
def test_sliding_max_and_running_mean_match_scipy_bit_for_bit(width: int) -> None:
    rng = np.random.default_rng(width)
    for n in (width, width + 1, 5_000):
        x = np.abs(rng.standard_normal(n)) * rng.random(n)
        x[: n // 3] = 0.0
        valid = slice(width // 2, width // 2 + n - width + 1)
        assert np.array_equal(running_mean(x, width), uniform_filter1d(x, width)[valid])
        assert np.array_equal(sliding_max(x, width), maximum_filter1d(x, width, mode="nearest")[valid])
        x32 = x.astype(np.float32)
        assert np.array_equal(sliding_max(x32, width), maximum_filter1d(x32, width, mode="nearest")[valid])


def test_find_root_brackets_like_brentq() -> None:
    for f in (lambda g: np.tanh(g - 1.3) - 0.001, lambda g: (g - 2.2) ** 3 + 0.01 * g, lambda g: g - 4.0):
        assert find_root(f, 0.0, 12.0, xtol=0.002) == pytest.approx(
            brentq(f, 0.0, 12.0, xtol=0.002), abs=0.002
        )
    with pytest.raises(ValueError):
        find_root(lambda g: g + 1.0, 0.0, 1.0, xtol=0.002)
