"""A speech worker process: ``python -m audioguide.speech.worker ENGINE`` speaks phrases sent on stdin.

Protocol: each request and reply is a 4-byte little-endian length and a pickle.
Request: (text, key, settings, cache folder). Reply: (True, None) once the finished
clip is in the cache, or (False, message). The worker keeps one loaded engine and
speaks each phrase in a forked child (see ``isolate``), so every phrase starts from
the same engine state; it post-processes and stores the clip itself, so that work
runs in parallel too.
"""

from __future__ import annotations

import os
import pickle
import struct
import sys
from typing import BinaryIO

LENGTH = struct.Struct("<I")
PHRASE_TIMEOUT_S = 30.0


def send(stream: BinaryIO, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(LENGTH.pack(len(data)) + data)
    stream.flush()


def receive(stream: BinaryIO) -> object | None:
    """The next message, or None at end of stream."""
    head = stream.read(LENGTH.size)
    if len(head) < LENGTH.size:
        return None
    (size,) = LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def main(argv: list[str]) -> int:
    # Replies go to a private copy of stdout; fd 1 itself is pointed at stderr so
    # that nothing an engine prints can corrupt the protocol.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    from pathlib import Path

    import numpy as np

    from ..cache import SpeechCache
    from ..errors import AudioguideError
    from ..speak import postprocess
    from ..units import SAMPLE_RATE
    from . import make_engine
    from .isolate import run_isolated

    try:
        engine = make_engine(argv[0] if argv else "auto")
        send(replies, (True, engine.identity()))
    except AudioguideError as exc:
        send(replies, (False, str(exc)))
        return 1
    requests = sys.stdin.buffer
    while True:
        message = receive(requests)
        if message is None:
            return 0
        text, key, settings, cache_root = message  # type: ignore[misc]
        what = f"{engine.name} speaking {text[:60]!r}"
        try:
            pcm, rate = run_isolated(engine.synthesize, text, settings, timeout_s=PHRASE_TIMEOUT_S, what=what)
            try:
                clip = postprocess(np.frombuffer(pcm, dtype="<i2"), rate)
            except AudioguideError as exc:
                raise type(exc)(f"{what}: {exc}") from None
            SpeechCache(Path(cache_root)).put(key, clip, SAMPLE_RATE)
            send(replies, (True, None))
        except AudioguideError as exc:
            send(replies, (False, str(exc)))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
