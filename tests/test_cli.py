"""The command line: help everywhere, one-line errors with exit codes, no clobbering, plan/poses/routines."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

import audioguide
from audioguide import cli as cli_module
from audioguide.cli import cli, main
from audioguide.load.durations import parse_ms
from audioguide.load.poses import POSITIONS, library
from audioguide.load.routine import builtin_routines
from audioguide.units import format_clock

DATA = Path(__file__).resolve().parent / "data"
ERROR_PREFIX = "audioguide: error:"
FAST = ("--engine", "tone", "-q")  # tone engine: these tests are about the CLI, not the voice


def walk(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command and group under ``command``, with the words that invoke it."""
    found = [(path, command)]
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):  # as help lists them: lazily loaded groups too
            sub = command.get_command(ctx, name)
            assert sub is not None, name
            found += walk(sub, (*path, name))
    return found


COMMANDS = walk(cli)


def run_main(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- help and version


def test_the_cli_has_the_expected_commands() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"", "build", "plan", "poses", "routines"} <= names
    assert {"series", "series build", "series serve", "voices", "make"} <= names


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "audioguide" for p, _ in COMMANDS]
)
def test_every_command_has_help_that_lists_its_options(path: tuple[str, ...], command: click.Command) -> None:
    assert (command.help or "").strip(), f"{' '.join(path) or 'audioguide'} has no help text"
    result = CliRunner().invoke(cli, [*path, "--help"], prog_name="audioguide")
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith(f"Usage: audioguide {' '.join(path)}".rstrip())
    first_line = (command.help or "").strip().splitlines()[0].split(".")[0]
    assert " ".join(first_line.split()) in " ".join(out.split())
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"option {param.name} has no help"
            for opt in (*param.opts, *param.secondary_opts):
                assert opt in out, f"{opt} missing from {' '.join(path)} --help"
    if isinstance(command, click.Group):
        for name in command.list_commands(click.Context(command)):
            assert name in out


IMPORTED_AFTER = """
import sys
from audioguide.cli import main
code = main(sys.argv[1:])
print(code, *sorted(sys.modules))
"""


def modules_after(*argv: str) -> set[str]:
    """The modules a fresh interpreter holds after running the command line ``argv``."""
    import subprocess
    import sys

    run = subprocess.run(
        [sys.executable, "-c", IMPORTED_AFTER, *argv], capture_output=True, text=True, timeout=120
    )
    code, *modules = run.stdout.splitlines()[-1].split()  # after what the command printed
    assert code == "0", run.stderr
    return set(modules)


# What only other commands need: the series, voices and make code, the generator, the preview
# server's http.server and Pillow (a build draws a cover only when it is not cached).
ELSEWHERE = (
    *("audioguide.series", "audioguide.cli.series", "audioguide.cli.serve", "audioguide.cli.voices"),
    *("audioguide.cli.make", "audioguide.pipeline.generate", "audioguide.tools", "http.server", "PIL"),
)


@pytest.mark.parametrize(
    "argv",
    [("build", "--help"), ("plan", "desk-break-5min", "--engine", "tone", "-q"), ("poses", "cat-cow")],
    ids=" ".join,
)
def test_a_command_imports_only_what_it_needs(argv: tuple[str, ...]) -> None:
    loaded = modules_after(*argv)
    assert "audioguide.cli" in loaded
    assert not [m for m in loaded if m.startswith(ELSEWHERE)]
    if argv[0] == "build":  # the cue sheet, the choreography check and the library listings are plan's
        assert not [m for m in loaded if m.startswith(("audioguide.pipeline.check", "audioguide.cli.plan"))]


def test_a_command_group_is_imported_when_it_runs() -> None:
    """The check above can fail: a command that needs those modules has them."""
    loaded = modules_after("series", "serve", "--help")
    assert {"audioguide.cli.series", "audioguide.cli.serve", "http.server"} <= loaded


