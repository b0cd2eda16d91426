"""Turn raw engine or recorded audio into a finished clip: 44.1 kHz, trimmed, levelled and faded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audioguide.errors import SpeechError
from audioguide.model.clip import Clip
from audioguide.speak.packs import read_recording, recording_key
from audioguide.speak.resample import loud_part_to_44k1

CLIP_RMS_DBFS = -20.0
"""Every phrase is levelled to this RMS (over its voiced part) so the voice never jumps in level."""
CLIP_PEAK_MAX = 0.95
EDGE_FADE_SAMPLES = 220  # 5 ms raised-cosine fade at both ends of a clip: no clicks
TRIM_FLOOR_DB = -40.0  # leading/trailing audio below this (relative to the clip's peak) is silence
TRIM_KEEP_BEFORE = 441  # keep 10 ms before the first audible sample
TRIM_KEEP_AFTER = 1764  # and 40 ms after the last (soft word endings)


def postprocess(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Resample to 44.1 kHz, trim silence, level to CLIP_RMS_DBFS and fade the edges."""
    if pcm.size == 0 or not np.any(pcm):
        raise SpeechError("the speech engine returned no audio (empty or all silence)")
    floor = 10 ** (TRIM_FLOOR_DB / 20)
    # The resampled clip, or the part of it that holds every loud sample and the margins kept around
    # them; ``offset`` is where that part starts in the whole, of ``total`` samples. A new array.
    x, offset, total = loud_part_to_44k1(
        pcm.astype(np.float64), rate, floor, TRIM_KEEP_BEFORE, TRIM_KEEP_AFTER
    )
    magnitude = np.abs(x)
    peak = float(np.max(magnitude))
    loud = magnitude > peak * floor  # the peak itself is loud: never all False
    start = max(0, offset + int(np.argmax(loud)) - TRIM_KEEP_BEFORE)
    end = min(total, offset + len(x) - int(np.argmax(loud[::-1])) - 1 + TRIM_KEEP_AFTER)
    x = x[start - offset : end - offset]
    win = 882  # 20 ms frames for the level measurement
    frames = x[: len(x) // win * win].reshape(-1, win) if len(x) >= win else x.reshape(1, -1)
    energy = np.mean(frames**2, axis=1)
    voiced = energy[energy > energy.max() * 10 ** (-30 / 10)]
    rms = float(np.sqrt(np.mean(voiced)))
    gain = 10 ** (CLIP_RMS_DBFS / 20) / rms
    gain = min(gain, CLIP_PEAK_MAX / peak)  # the kept part holds every loud sample, the peak among them
    x *= gain
    n = min(EDGE_FADE_SAMPLES, len(x) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    x[:n] *= ramp
    x[len(x) - n :] *= ramp[::-1]
    return x.astype(np.float32)


def load_recording(text: str, path: Path) -> Clip:
    """A person's recording of ``text``, trimmed and levelled exactly like synthesized clips."""
    pcm, rate = read_recording(path)
    try:
        samples = postprocess(pcm, rate)
    except SpeechError:
        raise SpeechError(
            f"the recording {path} is silent; record {text[:60]!r} again or delete the file"
        ) from None
    # Quantise as the cache does for synthesized clips, so both kinds reach the mix the same way.
    out = (np.clip(np.round(samples * 32768.0), -32768, 32767) / 32768.0).astype(np.float32)
    out.flags.writeable = False
    return Clip(recording_key(text, path), text, out, "recording")
