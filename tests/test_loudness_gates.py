"""The gates of integrated loudness (BS.1770-4 §2.5-2.6), checked on EBU Tech 3341-style tone sequences.

Each signal is a 1 kHz sine, the same in both stereo channels, whose level steps between stretches
whose lengths are whole 100 ms segments. For such a sine the reading in LUFS equals the level in dBFS:
each channel's mean square is A²/2, two channels sum to A², and the K-weighting's gain near 1 kHz is
what the -0.691 dB offset cancels (BS.1770-4 eq. 2; a 1 kHz sine at -23 dBFS reads -22.99 here).
So the right answer follows from which stretches the gates let through, worked out in each test's
comments as powers relative to the loudest stretch.

Only 3 of the 400 ms gating blocks straddle each level step (75 % overlap), each holding a mix of the
two levels; the comments show what they change (a few hundredths of a LU at most).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from audioguide.render.loudness import integrated_loudness

RATE = 44_100  # the rate audioguide measures at (Tech 3341 supplies its signals at 48 kHz too)
TONE_HZ = 1_000

# EBU Tech 3341 (2016) §2.9, Table 1: test cases 1-5 must read within +-0.1 LU of their nominal value.
# The cases built here to bracket a gate put the stretch that the gate decides 0.25-0.3 LU from it, so
# a gate moved further than that changes the reading by 0.24 LU or more: well outside this tolerance.
EBU_3341_TOL = 0.1


def tones(*parts: tuple[float, float]) -> np.ndarray:
    """A stereo (n, 2) 1 kHz sine at each (level dBFS, seconds) in turn, phase continuous.

    Every part is a whole number of 100 ms, i.e. of 1 kHz cycles, so each step falls on a zero crossing
    and on a gating segment boundary.
    """
    amplitude = np.concatenate([np.full(round(seconds * RATE), 10 ** (db / 20)) for db, seconds in parts])
    x = amplitude * np.sin(2 * np.pi * TONE_HZ * np.arange(amplitude.size) / RATE)
    return np.stack([x, x], axis=1)


def db(power: float) -> float:
    return 10 * math.log10(power)


# --- EBU Tech 3341 test cases 1-5 (Table 1), at 44.1 kHz ----------------------------------------------------


@pytest.mark.parametrize("level", [-23.0, -33.0])
def test_case_1_and_2_a_steady_tone_reads_its_level(level: float) -> None:
    assert integrated_loudness(tones((level, 20)), RATE) == pytest.approx(level, abs=EBU_3341_TOL)


def test_case_3_quiet_ends_fall_under_the_relative_gate() -> None:
    # -36 / -23 / -36 dBFS for 10 / 60 / 10 s. Powers relative to -23: 1 for 60 s, 10^-1.3 = 0.0501
    # for 20 s. All blocks pass -70; their mean is (60 + 20 * 0.0501) / 80 = 0.763 -> -1.18 dB, so the
    # relative gate sits at -23 - 1.18 - 10 = -34.2 LUFS and the -36 stretches (1.8 LU under it) are out.
    # Left: the 60 s at -23 and the straddling blocks (0.76, 0.53, 0.29 at each of the two steps):
    # (597 + 2 * 1.58) / 603 = 0.9953 -> -0.02 dB. Expected -23.0 (-23.02).
    # Without the relative gate: -23 - 1.18 = -24.2.
    reading = integrated_loudness(tones((-36, 10), (-23, 60), (-36, 10)), RATE)
    assert reading == pytest.approx(-23.0, abs=EBU_3341_TOL)


def test_case_4_ends_under_either_gate_are_left_out() -> None:
    # -72 / -36 / -23 / -36 / -72 dBFS for 10 / 10 / 60 / 10 / 10 s: case 3 with 20 s under -70 LUFS.
    # The absolute gate removes the -72 blocks (2 dB under it) before the relative gate is worked out,
    # so this is case 3 again: -23.0. Without either gate: mean (60 + 20 * 0.0501 + 20 * 10^-4.9) / 100
    # = 0.610 -> -25.1.
    parts = ((-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10))
    assert integrated_loudness(tones(*parts), RATE) == pytest.approx(-23.0, abs=EBU_3341_TOL)


def test_case_5_quieter_stretches_above_the_relative_gate_count() -> None:
    # -26 / -20 / -26 dBFS for 20 / 20.1 / 20 s. Relative to -20, -26 is 10^-0.6 = 0.251: the mean is
    # (20.1 + 40 * 0.251) / 60.1 = 0.502 -> -2.99 dB, the relative gate -33.0 LUFS, so everything counts:
    # -20 - 2.99 = -23.0 (the straddling blocks are already in this energy average).
    # A relative gate raised to -3 LU or more would drop the -26 stretches: -20.
    reading = integrated_loudness(tones((-26, 20), (-20, 20.1), (-26, 20)), RATE)
    assert reading == pytest.approx(-23.0, abs=EBU_3341_TOL)


# --- gates bracketed: a stretch just inside or just outside each gate ---------------------------------------


def test_a_stretch_just_under_the_relative_gate_is_left_out() -> None:
    # -20 dBFS then -33.1 dBFS, 20 s each; q = 10^-1.31 = 0.0490 relative to -20. Every block passes -70
    # and the blocks' mean is exactly (1 + q) / 2 = 0.5245 -> -2.80 dB (the straddling blocks 3/4,
    # 2/4, 1/4 loud average out), so the relative gate sits at -20 - 2.80 - 10 = -32.80 LUFS:
    # the -33.1 stretch is 0.30 LU under it and left out. What remains is 197 blocks at 1 and the
    # straddling 0.76, 0.52 and 0.29: (197 + 1.5 + 1.5q) / 200 = 0.9929 -> -0.03 dB. Expected -20.0.
    # A relative gate lowered to -10.4 LU or further lets the stretch in: -20 - 2.80 = -22.8.
    reading = integrated_loudness(tones((-20, 20), (-33.1, 20)), RATE)
    assert reading == pytest.approx(-20.0, abs=EBU_3341_TOL)


def test_a_stretch_just_over_the_relative_gate_counts() -> None:
    # -20 dBFS then -32.5 dBFS, 20 s each; q = 10^-1.25 = 0.0562. The mean is (1 + q) / 2 = 0.5281
    # -> -2.77 dB, the relative gate -32.77 LUFS: the -32.5 stretch is 0.27 LU over it and counts, so
    # every block counts and the reading is that mean: -20 - 2.77 = -22.77.
    # A relative gate raised to -9.7 LU or further leaves the stretch out: -20.0.
    expected = -20 + db((1 + 10**-1.25) / 2)
    assert expected == pytest.approx(-22.77, abs=0.005)
    reading = integrated_loudness(tones((-20, 20), (-32.5, 20)), RATE)
    assert reading == pytest.approx(expected, abs=EBU_3341_TOL)


def test_the_absolute_gate_at_minus_70_lufs_splits_a_quarter_lu_either_side() -> None:
    # -69.75 dBFS then -70.25 dBFS, 10 s each: the first just over -70 LUFS, the second just under.
    # Only the first passes the absolute gate (b = 10^-0.05 = 0.891 relative to it: straddling blocks
    # of 0.973 and 0.946 pass too, at -69.87 and -69.99, and 0.918 at -70.12 does not); the relative
    # gate at about -79.8 takes nothing more away. Reading: (97 + 0.973 + 0.946) / 99 = 0.9990
    # -> -0.004 dB. Expected -69.75.
    # Gate lowered to -70.5 or further: both stretches count, (1 + b) / 2 -> -69.99. Raised to -69.5 or
    # further: nothing passes, -inf.
    reading = integrated_loudness(tones((-69.75, 10), (-70.25, 10)), RATE)
    assert reading == pytest.approx(-69.75, abs=EBU_3341_TOL)


def test_quiet_under_the_absolute_gate_does_not_drag_the_relative_gate_down() -> None:
    # -23 / -36.5 / -75 dBFS for 20 / 20 / 60 s: a stretch between the two gates and one under -70.
    # With the -75 blocks gated out first, m = 10^-1.35 = 0.0447 relative to -23 and the mean of what
    # is left is (198.5 + 200 m) / 400 = 0.5186 -> -2.85 dB (the three blocks straddling -36.5/-75
    # pass -70 and add 1.5 m), so the relative gate is -35.85 LUFS and the -36.5 stretch (0.65 LU under)
    # is out: (197 + 1.5 + 1.5 m) / 200 -> -0.03 dB. Expected -23.0 (-23.03).
    # Were the 600 blocks at -75 counted in the mean (no absolute gate, or one under -75), it would fall
    # to about 207.4 / 997 = 0.208 -> -6.8 dB and the relative gate to -39.8: the -36.5 stretch counts
    # and the reading drops to about -23 - 2.84 = -25.84.
    reading = integrated_loudness(tones((-23, 20), (-36.5, 20), (-75, 60)), RATE)
    assert reading == pytest.approx(-23.0, abs=EBU_3341_TOL)


def test_a_signal_entirely_under_the_absolute_gate_reads_minus_infinity() -> None:
    # -72 dBFS (2 LU under the gate) for 5 s: no block passes, so there is no loudness to report.
    assert integrated_loudness(tones((-72, 5)), RATE) == -math.inf
