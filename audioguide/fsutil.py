"""Atomic file writes (a temporary file beside the target, then a rename), capped reads, folder locks."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

from audioguide.errors import ExportError

if sys.platform != "win32":
    import fcntl


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


STAGED_PREFIX_CHARS = 100
"""A staged file's name holds at most this much of its target's name (file names end at 255 bytes)."""


def exists(path: Path) -> bool:
    """``path.exists()``, False rather than OSError for a name the system cannot look up (too long)."""
    try:
        return path.exists()
    except OSError:
        return False


def is_file(path: Path) -> bool:
    """``path.is_file()``, False rather than OSError for a name the system cannot look up (too long)."""
    try:
        return path.is_file()
    except OSError:
        return False


def is_dir(path: Path) -> bool:
    """``path.is_dir()``, False rather than OSError for a name the system cannot look up (too long)."""
    try:
        return path.is_dir()
    except OSError:
        return False


def read_capped(path: str | Path, limit: int) -> bytes:
    """The bytes of the regular file ``path``, refusing anything else before reading a byte.

    Every reader of a user's or the cache's files goes through here: a device (``/dev/zero``,
    ``/dev/urandom``), a FIFO or a folder raises OSError (EINVAL) without blocking, and a file
    holding more than ``limit`` bytes raises OSError (EFBIG) after reading at most ``limit + 1``
    of them, whatever its size claims. The errors carry ``strerror`` for one-line messages.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(path, flags)  # non-blocking: opening a FIFO with no writer must not hang
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (a device, pipe or folder)", str(path))
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise OSError(errno.EFBIG, f"larger than {limit:,} bytes", str(path))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _temporary(path: Path, suffix: str) -> tuple[int, str]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name[:STAGED_PREFIX_CHARS]}.", suffix=suffix, dir=path.parent)
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


def staged_leftovers(folder: Path, names: Iterable[str]) -> list[Path]:
    """Staged files in ``folder`` for these target names, left behind by a build that was killed.

    ``staged_path`` names them ``.<name>.<8 random characters><suffix>.part`` (mkstemp's pattern), and
    a staged file may itself be staged again (one more leading dot); nothing else matches, so a
    user's own files (even ones ending in .part) are never taken for ours.
    """
    targets = sorted({re.escape(n[:STAGED_PREFIX_CHARS]) for n in names if n})
    if not targets:
        return []
    pattern = re.compile(r"\.+(?:" + "|".join(targets) + r")\.[a-z0-9_]{8}[^/]*\.part")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return sorted(
        Path(e.path) for e in entries if pattern.fullmatch(e.name) and e.is_file(follow_symlinks=False)
    )


@contextlib.contextmanager
def folder_lock(folder: Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` while the block runs; a second holder waits its turn.

    The lock is ``flock`` on the folder itself, so no lock file is left in a folder meant for
    upload, and the kernel releases it when the process dies however it dies. ``waiting()`` is
    called once when another process holds it. (Windows has no flock: there builds are not guarded.)
    """
    if sys.platform == "win32":
        yield
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise ExportError(f"cannot use the folder {folder}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # a file system without flock (some network mounts): build unguarded
            pass
        yield
    finally:
        os.close(fd)


def check_writable_folder(folder: Path) -> None:
    """Create ``folder`` if needed and prove a file can be created in it, before any long work."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder, prefix=".audioguide-probe."):
            pass
    except OSError as exc:
        raise ExportError(f"cannot write in the folder {folder}: {exc.strerror or exc}") from None


def check_free_space(folder: Path, needed_bytes: int) -> None:
    """ExportError when the disk holding ``folder`` has less room than a write of ``needed_bytes``
    (with a tenth and a megabyte to spare), so a full disk fails before a long render, not after it."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return  # cannot tell: the write itself will report a full disk
    wanted = needed_bytes + needed_bytes // 10 + (1 << 20)
    if free < wanted:
        raise ExportError(
            f"not enough room in {folder}: this needs about {wanted / 1e6:.1f} MB, the disk has "
            f"{free / 1e6:.1f} MB free; free some space or write elsewhere with -o"
        )
