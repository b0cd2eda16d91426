"""Careless and hostile input (issue 15): devices, pipes, huge files, odd text and options.

Each case ends in one clean line naming what is wrong (no traceback, no "internal error"), quickly
and in bounded memory, or in a correct result.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from audioguide.cli import main
from audioguide.pipeline.build import BuildOptions, make_plan
from audioguide.speak.cache import SpeechCache

DATA = Path(__file__).resolve().parent / "data"
SERIES_DATA = DATA / "series" / "backcare"
QUICK_S = 5.0  # each refusal takes well under a second; the margin is for a loaded machine


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    started = time.monotonic()
    code = main(args)
    err = capsys.readouterr().err
    assert time.monotonic() - started < QUICK_S, f"took {time.monotonic() - started:.1f} s: {err}"
    assert "internal error" not in err and "Traceback" not in err, err
    return code, err


def fifo(folder: Path, name: str = "fifo") -> Path:
    path = folder / name
    os.mkfifo(path)
    return path


# -- reading only regular files, and only so much -------------------------------------------------------


@pytest.mark.parametrize("special", ["/dev/zero", "/dev/urandom", "fifo"])
def test_a_routine_that_is_a_device_or_a_pipe_is_refused_at_once(
    special: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(fifo(tmp_path)) if special == "fifo" else special
    code, err = run(["plan", path, "--engine", "tone"], capsys)
    assert code == 2
    assert f"{path}: cannot read: not a regular file" in err


def test_a_routine_file_over_the_cap_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("title: x\n" + "#" * 1_100_000 + "\n")
    code, err = run(["plan", str(path), "--engine", "tone"], capsys)
    assert code == 2 and "too large for a routine" in err


def series_with(folder: Path, extra: str) -> Path:
    shutil.copy(SERIES_DATA / "ep-quick.yaml", folder / "ep-quick.yaml")
    path = folder / "series.yaml"
    path.write_text(
        "title: S\ndescription: d\nbase_url: https://example.org/s/\n"
        f"{extra}episodes:\n  - routine: ep-quick.yaml\n",
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize("special", ["/dev/zero", "fifo"])
def test_a_series_image_that_is_a_device_or_a_pipe_is_refused_at_once(
    special: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    image = str(fifo(tmp_path, "cover.png")) if special == "fifo" else special
    series = series_with(tmp_path, f"image: {image}\n")
    code, err = run(["series", "plan", str(series), "-o", str(tmp_path / "site"), "--engine", "tone"], capsys)
    assert code == 2
    assert "image: cannot read" in err and "not a regular file" in err


@pytest.mark.parametrize("damage", ["fifo", "/dev/zero"])
def test_a_cache_entry_replaced_by_a_pipe_or_a_device_is_a_miss(tmp_path: Path, damage: str) -> None:
    options = BuildOptions(engine="tone", cache_dir=tmp_path / "cache", jobs=1)
    routine = SERIES_DATA / "ep-quick.yaml"
    first = make_plan(routine, options)
    entries = sorted((tmp_path / "cache" / "speech").rglob("*.pcm"))
    assert entries
    for entry in entries[:3]:
        entry.unlink()
        if damage == "fifo":
            os.mkfifo(entry)
        else:
            entry.symlink_to(damage)
    started = time.monotonic()
    again = make_plan(routine, options)
    assert time.monotonic() - started < 30
    assert again.timeline.length_samples == first.timeline.length_samples
    assert all(e.is_file() and not e.is_symlink() for e in entries[:3])  # replaced by real entries


def test_a_cache_read_is_capped(tmp_path: Path) -> None:
    cache = SpeechCache(tmp_path)
    path = cache.path("ab" * 32)
    path.parent.mkdir(parents=True)
    with open(path, "wb") as fh:  # a sparse file far over the cap: refused without reading it all
        fh.truncate(4_000_000_000)
    assert cache.get("ab" * 32, 44_100) is None
    assert not path.exists()


def test_a_voice_profile_with_recordings_in_proc_is_not_walked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    series = series_with(tmp_path, "")
    (tmp_path / "voice.yaml").write_text("engine: espeak\nrecordings: /proc\n")
    routine = tmp_path / "ep-quick.yaml"
    routine.write_text(routine.read_text() + "voice: voice.yaml\n")
    code, err = run(["series", "plan", str(series), "-o", str(tmp_path / "site"), "--engine", "tone"], capsys)
    assert code == 0, err
