"""Stage 3, speak: clips trimmed and levelled, cached, deterministic; broken engines fail fast and clearly."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from audioguide.errors import SpeechError
from audioguide.load.voices import load_profile
from audioguide.model.voice import VoiceProfile
from audioguide.speak.cache import SpeechCache
from audioguide.speak.clips import CLIP_RMS_DBFS, TRIM_KEEP_AFTER, TRIM_KEEP_BEFORE, postprocess
from audioguide.speak.engines import make_engine
from audioguide.speak.engines.base import speech_timeout_s
from audioguide.speak.engines.isolate import CAN_FORK, PhraseRunner, run_isolated
from audioguide.speak.synth import speak
from audioguide.tools.measure import f0_track
from audioguide.units import SAMPLE_RATE

TESTS = Path(__file__).resolve().parent
PHRASES = ("Lie on your back with your knees bent.", "Stay here, breathing easily.", "And release.")
TIMEOUT_S = 2.0
BOUND_S = 2 * TIMEOUT_S + 3.0  # phrase timeout, the parent's watchdog margin, and process start-up
EITHER = r"'(Stay here\.|Breathe out\.)'"  # two workers race: either phrase may fail first
HUNG = rf"hanging engine speaking {EITHER} did not finish within 2 s"
LEVEL_TOLERANCE_DB = 0.05  # postprocess levels exactly (float maths only, no int16 rounding here)


def voiced_rms_db(x: np.ndarray) -> float:
    win = SAMPLE_RATE // 50
    frames = np.asarray(x, dtype=np.float64)[: len(x) // win * win].reshape(-1, win)
    energy = np.mean(frames**2, axis=1)
    return float(10 * np.log10(np.mean(energy[energy > energy.max() * 1e-3])))


@pytest.fixture
def fake_engines(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let speech workers import tests/fake_engines.py (engines chosen as 'fake_engines:Class')."""
    paths = [str(TESTS), *filter(None, [os.environ.get("PYTHONPATH")])]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


# --- postprocess ----------------------------------------------------------------------------------------


