"""Property tests over hostile input (issue 15): routines, series files, manifests and WAV headers.

Whatever the input, the answer is a correct result or one clean line (a non-zero exit naming the
problem, never "internal error" or a traceback), within bounded time and memory. Seeded and
bounded, so the whole file runs in well under a minute.
"""

from __future__ import annotations

import json
import re
import resource
import struct
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from audioguide.cli import main
from audioguide.compile.compiler import Options, compile_routine
from audioguide.errors import AudioguideError, ExportError, RenderError, RoutineError, SpeechError
from audioguide.load.routine import ROUTINE_KEYS, STEP_KEYS, load_routine
from audioguide.render import ambience
from audioguide.render.ambience import load_bed
from audioguide.series.manifest import MANIFEST, Manifest
from audioguide.series.spec import EPISODE_FILENAME, EPISODE_KEYS, SERIES_KEYS, load_series
from audioguide.speak.packs import read_recording
from audioguide.units import SAMPLE_RATE

SERIES_DATA = Path(__file__).resolve().parent / "data" / "series" / "backcare"
CLEAN_EXITS = {0, 1, 2, 3, 4, 5, 6}  # 70 is an internal error
MAX_GROWTH_KB = 600_000  # peak RSS may grow by this much over a whole property (ru_maxrss is in KiB)
SETTINGS = settings(
    max_examples=60,
    deadline=timedelta(seconds=20),  # one example; a hang or a runaway read would blow far past it
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

HOSTILE = [
    "",
    " ",
    "\ud800",
    "a\x00b",
    "\x1b[2J",
    "\x85",
    "\n",
    "en\n",
    "../../victim.txt",
    "/dev/zero",
    "/dev/urandom",
    "/proc",
    "x" * 5000,
    "word " * 900,
    "[[[[[[[[",
    "~",
    "~someone-who-does-not-exist/x.wav",
    "nan",
    "inf",
    "-inf",
    "1e309",
    "-1",
    "0",
    "999999999999999999999",
    "99h",
    "~3h",
    "~0s",
    "0 breaths",
    "1e9 breaths",
    "nan breaths",
    "http://[::1/",
    "https://example.org/#",
    "javascript:alert(1)",
    "knee-to-chest",
    "left",
    "both",
    "rain",
    "supine",
    "10s",
    "3",
]
SCALARS = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=30),
)
VALUES = st.one_of(
    SCALARS, st.lists(SCALARS, max_size=3), st.dictionaries(st.sampled_from(STEP_KEYS), SCALARS, max_size=2)
)


def step() -> st.SearchStrategy[dict[str, Any]]:
    valid = st.fixed_dictionaries({"pose": st.just("knee-to-chest"), "hold": st.just("10s")})
    hostile = st.dictionaries(st.sampled_from(STEP_KEYS), VALUES, min_size=1, max_size=4)
    return st.one_of(valid, hostile, valid.flatmap(lambda v: hostile.map(lambda h: {**v, **h})))


RANDOM_ROUTINES = st.fixed_dictionaries(
    {"title": st.one_of(st.just("Fuzz"), SCALARS), "steps": st.lists(step(), min_size=0, max_size=3)},
    optional={k: VALUES for k in ROUTINE_KEYS if k not in ("title", "steps")},
)
VALID_ROUTINE: dict[str, Any] = {
    "title": "Fuzz",
    "duration": "2m",
    "ambience": "none",
    "steps": [{"pose": "knee-to-chest", "hold": "10s", "sides": "both"}, {"say": "Breathe out."}],
}


def _mutated(where: str, key: str, value: Any) -> dict[str, Any]:
    routine = json.loads(json.dumps(VALID_ROUTINE))
    if where == "routine":
        routine[key] = value
    else:
        routine["steps"][0 if where == "pose step" else 1][key] = value
    return routine


