"""Tests for audioguide.export.encode: exact MP3 length and alignment, lossless round trips, determinism."""

from __future__ import annotations

import hashlib
import io
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mutagen.mp3
import numpy as np
import pytest
import soundfile as sf
from audio_tools import decode, ffmpeg_exe
from scipy import signal

from audioguide.errors import ExportError
from audioguide.export.encode import (
    FORMATS,
    LAME_ENCODER_DELAY,
    OGG_SERIAL,
    Crc16Stream,
    crc16,
    encode_file,
    ogg_crc,
    open_encoder,
    to_int16,
)

RATE = 44_100
MUTAGEN_LENGTH_TOLERANCE_S = 0.001  # the brief's bound; the Info tag makes it exact in practice
INT16_LSB = 1 / 32768  # ffmpeg decodes s16 to float by dividing by 32768


def click_train(n: int, channels: int) -> np.ndarray:
    """Clicks every 0.1 s over a quiet tone; channel 1 is offset by 37 samples so swaps would show."""
    x = np.zeros((n, channels), dtype=np.float32)
    t = np.arange(n) / RATE
    for ch in range(channels):
        x[:, ch] = 0.05 * np.sin(2 * np.pi * (330 + 110 * ch) * t)
        x[101 + 37 * ch :: RATE // 10, ch] = 0.9
    return x


def blocks_of(x: np.ndarray, sizes: tuple[int, ...] = (1, 999, 4410, 65_537)) -> Iterator[np.ndarray]:
    """Uneven block sizes, cycled: the encoders must not care how the audio is cut."""
    i = k = 0
    while i < len(x):
        size = sizes[k % len(sizes)]
        yield x[i : i + size]
        i += size
        k += 1


def lag_of(decoded: np.ndarray, original: np.ndarray) -> int:
    """Lag (samples) of decoded behind original, by cross-correlation."""
    corr = signal.correlate(decoded, original, mode="full", method="fft")
    return int(np.argmax(corr)) - (len(original) - 1)


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("n", [RATE * 3 + 123, RATE * 2, 1152 * 5, 1152 * 5 + 1, 2000])
def test_mp3_decodes_exactly_n_samples_aligned(tmp_path: Path, n: int, channels: int) -> None:
    x = click_train(n, channels)
    path = tmp_path / "x.mp3"
    encode_file(path, blocks_of(x if channels > 1 else x[:, 0]), "mp3", channels=channels)

    y, rate, ch = decode(path)
    assert (rate, ch) == (RATE, channels)
    assert len(y) == n  # to the sample: ffmpeg trimmed delay and padding from our LAME tag
    y = y.reshape(n, channels)
    for c in range(channels):
        assert lag_of(y[:, c], x[:, c]) == 0

    info = _mp3_info(path)
    assert info.length == pytest.approx(n / RATE, abs=MUTAGEN_LENGTH_TOLERANCE_S)
    assert info.sample_rate == RATE and info.channels == channels


def test_mp3_waveform_survives(tmp_path: Path) -> None:
    t = np.arange(RATE * 2) / RATE
    chirp = (0.5 * signal.chirp(t, 100, t[-1], 3000)).astype(np.float32)
    path = tmp_path / "chirp.mp3"
    encode_file(path, [chirp], "mp3")
    y, _, _ = decode(path)
    # Lossy, so compare by error energy: at 64 kbps a clean chirp codes at better than 20 dB SNR.
    snr_db = 10 * np.log10(np.sum(chirp**2) / np.sum((y - chirp) ** 2))
    assert snr_db > 20


def _mp3_info(path: Path) -> Any:  # mutagen's MPEGInfo (its type hints say the info may be None)
    return mutagen.mp3.MP3(path).info


ISO_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
"""MPEG-1 Layer III bitrate_index 1..14 (ISO/IEC 11172-3 2.4.2.3), written out here, not imported."""
ISO_RATES = (44_100, 48_000, 32_000)  # sampling_frequency 0, 1, 2


def frame_headers(data: bytes, count: int) -> list[int]:
    """The first ``count`` MPEG-1 Layer III frame headers of a file with no ID3 tag, walked by
    frame length (ISO/IEC 11172-3 2.4.2.3: 144 * bitrate / rate bytes, plus the padding bit)."""
    headers, pos = [], 0
    while len(headers) < count:
        header = int.from_bytes(data[pos : pos + 4], "big")
        assert header >> 21 == 0x7FF, f"no frame sync at byte {pos}"
        headers.append(header)
        kbps, rate = ISO_BITRATES_KBPS[(header >> 12 & 0xF) - 1], ISO_RATES[header >> 10 & 3]
        pos += 144_000 * kbps // rate + (header >> 9 & 1)
    return headers


@pytest.mark.parametrize("rate", ISO_RATES)
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("kbps", ISO_BITRATES_KBPS)
def test_info_frame_fields(tmp_path: Path, channels: int, kbps: int, rate: int) -> None:
    n = rate + 321
    path = tmp_path / "x.mp3"
    x = click_train(n, channels)  # its clicks and tone are placed in samples; the rate only labels them
    encode_file(path, [x], "mp3", rate=rate, channels=channels, bitrate_kbps=kbps)
    data = path.read_bytes()
    # The Info frame has the stream's bitrate (mp3check: no "bitrate switching (56 -> 48)").
    info_header, *audio_headers = frame_headers(data, 4)
    assert {h >> 12 & 0xF for h in audio_headers} == {ISO_BITRATES_KBPS.index(kbps) + 1}
    assert info_header >> 12 & 0xF == ISO_BITRATES_KBPS.index(kbps) + 1
    info_frame_size = 144_000 * kbps // rate
    xing_at = 4 + (17 if channels == 1 else 32)
    assert data[xing_at : xing_at + 4] == b"Info"
    flags = int.from_bytes(data[xing_at + 4 : xing_at + 8], "big")
    has_toc = xing_at + 120 + 36 <= info_frame_size  # the TOC is left out only where it cannot fit
    assert flags == (0x0F if has_toc else 0x0B)
    frames = int.from_bytes(data[xing_at + 8 : xing_at + 12], "big")
    total = int.from_bytes(data[xing_at + 12 : xing_at + 16], "big")
    assert total == len(data)
    lame_at = xing_at + (120 if has_toc else 20)
    lame = data[lame_at : lame_at + 36]
    assert lame[:9] == b"LAME3.100"
    delay_padding = int.from_bytes(lame[21:24], "big")
    assert delay_padding >> 12 == LAME_ENCODER_DELAY
    assert frames * 1152 == LAME_ENCODER_DELAY + n + (delay_padding & 0xFFF)
    assert int.from_bytes(lame[34:36], "big") == crc16(data[: lame_at + 34])  # tag CRC
    assert int.from_bytes(lame[32:34], "big") == crc16(data[info_frame_size:])  # music CRC

    info = _mp3_info(path)
    assert info.bitrate_mode == mutagen.mp3.BitrateMode.CBR
    assert abs(info.bitrate - kbps * 1000) < 100
    assert info.encoder_info.startswith("LAME 3.100")
    assert info.length == pytest.approx(n / rate, abs=MUTAGEN_LENGTH_TOLERANCE_S)
    assert len(decode(path)[0]) == n  # gapless: ffmpeg trimmed delay and padding from the tag

    # ffmpeg exports the "encoder" tag only when the Info tag's CRC checks out.
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    assert "LAME3.100" in probe.stderr


@pytest.mark.parametrize("rate", [48_000, 32_000])
def test_other_mpeg1_rates_are_exact_too(tmp_path: Path, rate: int) -> None:
    n = rate * 2 + 77
    x = np.zeros(n, dtype=np.float32)
    x[100::4000] = 0.5
    path = tmp_path / "x.mp3"
    encode_file(path, [x], "mp3", rate=rate, bitrate_kbps=32)  # 32 kbps: an Info frame without a TOC
    y, got_rate, _ = decode(path)
    assert (got_rate, len(y)) == (rate, n)
    assert lag_of(y, x) == 0
    assert _mp3_info(path).length == pytest.approx(n / rate, abs=MUTAGEN_LENGTH_TOLERANCE_S)


def test_crc16_known_answer() -> None:
    # A LAME 3.97 Info frame (320 kbps joint stereo) posted in the Hydrogenaudio thread "LAME tag CRC
    # problem" (t35395): bytes 0..189 must give the tag CRC stored in bytes 190..191, 0x89EF.
    frame = bytes.fromhex(
        "FFFBE064 00000000 00000000 00000000 00000000 00000000 00000000 00000000 "
        "00000000 496E666F 0000000F 00000075 0001E138 00040608 0A0D1113 15181A1C "
        "20232527 292B3032 3436383B 3F414346 484A4E50 53555759 5E606264 66696D6F "
        "71737678 7C7E8183 85898C8E 90929499 9B9D9FA1 A4A8AAAC AFB1B3B7 B9BCBEC0 "
        "C2C7C9CB CDCFD2D6 D8DADCDF E1E5E7EA ECEEF0F5 F7F9FBFD 00000039 4C414D45 "
        "332E3937 6101CD00 0000002D FE000034 FF240774 6D000140 0001E138 DC8F"
    )
    assert len(frame) == 190
    assert crc16(frame) == 0x89EF


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1 << 20, (1 << 20) + 4097])
def test_crc16_stream_matches_bytewise(size: int) -> None:
    data = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    stream = Crc16Stream()
    for i in range(0, size, 7001):
        stream.update(data[i : i + 7001])
    assert stream.digest() == crc16(data)


