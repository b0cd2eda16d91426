"""Sample-rate conversion to 44.1 kHz in numpy: a half-band doubler for 22.05 kHz speech, and scipy's
``resample_poly`` reproduced bit for bit for the other rates below 44.1 kHz (hibari's 24 kHz).

Importing scipy.signal costs about 1.3 CPU seconds, paid by every speech worker of a cold build; the
polyphase path here computes the same samples with the same arithmetic, so the speech cache (whose
clips were made with scipy) stays valid. Rates above 44.1 kHz are rare (recordings at 48 kHz) and
still go to scipy."""

from __future__ import annotations

import math
from functools import lru_cache
from math import gcd

import numpy as np

from audioguide.units import SAMPLE_RATE

HALFBAND_TAPS = 96  # per phase; stop-band better than -80 dB with this Kaiser window
KAISER_BETA = 8.6

POLY_KAISER_BETA = 5.0
"""scipy.signal.resample_poly's default window, ('kaiser', 5.0)."""
POLY_HALF_LENGTH_PER_RATE = 10
"""resample_poly's filter reaches 10 * max(up, down) taps either side of its centre."""
_CEPHES_I0_A = (
    -4.4153416464793395e-18, 3.3307945188222384e-17, -2.431279846547955e-16, 1.715391285555133e-15,
    -1.1685332877993451e-14, 7.676185498604936e-14, -4.856446783111929e-13, 2.95505266312964e-12,
    -1.726826291441556e-11, 9.675809035373237e-11, -5.189795601635263e-10, 2.6598237246823866e-09,
    -1.300025009986248e-08, 6.046995022541919e-08, -2.670793853940612e-07, 1.1173875391201037e-06,
    -4.4167383584587505e-06, 1.6448448070728896e-05, -5.754195010082104e-05, 0.00018850288509584165,
    -0.0005763755745385824, 0.0016394756169413357, -0.004324309995050576, 0.010546460394594998,
    -0.02373741480589947, 0.04930528423967071, -0.09490109704804764, 0.17162090152220877,
    -0.3046826723431984, 0.6767952744094761,
)  # fmt: skip
"""Chebyshev coefficients of exp(-x) I0(x) on [0, 8] from Cephes' i0.c (S. L. Moshier), the table that
scipy.special.i0 and numpy.i0 both evaluate."""


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
    g = gcd(rate, SAMPLE_RATE)
    up, down = SAMPLE_RATE // g, rate // g
    if up > down:
        return upsample_poly(np.asarray(x, dtype=np.float64), up, down)
    from scipy.signal import resample_poly  # a slow import, only for rates above 44.1 kHz

    return np.asarray(resample_poly(x, up, down), dtype=np.float64)


def _i0(x: float) -> float:
    """The modified Bessel function I0 for 0 <= x <= 8, as Cephes computes it (its Chebyshev series,
    evaluated by Clenshaw's recurrence in the same order, times the C library's exp), so that the
    window below equals scipy's to the bit; numpy.i0 uses numpy's own exp, which differs in the last
    place for about one argument in twenty-five."""
    if not 0.0 <= x <= 8.0:
        raise ValueError(f"I0 is implemented on [0, 8] only, not at {x}")
    y = x / 2.0 - 2.0
    b0, b1, b2 = _CEPHES_I0_A[0], 0.0, 0.0
    for coefficient in _CEPHES_I0_A[1:]:
        b2, b1 = b1, b0
        b0 = y * b1 - b2 + coefficient
    return math.exp(x) * (0.5 * (b0 - b2))


