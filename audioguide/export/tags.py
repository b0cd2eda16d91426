"""Metadata for the encoded file: ID3v2.3 (MP3, WAV) or Vorbis comments (FLAC, Ogg), chapters and cover."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen
from mutagen.flac import FLAC, Picture
from mutagen.id3 import (
    APIC,
    CHAP,
    COMM,
    CTOC,
    ID3,
    TALB,
    TDRC,
    TIT2,
    TPE1,
    TRCK,
    CTOCFlags,
    Encoding,
    Frame,
    PictureType,
)
from mutagen.mp3 import MP3
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from audioguide.errors import ExportError
from audioguide.fsutil import staged_path
from audioguide.units import format_clock

TAG_PADDING = 1024
"""Fixed padding after every tag (bytes): room for a later edit, and the same bytes on every build."""

CHAPTER_END_TOLERANCE_MS = 1
"""A chapter may end this far past the audio: chapter ends are rounded to the ms, the audio to a sample."""

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class TagInfo:
    """What a player shows about the session."""

    title: str
    artist: str | None = None
    album: str | None = None
    track: int | None = None
    track_total: int | None = None
    year: int | None = None
    comment: str | None = None
    language: str = "eng"  # ISO 639-2 code, for the ID3 comment frame


@dataclass(frozen=True)
class ChapterMark:
    """A titled span of the file, in milliseconds from its start."""

    start_ms: int
    end_ms: int
    title: str


def validate_chapters(chapters: Sequence[ChapterMark], length_ms: float | None = None) -> None:
    """Raise ExportError unless chapters are non-empty spans, ascending, apart and inside the audio."""
    previous_end = 0
    for i, ch in enumerate(chapters):
        where = f"chapter {i + 1} ({ch.title!r}, {ch.start_ms}-{ch.end_ms} ms)"
        if ch.start_ms < 0 or ch.end_ms <= ch.start_ms:
            raise ExportError(f"{where} is not a span of time")
        if ch.start_ms < previous_end:
            raise ExportError(f"{where} starts before the previous chapter ends ({previous_end} ms)")
        if length_ms is not None and ch.end_ms > length_ms + CHAPTER_END_TOLERANCE_MS:
            raise ExportError(f"{where} ends after the audio ({length_ms:.0f} ms)")
        previous_end = ch.end_ms


def png_size(png: bytes) -> tuple[int, int, int]:
    """(width, height, bits per pixel) from a PNG's IHDR chunk; ExportError if it is not a PNG."""
    if png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ExportError("cover art must be a PNG image")
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(png[25], 1)  # by PNG colour type
    return width, height, png[24] * samples


def write_tags(
    path: Path,
    fmt: str,
    info: TagInfo,
    chapters: Sequence[ChapterMark] = (),
    cover_png: bytes | None = None,
) -> None:
    """Replace the file's metadata with ``info``, ``chapters`` and the cover, atomically.

    - mp3: an ID3v2.3 tag. v2.3 rather than v2.4 because it is what the widest range of players
      reads (Windows Explorer/Media Player and many car and podcast apps still ignore v2.4), and
      the CHAP/CTOC chapter addendum is defined for both.
    - wav: the same ID3v2.3 frames, chapters included, in an ``id3 `` RIFF chunk (mutagen.wave);
      ffmpeg reads tags and chapters from it, most players only title and artist.
    - flac, ogg: Vorbis comments, the cover as a FLAC picture block / METADATA_BLOCK_PICTURE and
      chapters as CHAPTER001=HH:MM:SS.mmm with CHAPTER001NAME (the Vorbis chapter extension).

    The file is tagged as a copy beside it and renamed over it, so Ctrl-C never leaves half a tag.
    """
    path = Path(path)
    writers: dict[str, Callable[[Path, TagInfo, Sequence[ChapterMark], bytes | None], None]] = {
        "mp3": _write_mp3,
        "wav": _write_wav,
        "flac": _write_flac,
        "ogg": _write_ogg,
    }
    if fmt not in writers:
        raise ExportError(f"{path}: cannot tag format {fmt!r}")
    if cover_png is not None:
        png_size(cover_png)
    if any(n is not None and n < 1 for n in (info.track, info.track_total)):
        raise ExportError(f"{path}: track numbers start at 1")
    if len(info.language) != 3 or not info.language.isascii() or not info.language.isalpha():
        raise ExportError(f"{path}: language must be a three-letter ISO 639-2 code, got {info.language!r}")
    try:
        with staged_path(path) as staged:
            shutil.copyfile(path, staged)
            writers[fmt](staged, info, chapters, cover_png)
    except mutagen.MutagenError as err:
        raise ExportError(f"{path}: cannot write {fmt} tags: {err}") from err
    except OSError as err:
        raise ExportError(f"{path}: cannot write tags: {err}") from err
    except ExportError as err:
        raise ExportError(f"{path}: {err}") from err


