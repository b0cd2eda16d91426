"""The podcast feed: every required tag of a built series, parsed back; guids; escaping; dates."""

from __future__ import annotations

import io
import json
import re
import shutil
import xml.etree.ElementTree as ET
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audioguide.series.build import SeriesOptions, build_series
from audioguide.series.feed import (
    ATOM,
    ITUNES,
    PODCAST,
    Channel,
    Item,
    episode_guid,
    feed_xml,
    podcast_guid,
    show_notes,
    show_notes_html,
    xml_text,
)
from audioguide.series.manifest import MANIFEST
from audioguide.series.spec import load_series
from audioguide.units import format_clock

SERIES_DATA = Path(__file__).resolve().parent / "data" / "series" / "backcare"
BASE_URL = "https://example.org/back-care/shorts/"
IT, PC = f"{{{ITUNES}}}", f"{{{PODCAST}}}"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The short test series built once with the tone engine; the output folder."""
    root = tmp_path_factory.mktemp("feed")
    shutil.copytree(SERIES_DATA, root / "src")
    build_series(root / "src" / "short.yaml", SeriesOptions(output=root / "site", engine="tone", jobs=1))
    return root / "site"


def one(parent: ET.Element, tag: str) -> ET.Element:
    found = parent.findall(tag)
    assert len(found) == 1, f"expected one <{tag}>, found {len(found)}"
    return found[0]


def text(parent: ET.Element, tag: str) -> str:
    return one(parent, tag).text or ""


def test_the_feed_is_utf8_xml_with_a_declaration(site: Path) -> None:
    data = (site / "feed.xml").read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<rss ')
    data.decode("utf-8")
    root = ET.fromstring(data)
    assert root.tag == "rss" and root.get("version") == "2.0"
    for prefix, uri in (("itunes", ITUNES), ("podcast", PODCAST)):
        assert f'xmlns:{prefix}="{uri}"'.encode() in data


def test_channel_tags(site: Path) -> None:
    channel = one(ET.parse(site / "feed.xml").getroot(), "channel")
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    assert text(channel, "title") == 'Back Care <Shorts> & "Snacks"'  # escaped in the file, intact here
    assert text(channel, "link") == BASE_URL
    assert text(channel, "description") == (
        'Tiny sessions to test with — "quotes", <angle brackets> & ampersands.'
    )
    assert text(channel, "language") == "en-GB"
    assert text(channel, f"{IT}author") == "Ana Müller & Co"
    assert one(channel, f"{IT}image").get("href") == BASE_URL + "cover.png"
    assert one(channel, f"{IT}category").get("text") == "Health & Fitness"
    assert text(channel, f"{IT}explicit") == "false"
    assert text(channel, f"{IT}type") == "serial"
    assert text(channel, f"{PC}guid") == manifest["channel_guid"] == podcast_guid(BASE_URL + "feed.xml")
    self_link = one(channel, f"{{{ATOM}}}link")
    assert (self_link.get("href"), self_link.get("rel")) == (BASE_URL + "feed.xml", "self")
    assert b"Health &amp; Fitness" in (site / "feed.xml").read_bytes()


def test_item_tags(site: Path) -> None:
    channel = one(ET.parse(site / "feed.xml").getroot(), "channel")
    manifest = json.loads((site / MANIFEST).read_text(encoding="utf-8"))
    series = load_series(SERIES_DATA / "short.yaml")
    items = channel.findall("item")
    assert len(items) == len(series.episodes) == 3
    dates = []
    for item, episode in zip(items, series.episodes, strict=True):
        audio = site / episode.filename
        entry = manifest["files"][episode.filename]
        stem = episode.filename.removesuffix(".mp3")
        assert text(item, "title") == episode.title
        enclosure = one(item, "enclosure")
        assert enclosure.attrib == {
            "url": BASE_URL + episode.filename,
            "length": str(audio.stat().st_size),  # the final, tagged file
            "type": "audio/mpeg",
        }
        guid = one(item, "guid")
        assert guid.get("isPermaLink") == "false"
        assert (
            guid.text
            == manifest["guids"][episode.key]["guid"]
            == episode_guid(BASE_URL + "feed.xml", episode.key)
        )
        published = parsedate_to_datetime(text(item, "pubDate"))
        assert published.utcoffset() is not None and published.utcoffset().total_seconds() == 0
        assert int(published.timestamp()) == manifest["guids"][episode.key]["published"]
        dates.append(published)
        assert text(item, f"{IT}duration") == str(round(entry["length_ms"] / 1000))
        assert text(item, f"{IT}episode") == str(episode.number)
        assert text(item, f"{IT}episodeType") == "full"
        chapters = one(item, f"{PC}chapters")
        assert chapters.attrib == {
            "url": f"{BASE_URL}{stem}.chapters.json",
            "type": "application/json+chapters",
        }
        transcript = one(item, f"{PC}transcript")
        assert transcript.get("url") == f"{BASE_URL}{stem}.vtt" and transcript.get("type") == "text/vtt"
        for link in (enclosure.get("url"), chapters.get("url"), transcript.get("url")):
            assert (site / link.removeprefix(BASE_URL)).is_file()
        # The description carries the chapters, as "MM:SS Title" lines from the chapters sidecar.
        sidecar = json.loads((site / f"{stem}.chapters.json").read_text(encoding="utf-8"))
        lines = [
            f"{format_clock(round(c['startTime'] * 1000), 'notes')} {c['title']}" for c in sidecar["chapters"]
        ]
        description = text(item, "description")
        assert description.startswith(episode.description + "\n\nChapters:\n")
        assert description.endswith("\n".join(lines))
        assert lines[0] == "00:00 Welcome"
    assert dates == sorted(dates) and len(set(dates)) == len(dates)  # in episode order, apart
    assert len({text(item, "guid") for item in items}) == len(items)


def test_podcast_guid_follows_the_spec_examples() -> None:
    # Examples from the Podcasting 2.0 namespace's guid tag documentation: scheme and trailing
    # slashes are stripped before the UUIDv5 is taken.
    assert podcast_guid("https://mp3s.nashownotes.com/pc20rss.xml") == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    assert podcast_guid("podnews.net/rss") == "9b024349-ccf0-5f69-a609-6b82873eab3c"
    assert podcast_guid("http://podnews.net/rss//") == "9b024349-ccf0-5f69-a609-6b82873eab3c"


CHANNEL = Channel(
    title="A <b>bold</b> & 'brave' \"show\"",
    author="Zoë & Ørjan",
    description="Line one\nline two ]]> <script>",
    language="en",
    link="https://example.org/a/",
    feed_url="https://example.org/a/feed.xml",
    image_url="https://example.org/a/cover.png",
    guid=podcast_guid("https://example.org/a/feed.xml"),
)
ITEM = Item(
    number=1,
    title="Tea & <biscuits>",
    description="",
    filename="01-x.mp3",
    size_bytes=1234,
    length_ms=3_723_499,
    chapters=((0, 5_000, "Welcome"), (3_700_000, 3_723_499, "Closing & bell")),
    guid="g-1",
    published=0,
)


def test_text_is_escaped_and_round_trips() -> None:
    data = feed_xml(CHANNEL, [ITEM], CHANNEL.link)
    channel = one(ET.fromstring(data), "channel")
    assert text(channel, "title") == CHANNEL.title
    assert text(channel, "description") == CHANNEL.description
    assert text(channel, f"{IT}author") == CHANNEL.author
    item = one(channel, "item")
    assert text(item, "title") == ITEM.title
    assert b"<b>" not in data and b"<script>" not in data and b"<biscuits>" not in data
    assert text(item, "pubDate") == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert text(item, f"{IT}duration") == "3723"  # whole seconds, rounded
    assert feed_xml(CHANNEL, [ITEM], CHANNEL.link) == data  # deterministic


def test_show_notes_list_chapters_with_hours_when_long() -> None:
    assert show_notes(ITEM) == "Chapters:\n00:00 Welcome\n1:01:40 Closing & bell"
    assert format_clock(59_999, "notes") == "00:59" and format_clock(600_000, "notes") == "10:00"


@given(st.text(), st.text())
def test_any_text_makes_well_formed_xml(title: str, description: str) -> None:
    """Whatever a title holds, the feed parses, and carries it (less what XML 1.0 cannot)."""
    from dataclasses import replace

    data = feed_xml(replace(CHANNEL, title=title), [replace(ITEM, description=description)], CHANNEL.link)
    channel = one(ET.fromstring(data), "channel")
    # XML parsers normalize a carriage return to a newline.
    assert text(channel, "title") == xml_text(title).replace("\r\n", "\n").replace("\r", "\n")
    notes = text(one(channel, "item"), "description")
    assert notes.startswith(xml_text(description).replace("\r\n", "\n").replace("\r", "\n"))


# -- owner, category and HTML show notes, read back by the parsers podcast apps use ------------------

OWNED_SERIES = """\
title: Back Care <Shorts>
description: Tiny sessions.
base_url: https://example.org/back-care/owned/
owner: {name: Ana Müller & Co, email: ana@example.org}
category: {name: Health & Fitness, subcategory: Alternative Health}
episodes:
  - routine: ep-quick.yaml
    verbosity: minimal
    description: A reset & a breath.
