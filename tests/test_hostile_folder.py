"""A series folder under careless or hostile use (issue 15): the manifest, other shows, locks, leftovers.

Only files the tool itself made inside the output folder are ever deleted or overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from audioguide.cli import main
from audioguide.errors import ExportError
from audioguide.fsutil import folder_lock, read_capped, staged_leftovers
from audioguide.series.build import SeriesOptions, build_series, plan_series
from audioguide.series.manifest import MANIFEST

SERIES_DATA = Path(__file__).resolve().parent / "data" / "series" / "backcare"
SERIES = """\
title: {title}
description: One short episode, for tests.
base_url: {url}
episodes:
  - routine: ep-quick.yaml
    verbosity: minimal
"""


def tiny_series(folder: Path, url: str = "https://example.org/tiny/", title: str = "Tiny Show") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(SERIES_DATA / "ep-quick.yaml", folder / "ep-quick.yaml")
    path = folder / "series.yaml"
    path.write_text(SERIES.format(url=url, title=title), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def built_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny")
    series = tiny_series(root / "src")
    build_series(series, SeriesOptions(output=root / "site", jobs=1, engine="tone"))
    return series, root / "site"


@pytest.fixture
def site(built_once: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    series, out = built_once
    shutil.copytree(series.parent, tmp_path / "src")
    shutil.copytree(out, tmp_path / "site")
    return tmp_path / "src" / "series.yaml", tmp_path / "site"


def edit_manifest(out: Path, change) -> None:  # type: ignore[no-untyped-def]
    data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    change(data)
    (out / MANIFEST).write_text(json.dumps(data), encoding="utf-8")


@pytest.mark.parametrize("name", ["../victim.txt", "ABSOLUTE", "sub/01-x.mp3", ".hidden.mp3", "01-x.vtt"])
def test_a_manifest_naming_files_outside_the_folder_deletes_nothing(
    site: tuple[Path, Path], tmp_path: Path, name: str
) -> None:
    series, out = site
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (out / "sub").mkdir()
    (out / "sub" / "01-x.mp3").write_text("mine")
    name = str(victim) if name == "ABSOLUTE" else name
    entry = json.loads((out / MANIFEST).read_text())["files"]["01-ep-quick.mp3"]
    edit_manifest(out, lambda d: d["files"].update({name: entry}))
    with pytest.raises(ExportError, match="not the name of an episode file"):
        build_series(series, SeriesOptions(output=out, jobs=1, engine="tone"))
    assert victim.read_text() == "precious"
    assert (out / "sub" / "01-x.mp3").read_text() == "mine"


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.update(files=[]),
        lambda d: d["files"]["01-ep-quick.mp3"].update(bytes="12"),
        lambda d: d["files"]["01-ep-quick.mp3"].update(chapters=[[0, 1]]),
        lambda d: d["files"]["01-ep-quick.mp3"].update(chapters=None),
        lambda d: d["guids"].update(x=[1]),
        lambda d: d.update(created=True),
        lambda d: d.update(source=7),
        lambda d: d.update(created=10**20),
        lambda d: [g.update(published=-1) for g in d["guids"].values()],
        lambda d: d["files"]["01-ep-quick.mp3"].update(chapters=[[0, 10, "a\x1b[2Jb"]]),
    ],
)
def test_a_manifest_with_wrong_inner_types_is_a_clean_error(
    site: tuple[Path, Path], damage, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    series, out = site
    edit_manifest(out, damage)
    code = main(["series", "plan", str(series), "-o", str(out), "--engine", "tone"])
    err = capsys.readouterr().err
    assert code == ExportError.exit_code, err
    assert "is not a series manifest this version can read" in err
    assert "internal error" not in err


def test_another_series_is_not_built_into_a_folder_that_holds_one(
    site: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = site
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    other = tiny_series(tmp_path / "other", "https://example.com/another-show/", "Another Show")
    with pytest.raises(ExportError, match="holds another series"):
        build_series(other, SeriesOptions(output=out, jobs=1, engine="tone"))
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_the_same_series_moved_or_readdressed_keeps_its_folder(site: tuple[Path, Path]) -> None:
    series, out = site  # the copy lives elsewhere than the series that built the folder
    [plan] = plan_series(series, SeriesOptions(output=out, engine="tone"))
    assert plan.action == "none"
    guid = json.loads((out / MANIFEST).read_text())["channel_guid"]
    series.write_text(series.read_text().replace("example.org/tiny", "example.net/tiny"))
    build_series(series, SeriesOptions(output=out, jobs=1, engine="tone"))  # same file, new address
    assert json.loads((out / MANIFEST).read_text())["channel_guid"] == guid


def test_staged_leftovers_are_swept_and_nothing_else(site: tuple[Path, Path]) -> None:
    series, out = site
    ours = [
        ".01-ep-quick.mp3.k2x9_a0b.mp3.part",
        "..01-ep-quick.mp3.k2x9_a0b.mp3.part.zz00yy11.part.part",
        ".01-ep-quick.vtt.abcdefgh.vtt.part",
        ".feed.xml.a1b2c3d4.xml.part",
        f".{MANIFEST}.qwertyui.json.part",
    ]
    theirs = ["notes.part", ".notes.abcdefgh.txt.part", ".01-ep-quick.mp3.part", "x.01-ep-quick.mp3.a.part"]
    for name in ours + theirs:
        (out / name).write_text("x")
    assert sorted(p.name for p in staged_leftovers(out, ["01-ep-quick.mp3"])) == sorted(ours[:2])
    build_series(series, SeriesOptions(output=out, jobs=1, engine="tone"))
    left = {p.name for p in out.iterdir()}
    assert not left & set(ours)
    assert set(theirs) <= left


def test_a_second_build_of_a_folder_waits_for_the_first(tmp_path: Path) -> None:
    waited = threading.Event()
    got: list[float] = []

    def second() -> None:
        with folder_lock(tmp_path, waited.set):
            got.append(time.monotonic())

    with folder_lock(tmp_path):
        thread = threading.Thread(target=second)
        thread.start()
        assert waited.wait(5), "the second holder did not notice the first"
        time.sleep(0.2)
        assert not got, "the second holder got the lock while the first held it"
        released = time.monotonic()
    thread.join(5)
    assert got and got[0] >= released


def test_an_unwritable_output_folder_fails_before_any_work(site: tuple[Path, Path], tmp_path: Path) -> None:
    series, _ = site
    (tmp_path / "a-file").write_text("x")
    out = tmp_path / "a-file" / "site"  # a folder that cannot be made (works as root too)
    started = time.monotonic()
    with pytest.raises(ExportError, match="cannot write in the folder"):
        build_series(series, SeriesOptions(output=out, jobs=1, engine="tone", force=True))
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo", "folder"])
def test_read_capped_refuses_what_is_not_a_regular_file_fast(tmp_path: Path, special: str) -> None:

    path = Path(special)
    if special == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif special == "folder":
        path = tmp_path
    started = time.monotonic()
    with pytest.raises(OSError, match="not a regular file"):
        read_capped(path, 1000)
    assert time.monotonic() - started < 1.0


def test_read_capped_counts_the_bytes_read_not_the_size_claimed(tmp_path: Path) -> None:
    path = tmp_path / "big"
    path.write_bytes(b"x" * 1001)
    with pytest.raises(OSError, match="larger than 1,000 bytes"):
        read_capped(path, 1000)
    assert read_capped(path, 1001) == b"x" * 1001


def test_build_into_an_unwritable_folder_fails_before_the_render(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "a-file").write_text("x")
    started = time.monotonic()
    code = main(["build", str(SERIES_DATA / "ep-quick.yaml"), "-o", "/proc/audioguide-test.mp3"])  # root too
    err = capsys.readouterr().err
    assert code == ExportError.exit_code, err
    assert "cannot write in the folder" in err
    assert time.monotonic() - started < 2.0  # the neural voice and the render would take far longer


def test_a_full_disk_fails_before_the_render(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Too little room for the file the timeline will make: an error after planning, before any
    audio is rendered (the render is what takes tens of seconds), and nothing written."""
    import shutil

    import audioguide.pipeline.build as pipeline_build

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr("audioguide.fsutil.shutil.disk_usage", lambda _: usage._replace(free=500_000))

    def no_render(*args: object, **kwargs: object) -> None:
        raise AssertionError("the render started")

    monkeypatch.setattr(pipeline_build, "Mixer", no_render)
    out = tmp_path / "out" / "session.mp3"
    code = main(["build", str(SERIES_DATA / "ep-quick.yaml"), "--engine", "espeak", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == ExportError.exit_code, err
    assert "not enough room in" in err and "MB free" in err
    assert not any(out.parent.iterdir())