def _padding(_info: Any) -> int:
    return TAG_PADDING


def _length_ms(file: mutagen.FileType) -> float:
    """The audio length mutagen reads from the stream headers (exact for our MP3s: the LAME tag)."""
    if file.info is None:
        raise ExportError("no audio stream found")
    return float(file.info.length) * 1000


# --- ID3v2.3


def _text_encoding(*texts: str | None) -> int:
    """Latin-1 when every text fits it (read everywhere), else UTF-16 (the only Unicode one in v2.3)."""
    try:
        for text in texts:
            (text or "").encode("latin-1")
    except UnicodeEncodeError:
        return Encoding.UTF16
    return Encoding.LATIN1


def track_text(info: TagInfo) -> str | None:
    """The TRCK form, "3/10" (or "3" without a total)."""
    if info.track is None:
        return None
    return f"{info.track}/{info.track_total}" if info.track_total else str(info.track)


def id3_frames(info: TagInfo, chapters: Sequence[ChapterMark], cover_png: bytes | None) -> list[Frame]:
    """The ID3 frames for a session: text frames, comment, cover, one CHAP per chapter and a CTOC."""
    frames: list[Frame] = [TIT2(encoding=_text_encoding(info.title), text=[info.title])]
    if info.artist:
        frames.append(TPE1(encoding=_text_encoding(info.artist), text=[info.artist]))
    if info.album:
        frames.append(TALB(encoding=_text_encoding(info.album), text=[info.album]))
    if track := track_text(info):
        frames.append(TRCK(encoding=Encoding.LATIN1, text=[track]))
    if info.year is not None:
        # mutagen keeps dates as v2.4 TDRC in memory; update_to_v23() turns it into TYER.
        frames.append(TDRC(encoding=Encoding.LATIN1, text=[f"{info.year:04d}"]))
    if info.comment:
        enc = _text_encoding(info.comment)
        frames.append(COMM(encoding=enc, lang=info.language, desc="", text=[info.comment]))
    if cover_png is not None:
        frames.append(
            APIC(
                encoding=Encoding.LATIN1,
                mime="image/png",
                type=PictureType.COVER_FRONT,
                desc="Cover",
                data=cover_png,
            )
        )
    ids = [f"chp{i}" for i in range(len(chapters))]
    for element_id, ch in zip(ids, chapters, strict=True):
        title = TIT2(encoding=_text_encoding(ch.title), text=[ch.title])
        # Byte offsets 0xFFFFFFFF: "use the times" (ID3v2 Chapter Frame Addendum 1.0, section 3).
        frames.append(
            CHAP(
                element_id=element_id,
                start_time=ch.start_ms,
                end_time=ch.end_ms,
                start_offset=0xFFFFFFFF,
                end_offset=0xFFFFFFFF,
                sub_frames=[title],
            )
        )
    if chapters:
        frames.append(
            CTOC(
                element_id="toc",
                flags=CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED,
                child_element_ids=ids,
                sub_frames=[TIT2(encoding=_text_encoding(info.title), text=[info.title])],
            )
        )
    return frames