"""


@pytest.fixture(scope="module")
def owned_feed(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    root = tmp_path_factory.mktemp("owned")
    shutil.copytree(SERIES_DATA, root / "src")
    (root / "src" / "owned.yaml").write_text(OWNED_SERIES, encoding="utf-8")
    build_series(root / "src" / "owned.yaml", SeriesOptions(output=root / "site", engine="tone", jobs=1))
    return (root / "site" / "feed.xml").read_bytes()


def test_owner_and_category_come_from_the_series_file(owned_feed: bytes) -> None:
    channel = one(ET.fromstring(owned_feed), "channel")
    owner = one(channel, f"{IT}owner")
    assert (text(owner, f"{IT}name"), text(owner, f"{IT}email")) == ("Ana Müller & Co", "ana@example.org")
    category = one(channel, f"{IT}category")
    assert category.get("text") == "Health & Fitness"
    assert one(category, f"{IT}category").get("text") == "Alternative Health"


def test_feedparser_reads_owner_category_and_html_show_notes(owned_feed: bytes) -> None:
    import feedparser  # test-only dependency (BSD-2-Clause)

    parsed = feedparser.parse(owned_feed)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.publisher_detail == {"name": "Ana Müller & Co", "email": "ana@example.org"}
    assert [t["term"] for t in parsed.feed.tags] == ["Health & Fitness", "Alternative Health"]
    entry = parsed.entries[0]
    html_notes = [c for c in entry.content if c["type"] == "text/html"]
    assert len(html_notes) == 1
    notes = html_notes[0]["value"]
    assert notes.startswith("<p>A reset &amp; a breath.</p><p>Chapters:</p><ul><li>00:00:00 ")
    stamps = re.findall(r"<li>(\d\d:\d\d:\d\d) ", notes)
    assert stamps[0] == "00:00:00" and stamps == sorted(stamps) and len(stamps) >= 2


def test_podcastparser_reads_owner_category_and_html_show_notes(owned_feed: bytes) -> None:
    import podcastparser  # test-only dependency (ISC)

    parsed = podcastparser.parse("https://example.org/back-care/owned/feed.xml", io.BytesIO(owned_feed))
    episode = parsed["episodes"][0]
    assert episode["description_html"].startswith("<p>A reset &amp; a breath.</p>")
    assert "<li>00:00:00 " in episode["description_html"]
    assert episode["description"].startswith("A reset & a breath.\n\nChapters:\n00:00 ")
    assert parsed["title"] == "Back Care <Shorts>"
    assert parsed["itunes_owner"] == {"name": "Ana Müller & Co", "email": "ana@example.org"}
    assert parsed["itunes_categories"] == [["Health & Fitness", "Alternative Health"]]


def test_html_show_notes_stamp_chapters_with_hours_from_zero() -> None:
    assert show_notes_html(ITEM) == (
        "<p>Chapters:</p><ul><li>00:00:00 Welcome</li><li>01:01:40 Closing &amp; bell</li></ul>"
    )