def _kaiser_lowpass(numtaps: int, cutoff: float, beta: float) -> np.ndarray:
    """``scipy.signal.firwin(numtaps, cutoff, window=('kaiser', beta))``, operation for operation."""
    alpha = 0.5 * (numtaps - 1)
    m = np.arange(0, numtaps, dtype=np.float64) - alpha
    h = cutoff * np.sinc(cutoff * m)
    n = np.arange(0, numtaps, dtype=np.float64)
    arg = beta * np.sqrt(1 - ((n - alpha) / alpha) ** 2.0)
    window = np.array([_i0(float(v)) for v in arg]) / _i0(beta)
    h *= window
    h /= np.sum(h * np.cos(np.pi * m * 0.0))  # firwin scales the pass band's gain at 0 Hz to one
    return h


@lru_cache(maxsize=4)
def _polyphase(up: int, down: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """resample_poly's filter for ``up``/``down`` laid out for ``upsample_poly``: coefficients
    (taps, outputs per input position, down), which of those outputs exist (down, outputs per input
    position), the leading outputs to drop, and the taps per phase.

    Output y of scipy's upfirdn sums, over j = 0 .. taps-1 in that order, input sample
    floor(y * down / up) - taps + 1 + j times coefficient j of phase (y * down) mod up."""
    half_len = POLY_HALF_LENGTH_PER_RATE * max(up, down)
    h = _kaiser_lowpass(2 * half_len + 1, 1.0 / max(up, down), POLY_KAISER_BETA) * up
    pre_pad = down - half_len % down  # resample_poly centres the output samples with these zeros
    drop = (half_len + pre_pad) // down
    full = np.concatenate([np.zeros(pre_pad), h])
    full = np.concatenate([full, np.zeros(-full.size % up)])
    taps = full.size // up
    phases = full.reshape(taps, up).T[:, ::-1]  # [phase, j]: upfirdn's transposed, flipped layout
    # Input position c of every block of `down` feeds outputs ceil(c * up / down) + r (r < per_input),
    # phases (that output * down) mod up; a phase of up or more is an output that does not exist.
    per_input = -(-up // down)
    c = np.arange(down)
    phase = (-(-c * up // down) * down - c * up)[None, :] + down * np.arange(per_input)[:, None]
    exists = phase < up
    coef = np.where(exists[:, :, None], phases[np.minimum(phase, up - 1)], 0.0)
    return np.ascontiguousarray(coef.transpose(2, 0, 1)), exists.T.copy(), drop, taps


CHUNK_BLOCKS = 256
"""Blocks of ``down`` input positions worked on at a time: the running sums and products then stay in
the processor's cache (two arrays of 2 x 256 x 80 doubles for 24 kHz) rather than going through
memory once per tap; 0.65 -> 0.52 CPU s for the flagship's 102 neural phrases."""


def upsample_poly(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """``scipy.signal.resample_poly(x, up, down)`` for 1-D float64 ``x`` and ``up > down``, coprime:
    the same samples to the bit (tests compare the two).

    scipy's C loop sums each output's products one after another; here the same products are added
    in the same order, for a chunk of outputs at once, one tap at a time. Grouping the outputs by the
    input position they start from makes every tap's inputs a plain slice of the signal (no gather)."""
    if x.size == 0:
        return np.zeros(0)
    plan = _Upsampling(x, up, down)
    return plan.outputs(0, plan.n_out)


class _Upsampling:
    """``upsample_poly`` of one signal, computed for any stretch of its outputs on request."""

    def __init__(self, x: np.ndarray, up: int, down: int) -> None:
        self.coef, self.exists, self.drop, self.taps = _polyphase(up, down)
        self.up, self.down = up, down
        self.n_out = -(-x.size * up // down)
        self.blocks = ((self.drop + self.n_out - 1) * down // up) // down + 1  # of `down` input positions
        # Position k + j reads input k - taps + 1 + j; zeros outside (and one spare block, for reach()).
        self.padded = np.zeros((self.blocks + 1) * down + self.taps)
        self.padded[self.taps - 1 : self.taps - 1 + x.size] = x

    def outputs(self, start: int, stop: int) -> np.ndarray:
        """Outputs ``start`` to ``stop`` (0 <= start < stop <= n_out), the same bits as the whole."""
        up, down, taps, coef = self.up, self.down, self.taps, self.coef
        first_block, stop_block = (start + self.drop) // up, (stop + self.drop - 1) // up + 1
        chunk = min(stop_block - first_block, CHUNK_BLOCKS)
        acc = np.empty((coef.shape[1], chunk, down))
        product = np.empty_like(acc)
        y = np.empty((stop_block - first_block, up))  # outputs in order: by input position, then within it
        for first in range(first_block, stop_block, chunk):
            count = min(chunk, stop_block - first)
            total, part = acc[:, :count], product[:, :count]
            total.fill(0.0)
            at = first * down
            for j in range(taps):
                window = self.padded[at + j : at + j + count * down].reshape(1, count, down)
                np.multiply(window, coef[j][:, None, :], out=part)
                np.add(total, part, out=total)
            y[first - first_block : first - first_block + count] = total.transpose(1, 2, 0)[:, self.exists]
        skip = start + self.drop - first_block * up
        return y.reshape(-1)[skip : skip + stop - start]

    def reach(self) -> np.ndarray:
        """Per output block (``up`` outputs), an upper bound on the magnitude of its outputs as
        computed: the largest sum of absolute coefficients of a phase, times the largest input the
        block reads, with room for the rounding of the sums."""
        down = self.down
        block_max = np.abs(self.padded[: (self.blocks + 1) * down]).reshape(-1, down).max(axis=1)
        span = -(-(down + self.taps - 1) // down)  # blocks of input that one block of outputs reads
        largest = block_max[: self.blocks].copy()
        for k in range(1, span):
            np.maximum(largest, block_max[k : k + self.blocks], out=largest)
        return largest * (_gain_bound(self.up, self.down) * (1 + 1e-9))


@lru_cache(maxsize=4)
def _gain_bound(up: int, down: int) -> float:
    """The largest sum of absolute coefficients over the phases of the ``up``/``down`` filter."""
    return float(np.abs(_polyphase(up, down)[0]).sum(axis=0).max())


def loud_part_to_44k1(
    x: np.ndarray, rate: int, floor: float, before: int, after: int
) -> tuple[np.ndarray, int, int]:
    """``(y, offset, total)``: outputs ``offset`` to ``offset + len(y)`` of ``to_44k1(x, rate)``, which
    has ``total`` outputs; the same samples as there. The stretch holds the loudest output, every
    output louder than ``floor`` times it, and ``before``/``after`` outputs either side of those.

    For polyphase rates (24 kHz speech) the quiet lead-in and tail, about a fifth of a neural phrase,
    are left out where a bound on each output block (``_Upsampling.reach``) proves them quieter than
    ``floor`` times an output already computed; other rates give the whole signal."""
    g = gcd(rate, SAMPLE_RATE)
    up, down = SAMPLE_RATE // g, rate // g
    if x.size == 0 or rate == SAMPLE_RATE or rate * 2 == SAMPLE_RATE or up <= down:
        y = to_44k1(x, rate)
        return y, 0, y.size
    plan = _Upsampling(np.asarray(x, dtype=np.float64), up, down)
    reach = plan.reach()
    # A lower bound on the loudest output: the loudest of the block that can reach highest.
    block = int(np.argmax(reach))
    start = max(0, block * up - plan.drop)
    stop = min(plan.n_out, (block + 1) * up - plan.drop)
    known = float(np.max(np.abs(plan.outputs(start, stop)))) if start < stop else 0.0
    loud = np.flatnonzero(reach >= floor * known * (1 - 1e-9))  # the others are provably quieter
    if known == 0.0 or loud.size == 0:
        return plan.outputs(0, plan.n_out), 0, plan.n_out
    start = max(0, int(loud[0]) * up - plan.drop - before)
    stop = min(plan.n_out, (int(loud[-1]) + 1) * up - plan.drop + after)
    return plan.outputs(start, stop), start, plan.n_out
