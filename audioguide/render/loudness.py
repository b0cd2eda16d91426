"""Loudness and true-peak measurement per ITU-R BS.1770-4, and a look-ahead true-peak limiter."""

from __future__ import annotations

import math
import os
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from audioguide.render import dsp
from audioguide.render.dsp import BiquadCascade, find_root, running_mean, sliding_max

Array = np.ndarray

# --- K-weighting (BS.1770-4 Annex 1) -----------------------------------------------------------------
# The standard publishes both stages only as 48 kHz biquads (Tables 1 and 2). These are the analog
# prototype parameters that, through the bilinear transform below, reproduce those coefficients to
# ~1e-9 at 48 kHz (the well-known derivation used by libebur128), so every other rate is exact too.
_SHELF_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_BAND_EXPONENT = 0.4996667741545416  # Vb = Vh ** this: the shelf's mid-band gain
_HIGHPASS_HZ = 38.13547087602444
_HIGHPASS_Q = 0.5003270373238773

_LUFS_OFFSET = -0.691  # BS.1770-4 eq. (2): L = -0.691 + 10 log10(sum of weighted mean squares)
_ABSOLUTE_GATE_LUFS = -70.0  # BS.1770-4 §2.5: absolute gate
_RELATIVE_GATE_LU = -10.0  # BS.1770-4 §2.6: relative gate below the absolutely gated loudness
_SEGMENTS_PER_SECOND = 10  # 100 ms segments; a gating block is 4 of them (400 ms, 75 % overlap)
_SEGMENTS_PER_BLOCK = 4


def k_weighting_sos(rate: int) -> Array:
    """The two K-weighting biquads (pre-filter shelf, RLB high-pass) for ``rate`` as second-order
    sections (b0, b1, b2, 1, a1, a2)."""
    k = math.tan(math.pi * _SHELF_HZ / rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_BAND_EXPONENT
    a0 = 1.0 + k / _SHELF_Q + k * k
    shelf = [
        (vh + vb * k / _SHELF_Q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / _SHELF_Q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / _SHELF_Q + k * k) / a0,
    ]
    k = math.tan(math.pi * _HIGHPASS_HZ / rate)
    a0 = 1.0 + k / _HIGHPASS_Q + k * k
    # The standard normalises the high-pass numerator to (1, -2, 1); its gain error (~0.0035 dB) is
    # part of the definition, and the -0.691 offset compensates the total at 997 Hz.
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / _HIGHPASS_Q + k * k) / a0]
    return np.array([shelf, highpass], dtype=np.float64)


K_WEIGHTING_FLUSH = 1e-30
"""The K-weighting filters' state is zeroed below this (dsp.BiquadCascade), so that the filter comes to
rest 0.3 s after a sound instead of 2 s, and the silence that follows is skipped. A flushed component
moved an output by under 4e-30 (the filters' state-to-output gains are under 4): next to any sample of
sound that is far below the rounding of the float it changes, and a 400 ms block that can pass the
-70 LUFS absolute gate holds at least 2e-3 of energy, while the whole tail's share is under 1e-55. A
reading could differ only where a sum lands within ~1e-30 of a rounding boundary; the flagship's
mastering gain and output are the same to the bit (checked with np.array_equal)."""


def _as_frames(block: Array, channels: int) -> Array:
    """View ``block`` as (n, channels); mono (n,) becomes (n, 1)."""
    arr = np.asarray(block)
    if arr.ndim == 1:
        arr = arr[:, np.newaxis]
    if arr.ndim != 2 or arr.shape[1] != channels:
        raise ValueError(f"expected a block of shape (n,) or (n, {channels}), got {np.shape(block)}")
    return arr


def _check_layout(rate: int, channels: int) -> None:
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if channels not in (1, 2):
        raise ValueError(f"only mono and stereo are supported, got {channels} channels")


_KERNEL_SPAN = 1 << 16
"""Samples per K-weighting span when the C module filters (see _KWeightedPower): the mixer's block, so
that each block the mixer yields is one span, filtered where it lies, without being joined to another."""


