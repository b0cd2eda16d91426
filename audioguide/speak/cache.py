"""The on-disk speech cache: content-addressed, checksummed, shared by every build on the machine."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audioguide.errors import CacheError, ExportError
from audioguide.fsutil import atomic_write, read_capped

MAGIC = b"AGPCM\x00\x01\x00"
DERIVED_MAGIC = b"AGF32\x00\x01\x00"  # a derived clip: float32 samples, stored exactly
HEADER = struct.Struct("<8sII32s")  # magic, sample rate, sample count, sha256 of the payload
MAX_ENTRY_BYTES = HEADER.size + 2 * 44_100 * 15 * 60
"""An entry holds one phrase: no phrase is spoken for 15 minutes (int16 at 44.1 kHz)."""
FORMAT_VERSION = 2  # bump when clip post-processing changes: old entries then simply miss


def default_cache_dir() -> Path:
    """``$AUDIOGUIDE_CACHE``, else ``$XDG_CACHE_HOME/audioguide``, else ``~/.cache/audioguide``."""
    if os.environ.get("AUDIOGUIDE_CACHE"):
        return Path(os.environ["AUDIOGUIDE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "audioguide"


def speech_key(engine: str, settings: dict[str, object], text: str) -> str:
    """The cache key of one phrase: a hash of engine identity, voice settings and the exact text."""
    blob = json.dumps(
        {"v": FORMAT_VERSION, "engine": engine, "settings": settings, "text": text},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class SpeechCache:
    """Clips stored as int16 with a checksum; a corrupt or truncated entry reads as a miss."""

    def __init__(self, base: Path | None = None) -> None:
        self.base = base or default_cache_dir()
        self.root = self.base / "speech"

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.pcm"

    def get(self, key: str, rate: int) -> np.ndarray | None:
        """The cached clip as read-only float32, or None when absent, corrupt or of another rate."""
        samples = _read_entry(self.path(key), MAGIC, rate, "<i2")
        if samples is None:
            return None
        samples /= np.float32(32768.0)  # a new array already (converted from int16): divided in place
        samples.flags.writeable = False
        return samples

    def put(self, key: str, samples: np.ndarray, rate: int) -> np.ndarray:
        """Store a float clip (quantised to int16); return exactly what a later ``get`` will return."""
        pcm = np.clip(np.round(samples * 32768.0), -32768, 32767).astype("<i2")
        payload = pcm.tobytes()
        header = HEADER.pack(MAGIC, rate, len(pcm), hashlib.sha256(payload).digest())
        try:
            with atomic_write(self.path(key), durable=False) as fh:
                fh.write(header + payload)
        except (OSError, ExportError) as err:
            raise CacheError(
                f"cannot write the speech cache in {self.root}: {err}; free some space there "
                "or point AUDIOGUIDE_CACHE at another folder"
            ) from None
        out = pcm.astype(np.float32) / 32768.0
        out.flags.writeable = False
        return out

    @staticmethod
    def _discard(path: Path) -> None:
        with contextlib.suppress(OSError):
            path.unlink()
        return None


class DerivedClipCache:
    """Clips computed by a fixed transform (the mixer's phase rotator from speech clips; the cue palette
    from a cue's name and length), kept beside the speech as exact float32 so that a warm build skips
    the work. Entries are keyed by the transform's identity and the source samples (or the name): a
    change to either simply misses."""

    def __init__(self, transform: str, base: Path | None = None) -> None:
        self.transform = transform
        self.root = (base or default_cache_dir()) / "derived"

    def key(self, source: np.ndarray, rate: int) -> str:
        digest = hashlib.sha256(f"{self.transform}\0{rate}\0".encode())
        digest.update(np.ascontiguousarray(source, dtype="<f4").data)  # read in place: no copy
        return digest.hexdigest()

    def named_key(self, name: str, rate: int) -> str:
        """The key of a clip made from a name rather than from samples (a cue sound and its length)."""
        return hashlib.sha256(f"{self.transform}\0{rate}\0{name}".encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.f32"

    def get(self, key: str, rate: int) -> np.ndarray | None:
        """The derived clip as read-only float32, or None when absent or corrupt."""
        samples = _read_entry(self.path(key), DERIVED_MAGIC, rate, "<f4")
        if samples is not None:
            samples.flags.writeable = False
        return samples

    def get_or_make(self, key: str, rate: int, size: int, make: Callable[[], np.ndarray]) -> np.ndarray:
        """The clip stored under ``key`` if it holds ``size`` samples; else ``make()``, stored."""
        found = self.get(key, rate)
        if found is not None and found.size == size:
            return found
        out = make()
        self.put(key, out, rate)
        return out

    def put(self, key: str, samples: np.ndarray, rate: int) -> None:
        """Store a derived clip; a cache that cannot be written is only a missed saving, not an error."""
        payload = np.ascontiguousarray(samples, dtype="<f4").tobytes()
        header = HEADER.pack(DERIVED_MAGIC, rate, len(samples), hashlib.sha256(payload).digest())
        with contextlib.suppress(OSError, ExportError), atomic_write(self.path(key), durable=False) as fh:
            fh.write(header + payload)


def _read_entry(path: Path, magic: bytes, rate: int, dtype: str) -> np.ndarray | None:
    """One cache entry's samples as a float32 array, or None when it is absent; an entry that is
    damaged, of another kind or rate, or not a regular file (a FIFO or device planted there) is
    removed and read as absent. Both caches' entries are a HEADER and then the samples."""
    try:
        data = read_capped(path, MAX_ENTRY_BYTES)
    except FileNotFoundError:
        return None
    except OSError:
        return SpeechCache._discard(path)
    if len(data) < HEADER.size:
        return SpeechCache._discard(path)
    file_magic, file_rate, count, digest = HEADER.unpack_from(data)
    payload = memoryview(data)[HEADER.size :]
    if (
        file_magic != magic
        or file_rate != rate
        or len(payload) != count * np.dtype(dtype).itemsize
        or hashlib.sha256(payload).digest() != digest
    ):
        return SpeechCache._discard(path)
    # float32 entries are used in place (read-only, over the bytes read); int16 ones are converted.
    return np.frombuffer(payload, dtype=dtype).astype(np.float32, copy=False)
