"""The listening page: static checks of index.html, then the real thing in headless Chromium.

The browser test serves the built folder with ``audioguide series serve`` (byte ranges: without
them a browser cannot seek) and drives Chromium over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: NUL-separated JSON on file descriptors 3 and 4, no websocket needed).
axe-core (tests/vendor/axe-core, MPL-2.0) checks the page in both colour schemes.
"""

from __future__ import annotations

import contextlib
import fcntl
import html.parser
import json
import math
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
from test_serve import start_serve_command, stop_serve_command

from audioguide.series.build import SeriesOptions, build_series
from audioguide.series.manifest import MANIFEST
from audioguide.series.site import PALETTES, read_vtt, shown_length
from audioguide.series.spec import load_series

TESTS = Path(__file__).resolve().parent
SERIES_DATA = TESTS / "data" / "series" / "backcare"
AXE = TESTS / "vendor" / "axe-core" / "axe.min.js"
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
    buttons = [a for t, a in page.tags if t == "button" and a.get("class") != "line"]
    starts = [c[0] / 1000 for name in sorted(manifest["files"]) for c in manifest["files"][name]["chapters"]]
    assert [float(b["data-start"] or "nan") for b in buttons] == pytest.approx(starts, abs=0.0005)
    text = "".join(page.text)
    lines = [a for t, a in page.tags if t == "button" and a.get("class") == "line"]
    cues = [c for name in sorted(manifest["files"]) for c in read_vtt(site / name.replace(".mp3", ".vtt"))]
    assert [(float(b["data-start"] or "nan"), b["type"]) for b in lines] == [
        (pytest.approx(c[0] / 1000, abs=0.0005), "button") for c in cues
    ]  # transcript lines are buttons: reachable and operable by keyboard
    for _, _, cue in cues:
        assert cue in text
    assert 'Back Care <Shorts> & "Snacks"' in text  # escaped in the file, intact when parsed
    assert "Mid-Back Release for <Desk> Days" in text


def _luminance(colour: str) -> float:
    """Relative luminance per WCAG 2.2 (definition of 'relative luminance', sRGB)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """The WCAG 2.2 contrast ratio (L1 + 0.05) / (L2 + 0.05) of two #rrggbb colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


TEXT_CONTRAST = 4.5  # WCAG 2.2 1.4.3 (AA) for normal-size text
NON_TEXT_CONTRAST = 3.0  # WCAG 2.2 1.4.11: the bar that marks the current row


@pytest.mark.parametrize("scheme", sorted(PALETTES))
def test_every_text_colour_meets_wcag_aa_on_the_page_and_on_the_current_row(scheme: str) -> None:
    colours = PALETTES[scheme]
    assert contrast("#2f6f73", "#121212") == pytest.approx(3.25, abs=0.01)  # the old dark chapter times
    for text in ("fg", "muted", "accent"):
        for background in ("bg", "current"):
            ratio = contrast(colours[text], colours[background])
            assert ratio >= TEXT_CONTRAST, (scheme, text, background, round(ratio, 2))
    assert contrast(colours["accent"], colours["bg"]) >= NON_TEXT_CONTRAST