def test_postprocess_trims_silence_and_levels_to_the_clip_target() -> None:
    rate = 22_050
    t = np.arange(rate) / rate
    burst = (8000 * np.sin(2 * np.pi * 220 * t) * np.hanning(rate) ** 0.1).astype(np.int16)
    pcm = np.concatenate([np.zeros(rate // 2, np.int16), burst, np.zeros(rate, np.int16)])
    clip = postprocess(pcm, rate)
    assert clip.dtype == np.float32
    assert abs(len(clip) - (2 * rate + TRIM_KEEP_BEFORE + TRIM_KEEP_AFTER)) <= 2 * 441  # within 20 ms
    assert voiced_rms_db(clip) == pytest.approx(CLIP_RMS_DBFS, abs=LEVEL_TOLERANCE_DB)
    assert clip[0] == 0 and abs(clip[-1]) < 1e-3  # faded edges: no clicks


def test_postprocess_refuses_silence() -> None:
    with pytest.raises(SpeechError, match="no audio"):
        postprocess(np.zeros(1000, np.int16), 22_050)
    with pytest.raises(SpeechError, match="no audio"):
        postprocess(np.zeros(0, np.int16), 22_050)


# --- the real engines -----------------------------------------------------------------------------------


def test_speech_is_cached_and_identical_across_worker_counts(tmp_path: Path) -> None:
    profile = load_profile("default")
    one = speak(PHRASES, profile, cache=SpeechCache(tmp_path / "a"), jobs=1)
    two = speak(PHRASES, profile, cache=SpeechCache(tmp_path / "b"), jobs=2)
    again = speak(PHRASES, profile, cache=SpeechCache(tmp_path / "a"), jobs=2)
    for text in PHRASES:
        assert one[text].source == "engine" and again[text].source == "cache"
        assert np.array_equal(one[text].samples, two[text].samples), text
        assert np.array_equal(one[text].samples, again[text].samples), text
        assert voiced_rms_db(one[text].samples) == pytest.approx(CLIP_RMS_DBFS, abs=0.1)


def test_pyttsx3_speaks_for_real_with_the_profile_voice(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    cache = SpeechCache(tmp_path)
    low = speak(PHRASES[:2], load_profile("espeak"), engine="pyttsx3", cache=cache)
    bright = speak(PHRASES[:2], load_profile("bright"), engine="pyttsx3", cache=cache)
    for clips in (low, bright):
        for clip in clips.values():
            assert clip.source == "engine" and clip.length_samples > SAMPLE_RATE // 2
            assert voiced_rms_db(clip.samples) == pytest.approx(CLIP_RMS_DBFS, abs=0.1)
    # The +f3 variant reaches pyttsx3's eSpeak driver: about an octave above the default voice.
    f0_low = np.mean(np.concatenate([f0_track(c.samples) for c in low.values()]))
    f0_bright = np.mean(np.concatenate([f0_track(c.samples) for c in bright.values()]))
    assert 12 * np.log2(f0_bright / f0_low) > 8
    assert capfd.readouterr().out == ""  # pyttsx3 prints; none of it reaches our stdout


def test_pyttsx3_refuses_a_voice_it_does_not_have(tmp_path: Path) -> None:
    profile = VoiceProfile("x", voice="xx-nowhere")
    with pytest.raises(SpeechError, match=r"pyttsx3 has no voice 'xx-nowhere'.*--engine espeak"):
        speak(["Stay here."], profile, engine="pyttsx3", cache=SpeechCache(tmp_path))


def test_espeak_prepared_in_the_worker_speaks_the_same_bytes() -> None:
    """prepare() loads the voice before the phrase children are forked; they must speak as before."""
    engine = make_engine("espeak")
    settings = load_profile("espeak").settings()
    before = [run_isolated(engine.synthesize, text, settings, timeout_s=30, what=text) for text in PHRASES]
    engine.prepare(settings)  # type: ignore[attr-defined]
    after = [run_isolated(engine.synthesize, text, settings, timeout_s=30, what=text) for text in PHRASES]
    assert after == before


def test_a_breathing_espeak_voice_repeats_whatever_its_noise_generator_did_before() -> None:
    """eSpeak NG seeds its noise from the clock as it starts, and the bright profile's +f3 variant
    breathes: a phrase came out differently from one second to the next. Each phrase starts from one seed."""
    from audioguide.speak.engines import espeak

    engine = make_engine("espeak")
    settings = load_profile("bright").settings()
    assert "+f3" in str(settings["voice"])
    first = run_isolated(engine.synthesize, PHRASES[1], settings, timeout_s=30, what="first")
    espeak._state["seed"](12345)  # type: ignore[operator]  # as if the library had started at another time
    assert run_isolated(engine.synthesize, PHRASES[1], settings, timeout_s=30, what="again") == first


# Phrases of the flagship that, spoken one after another in one process without the rewind, came out
# a few to a few hundred samples longer or shorter than in a fresh process.
CARRY_PHRASES = (
    "Start with your left side.",
    "Lie on your back with your knees bent and your feet flat on the floor.",
    "Stay here, breathing easily.",
    "Flatten.",
    "And release.",
    "Three.",
    "Gently tighten your lower tummy and flatten your lower back into the floor.",
    "Moving on to child's pose.",
)


@pytest.mark.skipif(not CAN_FORK, reason="phrases run in forked children only where fork is available")
@pytest.mark.parametrize("voice", ["en-us", "en-us+f3", "en-gb-x-rp", "en-us+iven"])
def test_espeak_speaks_the_same_bytes_in_one_child_as_in_a_fresh_child_per_phrase(voice: str) -> None:
    """eSpeak NG's wave generator carries counters from phrase to phrase; rewound before each phrase,
    a long-lived child speaks every phrase, in any order, as a fresh process does (+f3 breathes, +iven
    is loud enough to lower the generator's gain)."""
    from audioguide.speak.engines import espeak

    engine = make_engine("espeak")
    settings = {"voice": voice, "rate": 150, "pitch": 40, "volume": 1.0}
    if espeak._state["rewind"] is None:
        pytest.skip("this libespeak-ng cannot be rewound: every phrase is spoken in a fresh child")
    assert engine.repeatable(settings)  # type: ignore[attr-defined]
    fresh = [run_isolated(engine.synthesize, t, settings, timeout_s=30, what=t) for t in CARRY_PHRASES]
    for order in (list(range(len(CARRY_PHRASES))), [5, 2, 7, 0, 3, 6, 1, 4]):
        runner = PhraseRunner(engine.synthesize, reuse=True)
        try:
            spoken = {i: runner(CARRY_PHRASES[i], settings, timeout_s=30, what="a phrase") for i in order}
        finally:
            runner.close()
        assert [spoken[i] for i in range(len(CARRY_PHRASES))] == fresh


def test_the_wheels_espeak_can_be_rewound_and_klatt_voices_are_not() -> None:
    """The espeakng-loader wheel's libespeak-ng has the symbol table the rewind needs: losing it would
    quietly bring back a fork per phrase. Klatt voices keep more state, so they get one."""
    from audioguide.speak.engines import espeak

    engine = make_engine("espeak")
    bundled = espeak._bundled()
    if (
        bundled is not None
        and espeak.library_path() == bundled
        and espeak._state["version"] in espeak.REWOUND_VERSIONS
    ):
        assert espeak._state["rewind"] is not None
    assert not engine.repeatable({"voice": "en-us+klatt"})  # type: ignore[attr-defined]
    assert not engine.repeatable({"voice": "en-us+klatt4"})  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="not a 64-bit"):
        espeak._elf_symbols(b"#!/bin/sh\n", lambda name: True)
    # Symbols that do not hold their values at initialisation are not the variables to rewind.
    assert espeak._as_loaded("agc", (256).to_bytes(4, "little"))
    assert not espeak._as_loaded("agc", (255).to_bytes(4, "little"))
    assert espeak._as_loaded("wavephase", (0x7FFFFFFF).to_bytes(4, "little"))
    resonators = bytearray(b"\x01" * 24 + bytes(16)) * 9  # coefficients set, no memory yet
    assert espeak._as_loaded("rbreath", bytes(resonators))
    resonators[30] = 7
    assert not espeak._as_loaded("rbreath", bytes(resonators))


@pytest.mark.parametrize("voice", ["en-us", "en-us+klatt"])
def test_espeak_speech_is_identical_in_any_order_and_worker_count(tmp_path: Path, voice: str) -> None:
    """The cache relies on it: a phrase's clip does not depend on which worker spoke it, or after what
    (a repeatable voice speaks in one long-lived child per worker, a Klatt voice in a child per phrase)."""
    profile = VoiceProfile("x", engine="espeak", voice=voice, rate=150, pitch=40)
    phrases = list(CARRY_PHRASES)
    one = speak(phrases, profile, cache=SpeechCache(tmp_path / "a"), jobs=1)
    two = speak(phrases[::-1], profile, cache=SpeechCache(tmp_path / "b"), jobs=2)
    for text in phrases:
        assert one[text].key == two[text].key
        assert np.array_equal(one[text].samples, two[text].samples), text


def test_espeak_refuses_unknown_voices_and_variants(tmp_path: Path) -> None:
    for voice, message in (
        ("en-us+f33", r"no voice variant '\+f33'.*did you mean '\+f3'"),
        ("xx-zz", "no voice"),
    ):
        with pytest.raises(SpeechError, match=message) as err:
            speak(
                ["Stay here."], VoiceProfile("x", voice=voice), engine="espeak", cache=SpeechCache(tmp_path)
            )
        assert "audioguide voices" in str(err.value)


# --- broken engines: an error naming the engine and the fix, in bounded time, never silence -----------


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("fake_engines:HangingEngine", HUNG),
        ("fake_engines:StatelessHangingEngine", HUNG),
        ("fake_engines:SilentEngine", rf"silent engine speaking {EITHER}: .*no audio"),
        ("fake_engines:StatelessSilentEngine", rf"silent engine speaking {EITHER}: .*no audio"),
        ("fake_engines:EmptyEngine", rf"empty engine speaking {EITHER}: .*no audio"),
        ("fake_engines:HangingStartEngine", r"fake_engines:HangingStartEngine speech engine did not start"),
    ],
)
@pytest.mark.usefixtures("fake_engines")
def test_a_broken_engine_is_a_clear_error_in_bounded_time(tmp_path: Path, engine: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(SpeechError, match=message) as err:
        speak(
            ["Stay here.", "Breathe out."],
            load_profile("default"),
            engine=engine,
            cache=SpeechCache(tmp_path),
            jobs=2,
            timeout_s=TIMEOUT_S,
        )
    assert time.monotonic() - started < BOUND_S
    assert "--engine" in str(err.value)  # the fix
    assert not list(tmp_path.rglob("*.pcm"))  # nothing, silence least of all, went into the cache


@pytest.mark.usefixtures("fake_engines")
@pytest.mark.skipif(not CAN_FORK, reason="workers are forked from one loaded engine only where fork is safe")
def test_parallel_workers_share_one_engine_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One worker loads the engine and forks the others: a model is read once, however many speak."""
    log = tmp_path / "engine.log"
    monkeypatch.setenv("FAKE_ENGINE_LOG", str(log))
    phrases = [f"Phrase number {i}." for i in range(12)]
    clips = speak(
        phrases,
        load_profile("default"),
        engine="fake_engines:CountingEngine",
        cache=SpeechCache(tmp_path),
        jobs=3,
    )
    assert list(clips) == phrases
    events = [line.split() for line in log.read_text().splitlines()]
    loads = [pid for what, pid in events if what == "load"]
    speakers = {pid for what, pid in events if what == "speak"}
    assert len(loads) == 1
    assert len(speakers) == 3  # three worker processes spoke


def _gone(pid: int) -> bool:
    """True once ``pid`` is reaped (a zombie still answers kill(pid, 0))."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_reused_phrase_child_serves_many_calls_and_is_replaced_after_a_hang() -> None:
    """The long-lived child of a stateless engine: one process for many phrases (the CPU saving), a
    phrase that hangs is still killed at its timeout, and the next phrase gets a fresh child."""
    reused = PhraseRunner(os.getpid, reuse=True)
    first = reused(timeout_s=TIMEOUT_S, what="getpid")
    assert first != os.getpid()
    assert reused(timeout_s=TIMEOUT_S, what="getpid") == first
    fresh = PhraseRunner(os.getpid, reuse=False)
    assert fresh(timeout_s=TIMEOUT_S, what="getpid") != fresh(timeout_s=TIMEOUT_S, what="getpid")

    sleeper = PhraseRunner(time.sleep, reuse=True)
    assert sleeper(0.0, timeout_s=TIMEOUT_S, what="a nap") is None
    started = time.monotonic()
    with pytest.raises(SpeechError, match=r"a long nap did not finish within 0.5 s"):
        sleeper(3600.0, timeout_s=0.5, what="a long nap")
    assert time.monotonic() - started < 0.5 + 1.0
    assert sleeper(0.0, timeout_s=TIMEOUT_S, what="a nap") is None  # a new child

    reused.close()
    assert _gone(first)
    with pytest.raises(SpeechError, match=r"a crash failed: the speech process exited \(exit status 3\)"):
        PhraseRunner(os._exit, reuse=True)(3, timeout_s=TIMEOUT_S, what="a crash")


@pytest.mark.usefixtures("fake_engines")
def test_the_timeout_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOGUIDE_SPEECH_TIMEOUT", "1")
    assert speech_timeout_s() == 1.0
    started = time.monotonic()
    with pytest.raises(SpeechError, match=r"within 1 s.*AUDIOGUIDE_SPEECH_TIMEOUT"):
        speak(
            ["Stay here."],
            load_profile("default"),
            engine="fake_engines:HangingEngine",
            cache=SpeechCache(tmp_path),
        )
    assert time.monotonic() - started < 1 + BOUND_S - TIMEOUT_S
    monkeypatch.setenv("AUDIOGUIDE_SPEECH_TIMEOUT", "soon")
    with pytest.raises(SpeechError, match="not a number"):
        speech_timeout_s()
    monkeypatch.delenv("AUDIOGUIDE_SPEECH_TIMEOUT")
    assert speech_timeout_s() == 30.0


def test_missing_engines_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from audioguide.speak.engines import espeak

    with pytest.raises(SpeechError, match="unknown speech engine 'festival'; engines: auto, hibari, espeak"):
        make_engine("festival")
    with pytest.raises(SpeechError, match="cannot load the speech engine 'nowhere:Engine'"):
        make_engine("nowhere:Engine")
    monkeypatch.setitem(sys.modules, "pyttsx3", None)  # as if it were not installed
    with pytest.raises(SpeechError, match="pyttsx3 is not installed: run 'make setup'"):
        make_engine("pyttsx3")
    monkeypatch.setattr(espeak, "_state", {})
    monkeypatch.setattr(espeak, "library_path", lambda: None)
    with pytest.raises(SpeechError, match="libespeak-ng is not available: run 'make setup'"):
        make_engine("espeak")


@pytest.mark.skipif(not CAN_FORK, reason="phrases run in forked children only where fork is available")
def test_a_refused_fork_is_a_speech_error_and_leaks_no_pipes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    open_fds = len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None
    monkeypatch.setattr(os, "fork", refuse)
    for runner in (PhraseRunner(os.getpid, reuse=True), PhraseRunner(os.getpid, reuse=False)):
        with pytest.raises(SpeechError, match="could not start a process"):
            runner(timeout_s=TIMEOUT_S, what="getpid")
    with pytest.raises(SpeechError, match="getpid: the system could not start a process"):
        run_isolated(os.getpid, timeout_s=TIMEOUT_S, what="getpid")
    if open_fds is not None:
        assert len(os.listdir("/proc/self/fd")) == open_fds
