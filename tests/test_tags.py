"""Tests for audioguide.export.tags and audioguide.export.cover: tags read back by mutagen and ffmpeg."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from audio_tools import ffmetadata, ffmpeg_duration_samples, ffmpeg_exe, parse_ffmetadata
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3, CTOCFlags
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from audioguide.errors import ExportError
from audioguide.export.cover import _blur_around_text, _scene, make_cover, png_bytes
from audioguide.export.encode import encode_file
from audioguide.export.tags import ChapterMark, TagInfo, write_tags

RATE = 44_100
LENGTH_MS = 5_000
INFO = TagInfo(
    title="Ten-Minute Lower Back Release",
    artist="audioguide",
    album="Gentle Mornings",
    track=3,
    track_total=10,
    year=2024,
    comment="Not medical advice: stop on sharp pain.",
)
CHAPTERS = (
    ChapterMark(0, 1_250, "Welcome"),
    ChapterMark(1_250, 3_007, "Knee to chest — both sides"),  # non-Latin-1 text: UTF-16 in ID3v2.3
    ChapterMark(3_007, 3_500, "Rest"),
    ChapterMark(3_500, LENGTH_MS, "Ending"),
)
TAGGED_FORMATS = ("mp3", "wav", "flac", "ogg")


@pytest.fixture(scope="module")
def cover() -> bytes:
    return make_cover(INFO.title, "Episode 3")


@pytest.fixture(scope="module")
def untagged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Five seconds of a quiet tone in each format, encoded once for the module."""
    folder = tmp_path_factory.mktemp("untagged")
    t = np.arange(RATE * LENGTH_MS // 1000) / RATE
    tone = (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    paths = {}
    for fmt in TAGGED_FORMATS:
        paths[fmt] = folder / f"session.{fmt}"
        encode_file(paths[fmt], [tone], fmt)
    return paths


@pytest.fixture(scope="module")
def tagged(
    untagged: dict[str, Path], cover: bytes, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tagged")
    paths = {}
    for fmt, source in untagged.items():
        paths[fmt] = folder / source.name
        shutil.copyfile(source, paths[fmt])
        write_tags(paths[fmt], fmt, INFO, CHAPTERS, cover)
    return paths


@pytest.mark.parametrize("fmt", ["mp3", "wav"])
def test_id3_frames_read_back(tagged: dict[str, Path], cover: bytes, fmt: str) -> None:
    tags = ID3(tagged[fmt]) if fmt == "mp3" else WAVE(tagged[fmt]).tags
    assert tags is not None
    assert tags.version[:2] == (2, 3)
    assert tags["TIT2"].text == [INFO.title]
    assert tags["TPE1"].text == [INFO.artist]
    assert tags["TALB"].text == [INFO.album]
    assert tags["TRCK"].text == ["3/10"]
    assert str(tags["TDRC"].text[0]) == "2024"  # stored as v2.3 TYER; mutagen reads it back as TDRC
    (comment,) = tags.getall("COMM")
    assert (comment.lang, comment.text) == ("eng", [INFO.comment])
    (picture,) = tags.getall("APIC")
    assert (picture.mime, picture.type, picture.data) == ("image/png", 3, cover)

    chaps = {frame.element_id: frame for frame in tags.getall("CHAP")}
    assert sorted(chaps) == [f"chp{i}" for i in range(len(CHAPTERS))]
    for i, mark in enumerate(CHAPTERS):
        frame = chaps[f"chp{i}"]
        assert (frame.start_time, frame.end_time) == (mark.start_ms, mark.end_ms)
        assert (frame.start_offset, frame.end_offset) == (0xFFFFFFFF, 0xFFFFFFFF)
        assert frame.sub_frames["TIT2"].text == [mark.title]
    (toc,) = tags.getall("CTOC")
    assert toc.element_id == "toc"
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    assert toc.child_element_ids == [f"chp{i}" for i in range(len(CHAPTERS))]
    assert toc.sub_frames["TIT2"].text == [INFO.title]


def test_mp3_tag_is_v23_with_tyer(tagged: dict[str, Path]) -> None:
    data = tagged["mp3"].read_bytes()
    assert data[:5] == b"ID3\x03\x00"
    size = sum(b << (7 * (3 - i)) for i, b in enumerate(data[6:10]))  # syncsafe integer
    tag = data[10 : 10 + size]
    assert b"TYER" in tag and b"TDRC" not in tag


@pytest.mark.parametrize("fmt", TAGGED_FORMATS)
def test_tagged_audio_still_decodes_to_the_sample(tagged: dict[str, Path], fmt: str) -> None:
    # For MP3 this means the LAME tag is still found behind the ID3 tag, with its delay and padding.
    assert ffmpeg_duration_samples(tagged[fmt]) == RATE * LENGTH_MS // 1000


@pytest.mark.parametrize("fmt", TAGGED_FORMATS)
def test_ffmpeg_reads_tags_and_chapters(tagged: dict[str, Path], fmt: str) -> None:
    _, chapters = parse_ffmetadata(ffmetadata(tagged[fmt]))
    # ffmpeg lists ID3 chapters in the order the frames sit in the tag (mutagen's), hence sorted().
    assert sorted(chapters) == [(c.start_ms, c.end_ms, c.title) for c in CHAPTERS]

    tags, _ = parse_ffmetadata(ffmetadata(tagged[fmt], stream_tags=fmt == "ogg"))
    assert tags["title"] == INFO.title
    assert tags["artist"] == INFO.artist
    assert tags["album"] == INFO.album
    assert tags["date"] == "2024"
    assert tags["comment"] == INFO.comment
    if fmt in ("mp3", "wav"):
        assert tags["track"] == "3/10"
    else:
        assert (tags["track"], tags["tracktotal"]) == ("3", "10")


@pytest.mark.parametrize("fmt", ["mp3", "flac"])
def test_ffmpeg_sees_the_cover(tagged: dict[str, Path], cover: bytes, fmt: str) -> None:
    args = ["-nostdin", "-v", "error", "-i", str(tagged[fmt]), "-an", "-c:v", "copy", "-f", "image2pipe", "-"]
    picture = subprocess.run([ffmpeg_exe(), *args], capture_output=True, check=True).stdout
    assert picture == cover


def test_vorbis_comments_and_pictures(tagged: dict[str, Path], cover: bytes) -> None:
    flac, ogg = FLAC(tagged["flac"]), OggVorbis(tagged["ogg"])
    for tags in (flac.tags, ogg.tags):
        assert tags is not None
        assert tags["TITLE"] == [INFO.title]
        assert tags["TRACKNUMBER"] == ["3"] and tags["TRACKTOTAL"] == ["10"]
        assert tags["DATE"] == ["2024"]
        assert tags["DESCRIPTION"] == tags["COMMENT"] == [INFO.comment]
        assert tags["CHAPTER002"] == ["00:00:01.250"]
        assert tags["CHAPTER002NAME"] == [CHAPTERS[1].title]
        assert tags["CHAPTER004"] == ["00:00:03.500"]
    (picture,) = flac.pictures
    assert (picture.type, picture.mime, picture.depth) == (3, "image/png", 24)
    assert (picture.width, picture.height) == (1400, 1400)
    assert picture.data == cover
    assert ogg.tags is not None
    (block,) = ogg.tags["METADATA_BLOCK_PICTURE"]
    assert Picture(base64.b64decode(block)).data == cover


@pytest.mark.parametrize("fmt", TAGGED_FORMATS)
def test_tagging_is_deterministic_and_repeatable(
    untagged: dict[str, Path], tagged: dict[str, Path], cover: bytes, tmp_path: Path, fmt: str
) -> None:
    again = tmp_path / untagged[fmt].name
    shutil.copyfile(untagged[fmt], again)
    write_tags(again, fmt, INFO, CHAPTERS, cover)
    assert again.read_bytes() == tagged[fmt].read_bytes()
    write_tags(again, fmt, INFO, CHAPTERS, cover)  # re-tagging replaces, it does not accumulate
    assert again.read_bytes() == tagged[fmt].read_bytes()


@pytest.mark.parametrize(
    "chapters",
    [
        (ChapterMark(0, 2_000, "A"), ChapterMark(1_999, 3_000, "B")),  # overlap
        (ChapterMark(1_000, 2_000, "A"), ChapterMark(0, 500, "B")),  # not ascending
        (ChapterMark(0, 0, "A"),),  # empty
        (ChapterMark(0, LENGTH_MS + 2, "A"),),  # past the end
    ],
)
@pytest.mark.parametrize("fmt", ["mp3", "flac"])
def test_bad_chapters_raise_and_leave_the_file(
    untagged: dict[str, Path], tmp_path: Path, fmt: str, chapters: tuple[ChapterMark, ...]
) -> None:
    path = tmp_path / untagged[fmt].name
    shutil.copyfile(untagged[fmt], path)
    with pytest.raises(ExportError, match=re.escape(str(path))):
        write_tags(path, fmt, INFO, chapters)
    assert path.read_bytes() == untagged[fmt].read_bytes()
    assert list(tmp_path.iterdir()) == [path]


def test_chapter_may_end_on_the_rounded_length(untagged: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "x.mp3"
    shutil.copyfile(untagged["mp3"], path)
    write_tags(path, "mp3", TagInfo("t"), [ChapterMark(0, LENGTH_MS + 1, "All")])


def test_errors_name_the_path(untagged: dict[str, Path], tmp_path: Path) -> None:
    not_audio = tmp_path / "x.mp3"
    not_audio.write_bytes(b"not an mp3 at all" * 100)
    with pytest.raises(ExportError, match=r"x\.mp3"):
        write_tags(not_audio, "flac", TagInfo("t"))
    with pytest.raises(ExportError, match=r"missing\.mp3"):
        write_tags(tmp_path / "missing.mp3", "mp3", TagInfo("t"))
    with pytest.raises(ExportError, match="PNG"):
        write_tags(untagged["mp3"], "mp3", TagInfo("t"), cover_png=b"GIF89a")
    with pytest.raises(ExportError, match="language"):
        write_tags(untagged["mp3"], "mp3", TagInfo("t", language="english"))


def test_minimal_tags(untagged: dict[str, Path], tmp_path: Path) -> None:
    path = tmp_path / "x.mp3"
    shutil.copyfile(untagged["mp3"], path)
    write_tags(path, "mp3", TagInfo("Only a title", track=7))
    tags = ID3(path)
    assert sorted(tags.keys()) == ["TIT2", "TRCK"]
    assert tags["TRCK"].text == ["7"]


# --- cover art


def test_cover_is_a_square_rgb_png(cover: bytes) -> None:
    assert cover[:8] == b"\x89PNG\r\n\x1a\n"
    assert cover[12:16] == b"IHDR"
    assert int.from_bytes(cover[16:20], "big") == int.from_bytes(cover[20:24], "big") == 1400
    assert (cover[24], cover[25]) == (8, 2)  # 8 bits per sample, truecolour (RGB)
    assert len(cover) < 1_000_000
    from PIL import Image

    with Image.open(io.BytesIO(cover)) as image:
        image.load()
        assert (image.size, image.mode) == ((1400, 1400), "RGB")
        pixels = np.asarray(image)
    assert pixels.std() > 10  # a picture, not a flat fill


def test_cover_is_deterministic_and_follows_the_title(cover: bytes) -> None:
    assert make_cover(INFO.title, "Episode 3") == cover
    assert not np.array_equal(_scene(INFO.title, 1400), _scene("Morning Neck and Shoulders", 1400))


@pytest.mark.parametrize("title", ["Evening wind-down", "Week 2, Session 1 of Back Care in Four Weeks"])
def test_the_text_shadow_is_blurred_as_pillow_blurs_the_whole_layer(title: str) -> None:
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    layer = Image.new("RGBA", (1400, 1400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.text((9, 150), title, font=ImageFont.load_default(size=107), fill=(0, 0, 0, 96))  # near an edge
    draw.text((400, 1330), "subtitle", font=ImageFont.load_default(size=54), fill=(0, 0, 0, 96))
    expected = layer.filter(ImageFilter.GaussianBlur(1400 / 250))
    assert _blur_around_text(layer, 1400 / 250, ImageFilter).tobytes() == expected.tobytes()


def test_png_writer_without_pillow() -> None:
    from PIL import Image

    pixels = _scene("Evening wind-down", 1400)
    data = png_bytes(pixels)
    assert len(data) < 1_000_000
    with Image.open(io.BytesIO(data)) as image:
        np.testing.assert_array_equal(np.asarray(image.convert("RGB")), pixels)


def test_cover_size_limits() -> None:
    with pytest.raises(ExportError):
        make_cover("x", size=600)