class _KWeightedPower:
    """K-weighting filter state carried across blocks; turns frames into per-sample weighted power.

    The filter runs on spans of ``span`` frames at fixed stream positions, whatever blocks the caller
    adds, so every reading is the same to the last bit however the stream was cut; ``push`` returns the
    frames it has filtered so far, and ``tail`` filters the unfinished span without committing it."""

    def __init__(self, rate: int, channels: int) -> None:
        sos = k_weighting_sos(rate)
        # One filter per channel; silence costs no more than sound (no subnormal states: see dsp.py),
        # and once a sound has died away by K_WEIGHTING_FLUSH the silence after it costs nothing.
        self._filters = [BiquadCascade(sos, flush=K_WEIGHTING_FLUSH) for _ in range(channels)]
        # With the C module the filter runs sample by sample and flushes its state every 16 samples
        # from a call's start, so any span that is a multiple of 16 gives the same readings.
        self.span = _KERNEL_SPAN if dsp.kernels is not None else self._filters[0].span
        self._pending: list[Array] = []
        self._pending_rows = 0

    def push(self, frames: Array) -> Iterator[tuple[Array, Array]]:
        """Add (n, channels) frames; yield (frames, squares) for every span now complete."""
        if frames.shape[0] == 0:
            return
        self._pending.append(frames)
        self._pending_rows += frames.shape[0]
        if self._pending_rows < self.span:
            return
        buf = np.concatenate(self._pending) if len(self._pending) > 1 else self._pending[0]
        whole = buf.shape[0] // self.span * self.span
        for start in range(0, whole, self.span):
            part = buf[start : start + self.span]
            yield part, self._squares(part)
        rest = buf[whole:]
        self._pending = [rest.copy()] if rest.shape[0] else []
        self._pending_rows = rest.shape[0]

    def tail(self) -> tuple[Array, Array] | None:
        """(frames, squares) of the unfinished span, filtered on a copy of the state; None if empty."""
        if not self._pending_rows:
            return None
        part = np.concatenate(self._pending)
        saved = [f.state.copy() for f in self._filters]
        squares = self._squares(part)
        for f, state in zip(self._filters, saved, strict=True):
            f.state = state
        return part, squares

    def _squares(self, part: Array) -> Array:
        """Sum over channels of the K-weighted squares of ``part`` (n, channels)."""
        total = np.zeros(part.shape[0])
        # Channel weights are 1.0 for L, R and mono (BS.1770-4 Table 3), so the sum is unweighted.
        for channel, k_filter in zip(part.T, self._filters, strict=True):
            k_filter.add_squares(channel, total)
        return total


class LoudnessMeter:
    """Streaming integrated loudness (LUFS); keeps one number per 100 ms, whatever the duration."""

    def __init__(self, rate: int, channels: int) -> None:
        _check_layout(rate, channels)
        self.rate = rate
        self.channels = channels
        self._power = _KWeightedPower(rate, channels)
        self._pending = np.zeros(0)  # weighted squares of the unfinished 100 ms segment
        self._energies: list[float] = []  # sum of weighted squares of each finished segment
        self._samples = 0

    def _segment_end(self, index: int) -> int:
        # Segment k spans [k*rate//10, (k+1)*rate//10): exact 100 ms at 44.1/48 kHz, no drift elsewhere.
        return (index + 1) * self.rate // _SEGMENTS_PER_SECOND

    def add(self, block: Array) -> None:
        """Measure the next ``block`` (any length); filter state carries over to the next call."""
        for _, squares in self._power.push(_as_frames(block, self.channels)):
            self._take(squares)

    def _take(self, squares: Array) -> None:
        buf = np.concatenate([self._pending, squares])
        seg_start = self._samples - self._pending.size
        self._samples += squares.size
        pos = 0
        end = self._segment_end(len(self._energies))
        while end <= self._samples:
            stop = end - seg_start
            self._energies.append(float(np.sum(buf[pos:stop])))
            pos = stop
            end = self._segment_end(len(self._energies))
        self._pending = buf[pos:].copy()

    def integrated(self) -> float:
        """Gated integrated loudness in LUFS of everything added so far; ``-inf`` for silence."""
        energies = self._energies
        tail = self._power.tail()
        if tail is not None:  # the unfinished span counts too, without being committed
            saved = self._pending, list(self._energies), self._samples
            self._take(tail[1])
            energies = self._energies
            self._pending, self._energies, self._samples = saved
        return _gated_loudness(np.asarray(energies), self.rate)


def _gated_loudness(energies: Array, rate: int) -> float:
    """Integrated loudness (BS.1770-4 §2.5-2.6) from the K-weighted energy of consecutive 100 ms segments."""
    if energies.size < _SEGMENTS_PER_BLOCK:
        return -math.inf
    bounds = np.arange(energies.size + 1) * rate // _SEGMENTS_PER_SECOND
    lengths = np.diff(bounds).astype(np.float64)
    block_energy = sliding_window_view(energies, _SEGMENTS_PER_BLOCK).sum(axis=1)
    block_length = sliding_window_view(lengths, _SEGMENTS_PER_BLOCK).sum(axis=1)
    power = block_energy / block_length  # mean square of each 400 ms gating block
    gated = power[power > _lufs_to_power(_ABSOLUTE_GATE_LUFS)]
    if gated.size == 0:
        return -math.inf
    relative = float(np.mean(gated)) * 10.0 ** (_RELATIVE_GATE_LU / 10.0)
    return _power_to_lufs(float(np.mean(gated[gated > relative])))


def _lufs_to_power(lufs: float) -> float:
    return 10.0 ** ((lufs - _LUFS_OFFSET) / 10.0)


def _power_to_lufs(power: float) -> float:
    return _LUFS_OFFSET + 10.0 * math.log10(power) if power > 0 else -math.inf


