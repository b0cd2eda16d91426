"""The portable pyttsx3 engine (SAPI5, NSSpeechSynthesizer, eSpeak), wrapped against its known pitfalls.

Pitfalls handled (all seen with pyttsx3's eSpeak driver on Linux):
- each utterance runs in its own forked child that creates the engine after the fork
  (an engine that exists before ``fork`` hangs the child), and nothing it prints reaches us;
- exactly one ``save_to_file`` per ``runAndWait``, with properties set in the same batch,
  so a property change never races with the previous utterance;
- the output folder exists before synthesis (a missing one hangs the driver);
- the first ``runAndWait`` may return before the file is written: we wait, within a deadline,
  until the file is as long as its header says (running the loop again would restart the
  utterance), and the driver's last chunk of audio is kept (see ``_fix_espeak_driver_tail``);
- a hang is bounded by the caller's timeout (the child is killed).

Known and not yet fixed: on a busy Linux machine the eSpeak driver now and then still saves
a clip missing about its last quarter (3 phrases in 200 at --jobs 2; none seen at --jobs 1).
'auto' uses the direct libespeak-ng engine on Linux, which has no such race.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from audioguide.errors import SpeechError
from audioguide.speak.engines import espeak
from audioguide.speak.engines.isolate import run_isolated

WRITE_DEADLINE_S = 20.0


def _make_espeak_findable() -> None:
    """Let pyttsx3's eSpeak driver find the wheel's libespeak-ng (it loads it by soname)."""

    found = espeak._bundled()
    if found is None or espeak.library_path() != found:
        return  # the system library is there, or nothing is: pyttsx3 finds it (or fails) on its own
    lib, data = found
    os.environ.setdefault("ESPEAK_DATA_PATH", data)
    # glibc matches an already-loaded library by its soname, so pyttsx3's
    # LoadLibrary('libespeak-ng.so.1') now resolves to the bundled copy.
    ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)


def _pyttsx3() -> Any:
    """The pyttsx3 module, or SpeechError with the fix."""
    try:  # imported on use: it picks and loads a platform driver, and only this engine needs it
        import pyttsx3
    except ImportError as exc:
        raise SpeechError("pyttsx3 is not installed: run 'make setup'") from exc
    return pyttsx3


class Pyttsx3Engine:
    """Speech through pyttsx3; synthesizes to a WAV file and reads it back."""

    name = "pyttsx3"

    def __init__(self) -> None:
        _pyttsx3()
        if os.name == "posix":
            _make_espeak_findable()

    def identity(self) -> str:

        return f"pyttsx3 {version('pyttsx3')}"

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        pyttsx3 = _pyttsx3()
        _fix_espeak_driver_tail()
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
                # runAndWait can return while eSpeak is still speaking on its own thread: wait for
                # the file. Never run the loop again: that restarts the utterance and clears the
                # audio gathered so far, which saved clips with their first part missing.
                time.sleep(0.02)
            return _read(out)


def _fix_espeak_driver_tail() -> None:
    """Make pyttsx3's eSpeak driver keep the last chunk of audio.

    Its synth callback writes the WAV file when it sees the end-of-message event, and only
    then appends the samples that came with that same callback, so whenever eSpeak delivers
    the final chunk together with that event the file loses up to a second of speech (the
    last word cut off, and a different length from run to run). Taking the samples first
    keeps every chunk; the driver's own handling of events is unchanged.
    """
    try:  # pyttsx3's eSpeak driver loads libespeak-ng as it is imported: only where it is used
        from pyttsx3.drivers import espeak as driver
    except Exception:  # not the eSpeak driver on this platform, or it cannot load: nothing to fix
        return
    original = driver.EspeakDriver._onSynth
    if getattr(original, "audioguide_keeps_tail", False):
        return

    def on_synth(self: Any, wav: int, numsamples: int, events: object) -> int:
        if numsamples > 0 and getattr(self, "_speaking", False):
            self._data_buffer += ctypes.string_at(wav, numsamples * 2)
            numsamples = 0
        return int(original(self, wav, numsamples, events))

    setattr(on_synth, "audioguide_keeps_tail", True)  # noqa: B010 (a mark on a function object)
    driver.EspeakDriver._onSynth = on_synth


def _apply(engine: object, settings: dict[str, object]) -> None:
    set_prop = engine.setProperty  # type: ignore[attr-defined]
    set_prop("rate", int(settings.get("rate", 150)))  # type: ignore[call-overload]
    set_prop("volume", max(0.0, min(1.0, float(settings.get("volume", 1.0)))))  # type: ignore[arg-type]
    wanted = str(settings.get("voice", "")).strip()
    if wanted:
        voices = list(engine.getProperty("voices"))  # type: ignore[attr-defined]
        set_prop("voice", choose_voice(voices, wanted, espeak_driver=_driver_is_espeak(engine)))
    with contextlib.suppress(KeyError, AttributeError, TypeError, ValueError):  # not every driver has pitch
        set_prop("pitch", int(settings.get("pitch", 50)))  # type: ignore[call-overload]


def _driver_is_espeak(engine: object) -> bool:
    module = getattr(getattr(engine, "proxy", None), "_module", None)
    return str(getattr(module, "__name__", "")).endswith(".espeak")


_CONTROL = "".join(map(chr, range(32)))


def _norm(tag: object) -> str:
    if isinstance(tag, bytes):  # some drivers give eSpeak's raw b"\x05en-us"
        tag = tag.decode(errors="replace").lstrip(_CONTROL)
    return str(tag).strip().lower().replace("_", "-")


def choose_voice(voices: list[object], wanted: str, *, espeak_driver: bool = False) -> str:
    """The id of the voice a profile's ``voice`` names: an id, a name, or a language, with an
    optional eSpeak ``+variant``. On eSpeak the variant is passed through (``gmw/en-us+f3``);
    elsewhere it picks the voice's gender (``+f...`` prefers a female voice). No match is an error,
    never a silent fall-back to some other voice.
    """

    target = wanted.lower()
    for voice in voices:
        vid = str(getattr(voice, "id", ""))
        if target in (vid.lower(), str(getattr(voice, "name", "")).lower()) or vid.lower().endswith(
            "/" + target
        ):
            return vid
    base, plus, variant = target.partition("+")
    matches = [
        v
        for v in voices
        if str(getattr(v, "id", "")).lower() == base
        or str(getattr(v, "id", "")).lower().endswith("/" + base)
        or base in [_norm(x) for x in (getattr(v, "languages", None) or [])]
    ]
    if not matches:
        raise SpeechError(
            f"pyttsx3 has no voice '{wanted}' on this machine; pick one from 'audioguide voices' "
            "(an id, a name or a language such as en-us)"
        )
    if plus and espeak_driver:
        return f"{getattr(matches[0], 'id', '')}+{variant}"
    if plus and variant[:1] in ("f", "m"):
        gender = "female" if variant[0] == "f" else "male"
        for v in matches:
            if str(getattr(v, "gender", "") or "").lower() == gender:
                return str(getattr(v, "id", ""))
    return str(getattr(matches[0], "id", ""))


def list_voices(timeout_s: float = 20.0) -> list[dict[str, str]]:
    """The voices pyttsx3's driver offers here (id, name, language, gender), queried in a forked
    child with a time limit: drivers print, and some hang."""

    voices: list[dict[str, str]] = run_isolated(
        _voices_in_child, timeout_s=timeout_s, what="pyttsx3 listing its voices"
    )
    return voices


def _voices_in_child() -> list[dict[str, str]]:
    pyttsx3 = _pyttsx3()
    if os.name == "posix":
        _make_espeak_findable()
    engine = pyttsx3.init()
    out = []
    for v in engine.getProperty("voices"):
        langs = [_norm(x) for x in (getattr(v, "languages", None) or [])]
        out.append(
            {
                "id": str(v.id),
                "name": str(getattr(v, "name", "") or ""),
                "language": ", ".join(x for x in langs if x),
                "gender": str(getattr(v, "gender", "") or "").lower(),
            }
        )
    return out


def _complete(path: Path) -> bool:
    """True once the file holds the whole recording.

    A RIFF (WAV) or FORM (AIFF) header states the size of everything after it, and the
    drivers write that header before the samples, so the file is whole exactly when it
    is as long as its header says. (Waiting for the size to stop changing is not enough:
    on a busy machine a write can stall long enough to look finished, which cut clips short.)
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
        size = path.stat().st_size
    except OSError:
        return False
    if len(head) < 12:
        return False
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        declared = int.from_bytes(head[4:8], "little")
    elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        declared = int.from_bytes(head[4:8], "big")
    else:
        return False
    return declared > 36 and size >= declared + 8


def _read(path: Path) -> tuple[bytes, int]:

    data, rate = soundfile.read(str(path), dtype="int16", always_2d=True)
    mono = data.mean(axis=1).round().astype("<i2") if data.shape[1] > 1 else data[:, 0].astype("<i2")
    if not np.any(mono):
        raise SpeechError("pyttsx3 returned silence")
    return mono.tobytes(), int(rate)
