"""End-to-end builds: the flagship MP3 read back with ffmpeg and mutagen (length, placement, tags,
chapters, sidecars) against the plan it came from, and failed builds that must leave earlier output alone.
"""

from __future__ import annotations

import gc
import io
import itertools
import json
import re
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from audio_tools import decode, ffmetadata, parse_ffmetadata, rms_db, stream_info
from mutagen.id3 import ID3, CTOCFlags
from PIL import Image

import audioguide.export.encode
import audioguide.export.sidecars
from audioguide.compile.compiler import Options as CompileOptions
from audioguide.errors import ExportError
from audioguide.export.sidecars import CHAPTERS_JSON_VERSION, MAX_LINE_CHARS
from audioguide.export.tags import png_size
from audioguide.model.timeline import Timeline
from audioguide.pipeline.build import BuildOptions, BuildResult, build

FLAGSHIP = "lower-back-10min"
RATE = 44_100
INFO = {
    "artist": "Audioguide Test",
    "album": "Gentle Backs",
    "track": 3,
    "track_total": 10,
    "year": 2024,
    "comment": "Not medical advice: stop on sharp or worsening pain.",
}

SPEECH_MIN_DB = -40.0
"""RMS over the middle third of every phrase is above this (speech is mastered to -16 LUFS, about -20
dBFS RMS while talking; the quietest mid-phrase stretch with a pause between words stays well above)."""
SILENCE_MAX_DB = -80.0
"""RMS inside the silent stretches of holds and rests (no speech, no cue) stays under this: the mix is
digital silence there, and an MP3 of silence decodes to (almost) nothing."""
SILENCE_MARGIN_S = 0.25
"""Silent stretches are measured this far from the sounds around them (MP3 frames smear a few ms)."""
COVER_MIN_PX = 1400

_SHARED: dict[str, BuildResult] = {}


