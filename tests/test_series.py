"""Series: the series file, incremental and parallel builds, Ctrl-C, tags, and the series commands."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from audio_tools import ffmpeg_duration_samples
from click.testing import CliRunner
from mutagen.id3 import ID3

from audioguide.cli import cli, main
from audioguide.compile.compiler import Options, compile_routine
from audioguide.errors import RoutineError
from audioguide.export.cover import make_cover
from audioguide.load.poses import phrases
from audioguide.series import workers as series_workers
from audioguide.series.build import EpisodeReport, SeriesOptions, SeriesResult, build_series, plan_series
from audioguide.series.feed import episode_guid, podcast_guid
from audioguide.series.manifest import MANIFEST
from audioguide.series.spec import load_series
from audioguide.series.workers import EpisodeError

SERIES_DATA = Path(__file__).resolve().parent / "data" / "series" / "backcare"
EPISODES = ("01-ep-quick.mp3", "02-ep-mid.mp3", "03-ep-stand.mp3")
FAST = {"engine": "tone"}  # the tone engine: these tests are about the series, not the voice
SAMPLE_RATE = 44_100


def copy_series(folder: Path) -> Path:
    """A private copy of the test series (routines and series files) in ``folder``."""
    shutil.copytree(SERIES_DATA, folder, dirs_exist_ok=True)
    return folder / "short.yaml"


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (inode, mtime_ns, size) of every file: a rewrite (atomic rename) changes the inode."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def staged_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.name.endswith(".part")]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, SeriesResult]:
    """The short test series built once (serially, tone engine): (series file, output folder, result)."""
    root = tmp_path_factory.mktemp("series")
    series_file = copy_series(root / "src")
    out = root / "site"
    result = build_series(series_file, SeriesOptions(output=out, jobs=1, **FAST))
    return series_file, out, result


@pytest.fixture
def site_copy(built: tuple[Path, Path, SeriesResult], tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the built series (sources and output, times kept) that a test may change."""
    series_file, out, _ = built
    shutil.copytree(series_file.parent, tmp_path / "src")
    shutil.copytree(out, tmp_path / "site")
    return tmp_path / "src" / series_file.name, tmp_path / "site"


# -- the series file -----------------------------------------------------------------------------------


def test_the_issue_example_loads() -> None:
    series = load_series(SERIES_DATA / "series.yaml")
    assert series.title == "Back Care Basics"
    assert series.author == "Back Care Basics"
    assert series.language == "en"
    assert series.base_url == "https://example.org/backcare/"
    assert series.feed_url == "https://example.org/backcare/feed.xml"
    assert series.image is None
    first, second, third = series.episodes
    assert [e.filename for e in series.episodes] == [
        "01-lower-back-10min.mp3",
        "02-ep-quick.mp3",
        "03-ep-mid.mp3",
    ]
    assert first.ref == "lower-back-10min" and first.title == "Ten-Minute Lower Back Release"
    assert second.ref == str(SERIES_DATA / "ep-quick.yaml") and second.title == "Quick Lower Back Reset"
    assert third.title == "Mid-Back Release for Desk Days"  # the override
    assert third.routine.title == "Mid-Back Release for Desk Days"  # so it is also spoken and tagged
    assert [e.key for e in series.episodes] == ["lower-back-10min", "ep-quick.yaml", "ep-mid.yaml"]


def test_only_the_first_episode_speaks_the_full_safety_note() -> None:
    series = load_series(SERIES_DATA / "series.yaml")
    assert [e.intro for e in series.episodes] == ["full", "short", "short"]
    full = set(phrases()["safety_full"])
    short = phrases()["safety_short"][0]
    for episode in series.episodes:
        spoken = set(compile_routine(episode.routine, Options(intro=episode.intro)).phrases())
        if episode.number == 1:
            assert full <= spoken and short not in spoken
        else:
            assert not full & spoken and short in spoken


