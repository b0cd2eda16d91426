"""Recorded voice packs: the script to read, recordings replacing synthesis, trimming, levels, staleness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from audio_tools import decode
from click.testing import CliRunner

from audioguide.cli import cli
from audioguide.compile.compiler import Options, compile_routine
from audioguide.errors import SpeechError
from audioguide.load.routine import load_routine
from audioguide.model.voice import VoiceProfile
from audioguide.pipeline.build import BuildOptions, build, make_plan
from audioguide.speak.cache import SpeechCache
from audioguide.speak.clips import CLIP_RMS_DBFS, TRIM_KEEP_AFTER, TRIM_KEEP_BEFORE, load_recording
from audioguide.speak.packs import find_recording, phrase_stem
from audioguide.speak.synth import speak
from audioguide.tools.measure import dominant_frequency
from audioguide.tools.packscript import routine_phrases, write_script
from audioguide.units import SAMPLE_RATE

TONE_HZ = 300.0
FREQ_TOLERANCE_HZ = 15.0  # a 300 Hz tone under 64 kbps MP3 and a short analysis window
LEVEL_TOLERANCE_DB = 0.5  # postprocess levels every clip to exactly CLIP_RMS_DBFS (int16 rounding aside)
MIX_LEVEL_TOLERANCE_DB = 1.0  # in the mastered MP3: encoder and the limiter's release around the span
MIN_SIMILARITY = 0.95  # cosine similarity of the power spectra of a span of the MP3 and the clip
PAD_S = 0.5
SIGNAL_S = 1.2

ROUTINE = """\
title: Pack Check
voice: {voice}
steps:
  - say: Let your shoulders drop and your jaw soften.
  - rest: 4s
  - say: Notice how your lower back feels now.
  - rest: 4s
  - say: Take one more slow breath, in and out.
