"""Stage 3, speak: synthesize every distinct phrase once (cached, in parallel) into clips of exact length."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from .cache import SpeechCache, speech_key
from .errors import SpeechError
from .resample import to_44k1
from .speech.base import engine_fix
from .units import SAMPLE_RATE
from .voices import VoiceProfile

CLIP_RMS_DBFS = -20.0
"""Every phrase is levelled to this RMS (over its voiced part) so the voice never jumps in level."""
CLIP_PEAK_MAX = 0.95
EDGE_FADE_SAMPLES = 220  # 5 ms raised-cosine fade at both ends of a clip: no clicks
TRIM_FLOOR_DB = -40.0  # leading/trailing audio below this (relative to the clip's peak) is silence
TRIM_KEEP_BEFORE = 441  # keep 10 ms before the first audible sample
TRIM_KEEP_AFTER = 1764  # and 40 ms after the last (soft word endings)

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
        raise SpeechError("the speech engine returned no audio (empty or all silence)")
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


WATCHDOG_GRACE_S = 10.0
"""A worker gets up to this long (at most the phrase timeout again) beyond the phrase timeout before
the parent kills it: the worker itself kills a hung phrase at the timeout; this bounds a worker
that hangs anywhere else (starting its engine, or where fork is unavailable)."""


def load_recording(text: str, path: Path) -> Clip:
    """A person's recording of ``text``, trimmed and levelled exactly like synthesized clips."""
    from .packs import read_recording, recording_key

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


class _Worker:
    """One speech worker subprocess (see ``audioguide.speech.worker``), watched by a timer."""

    def __init__(self, engine_name: str, timeout_s: float) -> None:
        import subprocess
        import sys

        from .speech.worker import receive

        self.engine_name = engine_name
        self.limit_s = timeout_s + min(WATCHDOG_GRACE_S, timeout_s)
        self.killed = threading.Event()
        # One thread per worker keeps BLAS and OpenMP from starting thread pools, so the
        # worker can fork a child per phrase safely. Its own session (process group) lets us
        # kill it together with a phrase child it forked, should it hang.
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audioguide.speech.worker", engine_name, repr(timeout_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=os.name == "posix",
        )
        hello = self._watched(lambda: receive(self.proc.stdout))  # type: ignore[arg-type]
        if hello is None:
            timed_out = self.killed.is_set()
            self.kill()
            self.close()
            if timed_out:
                raise SpeechError(
                    f"the {engine_name} speech engine did not start within {self.limit_s:g} s; "
                    f"{engine_fix(engine_name)}"
                )
            raise SpeechError(f"the {engine_name} speech worker failed to start; {engine_fix(engine_name)}")
        ok, detail = cast(tuple[bool, object], hello)
        if not ok:
            self.close()
            raise SpeechError(str(detail))

    def _watched(self, fn: Callable[[], object]) -> object:
        timer = threading.Timer(self.limit_s, self.kill)
        timer.daemon = True
        timer.start()
        try:
            return fn()
        finally:
            timer.cancel()
            timer.join()  # no stray thread left behind (a later fork would warn about it)

    def speak(self, text: str, key: str, settings: dict[str, object], cache_root: str) -> None:
        """Have the worker speak ``text`` and store the finished clip in the cache under ``key``."""
        from .speech.worker import receive, send

        def exchange() -> object:
            send(self.proc.stdin, (text, key, settings, cache_root))  # type: ignore[arg-type]
            return receive(self.proc.stdout)  # type: ignore[arg-type]

        try:
            reply = self._watched(exchange)
        except (BrokenPipeError, OSError, ValueError):
            reply = None
        if reply is None:
            if self.killed.is_set():
                raise SpeechError(
                    f"the {self.engine_name} engine speaking {text[:60]!r} did not finish within "
                    f"{self.limit_s:g} s: the speech engine hung; {engine_fix(self.engine_name)}"
                )
            raise SpeechError(
                f"the {self.engine_name} speech worker died while speaking {text[:60]!r}; "
                f"{engine_fix(self.engine_name)}"
            )
        ok, value = cast(tuple[bool, object], reply)
        if not ok:
            raise SpeechError(str(value))

    def kill(self) -> None:
        """Stop the worker and anything it forked, now."""
        import signal

        self.killed.set()
        if self.proc.returncode is not None:
            return  # already reaped: its process group id may belong to someone else by now
        if os.name == "posix":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        else:
            with contextlib.suppress(OSError):
                self.proc.kill()

    def close(self) -> None:
        """Let the worker finish (end of its input); kill it if it does not within a few seconds."""
        import subprocess

        if self.proc.stdin:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            self.proc.wait()
        if self.proc.stdout:
            with contextlib.suppress(OSError):
                self.proc.stdout.close()


