"""Stage 3, speak: synthesize every distinct phrase once (cached, in parallel) into clips of exact length."""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from audioguide.errors import CacheError, EngineUnavailable, SpeechError
from audioguide.model.clip import Clip
from audioguide.model.voice import VoiceProfile
from audioguide.speak.cache import SpeechCache, speech_key
from audioguide.speak.clips import load_recording, postprocess
from audioguide.speak.engines import make_engine, resolve_engine_name
from audioguide.speak.engines.base import engine_fix, speech_timeout_s
from audioguide.speak.engines.isolate import CAN_FORK
from audioguide.speak.packs import check_pack, find_recording
from audioguide.speak.wire import receive, send
from audioguide.units import SAMPLE_RATE

Progress = Callable[[int, int], None]


WATCHDOG_GRACE_S = 10.0
"""A worker gets up to this long (at most the phrase timeout again) beyond the phrase timeout before
the parent kills it: the worker itself kills a hung phrase at the timeout; this bounds a worker
that hangs anywhere else (starting its engine, or where fork is unavailable)."""


WORKER_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}
"""glibc's allocator settings for speech workers (unless the environment sets its own): finishing a
phrase allocates several arrays of a megabyte or more, which glibc served with fresh pages from the
system and returned after each clip (15,000-24,000 page faults per eSpeak worker over the flagship);
kept for reuse instead, 3,600-8,000. Other C libraries ignore these variables."""


class _GroupKilled(Exception):
    """A worker died because a sibling's phrase hung; that sibling's thread reports the timeout."""


class _Worker:
    """One speech worker process (see ``audioguide.speak.worker``), watched by a timer.

    ``siblings`` more workers are forked by this one once its engine is loaded (``siblings()`` returns
    them), so a model is read once however many workers speak: a second hibari worker of its own
    cost 0.8 CPU s to start. They share its process group, and so die with it."""

    def __init__(self, engine_name: str, timeout_s: float, siblings: int = 0) -> None:

        self.engine_name = engine_name
        self.limit_s = timeout_s + min(WATCHDOG_GRACE_S, timeout_s)
        self.killed = threading.Event()
        self.hung = threading.Event()  # a watchdog of this group fired: shared with the siblings
        self.leader: _Worker | None = None  # for a sibling: the worker that forked it
        # Each sibling's pipes: the ends the worker keeps (request read, reply write), and ours.
        pipes = [(os.pipe(), os.pipe()) for _ in range(siblings)]
        theirs = [(request[0], reply[1]) for request, reply in pipes]
        # One thread per worker keeps BLAS and OpenMP from starting thread pools, so the
        # worker can fork a child per phrase safely. Its own session (process group) lets us
        # kill it together with a phrase child it forked, should it hang.
        env = dict(WORKER_MALLOC, **os.environ)
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
        argv = [sys.executable, "-m", "audioguide.speak.worker", engine_name, repr(timeout_s)]
        if theirs:
            argv.append(",".join(f"{r}:{w}" for r, w in theirs))
        started = False
        try:
            self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                start_new_session=os.name == "posix",
                pass_fds=[fd for pair in theirs for fd in pair],
            )
            started = True
        finally:
            for fd in (fd for pair in theirs for fd in pair):
                os.close(fd)
            if not started:
                for request, reply in pipes:
                    os.close(request[1])
                    os.close(reply[0])
        self.requests: BinaryIO = self.proc.stdin  # type: ignore[assignment]
        self.replies: BinaryIO = self.proc.stdout  # type: ignore[assignment]
        self._siblings = [
            _Worker._sibling(self, os.fdopen(request[1], "wb"), os.fdopen(reply[0], "rb"))
            for request, reply in pipes
        ]
        try:
            self._hello()
        except BaseException:
            for sibling in self._siblings:
                sibling._close_pipes()
            raise

    @classmethod
    def _sibling(cls, leader: _Worker, requests: BinaryIO, replies: BinaryIO) -> _Worker:
        worker = cls.__new__(cls)
        worker.engine_name, worker.limit_s = leader.engine_name, leader.limit_s
        worker.killed, worker.hung = threading.Event(), leader.hung
        worker.leader, worker.proc, worker._siblings = leader, None, []
        worker.requests, worker.replies = requests, replies
        return worker

    def siblings(self) -> list[_Worker]:
        """The workers this one forked, each after its hello (an error if one did not say it)."""
        try:
            for sibling in self._siblings:
                sibling._hello()
        except BaseException:
            for sibling in self._siblings:  # none is handed out: our ends of every pipe are closed
                sibling._close_pipes()
            raise
        return list(self._siblings)

    def _hello(self) -> None:
        engine_name = self.engine_name
        hello = self._watched(lambda: receive(self.replies))
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
        timer = threading.Timer(self.limit_s, self._expire)
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
            send(self.requests, (text, key, settings, cache_root))
            return receive(self.replies)

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
            if self.hung.is_set():  # killed with the group for another worker's hung phrase
                raise _GroupKilled
            raise SpeechError(
                f"the {self.engine_name} speech worker died while speaking {text[:60]!r}; "
                f"{engine_fix(self.engine_name)}"
            )
        ok, value = cast(tuple[bool, object], reply)
        if not ok:
            raise SpeechError(str(value))

    def _expire(self) -> None:
        """The watchdog: this worker took too long. Its whole group dies with it."""
        self.hung.set()
        self.kill()

    def kill(self) -> None:
        """Stop the worker and anything it forked, now (a sibling: its whole process group)."""

        self.killed.set()
        proc = self.proc if self.leader is None else self.leader.proc
        if proc is None or proc.returncode is not None:
            return  # already reaped: its process group id may belong to someone else by now
        if os.name == "posix":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        else:
            with contextlib.suppress(OSError):
                proc.kill()

    def close(self) -> None:
        """Let the worker finish (end of its input); kill it if it does not within a few seconds.
        Close the siblings before the worker that forked them: it waits for them to end."""

        with contextlib.suppress(OSError):
            self.requests.close()
        if self.proc is None:  # a sibling: it has ended once its end of our reply pipe closes
            ready, _, _ = select.select([self.replies], [], [], 5)
            if not ready or self.replies.read(1):
                self.kill()
        else:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            self.replies.close()

    def _close_pipes(self) -> None:
        for stream in (self.requests, self.replies):
            with contextlib.suppress(OSError):
                stream.close()


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

    # With fork, one worker loads the engine and forks the others (see _Worker); they wait for it.
    forked = CAN_FORK and count > 1
    handed: queue.Queue[_Worker | None] = queue.Queue()
    leader: list[_Worker] = []

    def start(index: int) -> _Worker | None:
        if not forked:
            return _Worker(engine_name, timeout_s)
        if index > 0:
            return handed.get()
        try:
            first = _Worker(engine_name, timeout_s, siblings=count - 1)
            leader.append(first)
            with lock:
                workers.append(first)  # killable from here on, siblings included
            for sibling in first.siblings():
                handed.put(sibling)
        finally:
            for _ in range(count - 1):
                handed.put(None)  # surplus, or every sibling's share when the start failed
        return first

    def run(index: int) -> None:
        try:
            worker = start(index)
        except BaseException as exc:
            results.put(("", "", exc))
            return
        if worker is None:
            return
        with lock:
            if worker not in workers:
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
                except _GroupKilled:
                    return
                except BaseException as exc:
                    results.put((text, key, exc))
                    return
        finally:
            if worker not in leader:  # the leader waits for its siblings: it is closed last, below
                worker.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
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
        for first in leader:
            first.close()
