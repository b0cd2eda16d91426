"""Stage 3, speak: synthesize every distinct phrase once (cached, in parallel) into clips of exact length."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .cache import SpeechCache, speech_key
from .errors import SpeechError
from .resample import to_44k1
from .units import SAMPLE_RATE
from .voices import VoiceProfile

CLIP_RMS_DBFS = -20.0
"""Every phrase is levelled to this RMS (over its voiced part) so the voice never jumps in level."""
CLIP_PEAK_MAX = 0.95
EDGE_FADE_SAMPLES = 220  # 5 ms raised-cosine fade at both ends of a clip: no clicks
TRIM_FLOOR_DB = -40.0  # leading/trailing audio below this (relative to the clip's peak) is silence
TRIM_KEEP_BEFORE = 441  # keep 10 ms before the first audible sample
TRIM_KEEP_AFTER = 1764  # and 40 ms after the last (soft word endings)
PHRASE_TIMEOUT_S = 30.0

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Clip:
    """One spoken phrase at 44.1 kHz, trimmed, levelled and faded; ``source`` says where it came from."""

    key: str
    text: str
    samples: np.ndarray
    source: str  # "cache", "engine" or "recording"

    @property
    def length_samples(self) -> int:
        return len(self.samples)


def postprocess(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Resample to 44.1 kHz, trim silence, level to CLIP_RMS_DBFS and fade the edges."""
    x = pcm.astype(np.float64)
    if x.size == 0 or not np.any(x):
        raise SpeechError("the speech engine returned silence")
    x = to_44k1(x, rate)
    peak = float(np.max(np.abs(x)))
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (TRIM_FLOOR_DB / 20))
    start = max(0, int(loud[0]) - TRIM_KEEP_BEFORE)
    end = min(len(x), int(loud[-1]) + TRIM_KEEP_AFTER)
    x = x[start:end]
    win = 882  # 20 ms frames for the level measurement
    frames = x[: len(x) // win * win].reshape(-1, win) if len(x) >= win else x.reshape(1, -1)
    energy = np.mean(frames**2, axis=1)
    voiced = energy[energy > energy.max() * 10 ** (-30 / 10)]
    rms = float(np.sqrt(np.mean(voiced)))
    gain = 10 ** (CLIP_RMS_DBFS / 20) / rms
    gain = min(gain, CLIP_PEAK_MAX / float(np.max(np.abs(x))))
    x = x * gain
    n = min(EDGE_FADE_SAMPLES, len(x) // 2)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    x[:n] *= ramp
    x[len(x) - n :] *= ramp[::-1]
    return x.astype(np.float32)


class _Worker:
    """One speech worker subprocess (see ``audioguide.speech.worker``)."""

    def __init__(self, engine_name: str) -> None:
        import subprocess
        import sys

        from .speech.worker import receive

        # One thread per worker keeps BLAS and OpenMP from starting thread pools, so the
        # worker can fork a child per phrase safely.
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audioguide.speech.worker", engine_name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        hello = receive(self.proc.stdout)  # type: ignore[arg-type]
        if hello is None:
            raise SpeechError(f"the {engine_name} speech worker failed to start")
        ok, detail = hello  # type: ignore[misc]
        if not ok:
            raise SpeechError(str(detail))

    def speak(self, text: str, key: str, settings: dict[str, object], cache_root: str) -> None:
        """Have the worker speak ``text`` and store the finished clip in the cache under ``key``."""
        from .speech.worker import receive, send

        try:
            send(self.proc.stdin, (text, key, settings, cache_root))  # type: ignore[arg-type]
            reply = receive(self.proc.stdout)  # type: ignore[arg-type]
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            raise SpeechError(f"the speech worker died while speaking {text[:60]!r}")
        ok, value = reply  # type: ignore[misc]
        if not ok:
            raise SpeechError(str(value))

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except Exception:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


def speak(
    phrases: Iterable[str],
    profile: VoiceProfile,
    *,
    engine: str | None = None,
    cache: SpeechCache | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Clip]:
    """Return a clip for every distinct phrase: recordings first, then the cache, then the engine."""
    from .speech import make_engine, resolve_engine_name

    cache = cache or SpeechCache()
    engine_name = resolve_engine_name(engine or profile.engine)
    eng = make_engine(engine_name)
    identity = eng.identity()
    settings = profile.settings()
    wanted = list(dict.fromkeys(p for p in phrases if p.strip()))
    clips: dict[str, Clip] = {}
    missing: list[tuple[str, str]] = []
    for text in wanted:
        key = speech_key(identity, settings, text)
        samples = cache.get(key, SAMPLE_RATE)
        if samples is not None:
            clips[text] = Clip(key, text, samples, "cache")
        else:
            missing.append((text, key))
    done = len(clips)
    if progress:
        progress(done, len(wanted))

    def stored(text: str, key: str) -> None:
        nonlocal done
        samples = cache.get(key, SAMPLE_RATE)
        if samples is None:
            raise SpeechError(f"the speech cache at {cache.root} lost the clip for {text[:60]!r}")
        clips[text] = Clip(key, text, samples, "engine")
        done += 1
        if progress:
            progress(done, len(wanted))

    if missing and engine_name == "tone":  # instant and stateless: no workers needed
        for text, key in missing:
            pcm, rate = eng.synthesize(text, settings)
            cache.put(key, postprocess(np.frombuffer(pcm, dtype="<i2"), rate), SAMPLE_RATE)
            stored(text, key)
    elif missing:
        _synthesize_parallel(missing, engine_name, settings, str(cache.base), jobs, stored)
    return {text: clips[text] for text in wanted}


def _synthesize_parallel(
    missing: list[tuple[str, str]],
    engine_name: str,
    settings: dict[str, object],
    cache_root: str,
    jobs: int | None,
    stored: Callable[[str, str], None],
) -> None:
    """Speak ``missing`` phrases across worker processes; results are stored as they arrive."""
    import queue
    import threading

    count = max(1, min(jobs or os.cpu_count() or 1, len(missing)))
    todo: queue.Queue[tuple[str, str]] = queue.Queue()
    for item in missing:
        todo.put(item)
    results: queue.Queue[tuple[str, str, BaseException | None]] = queue.Queue()
    stop = threading.Event()

    def run() -> None:
        try:
            worker = _Worker(engine_name)
        except BaseException as exc:
            results.put(("", "", exc))
            return
        try:
            while not stop.is_set():
                try:
                    text, key = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    worker.speak(text, key, settings, cache_root)
                    results.put((text, key, None))
                except BaseException as exc:
                    results.put((text, key, exc))
                    return
        finally:
            worker.close()

    threads = [threading.Thread(target=run, daemon=True) for _ in range(count)]
    for t in threads:
        t.start()
    try:
        received = 0
        while received < len(missing):
            try:
                text, key, outcome = results.get(timeout=1.0)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and results.empty():
                    raise SpeechError(f"the {engine_name} speech workers stopped before finishing") from None
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            stored(text, key)
            received += 1
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