def test_episode_overrides(tmp_path: Path) -> None:
    (tmp_path / "my-voice.yaml").write_text("engine: auto\nvoice: en-us\nrate: 140\n", encoding="utf-8")
    (tmp_path / "series.yaml").write_text(
        "title: T\ndescription: D\nbase_url: http://example.org/x\nlanguage: de-AT\nauthor: A\n"
        "episodes:\n"
        "  - routine: desk-break-5min\n    intro: off\n    verbosity: minimal\n    duration: 4m\n"
        "  - routine: desk-break-5min\n    intro: on\n    voice: my-voice.yaml\n"
        "    description: Twice & again\n"
        "  - lower-back-10min\n",
        encoding="utf-8",
    )
    one, two, three = load_series(tmp_path / "series.yaml").episodes
    assert (one.intro, one.verbosity, one.duration_ms, one.voice) == ("short", "minimal", 240_000, None)
    assert (two.intro, two.voice) == ("full", str(tmp_path / "my-voice.yaml"))
    assert two.description == "Twice & again"
    assert (one.key, two.key) == ("desk-break-5min", "desk-break-5min#2")  # each its own guid
    assert (three.key, three.intro) == ("lower-back-10min", "short")


BAD_SERIES = [
    ("title: T\ndescription: D\nbase_url: https://e.org/\nepisdoes: []\n", 4, "episdoes", "'episodes'"),
    ("title: T\ndescription: D\nepisodes: [lower-back-10min]\n", 1, "base_url", "missing 'base_url'"),
    ("title: T\ndescription: D\nbase_url: example.org\nepisodes: [x]\n", 3, "base_url", "https://"),
    ("title: T\ndescription: D\nbase_url: https://e.org/\nepisodes: []\n", 4, "episodes", "empty"),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nlanguage: english!\nepisodes: [a]\n",
        4,
        "language",
        "en-GB",
    ),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nepisodes:\n  - routine: lower-back-10mn\n",
        5,
        "episodes[0].routine",
        "did you mean 'lower-back-10min'?",
    ),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nepisodes:\n  - routine: ep-quik.yaml\n",
        5,
        "episodes[0].routine",
        "did you mean 'ep-quick.yaml'?",
    ),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nepisodes:\n  - routine: ep-quick.yaml\n"
        "    titel: X\n",
        6,
        "episodes[0].titel",
        "did you mean 'title'?",
    ),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nepisodes:\n  - routine: ep-quick.yaml\n"
        "    verbosity: breif\n",
        6,
        "episodes[0].verbosity",
        "did you mean 'brief'?",
    ),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nepisodes:\n  - routine: ep-quick.yaml\n"
        "    intro: maybe\n",
        6,
        "episodes[0].intro",
        "on or off",
    ),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nepisodes:\n  - routine: ep-quick.yaml\n"
        "    duration: 5 parsecs\n",
        6,
        "episodes[0].duration",
        "30s",
    ),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nepisodes:\n  - routine: ep-quick.yaml\n"
        "    voice: defualt\n",
        6,
        "episodes[0].voice",
        "did you mean 'default'?",
    ),
    (
        "title: T\ndescription: D\nbase_url: https://e.org/\nimage: ep-quick.yaml\nepisodes: [a]\n",
        4,
        "image",
        "PNG",
    ),
    ("- just\n- a list\n", 1, None, "a series must be a mapping"),
]


@pytest.mark.parametrize(("text", "line", "key", "expected"), BAD_SERIES, ids=[c[3] for c in BAD_SERIES])
def test_series_errors_name_the_file_line_and_key(
    tmp_path: Path, text: str, line: int, key: str | None, expected: str
) -> None:
    copy_series(tmp_path)
    path = tmp_path / "bad-series.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RoutineError) as info:
        load_series(path)
    err = info.value
    assert (err.file, err.line, err.key) == (str(path), line, key)
    assert expected in str(err)
    assert "\n" not in str(err)


def test_a_routine_error_inside_an_episode_names_the_routine_file(tmp_path: Path) -> None:
    copy_series(tmp_path)
    (tmp_path / "ep-quick.yaml").write_text("title: Q\nsteps:\n  - pose: cat-cwo\n", encoding="utf-8")
    with pytest.raises(RoutineError, match=r"ep-quick\.yaml:3: steps\[0\]\.pose: .*did you mean 'cat-cow'"):
        load_series(tmp_path / "short.yaml")