def test_ogg_crc_matches_the_definition() -> None:
    def reference(data: bytes) -> int:  # RFC 3533 section 6: direct, MSB-first, poly 0x04C11DB7
        crc = 0
        for byte in data:
            crc ^= byte << 24
            for _ in range(8):
                crc = ((crc << 1) ^ 0x04C11DB7 if crc & 0x80000000 else crc << 1) & 0xFFFFFFFF
        return crc

    for data in (b"", b"OggS", bytes(range(256)) * 3):
        assert ogg_crc(data) == reference(data)


@pytest.mark.parametrize("fmt", ["wav", "flac"])
@pytest.mark.parametrize("channels", [1, 2])
def test_lossless_round_trip_is_exact(tmp_path: Path, fmt: str, channels: int) -> None:
    n = RATE + 77
    x = click_train(n, channels)
    x[:10] = [[1.7] * channels]  # out of range: must clip, not wrap
    path = tmp_path / f"x.{fmt}"
    encode_file(path, blocks_of(x), fmt, channels=channels)
    y, rate, ch = decode(path)
    assert (rate, ch, len(y)) == (RATE, channels, n)
    expected = to_int16(x).astype(np.float32) * INT16_LSB
    np.testing.assert_array_equal(y.reshape(n, channels), expected)
    assert sf.info(str(path)).frames == n


