"""Run one utterance in a forked child: fresh engine state every time, bounded time, no stray output.

eSpeak NG keeps state between utterances (the same text comes out a few samples
longer or shorter depending on what was said before), so two builds would differ
with the order or the worker count. A child forked from a worker that has loaded
the engine but never spoken starts from the same state every time, which makes
synthesis bit-exact. The child also keeps engines' prints off our stdout and lets
us kill an engine that hangs.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from audioguide.errors import SpeechError

CAN_FORK = hasattr(os, "fork") and sys.platform != "darwin"  # macOS system frameworks are not fork-safe


def run_isolated(fn: Callable[..., Any], *args: Any, timeout_s: float, what: str) -> Any:
    """Call ``fn(*args)`` in a forked child and return its result; SpeechError on failure or timeout.

    ``what`` starts every error message (e.g. "espeak speaking 'Hello.'"). The result must be
    picklable. Where fork is unavailable the call runs in this process, unbounded: callers that
    need a bound there (the speech workers) keep their own watchdog.
    """
    if not CAN_FORK:
        return fn(*args)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(read_fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)  # engines such as pyttsx3 print; stdout is not theirs
            try:
                payload: tuple[bool, Any] = (True, fn(*args))
            except BaseException as exc:  # report every failure to the parent, never die silently
                payload = (False, f"{type(exc).__name__}: {exc}")
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout_s
    finished = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SpeechError(
                    f"{what} did not finish within {timeout_s:g} s: the speech engine hung "
                    "(AUDIOGUIDE_SPEECH_TIMEOUT sets this limit)"
                )
            ready, _, _ = select.select([read_fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(read_fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        finished = True
    finally:
        os.close(read_fd)
        if not finished:  # timed out or interrupted: the child must not outlive us
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
    if not chunks:
        raise SpeechError(f"{what} failed: the speech process exited ({_describe(status)}) without audio")
    ok, value = pickle.loads(b"".join(chunks))
    if not ok:
        raise SpeechError(f"{what} failed: {value}")
    return value


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"