"""
RECORDED = ("Let your shoulders drop and your jaw soften.", "Take one more slow breath, in and out.")
SYNTHESIZED = "Notice how your lower back feels now."
NO_INTRO = BuildOptions(compile=Options(intro="none"))


def tone_recording(
    path: Path, *, rate: int = 48_000, stereo: bool = True, level: float = 0.3, seed: int = 0
) -> np.ndarray:
    """A 'recording': a 300 Hz tone with a little noise, with 0.5 s of silence either side."""
    rng = np.random.default_rng(seed)
    t = np.arange(round(SIGNAL_S * rate)) / rate
    body = level * np.sin(2 * np.pi * TONE_HZ * t) + level * 0.02 * rng.standard_normal(len(t))
    pad = np.zeros(round(PAD_S * rate))
    mono = np.concatenate([pad, body, pad])
    data = np.stack([mono, 0.5 * mono], axis=1) if stereo else mono
    soundfile.write(str(path), data, rate)
    return mono


def voiced_rms_db(x: np.ndarray) -> float:
    """RMS in dBFS over the 20 ms frames within 30 dB of the loudest (as postprocess measures it)."""
    win = SAMPLE_RATE // 50
    frames = np.asarray(x, dtype=np.float64)[: len(x) // win * win].reshape(-1, win)
    energy = np.mean(frames**2, axis=1)
    voiced = energy[energy > energy.max() * 1e-3]
    return float(10 * np.log10(np.mean(voiced)))


def spectral_similarity(a: np.ndarray, b: np.ndarray, size: int = 4096) -> float:
    """Cosine similarity of two signals' average power spectra: blind to gain and to phase (the
    render passes speech through all-pass filters, so waveforms are not compared sample by sample)."""

    def power(x: np.ndarray) -> np.ndarray:
        frames = np.asarray(x, dtype=np.float64)[: len(x) // size * size].reshape(-1, size)
        return np.mean(np.abs(np.fft.rfft(frames * np.hanning(size), axis=1)) ** 2, axis=0)

    pa, pb = power(a), power(b)
    return float(np.dot(pa, pb) / (np.linalg.norm(pa) * np.linalg.norm(pb)))


@pytest.fixture
def pack(tmp_path: Path) -> tuple[Path, Path]:
    """(routine file, pack folder): a profile whose recordings folder holds two of three phrases."""
    folder = tmp_path / "pack"
    folder.mkdir()
    (tmp_path / "me.yaml").write_text("voice: en-us\nrate: 150\npitch: 40\nrecordings: pack\n")
    routine = tmp_path / "routine.yaml"
    routine.write_text(ROUTINE.format(voice="me.yaml"))
    tone_recording(folder / f"{phrase_stem(RECORDED[0])}.wav", rate=48_000, stereo=True)
    tone_recording(folder / f"{phrase_stem(RECORDED[1])}.flac", rate=22_050, stereo=False, level=0.05)
    return routine, folder


# --- the script -----------------------------------------------------------------------------------------


def test_a_phrase_stem_is_stable_and_changes_with_any_change_of_text() -> None:
    # People's recordings are named by this: it must never change between versions.
    assert phrase_stem("Stay here.") == "p-28186fe61205"  # sha256("Stay here.")[:12]
    assert phrase_stem("Stay here.") != phrase_stem("Stay here!")
    assert phrase_stem("Stay here.") != phrase_stem("stay here.")


def test_script_lists_every_phrase_once_with_its_file_name(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["voices", "script", "lower-back-10min", "-o", str(tmp_path / "pack")])
    assert result.exit_code == 0, result.output
    routine = load_routine("lower-back-10min")
    phrases = compile_routine(routine).phrases()
    short = [p for p in compile_routine(routine, Options(intro="short")).phrases() if p not in phrases]
    assert short  # the one-line safety reminder that --no-intro and later episodes speak
    phrases += short
    lines = (tmp_path / "pack" / "script.txt").read_text(encoding="utf-8").splitlines()
    assert [line.split("\t") for line in lines] == [[phrase_stem(p), p] for p in phrases]
    mapping = json.loads((tmp_path / "pack" / "script.json").read_text(encoding="utf-8"))
    assert mapping == {phrase_stem(p): p for p in phrases}
    assert f"{len(phrases)} phrases, 0 already recorded" in result.output


def test_script_can_cover_several_routines_and_verbosities() -> None:
    full = routine_phrases(["lower-back-10min"])
    both = routine_phrases(["lower-back-10min", "desk-break-5min"], ("full", "brief", "minimal"))
    assert set(full) < set(both)
    brief = compile_routine(load_routine("desk-break-5min"), Options(verbosity="brief")).phrases()
    assert set(brief) <= set(both)
    assert len(both) == len(set(both))


def test_script_reports_recordings_that_no_longer_match(tmp_path: Path) -> None:
    phrases = ["Stay here.", "Breathe out."]
    tone_recording(tmp_path / f"{phrase_stem('Stay here.')}.wav")
    tone_recording(tmp_path / f"{phrase_stem('Stay here, breathing.')}.wav")  # words since changed
    report = write_script(phrases, tmp_path)
    assert (report.phrases, report.recorded) == (2, 1)
    assert report.unused == (f"{phrase_stem('Stay here, breathing.')}.wav",)


# --- recordings in place of synthesis -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "stereo"), [(48_000, True), (22_050, False), (44_100, True), (16_000, False)]
)
def test_a_recording_is_trimmed_and_levelled_like_synthesized_speech(
    tmp_path: Path, rate: int, stereo: bool
) -> None:
    path = tmp_path / f"{phrase_stem('Stay here.')}.wav"
    tone_recording(path, rate=rate, stereo=stereo, level=0.04)
    clip = load_recording("Stay here.", path)
    assert clip.source == "recording"
    # The half second of silence each side is gone: what is left is the tone and the kept margins.
    expected = round(SIGNAL_S * SAMPLE_RATE) + TRIM_KEEP_BEFORE + TRIM_KEEP_AFTER
    assert abs(clip.length_samples - expected) <= SAMPLE_RATE // 100  # 10 ms: resampler edges
    assert voiced_rms_db(clip.samples) == pytest.approx(CLIP_RMS_DBFS, abs=LEVEL_TOLERANCE_DB)
    assert dominant_frequency(clip.samples) == pytest.approx(TONE_HZ, abs=2)


def test_recordings_come_first_and_never_enter_the_speech_cache(
    tmp_path: Path, pack: tuple[Path, Path]
) -> None:
    _, folder = pack
    cache = SpeechCache(tmp_path / "cache")
    profile = VoiceProfile("me", voice="en-us", recordings=folder)
    clips = speak([*RECORDED, SYNTHESIZED], profile, cache=cache)
    assert [clips[t].source for t in (*RECORDED, SYNTHESIZED)] == ["recording", "recording", "engine"]
    assert len(list(cache.root.rglob("*.pcm"))) == 1
    synthesized = voiced_rms_db(clips[SYNTHESIZED].samples)
    for text in RECORDED:  # recorded at 0.3 and at 0.05 full scale: both now sit where speech does
        assert voiced_rms_db(clips[text].samples) == pytest.approx(synthesized, abs=LEVEL_TOLERANCE_DB)
    again = speak([*RECORDED, SYNTHESIZED], profile, cache=cache)
    assert [again[t].source for t in (*RECORDED, SYNTHESIZED)] == ["recording", "recording", "cache"]
    assert np.array_equal(again[RECORDED[0]].samples, clips[RECORDED[0]].samples)


def test_a_complete_pack_needs_no_engine(tmp_path: Path) -> None:
    tone_recording(tmp_path / f"{phrase_stem('Stay here.')}.wav")
    profile = VoiceProfile("me", recordings=tmp_path)
    clips = speak(["Stay here."], profile, engine="no_such_module:Engine")  # never loaded
    assert clips["Stay here."].source == "recording"


def test_a_stale_recording_is_not_used(tmp_path: Path) -> None:
    tone_recording(tmp_path / f"{phrase_stem('Stay here, breathing easily.')}.wav")  # the old words
    profile = VoiceProfile("me", recordings=tmp_path)
    clip = speak(["Stay here, breathing slowly."], profile)["Stay here, breathing slowly."]
    assert clip.source in ("engine", "cache")
    assert abs(dominant_frequency(clip.samples) - TONE_HZ) > FREQ_TOLERANCE_HZ


def test_pack_problems_are_errors_naming_the_file(tmp_path: Path) -> None:
    profile = VoiceProfile("me", recordings=tmp_path / "missing")
    with pytest.raises(SpeechError, match=r"recordings folder .*missing does not exist"):
        speak(["Stay here."], profile)
    stem = phrase_stem("Stay here.")
    soundfile.write(str(tmp_path / f"{stem}.wav"), np.zeros(4410), 44_100)
    with pytest.raises(SpeechError, match=rf"recording .*{stem}\.wav is silent"):
        speak(["Stay here."], VoiceProfile("me", recordings=tmp_path))
    (tmp_path / f"{stem}.wav").write_bytes(b"not audio at all")
    with pytest.raises(SpeechError, match=rf"cannot read the recording .*{stem}\.wav"):
        speak(["Stay here."], VoiceProfile("me", recordings=tmp_path))
    tone_recording(tmp_path / f"{stem}.wav")
    tone_recording(tmp_path / f"{stem}.flac")
    assert find_recording(tmp_path, "Breathe out.") is None
    with pytest.raises(SpeechError, match="two recordings"):
        speak(["Stay here."], VoiceProfile("me", recordings=tmp_path))


# --- a whole build with a pack ----------------------------------------------------------------------------


def test_the_built_session_carries_the_recordings_at_their_phrases(
    tmp_path: Path, pack: tuple[Path, Path]
) -> None:
    routine, _ = pack
    result = build(routine, BuildOptions(output=tmp_path / "out.mp3", compile=Options(intro="none")))
    assert result.speech_sources.get("recording") == len(RECORDED)
    assert result.speech_sources.get("engine", 0) + result.speech_sources.get("cache", 0) >= 1
    audio, rate, _ = decode(result.output)
    assert rate == SAMPLE_RATE and len(audio) == result.plan.timeline.length_samples
    recording = next(c.samples for c in result.plan.clips.values() if c.source == "recording")
    recorded = 0
    for event in result.plan.timeline.speech():
        span = audio[event.start_sample : event.end_sample]
        clip = result.plan.clips[event.text]
        freq = dominant_frequency(span)
        if clip.source != "recording":
            assert abs(freq - TONE_HZ) > FREQ_TOLERANCE_HZ, event.text
            assert spectral_similarity(span, recording) < MIN_SIMILARITY / 2, event.text
            continue
        recorded += 1
        assert event.text in RECORDED
        assert freq == pytest.approx(TONE_HZ, abs=FREQ_TOLERANCE_HZ), event.text
        # The span is the levelled recording, through the same master gain as every other phrase.
        # (Not compared with the speech spans themselves: the master's peak limiter trims speech's
        # peaks, a steady tone has none, so in the mix the tone reads a few dB hotter.)
        assert voiced_rms_db(span) == pytest.approx(
            CLIP_RMS_DBFS + result.master.gain_db, abs=MIX_LEVEL_TOLERANCE_DB
        )
        assert spectral_similarity(span, clip.samples) > MIN_SIMILARITY, event.text
    assert recorded == len(RECORDED)


def test_build_cli_reports_how_many_phrases_came_from_recordings(
    pack: tuple[Path, Path], tmp_path: Path
) -> None:
    routine, _ = pack
    runner = CliRunner()
    result = runner.invoke(cli, ["build", str(routine), "-o", str(tmp_path / "o.wav"), "-q", "--no-intro"])
    assert result.exit_code == 0, result.output
    assert f"{len(RECORDED)} from recording" in result.output
    # Rewording a recorded phrase makes its recording stale: the engine speaks it instead.
    routine.write_text(
        routine.read_text().replace(RECORDED[0], "Let your shoulders drop, and your jaw soften.")
    )
    plan = make_plan(routine, NO_INTRO)
    assert sum(c.source == "recording" for c in plan.clips.values()) == len(RECORDED) - 1
