"""Ambience beds: seamless loops at one loudness, files in common formats, ducking and fades."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf

from audioguide.errors import RenderError
from audioguide.model.cues import BUILTIN_BEDS
from audioguide.render import ambience
from audioguide.render.ambience import BED_LUFS, Bed, duck_gain, fade_gain, load_bed
from audioguide.render.loudness import integrated_loudness
from audioguide.units import SAMPLE_RATE

# Beds are normalised to BED_LUFS over one loop; reading any 60 s stretch of the repeating loop can
# differ by the gating of partial blocks at the ends, a few hundredths of an LU.
BED_LUFS_TOL = 0.5
# Duck depth is computed exactly (10**(depth/20)); float32 storage moves it by ~1e-6 dB.
DUCK_DB_TOL = 0.5
# A resampled 1 kHz tone must stay at 1 kHz: within one FFT bin of a 2 s analysis (0.5 Hz) plus slack.
FREQ_TOL_HZ = 2.0
# Where the loop joins itself the short-term level stays inside the range the loop spans elsewhere,
# with this much headroom for where the analysis window happens to fall.
SEAM_LEVEL_TOL_DB = 1.0

SECOND = SAMPLE_RATE
RAMP = 22_050
DEPTH = 10 ** (-12 / 20)


def _db(x: np.ndarray | float) -> np.ndarray:
    return 20 * np.log10(np.asarray(x, dtype=np.float64))


def _rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.asarray(x, np.float64) ** 2)))


def _assert_seamless(bed: Bed) -> None:
    length = bed.loop_samples
    loop = bed.block(0, length)
    steps = np.abs(np.diff(loop))
    wrap = abs(float(loop[0]) - float(loop[-1]))  # the step from the loop's end back to its start
    assert wrap <= np.percentile(steps, 99.9)
    across = bed.block(length - 2000, 4000)
    assert np.abs(np.diff(across)).max() <= steps.max()
    window = min(SECOND // 4, length // 8)
    levels = [_rms_db(loop[i : i + window]) for i in range(0, length - window, window)]
    seam_level = _rms_db(bed.block(length - window // 2, window))
    assert min(levels) - SEAM_LEVEL_TOL_DB <= seam_level <= max(levels) + SEAM_LEVEL_TOL_DB


@pytest.mark.parametrize("name", BUILTIN_BEDS)
def test_builtin_loops_are_seamless(name: str) -> None:
    _assert_seamless(load_bed(name))


@pytest.mark.parametrize("name", BUILTIN_BEDS)
def test_builtin_beds_are_deterministic(name: str) -> None:
    fresh = ambience._builtin_loop.__wrapped__(name)  # regenerated, bypassing the cache
    assert np.array_equal(load_bed(name).block(0, fresh.size), fresh)
    assert load_bed(name).name == name


@pytest.mark.parametrize("name", BUILTIN_BEDS)
def test_builtin_beds_share_one_loudness(name: str) -> None:
    bed = load_bed(name)
    assert integrated_loudness(bed.block(12_345, 60 * SECOND), SAMPLE_RATE) == pytest.approx(
        BED_LUFS, abs=BED_LUFS_TOL
    )
    assert np.abs(bed.block(0, bed.loop_samples)).max() < 1.0


def test_block_reads_the_endless_loop_anywhere() -> None:
    loop = np.arange(10, dtype=np.float32)
    bed = Bed("test", loop)
    tiled = np.tile(loop, 10)
    for start, n in [(0, 10), (3, 4), (7, 25), (0, 0), (95, 3), (-3, 5)]:
        expected = tiled[(start % 10) : (start % 10) + n]
        np.testing.assert_array_equal(bed.block(start, n), expected)
        assert bed.block(start, n).dtype == np.float32


# --- ducking and fades ---------------------------------------------------------------------------------


def test_duck_depth_inside_speech_and_none_far_away() -> None:
    spans = [(3 * SECOND, 5 * SECOND)]
    gain = duck_gain(spans, 0, 10 * SECOND)
    assert gain.dtype == np.float32 and gain.shape == (10 * SECOND,)
    assert _db(gain[3 * SECOND : 5 * SECOND]) == pytest.approx(-12.0, abs=DUCK_DB_TOL)
    assert np.all(gain[: 3 * SECOND - RAMP] == 1.0)  # exactly unity away from speech
    assert np.all(gain[5 * SECOND + RAMP :] == 1.0)


def test_duck_ramps_finish_as_speech_starts_and_begin_as_it_ends() -> None:
    start, end = 3 * SECOND, 5 * SECOND
    gain = duck_gain([(start, end)], 0, 10 * SECOND).astype(np.float64)
    assert gain[start - RAMP] == 1.0 and gain[start - RAMP + 100] < 1.0  # the ramp down begins here
    assert gain[start] == np.float32(DEPTH) and gain[start - 100] > gain[start]  # down as speech starts
    assert gain[end - 1] == gain[end] == np.float32(DEPTH) and gain[end + 100] > gain[end]  # up from its end
    assert gain[end + RAMP] == 1.0
    down, up = gain[start - RAMP : start + 1], gain[end : end + RAMP + 1]
    assert np.all(np.diff(down) <= 0) and np.all(np.diff(up) >= 0)
    assert np.abs(np.diff(_db(gain))).max() < 0.01  # smooth: ~0.0009 dB per sample at most


def test_short_gaps_are_bridged_and_long_gaps_released() -> None:
    spans = [(2 * SECOND, 3 * SECOND), (3 * SECOND + SECOND // 2, 4 * SECOND), (8 * SECOND, 9 * SECOND)]
    gain = duck_gain(spans, 0, 12 * SECOND)
    assert _db(gain[3 * SECOND : 3 * SECOND + SECOND // 2]) == pytest.approx(-12.0, abs=DUCK_DB_TOL)
    assert _db(gain[6 * SECOND]) == pytest.approx(0.0, abs=1e-6)  # 4 s gap: back to full level between


def test_duck_gain_is_block_invariant_with_thousands_of_spans() -> None:
    rng = np.random.default_rng(4)
    gaps = rng.integers(SECOND // 10, 3 * SECOND, size=3000)  # both bridged and released gaps
    lengths = rng.integers(SECOND // 5, 2 * SECOND, size=3000)
    starts = np.cumsum(gaps + np.concatenate([[0], lengths[:-1]]))
    spans = [(int(s), int(s + n)) for s, n in zip(starts, lengths, strict=True)]
    origin = spans[1500][0] - 7 * SECOND  # a window deep inside the session
    total = 60 * SECOND
    whole = duck_gain(spans, origin, total)
    assert whole.min() < 0.3 and whole.max() == 1.0  # the window sees speech and silence
    for size in (777, 4096, 100_000):
        parts = [duck_gain(spans, origin + a, min(size, total - a)) for a in range(0, total, size)]
        np.testing.assert_array_equal(np.concatenate(parts), whole)
    edge = spans[1500][0] - RAMP - 500  # single samples across the start of a ramp down
    singles = np.concatenate([duck_gain(spans, edge + i, 1) for i in range(1000)])
    np.testing.assert_array_equal(singles, whole[edge - origin : edge - origin + 1000])


def _duck_reference(spans: list[tuple[int, int]], n: int, ramp: int, bridge: int) -> np.ndarray:
    """The ducking rule written out sample by sample, for small cases."""
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] < bridge:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    out = []
    for i in range(n):
        amount = 0.0
        for a, b in merged:
            if a <= i < b:
                amount = 1.0
            elif a - ramp <= i < a:
                amount = max(amount, 0.5 + 0.5 * np.cos(np.pi * (a - i) / ramp))
            elif b <= i <= b + ramp:
                amount = max(amount, 0.5 + 0.5 * np.cos(np.pi * (i - b) / ramp))
        out.append(10 ** (-12 * amount / 20))
    return np.array(out, dtype=np.float32)


@pytest.mark.parametrize("seed", range(5))
def test_duck_gain_matches_the_rule_written_out(seed: int) -> None:
    rng = np.random.default_rng(seed)
    edges = np.sort(rng.choice(np.arange(10, 2990), size=2 * int(rng.integers(1, 12)), replace=False))
    spans = [(int(a), int(b)) for a, b in edges.reshape(-1, 2)]
    expected = _duck_reference(spans, 3000, ramp=60, bridge=90)
    for size in (3000, 97):
        got = [
            duck_gain(spans, a, min(size, 3000 - a), ramp_samples=60, bridge_samples=90)
            for a in range(0, 3000, size)
        ]
        np.testing.assert_allclose(np.concatenate(got), expected, rtol=1e-6)


def test_duck_gain_with_no_speech_is_unity() -> None:
    np.testing.assert_array_equal(duck_gain([], 100, 1000), np.ones(1000, np.float32))


def test_fade_gain() -> None:
    total = 10 * SECOND
    gain = fade_gain(total, 0, total, 2 * SECOND, 3 * SECOND)
    assert gain[0] == 0.0 and gain[-1] == 0.0
    assert np.all(gain[2 * SECOND : 7 * SECOND] == 1.0)
    assert np.all(np.diff(gain[: 2 * SECOND]) >= 0) and np.all(np.diff(gain[7 * SECOND :]) <= 0)
    parts = [fade_gain(total, a, 4099, 2 * SECOND, 3 * SECOND) for a in range(0, total, 4099)]
    np.testing.assert_array_equal(np.concatenate(parts)[:total], gain)
    assert np.all(fade_gain(total, total, 100, 10, 10) == 0.0)
    np.testing.assert_array_equal(fade_gain(100, 0, 100, 0, 0), np.ones(100, np.float32))


# --- files ---------------------------------------------------------------------------------------------


def _stereo_48k(seconds: float = 3.0) -> np.ndarray:
    rate = 48_000
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(9).standard_normal(t.size) * 0.02
    left = 0.3 * np.sin(2 * np.pi * 1000 * t) + noise
    return np.stack([left, 0.5 * left], axis=1).astype(np.float32)


@pytest.mark.parametrize(
    ("suffix", "options"), [(".wav", {}), (".flac", {}), (".ogg", {"subtype": "VORBIS"})]
)
def test_files_load_as_mono_44k1_loops(tmp_path: Path, suffix: str, options: dict[str, str]) -> None:
    path = tmp_path / f"bed{suffix}"
    sf.write(path, _stereo_48k(), 48_000, **options)
    bed = load_bed(path.name, base_dir=tmp_path)
    assert bed.name == path.name
    resampled = 3 * SAMPLE_RATE
    assert bed.loop_samples == resampled - resampled // 4  # a quarter of a short file goes to the seam
    chunk = bed.block(0, 2 * SECOND)
    assert chunk.ndim == 1 and chunk.dtype == np.float32
    spectrum = np.abs(np.fft.rfft(chunk))
    peak_hz = np.fft.rfftfreq(chunk.size, 1 / SAMPLE_RATE)[np.argmax(spectrum)]
    assert peak_hz == pytest.approx(1000.0, abs=FREQ_TOL_HZ)
    long_read = bed.block(0, 20 * SECOND)
    assert integrated_loudness(long_read, SAMPLE_RATE) == pytest.approx(BED_LUFS, abs=BED_LUFS_TOL)
    _assert_seamless(bed)


def test_absolute_path_and_long_file_seam(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    noise = np.random.default_rng(2).standard_normal(12 * SAMPLE_RATE) * 0.05
    sf.write(path, noise.astype(np.float32), SAMPLE_RATE)
    bed = load_bed(str(path))
    assert bed.loop_samples == 10 * SAMPLE_RATE  # a 2 s crossfade for files long enough
    _assert_seamless(bed)


def _raises(spec: str, base_dir: Path | None, *fragments: str) -> str:
    with pytest.raises(RenderError) as info:
        load_bed(spec, base_dir)
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_missing_file_names_where_it_looked(tmp_path: Path) -> None:
    _raises("x.wav", tmp_path, "ambience file 'x.wav' not found", str(tmp_path / "x.wav"))


def test_undecodable_file_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # no ffmpeg to fall back on
    (tmp_path / "notes.wav").write_text("these are not the samples you are looking for\n")
    _raises(
        "notes.wav", tmp_path, "could not decode 'notes.wav'", "convert it to WAV or FLAC, or install ffmpeg"
    )


def test_too_short_and_silent_files(tmp_path: Path) -> None:
    sf.write(tmp_path / "blip.wav", np.full(int(0.2 * SAMPLE_RATE), 0.1, np.float32), SAMPLE_RATE)
    _raises("blip.wav", tmp_path, "'blip.wav'", "too short")
    sf.write(tmp_path / "quiet.flac", np.zeros(3 * SAMPLE_RATE, np.float32), SAMPLE_RATE)
    _raises("quiet.flac", tmp_path, "'quiet.flac'", "silent")


def test_unknown_builtin_suggests_the_nearest() -> None:
    _raises("rian", None, "unknown ambience 'rian'", "did you mean 'rain'?", "brown-noise, rain, drone")
    _raises("zzz", None, "the built-in beds are brown-noise, rain, drone")


@pytest.fixture
def ffmpeg_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real ffmpeg (from imageio-ffmpeg) on PATH as `ffmpeg`, and nothing else."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ffmpeg").symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
    monkeypatch.setenv("PATH", str(bin_dir))
    with warnings.catch_warnings():  # pydub 0.25 imports audioop, deprecated in Python 3.11+
        warnings.simplefilter("ignore", DeprecationWarning)
        import pydub.audio_segment

    # imageio-ffmpeg ships no ffprobe; pydub only uses it to choose a PCM sample width, so skip it.
    monkeypatch.setattr(pydub.audio_segment, "mediainfo_json", lambda *args, **kwargs: None)
    return bin_dir


def test_falls_back_to_ffmpeg_for_other_formats(tmp_path: Path, ffmpeg_on_path: Path) -> None:
    wav, m4a = tmp_path / "source.wav", tmp_path / "bed.m4a"
    sf.write(wav, _stereo_48k(), 48_000)
    command = [str(ffmpeg_on_path / "ffmpeg"), "-v", "error", "-i", str(wav), "-c:a", "aac", str(m4a)]
    subprocess.run(command, check=True, timeout=60, env={**os.environ})
    with pytest.raises(RuntimeError):
        sf.read(m4a)  # soundfile really cannot read it: the fallback is what loads it
    bed = load_bed("bed.m4a", tmp_path)
    assert bed.loop_samples > 2 * SAMPLE_RATE
    assert integrated_loudness(bed.block(0, 10 * SECOND), SAMPLE_RATE) == pytest.approx(
        BED_LUFS, abs=BED_LUFS_TOL
    )


def test_ffmpeg_failure_is_one_line_with_its_reason(tmp_path: Path, ffmpeg_on_path: Path) -> None:
    (tmp_path / "x.xyz").write_bytes(b"\x00\x01garbage" * 100)
    _raises("x.xyz", tmp_path, "could not decode 'x.xyz'", "install ffmpeg")
