"""The neural voice (audioguide.speak.engines.hibari) with the real model: speech comes out, the same
samples come out in any process and any order, the cache key follows the engine, and where the
voice cannot run a build says so and speaks with eSpeak NG instead."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import audioguide.pipeline.build as pipeline_build
from audioguide.cli import main
from audioguide.errors import EngineUnavailable, SpeechError
from audioguide.load.voices import load_profile
from audioguide.pipeline.build import BuildOptions, make_plan
from audioguide.speak.cache import SpeechCache
from audioguide.speak.engines.hibari import SAMPLE_RATE_HZ, SEED, WPM_AT_SPEED_1, HibariEngine, speed_for
from audioguide.speak.synth import speak

PHRASES = (
    "Lie on your back with your knees bent.",
    "Breathe in.",
    "Gently hug your right knee toward your chest.",
    "Notice how your lower back feels now.",
)

ORDER_SCRIPT = """
import hashlib, json, sys
from audioguide.speak.engines.hibari import HibariEngine
engine = HibariEngine()
engine.load()
phrases = json.loads(sys.argv[1])
out = {}
for text in phrases:
    pcm, rate = engine.synthesize(text, {"voice": "heart", "rate": 180})
    out[text] = hashlib.sha256(pcm).hexdigest()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def engine() -> HibariEngine:
    engine = HibariEngine()
    engine.load()
    return engine


def _voiced_seconds(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    frame = rate // 50  # 20 ms
    frames = x[: len(x) // frame * frame].reshape(-1, frame)
    level = np.sqrt(np.mean(frames**2, axis=1))
    return float(np.sum(level > level.max() * 0.05)) * 0.02


def test_the_model_speaks_a_phrase_at_the_profiles_rate(engine: HibariEngine) -> None:
    text = "Gently hug your right knee toward your chest."
    pcm, rate = engine.synthesize(text, {"voice": "heart", "rate": 180})
    assert rate == SAMPLE_RATE_HZ
    x = np.frombuffer(pcm, dtype="<i2")
    assert np.max(np.abs(x)) > 3000  # speech, not near-silence
    # Eight words at 180 words a minute: 2.7 s; a natural voice pauses and stretches, so allow a margin.
    assert 1.8 < _voiced_seconds(pcm, rate) < 4.0


def test_rate_maps_to_speed_within_range() -> None:
    assert speed_for(round(WPM_AT_SPEED_1)) == 1.0
    assert speed_for(180) == pytest.approx(0.744, abs=0.001)
    assert speed_for(20) == 0.5 and speed_for(1000) == 1.2


def test_a_faster_rate_gives_a_shorter_phrase(engine: HibariEngine) -> None:
    text = "Notice how your lower back feels now."
    slow, _ = engine.synthesize(text, {"voice": "heart", "rate": 150})
    fast, _ = engine.synthesize(text, {"voice": "heart", "rate": 220})
    assert len(fast) < 0.85 * len(slow)


def test_only_the_bundled_voice_is_used(engine: HibariEngine) -> None:
    with pytest.raises(SpeechError, match="not bundled"):
        engine.synthesize("Breathe in.", {"voice": "emma", "rate": 180})


def test_the_same_phrase_gives_the_same_samples_in_any_process_and_order(engine: HibariEngine) -> None:
    here = {
        text: hashlib.sha256(engine.synthesize(text, {"voice": "heart", "rate": 180})[0]).hexdigest()
        for text in PHRASES
    }
    runs = []
    for order in (list(PHRASES), list(reversed(PHRASES))):
        run = subprocess.run(
            [sys.executable, "-c", ORDER_SCRIPT, json.dumps(order)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        runs.append(json.loads(run.stdout))
    assert runs[0] == runs[1] == here


def test_the_replayed_noise_gives_hibaris_own_samples(engine: HibariEngine) -> None:
    """synthesize() replays hibari's seeded noise from a tape drawn once (_NoiseTape) instead of
    seeding a generator per phrase: the samples are those of hibari's own call, for one sentence or
    several, in any order."""
    texts = [*PHRASES, "Breathe in. Breathe out. And once more, slowly, through the nose."]
    speed = speed_for(180)
    want = {}
    for text in texts:
        audio = engine._tts(text, speed=speed, seed=SEED)
        want[text] = np.clip(np.round(audio * 32767.0), -32768, 32767).astype("<i2").tobytes()
    for text in [*texts[::-1], *texts]:
        assert engine.synthesize(text, {"voice": "heart", "rate": 180})[0] == want[text], text


def test_identity_names_the_model_digest_and_runtime() -> None:
    identity = HibariEngine().identity()
    assert "hibari-tts" in identity and "assets " in identity and "onnxruntime" in identity
    assert "1 thread" in identity and "seed 0" in identity


def test_speak_through_workers_is_identical_cold_warm_and_across_worker_counts(tmp_path: Path) -> None:
    profile = load_profile("default")
    assert profile.engine == "hibari"
    one = speak(PHRASES, profile, cache=SpeechCache(tmp_path / "a"), jobs=1)
    two = speak(PHRASES, profile, cache=SpeechCache(tmp_path / "b"), jobs=2)
    warm = speak(PHRASES, profile, cache=SpeechCache(tmp_path / "a"), jobs=2)
    assert {c.source for c in one.values()} == {"engine"} and {c.source for c in warm.values()} == {"cache"}
    for text in PHRASES:
        assert one[text].key == two[text].key == warm[text].key
        assert np.array_equal(one[text].samples, two[text].samples)
        assert np.array_equal(one[text].samples, warm[text].samples)


def test_where_the_voice_cannot_run_the_plan_says_so_and_speaks_with_espeak(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline_build, "hibari_unavailable", lambda: "onnxruntime is not installed")
    plan = make_plan("desk-break-5min", BuildOptions(cache_dir=tmp_path))
    assert plan.profile.name == "espeak"
    assert plan.notices == (
        "the neural voice cannot run here (onnxruntime is not installed); speaking with the 'espeak' profile",
    )


def test_a_voice_that_fails_to_load_in_the_workers_falls_back_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pipeline_build.speak

    def flaky(phrases: object, profile: object, **kw: object) -> object:
        if getattr(profile, "engine", None) == "hibari":
            raise EngineUnavailable("the neural voice cannot load: OSError: libonnxruntime.so: bad ELF")
        return real(phrases, profile, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_build, "speak", flaky)
    plan = make_plan("desk-break-5min", BuildOptions(cache_dir=tmp_path))
    assert plan.profile.name == "espeak" and len(plan.notices) == 1
    assert "bad ELF" in plan.notices[0]
    with pytest.raises(EngineUnavailable):  # asked for by name: no quiet substitute
        make_plan("desk-break-5min", BuildOptions(cache_dir=tmp_path, engine="hibari"))


def test_the_cli_prints_the_notice_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pipeline_build, "hibari_unavailable", lambda: "hibari-tts is not installed")
    monkeypatch.setenv("AUDIOGUIDE_CACHE", str(tmp_path))
    assert main(["plan", "desk-break-5min", "-q"]) == 0  # -q: no progress lines
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "audioguide: note: the neural voice cannot run here (hibari-tts is not installed); "
        "speaking with the 'espeak' profile"
    ]


def test_asking_for_espeak_with_the_neural_profile_uses_the_espeak_voice(tmp_path: Path) -> None:
    plan = make_plan("desk-break-5min", BuildOptions(cache_dir=tmp_path, engine="espeak"))
    assert plan.profile.name == "espeak" and plan.profile.voice == "en-us"
    assert plan.notices == ()
