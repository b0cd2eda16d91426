"""Sample-rate conversion to 44.1 kHz: a fast numpy path for 22.05 kHz speech, scipy for the rest."""

from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np

from audioguide.units import SAMPLE_RATE

HALFBAND_TAPS = 96  # per phase; stop-band better than -80 dB with this Kaiser window
KAISER_BETA = 8.6


@lru_cache(maxsize=4)
def _doubling_phases() -> tuple[np.ndarray, np.ndarray]:
    """The two polyphase branches of a 2x interpolating low-pass (cut-off at the old Nyquist)."""
    n = 2 * HALFBAND_TAPS + 1  # odd: the centre tap falls on an input sample, so no half-sample shift
    t = np.arange(n) - HALFBAND_TAPS
    h = np.sinc(t / 2) * np.kaiser(n, KAISER_BETA)
    h *= 2 / h.sum()
    return h[0::2].copy(), h[1::2].copy()


def to_44k1(x: np.ndarray, rate: int) -> np.ndarray:
    """Resample a mono float signal from ``rate`` to 44.1 kHz (float64 out, same time span)."""
    if rate == SAMPLE_RATE:
        return x.astype(np.float64, copy=False)
    if rate * 2 == SAMPLE_RATE:
        even, odd = _doubling_phases()
        delay = HALFBAND_TAPS // 2  # each branch's delay, in input samples
        y = np.empty(2 * len(x))
        y[0::2] = np.convolve(x, even)[delay : delay + len(x)]
        y[1::2] = np.convolve(x, odd)[delay : delay + len(x)]
        return y
    from scipy.signal import resample_poly  # a slow import, only for uncommon rates

    g = gcd(rate, SAMPLE_RATE)
    return np.asarray(resample_poly(x, SAMPLE_RATE // g, rate // g), dtype=np.float64)
