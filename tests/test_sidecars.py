"""Tests for audioguide.export.sidecars: the WebVTT transcript and the Podcasting 2.0 chapters JSON."""

from __future__ import annotations

import html
import itertools
import json
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audioguide.errors import ExportError
from audioguide.export.sidecars import (
    MAX_LINE_CHARS,
    chapters_json_text,
    sidecar_paths,
    vtt_text,
    write_chapters_json,
    write_vtt,
)
from audioguide.export.tags import ChapterMark

TIMING = re.compile(r"^(\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3}) --> (\d{2,}):([0-5]\d):([0-5]\d)\.(\d{3})$")

LONG = (
    "Lie on your back with your knees bent and your feet flat on the floor. "
    "Let your arms rest by your sides, palms facing up. "
    "Take a slow breath in through your nose, and feel your belly rise under your hands, "
    "then let the breath go through your mouth as if you were sighing. "
    "There is nothing to do here except notice."
)


def parse_vtt(text: str) -> list[tuple[int, int, list[str]]]:
    """A strict little WebVTT reader: header, blank-line separated cues, timing line, payload lines."""
    assert text.startswith("WEBVTT\n\n") or text == "WEBVTT\n"
    assert text.endswith("\n") and not text.endswith("\n\n\n")
    cues = []
    for block in text[len("WEBVTT\n") :].strip("\n").split("\n\n"):
        if not block:
            continue
        timing, *lines = block.split("\n")
        match = TIMING.match(timing)
        assert match, f"bad timing line {timing!r}"
        h1, m1, s1, f1, h2, m2, s2, f2 = (int(g) for g in match.groups())
        start = ((h1 * 60 + m1) * 60 + s1) * 1000 + f1
        end = ((h2 * 60 + m2) * 60 + s2) * 1000 + f2
        assert 1 <= len(lines) <= 2
        for line in lines:
            assert line.strip() and len(line) <= MAX_LINE_CHARS, line
            assert "-->" not in line and "<" not in line
            assert not re.search(r"&(?!amp;|lt;|gt;)", line), f"unescaped & in {line!r}"
        cues.append((start, end, lines))
    return cues


def squash(text: str) -> str:
    return "".join(text.split())


def check_transcript(phrases: list[tuple[int, int, str]]) -> list[tuple[int, int, list[str]]]:
    """Everything a transcript must satisfy for these phrases; returns the parsed cues."""
    cues = parse_vtt(vtt_text(phrases))
    previous_end = 0
    for start, end, _ in cues:
        assert previous_end <= start <= end
        previous_end = end
    spoken = "".join(squash(text) for _, _, text in phrases)
    shown = "".join(squash(html.unescape(" ".join(lines))) for _, _, lines in cues)
    assert shown == spoken
    return cues


def test_sidecar_paths() -> None:
    paths = sidecar_paths(Path("out/lower-back-10min.mp3"))
    assert paths == {
        "vtt": Path("out/lower-back-10min.vtt"),
        "chapters": Path("out/lower-back-10min.chapters.json"),
    }


def test_short_phrases_become_one_cue_each() -> None:
    phrases = [(0, 2_500, "Welcome."), (3_000, 6_001, "Lie on your back."), (3_600_000, 3_601_500, "Done.")]
    text = vtt_text(phrases)
    assert text == (
        "WEBVTT\n\n"
        "00:00:00.000 --> 00:00:02.500\nWelcome.\n\n"
        "00:00:03.000 --> 00:00:06.001\nLie on your back.\n\n"
        "01:00:00.000 --> 01:00:01.500\nDone.\n"
    )
    check_transcript(phrases)


def test_lines_wrap_at_words_within_65_characters() -> None:
    text = "Let both knees fall slowly to one side, and turn your head the other way, gently."
    (cue,) = check_transcript([(0, 5_000, text)])
    assert cue[2] == ["Let both knees fall slowly to one side, and turn your head the", "other way, gently."]


def test_a_long_phrase_is_split_into_contiguous_cues() -> None:
    cues = check_transcript([(10_000, 40_000, LONG)])
    assert len(cues) >= 3
    assert cues[0][0] == 10_000 and cues[-1][1] == 40_000
    for (_, end, _), (start, _, _) in itertools.pairwise(cues):
        assert end == start  # contiguous
    # Cut at sentence ends, or at a clause end inside a sentence too long for one cue.
    assert [lines[-1][-1] for _, _, lines in cues] == [".", ",", "."]
    # Time in proportion to characters: the shortest cue gets the least time.
    chars = [len(" ".join(lines)) for _, _, lines in cues]
    durations = [end - start for start, end, _ in cues]
    assert durations.index(min(durations)) == chars.index(min(chars))
    for n, d in zip(chars, durations, strict=True):
        assert d == pytest.approx(30_000 * n / sum(chars), abs=30_000 * 2 / sum(chars) + 1)