def _fill_id3(tags: ID3, info: TagInfo, chapters: Sequence[ChapterMark], cover_png: bytes | None) -> None:
    tags.clear()
    for frame in id3_frames(info, chapters, cover_png):
        tags.add(frame)
    # save(v2_version=3) writes whatever frames it holds; this turns the v2.4 TDRC into TYER.
    tags.update_to_v23()


def _write_mp3(path: Path, info: TagInfo, chapters: Sequence[ChapterMark], cover_png: bytes | None) -> None:
    validate_chapters(chapters, _length_ms(MP3(path)))
    tags = ID3()
    _fill_id3(tags, info, chapters, cover_png)
    # A fresh tag replaces any old ID3v2 tag; v1=0 removes an ID3v1 tag (it has no room for any of this).
    tags.save(path, v1=0, v2_version=3, v23_sep="/", padding=_padding)
    with open(path, "r+b") as fh:
        order_chapter_frames(fh, 0)


def _write_wav(path: Path, info: TagInfo, chapters: Sequence[ChapterMark], cover_png: bytes | None) -> None:
    wave = WAVE(path)
    validate_chapters(chapters, _length_ms(wave))
    if wave.tags is None:
        wave.add_tags()
    assert wave.tags is not None
    _fill_id3(wave.tags, info, chapters, cover_png)
    wave.save(v1=0, v2_version=3, v23_sep="/", padding=_padding)
    with open(path, "r+b") as fh:
        order_chapter_frames(fh, _riff_chunk_data(fh, b"id3 "))


# --- Frame order
# mutagen lays frames out by a priority list, then by size (ID3Tags._write), so CHAP frames land in the
# file in no particular time order. Nothing in the Chapter Frame Addendum requires an order (the CTOC's
# child list carries it), but ffmpeg lists chapters in frame order and so do some podcast apps. So once
# mutagen has written the tag, its frames are laid out again, same bytes, same total size: the CTOC, then
# every CHAP by start time, just before the cover (which mutagen keeps last, being the largest).

_ID3_HEADER = 10  # "ID3", version (2 bytes), flags, synchsafe size (ID3v2.3 section 3.1)
_FRAME_HEADER = 10  # frame id, size (plain 32-bit in v2.3), flags (section 3.3)


def _synchsafe(data: bytes) -> int:
    return (data[0] & 0x7F) << 21 | (data[1] & 0x7F) << 14 | (data[2] & 0x7F) << 7 | (data[3] & 0x7F)


def _riff_chunk_data(fh: Any, chunk_id: bytes) -> int:
    """Offset of the data of the first top-level RIFF chunk named ``chunk_id``."""
    fh.seek(0)
    header = fh.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise ExportError("not a RIFF/WAVE file")
    pos = 12
    while True:
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            raise ExportError(f"no {chunk_id!r} chunk in the WAVE file")
        size = int.from_bytes(head[4:], "little")
        if head[:4] == chunk_id:
            return pos + 8
        pos += 8 + size + (size & 1)  # chunks are padded to an even length


def order_chapter_frames(fh: Any, offset: int) -> None:
    """Rewrite, in place, the ID3v2.3 tag at ``offset`` of the open file so that its CTOC and then its
    CHAP frames (in order of start time) come right before the first APIC frame, or last."""
    fh.seek(offset)
    header = fh.read(_ID3_HEADER)
    if header[:3] != b"ID3" or header[3] != 3:
        raise ExportError("expected an ID3v2.3 tag")
    if header[5] & 0xC0:  # unsynchronisation or an extended header: not what mutagen writes
        raise ExportError(f"unexpected ID3 header flags {header[5]:#04x}")
    body = fh.read(_synchsafe(header[6:10]))
    frames: list[tuple[bytes, bytes]] = []  # (frame id, whole frame)
    pos = 0
    while pos + _FRAME_HEADER <= len(body) and body[pos] != 0:  # a zero byte starts the padding
        size = int.from_bytes(body[pos + 4 : pos + 8], "big")
        end = pos + _FRAME_HEADER + size
        if end > len(body):
            raise ExportError("an ID3 frame runs past the end of its tag")
        frames.append((body[pos : pos + 4], body[pos:end]))
        pos = end
    chapters = sorted((f for fid, f in frames if fid == b"CHAP"), key=_chap_times)
    tocs = [f for fid, f in frames if fid == b"CTOC"]
    others = [(fid, f) for fid, f in frames if fid not in (b"CHAP", b"CTOC")]
    at = next((i for i, (fid, _) in enumerate(others) if fid == b"APIC"), len(others))
    ordered = [f for _, f in others[:at]] + tocs + chapters + [f for _, f in others[at:]]
    laid_out = b"".join(ordered)
    assert len(laid_out) == pos  # the same frames, moved
    fh.seek(offset + _ID3_HEADER)
    fh.write(laid_out)


