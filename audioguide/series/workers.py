"""Episode builds across processes: one episode per worker, results back in the caller, clean Ctrl-C.

On an interrupt (or any failure in the caller, such as a progress callback raising) no episode
starts any more; the workers are sent SIGTERM, which a busy worker turns into KeyboardInterrupt so
the build's staged files are deleted on the way out, and an episode that finishes in the grace time
is still handed to ``done`` (so it is recorded). A worker that does not stop in time is killed,
and any staged ``.part`` file it leaves behind is swept up here. Workers also die with their parent
(Linux: PR_SET_PDEATHSIG), so a killed build leaves no process writing episodes.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from audioguide.errors import AudioguideError
from audioguide.export.sidecars import sidecar_paths
from audioguide.fsutil import staged_leftovers
from audioguide.model.routine import Routine
from audioguide.pipeline.build import BuildOptions, build
from audioguide.series.spec import Episode

STOP_GRACE_S = 5.0
"""How long an interrupted worker gets to delete its staged files before it is killed."""

_busy = False  # a worker is inside build(): SIGTERM interrupts it
_stopping = False  # a worker was told to stop: it starts no other episode
_parent = 0  # the pid that started this worker


class EpisodeError(AudioguideError):
    """One episode of a series failed: the message names its file; the exit code is the cause's."""

    def __init__(self, filename: str, message: str, exit_code: int = 1) -> None:
        super().__init__(f"{filename}: {message}")
        self.filename = filename
        self.exit_code = exit_code


@dataclass(frozen=True)
class EpisodeBuilt:
    """What one episode's build wrote: picklable, so it crosses back from a worker process."""

    files: tuple[Path, ...]
    bytes: int
    length_ms: int
    chapters: tuple[tuple[int, int, str], ...]  # (start_ms, end_ms, title)
    seconds: float


class BuildJob(Protocol):
    """One episode to build: the series build's jobs carry more, the workers need these two."""

    @property
    def episode(self) -> Episode: ...

    @property
    def options(self) -> BuildOptions: ...

    @property
    def output(self) -> Path: ...


J = TypeVar("J", bound=BuildJob)


def build_episode(routine: Routine | str | Path, options: BuildOptions) -> EpisodeBuilt:
    """Build one episode (in this process or a worker) and summarise what it wrote."""

    global _busy
    if _stopping:  # told to stop before this one started: never start it
        raise KeyboardInterrupt
    _busy = True
    try:
        started = time.perf_counter()
        result = build(routine, options)
    finally:
        _busy = False  # written: from here on a SIGTERM lets the summary get back, to be recorded
    tl = result.plan.timeline
    return EpisodeBuilt(
        files=tuple(result.files),
        bytes=result.output.stat().st_size,
        length_ms=tl.length_ms,
        chapters=tuple((tl.ms(c.start_sample), tl.ms(c.end_sample), c.title) for c in tl.chapters),
        seconds=time.perf_counter() - started,
    )


