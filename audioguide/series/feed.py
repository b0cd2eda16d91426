"""The podcast feed: RSS 2.0 with the itunes and Podcasting 2.0 namespaces, from plain data."""

from __future__ import annotations

import html
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

from audioguide.export.sidecars import sidecar_paths
from audioguide.units import format_clock

ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
ATOM = "http://www.w3.org/2005/Atom"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
NAMESPACES = {"itunes": ITUNES, "podcast": PODCAST, "atom": ATOM, "content": CONTENT}

PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
"""The "podcast" namespace of podcast:guid (Podcasting 2.0 namespace, docs/tags/guid.md)."""

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

CATEGORY = ("Health & Fitness", None)
"""The Apple Podcasts category (and subcategory) a series goes in unless told otherwise."""


@dataclass(frozen=True)
class Channel:
    """What the feed says about the show."""

    title: str
    author: str
    description: str
    language: str
    link: str  # the folder's address: its index.html
    feed_url: str
    image_url: str
    guid: str  # podcast:guid, assigned once (see podcast_guid)
    generator: str = "audioguide"
    owner: tuple[str, str] | None = None  # (name, email): itunes:owner
    category: tuple[str, str | None] = CATEGORY  # (category, subcategory): itunes:category


@dataclass(frozen=True)
class Item:
    """What the feed (and the page) says about one episode; times in ms, sizes in bytes."""

    number: int
    title: str
    description: str
    filename: str
    size_bytes: int
    length_ms: int
    chapters: tuple[tuple[int, int, str], ...]  # (start_ms, end_ms, title)
    guid: str
    published: int  # seconds since the epoch, UTC

    @property
    def anchor(self) -> str:
        return f"ep-{self.number:02d}"

    def sidecar(self, kind: str) -> str:
        """The name of a sidecar file beside the audio: ``vtt`` or ``chapters`` (see ``sidecar_paths``)."""
        return sidecar_paths(Path(self.filename))[kind].name


def podcast_guid(feed_url: str) -> str:
    """podcast:guid per the Podcasting 2.0 namespace (docs/tags/guid.md): a UUIDv5 in the namespace
    ead4c236-bf58-58c6-a2c6-a6b28d128cb6 over the feed URL with its protocol scheme and trailing
    slashes stripped. It is assigned once and then kept even if the feed moves."""
    bare = feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, bare))


def episode_guid(feed_url: str, key: str) -> str:
    """An item's guid: a UUIDv5 in the same namespace over the bare feed URL and the episode's key."""
    bare = feed_url.split("://", 1)[-1].rstrip("/")
    return str(uuid.uuid5(PODCAST_GUID_NAMESPACE, f"{bare}#{key}"))


def show_notes(item: Item) -> str:
    """The item's description followed by its chapters, one "MM:SS Title" line each."""
    lines = [f"{format_clock(start, 'notes')} {title}" for start, _, title in item.chapters]
    parts = [item.description] if item.description else []
    if lines:
        parts.append("Chapters:\n" + "\n".join(lines))
    return "\n\n".join(parts) or item.title


def show_notes_html(item: Item) -> str:
    """The show notes as HTML for ``content:encoded``: the description, then the chapters as a list
    stamped HH:MM:SS from 00:00:00 (the form podcast apps turn into links that seek)."""
    parts = [f"<p>{html.escape(item.description)}</p>"] if item.description else []
    if item.chapters:
        rows = "".join(f"<li>{_stamp(start)} {html.escape(title)}</li>" for start, _, title in item.chapters)
        parts.append(f"<p>Chapters:</p><ul>{rows}</ul>")
    return "".join(parts) or f"<p>{html.escape(item.title)}</p>"


