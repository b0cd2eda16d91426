"""The neural voice: hibari-tts, an offline ONNX model distilled from Kokoro-82M, run on onnxruntime.

The wheel carries its voice ("heart", US English, 24 kHz, Apache-2.0) and its own text-to-phoneme
rules (lexicons and a small network for unknown words; no eSpeak), so nothing is downloaded at run
time. Other hibari voices download on first use; this engine refuses them.

Determinism (measured on 8 flagship phrases): with one onnxruntime thread and a fixed seed a phrase
is bit-identical in any process and after any other phrase. The bits change with the number of
threads (3 of 8 phrases the same at two), the onnxruntime version, and the FFT that hibari picks at
import (scipy's where scipy is installed), so the identity, and with it every cache key, names each.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import platform
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from audioguide.errors import EngineUnavailable, SpeechError

SEED = 0
"""hibari samples its durations and noise from a generator; a fixed seed makes a phrase repeatable."""
WPM_AT_SPEED_1 = 242.0
"""Words per minute over the trimmed clips at speed 1.0, from speed 0.6 -> 144, 0.7 -> 168 and
0.8 -> 194 wpm measured on eight flagship phrases (rate is linear in speed over 0.5-0.8)."""
SPEED_RANGE = (0.5, 1.2)
"""Outside this the voice slurs (slower) or clips words (faster); also where the measured line holds."""
BUNDLED_VOICES = ("heart",)
SAMPLE_RATE_HZ = 24_000
"""hibari.SAMPLE_RATE: the model speaks at 24 kHz; clips are resampled to 44.1 kHz afterwards."""
ENGINE_REVISION = 1
"""Bump when this wrapper changes how text becomes samples (it is part of the identity)."""


def _package_dir() -> Path | None:
    spec = importlib.util.find_spec("hibari")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def available() -> str | None:
    """None when the neural voice can run here, else why not (cheap: nothing is imported)."""
    for module, package in (("hibari", "hibari-tts"), ("onnxruntime", "onnxruntime")):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (run 'make setup')"
    return None


@cache
def _assets_sha256(folder: Path) -> str:
    """One digest over every file the voice reads (model, lexicons, rules): about 11 MB, ~30 ms."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


