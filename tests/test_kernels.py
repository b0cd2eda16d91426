"""The optional C module (audioguide/render/_kernels.c) against the numpy code it stands in for.

The promise is bit-identity for the limiter: it gives the same samples whether or not the module was
compiled. Each of its kernels is compared with its numpy twin on random input, and the limiter with and
without the module; test_dsp.py checks the running mean against scipy as well. The K-weighting kernel is
scipy's sosfilt to the bit, and agrees with the numpy block filter to rounding.
"""

from __future__ import annotations

import math
import shutil
import sysconfig

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import signal as scipy_signal

from audioguide.render import dsp, loudness

needs_kernels = pytest.mark.skipif(dsp.kernels is None, reason="the C module is not built here")

finite64 = st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=True, width=64)
finite32 = st.floats(-4.0, 4.0, allow_nan=False, allow_subnormal=True, width=32)


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_the_module_is_built_wherever_a_c_compiler_is() -> None:
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    if shutil.which(compiler) is None:
        pytest.skip(f"no C compiler ({compiler}) here: the numpy code runs, to the same bits")
    assert dsp.kernels is not None, (
        f"{compiler} is installed but audioguide.render._kernels was not built: "
        "reinstall (rm -r .venv && make setup) and read pip's output"
    )


@needs_kernels
@settings(max_examples=200, deadline=None)
@given(data=st.data(), size=st.integers(1, 3000))
def test_running_mean_is_the_numpy_sum_to_the_bit(data: st.DataObject, size: int) -> None:
    x = data.draw(hnp.arrays(np.float64, size, elements=finite64))
    width = data.draw(st.integers(1, size))
    if width // 2 > size:
        return
    assert _same_bits(dsp.running_mean(x, width), dsp._running_mean_numpy(x, width))


@needs_kernels
@settings(max_examples=200, deadline=None)
@given(data=st.data(), size=st.integers(1, 3000))
def test_the_release_running_maximum_is_numpys(data: st.DataObject, size: int) -> None:
    # Held reductions are zero where nothing is held (most samples) and positive elsewhere.
    held = data.draw(hnp.arrays(np.float64, size, elements=st.sampled_from([0.0, 1e-300, 1e-6, 0.3, 2.0])))
    held *= data.draw(hnp.arrays(np.float64, size, elements=st.floats(0.5, 1.5)))
    steps = np.arange(size) * data.draw(st.floats(1e-5, 1e-2))
    start = data.draw(st.sampled_from([-math.inf, -3.0, 0.5]))
    with_module = loudness._running_log_max(held, steps, start)
    kernels = dsp.kernels
    try:
        dsp.kernels = None
        reference = loudness._running_log_max(held, steps, start)
    finally:
        dsp.kernels = kernels
    assert _same_bits(with_module, reference)


@needs_kernels
@settings(max_examples=150, deadline=None)
@given(data=st.data(), n=st.integers(1, 2000), channels=st.sampled_from([1, 2]))
def test_true_peak_envelope_is_the_numpy_fir_to_the_bit(data: st.DataObject, n: int, channels: int) -> None:
    padded = data.draw(hnp.arrays(np.float32, (n + 2 * loudness._HALF, channels), elements=finite32))
    reference = loudness._true_peak_envelope_numpy(padded, np.zeros(n, dtype=np.float32))
    assert _same_bits(loudness._true_peak_envelope(padded), reference)


@needs_kernels
@pytest.mark.parametrize("channels", [1, 2])
def test_the_limiter_gives_the_same_samples_without_the_module(
    monkeypatch: pytest.MonkeyPatch, channels: int
) -> None:
    # Bursts of noise well over the ceiling, with silence and a quiet tone between them: the
    # limiter holds, releases, smooths and passes through, across many 16384-sample frames.
    rate = 44_100
    rng = np.random.default_rng(7)
    t = np.arange(8 * rate) / rate
    x = 0.05 * np.sin(2 * np.pi * 220 * t)
    for start in range(0, x.size - rate, rate * 3 // 2):
        x[start : start + rate // 3] += rng.standard_normal(rate // 3) * 0.6
    x[5 * rate : 6 * rate] = 0.0
    audio = x.astype(np.float32) if channels == 1 else np.stack([x, 0.7 * x[::-1]], axis=1).astype(np.float32)
    blocks = [audio[i : i + 10_000] for i in range(0, len(audio), 10_000)]

    def limited() -> np.ndarray:
        return np.concatenate(list(loudness.limit(iter(blocks), rate, ceiling_dbtp=-3.0)))

    with_module = limited()
    monkeypatch.setattr(dsp, "kernels", None)
    without = limited()
    assert not np.array_equal(with_module, audio)  # the limiter acted
    assert _same_bits(with_module, without)


@needs_kernels
@settings(max_examples=100, deadline=None)
@given(data=st.data(), n=st.integers(1, 5000), rate=st.sampled_from([44_100, 48_000, 22_050]))
def test_k_weighted_squares_are_scipys_sosfilt_to_the_bit(data: st.DataObject, n: int, rate: int) -> None:
    # biquad_squares_into runs the cascade sample by sample in transposed direct form II, as scipy's
    # sosfilt does, so the two agree exactly, the state carried across calls included. The numpy
    # twin (BiquadCascade.process, a block of 16 samples at a time through matrix products) rounds
    # differently and drifts further: ~1e-10 of the signal after 5000 samples of a held input. Pass
    # one's loudness needs no better (its gain is applied as a float32).
    x = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-1.0, 1.0, width=32)))
    cut = data.draw(st.integers(0, n))
    sos = loudness.k_weighting_sos(rate)
    sequential, blocks = dsp.BiquadCascade(sos), dsp.BiquadCascade(sos)
    got, block_squares = np.zeros(n), np.zeros(n)
    for a, b in ((0, cut), (cut, n)):
        sequential.add_squares(x[a:b], got[a:b])
        weighted = blocks.process(x[a:b])
        block_squares[a:b] += weighted * weighted
    assert _same_bits(got, scipy_signal.sosfilt(sos, x) ** 2)
    scale = max(float(block_squares.max()), float(np.max(x * x)), 1e-300)
    assert np.max(np.abs(got - block_squares)) <= 1e-9 * scale


@needs_kernels
def test_k_weighting_comes_to_rest_after_a_sound(monkeypatch: pytest.MonkeyPatch) -> None:
    # The flush zeroes a decaying state, as the block filter's does: after a click and 0.5 s of
    # silence the filter is at rest, so the silence after it is skipped, and nothing is subnormal.
    rate = 44_100
    cascade = dsp.BiquadCascade(loudness.k_weighting_sos(rate), flush=loudness.K_WEIGHTING_FLUSH)
    x = np.zeros(rate // 2)
    x[0] = 1.0
    out = np.zeros(x.size)
    cascade.add_squares(x, out)
    assert not cascade.state.any()
    tiny = out[(out > 0) & (out < np.finfo(np.float64).tiny)]
    assert tiny.size == 0


def test_meters_read_the_same_loudness_with_and_without_the_module(monkeypatch: pytest.MonkeyPatch) -> None:
    rate = 48_000
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(rate * 3) * 0.1).astype(np.float32)
    x[rate : rate + rate // 2] = 0.0
    with_module = loudness.integrated_loudness(x, rate)
    monkeypatch.setattr(dsp, "kernels", None)
    assert loudness.integrated_loudness(x, rate) == pytest.approx(with_module, abs=1e-9)
