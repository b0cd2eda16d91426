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


# -- validated at load: text, addresses, languages, images, options -----------------------------------

ROUTINE = "title: {title}\nsteps:\n  - say: {say}\n"


@pytest.mark.parametrize(
    ("title", "say", "expected"),
    [
        ('"T\\ud800"', "Hi.", ":1: title: contains half of a surrogate pair (U+D800)"),
        ("T", '"Hi \\udfff there."', ":3: steps[0].say: contains half of a surrogate pair (U+DFFF)"),
        ('"T\\0x"', "Hi.", ":1: title: contains a control character (U+0000)"),
        ('"T\\e[2J"', "Hi.", ":1: title: contains a control character (U+001B)"),
        ("T", '"Hi\\x85 there."', ":3: steps[0].say: contains a control character (U+0085)"),
        ("T\x01", "Hi.", ":1: the character U+0001 is not allowed in YAML"),
        ("T", "[" * 1000, ": lists or mappings are nested too deeply"),
    ],
)
def test_bad_text_in_a_routine_is_a_clean_error_naming_the_line_and_key(
    title: str, say: str, expected: str, write_routine, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    path = write_routine(ROUTINE.format(title=title, say=say))
    code, err = run(["plan", str(path), "--engine", "tone"], capsys)
    assert code == 2
    assert f"{path}{expected}" in err
    assert err.count("\n") == 1  # one line


def test_line_breaks_and_tabs_in_say_are_fine(write_routine) -> None:  # type: ignore[no-untyped-def]
    path = write_routine('title: T\nsteps:\n  - say: "Breathe in.\\n\\tAnd out."\n')
    assert main(["plan", str(path), "--engine", "tone"]) == 0


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("base_url", "http://[::1/", "base_url: 'http://[::1/' is not a web address"),
        ("base_url", "https://example.org/show/#", "takes no ?query or #fragment"),
        ("base_url", "https://example.org/show/?", "takes no ?query or #fragment"),
        ("base_url", '"https://example.org/a\\tb/"', "expected the web address"),
        ("base_url", '"https://example.org/\\x1b/"', "base_url: contains a control character"),
        ("base_url", "https://example.org:99999/", "is not a web address"),
        ("base_url", "ftp://example.org/", "expected the web address"),
        ("language", '"en\\n"', "language: expected a language code"),
        ("description", '"Good \\ud83d"', "description: contains half of a surrogate pair"),
        ("title", '"A\\0B"', "title: contains a control character"),
    ],
)
def test_bad_series_fields_are_clean_errors(
    field: str, value: str, expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(SERIES_DATA / "ep-quick.yaml", tmp_path / "ep-quick.yaml")
    fields = {"title": "S", "description": "d", "base_url": "https://example.org/s/", field: value}
    text = "".join(f"{k}: {v}\n" for k, v in fields.items()) + "episodes:\n  - routine: ep-quick.yaml\n"
    (tmp_path / "series.yaml").write_text(text, encoding="utf-8")
    code, err = run(["series", "plan", str(tmp_path / "series.yaml"), "--engine", "tone"], capsys)
    assert code == 2, err
    assert expected in err
    assert err.count("\n") == 1


def png_header(side: int) -> bytes:
    import struct
    import zlib

    ihdr = b"IHDR" + struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def test_a_png_signature_with_an_html_body_is_not_a_cover(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cover.png").write_bytes(png_header(1400) + b"<html><body>Not found</body></html>\n")
    series = series_with(tmp_path, "image: cover.png\n")
    code, err = run(["series", "plan", str(series), "-o", str(tmp_path / "site"), "--engine", "tone"], capsys)
    assert code == 2
    assert "image: 'cover.png': its content does not decode as PNG or JPEG" in err


def test_a_transparent_cover_is_flattened(tmp_path: Path) -> None:
    import io

    from PIL import Image

    from audioguide.series.spec import load_series

    out = io.BytesIO()
    Image.new("RGBA", (1400, 1400), (10, 20, 30, 0)).save(out, format="PNG")
    (tmp_path / "cover.png").write_bytes(out.getvalue())
    series = load_series(series_with(tmp_path, "image: cover.png\n"))
    assert series.image_png is not None
    with Image.open(io.BytesIO(series.image_png)) as image:
        assert image.mode == "RGB" and image.getpixel((0, 0)) == (255, 255, 255)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_loudness_is_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(
        ["build", str(SERIES_DATA / "ep-quick.yaml"), "--loudness", value, "-o", "/tmp/x.mp3"], capsys
    )
    assert code == 2 and "--loudness" in err


def test_the_library_refuses_a_non_finite_loudness(tmp_path: Path) -> None:
    from audioguide.errors import OptionError
    from audioguide.pipeline.build import build
    from audioguide.render.mixer import RenderOptions

    options = BuildOptions(output=tmp_path / "x.mp3", render=RenderOptions(loudness_lufs=float("nan")))
    with pytest.raises(OptionError, match="loudness"):
        build(SERIES_DATA / "ep-quick.yaml", options)


@pytest.mark.parametrize("value", ["inf", "nan", "1e9", "-1"])
def test_a_speech_timeout_that_is_not_a_time_is_refused(
    value: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AUDIOGUIDE_SPEECH_TIMEOUT", value)
    code, err = run(
        ["plan", str(SERIES_DATA / "ep-quick.yaml"), "--engine", "espeak", "--pace", "brisk"], capsys
    )
    assert code == 4, err
    assert "AUDIOGUIDE_SPEECH_TIMEOUT" in err


# -- bounded sessions: phrases, steps, natural length ---------------------------------------------------


def test_a_sentence_too_long_to_speak_in_one_go_is_refused(
    write_routine, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    path = write_routine("title: T\nsteps:\n  - say: " + "and breathe " * 4000 + "\n")
    code, err = run(["plan", str(path), "--engine", "tone"], capsys)
    assert code == 2
    assert ":3: steps[0].say: the sentence 'and breathe and breathe" in err
    assert "one spoken phrase is at most 400" in err


def test_too_many_steps_are_refused(write_routine, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    path = write_routine("title: T\nsteps:\n" + "  - say: Breathe in and out slowly.\n" * 5000)
    code, err = run(["plan", str(path), "--engine", "tone"], capsys)
    assert code == 2 and "5000 steps is too many for one session; the most is 200" in err


def test_a_session_too_long_by_its_speech_is_refused_before_speaking(
    write_routine, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    sentence = "Let the breath move slowly through the whole of the body, " * 6
    say = ". ".join([sentence.strip(", ")] * 20) + "."
    path = write_routine("title: T\nsteps:\n" + f"  - say: {say}\n" * 100)  # 0.7 MB, 4.8 h at least
    code, err = run(["plan", str(path), "--engine", "tone"], capsys)  # QUICK_S: nothing was spoken
    assert code == 3
    assert "this routine is too long: its speech alone takes more than" in err


def test_a_session_too_long_by_its_holds_says_so_without_an_impossible_duration(
    write_routine, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    steps = "  - pose: knee-to-chest\n    hold: 10m\n    sides: both\n    rounds: 10\n" * 2
    path = write_routine("title: T\nsteps:\n" + steps)
    code = main(["plan", str(path), "--engine", "tone"])  # (speaks its phrases first: not timed)
    err = capsys.readouterr().err
    assert code == 3
    assert "this routine is too long: it takes at least 6h" in err and "at most 3h00m00s" in err
    path.write_text(path.read_text().replace("title: T\n", "title: T\nduration: 3h\n"))
    code = main(["plan", str(path), "--engine", "tone"])
    err = capsys.readouterr().err
    assert code == 3
    assert "this routine is too long: it takes at least" in err
    assert "set duration to at least" not in err


def test_a_cache_that_cannot_be_written_is_reported_as_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "speech").write_text("not a folder")  # every entry's folder fails to be made
    monkeypatch.setenv("AUDIOGUIDE_CACHE", str(cache))
    code = main(["plan", str(SERIES_DATA / "ep-quick.yaml"), "--engine", "espeak"])
    err = capsys.readouterr().err
    assert code == 4, err
    assert "cannot write the speech cache in" in err and "AUDIOGUIDE_CACHE" in err
    assert "libespeak-ng" not in err and "voice id" not in err
