"""`audioguide series serve`: a preview server that answers byte ranges (RFC 9110 §14), so players seek."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from audioguide.errors import OptionError
from audioguide.series.serve import byte_range, make_server, server_url

SERVER_START_TIMEOUT_S = 30.0
"""The command imports the library (numpy, scipy) before it listens: seconds on a busy machine."""


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),  # a suffix longer than the file is the whole file
        ("bytes=900-5000", (900, 999)),  # the last byte is clipped to the file
        ("bytes=5-4", None),  # invalid: ignored, the whole file is sent
        ("bytes=0-1,5-6", None),  # several ranges: not supported, so ignored
        ("items=0-1", None),
        ("bytes=-", None),
    ],
)
def test_byte_ranges(header: str, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=2000-3000", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(ValueError):
        byte_range(header, 1000)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str, int]]:
    (tmp_path / "ep.mp3").write_bytes(bytes(range(256)) * 40)
    (tmp_path / "index.html").write_text("<!doctype html><title>x</title>", encoding="utf-8")
    server = make_server(tmp_path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _get(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_the_server_answers_ranges_with_206_and_the_exact_bytes(served: tuple[Path, str, int]) -> None:
    folder, host, port = served
    data = (folder / "ep.mp3").read_bytes()
    status, headers, body = _get(host, port, "/ep.mp3", {"Range": "bytes=1000-1999"})
    assert status == 206
    assert body == data[1000:2000]
    assert headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert headers["content-length"] == "1000"
    assert headers["content-type"] == "audio/mpeg"
    status, headers, body = _get(host, port, "/ep.mp3", {"Range": "bytes=-16"})
    assert (status, body) == (206, data[-16:])
    status, headers, body = _get(host, port, "/ep.mp3", {})
    assert (status, body, headers["accept-ranges"]) == (200, data, "bytes")
    status, headers, body = _get(host, port, "/ep.mp3", {"Range": f"bytes={len(data)}-"})
    assert (status, headers["content-range"], body) == (416, f"bytes */{len(data)}", b"")
    status, _, body = _get(host, port, "/", {})
    assert status == 200 and b"<title>x</title>" in body


def test_serving_a_missing_folder_is_an_option_error(tmp_path: Path) -> None:
    with pytest.raises(OptionError, match="not a folder"):
        make_server(tmp_path / "nothing")


def test_a_port_in_use_is_an_option_error(tmp_path: Path) -> None:
    first = make_server(tmp_path, port=0)
    try:
        with pytest.raises(OptionError, match="cannot listen"):
            make_server(tmp_path, port=first.server_address[1])
    finally:
        first.server_close()
    assert server_url(first).startswith("http://127.0.0.1:")


def start_serve_command(folder: Path) -> tuple[subprocess.Popen[str], str]:
    """``audioguide series serve FOLDER --port 0`` in a child process, and the URL it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "audioguide.cli", "series", "serve", str(folder), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("Serving "), (line, proc.poll())
    url = line.split(" at ", 1)[1].split()[0]
    return proc, url


def stop_serve_command(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C (SIGINT) the command; its exit code and what it printed on stderr."""
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=SERVER_START_TIMEOUT_S)
    return proc.returncode, err


def test_the_serve_command_prints_its_url_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>page</title>", encoding="utf-8")
    proc, url = start_serve_command(tmp_path)
    try:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/")
        host, port = url.removeprefix("http://").rstrip("/").split(":")
        status, _, body = _get(host, int(port), "/", {})
        assert status == 200 and b"<title>page</title>" in body
    finally:
        code, err = stop_serve_command(proc)
    assert code == 0, err
    assert "stopped" in err and "Traceback" not in err
