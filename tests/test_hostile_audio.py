"""A user's audio files under careless or hostile use (issue 15): damaged headers, NaN, hour-long beds.

Ambience beds and voice-pack recordings are decoded within bounds (rate, channels, length), through
soundfile and through the pydub + ffmpeg fallback, and refused with a clean error otherwise.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audioguide.errors import RenderError, SpeechError
from audioguide.render import ambience
from audioguide.render.ambience import MAX_FILE_BED_S, load_bed
from audioguide.speak.packs import read_recording
from audioguide.units import SAMPLE_RATE


def wav_bytes(rate: int, channels: int, bits: int = 16, fmt: int = 1, data: bytes = b"\1\0" * 8000) -> bytes:
    """A RIFF WAVE file whose header says exactly what it is told to, true or not."""
    block = channels * bits // 8
    fmt_chunk = struct.pack(
        "<HHIIHH", fmt, channels, rate & 0xFFFFFFFF, (rate * block) & 0xFFFFFFFF, block & 0xFFFF, bits
    )
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt_chunk)) + fmt_chunk
    body += b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture(params=["soundfile", "ffmpeg"])
def decoder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Decode with soundfile alone, or with ffmpeg on PATH for what soundfile refuses (pydub)."""
    if request.param == "ffmpeg":
        imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for name in ("ffmpeg", "ffprobe"):
            (bin_dir / name).symlink_to(imageio_ffmpeg.get_ffmpeg_exe())
        monkeypatch.setenv("PATH", f"{bin_dir}:{Path('/usr/bin')}:{Path('/bin')}")
    else:
        monkeypatch.setattr(ambience.shutil, "which", lambda name: None)
    return str(request.param)


@pytest.mark.parametrize(
    ("rate", "channels", "expected"),
    [
        (4_000_000_000, 1, "sample rate|could not decode"),
        (0, 1, "sample rate|could not decode"),
        (44_100, 0, "channels|could not decode"),
        (1, 1, "sample rate|could not decode"),
    ],
)
def test_an_ambience_file_with_a_damaged_header_is_refused(
    decoder: str, tmp_path: Path, rate: int, channels: int, expected: str
) -> None:
    path = tmp_path / "bed.wav"
    path.write_bytes(wav_bytes(rate, channels))
    with pytest.raises(RenderError, match=expected):
        load_bed(str(path), None, 10 * SAMPLE_RATE)


def test_an_ambience_file_of_nan_and_inf_is_refused(tmp_path: Path) -> None:
    samples = np.full(2 * SAMPLE_RATE, np.nan, dtype=np.float32)
    samples[::3] = np.inf
    sf.write(tmp_path / "nan.wav", samples, SAMPLE_RATE, subtype="FLOAT")
    with pytest.raises(RenderError, match="not numbers"):
        load_bed(str(tmp_path / "nan.wav"), None, 10 * SAMPLE_RATE)


def test_only_what_the_session_plays_is_read_from_a_long_ambience_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rate = 8_000
    noise = np.random.default_rng(15).standard_normal(rate * 60 * 11).astype(np.float32) * 0.1
    sf.write(tmp_path / "long.wav", noise, rate, subtype="PCM_16")  # 11 minutes: over the cap
    read: list[int] = []
    real_read = sf.read

    def counting_read(*args, **kwargs):  # type: ignore[no-untyped-def]
        frames, file_rate = real_read(*args, **kwargs)
        read.append(len(frames))
        return frames, file_rate

    monkeypatch.setattr(ambience.sf, "read", counting_read)
    session = 46 * SAMPLE_RATE
    bed = load_bed(str(tmp_path / "long.wav"), None, session)
    assert read == [48 * rate]  # the session and the 2 s seam, at the file's rate
    assert bed.loop_samples >= session  # the bed never loops under this session
    load_bed(str(tmp_path / "long.wav"), None, None)
    assert read[-1] == MAX_FILE_BED_S * rate  # and never more than ten minutes of it


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("ghz", "claims 1 channel"),
        ("nan", "not numbers"),
        ("channels0", "cannot read the recording|claims 0 channel"),
    ],
)
def test_a_damaged_recording_is_a_clean_speech_error(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "p-000000000000.wav"
    if content == "nan":
        sf.write(path, np.array([0.1, np.nan, np.inf, -np.inf] * 4000, dtype=np.float32), 44_100, "FLOAT")
    elif content == "ghz":
        path.write_bytes(wav_bytes(4_000_000_000, 1))
        try:
            sf.info(str(path))
        except RuntimeError:
            expected = "cannot read the recording"  # this libsndfile refuses the header itself
    else:
        path.write_bytes(wav_bytes(44_100, 0))
    with pytest.raises(SpeechError, match=expected):
        read_recording(path)


def test_a_broken_ambience_file_names_the_routine_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from audioguide.cli import main

    (tmp_path / "bed.wav").write_bytes(wav_bytes(4_000_000_000, 1))
    routine = tmp_path / "r.yaml"
    routine.write_text("title: T\nambience: bed.wav\nsteps:\n  - say: Breathe out.\n", encoding="utf-8")
    code = main(
        ["build", str(routine), "-o", str(tmp_path / "x.mp3"), "--engine", "tone", "--no-intro", "-q"]
    )
    err = capsys.readouterr().err
    assert code == RenderError.exit_code, err
    assert f"{routine}:2: ambience: " in err
    assert not (tmp_path / "x.mp3").exists()


def test_a_format_that_contradicts_the_file_name_is_refused(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from audioguide.cli import main

    code = main(["build", "lower-back-10min", "--format", "ogg", "-o", str(tmp_path / "x.mp3")])
    err = capsys.readouterr().err
    assert code != 0 and "the name says mp3 but the format asked for is ogg" in err
    assert not (tmp_path / "x.mp3").exists()
