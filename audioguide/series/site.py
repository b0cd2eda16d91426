"""The listening page: one static index.html (inline CSS and JS, no requests outside its folder)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from audioguide.series.feed import Channel, Item
from audioguide.units import format_clock

Cue = tuple[int, int, str]
"""(start_ms, end_ms, text) of one transcript cue."""

_TIMING = re.compile(r"^(\d+):(\d{2}):(\d{2})\.(\d{3}) --> (\d+):(\d{2}):(\d{2})\.(\d{3})")


def read_vtt(path: Path) -> list[Cue]:
    """The cues of a WebVTT file as written by ``sidecars.write_vtt`` (cue lines joined by a space)."""
    cues: list[Cue] = []
    for block in path.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n\n"):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines):
            match = _TIMING.match(line)
            if match:
                h1, m1, s1, f1, h2, m2, s2, f2 = (int(g) for g in match.groups())
                start = ((h1 * 60 + m1) * 60 + s1) * 1000 + f1
                end = ((h2 * 60 + m2) * 60 + s2) * 1000 + f2
                text = html.unescape(" ".join(lines[i + 1 :]))  # WebVTT escapes &, < and > as HTML does
                cues.append((start, end, text))
                break
    return cues


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


def shown_length(length_ms: int) -> str:
    """An episode's length as its player shows it: whole seconds rounded down (Chromium's and
    Firefox's media controls floor the duration) and no leading zero, so the page says "4:39"
    where the player does, not "04:40"."""
    return format_clock(length_ms // 1000 * 1000, "notes").removeprefix("0")


def breakable_url(url: str) -> str:
    """``url`` as HTML with line-break opportunities (``<wbr>``) after its scheme and each slash and
    before each dot, so that a narrow screen wraps it between parts, never as "htt|ps://"."""
    e = html.escape
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    parts = re.split(r"(?<=/)|(?=[.?&])", rest)
    body = "<wbr>".join(e(p) for p in parts if p)
    return f"{e(scheme)}://<wbr>{body}" if sep else body


def _episode(item: Item, cues: Sequence[Cue], language: str) -> str:
    e = html.escape
    audio, vtt = e(item.filename), e(item.sidecar("vtt"))
    chapters = "\n".join(
        f'<li><button type="button" data-start="{_seconds(start)}" data-end="{_seconds(end)}">'
        f'<span class="t">{format_clock(start, "notes")}</span><span>{e(title)}</span></button></li>'
        for start, end, title in item.chapters
    )
    lines = "\n".join(
        f'<button type="button" class="line" data-start="{_seconds(start)}" data-end="{_seconds(end)}">'
        f"{e(text)}</button>"
        for start, end, text in cues
    )
    description = f"<p>{e(item.description)}</p>" if item.description else ""
    return f"""<article class="episode" id="{item.anchor}" data-title="{e(item.title)}">