# --- True peak (BS.1770-4 Annex 2) ---------------------------------------------------------------------
# Annex 2 measures true peak by 4x oversampling with a polyphase FIR interpolator (48 taps, 12 per
# phase). Ours has the same structure, 24 taps per phase from a Kaiser-windowed sinc: it reads a
# full-scale sine within 0.15 dB up to 19 kHz at 44.1 kHz (the standard's filter is looser near Nyquist).
_OVERSAMPLE = 4
_TAPS_PER_PHASE = 24
_HALF = _TAPS_PER_PHASE // 2  # input samples needed on each side of an output sample
_KAISER_BETA = 6.0
_FRAME = 16_384  # fixed frames at absolute positions make results independent of the caller's blocks


def _interpolator_phases() -> Array:
    """A (2*_HALF + 1, 3) matrix: column k-1 interpolates the point k/4 of a sample after the centre."""
    span = _OVERSAMPLE * _TAPS_PER_PHASE // 2
    taps = np.arange(-span, span + 1)
    prototype = np.sinc(taps / _OVERSAMPLE) * np.kaiser(taps.size, _KAISER_BETA)
    phases = np.zeros((2 * _HALF + 1, _OVERSAMPLE - 1))
    for q in range(2 * _HALF + 1):  # q indexes x[i - _HALF + q]
        for k in range(1, _OVERSAMPLE):
            t = _OVERSAMPLE * (_HALF - q) + k
            if abs(t) <= span:
                phases[q, k - 1] = prototype[t + span]
    return phases / phases.sum(axis=0)  # unity gain at DC for every phase


_PHASES = _interpolator_phases()
_PHASE_TAPS = [np.ascontiguousarray(row[:, np.newaxis], dtype=np.float32) for row in _PHASES]
_PHASE_TAPS_C = np.ascontiguousarray(_PHASES, dtype=np.float32)  # the same taps, as dsp.kernels reads them
_PHASE_BOUND = float(np.abs(_PHASES).sum(axis=0).max())  # worst-case overshoot of any interpolated point


def _true_peak_envelope(padded: Array) -> Array:
    """Per-sample true-peak envelope of ``padded`` (n + 2*_HALF, channels): the largest magnitude among
    each sample and the three interpolated points after it, over all channels; float32, length n."""
    n = padded.shape[0] - 2 * _HALF
    envelope = np.zeros(n, dtype=np.float32)
    if dsp.kernels is not None:
        for channel in padded.T:  # the same sums, in the same order, a block of samples at a time in C
            dsp.kernels.envelope_max_into(
                np.ascontiguousarray(channel, dtype=np.float32), _PHASE_TAPS_C, envelope
            )
        return envelope
    return _true_peak_envelope_numpy(padded, envelope)


def _true_peak_envelope_numpy(padded: Array, envelope: Array) -> Array:
    """``_true_peak_envelope`` in numpy, into ``envelope`` (zeros); the C module's reference."""
    n = envelope.size
    points = np.empty((_OVERSAMPLE - 1, n), dtype=np.float32)
    term = np.empty_like(points)
    for channel in padded.T:
        # The FIR as one multiply-add per tap over the whole frame: single-threaded, fixed summation
        # order, and faster here than BLAS (float32 is ample for a peak reading).
        x = np.ascontiguousarray(channel, dtype=np.float32)
        np.multiply(_PHASE_TAPS[0], x[np.newaxis, :n], out=points)
        for q in range(1, 2 * _HALF + 1):
            np.multiply(_PHASE_TAPS[q], x[np.newaxis, q : q + n], out=term)
            points += term
        np.abs(points, out=points)
        for row in points:
            np.maximum(envelope, row, out=envelope)
        np.maximum(envelope, np.abs(x[_HALF : _HALF + n]), out=envelope)
    return envelope


_GATE = 256
"""Envelope points per decision in ``_envelope_over``: a tenth of a syllable."""
_GATE_SLACK = 1.0 + 1e-5  # float32 rounding in the FIR sum may lift a point a few ulps over its bound


def _envelope_over(padded: Array, level: float) -> Array:
    """``_true_peak_envelope(padded)`` where it may exceed ``level``, and 0 where it cannot.

    A point is interpolated from the 2*_HALF + 1 samples around it, so it is at most _PHASE_BOUND times
    their largest magnitude; runs of _GATE points whose samples all stay under ``level / _PHASE_BOUND``
    are not oversampled. The others are gathered, each run with its own 2*_HALF samples of context, into
    one array that is oversampled in one call (numpy's per-call cost is what makes short calls slow), and
    the points that would read across a join are dropped. Each point depends only on its own samples, so
    every value that can exceed ``level`` is the same to the bit; in speech at the mastered level about
    half the points are skipped."""
    n = padded.shape[0] - 2 * _HALF
    blocks = -(-n // _GATE)
    magnitude = np.zeros((blocks + 1) * _GATE, dtype=np.float32)
    np.max(np.abs(padded), axis=1, out=magnitude[: padded.shape[0]])
    block_max = magnitude.reshape(blocks + 1, _GATE).max(axis=1)
    # Block b's points read samples [b * _GATE, (b + 1) * _GATE + 2 * _HALF): within blocks b and b + 1.
    reach = np.maximum(block_max[:-1], block_max[1:])
    active = reach.astype(np.float64) * (_PHASE_BOUND * _GATE_SLACK) > level
    if active.all():
        return _true_peak_envelope(padded)
    envelope = np.zeros(n, dtype=np.float32)
    edges = np.flatnonzero(np.diff(np.concatenate([[False], active, [False]]).astype(np.int8)))
    runs = [
        (a * _GATE, min(b * _GATE, n)) for a, b in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)
    ]
    if not runs:
        return envelope
    joined = _true_peak_envelope(np.concatenate([padded[a : b + 2 * _HALF] for a, b in runs]))
    at = 0
    for a, b in runs:
        envelope[a:b] = joined[at : at + b - a]
        at += b - a + 2 * _HALF
    return envelope


