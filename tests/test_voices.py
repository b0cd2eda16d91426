"""Voice profiles: the shipped ones load, sound distinct and calm, build the flagship; listing; preview."""

from __future__ import annotations

import itertools
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audio_tools import decode, windows_rms_db
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.errors import RoutineError
from audioguide.load.voices import available_profiles, load_profile, profile_dirs
from audioguide.pipeline.build import BuildOptions, build, make_plan
from audioguide.speak.voices import engine_voices
from audioguide.tools.measure import measure_profile
from audioguide.units import SAMPLE_RATE

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.stem for p in (REPO / "voices").glob("*.yaml"))
CALM_WPM = (140.0, 180.0)  # words/min over the phrases themselves (see docs/voices.md for each profile)
MAX_F0_HZ = 230.0  # a typical speaking pitch; above this a synthetic voice starts to sound shrill
MIN_F0_APART_ST = 2.0  # any two shipped profiles differ in mean pitch by at least this (semitones)
SPEECH_WINDOW_DB = -45.0  # a 100 ms window louder than this is sound, not silence


def test_at_least_three_profiles_ship_and_load() -> None:
    assert len(SHIPPED) >= 3 and "default" in SHIPPED and "espeak" in SHIPPED
    for name in SHIPPED:
        profile = load_profile(name)
        assert profile.engine == ("hibari" if name == "default" else "auto") and profile.description
        assert profile.source == REPO / "voices" / f"{name}.yaml"


def test_shipped_profiles_sound_distinct_and_calm() -> None:
    measures = {name: measure_profile(name) for name in SHIPPED}
    for name, m in measures.items():
        assert CALM_WPM[0] <= m.words_per_minute <= CALM_WPM[1], (name, m)
        assert 60 < m.mean_f0_hz <= MAX_F0_HZ, (name, m)
    # The eSpeak profiles are the choice of voices within one engine: they must differ in pitch.
    formant = {name: m for name, m in measures.items() if load_profile(name).engine != "hibari"}
    for (a, ma), (b, mb) in itertools.combinations(formant.items(), 2):
        apart = abs(12 * np.log2(ma.mean_f0_hz / mb.mean_f0_hz))
        assert apart >= MIN_F0_APART_ST, f"{a} and {b} are only {apart:.1f} semitones apart"


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_the_flagship_builds_with_every_shipped_profile(name: str, tmp_path: Path) -> None:
    result = build("lower-back-10min", BuildOptions(voice=name, output=tmp_path / "s.mp3", sidecars=False))
    assert result.plan.profile.name == name
    assert sum(result.speech_sources.values()) == len(result.plan.clips)
    audio, rate, _ = decode(result.output)
    assert rate == SAMPLE_RATE and len(audio) == 600 * SAMPLE_RATE
    welcome = result.plan.timeline.speech()[0]
    span = audio[welcome.start_sample : welcome.end_sample]
    assert np.mean(windows_rms_db(span, rate, 100) > SPEECH_WINDOW_DB) > 0.5  # it speaks


def test_voice_picks_a_profile_by_name_or_path_and_unknown_names_list_the_profiles(
    write_routine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mine.yaml").write_text("voice: en-gb-x-rp\nrate: 140\n")
    routine = write_routine("title: T\nvoice: mine.yaml\nsteps:\n  - say: Stay here.\n")
    opts = BuildOptions(engine="tone")
    assert make_plan(routine, opts).profile.voice == "en-gb-x-rp"  # a path, relative to the routine
    assert make_plan(routine, BuildOptions(engine="tone", voice="bright")).profile.name == "bright"
    with pytest.raises(RoutineError, match=r"unknown voice profile 'brite' \(profiles: .*bright.*\).*bright"):
        make_plan(routine, BuildOptions(engine="tone", voice="brite"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate: 20\n", "words per minute"),
        ("pitch: high\n", "pitch from 0 to 100"),
        ("engine: festival\n", "unknown engine 'festival'"),
        ("voise: en-us\n", "voice"),
        ("recordings: 3\n", "folder path"),
    ],
)
def test_a_bad_profile_is_an_error_naming_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(RoutineError, match=message) as err:
        load_profile(str(path))
    assert str(path) in str(err.value)


def test_recordings_are_relative_to_the_profile(tmp_path: Path) -> None:
    (tmp_path / "me.yaml").write_text("recordings: my-pack\n")
    assert load_profile(str(tmp_path / "me.yaml")).recordings == tmp_path / "my-pack"


def test_profiles_in_audioguide_voices_come_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "default.yaml").write_text("voice: en-gb-x-rp\n")
    monkeypatch.setenv("AUDIOGUIDE_VOICES", str(tmp_path))
    assert profile_dirs()[0] == tmp_path
    assert available_profiles()["default"] == tmp_path / "default.yaml"