class _NoiseTape:
    """The float32 normal deviates of ``np.random.default_rng(SEED)``, drawn once and replayed.

    hibari seeds a new generator for every call (``Hibari.stream``) and draws from it only for the
    noise of each sentence, ``rng.standard_normal(shape, dtype=np.float32)`` in ``dsp.synth``, one
    draw after another. Consecutive draws from one generator are one sequence, so every phrase reads
    a prefix of the same one: drawing it once per process and copying out the stretch each draw asks
    for gives the same samples to the bit (tests/test_hibari.py compares them with hibari's own call),
    without the generator's 0.43 of 2.77 CPU s over the flagship's phrases."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)
        self._values = np.empty(0, dtype=np.float32)

    def reader(self) -> _NoiseReader:
        """A generator for one phrase: it starts where a freshly seeded one would."""
        return _NoiseReader(self)

    def values(self, stop: int) -> np.ndarray:
        """The first ``stop`` deviates (drawing more, at least doubling, when needed)."""
        if stop > self._values.size:
            more = self._rng.standard_normal(
                max(stop - self._values.size, self._values.size), dtype=np.float32
            )
            self._values = np.concatenate([self._values, more])
        return self._values[:stop]


class _NoiseReader:
    """Stands in for the ``np.random.Generator`` hibari is handed, for the one draw it makes."""

    def __init__(self, tape: _NoiseTape) -> None:
        self._tape, self._at = tape, 0

    def standard_normal(self, size: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
        if dtype is not np.float32:  # not the draw replayed: fail the phrase rather than differ
            raise SpeechError(f"hibari drew noise as {dtype}, not float32: its output would not repeat")
        count = int(np.prod(size))
        out = (
            self._tape.values(self._at + count)[self._at :].reshape(size).copy()
        )  # hibari scales it in place
        self._at += count
        return out


def speed_for(rate_wpm: int) -> float:
    """The hibari speed that speaks at ``rate_wpm`` words per minute, within SPEED_RANGE."""
    low, high = SPEED_RANGE
    return round(min(high, max(low, rate_wpm / WPM_AT_SPEED_1)), 3)


class HibariEngine:
    """hibari-tts at one thread and a fixed seed: text in, 16-bit PCM at 24 kHz out.

    Creating one is cheap (the parent process only needs ``identity()`` for cache keys); ``load()``
    reads the model, and a worker calls it before it says hello, so a model that cannot load is
    reported as the engine failing to start.
    """

    name = "hibari"
    stateless = True
    """A phrase comes out the same after any other (module docstring; tests/test_hibari.py checks it),
    so a worker speaks all its phrases in one forked child rather than forking one per phrase."""

    def __init__(self) -> None:
        reason = available()
        folder = _package_dir()
        if reason is not None or folder is None:
            raise EngineUnavailable(f"the neural voice cannot run here: {reason or 'hibari-tts is missing'}")
        self._assets = folder / "assets"
        self._tts: Any = None
        self._voice: str | None = None
        self._noise = _NoiseTape(SEED)

    def identity(self) -> str:
        """Engine, versions and the model's digest: everything besides the settings that shapes a clip."""
        from importlib.metadata import PackageNotFoundError, version  # 15 ms to import: only when asked

        parts = [f"hibari-tts {version('hibari-tts')}", f"rev {ENGINE_REVISION}"]
        parts.append(f"assets {_assets_sha256(self._assets)}")
        parts.append(f"onnxruntime {version('onnxruntime')}, 1 thread, seed {SEED}")
        try:  # hibari's FFT is scipy's when scipy is importable, else numpy's
            fft = f"scipy {version('scipy')}" if importlib.util.find_spec("scipy") else "numpy"
        except PackageNotFoundError:
            fft = "numpy"
        parts.append(f"numpy {np.__version__}, fft {fft}, {platform.machine()}")
        return "; ".join(parts)

    def load(self, voice: str = BUNDLED_VOICES[0]) -> None:
        """Read the model and lexicons for ``voice`` (1-1.6 s); SpeechError with the fix on failure."""
        if self._tts is not None and self._voice == voice:
            return
        if voice not in BUNDLED_VOICES:
            raise SpeechError(
                f"hibari voice '{voice}' is not bundled with the package (bundled: "
                f"{', '.join(BUNDLED_VOICES)}); set 'voice: heart' in the profile"
            )
        try:  # onnxruntime is loaded only in the speech workers: it is large, and only this engine uses it
            with contextlib.redirect_stdout(sys.stderr):
                from hibari import Hibari

                tts = Hibari(voice=voice, threads=1)
                tts.g2p  # noqa: B018 (loads the lexicons now rather than on the first phrase)
        except Exception as exc:  # ImportError, an onnxruntime that cannot load here, a damaged model
            raise EngineUnavailable(f"the neural voice cannot load: {type(exc).__name__}: {exc}") from exc
        options = tts.sess.get_session_options()
        if options.intra_op_num_threads != 1 or options.inter_op_num_threads != 1:
            raise SpeechError("hibari did not run its model on one thread: its output would not repeat")
        self._tts, self._voice = tts, voice

    def synthesize(self, text: str, settings: dict[str, object]) -> tuple[bytes, int]:
        """Speak ``text`` at the profile's rate; SpeechError (never silence) when nothing comes out."""
        voice = str(settings.get("voice") or BUNDLED_VOICES[0])
        rate = settings.get("rate")
        speed = speed_for(rate if isinstance(rate, int) else round(WPM_AT_SPEED_1 * 0.75))
        self.load(voice)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                # Hibari.__call__ (its stream() concatenated), with the seeded generator replayed from
                # the tape rather than drawn again for every phrase (see _NoiseTape).
                noise = self._noise.reader()
                tts = self._tts
                parts = [tts.from_ids(tts.ids(chunk), speed, noise) for chunk in tts.phonemize(text)]
                audio = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        except SpeechError:
            raise
        except Exception as exc:
            raise SpeechError(f"hibari failed on {text[:60]!r}: {type(exc).__name__}: {exc}") from exc
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1 or audio.size == 0 or not np.all(np.isfinite(audio)):
            raise SpeechError(f"hibari returned no usable audio for {text[:60]!r}")
        if float(np.max(np.abs(audio))) < 1e-4:  # -80 dBFS: silence, not speech
            raise SpeechError(f"hibari returned silence for {text[:60]!r}")
        pcm = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2")
        return pcm.tobytes(), SAMPLE_RATE_HZ