class _Framer:
    """Cuts a stream into frames at fixed absolute positions, each with ``past`` samples before and
    ``future`` samples after it (zeros beyond the ends of the stream)."""

    def __init__(self, channels: int, past: int, future: int) -> None:
        self.channels = channels
        self.past = past
        self.future = future
        self._buf = np.zeros((past, channels), dtype=np.float32)
        self._chunks: list[Array] = []
        self._rows = past

    def push(self, block: Array) -> Iterator[Array]:
        """Add a block; yield every frame (with context) that is now complete."""
        frames = _as_frames(block, self.channels)
        if frames.shape[0] == 0:
            return
        self._chunks.append(frames.astype(np.float32, copy=False))
        self._rows += frames.shape[0]
        span = self.past + _FRAME + self.future
        if self._rows < span:
            return
        buf = np.concatenate([self._buf, *self._chunks])
        self._chunks = []
        pos = 0
        while pos + span <= buf.shape[0]:
            yield buf[pos : pos + span]
            pos += _FRAME
        self._buf = buf[pos:].copy()
        self._rows = self._buf.shape[0]

    def tail(self) -> Iterator[Array]:
        """The remaining frames (the last one short), padded with zeros; leaves the state unchanged."""
        buf = np.concatenate([self._buf, *self._chunks, np.zeros((self.future, self.channels), np.float32)])
        remaining = buf.shape[0] - self.past - self.future
        pos = 0
        while remaining > 0:
            size = min(_FRAME, remaining)
            yield buf[pos : pos + self.past + size + self.future]
            pos += size
            remaining -= size


class TruePeakMeter:
    """Streaming true-peak meter: 4x oversampled peak over all channels, in dBTP."""

    def __init__(self, rate: int, channels: int) -> None:
        _check_layout(rate, channels)
        self.rate = rate
        self.channels = channels
        self._framer = _Framer(channels, _HALF, _HALF)
        self._peak = 0.0

    def add(self, block: Array) -> None:
        """Measure the next ``block`` (any length); the interpolator's state carries over."""
        for padded in self._framer.push(block):
            self._peak = max(self._peak, float(_true_peak_envelope(padded).max()))

    def dbtp(self) -> float:
        """The true peak of everything added so far (the stream is taken to end here); ``-inf`` if silent."""
        peak = self._peak
        for padded in self._framer.tail():
            peak = max(peak, float(_true_peak_envelope(padded).max()))
        return 20.0 * math.log10(peak) if peak > 0 else -math.inf


def integrated_loudness(x: Array, rate: int) -> float:
    """Integrated loudness (LUFS) of a whole mono (n,) or stereo (n, 2) signal."""
    meter = LoudnessMeter(rate, 1 if np.ndim(x) == 1 else np.shape(x)[1])
    meter.add(x)
    return meter.integrated()


def true_peak_dbtp(x: Array, rate: int) -> float:
    """True peak (dBTP) of a whole mono (n,) or stereo (n, 2) signal."""
    meter = TruePeakMeter(rate, 1 if np.ndim(x) == 1 else np.shape(x)[1])
    meter.add(x)
    return meter.dbtp()


# --- Limiter ---------------------------------------------------------------------------------------------
_LIMIT_MARGIN_DB = 0.03  # aim this far under the ceiling: covers gain changes within the interpolator span
_REDUCTION_FLOOR = 1e-6  # gain reductions below this (in nepers, ~9e-6 dB) are exactly unity gain


def limit(
    blocks: Iterable[Array],
    rate: int,
    ceiling_dbtp: float = -1.0,
    lookahead_ms: float = 5.0,
    release_ms: float = 150.0,
) -> Iterator[Array]:
    """Limit a stream of float32 blocks, mono (n,) or stereo (n, 2) with linked gain, so that its true
    peak stays at or under ``ceiling_dbtp``. Output sample i is input sample i, the total length is
    unchanged (block sizes may differ), and samples whose neighbourhood needs no gain reduction pass
    through bit-identical. Gain falls over ``lookahead_ms`` before a peak and recovers exponentially
    with time constant ``release_ms``."""
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    if not math.isfinite(ceiling_dbtp):
        raise ValueError(f"ceiling must be finite, got {ceiling_dbtp}")
    if not (lookahead_ms > 0 and release_ms > 0):
        raise ValueError("lookahead_ms and release_ms must be positive")
    lookahead = max(2, round(lookahead_ms * rate / 1000.0))
    release = release_ms * rate / 1000.0
    return _limit_stream(
        iter(blocks), rate, 10.0 ** ((ceiling_dbtp - _LIMIT_MARGIN_DB) / 20.0), lookahead, release
    )