def test_the_page_shows_lengths_as_players_do_and_a_feed_link_that_breaks_between_parts(site: Path) -> None:
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    page = (site / "index.html").read_text(encoding="utf-8")
    for name in sorted(manifest["files"]):
        length_ms = manifest["files"][name]["length_ms"]
        whole = length_ms // 1000  # players floor the duration: 279.6 s shows as 4:39
        assert f'<p class="meta">{whole // 60}:{whole % 60:02d} · ' in page
        assert shown_length(length_ms) == f"{whole // 60}:{whole % 60:02d}"
    assert (shown_length(279_600), shown_length(35_000), shown_length(3_723_900)) == (
        "4:39",
        "0:35",
        "1:02:03",
    )
    feed_url = load_series(site.parent / "src" / "short.yaml").feed_url
    link = page.split('<a href="feed.xml">', 1)[1].split("</a>", 1)[0]
    assert link.replace("<wbr>", "") == feed_url
    assert link.startswith("https://<wbr>")  # never "htt|ps://"
    assert "break-all" not in page


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

    def press(self, key: str, code: int, *, shift: bool = False) -> None:
        """A real key press (down and up), as a keyboard sends it: Tab, Enter, " "."""
        text = {"Enter": "\r", " ": " "}.get(key, "")
        base = {"key": key, "code": "Space" if key == " " else key, "windowsVirtualKeyCode": code}
        if shift:
            base["modifiers"] = 8
        self.send("Input.dispatchKeyEvent", {"type": "keyDown", **base, **({"text": text} if text else {})})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **base})

    def scheme(self, name: str) -> None:
        """Emulate ``prefers-color-scheme: name``."""
        self.send(
            "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": name}]}
        )

    def phone(self) -> None:
        """A phone-sized viewport (360 x 640 CSS pixels, touch)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": 360, "height": 640, "deviceScaleFactor": 2, "mobile": True},
        )

    def axe(self) -> list[dict[str, Any]]:
        """axe-core's violations on the page as it is now (WCAG 2.x A and AA rules, and best practices)."""
        if not self.evaluate("typeof window.axe === 'object'"):
            self.evaluate(AXE.read_text(encoding="utf-8") + "\n; true")
        found: list[dict[str, Any]] = self.evaluate(
            "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',"
            " 'wcag22aa', 'best-practice']}, resultTypes: ['violations']}).then(r => r.violations.map(v =>"
            " ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ') + ': ' +"
            " n.failureSummary)})))"
        )
        return found

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


def _wait_for_load(browser: Browser) -> None:
    browser.evaluate(
        "new Promise(done => document.readyState === 'complete' ? done() :"
        " addEventListener('load', () => done()))"
    )


def _click_and_read_seek(browser: Browser, episode: str, action: Any) -> float:
    """Do ``action`` (a click or a key press) and return the playhead at the 'seeked' event."""
    browser.evaluate(
        f"window.seekedAt = new Promise(done => document.querySelector('{episode} audio')"
        ".addEventListener('seeked', e => done(e.target.currentTime), {once: true})); true"
    )
    action()
    seconds: float = browser.evaluate("window.seekedAt")
    return seconds