# --- audioguide voices ------------------------------------------------------------------------------------


def test_voices_lists_profiles_and_each_engines_voices() -> None:
    result = CliRunner().invoke(cli, ["voices", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    profiles = {p["name"]: p for p in data["profiles"]}
    assert set(SHIPPED) <= set(profiles)
    assert profiles["bright"]["voice"] == "en-us+f3" and profiles["bright"]["source"].endswith("bright.yaml")
    assert {"engine", "rate", "pitch", "volume", "description", "recordings"} <= set(profiles["default"])
    for engine in ("espeak", "pyttsx3"):  # both are installed here (pyttsx3 through libespeak-ng)
        info = data["engines"][engine]
        assert info["available"], info
        by_id = {v["id"]: v for v in info["voices"]}
        us = next(v for v in by_id.values() if v["language"] == "en-us")
        assert us["gender"] in ("male", "female")
    assert "f3" in data["engines"]["espeak"]["variants"]
    text = CliRunner().invoke(cli, ["voices", "--engines"])
    assert text.exit_code == 0
    assert "bright" in text.output and "Engine espeak" in text.output and "gmw/en-US" in text.output


def test_voices_lists_profiles_first_and_engine_voices_only_for_the_phrases_language() -> None:
    plain = CliRunner().invoke(cli, ["voices"])
    assert plain.exit_code == 0
    assert "Engine " not in plain.stdout and len(plain.stdout.splitlines()) < 20  # 274 lines before
    assert plain.stdout.startswith("Voice profiles")
    engines = CliRunner().invoke(cli, ["voices", "--engines"]).stdout
    voice_rows = [
        line for line in engines.splitlines() if line.startswith("  gmw/") or line.startswith("  heart")
    ]
    assert voice_rows and all(row.split()[1].startswith("en") for row in voice_rows)  # English phrases only
    assert not any(line.rstrip().endswith("male") for line in voice_rows)  # eSpeak calls them all male
    assert re.search(r"Engine pyttsx3 \(pyttsx3 .*\): the same \d+ voices .* as espeak", engines)  # not twice
    assert len(engines.splitlines()) < 40
    every = CliRunner().invoke(cli, ["voices", "--engines", "--all-languages"]).stdout
    assert "cmn" in every or "de" in every.split()  # other languages appear on request
    assert len(every.splitlines()) > len(engines.splitlines()) + 100


def test_a_missing_engine_is_listed_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    from audioguide.speak.engines import espeak

    monkeypatch.setattr(espeak, "_state", {})
    monkeypatch.setattr(espeak, "library_path", lambda: None)
    monkeypatch.setitem(sys.modules, "pyttsx3", None)
    engines = engine_voices()
    assert not engines["espeak"]["available"] and "make setup" in str(engines["espeak"]["error"])
    assert not engines["pyttsx3"]["available"] and "not installed" in str(engines["pyttsx3"]["error"])
    result = CliRunner().invoke(cli, ["voices", "--engines"])
    assert result.exit_code == 0 and "Engine espeak: not available" in result.output


def test_preview_writes_a_short_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["voices", "preview", "british"])
    assert result.exit_code == 0, result.output
    wav = tmp_path / "output" / "preview-british.wav"
    data, rate = soundfile.read(str(wav))
    assert rate == SAMPLE_RATE and data.ndim == 1
    assert 3 * SAMPLE_RATE < len(data) < 15 * SAMPLE_RATE
    assert np.mean(windows_rms_db(data, rate, 100) > SPEECH_WINDOW_DB) > 0.5
    mp3 = tmp_path / "p.mp3"
    assert CliRunner().invoke(cli, ["voices", "preview", "bright", "-o", str(mp3)]).exit_code == 0
    audio, _, _ = decode(mp3)
    assert len(audio) > 3 * SAMPLE_RATE
    assert not [p for p in tmp_path.rglob("*.part")]  # written atomically, nothing left behind


def test_preview_errors_are_one_line_with_an_exit_code(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from audioguide.cli import main

    assert main(["voices", "preview", "defualt"]) == 2
    assert "did you mean 'default'" in capsys.readouterr().err
    assert main(["voices", "preview", "default", "-o", str(tmp_path / "x.aiff")]) != 0
    assert "unknown audio format" in capsys.readouterr().err
