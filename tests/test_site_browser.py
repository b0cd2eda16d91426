"""The listening page: static checks of index.html, then the real thing in headless Chromium.

The browser test serves the built folder over HTTP (with byte ranges, as any static host does;
without them a browser cannot seek) and drives Chromium over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: NUL-separated JSON on file descriptors 3 and 4, no websocket needed).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import html.parser
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audioguide.series.build import SeriesOptions, build_series
from audioguide.series.manifest import MANIFEST
from audioguide.series.site import read_vtt

SERIES_DATA = Path(__file__).resolve().parent / "data" / "series" / "backcare"
DURATION_TOLERANCE_S = 0.1
"""The player's duration against the episode's length: MP3 frames are 26 ms, and LAME's gapless
header lets Chromium trim the encoder delay and padding exactly, so this is generous."""
SEEK_TOLERANCE_S = 0.05
"""After a chapter click the playhead is read at the 'seeked' event, before much can play."""
BROWSER_TIMEOUT_S = 30.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site")
    shutil.copytree(SERIES_DATA, root / "src")
    build_series(root / "src" / "short.yaml", SeriesOptions(output=root / "site", engine="tone", jobs=1))
    return root / "site"


# -- the page as text ----------------------------------------------------------------------------------


class _Collector(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_page(path: Path) -> _Collector:
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    collector.close()
    return collector


def test_the_page_lists_every_episode_with_player_chapters_and_transcript(site: Path) -> None:
    page = parse_page(site / "index.html")
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    audios = [a for t, a in page.tags if t == "audio"]
    assert [a["src"] for a in audios] == sorted(manifest["files"])
    assert all(a.get("preload") == "metadata" and "controls" in a for a in audios)
    tracks = [a for t, a in page.tags if t == "track"]
    assert [(t["kind"], t["src"], "default" in t) for t in tracks] == [
        ("captions", name.replace(".mp3", ".vtt"), True) for name in sorted(manifest["files"])
    ]
    buttons = [a for t, a in page.tags if t == "button"]
    starts = [c[0] / 1000 for name in sorted(manifest["files"]) for c in manifest["files"][name]["chapters"]]
    assert [float(b["data-start"] or "nan") for b in buttons] == pytest.approx(starts, abs=0.0005)
    text = "".join(page.text)
    for name in manifest["files"]:
        for _, _, cue in read_vtt(site / name.replace(".mp3", ".vtt")):
            assert cue in text
    assert 'Back Care <Shorts> & "Snacks"' in text  # escaped in the file, intact when parsed
    assert "Mid-Back Release for <Desk> Days" in text


def test_the_page_makes_no_requests_outside_its_folder(site: Path) -> None:
    page = parse_page(site / "index.html")
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is None or (tag == "link" and value == "data:,"):
                continue
            assert "://" not in value and not value.startswith("//"), (tag, attrs)
            assert (site / value).is_file(), value
    assert not [a for t, a in page.tags if t == "script" and a.get("src")]
    assert not [a for t, a in page.tags if t == "link" and a.get("rel") == "stylesheet"]


# -- the page in a browser -----------------------------------------------------------------------------


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Static files with single byte ranges (RFC 9110 §14), which media players need to seek."""

    def send_head(self) -> Any:
        header = self.headers.get("Range", "")
        path = self.translate_path(self.path)
        if not header.startswith("bytes=") or "," in header or not os.path.isfile(path):
            return super().send_head()
        size = os.path.getsize(path)
        first, _, last = header.removeprefix("bytes=").partition("-")
        start = int(first) if first else max(0, size - int(last))
        end = min(int(last), size - 1) if first and last else size - 1
        if start > end:
            self.send_error(416)
            return None
        with open(path, "rb") as fh:
            fh.seek(start)
            body = fh.read(end - start + 1)
        self.send_response(206)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        import io

        return io.BytesIO(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    handler = functools.partial(RangeHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _high_fd(fd: int) -> int:
    """The same pipe end on a descriptor of 10 or more, so that moving it to 3 or 4 cannot clobber it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


# A tiny trampoline puts the pipe ends on fds 3 and 4 and execs Chromium (no shell, no preexec_fn).
_TRAMPOLINE = (
    "import os, sys; os.dup2(int(sys.argv[1]), 3); os.dup2(int(sys.argv[2]), 4); "
    "os.execv(sys.argv[3], sys.argv[3:])"
)


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe; events are kept for inspection."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser_r, to_browser_w = os.pipe()
        from_browser_r, from_browser_w = os.pipe()
        to_browser_r, from_browser_w = _high_fd(to_browser_r), _high_fd(from_browser_w)
        args = [
            binary,
            "--headless=new",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.log = open(profile.parent / "chromium.log", "wb")  # noqa: SIM115 (closed in close())
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _TRAMPOLINE, str(to_browser_r), str(from_browser_w), *args],
            pass_fds=(to_browser_r, from_browser_w),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=self.log,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.writer = os.fdopen(to_browser_w, "wb")
        self.reader = os.fdopen(from_browser_r, "rb")
        self.messages: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        self.next_id = 0
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        self.session = ""

    def _read(self) -> None:
        pending = b""
        while chunk := self.reader.read1(1 << 16):
            pending += chunk
            *whole, pending = pending.split(b"\0")
            with self.changed:
                self.messages.extend(json.loads(m) for m in whole)
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True) -> Any:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        self.writer.write(json.dumps(message).encode() + b"\0")
        self.writer.flush()
        deadline = time.monotonic() + BROWSER_TIMEOUT_S
        with self.changed:
            while True:
                for reply in self.messages:
                    if reply.get("id") == message["id"]:
                        if "error" in reply:
                            raise AssertionError(f"{method} failed: {reply['error']}")
                        return reply["result"]
                if self.proc.poll() is not None:
                    raise AssertionError(f"Chromium exited ({self.proc.returncode}) during {method}")
                if not self.changed.wait(max(0.0, deadline - time.monotonic())):
                    raise AssertionError(f"no reply to {method} in {BROWSER_TIMEOUT_S} s")

    def open(self, url: str) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, session=False
        )["sessionId"]
        for domain in ("Runtime", "Log", "Page"):
            self.send(f"{domain}.enable")
        self.send("Page.navigate", {"url": url})

    def evaluate(self, expression: str) -> Any:
        """The value of a JS expression (promises awaited); a thrown error fails the test."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True, "timeout": 20_000},
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression[:80]}... threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def click(self, selector: str) -> None:
        """A real mouse click (press and release) in the middle of the element."""
        x, y = self.evaluate(
            f"(() => {{ const el = document.querySelector({json.dumps(selector)});"
            " el.scrollIntoView({block: 'center'}); const r = el.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}
            )

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions and browser-logged errors seen so far."""
        found = []
        with self.changed:
            messages = list(self.messages)
        for m in messages:
            method, params = m.get("method"), m.get("params", {})
            if method == "Runtime.exceptionThrown":
                found.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", "")[:500])
        return found

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close", session=False)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.writer.close()
        self.thread.join(timeout=10)
        self.reader.close()
        self.log.close()


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture
def browser() -> Iterator[Browser]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip(
            "no Chromium binary (chromium, chromium-browser or google-chrome) on PATH; .ci/run installs it"
        )
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile"
        instance = Browser(binary, profile)
        try:
            yield instance
        finally:
            instance.close()


@pytest.mark.browser
def test_the_page_plays_in_a_real_browser(site: Path, browser: Browser) -> None:
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    with serve(site) as base:
        browser.open(base + "index.html")
        browser.evaluate(
            "new Promise(done => document.readyState === 'complete' ? done() :"
            " addEventListener('load', () => done()))"
        )
        # Every player loads its metadata: a finite duration, the episode's length.
        players = browser.evaluate(
            """Promise.all(Array.from(document.querySelectorAll('audio')).map(a => {
                 const info = () => [a.getAttribute('src'), a.readyState, a.duration];
                 return a.readyState >= 1 ? info() : new Promise((done, fail) => {
                   a.addEventListener('loadedmetadata', () => done(info()));
                   a.addEventListener('error', () => fail(new Error(info()[0] + ' ' + a.error.code)));
                 });
               }))"""
        )
        assert [p[0] for p in players] == sorted(manifest["files"])
        for src, ready, duration in players:
            assert ready >= 1, src
            assert duration == pytest.approx(
                manifest["files"][src]["length_ms"] / 1000, abs=DURATION_TOLERANCE_S
            )
        # Clicking a chapter moves that episode's playhead to the chapter's start.
        for number, name in enumerate(sorted(manifest["files"]), start=1):
            start_ms = manifest["files"][name]["chapters"][2][0]
            episode = f"#ep-{number:02d}"
            browser.evaluate(
                f"window.seekedAt = new Promise(done => document.querySelector('{episode} audio')"
                ".addEventListener('seeked', e => done(e.target.currentTime), {once: true})); true"
            )
            browser.click(f"{episode} .chapters li:nth-child(3) button")
            assert browser.evaluate("window.seekedAt") == pytest.approx(start_ms / 1000, abs=SEEK_TOLERANCE_S)
            current = browser.evaluate(
                f"new Promise(done => setTimeout(() => done(document.querySelector("
                f"'{episode} .chapters button[aria-current=\"true\"]')?.dataset.start), 300))"
            )
            assert current == f"{start_ms / 1000:.3f}"  # the page marks the chapter being played
        errors = browser.errors()
    assert errors == []