@pytest.mark.browser
def test_the_page_plays_in_a_real_browser(site: Path, browser: Browser) -> None:
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    proc, base = start_serve_command(site)  # served as a creator previews it: audioguide series serve
    try:
        browser.open(base + "index.html")
        _wait_for_load(browser)
        # Every player loads its metadata: a finite duration, the episode's length.
        players = browser.evaluate(
            """Promise.all(Array.from(document.querySelectorAll('audio')).map(a => {
                 const info = () => [a.getAttribute('src'), a.readyState, a.duration,
                   a.closest('article').querySelector('.meta').textContent.split(' ')[0]];
                 return a.readyState >= 1 ? info() : new Promise((done, fail) => {
                   a.addEventListener('loadedmetadata', () => done(info()));
                   a.addEventListener('error', () => fail(new Error(info()[0] + ' ' + a.error.code)));
                 });
               }))"""
        )
        assert [p[0] for p in players] == sorted(manifest["files"])
        for src, ready, duration, shown in players:
            assert ready >= 1, src
            assert duration == pytest.approx(
                manifest["files"][src]["length_ms"] / 1000, abs=DURATION_TOLERANCE_S
            )
            whole = math.floor(duration)  # what the player shows
            assert shown == f"{whole // 60}:{whole % 60:02d}", src  # as the player shows it
        # Clicking a chapter moves that episode's playhead to the chapter's start.
        for number, name in enumerate(sorted(manifest["files"]), start=1):
            start_ms = manifest["files"][name]["chapters"][2][0]
            episode = f"#ep-{number:02d}"
            selector = f"{episode} .chapters li:nth-child(3) button"
            seeked = _click_and_read_seek(browser, episode, lambda s=selector: browser.click(s))
            assert seeked == pytest.approx(start_ms / 1000, abs=SEEK_TOLERANCE_S)
            current = browser.evaluate(
                f"new Promise(done => setTimeout(() => done(document.querySelector("
                f"'{episode} .chapters button[aria-current=\"true\"]')?.dataset.start), 300))"
            )
            assert current == f"{start_ms / 1000:.3f}"  # the page marks the chapter being played
            # The lock screen shows the episode (Media Session metadata).
            session = browser.evaluate(
                "(m => m && [m.title, m.album, m.artwork.map(a => a.src.split('/').pop())])"
                "(navigator.mediaSession.metadata)"
            )
            article_title = browser.evaluate(f"document.querySelector('{episode} h2').textContent")
            assert session == [article_title.split(" ", 1)[1], 'Back Care <Shorts> & "Snacks"', ["cover.png"]]

        # Keyboard alone: Tab to the third transcript line of the first episode, press Enter.
        browser.evaluate("document.activeElement?.blur(); window.scrollTo(0, 0); true")
        target = "#ep-01 .transcript button:nth-of-type(3)"
        for _ in range(400):
            browser.press("Tab", 9)
            if browser.evaluate(f"document.activeElement === document.querySelector('{target}')"):
                break
        else:
            raise AssertionError("Tab never reached the transcript's third line")
        assert browser.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
        start = float(browser.evaluate(f"document.querySelector('{target}').dataset.start"))
        seeked = _click_and_read_seek(browser, "#ep-01", lambda: browser.press("Enter", 13))
        assert seeked == pytest.approx(start, abs=SEEK_TOLERANCE_S)
        browser.press("Tab", 9)
        start = float(browser.evaluate("document.activeElement.dataset.start"))
        seeked = _click_and_read_seek(browser, "#ep-01", lambda: browser.press(" ", 32))
        assert seeked == pytest.approx(start, abs=SEEK_TOLERANCE_S)
        browser.evaluate(
            "new Promise(done => setTimeout(() => done(true), 300))"
        )  # the rows of the current chapter and line are marked
        assert browser.evaluate("document.querySelectorAll('.transcript button.active').length") >= 1

        # axe-core, in both colour schemes, with a current chapter and line marked.
        violations = {}
        for scheme in ("light", "dark"):
            browser.scheme(scheme)
            violations[scheme] = browser.axe()
            background = browser.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == {"light": "rgb(255, 255, 255)", "dark": "rgb(18, 18, 18)"}[scheme]
        assert violations == {"light": [], "dark": []}

        # A marked chapter keeps its text where it was (no bold), and wrapped titles stay beside the time.
        shift = browser.evaluate(
            """(() => { const b = document.querySelector('#ep-02 .chapters li:nth-child(2) button');
                 const span = b.querySelector('span:last-child');
                 span.textContent = 'A long chapter title that has to wrap onto a second line on a phone';
                 b.setAttribute('aria-current', 'false'); const off = span.getBoundingClientRect();
                 b.setAttribute('aria-current', 'true'); const on = span.getBoundingClientRect();
                 return [off.width - on.width, off.height - on.height]; })()"""
        )
        assert shift == [0, 0]

        browser.phone()
        browser.evaluate("new Promise(done => setTimeout(() => done(true), 200))")
        layout = browser.evaluate(
            """(() => { const b = document.querySelector('#ep-02 .chapters li:nth-child(2) button');
                 const time = b.querySelector('.t').getBoundingClientRect();
                 const r = document.createRange(); r.selectNodeContents(b.querySelector('span:last-child'));
                 const lines = Array.from(r.getClientRects());
                 return [lines.length, Math.min(...lines.map(r => r.left)) - time.right]; })()"""
        )
        assert layout[0] >= 2 and layout[1] > 0  # wrapped, and every line starts right of the time
        # The feed link breaks between its parts on a phone: "https://" stays on one line.
        scheme_lines = browser.evaluate(
            """(() => { const a = document.querySelector('.subscribe a'); const r = document.createRange();
                 r.setStart(a.firstChild, 0); r.setEnd(a.firstChild, 8);
                 const tops = new Set(Array.from(r.getClientRects()).map(x => x.top));
                 return [a.firstChild.textContent, tops.size, a.getBoundingClientRect().right <= innerWidth];
               })()"""
        )
        assert scheme_lines == ["https://", 1, True]
        # Following the chapters on a phone, the player stays on screen (sticky).
        sticky = browser.evaluate(
            """new Promise(done => {
                 document.querySelector('#ep-01 .transcript').scrollIntoView({block: 'start'});
                 requestAnimationFrame(() => {
                   const p = document.querySelector('#ep-01 .player').getBoundingClientRect();
                   const h2 = document.querySelector('#ep-01 h2').getBoundingClientRect();
                   done([h2.bottom < 0, p.top, p.bottom <= innerHeight]); }); })"""
        )
        assert sticky == [True, 0, True]
        errors = browser.errors()
    finally:
        code, err = stop_serve_command(proc)
    assert errors == []
    assert code == 0, err
