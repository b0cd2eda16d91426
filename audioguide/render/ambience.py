"""Ambience beds (built-in or from a file) as seamless loops, and the gain curves that duck and fade them."""

from __future__ import annotations

import bisect
import difflib
import functools
import math
import shutil
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType

import numpy as np
import soundfile as sf

from audioguide.errors import RenderError
from audioguide.model.cues import BUILTIN_BEDS
from audioguide.render.loudness import LoudnessMeter
from audioguide.units import SAMPLE_RATE, USER_AUDIO_MAX_CHANNELS, USER_AUDIO_RATES_HZ

BED_LUFS = -20.0
"""Every bed, built-in or from a file, is normalised to this integrated loudness (BS.1770). It is a
reference level only: the mix stage sets the bed's final level relative to the speech."""

_LOOP_SAMPLES = 24 * SAMPLE_RATE  # built-in loops: long enough that the repeat is not noticed
_SEAM_SAMPLES = 2 * SAMPLE_RATE  # equal-power crossfade where a loop joins its own start
_MIN_FILE_SAMPLES = SAMPLE_RATE  # shorter files make a loop that is heard as a loop
_WARMUP_SAMPLES = 2 * SAMPLE_RATE  # discarded while the noise filters settle
_SEEDS = {"brown-noise": 1101, "rain": 2202, "drone": 3303}
MAX_FILE_BED_S = 10 * 60.0
"""At most this much of an ambience file is read: ten minutes loop unnoticed under any session."""


class Bed:
    """A mono loop at SAMPLE_RATE that plays forever; any stretch of it can be read directly."""

    def __init__(self, name: str, loop: np.ndarray) -> None:
        if loop.ndim != 1 or loop.size == 0:
            raise ValueError("a bed needs a non-empty mono loop")
        self.name = name
        self._loop = loop

    @property
    def loop_samples(self) -> int:
        """Length of one repetition of the loop."""
        return self._loop.size

    def block(self, start_sample: int, n: int) -> np.ndarray:
        """Samples [start_sample, start_sample + n) of the endlessly repeated loop (mono float32)."""
        out = np.empty(n, dtype=np.float32)
        offset = start_sample % self._loop.size
        pos = 0
        while pos < n:
            take = min(self._loop.size - offset, n - pos)
            out[pos : pos + take] = self._loop[offset : offset + take]
            pos += take
            offset = 0
        return out