def _worker_init(parent: int) -> None:
    # The caller decides when to stop (a terminal's Ctrl-C reaches it too): workers ignore SIGINT,
    # and SIGTERM interrupts a build like Ctrl-C would; an idle worker only notes it and starts
    # nothing more (the pool's shutdown ends it), so the result of one that just finished still
    # gets back. A worker whose parent is gone has nobody to report to: it ends at once.
    global _parent
    _parent = parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)
    _die_with_parent(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(128 + signal.SIGTERM)


def _die_with_parent(signum: int) -> None:
    """Ask Linux to send ``signum`` to this process when its parent dies (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signum, 0, 0, 0)


PR_SET_PDEATHSIG = 1
"""prctl(2) option: the signal a process gets when its parent dies (<linux/prctl.h>)."""


def _on_term(signum: int, frame: Any) -> None:
    global _stopping
    _stopping = True
    if _busy:
        raise KeyboardInterrupt
    if os.getppid() != _parent:
        os._exit(128 + signum)


def default_workers() -> int:
    """Every core: a build keeps about one busy (measured: 10 s of CPU in 9 s for three sessions)."""
    return os.cpu_count() or 1


def run_builds(jobs: Sequence[J], workers: int | None, done: Callable[[J, EpisodeBuilt], None]) -> None:
    """Build each job (``job.episode``, ``job.options``); ``done(job, summary)`` runs here as each finishes.

    With one worker (or one job) the builds run in this process, one after another, each using every
    core for its speech; otherwise ``workers`` (default: ``default_workers()``) episodes at once in
    spawned processes, each with one speech worker.
    """

    count = min(workers or default_workers(), len(jobs))
    if count <= 1:
        try:
            for job in jobs:
                done(job, _guarded(job, build_episode, job.episode.routine, job.options))
        except BaseException:
            sweep_staged([job.output for job in jobs])  # the build cleans up; this is a backstop
            raise
        return
    context = multiprocessing.get_context("spawn")  # no fork: speech engines and threads do not survive it
    pool = ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=_worker_init, initargs=(os.getpid(),)
    )
    pending: dict[Future[EpisodeBuilt], J] = {}
    try:
        for job in jobs:
            pending[pool.submit(build_episode, job.episode.routine, replace(job.options, jobs=1))] = job
        failure: BaseException | None = None
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                job = pending.pop(future)
                try:
                    summary = _guarded(job, future.result)
                except AudioguideError as exc:  # let the running ones finish; start no more
                    failure = failure or exc
                    for other in list(pending):
                        if other.cancel():
                            del pending[other]
                    continue
                done(job, summary)
        if failure is not None:
            raise failure
    except BaseException:
        _stop(pool, pending, done, [job.output for job in jobs])
        raise
    pool.shutdown(wait=True)


def _guarded(job: BuildJob, fn: Callable[..., EpisodeBuilt], *args: Any) -> EpisodeBuilt:
    """``fn(*args)``, with a failure reported as an EpisodeError naming the episode's file."""

    try:
        return fn(*args)
    except AudioguideError as exc:
        raise EpisodeError(job.episode.filename, str(exc), exc.exit_code) from exc
    except BrokenProcessPool as exc:
        raise EpisodeError(job.episode.filename, f"the process building it died ({exc})") from exc


def _stop(
    pool: ProcessPoolExecutor,
    pending: dict[Future[EpisodeBuilt], J],
    done: Callable[[J, EpisodeBuilt], None],
    outputs: Sequence[Path],
) -> None:
    """Start nothing more, stop every worker, record what finishes in the grace time, sweep staging."""
    # ProcessPoolExecutor has no public way to stop running work before Python 3.14, and shutdown
    # forgets its processes: take them first. Its workers are this process's multiprocessing
    # children (speech workers are plain subprocesses, and not among them).
    processes = multiprocessing.active_children()
    for future in pending:
        future.cancel()  # queued ones; those already handed to a worker refuse to start (_stopping)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
    running = [f for f in pending if not f.cancelled()]
    with contextlib.suppress(Exception):
        finished, _ = wait(running, timeout=STOP_GRACE_S)
        for future in finished:  # an episode that got written after all: record it
            if future.exception() is None:
                done(pending[future], future.result())
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()
    sweep_staged(outputs)


def sweep_staged(outputs: Sequence[Path]) -> list[Path]:
    """Delete staged files left beside these outputs: ``.<name>.<random>.part`` and the like.

    staged_path and atomic_write stage ``x.mp3``, ``x.vtt`` and ``x.chapters.json`` as hidden
    ``.x.<random>...part`` files beside them, and a staged file may itself be staged again.
    """
    swept = []
    for output in outputs:
        names = [output.name, *(p.name for p in sidecar_paths(output).values())]
        for path in staged_leftovers(output.parent, names):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                swept.append(path)
    return swept
