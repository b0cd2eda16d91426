"""Shared test helpers: decode and inspect audio files with a real ffmpeg, measure levels with numpy.

Test modules import these as ``from audio_tools import decode, rms_db`` (pytest puts ``tests/`` on
``sys.path`` because the folder has no ``__init__.py``).
"""

from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np

SILENCE_DB = -200.0
"""What ``rms_db`` reports for digital silence, instead of minus infinity."""


@functools.cache
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary shipped in the imageio-ffmpeg wheel (an independent decoder)."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def _run(args: list[str]) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg quietly; fail the test with its stderr when it fails."""
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", *args], capture_output=True)
    if proc.returncode != 0:
        raise AssertionError(f"ffmpeg {' '.join(args)} failed:\n{proc.stderr.decode(errors='replace')}")
    return proc


def stream_info(path: str | Path) -> tuple[int, int]:
    """(sample rate, channels) of the first audio stream, as ffmpeg reports them."""
    proc = subprocess.run([ffmpeg_exe(), "-nostdin", "-hide_banner", "-i", str(path)], capture_output=True)
    text = proc.stderr.decode(errors="replace")
    match = re.search(r"Audio: .*?, (\d+) Hz, (mono|stereo|(\d+) channels)", text)
    if not match:
        raise AssertionError(f"ffmpeg found no audio stream in {path}:\n{text}")
    channels = {"mono": 1, "stereo": 2}.get(match.group(2)) or int(match.group(3))
    return int(match.group(1)), channels


def decode(path: str | Path) -> tuple[np.ndarray, int, int]:
    """Decode with ffmpeg to float32: (samples, rate, channels); samples are (n,) mono or (n, ch)."""
    rate, channels = stream_info(path)
    raw = _run(["-i", str(path), "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le", "-"]).stdout
    samples = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if channels > 1:
        samples = samples.reshape(-1, channels)
    return samples, rate, channels


def ffmpeg_duration_samples(path: str | Path) -> int:
    """Number of sample frames ffmpeg decodes from the file (after its delay/padding trimming)."""
    return len(decode(path)[0])


def ffmetadata(path: str | Path, *, stream_tags: bool = False) -> str:
    """ffmpeg's FFMETADATA1 dump of the file: global tags, then one [CHAPTER] section per chapter.

    Runs with ``-copyts`` so chapter times are the file's own: otherwise ffmpeg shifts them by the
    stream start time, which for an MP3 with a LAME tag is the decoder delay (1105 samples, 25 ms).
    Ogg keeps its Vorbis comments on the stream, not the file: ``stream_tags=True`` dumps those.
    """
    args = ["-copyts", "-i", str(path)]
    if stream_tags:
        args += ["-map_metadata", "0:s:a:0"]
    return _run([*args, "-f", "ffmetadata", "-"]).stdout.decode("utf-8")


def parse_ffmetadata(text: str) -> tuple[dict[str, str], list[tuple[int, int, str]]]:
    """(global tags with lower-case keys, [(start_ms, end_ms, title)] in file order) from ffmetadata."""
    tags: dict[str, str] = {}
    chapters: list[dict[str, str]] = []
    section = tags
    for line in re.split(r"(?<!\\)\n", text):
        if not line or line.startswith((";", "#")):
            continue
        if line == "[CHAPTER]":
            chapters.append({})
            section = chapters[-1]
            continue
        if line.startswith("["):  # [STREAM] and friends: not needed here
            section = {}
            continue
        key, _, value = line.partition("=")
        section[key.lower()] = re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)
    spans = []
    for ch in chapters:
        num, den = (int(v) for v in ch.get("timebase", "1/1000").split("/"))
        to_ms = 1000 * num / den
        spans.append((round(int(ch["start"]) * to_ms), round(int(ch["end"]) * to_ms), ch.get("title", "")))
    return tags, spans


def rms_db(x: np.ndarray) -> float:
    """RMS level in dBFS over all samples and channels (a full-scale sine is about -3 dB)."""
    power = float(np.mean(np.square(np.asarray(x, dtype=np.float64)))) if np.size(x) else 0.0
    return 10.0 * np.log10(power) if power > 0 else SILENCE_DB


def windows_rms_db(x: np.ndarray, rate: int, window_ms: int) -> np.ndarray:
    """RMS in dBFS of consecutive, non-overlapping windows (whole windows only; channels pooled)."""
    frames = np.asarray(x, dtype=np.float64)
    if frames.ndim == 1:
        frames = frames[:, np.newaxis]
    size = rate * window_ms // 1000
    count = len(frames) // size
    power = np.square(frames[: count * size]).reshape(count, -1).mean(axis=1)
    return np.where(power > 0, 10.0 * np.log10(np.maximum(power, 1e-300)), SILENCE_DB)
