"""Run utterances in a forked child: fresh engine state where it matters, bounded time, no stray output.

An engine may keep state between utterances (eSpeak NG's Klatt voices: the same text comes out
a few samples longer or shorter depending on what was said before), so two builds would differ
with the order or the worker count. A child forked from a worker that has loaded the engine but
never spoken starts from the same state every time, which makes synthesis bit-exact. The child
also keeps engines' prints off our stdout and lets us kill an engine that hangs.

An engine whose output does not depend on what it said before (``stateless``, e.g. hibari, or
``repeatable`` with the settings, e.g. eSpeak NG where it rewinds its state) speaks every phrase in
one long-lived child instead (``PhraseRunner(reuse=True)``), replaced only after a failure or a
timeout: a fresh child per phrase re-faulted the model's working memory each time (copy-on-write),
which doubled the neural voice's CPU seconds (6.1 s against 2.85 s in one process for the flagship's
102 phrases), and cost eSpeak NG 0.5 CPU s over its 0.4 s of synthesis.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import select
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

from audioguide.errors import SpeechError

CAN_FORK = hasattr(os, "fork") and sys.platform != "darwin"  # macOS system frameworks are not fork-safe
_LENGTH = struct.Struct("<I")  # a long-lived child's messages: length, then a pickle


def _fork(*fds: int, what: str) -> int:
    """``os.fork()``; if the system refuses (no memory, too many processes), the pipes made for the
    child are closed and SpeechError says so, rather than four descriptors leaking per phrase."""
    try:
        return os.fork()
    except OSError as exc:
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)
        raise SpeechError(f"{what}: the system could not start a process ({exc})") from None


def run_isolated(fn: Callable[..., Any], *args: Any, timeout_s: float, what: str) -> Any:
    """Call ``fn(*args)`` in a forked child and return its result; SpeechError on failure or timeout.

    ``what`` starts every error message (e.g. "espeak speaking 'Hello.'"). The result must be
    picklable. Where fork is unavailable the call runs in this process, unbounded: callers that
    need a bound there (the speech workers) keep their own watchdog.
    """
    if not CAN_FORK:
        return fn(*args)
    read_fd, write_fd = os.pipe()
    pid = _fork(read_fd, write_fd, what=what)
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


class PhraseRunner:
    """Calls ``fn(*args)`` in a forked child with a timeout, like ``run_isolated``; with ``reuse`` the
    child stays for the next calls (its engine state carries over, so only for engines that repeat)
    and is replaced after any failure or timeout. ``close_fds``: descriptors of the caller's that a
    long-lived child must not hold open (a worker's pipes to its parent, so that the parent sees
    the worker end). Call ``close()`` when done: the child then exits (it also does when this
    process ends, as its request pipe closes)."""

    def __init__(self, fn: Callable[..., Any], *, reuse: bool, close_fds: Iterable[int] = ()) -> None:
        self.fn = fn
        self.reuse = reuse and CAN_FORK
        self.close_fds = tuple(close_fds)
        self._child: tuple[int, int, int] | None = None  # pid, request fd (write), reply fd (read)

    def __call__(self, *args: Any, timeout_s: float, what: str) -> Any:
        if not self.reuse:
            return run_isolated(self.fn, *args, timeout_s=timeout_s, what=what)
        if self._child is None:
            self._child = self._start()
        _, request_fd, reply_fd = self._child
        ok = False
        try:
            try:
                _write_all(request_fd, pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL))
                data = _read_message(reply_fd, time.monotonic() + timeout_s)
            except TimeoutError:
                raise SpeechError(
                    f"{what} did not finish within {timeout_s:g} s: the speech engine hung "
                    "(AUDIOGUIDE_SPEECH_TIMEOUT sets this limit)"
                ) from None
            except OSError:  # the child is gone: a broken request pipe
                data = None
            if data is None:
                status = self._stop(kill=True)
                raise SpeechError(
                    f"{what} failed: the speech process exited ({_describe(status)}) without audio"
                )
            success, value = pickle.loads(data)
            if not success:
                raise SpeechError(f"{what} failed: {value}")
            ok = True
            return value
        finally:
            if not ok:  # a failed or timed-out child is not trusted with the next phrase
                self._stop(kill=True)

    def close(self) -> None:
        """Let a long-lived child exit (end of its requests); it is killed if it does not at once."""
        self._stop(kill=False)

    def _start(self) -> tuple[int, int, int]:
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        pid = _fork(request_r, request_w, reply_r, reply_w, what="starting a speech process")
        if pid == 0:  # child: answer requests until the request pipe closes
            code = 0
            try:
                os.close(request_w)
                os.close(reply_r)
                for fd in self.close_fds:
                    with contextlib.suppress(OSError):
                        os.close(fd)
                devnull = os.open(os.devnull, os.O_RDWR)
                os.dup2(devnull, 0)
                os.dup2(devnull, 1)  # engines such as pyttsx3 print; stdout is not theirs
                while True:
                    request = _read_message(request_r, None)
                    if request is None:
                        break
                    try:
                        payload: tuple[bool, Any] = (True, self.fn(*pickle.loads(request)))
                    except BaseException as exc:  # report every failure to the parent, never die silently
                        payload = (False, f"{type(exc).__name__}: {exc}")
                    _write_all(reply_w, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(request_r)
        os.close(reply_w)
        return pid, request_w, reply_r

    def _stop(self, *, kill: bool) -> int:
        """End the child and reap it; its wait status (0 when there was none)."""
        if self._child is None:
            return 0
        pid, request_fd, reply_fd = self._child
        self._child = None
        os.close(request_fd)  # the child reads the end of its requests and exits
        os.close(reply_fd)
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        else:
            for _ in range(100):  # 1 s: an idle child exits at once
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    return status
                time.sleep(0.01)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return os.waitpid(pid, 0)[1]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    """``size`` bytes from ``fd``; None at end of file; TimeoutError past ``deadline`` (monotonic)."""
    chunks: list[bytes] = []
    while size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _read_message(fd: int, deadline: float | None) -> bytes | None:
    head = _read_exactly(fd, _LENGTH.size, deadline)
    if head is None:
        return None
    return _read_exactly(fd, _LENGTH.unpack(head)[0], deadline)