def _stamp(ms: int) -> str:
    """HH:MM:SS in whole seconds (floored, as the chapter starts there), always with hours."""
    return format_clock(ms // 1000 * 1000, "timestamp")[:-4]


def duration_seconds(length_ms: int) -> int:
    """itunes:duration in whole seconds (rounded half up)."""
    return (length_ms + 500) // 1000


def rfc822(epoch_seconds: int) -> str:
    """An RSS date: ``Fri, 21 Nov 2025 07:57:00 GMT``."""
    return format_datetime(datetime.fromtimestamp(epoch_seconds, UTC), usegmt=True)


def feed_xml(channel: Channel, items: Sequence[Item], base_url: str) -> bytes:
    """The feed document as UTF-8 bytes with an XML declaration; the same input gives the same bytes."""
    for prefix, uri in NAMESPACES.items():
        ET.register_namespace(prefix, uri)
    rss = ET.Element("rss", {"version": "2.0"})
    ch = ET.SubElement(rss, "channel")
    _text(ch, "title", channel.title)
    _text(ch, "link", channel.link)
    _text(ch, "description", channel.description)
    _text(ch, "language", channel.language)
    _text(ch, "generator", channel.generator)
    ET.SubElement(
        ch, f"{{{ATOM}}}link", {"href": channel.feed_url, "rel": "self", "type": "application/rss+xml"}
    )
    image = ET.SubElement(ch, "image")
    _text(image, "url", channel.image_url)
    _text(image, "title", channel.title)
    _text(image, "link", channel.link)
    _text(ch, f"{{{ITUNES}}}author", channel.author)
    _text(ch, f"{{{ITUNES}}}summary", channel.description)
    ET.SubElement(ch, f"{{{ITUNES}}}image", {"href": channel.image_url})
    if channel.owner is not None:
        owner = ET.SubElement(ch, f"{{{ITUNES}}}owner")
        _text(owner, f"{{{ITUNES}}}name", channel.owner[0])
        _text(owner, f"{{{ITUNES}}}email", channel.owner[1])
    name, sub = channel.category
    category = ET.SubElement(ch, f"{{{ITUNES}}}category", {"text": xml_text(name)})
    if sub:
        ET.SubElement(category, f"{{{ITUNES}}}category", {"text": xml_text(sub)})
    _text(ch, f"{{{ITUNES}}}explicit", "false")
    _text(ch, f"{{{ITUNES}}}type", "serial")
    _text(ch, f"{{{PODCAST}}}guid", channel.guid)
    for item in items:
        _item(ch, item, base_url)
    ET.indent(rss, space="  ")
    body = ET.tostring(rss, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n").encode("utf-8")


def _item(parent: ET.Element, item: Item, base_url: str) -> None:
    el = ET.SubElement(parent, "item")
    _text(el, "title", item.title)
    _text(el, "link", f"{base_url}#{item.anchor}")
    _text(el, "description", show_notes(item))
    _text(el, f"{{{CONTENT}}}encoded", show_notes_html(item))
    url = base_url + item.filename
    ET.SubElement(el, "enclosure", {"url": url, "length": str(item.size_bytes), "type": "audio/mpeg"})
    _text(el, "guid", item.guid).set("isPermaLink", "false")
    _text(el, "pubDate", rfc822(item.published))
    _text(el, f"{{{ITUNES}}}title", item.title)
    _text(el, f"{{{ITUNES}}}duration", str(duration_seconds(item.length_ms)))
    _text(el, f"{{{ITUNES}}}episode", str(item.number))
    _text(el, f"{{{ITUNES}}}episodeType", "full")
    _text(el, f"{{{ITUNES}}}explicit", "false")
    ET.SubElement(
        el,
        f"{{{PODCAST}}}chapters",
        {"url": base_url + item.sidecar("chapters"), "type": "application/json+chapters"},
    )
    ET.SubElement(
        el,
        f"{{{PODCAST}}}transcript",
        {"url": base_url + item.sidecar("vtt"), "type": "text/vtt", "rel": "captions"},
    )


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (C0 controls but tab and newlines, and the
    like), which a YAML escape such as "\\x01" could otherwise smuggle into the feed."""
    return _NOT_XML.sub("", text)


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = xml_text(text)
    return el