HOSTILE_VALUES = st.one_of(
    st.sampled_from(HOSTILE), st.sampled_from(HOSTILE).map(lambda h: f"Breathe {h} out.")
)
MUTANTS = st.one_of(  # one hostile value in one key of a valid routine: the fuzzer of the issue
    st.builds(_mutated, st.just("routine"), st.sampled_from(ROUTINE_KEYS), HOSTILE_VALUES),
    st.builds(
        _mutated, st.sampled_from(["pose step", "say step"]), st.sampled_from(STEP_KEYS), HOSTILE_VALUES
    ),
)
ROUTINES = st.one_of(MUTANTS, MUTANTS, RANDOM_ROUTINES)


def dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=False, sort_keys=False)


def peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def assert_clean(code: int, err: str) -> None:
    assert code in CLEAN_EXITS, err
    assert "internal error" not in err and "Traceback" not in err, err
    if code:
        assert err.strip().count("\n") == 0, f"not one line: {err!r}"


@seed(15)
@SETTINGS
@given(routine=ROUTINES)
def test_any_routine_plans_or_fails_cleanly(
    routine: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(dump(routine), encoding="utf-8")
    before = peak_kb()
    code = main(["plan", str(path), "--engine", "tone", "--no-intro", "--verbosity", "minimal", "-j", "1"])
    out = capsys.readouterr()
    assert_clean(code, out.err)
    assert peak_kb() - before < MAX_GROWTH_KB


@pytest.mark.parametrize("where", ["routine", "pose step", "say step"])
def test_every_hostile_value_in_every_key_loads_and_compiles_or_is_a_routine_error(
    where: str, tmp_path: Path
) -> None:
    """Exhaustive, not sampled: each hostile value (bare and inside words) in each key."""
    keys = ROUTINE_KEYS if where == "routine" else STEP_KEYS
    path = tmp_path / "r.yaml"
    for key in keys:
        for hostile in HOSTILE:
            for value in (hostile, f"Breathe {hostile} out."):
                path.write_text(dump(_mutated(where, key, value)), encoding="utf-8")
                try:
                    script = compile_routine(load_routine(path), Options(verbosity="minimal"))
                except RoutineError as exc:
                    assert "\n" not in str(exc), str(exc)
                    continue
                for phrase in script.phrases():  # what reaches the engines, the tags and the feed
                    phrase.encode("utf-8")
                    assert not _CONTROL.search(phrase), (key, value, phrase)


_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


SERIES = st.fixed_dictionaries(
    {
        "title": st.one_of(st.just("Fuzz Show"), SCALARS),
        "description": st.one_of(st.just("d"), SCALARS),
        "base_url": st.one_of(st.just("https://example.org/s/"), SCALARS),
        "episodes": st.lists(
            st.one_of(
                st.just("ep-quick.yaml"),
                st.dictionaries(st.sampled_from(EPISODE_KEYS), VALUES, max_size=3),
                st.just({"routine": "ep-quick.yaml"}).flatmap(
                    lambda v: st.dictionaries(st.sampled_from(EPISODE_KEYS), VALUES, max_size=2).map(
                        lambda h: {**v, **h}
                    )
                ),
                SCALARS,
            ),
            max_size=3,
        ),
    },
    optional={k: VALUES for k in SERIES_KEYS if k not in ("title", "description", "base_url", "episodes")},
)


@seed(15)
@SETTINGS
@given(series=SERIES)
def test_any_series_file_loads_or_fails_cleanly(series: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "ep-quick.yaml").write_bytes((SERIES_DATA / "ep-quick.yaml").read_bytes())
    path = tmp_path / "series.yaml"
    path.write_text(dump(series), encoding="utf-8")
    try:
        loaded = load_series(path)
    except RoutineError as exc:
        assert "\n" not in str(exc)
        return
    assert loaded.base_url.startswith(("http://", "https://")) and "#" not in loaded.base_url
    assert all(EPISODE_FILENAME.fullmatch(e.filename) for e in loaded.episodes)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12), st.sampled_from(HOSTILE)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