@pytest.mark.parametrize("channels", [1, 2])
def test_ogg_round_trip(tmp_path: Path, channels: int) -> None:
    n = RATE * 2 + 5
    x = click_train(n, channels)
    path = tmp_path / "x.ogg"
    encode_file(path, blocks_of(x), "ogg", channels=channels)
    data = path.read_bytes()
    assert data[14:18] == OGG_SERIAL.to_bytes(4, "little")
    y, rate, ch = decode(path)
    assert (rate, ch, len(y)) == (RATE, channels, n)
    assert lag_of(y.reshape(n, channels)[:, 0], x[:, 0]) == 0
    with sf.SoundFile(str(path)) as f:  # libogg drops pages whose CRC is wrong: all must be there
        assert f.frames == n
        assert len(f.read()) == n


@pytest.mark.parametrize("fmt", FORMATS)
def test_identical_input_gives_identical_bytes(tmp_path: Path, fmt: str) -> None:
    x = click_train(RATE + 999, 2)
    digests = set()
    for i, sizes in enumerate([(RATE + 999,), (1, 999, 4410, 65_537), (4096,)]):
        path = tmp_path / f"{i}.{fmt}"
        encode_file(path, blocks_of(x, sizes), fmt, channels=2)
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1  # also independent of how the input was cut into blocks


def test_encoder_streams_output(tmp_path: Path) -> None:
    out = io.BytesIO()
    encoder = open_encoder(out, "mp3")
    for _ in range(10):
        encoder.write(np.zeros(RATE, dtype=np.float32))
    assert out.tell() > 9 * 8000  # ~8 kB per second at 64 kbps already written before close()
    encoder.close()
    encoder.close()  # idempotent


def test_to_int16_rounds_and_clips() -> None:
    x = np.array([0.0, 0.5 / 32767, 1.5 / 32767, -1.0, 1.0, 2.0, -2.0], dtype=np.float32)
    assert to_int16(x).tolist() == [0, 0, 2, -32767, 32767, 32767, -32767]


class Boom(KeyboardInterrupt):
    """Stands in for Ctrl-C in the middle of a build."""


def failing_blocks(x: np.ndarray) -> Iterator[np.ndarray]:
    yield x[: len(x) // 2]
    raise Boom


@pytest.mark.parametrize("fmt", FORMATS)
def test_failure_leaves_no_file_and_keeps_the_old_one(tmp_path: Path, fmt: str) -> None:
    x = click_train(RATE, 1)
    fresh = tmp_path / f"fresh.{fmt}"
    with pytest.raises(Boom):
        encode_file(fresh, failing_blocks(x), fmt)
    assert list(tmp_path.iterdir()) == []

    existing = tmp_path / f"existing.{fmt}"
    existing.write_bytes(b"previous good build")
    with pytest.raises(Boom):
        encode_file(existing, failing_blocks(x), fmt)
    assert existing.read_bytes() == b"previous good build"
    assert list(tmp_path.iterdir()) == [existing]


@pytest.mark.parametrize(
    ("fmt", "kwargs"),
    [
        ("mp3", {"bitrate_kbps": 65}),
        ("mp3", {"rate": 22_050}),
        ("mp3", {"channels": 3}),
        ("wav", {"bitrate_kbps": 128}),
        ("aiff", {}),
    ],
)
def test_bad_settings_raise_export_error(fmt: str, kwargs: dict[str, int]) -> None:
    with pytest.raises(ExportError):
        open_encoder(io.BytesIO(), fmt, **kwargs)


@pytest.mark.parametrize(
    "block",
    [np.zeros((10, 2), np.float32), np.zeros(10, np.int16), np.array([0.0, np.nan], np.float32)],
)
def test_bad_blocks_raise_export_error(block: np.ndarray) -> None:
    encoder = open_encoder(io.BytesIO(), "mp3", channels=1)
    with pytest.raises(ExportError):
        encoder.write(block)


def test_empty_stream_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no audio"):
        encode_file(tmp_path / "empty.flac", [], "flac")
    assert list(tmp_path.iterdir()) == []
