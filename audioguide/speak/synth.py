"""Stage 3, speak: synthesize every distinct phrase once (cached, in parallel) into clips of exact length."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import cast

import numpy as np

from audioguide.errors import CacheError, EngineUnavailable, SpeechError
from audioguide.model.clip import Clip
from audioguide.model.voice import VoiceProfile
from audioguide.speak.cache import SpeechCache, speech_key
from audioguide.speak.clips import load_recording, postprocess
from audioguide.speak.engines import make_engine, resolve_engine_name
from audioguide.speak.engines.base import engine_fix, speech_timeout_s
from audioguide.speak.packs import check_pack, find_recording
from audioguide.speak.wire import receive, send
from audioguide.units import SAMPLE_RATE

Progress = Callable[[int, int], None]


WATCHDOG_GRACE_S = 10.0
"""A worker gets up to this long (at most the phrase timeout again) beyond the phrase timeout before
the parent kills it: the worker itself kills a hung phrase at the timeout; this bounds a worker
that hangs anywhere else (starting its engine, or where fork is unavailable)."""


class _Worker:
    """One speech worker subprocess (see ``audioguide.speak.worker``), watched by a timer."""

    def __init__(self, engine_name: str, timeout_s: float) -> None:

        self.engine_name = engine_name
        self.limit_s = timeout_s + min(WATCHDOG_GRACE_S, timeout_s)
        self.killed = threading.Event()
        # One thread per worker keeps BLAS and OpenMP from starting thread pools, so the
        # worker can fork a child per phrase safely. Its own session (process group) lets us
        # kill it together with a phrase child it forked, should it hang.
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audioguide.speak.worker", engine_name, repr(timeout_s)],
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
            raise EngineUnavailable(
                f"the {engine_name} speech worker failed to start; {engine_fix(engine_name)}"
            )
        ok, detail = cast(tuple[bool, object], hello)
        if not ok:
            self.close()
            raise EngineUnavailable(str(detail))

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

    ``recordings`` (default: the profile's) is a voice pack folder (see ``audioguide.speak.packs``);
    recordings never enter the speech cache. ``timeout_s`` bounds each synthesized phrase
    (default: $AUDIOGUIDE_SPEECH_TIMEOUT, else 30 s); an engine that is missing, hangs or
    returns no audio raises SpeechError naming the engine and the fix.
    """

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
            raise CacheError(
                f"the speech cache at {cache.root} lost the clip for {text[:60]!r} as it was written; "
                "is another program clearing it? Point AUDIOGUIDE_CACHE at another folder"
            )
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
