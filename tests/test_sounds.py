"""The cue palette: deterministic, exact lengths, documented levels, no clicks, breath tones that move."""

from __future__ import annotations

import numpy as np
import pytest

from audioguide.model.cues import BREATH_NAMES, NAMES, natural_length
from audioguide.render import sounds
from audioguide.render.sounds import PEAK_DBFS, cue
from audioguide.units import SAMPLE_RATE

FIXED = tuple(name for name in NAMES if name not in BREATH_NAMES)
BREATH_LENGTHS = (SAMPLE_RATE, 4 * SAMPLE_RATE + 1, 6 * SAMPLE_RATE, 20 * SAMPLE_RATE)

# Each sound is scaled to its documented peak exactly; float32 rounding moves it by ~1e-6 dB.
PEAK_TOL_DB = 0.01
# The palette's promise (module comment): cues peak between -14 and -10 dBFS, breath tones near -20.
CUE_PEAK_RANGE = (-14.0, -10.0)
BREATH_PEAK_RANGE = (-21.0, -19.0)
# Raised-cosine edges start exactly at 0; "near zero" leaves room for nothing more than rounding.
EDGE_TOL = 1e-3
# Largest sample-to-sample step, relative to the sound's peak, we accept as click-free: a 3 kHz sine
# moves at most 2*pi*3000/44100 = 0.43 of its amplitude per sample; a click jumps by the whole peak.
CLICK_STEP = 0.43


def _all_sounds() -> list[tuple[str, np.ndarray]]:
    found = [(name, cue(name)) for name in FIXED]
    found += [(name, cue(name, length)) for name in BREATH_NAMES for length in (SAMPLE_RATE, 6 * SAMPLE_RATE)]
    return found


def _peak_db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.abs(x).max()))


def _centroid(x: np.ndarray) -> float:
    magnitude = np.abs(np.fft.rfft(x.astype(np.float64)))
    freqs = np.fft.rfftfreq(x.size, 1.0 / SAMPLE_RATE)
    return float((freqs * magnitude).sum() / magnitude.sum())


@pytest.mark.parametrize("name", NAMES)
def test_sounds_are_deterministic(name: str) -> None:
    length = 3 * SAMPLE_RATE if name in BREATH_NAMES else None
    cached = cue(name, length)
    fresh = sounds._render.__wrapped__(name, length or natural_length(name))  # bypasses the cache
    assert np.array_equal(cached, fresh)
    assert cue(name, length) is cached  # the cache hands back the same array


@pytest.mark.parametrize("name", FIXED)
def test_fixed_sounds_have_their_natural_length(name: str) -> None:
    length = natural_length(name)
    assert length is not None and cue(name).shape == (length,)
    assert cue(name, length).shape == (length,)
    with pytest.raises(ValueError, match="fixed length"):
        cue(name, length + 1)


def test_natural_lengths_match_the_descriptions() -> None:
    seconds = {name: natural_length(name) / SAMPLE_RATE for name in FIXED}  # type: ignore[operator]
    assert seconds["chime"] == pytest.approx(1.2)
    assert seconds["bell"] == pytest.approx(4.0)
    assert seconds["transition"] < seconds["chime"]
    assert seconds["tick"] < 0.15


@pytest.mark.parametrize("name", BREATH_NAMES)
@pytest.mark.parametrize("length", BREATH_LENGTHS)
def test_breath_tones_fill_exactly_their_phase(name: str, length: int) -> None:
    x = cue(name, length)
    assert x.shape == (length,) and x.dtype == np.float32
    assert natural_length(name) is None


@pytest.mark.parametrize(("name", "x"), _all_sounds())
def test_levels_are_as_documented(name: str, x: np.ndarray) -> None:
    low, high = BREATH_PEAK_RANGE if name in BREATH_NAMES else CUE_PEAK_RANGE
    assert low <= PEAK_DBFS[name] <= high
    assert _peak_db(x) == pytest.approx(PEAK_DBFS[name], abs=PEAK_TOL_DB)


@pytest.mark.parametrize(("name", "x"), _all_sounds())
def test_no_clicks(name: str, x: np.ndarray) -> None:
    assert abs(x[0]) < EDGE_TOL and abs(x[-1]) < EDGE_TOL
    peak = np.abs(x).max()
    assert np.abs(np.diff(x)).max() <= CLICK_STEP * peak
    first_ms = x[: SAMPLE_RATE // 1000]
    assert np.abs(first_ms).max() < 0.1 * peak  # the 5 ms raised-cosine edge: no hard onset


def test_tick_has_a_soft_attack() -> None:
    x = cue("tick")
    assert np.argmax(np.abs(x)) >= 0.003 * SAMPLE_RATE  # reaches its peak no sooner than 3 ms in


@pytest.mark.parametrize("length", BREATH_LENGTHS)
def test_inhale_rises_and_exhale_falls(length: int) -> None:
    half = length // 2
    inhale, exhale = cue("inhale", length), cue("exhale", length)
    assert _centroid(inhale[half:]) > _centroid(inhale[:half])
    assert _centroid(exhale[half:]) < _centroid(exhale[:half])


def test_arrays_are_read_only() -> None:
    with pytest.raises(ValueError):
        cue("chime")[0] = 1.0


def test_unknown_name_lists_the_cues() -> None:
    with pytest.raises(ValueError, match="chime, transition, tick, bell, inhale, exhale"):
        cue("gong")
    with pytest.raises(ValueError, match="unknown cue"):
        natural_length("gong")


def test_breath_tones_need_a_valid_length() -> None:
    with pytest.raises(ValueError, match="needs length_samples"):
        cue("inhale")
    for bad in (SAMPLE_RATE - 1, 20 * SAMPLE_RATE + 1):
        with pytest.raises(ValueError, match="1-20 s"):
            cue("exhale", bad)
