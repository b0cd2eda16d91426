"""Fault injection (issue 15): SIGINT, SIGTERM and SIGKILL at seeded moments of build and series build.

After any of them: nothing outside the output changed, every episode file in the folder is recorded
in the manifest (and matches it), no process is left writing, and the next build succeeds.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from audioguide.export.sidecars import sidecar_paths
from audioguide.series.build import SeriesOptions, build_series
from audioguide.series.manifest import MANIFEST

SERIES_DATA = Path(__file__).resolve().parent / "data" / "series" / "backcare"
SEED = 15
STOP_WITHIN_S = 15.0  # STOP_GRACE_S (5 s) and a margin for a loaded machine
MOMENTS = random.Random(SEED).sample([0.1, 0.5, 1.0, 1.5, 2.5, 3.5], 3)
"""Seconds after the build made its output folder (its first act after loading the input) at which
each signal arrives: while speaking, rendering, writing. (A signal while Python is still importing
gets Python's own traceback, before audioguide runs at all.)"""


def when_started(folder: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while not folder.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*")}


def start(args: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "audioguide.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: workers can be found, and never outlive it
    )


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_group_gone(pgid: int) -> bool:
    deadline = time.monotonic() + STOP_WITHIN_S
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return True
        time.sleep(0.1)
    return False


def check_folder(out: Path) -> dict[str, dict]:  # type: ignore[type-arg]
    """The manifest (if any) matches the folder: every episode file recorded, every record intact."""
    files = json.loads((out / MANIFEST).read_text())["files"] if (out / MANIFEST).exists() else {}
    episodes = {p.name for p in out.glob("*.mp3")}
    assert episodes == set(files), f"episode files {episodes} but the manifest records {set(files)}"
    for name, entry in files.items():
        assert (out / name).stat().st_size == entry["bytes"], name
        assert all(p.is_file() for p in sidecar_paths(out / name).values()), name
    return files


EPISODES = {"01-ep-quick.mp3", "02-ep-mid.mp3", "03-ep-stand.mp3"}


@pytest.fixture
def series(tmp_path: Path) -> Path:
    """Three short episodes: more than -j 2 runs at once, so an interrupt finds one not started."""
    src = tmp_path / "src"
    shutil.copytree(SERIES_DATA, src)
    return src / "short.yaml"


@pytest.fixture
def two(series: Path) -> Path:
    """The first two of them, where two builds of one folder only need something to build."""
    text = series.read_text(encoding="utf-8")
    path = series.with_name("two.yaml")
    path.write_text(text[: text.index("  - routine: ep-stand.yaml")], encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("signum", "moment"),
    list(zip((signal.SIGINT, signal.SIGTERM, signal.SIGKILL), MOMENTS, strict=True)),
    ids=["SIGINT", "SIGTERM", "SIGKILL"],
)
def test_a_signal_during_a_series_build_loses_nothing(
    series: Path, tmp_path: Path, signum: int, moment: float
) -> None:
    out = tmp_path / "site"
    outside = tmp_path / "src"
    before = snapshot(outside)
    proc = start(["series", "build", str(series), "-o", str(out), "--engine", "tone", "-j", "2", "-q"])
    when_started(out, proc)
    time.sleep(moment)
    if signum == signal.SIGINT:
        os.killpg(proc.pid, signum)  # a terminal's Ctrl-C reaches the whole group
    else:
        os.kill(proc.pid, signum)  # timeout(1), CI and the OOM killer signal the parent only
    try:
        err = proc.communicate(timeout=STOP_WITHIN_S)[1].decode()
        code = proc.returncode
        assert wait_group_gone(proc.pid), "a worker outlived its build"
    finally:
        if group_alive(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
    assert code in (0, -signum, 128 + signum), err
    assert "internal error" not in err and "Traceback" not in err, err
    assert snapshot(outside) == before
    check_folder(out)
    if signum != signal.SIGKILL:  # a killed build cannot clean up: the next one sweeps
        assert not list(out.glob(".*.part")), list(out.glob(".*.part"))
    kept = set(check_folder(out))
    result = build_series(series, SeriesOptions(output=out, jobs=1, engine="tone"))
    files = check_folder(out)
    assert set(files) == EPISODES
    assert not list(out.glob(".*.part"))
    assert {r.path.name for r in result.episodes if r.status == "up to date"} >= kept


@pytest.mark.parametrize(
    ("signum", "engine"),
    [(signal.SIGTERM, "espeak"), (signal.SIGINT, "tone")],  # once with a real engine's workers
    ids=["SIGTERM", "SIGINT"],
)
def test_a_signal_during_a_build_leaves_no_partial_file(tmp_path: Path, signum: int, engine: str) -> None:
    routine = tmp_path / "ep-quick.yaml"
    shutil.copy(SERIES_DATA / "ep-quick.yaml", routine)
    out = tmp_path / "out" / "session.mp3"
    proc = start(["build", str(routine), "-o", str(out), "--engine", engine, "-q"])
    when_started(out.parent, proc)
    time.sleep(MOMENTS[0])
    os.kill(proc.pid, signum)
    err = proc.communicate(timeout=STOP_WITHIN_S)[1].decode()
    code = proc.returncode
    assert code in (0, 128 + signum), err
    assert "Traceback" not in err, err
    if code:
        assert "interrupted" in err
        assert not out.exists()
    assert not list(out.parent.glob(".*.part"))


def test_two_builds_of_one_folder_and_ctrl_c_on_the_first(two: Path, tmp_path: Path) -> None:
    """The second build waits for the folder, is not disturbed by the first one's interrupt (its
    staged files are not swept from under it), and finishes the series."""
    out = tmp_path / "site"
    args = ["series", "build", str(two), "-o", str(out), "--engine", "tone", "-j", "1"]
    first = start(args)
    when_started(out, first)
    second = start(args)
    assert second.stderr is not None
    ready, _, _ = select.select([second.stderr], [], [], 60)
    said = second.stderr.readline().decode() if ready else ""  # "... waiting for it to finish"
    os.killpg(first.pid, signal.SIGINT)
    try:
        first_err = first.communicate(timeout=STOP_WITHIN_S)[1].decode()
        second_err = said + second.communicate(timeout=120)[1].decode()
    finally:
        for proc in (first, second):
            if group_alive(proc.pid):
                os.killpg(proc.pid, signal.SIGKILL)
    assert first.returncode in (0, 130), first_err
    assert second.returncode == 0, second_err
    assert "waiting for it to finish" in second_err or first.returncode == 0
    files = check_folder(out)
    assert set(files) == {"01-ep-quick.mp3", "02-ep-mid.mp3"}
    assert not list(out.glob(".*.part"))
