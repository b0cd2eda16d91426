"""A local preview server for a series folder: static files with single byte ranges, so players can seek.

Browsers seek in an ``<audio>`` element by asking for a byte range (``Range: bytes=N-``) and
expecting ``206 Partial Content``; a server that answers every request with the whole file (as
``python3 -m http.server`` does) leaves ``audio.seekable`` empty, and every chapter click restarts
the episode at 0:00. Ranges follow RFC 9110 §14: one range per request (``bytes=first-last``,
``bytes=first-`` or the suffix form ``bytes=-length``), ``416`` with ``Content-Range: bytes */size``
for a range past the end, and ``Accept-Ranges: bytes`` on every file.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from audioguide.errors import OptionError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK_BYTES = 1 << 16
"""Files are copied to the socket in pieces of this size, so a long episode never sits in memory."""


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of a single-range ``Range`` header for a file of ``size``
    bytes; None when the header is not one satisfiable range of bytes (then the whole file is sent,
    as RFC 9110 §14.2 lets a server ignore a Range it does not support).

    Raises ValueError for a well-formed range that starts past the end (answered with 416).
    """
    match = _RANGE.match(header.strip())
    if not match or not any(match.groups()):
        return None
    first, last = match.groups()
    if not first:  # the suffix form: the last N bytes
        length = int(last)
        if length == 0:
            raise ValueError("an empty suffix range")
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid, so ignored (RFC 9110 §14.1.1)
    if start >= size:
        raise ValueError("the range starts past the end")
    return start, end


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """Static files from one folder, answering single byte ranges with 206 Partial Content."""

    _remaining: int | None = None  # bytes of the range still to send, while one is being sent

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-cache")  # a preview: always show the latest build
        super().end_headers()

    def send_head(self) -> Any:
        path = self.translate_path(self.path)
        header = self.headers.get("Range")
        if header is None or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        try:
            found = byte_range(header, size)
        except ValueError:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if found is None:
            return super().send_head()
        first, last = found
        handle = open(path, "rb")  # noqa: SIM115 (closed by copyfile's caller, as in the base class)
        handle.seek(first)
        self._remaining = last - first + 1
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.send_header("Content-Length", str(self._remaining))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        return handle

    def send_response(self, code: int, message: str | None = None) -> None:
        super().send_response(code, message)
        if code == 200:
            self.send_header("Accept-Ranges", "bytes")

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:  # type: ignore[override]
        remaining = self._remaining
        if remaining is None:
            shutil.copyfileobj(source, outputfile, CHUNK_BYTES)
            return
        self._remaining = None
        while remaining > 0:
            chunk = source.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the command prints the address and nothing per request


def make_server(folder: Path, host: str = "127.0.0.1", port: int = 8000) -> http.server.ThreadingHTTPServer:
    """A server for ``folder`` bound to ``host:port`` (port 0 picks a free one); call
    ``serve_forever()`` on it, and ``shutdown()`` / ``server_close()`` to stop."""
    if not folder.is_dir():
        raise OptionError(
            "DIR", f"{folder} is not a folder; build one first: audioguide series build FILE -o DIR"
        )
    handler: Callable[..., RangeRequestHandler] = functools.partial(
        RangeRequestHandler, directory=str(folder)
    )
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise OptionError(
            "--port",
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); try another port (0: any free one)",
        ) from None
    server.daemon_threads = True
    return server


def server_url(server: http.server.ThreadingHTTPServer) -> str:
    """The address a browser opens: the folder's index.html."""
    host, port = server.server_address[:2]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else str(host)  # every interface: this machine's own
    return f"http://{shown}:{port}/"