ENTRY = st.fixed_dictionaries(
    {
        "key": st.one_of(st.just("ep"), JSON),
        "audio": st.one_of(st.just("a"), JSON),
        "tags": st.one_of(st.just("t"), JSON),
        "bytes": st.one_of(st.just(10), JSON),
        "length_ms": st.one_of(st.just(10), JSON),
        "chapters": st.one_of(st.just([[0, 10, "x"]]), JSON),
    }
)
NAMES = st.one_of(
    st.sampled_from(["01-ep-quick.mp3", "../victim.txt", "/etc/passwd", "a/01-x.mp3"]), st.text(max_size=12)
)


@seed(15)
@SETTINGS
@given(
    files=st.dictionaries(NAMES, st.one_of(ENTRY, JSON), max_size=3),
    guids=st.one_of(st.just({}), JSON),
    extra=st.dictionaries(st.sampled_from(["created", "channel_guid", "cover", "source", "title"]), JSON),
)
def test_any_manifest_loads_with_only_episode_names_or_fails_cleanly(
    files: Any, guids: Any, extra: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "ep-quick.yaml").write_bytes((SERIES_DATA / "ep-quick.yaml").read_bytes())
    (tmp_path / "series.yaml").write_text(
        "title: S\ndescription: d\nbase_url: https://example.org/s/\nepisodes: [ep-quick.yaml]\n"
    )
    series = load_series(tmp_path / "series.yaml")
    data = {"format": 1, "created": 1, "channel_guid": "g", "guids": guids, "files": files, **extra}
    (tmp_path / MANIFEST).write_text(json.dumps(data))
    try:
        manifest = Manifest.load(tmp_path, series)
    except ExportError as exc:
        assert "\n" not in str(exc)
        return
    assert all(EPISODE_FILENAME.fullmatch(name) for name in manifest.files)


def wav(rate: int, channels: int, bits: int, fmt: int, frames: int) -> bytes:
    block = (channels * bits // 8) & 0xFFFF
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
    data = np.random.default_rng(frames).integers(
        0, 256, size=min(frames * max(block, 1), 200_000), dtype=np.uint8
    )
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"data" + struct.pack("<I", len(data)) + data.tobytes()
    return b"RIFF" + struct.pack("<I", len(body)) + body


@seed(15)
@settings(SETTINGS, max_examples=60)
@given(
    rate=st.one_of(
        st.sampled_from([0, 1, 8_000, 44_100, 192_000, 4_000_000_000, 2**32 - 1]), st.integers(0, 2**32 - 1)
    ),
    channels=st.one_of(st.sampled_from([0, 1, 2, 9, 65535]), st.integers(0, 65535)),
    bits=st.sampled_from([0, 8, 16, 24, 32, 64, 7]),
    fmt=st.sampled_from([1, 3, 6, 7, 0xFFFE, 0, 2]),
    frames=st.integers(0, 50_000),
)
def test_any_wav_header_decodes_in_bounds_or_fails_cleanly(
    rate: int,
    channels: int,
    bits: int,
    fmt: int,
    frames: int,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ambience.shutil, "which", lambda name: None)  # soundfile only: ffmpeg is slow
    path = tmp_path / "p-000000000000.wav"
    path.write_bytes(wav(rate, channels, bits, fmt, frames))
    before = peak_kb()
    try:
        bed = load_bed(str(path), None, 5 * SAMPLE_RATE)
    except RenderError as exc:
        assert "\n" not in str(exc)
    else:
        block = bed.block(0, 5 * SAMPLE_RATE)
        assert np.isfinite(block).all() and np.abs(block).max() <= 1.0
    try:
        samples, got_rate = read_recording(path)
    except SpeechError as exc:
        assert "\n" not in str(exc)
    else:
        assert np.isfinite(samples).all() and 8_000 <= got_rate <= 192_000
    assert peak_kb() - before < MAX_GROWTH_KB


def test_errors_are_audioguide_errors() -> None:  # the fuzz tests above rely on this hierarchy
    assert all(issubclass(e, AudioguideError) for e in (RoutineError, ExportError, RenderError, SpeechError))
