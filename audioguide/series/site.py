"""The listening page: one static index.html (inline CSS and JS, no requests outside its folder)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

from audioguide.series.feed import Channel, Item, duration_seconds
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


def _episode(item: Item, cues: Sequence[Cue], language: str) -> str:
    e = html.escape
    audio, vtt = e(item.filename), e(item.sidecar("vtt"))
    chapters = "\n".join(
        f'<li><button type="button" data-start="{_seconds(start)}" data-end="{_seconds(end)}">'
        f'<span class="t">{format_clock(start, "notes")}</span> {e(title)}</button></li>'
        for start, end, title in item.chapters
    )
    lines = "\n".join(
        f'<p data-start="{_seconds(start)}" data-end="{_seconds(end)}">{e(text)}</p>'
        for start, end, text in cues
    )
    description = f"<p>{e(item.description)}</p>" if item.description else ""
    length = format_clock(duration_seconds(item.length_ms) * 1000, "notes")
    return f"""<article class="episode" id="{item.anchor}">
<h2><span class="num">{item.number}</span> {e(item.title)}</h2>
<p class="meta">{length} · <a href="{audio}" download>download MP3</a></p>
{description}
<audio controls preload="metadata" src="{audio}">
<track kind="captions" default src="{vtt}" srclang="{e(language)}" label="Transcript">
</audio>
<h3>Chapters</h3>
<ol class="chapters">
{chapters}
</ol>
<h3>Transcript</h3>
<div class="transcript" tabindex="0">
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
<style>{_CSS}</style>
</head>
<body>
<header>
<img src="cover.png" alt="" width="160" height="160">
<div>
<h1>{e(channel.title)}</h1>
{author}
<p>{e(channel.description)}</p>
<p class="subscribe">Listen here, or add the feed to a podcast app:
<a href="feed.xml">{e(channel.feed_url)}</a></p>
</div>
</header>
<main>
{episodes}
</main>
<script>{_JS}</script>
</body>
</html>
"""


_CSS = """
:root { color-scheme: light dark; --accent: #2f6f73; --soft: rgba(47, 111, 115, 0.14); }
body { font: 17px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 46rem; padding: 1rem; }
header { display: flex; gap: 1.2rem; align-items: flex-start; margin-bottom: 1.5rem; }
header img { border-radius: 8px; flex: none; }
h1 { margin: 0 0 0.2rem; font-size: 1.6rem; }
.author { margin: 0; opacity: 0.75; }
.subscribe { font-size: 0.9rem; word-break: break-all; }
.episode { border-top: 1px solid var(--soft); padding: 1rem 0 1.5rem; }
h2 { font-size: 1.25rem; margin: 0 0 0.2rem; }
h3 { font-size: 1rem; margin: 1rem 0 0.3rem; }
.num { color: var(--accent); margin-right: 0.3rem; }
.meta { margin: 0; opacity: 0.75; font-size: 0.9rem; }
audio { width: 100%; margin-top: 0.6rem; }
.chapters { list-style: none; padding: 0; margin: 0; }
.chapters button { font: inherit; background: none; border: 0; padding: 0.15rem 0.4rem; cursor: pointer;
  color: inherit; text-align: left; border-radius: 4px; width: 100%; }
.chapters button:hover, .chapters button:focus-visible { background: var(--soft); }
.chapters button[aria-current="true"] { background: var(--soft); font-weight: 600; }
.t { font-variant-numeric: tabular-nums; color: var(--accent); margin-right: 0.4rem; }
.transcript { max-height: 12rem; overflow-y: auto; border: 1px solid var(--soft); border-radius: 6px;
  padding: 0.3rem 0.6rem; position: relative; }
.transcript p { margin: 0.15rem 0; padding: 0.1rem 0.3rem; border-radius: 4px; cursor: pointer; }
.transcript p.active { background: var(--soft); font-weight: 600; }
@media (max-width: 32rem) { header { flex-direction: column; } }
"""

_JS = """
"use strict";
const players = Array.from(document.querySelectorAll(".episode audio"));
function seek(audio, seconds) {
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
  const lines = Array.from(box.querySelectorAll("p"));
  for (const node of chapters.concat(lines)) {
    node.addEventListener("click", function () { seek(audio, parseFloat(node.dataset.start)); });
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
    for (const other of players) if (other !== audio) other.pause();
  });
}
"""
