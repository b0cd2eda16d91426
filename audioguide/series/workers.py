"""Episode builds across processes: one episode per worker, results back in the caller, clean Ctrl-C.

On an interrupt (or any failure in the caller, such as a progress callback raising) the workers
are stopped with SIGTERM, which a busy worker turns into KeyboardInterrupt so the build's staged
files are deleted on the way out; a worker that does not finish in time is killed, and any staged
``.part`` file it leaves behind is swept up here.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol, TypeVar

from audioguide.errors import AudioguideError
from audioguide.model.routine import Routine
from audioguide.pipeline.build import BuildOptions, build
from audioguide.series.spec import Episode

STOP_GRACE_S = 5.0
"""How long an interrupted worker gets to delete its staged files before it is killed."""

_busy = False


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
    _busy = True
    try:
        started = time.perf_counter()
        result = build(routine, options)
        tl = result.plan.timeline
        return EpisodeBuilt(
            files=tuple(result.files),
            bytes=result.output.stat().st_size,
            length_ms=tl.length_ms,
            chapters=tuple((tl.ms(c.start_sample), tl.ms(c.end_sample), c.title) for c in tl.chapters),
            seconds=time.perf_counter() - started,
        )
    finally:
        _busy = False


def _worker_init() -> None:
    # The caller decides when to stop (a terminal's Ctrl-C reaches it too): workers ignore SIGINT,
    # and SIGTERM interrupts a build like Ctrl-C would, or ends an idle worker quietly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_term)


def _on_term(signum: int, frame: Any) -> None:
    if _busy:
        raise KeyboardInterrupt
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
    pool = ProcessPoolExecutor(max_workers=count, mp_context=context, initializer=_worker_init)
    try:
        pending: dict[Future[EpisodeBuilt], J] = {
            pool.submit(build_episode, job.episode.routine, replace(job.options, jobs=1)): job for job in jobs
        }
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
        _stop(pool, [job.output for job in jobs])
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


def _stop(pool: ProcessPoolExecutor, outputs: Sequence[Path]) -> None:
    """Stop every worker now, give busy ones time to clean up, and leave no staged file behind."""
    # ProcessPoolExecutor has no public way to stop running work before Python 3.14, and shutdown
    # forgets its processes: take them first. Its workers are this process's multiprocessing
    # children (speech workers are plain subprocesses, and not among them).
    processes = multiprocessing.active_children()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    deadline = time.monotonic() + STOP_GRACE_S
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
        prefix = f"{output.stem}."
        for path in output.parent.glob(".*.part"):
            if path.name.lstrip(".").startswith(prefix):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    swept.append(path)
    return swept