def load_bed(spec: str, base_dir: Path | None = None, needed_samples: int | None = None) -> Bed:
    """A built-in bed by name, or an audio file (relative paths resolve against ``base_dir``, else the
    working directory), as a seamless loop at BED_LUFS. Raises RenderError with the fix on failure.

    Of a file only what a session of ``needed_samples`` plays is read (and never more than
    MAX_FILE_BED_S): an hour-long recording under a one-minute session is not decoded whole."""
    if spec in BUILTIN_BEDS:
        return Bed(spec, _builtin_loop(spec))
    path = Path(spec).expanduser()
    if "/" not in spec and "\\" not in spec and not path.suffix:
        near = difflib.get_close_matches(spec, BUILTIN_BEDS, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise RenderError(
            f"unknown ambience {spec!r}: {hint}the built-in beds are {', '.join(BUILTIN_BEDS)}, "
            "or give the path of an audio file"
        )
    if not path.is_absolute():
        path = (base_dir if base_dir is not None else Path.cwd()) / path
    path = path.absolute()
    if not path.is_file():
        raise RenderError(f"ambience file {spec!r} not found (looked in {path})")
    wanted_s = MAX_FILE_BED_S
    if needed_samples is not None:  # the session, and the seam the loop spends; a loop is never heard
        wanted = max(needed_samples, _MIN_FILE_SAMPLES) + _SEAM_SAMPLES
        wanted_s = min(MAX_FILE_BED_S, wanted / SAMPLE_RATE)
    frames, rate = _decode(path, spec, wanted_s)
    mono = frames.mean(axis=1) if frames.shape[1] > 1 else frames[:, 0]
    if rate != SAMPLE_RATE:
        g = math.gcd(rate, SAMPLE_RATE)
        mono = _scipy_signal().resample_poly(mono, SAMPLE_RATE // g, rate // g)
    if mono.size < _MIN_FILE_SAMPLES:
        raise RenderError(
            f"ambience file {spec!r} is too short ({mono.size / SAMPLE_RATE:.2f} s): use a recording of "
            "at least 1 s (ideally 20 s or more) so the loop is not heard repeating"
        )
    seam = min(_SEAM_SAMPLES, mono.size // 4)
    loop = _normalise(_crossfade_loop(mono, seam), spec)
    return Bed(path.name, loop)


class _DecodeError(Exception):
    """A decoder's failure, reduced to one line."""


def _decode(path: Path, spec: str, seconds: float) -> tuple[np.ndarray, int]:
    """The first ``seconds`` of a file as float frames (n, channels) and its rate: soundfile first,
    then pydub + ffmpeg where installed. RenderError for a damaged header (a rate of 0 or 4 GHz,
    no channels) or samples that are not finite numbers, before they can cost memory or a crash."""
    try:
        info = sf.info(str(path))
        _check_format(spec, info.samplerate, info.channels)
        frames, rate = sf.read(
            path, frames=math.ceil(seconds * info.samplerate), dtype="float32", always_2d=True
        )
    except RuntimeError as exc:  # soundfile.LibsndfileError: unknown format, corrupt data, I/O error
        reason = getattr(exc, "error_string", None) or str(exc)
        if not shutil.which("ffmpeg"):
            reason = " ".join(reason.split()).rstrip(".")
            raise RenderError(
                f"could not decode {spec!r}: {reason}; convert it to WAV or FLAC, or install ffmpeg"
            ) from None
        try:
            frames, rate = _decode_with_pydub(path, seconds)
        except _DecodeError as err:
            reason = " ".join(str(err).split()).rstrip(".")
            raise RenderError(
                f"could not decode {spec!r}: {reason}; convert it to WAV or FLAC, or install ffmpeg"
            ) from None
    _check_format(spec, int(rate), frames.shape[1])
    if not np.isfinite(frames).all():
        raise RenderError(f"ambience file {spec!r} holds samples that are not numbers (NaN or infinite)")
    return frames, int(rate)


def _check_format(spec: str, rate: int, channels: int) -> None:
    low, high = USER_AUDIO_RATES_HZ
    if not low <= rate <= high:
        raise RenderError(
            f"ambience file {spec!r} claims a sample rate of {rate} Hz; expected {low} to {high}"
        )
    if not 1 <= channels <= USER_AUDIO_MAX_CHANNELS:
        raise RenderError(
            f"ambience file {spec!r} claims {channels} channels; expected 1 to {USER_AUDIO_MAX_CHANNELS}"
        )


def _decode_with_pydub(path: Path, seconds: float) -> tuple[np.ndarray, int]:
    # Imported here: pydub is only the fallback decoder, and it warns at import when ffmpeg is absent.
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Couldn't find ff", category=RuntimeWarning)
        warnings.filterwarnings("ignore", message="'audioop' is deprecated", category=DeprecationWarning)

        try:  # ffmpeg itself resamples to mono at our rate and stops after ``seconds``
            with open(path, "rb") as fh:  # ours to close: pydub leaves a file it opened open on errors
                segment = AudioSegment.from_file(
                    fh, duration=seconds, parameters=["-ac", "1", "-ar", str(SAMPLE_RATE)]
                )
        except (CouldntDecodeError, OSError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
            # Keep the first line (what failed) and the last (ffmpeg's own reason, when it gave one).
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()] or [type(exc).__name__]
            raise _DecodeError(lines[0] if len(lines) == 1 else f"{lines[0]}: {lines[-1]}") from exc
    if segment.channels < 1 or segment.sample_width < 1:
        raise _DecodeError(f"ffmpeg returned {segment.channels} channels")
    samples = np.array(segment.get_array_of_samples(), dtype=np.float64)
    full_scale = float(2 ** (8 * segment.sample_width - 1))
    frames = (samples / full_scale).reshape(-1, segment.channels).astype(np.float32)
    return frames, int(segment.frame_rate)


def _crossfade_loop(x: np.ndarray, seam: int) -> np.ndarray:
    """A loop of len(x) - seam samples whose end runs on into its start: the last ``seam`` samples of
    ``x`` are faded out over the first ``seam`` samples with an equal-power (sine/cosine) crossfade."""
    length = x.size - seam
    loop = np.array(x[:length], dtype=np.float64)
    if seam > 0:
        angle = 0.5 * np.pi * (np.arange(seam) + 0.5) / seam
        loop[:seam] = x[:seam] * np.sin(angle) + x[length:] * np.cos(angle)
    return loop


def _normalise(loop: np.ndarray, spec: str) -> np.ndarray:
    meter = LoudnessMeter(SAMPLE_RATE, 1)
    meter.add(loop)
    lufs = meter.integrated()
    if not math.isfinite(lufs):
        raise RenderError(f"ambience file {spec!r} is silent (nothing above -70 LUFS): choose another file")
    gain = 10.0 ** ((BED_LUFS - lufs) / 20.0)
    # A very peaky recording would pass full scale at BED_LUFS; it then stays a little quieter instead.
    gain = min(gain, 1.0 / float(np.abs(loop).max()))
    out = (loop * gain).astype(np.float32)
    out.flags.writeable = False
    return out


def _scipy_signal() -> ModuleType:
    """scipy.signal, imported on first use: it takes about a second, and only sessions with a bed
    (generated or resampled from a file) need it, so a build without one never pays for it."""
    import scipy.signal  # the slow optional import the docstring explains

    return scipy.signal


# --- built-in beds -----------------------------------------------------------------------------------


@functools.cache
def _builtin_loop(name: str) -> np.ndarray:
    rng = np.random.default_rng(_SEEDS[name])
    return _normalise(_GENERATORS[name](rng), name)


def _bandpass(x: np.ndarray, low_hz: float, high_hz: float) -> np.ndarray:
    signal = _scipy_signal()
    sos = signal.butter(2, [low_hz, high_hz], btype="bandpass", fs=SAMPLE_RATE, output="sos")
    return signal.sosfilt(sos, x)


def _brown_noise(rng: np.random.Generator) -> np.ndarray:
    # Brown noise (leaky integration of white noise: -6 dB/octave), kept between 30 and 400 Hz so it is
    # a soft rumble with no hiss and no sub-bass pumping.
    white = rng.standard_normal(_WARMUP_SAMPLES + _LOOP_SAMPLES + _SEAM_SAMPLES)
    brown = _scipy_signal().lfilter([1.0], [1.0, -0.995], white)
    return _crossfade_loop(_bandpass(brown, 30.0, 400.0)[_WARMUP_SAMPLES:], _SEAM_SAMPLES)


def _rain(rng: np.random.Generator) -> np.ndarray:
    # Steady rain: pinkish noise between 300 Hz and 5 kHz with a slow swell, and soft scattered droplets
    # (short damped tones with a 2 ms raised-cosine attack) a few per second, never sharp.
    signal = _scipy_signal()
    n = _WARMUP_SAMPLES + _LOOP_SAMPLES + _SEAM_SAMPLES
    pinkish = signal.lfilter([1.0], [1.0, -0.85], rng.standard_normal(n))
    wash = _bandpass(pinkish, 300.0, 5000.0)
    wash /= np.sqrt(np.mean(wash**2))
    t = np.arange(n) / SAMPLE_RATE
    wash *= 1.0 + 0.15 * np.sin(2 * np.pi * t / 9.0) + 0.08 * np.sin(2 * np.pi * t / 3.7)
    drops = np.zeros(n)
    drop_len = round(0.06 * SAMPLE_RATE)
    drop_t = np.arange(drop_len) / SAMPLE_RATE
    attack = round(0.002 * SAMPLE_RATE)
    onset = np.ones(drop_len)
    onset[:attack] = 0.5 - 0.5 * np.cos(np.pi * np.arange(attack) / attack)
    for start in rng.integers(0, n - drop_len, size=int(5 * n / SAMPLE_RATE)):
        freq, amplitude, decay = rng.uniform(1500, 3500), rng.uniform(0.3, 1.0), rng.uniform(0.006, 0.02)
        drop = np.sin(2 * np.pi * freq * drop_t) * np.exp(-drop_t / decay) * onset
        drops[start : start + drop_len] += amplitude * drop
    rain = wash + 0.8 * drops
    soft = signal.sosfilt(signal.butter(2, 6000.0, fs=SAMPLE_RATE, output="sos"), rain)
    return _crossfade_loop(soft[_WARMUP_SAMPLES:], _SEAM_SAMPLES)


def _drone(rng: np.random.Generator) -> np.ndarray:
    # A few low sines around A (55, 110, 165, 220 Hz) with slightly detuned twins that beat slowly, and
    # gentle swells. Every frequency is a whole number of cycles per loop (a multiple of 1/24 Hz), so the
    # loop is exactly periodic and needs no crossfade.
    seconds = _LOOP_SAMPLES / SAMPLE_RATE
    t = np.arange(_LOOP_SAMPLES) / SAMPLE_RATE
    cycles_amplitude = [(1320, 0.5), (2640, 1.0), (2646, 0.6), (3960, 0.45), (3964, 0.3), (5282, 0.15)]
    out = np.zeros(_LOOP_SAMPLES)
    for i, (cycles, amplitude) in enumerate(cycles_amplitude):
        swell = 1.0 + 0.25 * np.sin(2 * np.pi * t * (1 + i % 3) / seconds + rng.uniform(0, 2 * np.pi))
        out += amplitude * swell * np.sin(2 * np.pi * cycles / seconds * t + rng.uniform(0, 2 * np.pi))
    return out


_GENERATORS: dict[str, Callable[[np.random.Generator], np.ndarray]] = {
    "brown-noise": _brown_noise,
    "rain": _rain,
    "drone": _drone,
}


# --- gain curves ---------------------------------------------------------------------------------------


def duck_gain(
    speech_spans: Sequence[tuple[int, int]],
    start: int,
    n: int,
    *,
    depth_db: float = -12.0,
    ramp_samples: int = 22050,
    bridge_samples: int = 44100,
) -> np.ndarray:
    """The bed's gain (float32, length n) for samples [start, start + n): 1.0 away from speech and
    10**(depth_db/20) through each speech span ([start, end) sample indices, sorted, not overlapping).
    The gain falls over the ``ramp_samples`` before speech (fully down as it starts), rises over the
    ``ramp_samples`` after it, and stays down through gaps shorter than ``bridge_samples``. Ramps are
    raised cosines in dB. Each sample depends only on its index: any block partition gives the same curve."""
    if n < 0 or ramp_samples < 1 or bridge_samples < 0:
        raise ValueError("n and bridge_samples must be >= 0 and ramp_samples >= 1")
    reach = max(ramp_samples, bridge_samples)
    # Spans that can touch this block: their ramps, or a bridged gap that follows them, reach into it.
    lo = bisect.bisect_right(speech_spans, start - reach, key=lambda span: span[1])
    hi = bisect.bisect_left(speech_spans, start + n + ramp_samples, key=lambda span: span[0])
    regions: list[list[int]] = []
    for span_start, span_end in speech_spans[lo : hi + 1]:  # one more: a gap into it may be bridged
        if regions and span_start - regions[-1][1] < bridge_samples:
            regions[-1][1] = max(regions[-1][1], span_end)
        else:
            regions.append([span_start, span_end])
    gain = np.ones(n, dtype=np.float32)
    amount = np.zeros(n)  # 0 = no ducking, 1 = fully ducked
    for region_start, region_end in regions:
        a, b = max(region_start - ramp_samples, start), min(region_end + ramp_samples, start + n)
        if a >= b:
            continue
        # Only the ramps need a curve (a raised cosine of the distance from the region); inside the
        # region the amount is exactly 1. Computing just those keeps a long session cheap.
        down_end, up_start = min(region_start, b), max(region_end, a)
        if a < down_end:
            i = np.arange(a, down_end, dtype=np.int64)
            _raise(amount, a - start, _ramp_shape((region_start - i) / ramp_samples))
        if up_start < b:
            i = np.arange(up_start, b, dtype=np.int64)
            _raise(amount, up_start - start, _ramp_shape((i - region_end) / ramp_samples))
        inner_a, inner_b = max(region_start, a), min(region_end, b)
        if inner_a < inner_b:
            amount[inner_a - start : inner_b - start] = 1.0
    full = amount == 1.0
    partial = (amount > 0.0) & ~full
    gain[full] = (10.0 ** (depth_db * np.ones(1) / 20.0)).astype(np.float32)[0]
    gain[partial] = (10.0 ** (depth_db * amount[partial] / 20.0)).astype(np.float32)
    return gain


def _ramp_shape(distance: np.ndarray) -> np.ndarray:
    """Ducking amount at ``distance`` ramps away from a region: 1 at its edge, 0 one ramp away."""
    return 0.5 + 0.5 * np.cos(np.pi * np.clip(distance, 0.0, 1.0))


def _raise(amount: np.ndarray, at: int, shape: np.ndarray) -> None:
    """amount[at : at + len(shape)] = max(itself, shape): overlapping ramps keep the deeper duck."""
    np.maximum(amount[at : at + shape.size], shape, out=amount[at : at + shape.size])


def fade_gain(
    total_samples: int, start: int, n: int, fade_in_samples: int, fade_out_samples: int
) -> np.ndarray:
    """Raised-cosine fade-in over the first ``fade_in_samples`` of a session of ``total_samples`` and a
    fade-out over its last ``fade_out_samples``, for samples [start, start + n); 0 outside the session."""
    if n < 0 or fade_in_samples < 0 or fade_out_samples < 0:
        raise ValueError("n and fade lengths must be >= 0")
    gain = np.zeros(n)
    inside_a, inside_b = min(max(0, start), start + n), max(min(total_samples, start + n), start)
    gain[inside_a - start : inside_b - start] = 1.0  # 0 outside the session
    # Only the fades need a curve: sample i is in the fade-in while i < fade_in_samples, and in the
    # fade-out once total_samples - 1 - i < fade_out_samples; elsewhere the factor is exactly 1.
    if fade_in_samples:
        a, b = inside_a, max(min(inside_b, fade_in_samples), inside_a)
        index = np.arange(a, b, dtype=np.int64)
        progress = np.clip(index / fade_in_samples, 0.0, 1.0)
        gain[a - start : b - start] *= 0.5 - 0.5 * np.cos(np.pi * progress)
    if fade_out_samples:
        a, b = min(max(inside_a, total_samples - fade_out_samples), inside_b), inside_b
        index = np.arange(a, b, dtype=np.int64)
        remaining = np.clip((total_samples - 1 - index) / fade_out_samples, 0.0, 1.0)
        gain[a - start : b - start] *= 0.5 - 0.5 * np.cos(np.pi * remaining)
    return gain.astype(np.float32)