def test_the_cover_image_must_be_a_square_png_podcast_apps_accept(tmp_path: Path) -> None:
    copy_series(tmp_path)
    text = (tmp_path / "short.yaml").read_text(encoding="utf-8") + "image: art/cover.png\n"
    (tmp_path / "short.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "cover.png").write_bytes(make_cover("Art", size=1400))
    assert load_series(tmp_path / "short.yaml").image_png == (tmp_path / "art" / "cover.png").read_bytes()
    from PIL import Image

    Image.new("RGB", (600, 600)).save(tmp_path / "art" / "cover.png")
    with pytest.raises(RoutineError, match="600x600 pixels; podcast apps want a square of 1400 to 3000"):
        load_series(tmp_path / "short.yaml")


def test_a_transparent_png_is_flattened_to_rgb_and_a_jpeg_is_accepted(tmp_path: Path) -> None:
    import io

    from PIL import Image

    copy_series(tmp_path)
    text = (tmp_path / "short.yaml").read_text(encoding="utf-8")
    (tmp_path / "short.yaml").write_text(text + "image: cover.png\n", encoding="utf-8")
    rgba = Image.new("RGBA", (1400, 1400), (0, 0, 0, 0))  # transparent, with an opaque red square
    rgba.paste((200, 0, 0, 255), (100, 100, 300, 300))
    rgba.save(tmp_path / "cover.png")
    flat = Image.open(io.BytesIO(load_series(tmp_path / "short.yaml").image_png or b""))
    assert (flat.format, flat.mode, "transparency" in flat.info) == ("PNG", "RGB", False)
    assert flat.getpixel((10, 10)) == (255, 255, 255) and flat.getpixel((150, 150)) == (200, 0, 0)

    (tmp_path / "short.yaml").write_text(text + "image: cover.jpg\n", encoding="utf-8")
    Image.new("RGB", (1500, 1500), (10, 120, 200)).save(tmp_path / "cover.jpg", quality=95)
    series = load_series(tmp_path / "short.yaml")
    converted = Image.open(io.BytesIO(series.image_png or b""))
    assert (converted.format, converted.mode, converted.size) == ("PNG", "RGB", (1500, 1500))
    assert max(abs(a - b) for a, b in zip(converted.getpixel((700, 700)), (10, 120, 200), strict=True)) <= 3
    (tmp_path / "short.yaml").write_text(text + "image: cover.gif\n", encoding="utf-8")
    Image.new("RGB", (1400, 1400)).save(tmp_path / "cover.gif")
    with pytest.raises(RoutineError, match="GIF image; expected PNG or JPEG"):
        load_series(tmp_path / "short.yaml")
    (tmp_path / "cover.gif").write_text("not an image", encoding="utf-8")
    with pytest.raises(RoutineError, match="does not decode as PNG or JPEG"):
        load_series(tmp_path / "short.yaml")


# -- building ------------------------------------------------------------------------------------------


def test_a_build_writes_every_file_of_the_folder(built: tuple[Path, Path, SeriesResult]) -> None:
    _, out, result = built
    names = {p.name for p in out.iterdir()}
    for episode in EPISODES:
        stem = episode.removesuffix(".mp3")
        assert {episode, f"{stem}.vtt", f"{stem}.chapters.json"} <= names
    assert {"feed.xml", "index.html", "cover.png", MANIFEST} <= names
    assert not staged_files(out)
    assert [r.status for r in result.episodes] == ["built"] * 3
    assert set(result.written) == set(out.iterdir())


def test_each_episode_is_tagged_as_part_of_the_series(built: tuple[Path, Path, SeriesResult]) -> None:
    series_file, out, _ = built
    series = load_series(series_file)
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    cover = (out / "cover.png").read_bytes()
    for episode in series.episodes:
        tags = ID3(out / episode.filename)
        assert str(tags["TIT2"]) == episode.title
        assert str(tags["TALB"]) == 'Back Care <Shorts> & "Snacks"'
        assert str(tags["TPE1"]) == "Ana Müller & Co"
        assert str(tags["TRCK"]) == f"{episode.number}/3"
        assert str(tags["TDRC"]) == str(_year(manifest["created"]))
        assert tags.getall("COMM")[0].text == [episode.description]
        assert tags.getall("APIC")[0].data == cover
    assert str(ID3(out / "02-ep-mid.mp3")["TIT2"]) == "Mid-Back Release for <Desk> Days"


def _year(epoch: int) -> int:
    import time

    return time.gmtime(epoch).tm_year


def test_each_episode_is_exactly_as_long_as_its_manifest_says(built: tuple[Path, Path, SeriesResult]) -> None:
    _, out, result = built
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    for report in result.episodes:
        entry = manifest["files"][report.path.name]
        assert entry["bytes"] == report.path.stat().st_size
        # Decoded length to the sample; the manifest keeps whole milliseconds (half a ms either way).
        seconds = ffmpeg_duration_samples(report.path) / SAMPLE_RATE
        assert abs(seconds * 1000 - entry["length_ms"]) <= 0.5
        sidecar = json.loads(report.path.with_suffix(".chapters.json").read_text(encoding="utf-8"))
        assert [[round(c["startTime"] * 1000), c["title"]] for c in sidecar["chapters"]] == [
            [start, title] for start, _, title in entry["chapters"]
        ]


def test_a_rebuild_with_nothing_changed_writes_nothing(site_copy: tuple[Path, Path]) -> None:
    series_file, out = site_copy
    before = snapshot(out)
    feed = (out / "feed.xml").read_bytes()
    result = build_series(series_file, SeriesOptions(output=out, **FAST))
    assert result.written == () and result.removed == ()
    assert [r.status for r in result.episodes] == ["up to date"] * 3
    assert snapshot(out) == before
    assert (out / "feed.xml").read_bytes() == feed


NOOP_LOADS = """
import sys
from audioguide.cli import main
code = main(sys.argv[1:])
print(code, *sorted(sys.modules))
"""


def test_a_rebuild_with_nothing_changed_loads_no_workers_nor_pillow(site_copy: tuple[Path, Path]) -> None:
    """The no-op is most rebuilds: it loads neither the workers (multiprocessing) nor Pillow."""
    series_file, out = site_copy
    argv = ["series", "build", str(series_file), "-o", str(out), "-q", "--engine", "tone"]
    run = subprocess.run(
        [sys.executable, "-c", NOOP_LOADS, *argv], capture_output=True, text=True, timeout=120
    )
    code, *modules = run.stdout.splitlines()[-1].split()
    assert code == "0", run.stderr
    assert "3 episodes (3 up to date); nothing written" in run.stdout
    assert "audioguide.series.build" in modules
    unneeded = ("audioguide.series.workers", "multiprocessing", "concurrent.futures", "PIL", "http.server")
    assert not [m for m in modules if m.startswith(unneeded)]


def test_editing_one_routine_rebuilds_that_episode_alone(site_copy: tuple[Path, Path]) -> None:
    series_file, out = site_copy
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    before = snapshot(out)
    routine = series_file.parent / "ep-mid.yaml"
    routine.write_text(
        routine.read_text(encoding="utf-8") + "  - say: Breathe out slowly.\n", encoding="utf-8"
    )
    reports: list[tuple[str, str, int, int]] = []

    def progress(report: EpisodeReport, done: int, total: int) -> None:
        reports.append((report.status, report.path.name, done, total))

    result = build_series(series_file, SeriesOptions(output=out, **FAST), progress)
    assert sorted(reports) == [
        ("built", "02-ep-mid.mp3", 3, 3),
        ("up to date", "01-ep-quick.mp3", 1, 3),
        ("up to date", "03-ep-stand.mp3", 2, 3),
    ]
    after = snapshot(out)
    changed = {name for name in after if after[name] != before.get(name)}
    assert changed == {
        "02-ep-mid.mp3",
        "02-ep-mid.vtt",
        "02-ep-mid.chapters.json",
        "feed.xml",
        "index.html",
        MANIFEST,
    }
    assert {p.name for p in result.written} == changed
    again = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert again["guids"] == manifest["guids"]  # guids and dates: assigned once
    assert (
        again["channel_guid"]
        == manifest["channel_guid"]
        == podcast_guid("https://example.org/back-care/shorts/feed.xml")
    )


def test_tag_only_changes_retag_in_place_with_the_same_bytes_as_a_fresh_build(
    site_copy: tuple[Path, Path], tmp_path: Path
) -> None:
    series_file, out = site_copy
    text = series_file.read_text(encoding="utf-8").replace("author: Ana Müller & Co", "author: B. Careful")
    series_file.write_text(text, encoding="utf-8")
    result = build_series(series_file, SeriesOptions(output=out, **FAST))
    assert [r.status for r in result.episodes] == ["retagged"] * 3
    assert str(ID3(out / EPISODES[0])["TPE1"]) == "B. Careful"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    shutil.copy2(out / MANIFEST, fresh / MANIFEST)  # the same first-build time, so the same year tag
    build_series(series_file, SeriesOptions(output=fresh, jobs=1, force=True, **FAST))
    for name in (*EPISODES, "feed.xml", "index.html", "cover.png"):
        assert (out / name).read_bytes() == (fresh / name).read_bytes(), name


def test_guids_survive_a_moved_feed_and_a_lost_manifest(site_copy: tuple[Path, Path]) -> None:
    series_file, out = site_copy
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    text = series_file.read_text(encoding="utf-8")
    series_file.write_text(
        text.replace("example.org/back-care/shorts", "cdn.example.net/b"), encoding="utf-8"
    )
    build_series(series_file, SeriesOptions(output=out, **FAST))
    moved = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert (moved["channel_guid"], moved["guids"]) == (manifest["channel_guid"], manifest["guids"])
    assert "https://cdn.example.net/b/01-ep-quick.mp3" in (out / "feed.xml").read_text(encoding="utf-8")
    # Were the manifest lost, the guids would be derived again from the feed URL: the same ones.
    feed_url = "https://example.org/back-care/shorts/feed.xml"
    assert {k: episode_guid(feed_url, k) for k in manifest["guids"]} == {
        k: v["guid"] for k, v in manifest["guids"].items()
    }


def test_a_dropped_episode_is_removed_and_a_missing_file_rebuilt(site_copy: tuple[Path, Path]) -> None:
    series_file, out = site_copy
    text = series_file.read_text(encoding="utf-8")
    series_file.write_text(text[: text.index("  - routine: ep-stand.yaml")], encoding="utf-8")
    (out / "01-ep-quick.vtt").unlink()
    result = build_series(series_file, SeriesOptions(output=out, **FAST))
    assert {p.name for p in result.removed} == {
        "03-ep-stand.mp3",
        "03-ep-stand.vtt",
        "03-ep-stand.chapters.json",
    }
    assert [r.status for r in result.episodes] == ["built", "retagged"]  # 01 lost a file; 02 is now "2/2"
    assert not (out / "03-ep-stand.mp3").exists() and (out / "01-ep-quick.vtt").is_file()
    assert str(ID3(out / "02-ep-mid.mp3")["TRCK"]) == "2/2"


def test_parallel_builds_give_the_same_bytes_as_serial_ones(
    built: tuple[Path, Path, SeriesResult], tmp_path: Path
) -> None:
    series_file, out, _ = built
    shutil.copy2(out / MANIFEST, tmp_path / MANIFEST)  # the same first-build time, so the same tags
    result = build_series(series_file, SeriesOptions(output=tmp_path, jobs=2, force=True, **FAST))
    assert sorted(r.status for r in result.episodes) == ["built"] * 3
    for name in (*EPISODES, "feed.xml", "index.html"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name


def test_ctrl_c_in_a_parallel_build_keeps_finished_episodes_and_no_partial_files(
    built: tuple[Path, Path, SeriesResult], tmp_path: Path
) -> None:
    series_file, _, _ = built
    finished: list[Path] = []

    def progress(report: EpisodeReport, done: int, total: int) -> None:
        finished.append(report.path)
        raise KeyboardInterrupt  # as if Ctrl-C came while the other workers are mid-build

    with pytest.raises(KeyboardInterrupt):
        build_series(series_file, SeriesOptions(output=tmp_path, jobs=2, **FAST), progress)
    # The first to finish, and the other worker's episode if it finished in the grace period: each
    # is recorded as soon as it finished, and nothing half-written is left.
    assert 1 <= len(finished) <= 2 and not staged_files(tmp_path)
    manifest = json.loads((tmp_path / MANIFEST).read_text(encoding="utf-8"))
    assert sorted(manifest["files"]) == sorted(p.name for p in finished)
    for path in finished:
        assert manifest["files"][path.name]["bytes"] == path.stat().st_size
        assert ffmpeg_duration_samples(path) > 0
    audio = {p.name for p in tmp_path.glob("*.mp3")}
    assert audio <= set(EPISODES) and {p.name for p in finished} <= audio
    # Run again: the finished episodes are kept, the rest are built.
    result = build_series(series_file, SeriesOptions(output=tmp_path, jobs=1, **FAST))
    statuses = {r.path.name: r.status for r in result.episodes}
    assert all(statuses.pop(p.name) == "up to date" for p in finished)
    assert set(statuses.values()) <= {"built"}


def test_ctrl_c_in_a_serial_build_mid_write_leaves_no_partial_files(
    built: tuple[Path, Path, SeriesResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    series_file, _, _ = built
    import audioguide.pipeline.build

    real = audioguide.pipeline.build.write_tags
    calls: list[Path] = []

    def interrupted(path: Path, *args: object, **kwargs: object) -> None:
        calls.append(path)
        if len(calls) == 2:  # the second episode: its audio is encoded to a staged file by now
            assert staged_files(tmp_path)
            raise KeyboardInterrupt
        real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(audioguide.pipeline.build, "write_tags", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build_series(series_file, SeriesOptions(output=tmp_path, jobs=1, **FAST))
    assert not staged_files(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.mp3")) == [EPISODES[0]]
    assert ffmpeg_duration_samples(tmp_path / EPISODES[0]) > 0


def test_a_failing_episode_is_named(built: tuple[Path, Path, SeriesResult], tmp_path: Path) -> None:
    series_file, _, _ = built
    src = tmp_path / "src"
    shutil.copytree(series_file.parent, src)
    text = (src / "short.yaml").read_text(encoding="utf-8")
    (src / "short.yaml").write_text(text.replace("    intro: off\n", "    intro: off\n    duration: 10s\n"))
    with pytest.raises(EpisodeError, match=r"^03-ep-stand\.mp3: ") as info:
        build_series(src / "short.yaml", SeriesOptions(output=tmp_path / "site", jobs=1, **FAST))
    assert info.value.exit_code == 3  # the ScheduleError's: the speech does not fit in 10 s
    assert not staged_files(tmp_path)


def test_sweep_staged_removes_only_this_outputs_staged_files(tmp_path: Path) -> None:
    ours = [  # the names staged_path gives (mkstemp: the target's name, then 8 random characters)
        tmp_path / ".01-a.mp3.k2x9_a0b.mp3.part",
        tmp_path / "..01-a.mp3.k2x9_a0b.mp3.part.zz00yy11.part.part",
        tmp_path / ".01-a.chapters.json.abcdefgh.json.part",
    ]
    theirs = [
        tmp_path / ".01-ab.mp3.k2x9_a0b.mp3.part",
        tmp_path / "01-a.mp3",
        tmp_path / ".other.part",
        tmp_path / ".01-a.x1.mp3.part",  # not a name staged_path makes: not ours to delete
    ]
    for path in (*ours, *theirs):
        path.write_bytes(b"x")
    assert sorted(series_workers.sweep_staged([tmp_path / "01-a.mp3"])) == sorted(ours)
    assert all(p.exists() for p in theirs)


# -- planning and the commands -------------------------------------------------------------------------


def test_plan_lists_lengths_and_what_would_be_rebuilt(site_copy: tuple[Path, Path]) -> None:
    series_file, out = site_copy
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    routine = series_file.parent / "ep-stand.yaml"
    routine.write_text(routine.read_text(encoding="utf-8").replace("reps: 3", "reps: 4"), encoding="utf-8")
    before = snapshot(out)
    plans = plan_series(series_file, SeriesOptions(output=out, **FAST))
    assert [(p.episode.number, p.action, p.reason) for p in plans] == [
        (1, "none", "up to date"),
        (2, "none", "up to date"),
        (3, "build", "changed"),
    ]
    for p in plans[:2]:
        assert p.length_ms == manifest["files"][p.path.name]["length_ms"]
    assert snapshot(out) == before  # planning writes nothing
    assert [p.action for p in plan_series(series_file, SeriesOptions(output=out / "new", **FAST))] == [
        "build"
    ] * 3


def test_series_commands(site_copy: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    series_file, out = site_copy
    code = main(["series", "build", str(series_file), "-o", str(out), "--engine", "tone", "--jobs", "1"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err.splitlines() == [
        "[1/3] up to date 01-ep-quick.mp3",
        "[2/3] up to date 02-ep-mid.mp3",
        "[3/3] up to date 03-ep-stand.mp3",
    ]
    assert "3 episodes (3 up to date); nothing written" in captured.out
    result = CliRunner().invoke(cli, ["series", "plan", str(series_file), "-o", str(out), "--engine", "tone"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    number, name, length, action = lines[0].split()[:4]
    assert (number, name, action) == ("1", "01-ep-quick.mp3", "keep")
    assert re.fullmatch(r"\d+:\d\d\.\d{3}", length)
    assert "Mid-Back Release for <Desk> Days" in lines[1]
    assert lines[-1].startswith("3 episodes, ") and lines[-1].endswith("0 to (re)build")
    as_json = CliRunner().invoke(
        cli, ["series", "plan", str(series_file), "-o", str(out / "x"), "--json", "--engine", "tone"]
    )
    rows = json.loads(as_json.output)
    assert [(r["number"], r["file"], r["action"], r["reason"]) for r in rows] == [
        (1, "01-ep-quick.mp3", "build", "new"),
        (2, "02-ep-mid.mp3", "build", "new"),
        (3, "03-ep-stand.mp3", "build", "new"),
    ]


def test_series_command_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "series.yaml"
    bad.write_text("title: T\ndescription: D\nbase_url: https://e.org/\nepisodes: [lower-back-10mn]\n")
    code = main(["series", "build", str(bad), "-o", str(tmp_path / "site")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [
        f"audioguide: error: {bad}:4: episodes[0]: no routine file or built-in routine named "
        f"'lower-back-10mn' (looked at {tmp_path / 'lower-back-10mn'}) (did you mean 'lower-back-10min'?)"
    ]
    assert not (tmp_path / "site").exists()


@pytest.mark.slow
def test_end_to_end_with_the_real_voice(tmp_path: Path) -> None:
    """The default engine (eSpeak NG), two episodes at once: real speech in every episode."""
    series_file = copy_series(tmp_path / "src")
    text = series_file.read_text(encoding="utf-8")
    series_file.write_text(text[: text.index("  - routine: ep-stand.yaml")], encoding="utf-8")
    out = tmp_path / "site"
    result = build_series(series_file, SeriesOptions(output=out, jobs=2))
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    for report in result.episodes:
        assert report.status == "built"
        samples = ffmpeg_duration_samples(report.path)
        assert abs(samples / SAMPLE_RATE * 1000 - manifest["files"][report.path.name]["length_ms"]) <= 0.5
    feed = (out / "feed.xml").read_text(encoding="utf-8")
    for report in result.episodes:
        assert f'length="{report.path.stat().st_size}"' in feed
    assert build_series(series_file, SeriesOptions(output=out)).written == ()


def test_per_episode_pace_breath_avoid_and_ambience(tmp_path: Path) -> None:
    (tmp_path / "bed.wav").write_bytes(b"")  # only its existence is checked when the series loads
    (tmp_path / "r.yaml").write_text(
        "title: R\nsteps:\n  - pose: knee-to-chest\n    hold: 3 breaths\n    sides: both\n", encoding="utf-8"
    )
    (tmp_path / "series.yaml").write_text(
        "title: T\ndescription: D\nbase_url: https://example.org/x/\n"
        "episodes:\n"
        "  - routine: r.yaml\n"
        "  - routine: r.yaml\n    pace: slow\n    breath: 4-7-8\n    avoid: supine\n    ambience: rain\n"
        "  - routine: r.yaml\n    pace: brisk\n    avoid: [kneeling, prone]\n    ambience: bed.wav\n",
        encoding="utf-8",
    )
    series = load_series(tmp_path / "series.yaml")
    plain, slow, brisk = series.episodes
    assert (plain.pace, plain.breath, plain.avoid, plain.routine.ambience) == ("normal", None, (), "none")
    assert (slow.pace, slow.breath, slow.avoid, slow.routine.ambience) == (
        "slow",
        "4-7-8",
        ("supine",),
        "rain",
    )
    assert (brisk.pace, brisk.avoid) == ("brisk", ("kneeling", "prone"))
    assert brisk.routine.ambience == str((tmp_path / "bed.wav").resolve())
    # Each reaches the build on its own: the episode's length changes with it.
    (tmp_path / "each.yaml").write_text(
        "title: T\ndescription: D\nbase_url: https://example.org/x/\nepisodes:\n  - r.yaml\n"
        "  - {routine: r.yaml, pace: slow}\n  - {routine: r.yaml, breath: 4-7-8}\n"
        "  - {routine: r.yaml, avoid: supine}\n",
        encoding="utf-8",
    )
    plans = plan_series(tmp_path / "each.yaml", SeriesOptions(output=tmp_path / "site", engine="tone"))
    plain_ms, *changed_ms = [p.length_ms for p in plans]
    assert all(ms != plain_ms for ms in changed_ms), (plain_ms, changed_ms)


@pytest.mark.parametrize(
    ("episode", "key", "message"),
    [
        ("    pace: sloww\n", "episodes[0].pace", "did you mean 'slow'?"),
        ("    breath: boxx\n", "episodes[0].breath", "did you mean 'box'?"),
        ("    avoid: [supin]\n", "episodes[0].avoid", "did you mean 'supine'?"),
        ("    ambience: rian\n", "episodes[0].ambience", "did you mean 'rain'?"),
    ],
)
def test_per_episode_settings_are_checked(tmp_path: Path, episode: str, key: str, message: str) -> None:
    (tmp_path / "series.yaml").write_text(
        "title: T\ndescription: D\nbase_url: https://example.org/x/\n"
        "episodes:\n  - routine: lower-back-10min\n" + episode,
        encoding="utf-8",
    )
    with pytest.raises(RoutineError) as info:
        load_series(tmp_path / "series.yaml")
    assert (info.value.key, info.value.line) == (key, 6)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("owner", "key", "message"),
    [
        ("owner: {name: Ana}\n", "owner.email", "missing 'email'"),
        ("owner: {name: Ana, email: ana}\n", "owner.email", "expected an email address"),
        ("category: {subcategory: Fitness}\n", "category.name", "missing 'name'"),
    ],
)
def test_owner_and_category_are_checked(tmp_path: Path, owner: str, key: str, message: str) -> None:
    (tmp_path / "series.yaml").write_text(
        "title: T\ndescription: D\nbase_url: https://example.org/x/\n"
        + owner
        + "episodes: [lower-back-10min]\n",
        encoding="utf-8",
    )
    with pytest.raises(RoutineError) as info:
        load_series(tmp_path / "series.yaml")
    assert info.value.key == key and message in str(info.value)


def test_the_readmes_series_commands_work_as_written_on_a_fresh_clone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Path(__file__).resolve().parent.parent
    commands = [
        line.split("#", 1)[0].split()[1:]
        for line in (repo / "README.md").read_text(encoding="utf-8").splitlines()
        if line.startswith(".venv/bin/audioguide series ")
    ]
    assert [c[1] for c in commands] == ["plan", "build", "serve"]
    monkeypatch.chdir(repo)
    for command in commands:
        if command[1] != "serve":
            assert Path(command[2]).is_file(), f"README names {command[2]}, which is not shipped"
    plan = commands[0] + ["--engine", "tone", "-o", str(tmp_path / "site")]  # tone: timing only, fast
    result = CliRunner().invoke(cli, plan)
    assert result.exit_code == 0, result.output
    assert "3 episodes" in result.output and "3 to (re)build" in result.output
