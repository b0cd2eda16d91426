"""The portable pyttsx3 engine (SAPI5, NSSpeechSynthesizer, eSpeak), wrapped against its known pitfalls.

Pitfalls handled (all seen with pyttsx3's eSpeak driver on Linux):
- each utterance runs in its own forked child that creates the engine after the fork
  (an engine that exists before ``fork`` hangs the child), and nothing it prints reaches us;
- exactly one ``save_to_file`` per ``runAndWait``, with properties set in the same batch,
  so a property change never races with the previous utterance;
- the output folder exists before synthesis (a missing one hangs the driver);
- the first ``runAndWait`` may return before the file is written: we wait for a complete
  file, running the loop again if needed, within a deadline;
- a hang is bounded by the caller's timeout (the child is killed).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
import time
from pathlib import Path

from ..errors import SpeechError

WRITE_DEADLINE_S = 20.0


def _make_espeak_findable() -> None:
    """Let pyttsx3's eSpeak driver find the wheel's libespeak-ng (it loads it by soname)."""
    from . import espeak

    found = espeak._bundled()
    if found is None or espeak.library_path() != found:
        return  # the system library is there, or nothing is: pyttsx3 finds it (or fails) on its own
    lib, data = found
    os.environ.setdefault("ESPEAK_DATA_PATH", data)
    # glibc matches an already-loaded library by its soname, so pyttsx3's
    # LoadLibrary('libespeak-ng.so.1') now resolves to the bundled copy.
    ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)


class Pyttsx3Engine:
    """Speech through pyttsx3; synthesizes to a WAV file and reads it back."""

    name = "pyttsx3"

    def __init__(self) -> None:
        try:
            import pyttsx3  # noqa: F401
        except ImportError as exc:
            raise SpeechError("pyttsx3 is not installed: run 'make setup'") from exc
        if os.name == "posix":
            _make_espeak_findable()

    def identity(self) -> str:
        from importlib.metadata import version

        return f"pyttsx3 {version('pyttsx3')}"

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        import pyttsx3

        with tempfile.TemporaryDirectory(prefix="audioguide-pyttsx3-") as tmp:
            out = Path(tmp) / "utterance.wav"  # the folder exists: a missing one hangs the driver
            try:
                engine = pyttsx3.init()
            except Exception as exc:
                raise SpeechError(f"pyttsx3 could not start a speech driver: {exc}") from exc
            _apply(engine, settings)
            engine.save_to_file(text, str(out))
            engine.runAndWait()
            deadline = time.monotonic() + WRITE_DEADLINE_S
            while not _complete(out):
                if time.monotonic() > deadline:
                    raise SpeechError(f"pyttsx3 wrote no audio for {text!r}")
                engine.runAndWait()  # the first loop can return before the file is written
                time.sleep(0.02)
            return _read(out)


def _apply(engine: object, settings: dict[str, object]) -> None:
    set_prop = engine.setProperty  # type: ignore[attr-defined]
    set_prop("rate", int(settings.get("rate", 150)))  # type: ignore[call-overload]
    set_prop("volume", max(0.0, min(1.0, float(settings.get("volume", 1.0)))))  # type: ignore[arg-type]
    wanted = str(settings.get("voice", "")).lower()
    if wanted:
        for voice in engine.getProperty("voices"):  # type: ignore[attr-defined]
            langs = [str(x).lower() for x in (getattr(voice, "languages", None) or [])]
            if (
                wanted in (str(voice.id).lower(), str(voice.name).lower())
                or wanted in langs
                or str(voice.id).lower().endswith("/" + wanted)
            ):
                set_prop("voice", voice.id)
                break
    with contextlib.suppress(KeyError, AttributeError, TypeError, ValueError):  # not every driver has pitch
        set_prop("pitch", int(settings.get("pitch", 50)))  # type: ignore[call-overload]


def _complete(path: Path) -> bool:
    """True once the file holds a whole WAV/AIFF (its size stops changing and it decodes)."""
    if not path.exists() or path.stat().st_size < 64:
        return False
    size = path.stat().st_size
    time.sleep(0.01)
    if path.stat().st_size != size:
        return False
    try:
        import soundfile

        info = soundfile.info(str(path))
    except Exception:
        return False
    return info.frames > 0


def _read(path: Path) -> tuple[bytes, int]:
    import numpy as np
    import soundfile

    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    mono = data.mean(axis=1).round().astype("<i2") if data.shape[1] > 1 else data[:, 0].astype("<i2")
    if not np.any(mono):
        raise SpeechError("pyttsx3 returned silence")
    return mono.tobytes(), int(rate)
