"""A speech worker process, ``python -m audioguide.speak.worker ENGINE [TIMEOUT_S [R:W,...]]``: it
speaks the phrases sent on stdin.

Each R:W is a pair of inherited pipe descriptors (requests in, replies out) for a sibling worker:
once the engine is loaded the worker forks one sibling per pair, which speaks over those pipes, so
the model is read once for all of them. The worker waits for its siblings before it exits.

Protocol: each request and reply is a 4-byte little-endian length and a pickle.
The first reply is the hello: (True, engine name) or (False, message) when the
engine cannot start. Request: (text, key, settings, cache folder). Reply: (True, None)
once the finished clip is in the cache, or (False, message naming the engine and the
fix). The worker keeps one loaded engine and speaks each phrase in a forked child
(see ``isolate``) that is killed after TIMEOUT_S, so every phrase starts from the same
engine state and a hung engine costs bounded time (an engine that is ``stateless``, or
``repeatable`` with the phrase's settings, speaks every phrase in one child, replaced after
a failure); it post-processes and stores the clip itself, so that work runs in parallel too.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np

from audioguide.errors import AudioguideError, CacheError
from audioguide.speak.cache import SpeechCache
from audioguide.speak.clips import postprocess
from audioguide.speak.engines import make_engine
from audioguide.speak.engines.base import engine_fix, speech_timeout_s
from audioguide.speak.engines.isolate import PhraseRunner
from audioguide.speak.wire import receive, send
from audioguide.units import SAMPLE_RATE


def main(argv: list[str]) -> int:
    # Replies go to a private copy of stdout; fd 1 itself is pointed at stderr so
    # that nothing an engine prints can corrupt the protocol.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)

    name = argv[0] if argv else "auto"
    pairs = [_fd_pair(pair) for pair in argv[2].split(",")] if len(argv) > 2 else []
    requests: BinaryIO = sys.stdin.buffer
    try:
        timeout_s = speech_timeout_s(float(argv[1]) if len(argv) > 1 else None)
        engine = make_engine(name)
        load = getattr(engine, "load", None)
        if callable(load):  # engines with a model read it now, so a model that cannot load fails the hello
            load()
        # Not the identity: the parent has it for the cache keys, and hibari's hashes 15 MB (40 ms).
        hello = str(getattr(engine, "name", name))
    except AudioguideError as exc:
        send(replies, (False, str(exc)))
        return 1
    except Exception as exc:  # a broken engine class: report it, do not die without a word
        send(replies, (False, f"the speech engine '{name}' failed to start: {type(exc).__name__}: {exc}"))
        return 1
    siblings: list[int] = []
    is_sibling = False
    for index, (read_fd, write_fd) in enumerate(pairs):
        try:
            pid = os.fork()
        except OSError as exc:  # no memory or too many processes: say so in the hello, no traceback
            send(replies, (False, f"cannot start {len(pairs) + 1} speech workers: {exc}"))
            return 1
        if pid == 0:  # a sibling: these pipes are its own, the rest are not
            for other, (r, w) in enumerate(pairs):
                if other != index:
                    os.close(r)
                    os.close(w)
            replies.close()
            requests.close()
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            requests, replies = os.fdopen(read_fd, "rb"), os.fdopen(write_fd, "wb")
            is_sibling = True
            break
        siblings.append(pid)
    else:
        for read_fd, write_fd in pairs:
            os.close(read_fd)
            os.close(write_fd)
    code = 1
    try:
        send(replies, (True, hello))
        code = _run(engine, name, requests, replies, timeout_s)
    finally:
        if is_sibling:  # a fork of the worker: leave without running the interpreter's exit twice
            with contextlib.suppress(Exception):
                replies.flush()
            os._exit(code)
        for pid in siblings:  # they end when their requests do
            os.waitpid(pid, 0)
    return code


def _fd_pair(text: str) -> tuple[int, int]:
    read_fd, write_fd = text.split(":")
    return int(read_fd), int(write_fd)


def _run(engine: object, name: str, requests: BinaryIO, replies: BinaryIO, timeout_s: float) -> int:
    fix = engine_fix(getattr(engine, "name", name))
    # A long-lived phrase child must not hold this worker's pipes to the parent open.
    runners = {
        True: PhraseRunner(
            engine.synthesize,  # type: ignore[attr-defined]
            reuse=True,
            close_fds=(replies.fileno(), requests.fileno()),
        ),
        False: PhraseRunner(engine.synthesize, reuse=False),  # type: ignore[attr-defined]
    }
    try:
        return _serve(engine, name, fix, runners, requests, replies, timeout_s)
    finally:
        runners[True].close()


def _repeats(engine: object, settings: dict[str, object]) -> bool:
    """Whether ``engine`` speaks the same samples for a phrase with ``settings`` whatever it said
    before (see Engine): then one long-lived child speaks them all."""
    if getattr(engine, "stateless", False):
        return True
    repeatable: Callable[[dict[str, object]], bool] | None = getattr(engine, "repeatable", None)
    return repeatable is not None and bool(repeatable(settings))


def _serve(
    engine: object,
    name: str,
    fix: str,
    runners: dict[bool, PhraseRunner],
    requests: BinaryIO,
    replies: BinaryIO,
    timeout_s: float,
) -> int:
    prepare: Callable[[dict[str, object]], None] | None = getattr(engine, "prepare", None)
    repeats: dict[str, bool] = {}  # by the settings' repr: speak() sends one profile's to every phrase
    while True:
        message = receive(requests)
        if message is None:
            return 0
        text, key, settings, cache_root = cast(tuple[str, str, dict[str, object], str], message)
        what = f"the {getattr(engine, 'name', name)} engine speaking {text[:60]!r}"
        try:
            if prepare is not None:  # once, before the first phrase child is forked (see Engine)
                ready, prepare = prepare, None
                ready(settings)
            known = repr(sorted(settings.items()))
            if known not in repeats:
                repeats[known] = _repeats(engine, settings)
            pcm, rate = runners[repeats[known]](text, settings, timeout_s=timeout_s, what=what)
            try:
                clip = postprocess(np.frombuffer(pcm, dtype="<i2"), rate)
            except AudioguideError as exc:
                raise type(exc)(f"{what}: {exc}") from None
            SpeechCache(Path(cache_root)).put(key, clip, SAMPLE_RATE)
            send(replies, (True, None))
        except CacheError as exc:  # about the cache folder: the engine's fix would mislead
            send(replies, (False, str(exc)))
        except AudioguideError as exc:
            send(replies, (False, f"{exc}; {fix}"))
        except Exception as exc:  # e.g. an engine that returned something other than PCM bytes
            send(replies, (False, f"{what} failed: {type(exc).__name__}: {exc}; {fix}"))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