def test_a_sentence_longer_than_a_cue_is_cut_at_words() -> None:
    words = " ".join(["breathe"] * 60)
    cues = check_transcript([(0, 6_000, words)])
    assert len(cues) == 4 and cues[-1][1] == 6_000
    assert all(len(lines) == 2 for _, _, lines in cues[:-1])


def test_a_word_longer_than_a_line_is_cut() -> None:
    url = "https://example.org/" + "a" * 150
    check_transcript([(0, 1_000, f"See {url} for more.")])


def test_escaping() -> None:
    (cue,) = check_transcript([(0, 1_000, "Knees <together> & feet --> apart")])
    assert cue[2] == ["Knees &lt;together&gt; &amp; feet --&gt; apart"]


def test_whitespace_only_phrase_has_no_cue() -> None:
    assert vtt_text([(0, 1_000, "  \n ")]) == "WEBVTT\n"


@pytest.mark.parametrize(
    "phrases",
    [
        [(0, 1_000, "a"), (999, 2_000, "b")],  # overlap
        [(2_000, 3_000, "a"), (0, 1_000, "b")],  # not ascending
        [(5, 5, "a")],  # empty span
    ],
)
def test_bad_phrases_raise(phrases: list[tuple[int, int, str]]) -> None:
    with pytest.raises(ExportError):
        vtt_text(phrases)


def test_write_vtt(tmp_path: Path) -> None:
    path = tmp_path / "x.vtt"
    phrases = [(0, 1_000, "Inhale — slowly."), (1_000, 3_000, LONG)]
    write_vtt(path, phrases)
    assert path.read_bytes() == vtt_text(phrases).encode("utf-8")
    assert list(tmp_path.iterdir()) == [path]


words = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=90)
phrase_texts = st.lists(words, max_size=40).map(" ".join)


@st.composite
def phrase_lists(draw: st.DrawFn) -> list[tuple[int, int, str]]:
    phrases, at = [], 0
    for text in draw(st.lists(phrase_texts, max_size=8)):
        at += draw(st.integers(0, 5_000))
        length = draw(st.integers(1, 60_000))
        phrases.append((at, at + length, text))
        at += length
    return phrases


@settings(max_examples=150, deadline=None)
@given(phrase_lists())
def test_property_lines_fit_and_cues_ascend(phrases: list[tuple[int, int, str]]) -> None:
    cues = check_transcript(phrases)
    for start, end, _ in cues:  # within the phrase span that produced it
        assert any(p_start <= start <= end <= p_end for p_start, p_end, _ in phrases)


# --- chapters JSON


def test_chapters_json() -> None:
    chapters: list[ChapterMark | tuple[int, int, str]] = [
        ChapterMark(0, 12_345, "Welcome"),
        (12_345, 600_000, "Knee to chest — both sides"),
    ]
    text = chapters_json_text(chapters, title="Ten-Minute Lower Back Release")
    assert text.endswith("}\n")
    assert "—" in text  # UTF-8, not \u escapes
    assert '"endTime": 12.345' in text
    document = json.loads(text)
    assert list(document) == ["version", "title", "chapters"]
    assert document["version"] == "1.2.0"
    assert [list(c) for c in document["chapters"]] == [["startTime", "endTime", "title"]] * 2
    got = [
        (round(c["startTime"] * 1000), round(c["endTime"] * 1000), c["title"]) for c in document["chapters"]
    ]
    assert got == [(0, 12_345, "Welcome"), (12_345, 600_000, "Knee to chest — both sides")]


def test_chapters_json_without_title_and_errors() -> None:
    assert list(json.loads(chapters_json_text([(0, 1, "a")]))) == ["version", "chapters"]
    with pytest.raises(ExportError):
        chapters_json_text([(0, 1_000, "a"), (500, 2_000, "b")])


def test_write_chapters_json(tmp_path: Path) -> None:
    path = tmp_path / "x.chapters.json"
    write_chapters_json(path, [ChapterMark(0, 1_500, "Intro")], title="T")
    assert path.read_bytes() == chapters_json_text([(0, 1_500, "Intro")], title="T").encode("utf-8")
