"""The renderer's numerical kernels in plain numpy, so that a build never imports scipy (about a second
of start-up, for four functions): a biquad cascade, a sliding maximum, a running mean, a root finder.

The biquad cascade runs a block of samples at a time, where scipy.signal's ``sosfilt`` walks the
signal one sample at a time. The whole cascade is one linear state-space system, and a block of
``L`` samples is two small matrix products:

    y_k = H x_k + G s_k                     (H: the impulse response as an L x L Toeplitz matrix,
    s_(k+1) = M s_k + F x_k                  G: the response to the state; M = A^L; F: input to state)

The block start states s_k of a whole call come from that recurrence in log2(blocks) vectorised
steps (a Hillis-Steele scan), so no Python loop runs per sample or per block. The state vector is
sosfilt's ``zi`` (two values per section, transposed direct form II), so the two agree to rounding.

Silence costs no more than sound: digital silence gives exact zeros in ``H x`` and ``F x``, and state
components under ``STATE_FLUSH`` are set to zero at block boundaries. A recursive filter left to
decay on its own reaches subnormal floats, which are ~13x slower on x86, and can sit there in a
rounding limit cycle indefinitely; here the state cannot. The flush changes no measurable output:
G's entries are under 4, so a flushed component moved an output by less than 4e-200, whose square
(1.6e-399) is below the smallest float64 and so adds exactly nothing to an energy.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

try:
    from audioguide.render import _kernels as kernels
except ImportError:  # not compiled here (no C compiler at install): the numpy code gives the same values
    kernels = None  # type: ignore[assignment]
"""The optional C module (render/_kernels.c), or None: every function that uses it has a numpy twin."""

Array = np.ndarray

BLOCK = 16
"""Samples per block: the matrix products cost O(L) per sample and the scan O(log(n / L)) per block."""
BLAS_THREADED_MNK = 262_144
"""numpy's OpenBLAS runs a product on several threads once m*n*k reaches this (65536 times its
GEMM_MULTITHREAD_THRESHOLD of 4), and on products this small those threads cost far more CPU than they
save: measured on 2 cores, (1024 x 16) @ (16 x 16) took 20x the CPU seconds of the same work in batches
under it. So the blocks go through in batches small enough to stay single-threaded."""
STATE_FLUSH = 1e-200
"""State components smaller than this are zeroed between blocks (see the module docstring)."""


def _run_reference(sos: Array, x: Array, state: Array) -> tuple[Array, Array]:
    """The cascade sample by sample in pure Python (transposed direct form II, as sosfilt computes it):
    used only to derive the block matrices, on a few hundred samples."""
    z = [[float(state[2 * s]), float(state[2 * s + 1])] for s in range(sos.shape[0])]
    out = np.empty(len(x))
    states = np.empty((len(x), 2 * sos.shape[0]))
    for n, value in enumerate(x):
        v = float(value)
        for s, (b0, b1, b2, _a0, a1, a2) in enumerate(sos.tolist()):
            y = b0 * v + z[s][0]
            z[s][0] = b1 * v - a1 * y + z[s][1]
            z[s][1] = b2 * v - a2 * y
            v = y
        out[n] = v
        states[n] = [c for pair in z for c in pair]
    return out, states


class BiquadCascade:
    """A fixed cascade of second-order sections (scipy ``sos`` layout, a0 = 1) with its state, applied
    to consecutive blocks of one channel; ``process`` may be called with any lengths."""

    def __init__(self, sos: Array, block: int = BLOCK, flush: float = STATE_FLUSH) -> None:
        sos = np.asarray(sos, dtype=np.float64)
        if sos.ndim != 2 or sos.shape[1] != 6 or not np.all(sos[:, 3] == 1.0):
            raise ValueError("expected second-order sections of shape (n, 6) with a0 = 1")
        order = 2 * sos.shape[0]
        self._sos = np.ascontiguousarray(sos)
        self.block = block
        self.flush = flush
        """State components under this are zeroed between blocks (STATE_FLUSH unless the caller
        shows that a larger value changes nothing it reads)."""
        self.state = np.zeros(order)
        zero = np.zeros(order)
        impulse = np.zeros(block + 1)
        impulse[0] = 1.0
        h, after = _run_reference(sos, impulse, zero)  # after[m - 1]: the state m samples after it
        self._h = h
        # R[m]: the state m samples after a unit impulse (R[0] = 0: nothing has arrived yet).
        self._r = np.vstack([np.zeros(order), after])
        # Apow[m] = A^m, and G rows: the output at n from each unit state, no input.
        quiet = np.zeros(block)
        self._apow = np.empty((block + 1, order, order))
        self._apow[0] = np.eye(order)
        g = np.empty((block, order))
        for i in range(order):
            unit = np.zeros(order)
            unit[i] = 1.0
            y, states = _run_reference(sos, quiet, unit)
            g[:, i] = y
            self._apow[1:, :, i] = states
        self._g = g
        self._full = self._matrices(block)
        self.span = max(1, (BLAS_THREADED_MNK - 1) // (block * block)) * block
        """Samples per batch: a call's result depends only on its length and the carried state, so a
        caller that needs results independent of how a stream was cut feeds whole spans."""

    def _matrices(self, n: int) -> tuple[Array, Array, Array, Array]:
        """(H^T, G^T, F^T, M) for a block of n <= L samples, laid out for row-vector products."""
        idx = np.arange(n)
        toeplitz = np.where(idx[:, None] >= idx[None, :], self._h[np.abs(idx[:, None] - idx[None, :])], 0.0)
        f = self._r[n - idx]  # (n, order): the end state from a unit input at each position
        return toeplitz.T.copy(), self._g[:n].T.copy(), f, self._apow[n]

    def process(self, x: Array) -> Array:
        """Filter ``x`` (1-D) continuing from the carried state; float64 out, same length."""
        x = np.asarray(x, dtype=np.float64)
        n = x.size
        whole = n // self.block * self.block
        out = np.empty(n)
        span = self.span
        for start in range(0, whole, span):
            stop = min(start + span, whole)
            if self._silent(x[start:stop], out[start:stop]):
                continue
            out[start:stop] = self._blocks(x[start:stop].reshape(-1, self.block), self._full).ravel()
        if whole < n and not self._silent(x[whole:], out[whole:]):
            out[whole:] = self._blocks(x[whole:].reshape(1, -1), self._matrices(n - whole)).ravel()
        return out

    def add_squares(self, x: Array, out: Array) -> None:
        """``out += process(x) ** 2``, carrying the state on: what a loudness meter needs.

        With the C module the cascade runs one sample at a time (kernels.biquad_squares_into), 1.45x
        as fast here, and gives scipy.signal.sosfilt's values to the bit (tests/test_kernels.py). The
        block products of ``process`` round differently: the two agree to ~1e-10 of the signal (a held
        input, the worst case found), not to the bit, which a loudness reading does not notice.
        Where the last bit is the product (the phase rotator's samples), use ``process``."""
        x = np.asarray(x, dtype=np.float64)
        if self.state.any() or x.any():
            if kernels is None:
                weighted = self.process(x)
                out += weighted * weighted
            else:
                kernels.biquad_squares_into(np.ascontiguousarray(x), self._sos, self.state, self.flush, out)

    def _silent(self, x: Array, out: Array) -> bool:
        """Digital silence into a filter at rest: the output is zeros and the state stays at rest, exactly
        what the matrix products give (every term is a zero), without them. A session's long holds are
        mostly this once the state has flushed (about two seconds after the last sound)."""
        if self.state.any() or x.any():
            return False
        out[:] = 0.0
        return True

    def _blocks(self, xs: Array, matrices: tuple[Array, Array, Array, Array]) -> Array:
        h_t, g_t, f, m = matrices
        # P[k] = M P[k-1] + E[k-1], P[0] = the carried state: each block's start state, by a scan that
        # doubles its reach each step (P[k] += M^d P[k-d]).
        scan = np.empty((xs.shape[0] + 1, self.state.size))
        scan[0] = self.state
        scan[1:] = xs @ f
        power, reach = m.T, 1
        while reach < scan.shape[0]:
            scan[reach:] = scan[reach:] + scan[:-reach] @ power
            power = power @ power
            reach *= 2
        scan[np.abs(scan) < self.flush] = 0.0
        self.state = scan[-1].copy()
        return xs @ h_t + scan[:-1] @ g_t


def sliding_max(x: Array, width: int) -> Array:
    """The maximum of every run of ``width`` consecutive values (length ``len(x) - width + 1``).

    By doubling: after step k each value is the maximum of the 2**k values from it, and the last
    step overlaps two such runs to cover exactly ``width`` (the sparse-table query). That is about
    log2(width) whole-array passes, fast for the limiter's short windows and the mastering replay's
    three-chunk ones alike, where per-group running maxima spend their time in loop overhead. Exact:
    maxima do not round."""
    x = np.asarray(x)
    count = x.size - width + 1
    if width < 1 or count < 1:
        raise ValueError(f"need at least {width} values for a window of {width}, got {x.size}")
    runs, reach = x, 1  # runs[i] = max(x[i : i + reach])
    while reach * 2 <= width:
        runs = np.maximum(runs[:-reach], runs[reach:])
        reach *= 2
    if reach == width:
        return runs.copy() if runs is x else runs
    return np.maximum(runs[:count], runs[width - reach : width - reach + count])


def running_mean(x: Array, width: int) -> Array:
    """The mean of every run of ``width`` consecutive values (length ``len(x) - width + 1``), float64.

    Computed as one running sum (add the value entering the window, subtract the one leaving, divide
    on output) that starts ``width // 2`` values before ``x`` on its mirror image (d c b a | a b c d):
    the same additions in the same order as scipy.ndimage.uniform_filter1d in its default "reflect"
    mode, so the limiter's gain curve is bit-identical to the one it computed with scipy (tests compare
    the two)."""
    x = np.asarray(x, dtype=np.float64)
    count = x.size - width + 1
    if width < 1 or count < 1:
        raise ValueError(f"need at least {width} values for a window of {width}, got {x.size}")
    left = width // 2
    if left > x.size:
        raise ValueError(f"a window of {width} needs at least {left} values to mirror, got {x.size}")
    if kernels is not None and x.ndim == 1:
        out = np.empty(count)
        kernels.running_mean(np.ascontiguousarray(x), width, out)  # the same sum, one pass in C
        return out
    return _running_mean_numpy(x, width)


def _running_mean_numpy(x: Array, width: int) -> Array:
    """``running_mean`` in numpy (also the reference the C module is tested against)."""
    count = x.size - width + 1
    left = width // 2
    # The line summed is the mirrored start and then x (x[left-1] .. x[0], x[0] .. x[-1]); no value
    # past the end is needed. Its steps are written straight from x (no copy of the line), and the
    # running sum and the division work in place: the same operations, two fewer arrays.
    steps = np.empty(left + count)
    first = np.concatenate([x[:left][::-1], x[: width - left]])
    steps[0] = np.add.accumulate(first)[-1]  # the first window, summed left to right
    np.subtract(x[width - left : width], x[:left][::-1], out=steps[1 : left + 1])  # leaving the mirror
    np.subtract(x[width:], x[: count - 1], out=steps[left + 1 :])
    np.cumsum(steps, out=steps)
    out = steps[left:]
    out /= width
    return out


def find_root(f: Callable[[float], float], low: float, high: float, xtol: float) -> float:
    """A root of the increasing or decreasing ``f`` between ``low`` and ``high`` (where it changes sign),
    to within ``xtol``: Brent's method (R. P. Brent, Algorithms for Minimization without Derivatives,
    1973, ch. 4): inverse quadratic or secant steps where they stay inside the bracket and shrink it
    fast enough, bisection where they do not."""
    a, b = low, high
    fa, fb = f(a), f(b)
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    if (fa > 0) == (fb > 0):
        raise ValueError(f"f does not change sign between {low} and {high}")
    c, fc = a, fa
    d = e = b - a
    while True:
        if (fb > 0) == (fc > 0):  # keep the root between b and c
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):  # b is the best estimate so far
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = xtol / 2
        half = (c - b) / 2
        if abs(half) <= tol or fb == 0.0:
            return b
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:  # secant
                p, q = 2 * half * s, 1 - s
            else:  # inverse quadratic interpolation through a, b, c
                r, t = fa / fc, fb / fc
                p = s * (2 * half * r * (r - t) - (b - a) * (t - 1))
                q = (r - 1) * (t - 1) * (s - 1)
            if p > 0:
                q = -q
            p = abs(p)
            if 2 * p < min(3 * half * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q  # accept the interpolation
            else:
                d = e = half  # bisect
        else:
            d = e = half
        a, fa = b, fb
        b += d if abs(d) > tol else (tol if half > 0 else -tol)
        fb = f(b)