def speak(
    phrases: Iterable[str],
    profile: VoiceProfile,
    *,
    engine: str | None = None,
    cache: SpeechCache | None = None,
    jobs: int | None = None,
    progress: Progress | None = None,
    recordings: Path | None = None,
    timeout_s: float | None = None,
) -> dict[str, Clip]:
    """Return a clip for every distinct phrase: recordings first, then the cache, then the engine.

    ``recordings`` (default: the profile's) is a voice pack folder (see ``audioguide.packs``);
    recordings never enter the speech cache. ``timeout_s`` bounds each synthesized phrase
    (default: $AUDIOGUIDE_SPEECH_TIMEOUT, else 30 s); an engine that is missing, hangs or
    returns no audio raises SpeechError naming the engine and the fix.
    """
    from .packs import check_pack, find_recording
    from .speech import make_engine, resolve_engine_name
    from .speech.base import speech_timeout_s

    wanted = list(dict.fromkeys(p for p in phrases if p.strip()))
    clips: dict[str, Clip] = {}
    folder = recordings if recordings is not None else profile.recordings
    if folder is not None:
        check_pack(folder)
        for text in wanted:
            path = find_recording(folder, text)
            if path is not None:
                clips[text] = load_recording(text, path)
    to_speak = [text for text in wanted if text not in clips]
    if not to_speak:  # a complete pack needs no engine at all
        if progress:
            progress(len(clips), len(wanted))
        return {text: clips[text] for text in wanted}

    cache = cache or SpeechCache()
    engine_name = resolve_engine_name(engine or profile.engine)
    limit_s = speech_timeout_s(timeout_s)
    eng = make_engine(engine_name)
    identity = eng.identity()
    settings = profile.settings()
    missing: list[tuple[str, str]] = []
    for text in to_speak:
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
        _synthesize_parallel(missing, engine_name, settings, str(cache.base), jobs, limit_s, stored)
    return {text: clips[text] for text in wanted}


def _synthesize_parallel(
    missing: list[tuple[str, str]],
    engine_name: str,
    settings: dict[str, object],
    cache_root: str,
    jobs: int | None,
    timeout_s: float,
    stored: Callable[[str, str], None],
) -> None:
    """Speak ``missing`` phrases across worker processes; results are stored as they arrive.

    On the first failure every worker is killed at once (with any phrase it is speaking),
    so a hung engine costs one timeout, not one per worker.
    """
    import queue

    count = max(1, min(jobs or os.cpu_count() or 1, len(missing)))
    todo: queue.Queue[tuple[str, str]] = queue.Queue()
    for item in missing:
        todo.put(item)
    results: queue.Queue[tuple[str, str, BaseException | None]] = queue.Queue()
    stop = threading.Event()
    workers: list[_Worker] = []
    lock = threading.Lock()

    def run() -> None:
        try:
            worker = _Worker(engine_name, timeout_s)
        except BaseException as exc:
            results.put(("", "", exc))
            return
        with lock:
            workers.append(worker)
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
    except BaseException:
        stop.set()
        with lock:
            for worker in workers:
                worker.kill()
        raise
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=WATCHDOG_GRACE_S)