def _chap_times(frame: bytes) -> tuple[int, int]:
    """(start_ms, end_ms) of a raw CHAP frame: after the header, a NUL-terminated element id, then the
    start and end times as 32-bit big-endian milliseconds (ID3v2 Chapter Frame Addendum 1.0, 3.1)."""
    data = frame[_FRAME_HEADER:]
    times = data.index(b"\x00") + 1
    return int.from_bytes(data[times : times + 4], "big"), int.from_bytes(data[times + 4 : times + 8], "big")


# --- Vorbis comments


def vorbis_comments(info: TagInfo, chapters: Sequence[ChapterMark]) -> list[tuple[str, str]]:
    """The Vorbis comment fields, in a fixed order."""
    fields: list[tuple[str, str | None]] = [
        ("TITLE", info.title),
        ("ARTIST", info.artist),
        ("ALBUM", info.album),
        ("TRACKNUMBER", None if info.track is None else str(info.track)),
        ("TRACKTOTAL", None if info.track_total is None else str(info.track_total)),
        ("DATE", None if info.year is None else f"{info.year:04d}"),
        # DESCRIPTION is the field the Xiph spec names; COMMENT is what most taggers and players show.
        ("DESCRIPTION", info.comment),
        ("COMMENT", info.comment),
    ]
    for i, ch in enumerate(chapters, start=1):
        fields.append((f"CHAPTER{i:03d}", format_clock(ch.start_ms, "timestamp")))
        fields.append((f"CHAPTER{i:03d}NAME", ch.title))
    return [(key, value) for key, value in fields if value]


def flac_picture(cover_png: bytes) -> Picture:
    """A front-cover FLAC picture block for the PNG (also the payload of METADATA_BLOCK_PICTURE)."""
    width, height, depth = png_size(cover_png)
    picture = Picture()
    picture.type = PictureType.COVER_FRONT
    picture.mime = "image/png"
    picture.desc = "Cover"
    picture.width, picture.height, picture.depth = width, height, depth
    picture.data = cover_png
    return picture


def _fill_vorbis(file: FLAC | OggVorbis, info: TagInfo, chapters: Sequence[ChapterMark]) -> None:
    validate_chapters(chapters, _length_ms(file))
    if file.tags is None:
        file.add_tags()
    assert file.tags is not None
    file.tags.clear()
    for key, value in vorbis_comments(info, chapters):
        file.tags.append((key, value))


def _write_flac(path: Path, info: TagInfo, chapters: Sequence[ChapterMark], cover_png: bytes | None) -> None:
    flac = FLAC(path)
    _fill_vorbis(flac, info, chapters)
    flac.clear_pictures()
    if cover_png is not None:
        flac.add_picture(flac_picture(cover_png))
    flac.save(deleteid3=True, padding=_padding)


def _write_ogg(path: Path, info: TagInfo, chapters: Sequence[ChapterMark], cover_png: bytes | None) -> None:
    ogg = OggVorbis(path)
    _fill_vorbis(ogg, info, chapters)
    if cover_png is not None:
        block = base64.b64encode(flac_picture(cover_png).write()).decode("ascii")
        assert ogg.tags is not None
        ogg.tags.append(("METADATA_BLOCK_PICTURE", block))
    ogg.save(padding=_padding)