def test_short_help_flag_works_too() -> None:
    result = CliRunner().invoke(cli, ["build", "-h"])
    assert result.exit_code == 0 and "--output" in result.output


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"audioguide, version {audioguide.__version__}"


def test_version_through_main(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "--version")
    assert code == 0
    assert audioguide.__version__ in out
    assert err == ""


def test_no_arguments_shows_usage() -> None:
    result = CliRunner().invoke(cli, [])
    assert "build" in result.output and "Usage:" in result.output


def test_a_bad_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "build", "lower-back-10min", "--duration", "0")
    assert code == 2
    assert "--duration" in err and "Traceback" not in err
    code, _, err = run_main(capsys, "plan", "lower-back-10min", "--avoid", "upside-down")
    assert code == 2
    assert "unknown position 'upside-down'" in err


# --- failed builds: one line, an exit code, nothing written

SHORT_TARGET = (
    "title: Too short\nduration: 20s\nsteps:\n  - pose: knee-to-chest\n    hold: 20s\n    sides: both\n"
)
GOOD_SMALL = "title: Small\nsteps:\n  - say: Breathe out slowly.\n"


def alias_bomb() -> str:
    lines = ["title: T", 'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    return "\n".join(lines) + "\nsteps:\n  - say: Hi.\n"


BAD_BUILDS: dict[str, tuple[str | bytes | None, tuple[str, ...], int, str]] = {
    # id: (file content; None = a directory; "" id-specific), extra args, exit code, text in the message
    "malformed-yaml": ("title: [oops\nsteps:\n  - pose: cat-cow\n", (), 2, "malformed YAML"),
    "tab-indent": ("title: T\nsteps:\n\t- pose: cat-cow\n", (), 2, "tab"),
    "unknown-key": ("title: T\nsteps:\n  - pose: cat-cow\n    hodl: 20s\n", (), 2, "did you mean 'hold'?"),
    "unknown-pose": ("title: T\nsteps:\n  - pose: cat-cwo\n", (), 2, "did you mean 'cat-cow'?"),
    "bad-duration": ("title: T\nsteps:\n  - pose: cat-cow\n    hold: soon\n", (), 2, "'soon'"),
    "zero-reps": ("title: T\nsteps:\n  - pose: cat-cow\n    reps: 0\n", (), 2, "reps"),
    "empty-steps": ("title: T\nsteps: []\n", (), 2, "'steps' is empty"),
    "not-utf8": (b"title: caf\xe9\nsteps:\n  - say: Hi.\n", (), 2, "not UTF-8"),
    "directory": (None, (), 2, "is a directory"),
    "missing-path": ("", (), 2, "no such file"),
    "alias-bomb": (alias_bomb(), (), 2, "aliases"),
    "unknown-voice": (GOOD_SMALL, ("--voice", "defualt"), 2, "did you mean 'default'?"),
    "target-too-short": (SHORT_TARGET, (), 3, "too short"),
}


def make_input(tmp_path: Path, case: str) -> Path:
    content = BAD_BUILDS[case][0]
    path = tmp_path / "in" / f"{case}.yaml"
    path.parent.mkdir(exist_ok=True)
    if content is None:
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content:
        path.write_text(content, encoding="utf-8")
    return path


def leftovers(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.part")) if folder.exists() else []


@pytest.mark.parametrize("case", sorted(BAD_BUILDS))
def test_failed_build_prints_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    _, extra, exit_code, fragment = BAD_BUILDS[case]
    source = make_input(tmp_path, case)
    out = tmp_path / "out" / "session.mp3"
    code, stdout, stderr = run_main(capsys, "build", source, "-o", out, *FAST, *extra)
    assert code == exit_code != 0
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(ERROR_PREFIX)
    assert fragment in lines[0]
    assert "Traceback" not in stderr + stdout
    assert stdout == ""
    assert not out.exists()
    assert not out.with_suffix(".vtt").exists()
    assert leftovers(tmp_path) == []


def test_routine_errors_name_the_file_and_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_input(tmp_path, "unknown-key")
    code, _, err = run_main(capsys, "build", source, "-o", tmp_path / "x.mp3", *FAST)
    assert code == 2
    assert err.strip() == (
        f"{ERROR_PREFIX} {source}:4: steps[0].hodl: unknown key 'hodl' in a step (did you mean 'hold'?)"
    )


def test_with_progress_the_error_is_still_one_line_and_last(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_input(tmp_path, "target-too-short")
    code, _, err = run_main(capsys, "build", source, "-o", tmp_path / "x.mp3", "--engine", "tone")
    assert code == 3
    lines = err.splitlines()
    assert [line for line in lines if line.startswith(ERROR_PREFIX)] == [lines[-1]]
    assert "Traceback" not in err


def test_debug_prints_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = make_input(tmp_path, "unknown-pose")
    out = tmp_path / "x.mp3"
    code, _, err = run_main(capsys, "--debug", "build", source, "-o", out, *FAST)
    assert code == 2
    assert "Traceback (most recent call last)" in err
    assert "RoutineError" in err
    assert err.splitlines()[-1].startswith(ERROR_PREFIX)
    assert not out.exists()


def test_an_unexpected_error_is_one_line_and_a_traceback_only_with_debug(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import audioguide.cli

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(audioguide.cli, "run_build", broken)
    code, _, err = run_main(capsys, "build", "lower-back-10min", "-o", tmp_path / "x.mp3")
    assert code == 70
    assert err.splitlines() == [
        "audioguide: internal error: RuntimeError: something nobody expected (run with --debug for details)"
    ]
    code, _, err = run_main(capsys, "--debug", "build", "lower-back-10min", "-o", tmp_path / "x.mp3")
    assert code == 70
    assert "Traceback (most recent call last)" in err and "something nobody expected" in err


def test_ctrl_c_exits_130_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import audioguide.cli

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(audioguide.cli, "run_build", interrupted)
    code, _, err = run_main(capsys, "build", "lower-back-10min", "-o", tmp_path / "x.mp3")
    assert code == 130
    # click ends the ^C line with a newline first; after that, one line
    assert [line for line in err.splitlines() if line.strip()] == [
        "audioguide: interrupted; no partial files were left"
    ]


def test_a_yaml_tag_is_a_routine_error_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "tagged.yaml"
    source.write_text("title: T\nsteps:\n  - pose: cat-cow\n    reps: !!int x\n", encoding="utf-8")
    code, _, err = run_main(capsys, "build", source, "-o", tmp_path / "x.mp3", *FAST)
    assert (code, err.splitlines()[0].split(":")[:2]) == (2, ["audioguide", " error"])


def test_a_huge_hold_is_a_routine_error_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "huge.yaml"
    source.write_text("title: T\nsteps:\n  - pose: cat-cow\n    hold: 1.0e+308\n", encoding="utf-8")
    code, _, err = run_main(capsys, "build", source, "-o", tmp_path / "x.mp3", *FAST)
    assert code == 2 and err.startswith(ERROR_PREFIX)


# --- existing good output is never clobbered by a failed build

OLD_AUDIO = b"ID3 good old session bytes"
OLD_VTT = b"WEBVTT\n\nold transcript\n"


@pytest.mark.parametrize(
    ("case", "extra", "exit_code"),
    [
        ("unknown-pose", (), 2),  # fails while loading
        ("target-too-short", (), 3),  # fails after speech, while scheduling
        ("good-small", ("--bitrate", "7"), 6),  # fails while encoding, inside the staged write
    ],
)
def test_a_failed_build_never_clobbers_existing_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str, extra: tuple[str, ...], exit_code: int
) -> None:
    if case == "good-small":
        source = tmp_path / "in" / "good.yaml"
        source.parent.mkdir()
        source.write_text(GOOD_SMALL, encoding="utf-8")
    else:
        source = make_input(tmp_path, case)
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "session.mp3"
    out.write_bytes(OLD_AUDIO)
    out.with_suffix(".vtt").write_bytes(OLD_VTT)
    before = sorted(p.name for p in folder.iterdir())

    code, _, err = run_main(capsys, "build", source, "-o", out, *FAST, *extra)

    assert code == exit_code
    assert err.startswith(ERROR_PREFIX)
    assert out.read_bytes() == OLD_AUDIO
    assert out.with_suffix(".vtt").read_bytes() == OLD_VTT
    assert sorted(p.name for p in folder.iterdir()) == before
    assert list(folder.glob(".*.part")) == []


def test_a_good_build_writes_audio_and_sidecars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "good.yaml"
    source.write_text(GOOD_SMALL, encoding="utf-8")
    out = tmp_path / "out" / "small.mp3"
    out.parent.mkdir()
    out.write_bytes(OLD_AUDIO)  # a successful build does replace the old file
    code, stdout, err = run_main(capsys, "build", source, "-o", out, *FAST)
    assert code == 0, err
    assert err == ""
    assert stdout.startswith(f"wrote {out} (")
    assert out.read_bytes() != OLD_AUDIO and out.stat().st_size > 1000
    names = {p.name for p in out.parent.iterdir()}
    assert {"small.chapters.json", "small.mp3", "small.vtt"} <= names
    assert not [n for n in names if n.endswith(".part")]


def test_a_standalone_build_takes_its_tags_from_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mutagen.id3 import ID3

    source = tmp_path / "good.yaml"
    source.write_text(GOOD_SMALL, encoding="utf-8")
    out = tmp_path / "tagged.mp3"
    tags = ("--title", "Evening  Stretch", "--artist", "Ana Müller", "--album", "Back Care")
    more = ("--year", "2026", "--track", "3", "--comment", "Made for my back & knees")
    code, _, err = run_main(capsys, "build", source, "-o", out, *tags, *more, *FAST)
    assert code == 0, err
    id3 = ID3(out)
    assert [str(id3[f]) for f in ("TIT2", "TPE1", "TALB", "TDRC", "TRCK")] == [
        "Evening Stretch",
        "Ana Müller",
        "Back Care",
        "2026",
        "3",
    ]
    assert [c.text for c in id3.getall("COMM")] == [["Made for my back & knees"]]
    chapters = json.loads(out.with_suffix(".chapters.json").read_text(encoding="utf-8"))
    assert chapters["title"] == "Evening Stretch"  # the title is the session's, everywhere
    default = tmp_path / "default.mp3"
    assert run_main(capsys, "build", source, "-o", default, *FAST)[0] == 0
    assert str(ID3(default)["TPE1"]) == "audioguide"


# --- plan


def check_plan(data: dict, length_ms: int) -> None:
    assert data["length_ms"] == length_ms
    assert data["length_samples"] == length_ms * data["sample_rate"] // 1000
    events = data["events"]
    assert events
    starts = [e["start_ms"] for e in events]
    assert starts == sorted(starts)
    assert [e["start_sample"] for e in events] == sorted(e["start_sample"] for e in events)
    for e in events:
        assert 0 <= e["start_ms"] <= e["end_ms"] <= length_ms, e
        assert 0 <= e["start_sample"] <= e["end_sample"] <= data["length_samples"], e
        assert e["kind"] in ("speech", "hold", "rest", "cue"), e
    chapters = data["chapters"]
    assert chapters
    assert chapters[0]["start_ms"] == 0
    assert chapters[-1]["end_ms"] == length_ms
    for a, b in itertools.pairwise(chapters):
        assert a["end_ms"] == b["start_ms"], (a, b)
    for c in chapters:
        assert c["start_ms"] < c["end_ms"] and c["title"].strip()


@pytest.fixture(scope="module")
def real_plan() -> dict:
    """The plan of the flagship routine on the real default speech engine (not the tone draft)."""
    result = CliRunner().invoke(cli, ["plan", "lower-back-10min", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_plan_json_on_the_real_engine(real_plan: dict) -> None:
    assert real_plan["title"] == "Ten-Minute Lower Back Release"
    assert real_plan["sample_rate"] == 44_100
    check_plan(real_plan, 600_000)
    speech = [e for e in real_plan["events"] if e["kind"] == "speech"]
    assert speech and all(e["text"].strip() for e in speech)
    assert all(e["end_ms"] > e["start_ms"] for e in speech)


def test_plan_speech_never_overlaps(real_plan: dict) -> None:
    speech = [e for e in real_plan["events"] if e["kind"] == "speech"]
    for a, b in itertools.pairwise(speech):
        assert a["end_sample"] <= b["start_sample"], (a["text"], b["text"])


def test_plan_json_with_the_tone_engine() -> None:
    result = CliRunner().invoke(cli, ["plan", "lower-back-10min", "--json", "--engine", "tone"])
    assert result.exit_code == 0, result.output
    check_plan(json.loads(result.stdout), 600_000)


def test_plan_text_shows_the_title_and_chapters() -> None:
    result = CliRunner().invoke(cli, ["plan", "lower-back-10min", "--engine", "tone"])
    assert result.exit_code == 0, result.output
    first = result.stdout.splitlines()[0]  # progress goes to stderr
    assert first.startswith("Ten-Minute Lower Back Release")
    assert "10:00" in first or "10:00.0" in first
    assert "Welcome" in result.output and "Closing" in result.output


def test_plan_of_the_design_example() -> None:
    result = CliRunner().invoke(
        cli, ["plan", str(DATA / "design_example.yaml"), "--json", "--engine", "tone"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["title"] == "Ten-Minute Lower Back Release"
    check_plan(data, 600_000)


def test_plan_duration_option_sets_the_length() -> None:
    result = CliRunner().invoke(
        cli, ["plan", "lower-back-10min", "--json", "--engine", "tone", "--duration", "12m30s"]
    )
    assert result.exit_code == 0, result.output
    check_plan(json.loads(result.stdout), 750_000)


# --- poses and routines


def test_poses_json_lists_the_library() -> None:
    result = CliRunner().invoke(cli, ["poses", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == list(library())
    for row in rows:
        assert set(row) == {"id", "name", "position", "areas", "one_sided"}
        pose = library()[row["id"]]
        assert row["name"] == pose.name and row["name"].strip()
        assert row["position"] in POSITIONS
        assert row["areas"] == list(pose.areas) and all(isinstance(a, str) for a in row["areas"])
        assert isinstance(row["one_sided"], bool)


def test_poses_text_lists_every_id() -> None:
    result = CliRunner().invoke(cli, ["poses"])
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == len(library())
    for pid in library():
        assert pid in result.output


def test_routines_json_matches_the_files() -> None:
    result = CliRunner().invoke(cli, ["routines", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [r["id"] for r in rows] == sorted(builtin_routines())
    for row in rows:
        assert set(row) == {"id", "title", "duration_s", "description", "props", "positions"}
        raw = yaml.safe_load(builtin_routines()[row["id"]].read_text(encoding="utf-8"))
        assert row["title"] == raw["title"]
        poses = [library()[s["pose"]] for s in raw["steps"] if "pose" in s]
        needed = {p for pose in poses for p in pose.props} | {
            p for s in raw["steps"] for p in s.get("props", [])
        }
        assert set(row["props"]) == needed and len(row["props"]) == len(needed)
        assert set(row["positions"]) >= {pose.position for pose in poses}
        assert row["duration_s"] == parse_ms(raw["duration"]) / 1000
        assert row["description"] == " ".join(raw["description"].split())


def test_routines_text_shows_descriptions_and_props() -> None:
    result = CliRunner().invoke(cli, ["routines"])
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for row in json.loads(CliRunner().invoke(cli, ["routines", "--json"]).stdout):
        assert row["description"] in text
        assert f"props: {', '.join(row['props']) or 'none'}; positions: {', '.join(row['positions'])}" in text
    assert max(len(line) for line in result.stdout.splitlines()) <= 100


def test_poses_name_shows_everything_about_one_pose() -> None:
    result = CliRunner().invoke(cli, ["poses", "knee-to-chest"])
    assert result.exit_code == 0, result.output
    pose = library()["knee-to-chest"]
    lines = result.stdout.splitlines()
    assert lines[0] == "knee-to-chest — single knee to chest"
    fields = {line[2:15].strip(): line[15:] for line in lines[1:] if line[2:15].strip()}
    assert fields["position"] == "supine"
    assert fields["dose"].startswith("hold 20s")
    assert fields["props"] == "mat"
    assert fields["setup"] == "Lie on your back with your knees bent and feet flat."
    assert fields["easier"] == f"If that is too much, {pose.easier}"
    assert fields["cautions"] == pose.cautions[0]
    assert fields["alternatives"] == "seated-knee-hug (seated)"
    assert "one knee" in result.stdout and "{side}" not in result.stdout  # read as spoken, no side chosen
    for caution in pose.cautions:
        assert caution in result.stdout
    reps = CliRunner().invoke(cli, ["poses", "pelvic-tilt"]).stdout
    assert f"  dose         {library()['pelvic-tilt'].reps} reps" in reps
    as_json = json.loads(CliRunner().invoke(cli, ["poses", "cat-cow", "--json"]).stdout)
    assert as_json["id"] == "cat-cow" and as_json["alternatives"] == list(library()["cat-cow"].alternatives)


def test_an_unknown_pose_name_suggests_the_nearest() -> None:
    result = CliRunner().invoke(cli, ["poses", "cat-cwo"])
    assert result.exit_code == 2
    assert "no pose named 'cat-cwo' (did you mean 'cat-cow'?)" in result.stderr


def test_routine_ids_say_their_length() -> None:
    rows = json.loads(CliRunner().invoke(cli, ["routines", "--json"]).stdout)
    for row in rows:
        minutes = int(row["id"].rsplit("-", 1)[1].removesuffix("min"))
        assert row["duration_s"] == minutes * 60


def test_routines_text_lists_every_routine() -> None:
    result = CliRunner().invoke(cli, ["routines"])
    assert result.exit_code == 0
    for rid in builtin_routines():
        assert rid in result.output
    assert "Ten-Minute Lower Back Release" in result.output


def test_run_is_the_console_entry_point(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["audioguide", "--version"])
    with pytest.raises(SystemExit) as info:
        cli_module.run()
    assert info.value.code == 0
    assert audioguide.__version__ in capsys.readouterr().out


# --- output paths that must be refused before any work (found in review)


def _fifo(tmp_path: Path) -> Path:
    import os

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    return fifo


@pytest.mark.parametrize(
    ("make_args", "message"),
    [
        (lambda t: ["-o", _fifo(t)], "not a regular file"),
        (lambda t: ["-o", t / "file.txt" / "x.mp3"], "cannot write"),
        (lambda t: ["-o", t / "x.vtt", "--format", "mp3"], "overwrite its own vtt sidecar"),
        (lambda t: ["-o", t / "x.wav", "--bitrate", "64"], "applies to mp3 only"),
        (lambda t: ["-o", t / "x.mp3", "--bitrate", "100"], "not available"),
        (lambda t: ["-o", t / ("a" * 300 + ".mp3")], "cannot write"),
    ],
)
def test_bad_output_paths_fail_fast_with_one_line(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make_args,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    (tmp_path / "file.txt").write_text("not a folder")
    args = make_args(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_main(capsys, "build", "desk-break-5min", "-q", "--engine", "tone", *args)
    assert code != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("audioguide: error:") and message in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_an_output_without_extension_gets_the_formats(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _out, _ = run_main(
        capsys, "build", "desk-break-5min", "-q", "--engine", "tone", "-o", tmp_path / "session"
    )
    assert code == 0
    assert (tmp_path / "session.mp3").is_file() and (tmp_path / "session.vtt").is_file()


@pytest.mark.parametrize("name", ["out.wav", "out.flac", "out.mp3"])
def test_a_full_disk_is_one_clear_line_and_leaves_nothing(tmp_path: Path, name: str) -> None:
    """A file-size limit stands in for a full disk: the write fails with EFBIG part-way through."""
    import resource
    import subprocess
    import sys

    def limit() -> None:  # pragma: no cover - runs in the child
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_500_000, 1_500_000))  # clips fit, sessions do not

    out = tmp_path / name
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "audioguide.cli",
            "build",
            "desk-break-5min",
            "-q",
            "--engine",
            "tone",
            "-o",
            out,
        ],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=120,
    )
    assert run.returncode == 6, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"audioguide: error: {out}: cannot write"), run.stderr
    assert list(tmp_path.iterdir()) == []


# --- plan takes build's command line, shows the cue sounds and ends with a summary

PLAN_IGNORES = {"output": "plan writes no file"}


def test_plan_takes_every_option_build_takes() -> None:
    ctx = click.Context(cli)
    build_command, plan_command = cli.get_command(ctx, "build"), cli.get_command(ctx, "plan")
    assert build_command is not None and plan_command is not None
    build_options = {p.name for p in build_command.params if isinstance(p, click.Option)}
    plan_options = {p.name for p in plan_command.params if isinstance(p, click.Option)}
    assert build_options - plan_options == set(PLAN_IGNORES)
    args = ["--spatial", "--loudness", "-19", "--ambience", "rain", "--format", "flac", "--artist", "A"]
    result = CliRunner().invoke(cli, ["plan", "desk-break-5min", "--engine", "tone", "-q", *args])
    assert result.exit_code == 0, result.output


def test_plan_title_is_spoken_as_build_would() -> None:
    result = CliRunner().invoke(cli, ["plan", "desk-break-5min", *FAST, "--title", "Lunch Stretch"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Lunch Stretch — 5:00.000")
    assert "Welcome to Lunch Stretch." in result.stdout


def _summary(text: str) -> dict[str, list[str]]:
    lines = text.split("\nSummary\n", 1)[1].splitlines()
    found: dict[str, list[str]] = {}
    label = ""
    for line in lines:
        label = line[2:14].strip() or label
        found.setdefault(label, []).append(line[14:])
    return found


def test_plan_shows_cue_sounds_and_a_summary() -> None:
    args = ["plan", "desk-break-5min", *FAST]
    text = CliRunner().invoke(cli, args).stdout
    data = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)
    cues = [e for e in data["events"] if e["kind"] == "cue"]
    assert len(cues) > 5
    assert sum(" ♪  [" in line for line in text.splitlines()) == len(cues)
    first = cues[0]
    assert f"{format_clock(first['start_ms'])}–{format_clock(first['end_ms'])} ♪  [{first['text']}]" in text
    summary = _summary(text)
    assert summary["length"] == [format_clock(data["length_ms"])]
    speech_ms = sum(e["end_ms"] - e["start_ms"] for e in data["events"] if e["kind"] == "speech")
    share = speech_ms * 100 // data["length_ms"]
    assert summary["speech"][0].startswith(f"{format_clock(speech_ms)} ({share}%), quiet ")
    assert 20 <= share <= 80
    assert summary["cue sounds"][0].startswith(f"{len(cues)}: ")
    assert summary["props"] == ["chair"]
    assert summary["warnings"] == ["none"]


def test_plan_summary_lists_the_warnings(tmp_path: Path) -> None:
    routine = tmp_path / "r.yaml"
    routine.write_text("title: R\nsteps:\n  - name: Thing\n    say: Do the thing.\n    hold: 20s\n")
    text = CliRunner().invoke(cli, ["plan", str(routine), *FAST]).stdout
    warnings = _summary(text)["warnings"]
    assert len(warnings) >= 1 and any("no 'position:'" in w for w in warnings)