def flagship_build(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The flagship as an MP3 with every tag set, built once per test run (test_master shares it)."""
    if "flagship" not in _SHARED:
        folder = tmp_path_factory.mktemp("flagship")
        _SHARED["flagship"] = build(FLAGSHIP, BuildOptions(output=folder / "lower-back.mp3", **INFO))  # type: ignore[arg-type]
    return _SHARED["flagship"]


@pytest.fixture(scope="module")
def flagship(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    return flagship_build(tmp_path_factory)


@pytest.fixture(scope="module")
def audio(flagship: BuildResult) -> np.ndarray:
    samples, rate, channels = decode(flagship.output)
    assert (rate, channels) == (RATE, 1)
    return samples


def _plan_chapters(timeline: Timeline) -> list[tuple[int, int, str]]:
    return [(timeline.ms(c.start_sample), timeline.ms(c.end_sample), c.title) for c in timeline.chapters]


# --- the audio ------------------------------------------------------------------------------------------


def test_flagship_is_exactly_ten_minutes(flagship: BuildResult, audio: np.ndarray) -> None:
    assert flagship.plan.timeline.length_samples == 600 * RATE
    assert len(audio) == 600 * RATE  # ffmpeg, trimming delay and padding by our LAME tag


def test_speech_where_the_plan_says_and_silence_in_the_holds(
    flagship: BuildResult, audio: np.ndarray
) -> None:
    timeline = flagship.plan.timeline
    speech = timeline.speech()
    levels = []
    for e in speech:
        third = e.length_samples // 3
        levels.append(rms_db(audio[e.start_sample + third : e.end_sample - third]))
    assert min(levels) > SPEECH_MIN_DB, [(e.text, round(v, 1)) for e, v in zip(speech, levels, strict=True)]

    # Silent stretches: inside holds and rests, away from every audible event (speech and cues).
    margin = int(SILENCE_MARGIN_S * RATE)
    sounding = sorted((e.start_sample, e.end_sample) for e in timeline.audible())
    quiet, covered = [], 0
    for start, end in [*sounding, (timeline.length_samples, timeline.length_samples)]:
        if start - covered >= RATE + 2 * margin:
            quiet.append((covered + margin, start - margin))
        covered = max(covered, end)
    silent_spans = [e for e in timeline.events if e.kind in ("hold", "rest")]
    in_holds = [
        (a, b) for a, b in quiet if any(h.start_sample <= a and b <= h.end_sample for h in silent_spans)
    ]
    assert len(in_holds) >= 3
    for a, b in in_holds:
        assert rms_db(audio[a:b]) < SILENCE_MAX_DB, (a / RATE, b / RATE)


# --- tags and chapters ----------------------------------------------------------------------------------


def test_every_tag_reads_back_with_mutagen(flagship: BuildResult) -> None:
    tags = ID3(flagship.output)
    assert tags.version == (2, 3, 0)
    routine = flagship.plan.routine
    assert tags["TIT2"].text == [routine.title]
    assert tags["TPE1"].text == [INFO["artist"]]
    assert tags["TALB"].text == [INFO["album"]]
    assert tags["TRCK"].text == ["3/10"]
    assert str(tags["TDRC"].text[0]) == "2024"  # stored as TYER in v2.3; mutagen reads it as TDRC
    assert [c.text for c in tags.getall("COMM")] == [[INFO["comment"]]]
    (cover,) = tags.getall("APIC")
    assert cover.mime == "image/png" and cover.type == 3  # front cover
    width, height, _ = png_size(cover.data)
    with Image.open(io.BytesIO(cover.data)) as image:
        assert image.size == (width, height)
    assert width == height >= COVER_MIN_PX


def test_ffmpeg_reads_the_tags_and_the_chapters(flagship: BuildResult) -> None:
    tags, chapters = parse_ffmetadata(ffmetadata(flagship.output))
    assert tags["title"] == flagship.plan.routine.title
    assert tags["artist"] == INFO["artist"] and tags["album"] == INFO["album"]
    assert tags["track"] == "3/10" and tags["date"] == "2024" and tags["comment"] == INFO["comment"]
    # In time order, to the millisecond: CHAP frames are laid out by start time (tags.order_chapter_frames).
    assert chapters == _plan_chapters(flagship.plan.timeline)


def test_chap_frames_match_the_plan_and_tile_the_file(flagship: BuildResult) -> None:
    timeline = flagship.plan.timeline
    frames = ID3(flagship.output).getall("CHAP")  # in file order
    got = [(f.start_time, f.end_time, f.sub_frames["TIT2"].text[0]) for f in frames]
    assert got == _plan_chapters(timeline)  # equal, and in time order in the file too
    assert got[0][0] == 0 and got[-1][1] == timeline.length_ms == 600_000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(got))  # no gaps, no overlaps
    assert {f.start_offset for f in frames} == {f.end_offset for f in frames} == {0xFFFFFFFF}


def test_ctoc_is_top_level_ordered_in_time_order(flagship: BuildResult) -> None:
    tags = ID3(flagship.output)
    (toc,) = tags.getall("CTOC")
    assert toc.flags == CTOCFlags.TOP_LEVEL | CTOCFlags.ORDERED
    by_time = sorted(tags.getall("CHAP"), key=lambda f: f.start_time)
    assert list(toc.child_element_ids) == [f.element_id for f in by_time]
    assert toc.sub_frames["TIT2"].text == [flagship.plan.routine.title]


# --- sidecars -------------------------------------------------------------------------------------------


def _vtt_cues(text: str) -> list[tuple[int, int, list[str]]]:
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        timing, *lines = block.split("\n")
        match = re.fullmatch(r"(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})", timing)
        assert match, timing
        h1, m1, s1, f1, h2, m2, s2, f2 = (int(g) for g in match.groups())
        cues.append((((h1 * 60 + m1) * 60 + s1) * 1000 + f1, ((h2 * 60 + m2) * 60 + s2) * 1000 + f2, lines))
    return cues


def _unescape(line: str) -> str:
    return line.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def test_sidecars_sit_beside_the_mp3_named_after_it(flagship: BuildResult) -> None:
    out = flagship.output
    vtt, chapters = out.with_name("lower-back.vtt"), out.with_name("lower-back.chapters.json")
    assert flagship.files == (out, vtt, chapters)
    assert vtt.is_file() and chapters.is_file()
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(p.name for p in flagship.files)


def test_transcript_times_are_the_plans_speech_events(flagship: BuildResult) -> None:
    timeline = flagship.plan.timeline
    cues = _vtt_cues(flagship.files[1].read_text(encoding="utf-8"))
    assert all(len(line) <= MAX_LINE_CHARS for _, _, lines in cues for line in lines)
    phrases = [(timeline.ms(e.start_sample), timeline.ms(e.end_sample), e.text) for e in timeline.speech()]
    phrases = [p for p in phrases if p[2].strip()]
    position = 0
    for start_ms, end_ms, text in phrases:
        group = []
        while position < len(cues) and cues[position][1] <= end_ms:
            group.append(cues[position])
            position += 1
        assert group, text
        assert group[0][0] == start_ms and group[-1][1] == end_ms, text  # to the millisecond
        assert all(a[1] == b[0] for a, b in itertools.pairwise(group)), text  # contiguous splits
        spoken = " ".join(_unescape(line) for _, _, lines in group for line in lines)
        assert spoken == " ".join(text.split())
    assert position == len(cues)  # every cue belongs to a phrase


def test_chapters_json_matches_the_plan(flagship: BuildResult) -> None:
    document = json.loads(flagship.files[2].read_text(encoding="utf-8"))
    assert document["version"] == CHAPTERS_JSON_VERSION == "1.2.0"
    assert document["title"] == flagship.plan.routine.title
    got = [
        (round(c["startTime"] * 1000), round(c["endTime"] * 1000), c["title"]) for c in document["chapters"]
    ]
    assert got == _plan_chapters(flagship.plan.timeline)
    starts = [c["startTime"] for c in document["chapters"]]
    assert starts == sorted(starts) and starts[0] == 0
    # Whole milliseconds, as written with three decimals (x.xxx * 1000 need not be exact in binary).
    assert all(abs(c["startTime"] * 1000 - round(c["startTime"] * 1000)) < 1e-6 for c in document["chapters"])


# --- failed builds leave earlier output alone -------------------------------------------------------------

ONE_MINUTE = textwrap.dedent(
    """\
    title: One-Minute Reset
    duration: 1m30s  # the settle, moves and closing need more than a minute
    steps:
      - pose: seated-twist
        hold: 10s
        sides: both
    """
)
SHORT = CompileOptions(intro="short", verbosity="brief")


@pytest.fixture(scope="module")
def existing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, bytes]]:
    """A routine and a finished build of it (the output and its sidecars), as bytes."""
    folder = tmp_path_factory.mktemp("existing")
    routine = folder / "one-minute.yaml"
    routine.write_text(ONE_MINUTE, encoding="utf-8")
    out = folder / "out" / "session.mp3"
    result = build(routine, BuildOptions(output=out, compile=SHORT))
    return routine, out, {p.name: p.read_bytes() for p in result.files}


def _assert_untouched(out: Path, before: dict[str, bytes]) -> None:
    after = {p.name: p.read_bytes() for p in sorted(out.parent.iterdir())}
    assert after.keys() == before.keys(), "no .part file (or anything else) is left behind"
    for name, data in before.items():
        assert after[name] == data, name


def _no_render_thread_left() -> None:
    gc.collect()  # the failed build's stream is freed with its traceback
    deadline = time.perf_counter() + 5
    while any(t.name == "audioguide-render" for t in threading.enumerate()):
        assert time.perf_counter() < deadline, "the render thread outlived the failed build"
        time.sleep(0.02)


def test_interrupted_build_keeps_the_previous_output(existing: tuple[Path, Path, dict[str, bytes]]) -> None:
    routine, out, before = existing

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "render" and done > total // 3:
            raise KeyboardInterrupt  # Ctrl-C, a third of the way through encoding

    with pytest.raises(KeyboardInterrupt):
        build(routine, BuildOptions(output=out, compile=SHORT, comment="a different build"), progress)
    _assert_untouched(out, before)
    _no_render_thread_left()


def test_encoder_failure_keeps_the_previous_output(
    existing: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    routine, out, before = existing
    real_write = audioguide.export.encode.Mp3Encoder._write
    calls = {"n": 0}

    def failing_write(self: audioguide.export.encode.Mp3Encoder, frames: np.ndarray) -> None:
        calls["n"] += 1
        if calls["n"] > 5:
            raise ExportError("disk full (simulated)")
        real_write(self, frames)

    monkeypatch.setattr(audioguide.export.encode.Mp3Encoder, "_write", failing_write)
    with pytest.raises(ExportError, match="disk full"):
        build(routine, BuildOptions(output=out, compile=SHORT, comment="a different build"))
    assert calls["n"] == 6
    _assert_untouched(out, before)
    _no_render_thread_left()


def test_sidecar_failure_keeps_the_previous_output(
    existing: tuple[Path, Path, dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    routine, out, before = existing

    def failing(*args: object, **kwargs: object) -> str:
        raise ExportError("cannot write chapters (simulated)")

    monkeypatch.setattr(audioguide.export.sidecars, "chapters_json_text", failing)
    with pytest.raises(ExportError, match="simulated"):
        build(routine, BuildOptions(output=out, compile=SHORT, comment="a different build"))
    _assert_untouched(out, before)  # the new audio, already encoded, is not put in place either


def test_the_short_routine_is_mono_and_exact(existing: tuple[Path, Path, dict[str, bytes]]) -> None:
    _, out, _ = existing
    assert stream_info(out) == (RATE, 1)
    assert len(decode(out)[0]) == 90 * RATE