def _limit_stream(
    blocks: Iterator[Array], rate: int, target: float, lookahead: int, release: float
) -> Iterator[Array]:
    state: _LimiterState | None = None
    for block in blocks:
        arr = np.asarray(block)
        if state is None:
            state = _LimiterState(
                arr.ndim == 1, 1 if arr.ndim == 1 else arr.shape[1], target, lookahead, release
            )
            _check_layout(rate, state.framer.channels)
        for padded in state.framer.push(arr):
            yield state.process(padded)
    if state is not None:
        for padded in state.framer.tail():
            yield state.process(padded)


class _LimiterState:
    """Gain computer carried across frames: release state and the recent history of the hold curve."""

    def __init__(self, mono: bool, channels: int, target: float, lookahead: int, release: float) -> None:
        # A frame's output needs the true-peak envelope from _HALF before it (so the gain is settled
        # across the whole interpolator span around a peak) to lookahead + _HALF after it; the envelope
        # itself needs _HALF more input samples on each side.
        self.framer = _Framer(channels, 2 * _HALF, lookahead + 2 * _HALF)
        self.mono = mono
        self.target = target
        self.lookahead = lookahead
        self.decay = 1.0 / release  # nepers of log-reduction lost per sample during release
        self.history = np.zeros(lookahead)  # the released hold curve over the last `lookahead` samples
        self.started = False
        self._step_cache: Array = np.zeros(0)
        self._near = np.float32(target * (1.0 - 1e-6))  # under the target even after float32 rounding

    def process(self, padded: Array) -> Array:
        size = padded.shape[0] - self.framer.past - self.framer.future
        x = padded[self.framer.past : self.framer.past + size]
        first, self.started = not self.started, True
        if not self.history.any() and float(np.abs(padded).max()) * _PHASE_BOUND <= self.target:
            # Nothing in reach can exceed the target: skip the oversampling, pass the frame through.
            self.history[:] = 0.0
            return self._shape(x)
        envelope = _envelope_over(padded, self.target)  # covers [start - _HALF, end + lookahead + _HALF)
        if not self.history.any() and float(envelope.max()) <= self.target:
            return self._shape(x)  # no reduction needed in reach, none carried in: the same pass-through
        # The reduction each sample needs, in nepers: log(envelope / target) where that is positive. Only
        # the few points near the target are worked out (a float32 threshold just under it finds them).
        needed = np.zeros(envelope.size)
        near = np.flatnonzero(envelope > self._near)
        needed[near] = np.maximum(np.log(envelope[near].astype(np.float64) / self.target), 0.0)
        # Hold: each sample takes the largest reduction needed from _HALF before to lookahead + _HALF after.
        width = self.lookahead + 2 * _HALF + 1
        held = sliding_max(needed, width)[:size]
        if first:
            # Before the stream there is silence, so the gain may already sit at the first peak's
            # reduction at sample 0 rather than ramping in from unity too late.
            self.history[:] = held[0]
        released = self._release(held)
        smooth = self._smooth(released)
        smooth[smooth < _REDUCTION_FLOOR] = 0.0
        if not smooth.any():
            return self._shape(x)
        gain = np.exp(np.negative(smooth, out=smooth), out=smooth)
        # x * gain in float64, rounded once to float32 (numpy computes in float64 and casts on output).
        out = np.empty(x.shape, dtype=np.float32)
        np.multiply(x, gain[:, np.newaxis], out=out, casting="same_kind")
        return out[:, 0] if self.mono else out

    def _release(self, held: Array) -> Array:
        # r[i] = max(held[i], r[i-1] * e^-decay) in closed form: in the log domain it is a running
        # maximum of log(held[j]) + j*decay, shifted back by i*decay (no per-sample loop).
        steps = self._steps(held.size)
        previous = math.log(self.history[-1]) if self.history[-1] > 0 else -math.inf
        released = _running_log_max(held, steps, previous - self.decay)
        np.subtract(released, steps, out=released)
        np.exp(released, out=released)
        released[released < _REDUCTION_FLOOR] = 0.0
        return released

    def _steps(self, size: int) -> Array:
        """``arange(size) * decay``, kept for the frame size (every frame but the last has it)."""
        if self._step_cache.size != size:
            self._step_cache = np.arange(size) * self.decay
        return self._step_cache

    def _smooth(self, released: Array) -> Array:
        # Two cascaded moving averages spanning lookahead + 1 samples in all: an S-shaped attack that
        # reaches each hold value by the time its peak arrives (every averaged value is at least it).
        first = self.lookahead // 2
        second = self.lookahead - first
        curve = np.concatenate([self.history, released])
        self.history = curve[-self.lookahead :].copy()
        return running_mean(running_mean(curve, first + 1), second + 1)

    def _shape(self, x: Array) -> Array:
        out = np.ascontiguousarray(x, dtype=np.float32)
        return out[:, 0] if self.mono else out


