"""Progress on stderr (cli/progress.py): a bar with counts and ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import io

from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.cli.progress import Progress


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_a_terminal_gets_one_redrawn_bar_with_counts_and_eta() -> None:
    out, now = io.StringIO(), FakeClock()
    progress = Progress(stream=out, tty=True, now=now)
    progress("speech", 0, 40)
    now.t = 1.0
    progress("speech", 10, 40)  # 10 phrases a second: 30 left is 3 s
    assert out.getvalue().endswith("\rspeech [######------------------] 10/40 phrases (25%)  ETA 0:03\033[K")
    now.t = 2.0
    progress("speech", 20, 40)
    assert "20/40 phrases (50%)  ETA 0:02" in out.getvalue()
    now.t = 4.0
    progress("speech", 40, 40)
    assert out.getvalue().endswith(
        "\rspeech [########################] 40/40 phrases (100%)  done in 0:04\033[K\n"
    )
    assert out.getvalue().count("\n") == 1  # one line in all, redrawn in place
    progress("speech", 40, 40)  # a repeated final report draws nothing more
    assert out.getvalue().count("\n") == 1


def test_cached_work_does_not_flatter_the_eta() -> None:
    out, now = io.StringIO(), FakeClock()
    progress = Progress(stream=out, tty=True, now=now)
    progress("speech", 30, 40)  # 30 came from the cache at once
    now.t = 2.0
    progress("speech", 35, 40)  # then 5 in 2 s: 5 left is 2 s
    assert "35/40 phrases (87%)  ETA 0:02" in out.getvalue()


def test_a_busy_stage_is_redrawn_at_most_ten_times_a_second() -> None:
    out, now = io.StringIO(), FakeClock()
    progress = Progress(stream=out, tty=True, now=now)
    for block in range(1, 1001):
        now.t = block * 0.0005  # 1000 render blocks in half a second
        progress("render", block * 441, 441_000)
    draws = out.getvalue().count("\r")
    assert 5 <= draws <= 7
    assert "render [" in out.getvalue() and "phrases" not in out.getvalue()  # samples: percent only


def test_a_log_gets_a_few_plain_lines() -> None:
    out, now = io.StringIO(), FakeClock()
    progress = Progress(stream=out, tty=False, now=now)
    for done in range(101):
        now.t = done * 0.5
        progress("speech", done, 100)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and "\033" not in out.getvalue()
    assert 4 <= len(lines) <= 10, lines
    assert lines[-1] == "speech: 100/100 phrases (100%), done in 0:50"
    assert any(line.endswith("left") for line in lines[:-1])


def test_quiet_prints_nothing() -> None:
    out = io.StringIO()
    Progress(quiet=True, stream=out, tty=True)("speech", 1, 2)
    assert out.getvalue() == ""


def test_plan_shows_speech_progress_instead_of_being_silent() -> None:
    result = CliRunner().invoke(cli, ["plan", "desk-break-5min", "--engine", "tone"])
    assert result.exit_code == 0, result.output
    assert "speech: " in result.stderr and "phrases (100%), done in" in result.stderr
    quiet = CliRunner().invoke(cli, ["plan", "desk-break-5min", "--engine", "tone", "-q"])
    assert quiet.stderr == ""