<h2><span class="num">{item.number}</span> {e(item.title)}</h2>
<p class="meta">{shown_length(item.length_ms)} · <a href="{audio}" download>download MP3</a></p>
{description}
<div class="player">
<audio controls preload="metadata" src="{audio}">
<track kind="captions" default src="{vtt}" srclang="{e(language)}" label="Transcript">
</audio>
</div>
<h3>Chapters</h3>
<ol class="chapters">
{chapters}
</ol>
<h3>Transcript</h3>
<div class="transcript" role="region" aria-label="Transcript: {e(item.title)}">
{lines}
</div>
</article>"""


def page_html(channel: Channel, items: Sequence[Item], cues: Sequence[Sequence[Cue]]) -> str:
    """The page for ``items`` (with each one's transcript ``cues``), as text."""
    e = html.escape
    author = f'<p class="author">{e(channel.author)}</p>' if channel.author != channel.title else ""
    episodes = "\n".join(_episode(item, c, channel.language) for item, c in zip(items, cues, strict=True))
    return f"""<!doctype html>
<html lang="{e(channel.language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(channel.title)}</title>
<link rel="icon" href="data:,">
<link rel="alternate" type="application/rss+xml" title="{e(channel.title)}" href="feed.xml">
<style>{CSS}</style>
</head>
<body data-show="{e(channel.title)}" data-author="{e(channel.author)}">
<header>
<img src="cover.png" alt="" width="160" height="160">
<div>
<h1>{e(channel.title)}</h1>
{author}
<p>{e(channel.description)}</p>
<p class="subscribe">Listen here, or add the feed to a podcast app:
<a href="feed.xml">{breakable_url(channel.feed_url)}</a></p>
</div>
</header>
<main>
{episodes}
</main>
<script>{_JS}</script>
</body>
</html>
"""


PALETTES = {
    "light": {
        "bg": "#ffffff",
        "fg": "#1b1b1b",
        "muted": "#4d4d4d",
        "accent": "#24605f",
        "current": "#dcecea",
    },
    "dark": {"bg": "#121212", "fg": "#e8e8e8", "muted": "#b4b4b4", "accent": "#7cc9c4", "current": "#1d3836"},
}
"""The page's colours in each ``prefers-color-scheme``, set explicitly (a browser's own dark
background varies). WCAG 2.2 1.4.3 asks 4.5:1 for text: fg, muted and accent (chapter times, links)
on bg and on ``current`` (the row being played) are all above it (tests/test_site_browser.py
computes them). ``current`` alone is a faint fill, so the current row also gets a bar in ``accent``,
which 1.4.11 (non-text contrast, 3:1 against bg) covers."""


def _palette_css(colours: dict[str, str]) -> str:
    return " ".join(f"--{name}: {value};" for name, value in colours.items())


CSS = f"""
:root {{ color-scheme: light; {_palette_css(PALETTES["light"])} }}
@media (prefers-color-scheme: dark) {{ :root {{ color-scheme: dark; {_palette_css(PALETTES["dark"])} }} }}
html {{ background: var(--bg); }}
body {{ font: 17px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 46rem; padding: 1rem;
  background: var(--bg); color: var(--fg); }}
a {{ color: var(--accent); }}
:focus-visible {{ outline: 2px solid var(--accent); outline-offset: 2px; }}
header {{ display: flex; gap: 1.2rem; align-items: flex-start; margin-bottom: 1.5rem; }}
header img {{ border-radius: 8px; flex: none; }}
h1 {{ margin: 0 0 0.2rem; font-size: 1.6rem; }}
.author {{ margin: 0; color: var(--muted); }}
.subscribe {{ font-size: 0.9rem; overflow-wrap: anywhere; }}
.episode {{ border-top: 1px solid var(--current); padding: 1rem 0 1.5rem; }}
h2 {{ font-size: 1.25rem; margin: 0 0 0.2rem; }}
h3 {{ font-size: 1rem; margin: 1rem 0 0.3rem; }}
.num {{ color: var(--accent); margin-right: 0.3rem; }}
.meta {{ margin: 0; color: var(--muted); font-size: 0.9rem; }}
.player {{ position: sticky; top: 0; z-index: 1; background: var(--bg); padding: 0.5rem 0; }}
audio {{ display: block; width: 100%; }}
.chapters {{ list-style: none; padding: 0; margin: 0; }}
.chapters button, .transcript button {{ font: inherit; color: inherit; background: none; border: 0;
  text-align: left; width: 100%; cursor: pointer; border-radius: 4px; }}
.chapters button {{ display: grid; grid-template-columns: max-content 1fr; column-gap: 0.6rem;
  padding: 0.15rem 0.4rem 0.15rem 0.6rem; }}
.chapters button:hover, .transcript button:hover {{ background: var(--current); }}
.chapters button[aria-current="true"], .transcript button.active {{ background: var(--current);
  box-shadow: inset 4px 0 0 var(--accent); }}
.t {{ font-variant-numeric: tabular-nums; color: var(--accent); }}
.transcript {{ max-height: 12rem; overflow-y: auto; border: 1px solid var(--current); border-radius: 6px;
  padding: 0.3rem; position: relative; }}
.transcript button {{ display: block; margin: 0.1rem 0; padding: 0.1rem 0.3rem 0.1rem 0.6rem; }}
@media (max-width: 32rem) {{ header {{ flex-direction: column; }} }}
"""

_JS = """
"use strict";
const players = Array.from(document.querySelectorAll(".episode audio"));
function announce(episode) {
  // The lock screen and the system's media controls show the episode (Media Session API).
  if (!("mediaSession" in navigator) || typeof MediaMetadata === "undefined") return;
  navigator.mediaSession.metadata = new MediaMetadata({
    title: episode.dataset.title,
    artist: document.body.dataset.author,
    album: document.body.dataset.show,
    artwork: [{src: new URL("cover.png", document.baseURI).href, type: "image/png"}],
  });
}
function seek(episode, audio, seconds) {
  announce(episode);
  audio.currentTime = seconds;
  const playing = audio.play();
  if (playing) playing.catch(function () {});  // playback may be refused (no audio device, autoplay rules)
}
function mark(nodes, t, attribute) {
  let current = null;
  for (const node of nodes) {
    const on = t >= parseFloat(node.dataset.start) && t < parseFloat(node.dataset.end);
    if (attribute) node.setAttribute("aria-current", on ? "true" : "false");
    else node.classList.toggle("active", on);
    if (on) current = node;
  }
  return current;
}
for (const episode of document.querySelectorAll(".episode")) {
  const audio = episode.querySelector("audio");
  const chapters = Array.from(episode.querySelectorAll(".chapters button"));
  const box = episode.querySelector(".transcript");
  const lines = Array.from(box.querySelectorAll("button"));
  for (const node of chapters.concat(lines)) {
    node.addEventListener("click", function () { seek(episode, audio, parseFloat(node.dataset.start)); });
  }
  let shown = null;
  function follow() {
    const t = audio.currentTime;
    mark(chapters, t, true);
    const line = mark(lines, t, false);
    if (line && line !== shown) {
      shown = line;
      box.scrollTop = line.offsetTop - box.clientHeight / 3;
    }
  }
  audio.addEventListener("timeupdate", follow);
  audio.addEventListener("seeked", follow);
  audio.addEventListener("play", function () {
    announce(episode);
    for (const other of players) if (other !== audio) other.pause();
  });
}
"""