# --- Predicting the limiter's effect on loudness ---------------------------------------------------------
# Mastering has to choose one gain before the limiter runs, yet the limiter takes loudness away where it
# reduces peaks (a voice whose peaks sit 19 dB over its loudness loses ~1 LU at -16 LUFS / -1 dBTP).
# Running the real limiter once per trial gain would cost a whole render each time, so the first pass
# keeps a summary fine enough to replay the limiter's gain computer cheaply: K-weighted energy and sample
# peak per ~1.6 ms chunk (64 per 100 ms loudness segment, about 30 MB for an hour of audio).
_CHUNKS_PER_SEGMENT = 64
_DECAY_SPAN = 1 << 16  # chunks per step of the log-domain release, to keep its sums well conditioned
_STORE_PAGE = 1 << 16  # chunks a profile keeps in memory before it moves them to its spill file


class _ChunkStore:
    """Per-chunk energy and sample peak (float32) of a stream, appended in order and read back in spans.
    Past one page they go to a temporary file, so that memory stays flat in the session's length (two
    hours are ~4.6 M chunks, 37 MB as arrays); reading a span back gives exactly the values stored."""

    def __init__(self) -> None:
        self._files: tuple[IO[bytes], IO[bytes]] | None = None
        self.spilled = 0  # chunks in the files
        self._energy: list[Array] = []
        self._peak: list[Array] = []
        self._buffered = 0
        self.peak_max = 0.0

    @property
    def size(self) -> int:
        return self.spilled + self._buffered

    def append(self, energy: Array, peak: Array) -> None:
        self._energy.append(energy.astype(np.float32, copy=False))
        self._peak.append(peak.astype(np.float32, copy=False))
        self._buffered += energy.size
        if peak.size:
            self.peak_max = max(self.peak_max, float(peak.max()))
        if self._buffered >= _STORE_PAGE:
            if self._files is None:
                # Open for the store's life (no with-block): closed by close(), or when it is collected.
                self._files = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
                weakref.finalize(self, _close_all, self._files)
            for fh, parts in zip(self._files, (self._energy, self._peak), strict=True):
                fh.seek(0, os.SEEK_END)
                for part in parts:
                    fh.write(part.astype("<f4", copy=False).tobytes())
            self.spilled += self._buffered
            self._energy, self._peak, self._buffered = [], [], 0

    def read(self, start: int, stop: int) -> tuple[Array, Array]:
        """(energy, peak) of chunks [start, stop), float32."""
        out: list[tuple[Array, Array]] = []
        if start < self.spilled and self._files is not None:
            end = min(stop, self.spilled)
            pair = []
            for fh in self._files:
                fh.seek(4 * start)
                pair.append(np.frombuffer(fh.read(4 * (end - start)), dtype="<f4").astype(np.float32))
            out.append((pair[0], pair[1]))
        if stop > self.spilled and self._buffered:
            energy, peak = np.concatenate(self._energy), np.concatenate(self._peak)
            a, b = max(start, self.spilled) - self.spilled, stop - self.spilled
            out.append((energy[a:b], peak[a:b]))
        if len(out) == 1:
            return out[0]
        empty = np.zeros(0, np.float32)
        return np.concatenate([empty, *(e for e, _ in out)]), np.concatenate([empty, *(p for _, p in out)])

    def close(self) -> None:
        """Delete the spill files; the store must not be read afterwards."""
        if self._files is not None:
            _close_all(self._files)
            self._files = None


def _close_all(files: tuple[IO[bytes], ...]) -> None:
    for fh in files:
        fh.close()


@dataclass(frozen=True)
class _Summary:
    """The profile as mastering reads it: the stored chunks, plus those of the K-weighting span not yet
    committed (``extra``), cut to whole 100 ms segments (``size``)."""

    store: _ChunkStore
    extra_energy: Array
    extra_peak: Array
    size: int
    peak_max: float

    def read(self, start: int, stop: int) -> tuple[Array, Array]:
        stop = min(stop, self.size)
        committed = self.store.size
        if stop <= committed:
            return self.store.read(start, stop)
        energy, peak = (
            self.store.read(start, committed) if start < committed else (np.zeros(0, np.float32),) * 2
        )
        a, b = max(start, committed) - committed, stop - committed
        return np.concatenate([energy, self.extra_energy[a:b]]), np.concatenate([peak, self.extra_peak[a:b]])


