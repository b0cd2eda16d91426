"""Atomic file writes: a temporary file beside the target, then a rename."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from audioguide.errors import ExportError


def writable_target(path: str | Path) -> Path:
    """The file a write to ``path`` should replace, or ExportError when it must not be replaced.

    A symbolic link is followed (its target is what the user means); a device, FIFO or folder
    at that path is refused rather than replaced by a rename (``-o /dev/null`` as root would
    otherwise swap the device for a regular file).
    """
    path = Path(path)
    with contextlib.suppress(OSError):
        if path.is_symlink():
            path = path.resolve()
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return path
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    if stat.S_ISDIR(mode):
        raise ExportError(
            f"cannot write {path}: it is a folder; give a file name such as {path / 'session.mp3'}"
        )
    if not stat.S_ISREG(mode):
        raise ExportError(
            f"cannot write {path}: it is not a regular file (a device or pipe); choose a file path"
        )
    return path


def _temporary(path: Path, suffix: str) -> tuple[int, str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name[:100]}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None


@contextlib.contextmanager
def atomic_write(
    path: str | Path, mode: str = "wb", encoding: str | None = None, *, durable: bool = True
) -> Iterator[IO]:
    """Open a temporary file next to ``path``; on success rename it over ``path``.

    On any exception (Ctrl-C included) the temporary file is removed and ``path``
    is left exactly as it was, so a failed build never clobbers good output.
    ``durable=False`` skips the fsync, for caches whose entries are checksummed anyway.
    """
    with staged_path(path) as tmp, open(tmp, mode, encoding=encoding) as fh:
        yield fh
        fh.flush()
        if durable:
            os.fsync(fh.fileno())


@contextlib.contextmanager
def staged_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` for tools that write by name; rename on success."""
    path = writable_target(path)
    fd, tmp = _temporary(path, f"{path.suffix}.part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