class LoudnessProfile:
    """Streaming pass-one summary of a mix: its integrated loudness, and the loudness it will have after
    a gain and ``limit()``, predicted (see ``limited_loudness``)."""

    def __init__(self, rate: int, channels: int) -> None:
        _check_layout(rate, channels)
        self.rate = rate
        self.channels = channels
        self._power = _KWeightedPower(rate, channels)
        # Chunk j spans [j * rate // chunk_rate, (j + 1) * rate // chunk_rate): every 100 ms segment
        # boundary (k * rate // 10) is a chunk boundary, so the segments' energies are exact sums.
        self._per_segment = max(1, min(_CHUNKS_PER_SEGMENT, rate // _SEGMENTS_PER_SECOND))
        self._chunk_rate = _SEGMENTS_PER_SECOND * self._per_segment
        self._store = _ChunkStore()
        self._extra: tuple[list[Array], list[Array]] | None = None  # where _take puts a tail's chunks
        self._pending_squares = np.zeros(0)
        self._pending_peaks = np.zeros(0, dtype=np.float32)
        self._samples = 0
        self._chunks = 0
        self._cache: _Summary | None = None

    def add(self, block: Array) -> None:
        """Summarise the next ``block`` (any length); filter state carries over to the next call."""
        for part, squares in self._power.push(_as_frames(block, self.channels)):
            self._take(squares, _peaks(part))
        self._cache = None

    def _take(self, squares: Array, peaks: Array) -> None:
        origin = self._samples  # stream position of squares[0]
        self._samples += squares.size
        # Complete chunks: the largest k with k * rate // chunk_rate <= samples.
        complete = ((self._samples + 1) * self._chunk_rate - 1) // self.rate
        if complete > self._chunks:
            bounds = np.arange(self._chunks, complete + 1, dtype=np.int64) * self.rate // self._chunk_rate
            bounds -= origin  # bounds[0] <= 0: the unfinished chunk began in an earlier call
            # The first chunk is the held samples and then the first of these, joined: a short array
            # (one chunk), not the whole span. Each chunk is summed over the same contiguous values
            # as if everything had been joined, so the sums are the same to the bit.
            first = int(bounds[1])
            bounds[0] = 0
            energy = np.add.reduceat(squares[: bounds[-1]], bounds[:-1])
            peak = np.maximum.reduceat(peaks[: bounds[-1]], bounds[:-1])
            energy[0] = np.add.reduce(np.concatenate([self._pending_squares, squares[:first]]))
            peak[0] = np.maximum.reduce(np.concatenate([self._pending_peaks, peaks[:first]]))
            energy = energy.astype(np.float32)  # float32 from the start: as converting later would
            if self._extra is None:
                self._store.append(energy, peak)
            else:
                self._extra[0].append(energy)
                self._extra[1].append(peak)
            self._chunks = complete
            self._pending_squares, self._pending_peaks = (
                squares[bounds[-1] :].copy(),
                peaks[bounds[-1] :].copy(),
            )
        else:  # still inside one chunk: keep gathering it
            self._pending_squares = np.concatenate([self._pending_squares, squares])
            self._pending_peaks = np.concatenate([self._pending_peaks, peaks])

    def close(self) -> None:
        """Release the profile's spill file (also done when it is garbage-collected)."""
        self._store.close()
        self._cache = None

    def _summary(self) -> _Summary:
        """The chunks of the complete 100 ms segments so far, the unfinished K-weighting span included."""
        if self._cache is None:
            extra: tuple[list[Array], list[Array]] = ([], [])
            tail = self._power.tail()
            if tail is not None:  # measured without committing it: a later add() carries on as before
                saved = self._pending_squares, self._pending_peaks, self._samples, self._chunks
                self._extra = extra
                try:
                    self._take(tail[1], _peaks(tail[0]))
                finally:
                    self._extra = None
                    self._pending_squares, self._pending_peaks, self._samples, self._chunks = saved
            empty = np.zeros(0, np.float32)
            energy, peak = np.concatenate([empty, *extra[0]]), np.concatenate([empty, *extra[1]])
            total = self._store.size + energy.size
            usable = total // self._per_segment * self._per_segment
            peak_max = max(self._store.peak_max, float(peak.max()) if peak.size else 0.0)
            self._cache = _Summary(self._store, energy, peak, usable, peak_max)
        return self._cache

    def integrated(self) -> float:
        """Gated integrated loudness (LUFS) of everything added so far, as LoudnessMeter reads it."""
        summary = self._summary()
        segments = np.empty(summary.size // self._per_segment)
        for start in range(0, summary.size, _DECAY_SPAN):
            energy = summary.read(start, start + _DECAY_SPAN)[0]
            rows = energy.reshape(-1, self._per_segment)
            first = start // self._per_segment
            segments[first : first + rows.shape[0]] = rows.sum(axis=1, dtype=np.float64)
        return _gated_loudness(segments, self.rate)

    def limited_loudness(
        self, gain_db: float, ceiling_dbtp: float, lookahead_ms: float = 5.0, release_ms: float = 150.0
    ) -> float:
        """The integrated loudness (LUFS) predicted for the mix after ``gain_db`` and ``limit()`` with
        these settings. It replays the limiter's gain computer (hold, release) per chunk on sample
        peaks, in spans so that memory stays small; on speech it agrees with a measurement of the real
        limiter's output to ~0.05 LU. Content with large inter-sample peaks reads a little loud."""
        summary = self._summary()
        n = summary.size
        gain = 10.0 ** (gain_db / 20.0)
        target = 10.0 ** ((ceiling_dbtp - _LIMIT_MARGIN_DB) / 20.0)
        if n == 0 or summary.peak_max * gain <= target:
            return self.integrated() + gain_db  # the limiter never acts
        chunk = self.rate / self._chunk_rate  # samples per chunk
        lookahead = max(2, round(lookahead_ms * self.rate / 1000.0))
        # The real limiter reaches a peak's full reduction from _HALF samples before it to _HALF after,
        # ramping in over the lookahead before that (counted here as half its length); then releases.
        ahead = math.ceil((lookahead / 2 + _HALF) / chunk)
        behind = math.ceil(_HALF / chunk)
        width = behind + ahead + 1
        decay = chunk * 1000.0 / (release_ms * self.rate)
        offset = math.log(gain / target)
        segments = np.empty(n // self._per_segment)
        previous = -math.inf  # the release state carried from span to span (log domain)
        for start in range(0, n, _DECAY_SPAN):
            stop = min(start + _DECAY_SPAN, n)
            lo, hi = max(0, start - behind), min(n, stop + ahead)
            energy, peak = summary.read(lo, hi)
            energy = energy[start - lo : stop - lo]
            with np.errstate(divide="ignore"):  # silent chunks: log(0) = -inf, no reduction
                needed = np.maximum(np.log(peak.astype(np.float64)) + offset, 0.0)  # nepers
            padded = np.concatenate([np.zeros(behind - (start - lo)), needed, np.zeros(ahead - (hi - stop))])
            held = sliding_max(padded, width)[: stop - start]
            reduction, previous = _decaying_max(held, decay, previous)
            out = energy * (gain * gain) * np.exp(-2.0 * reduction)
            segments[start // self._per_segment : stop // self._per_segment] = out.reshape(
                -1, self._per_segment
            ).sum(axis=1)
        return _gated_loudness(segments, self.rate)

    def gain_for(
        self, target_lufs: float, ceiling_dbtp: float, max_limiting_db: float, **limiter: float
    ) -> float | None:
        """The gain (dB) that brings the mix to ``target_lufs`` after the limiter (to ~0.01 LU of the
        prediction), or None if that would drive peaks more than ``max_limiting_db`` into the limiter."""
        measured = self.integrated()
        if not math.isfinite(measured):
            return None
        linear = target_lufs - measured  # enough when the limiter never acts

        def shortfall(gain_db: float) -> float:
            return self.limited_loudness(gain_db, ceiling_dbtp, **limiter) - target_lufs

        if shortfall(linear) >= -0.005:
            return linear
        top = linear + max_limiting_db
        if shortfall(top) < 0.0:
            return None
        return find_root(shortfall, linear, top, xtol=0.002)


def _peaks(frames: Array) -> Array:
    """Per-frame sample peak, linked across channels (the louder one), float32."""
    if frames.shape[1] == 1:  # mono: the same values without a reduction over one channel
        return np.abs(frames[:, 0]).astype(np.float32, copy=False)
    return np.abs(frames).max(axis=1).astype(np.float32)


def _decaying_max(held: Array, decay: float, previous: float = -math.inf) -> tuple[Array, float]:
    """r[i] = max(held[i], r[i-1] * e^-decay) (the limiter's release) as a running maximum in the log
    domain, in spans short enough that i * decay stays small next to the logs. ``previous`` is log r[-1]
    (-inf: none); returns r and log r[last], to carry on with the next stretch."""
    out = np.empty_like(held)
    for start in range(0, held.size, _DECAY_SPAN):
        part = held[start : start + _DECAY_SPAN]
        steps = np.arange(1, part.size + 1) * decay
        running = _running_log_max(part, steps, previous)
        out[start : start + part.size] = np.exp(running - steps)
        previous = float(running[-1] - steps[-1])
    return out, previous


def _running_log_max(held: Array, steps: Array, start: float) -> Array:
    """``max(start, log(held[j]) + steps[j] for j <= i)`` at every i: the release's running maximum in
    the log domain. Only the values that hold a reduction (held > 0; log 0 is -inf) enter numpy's running
    maximum, its slowest loop; between them the maximum is carried with np.repeat. The same values as
    ``np.maximum(np.maximum.accumulate(np.log(held) + steps), start)``: maxima do not round. With the C
    module the logarithms are still numpy's, and the running maximum is filled in by
    ``kernels.running_max_fill`` in one pass."""
    holding = np.flatnonzero(held)
    if dsp.kernels is not None:
        running = np.empty(held.size)
        dsp.kernels.running_max_fill(holding, np.log(held[holding]) + steps[holding], start, running)
        return running
    running = np.full(held.size, start)
    if holding.size:
        peaks = np.maximum.accumulate(np.log(held[holding]) + steps[holding])
        lasting = np.diff(holding, append=held.size)
        np.maximum(running[holding[0] :], np.repeat(peaks, lasting), out=running[holding[0] :])
    return running
