"""Streaming audio encoders: sample-exact MP3 (LAME plus an Info/LAME tag), WAV, FLAC and Ogg Vorbis."""

from __future__ import annotations

import contextlib
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType, TracebackType
from typing import BinaryIO, cast

import lameenc
import numpy as np

from audioguide.errors import ExportError
from audioguide.export.formats import FORMATS, get_format
from audioguide.fsutil import atomic_write
from audioguide.units import SAMPLE_RATE

# MPEG-1 Layer III bitrates, bitrate_index 1..14 (ISO/IEC 11172-3)
MP3_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
MP3_SAMPLE_RATES = (44_100, 48_000, 32_000)  # MPEG-1, in header order (sampling_frequency 0, 1, 2)
MP3_QUALITY = 2  # LAME's -q (0 best .. 9 fastest); 2 is LAME's recommended "high quality"
MP3_SAMPLES_PER_FRAME = 1152  # 2 granules of 576 samples per channel

LAME_INPUT_SCALE = {
    **dict.fromkeys((32, 40, 48, 56, 64, 80, 96, 112, 128, 160), 0.95),
    192: 0.97,
    224: 0.98,
    256: 1.0,
    320: 1.0,
}
"""The gain LAME applies to its input at each CBR bitrate: the "scale" column of its ABR/CBR tuning
table (LAME 3.100, libmp3lame/presets.c, abr_switch_map), which leaves decoders headroom. lameenc
has no way to turn it off, so Mp3Encoder divides it out: the decoded MP3 has the level of the audio
written (measured with ffmpeg: a 440 Hz sine decodes at 0.950 of its level at 64 kbps without this),
which keeps a session mastered to a loudness target at that target. Audio above 0.95 of full scale
is clipped at the lower bitrates; mastered audio stays under -1 dBTP (0.89)."""

LAME_ENCODER_DELAY = 576
"""Samples of silence LAME puts before the signal, as the LAME tag records it.

Decoders add their own 528 + 1 samples of synthesis delay (ffmpeg skips ``start_pad + 529``, as do
mpg123 and foobar2000), so a raw decode is offset by 1105 samples. Measured with lameenc 1.9
(LAME 3.100) and ffmpeg: with 576 here a click train decodes at lag 0, to the sample.
"""

_CHUNK = 1 << 16  # samples converted per step, so a huge block never doubles memory at once
_INT16_SCALE = 32767.0  # symmetric, like libsndfile's float->short: +1.0 and -1.0 both fit


def to_int16(block: np.ndarray, gain: float | np.floating = 1.0) -> np.ndarray:
    """Float samples (times ``gain``) to int16, deterministically: clip to [-1, 1], scale, round half
    to even. One working array, changed in place: the same values as the expression, fewer passes."""
    work = block * gain
    np.clip(work, -1.0, 1.0, out=work)
    work *= _INT16_SCALE
    np.rint(work, out=work)
    return work.astype(np.int16)


class Encoder:
    """A streaming encoder: ``write`` blocks of any size, then ``close`` to finish the stream.

    ``close`` never closes the file object. As a context manager it closes on success and
    ``abort``s (releases resources, leaves a partial stream) when the body raises.
    """

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.samples_written = 0
        self._closed = False

    def write(self, block: np.ndarray) -> None:
        """Encode a float block, shape (n,) for mono or (n, channels)."""
        if self._closed:
            raise ExportError("write() on a closed encoder")
        x = np.asarray(block)
        if x.ndim == 1 and self.channels == 1:
            x = x[:, np.newaxis]
        if x.ndim != 2 or x.shape[1] != self.channels or not np.issubdtype(x.dtype, np.floating):
            raise ExportError(f"expected float audio of shape (n, {self.channels}), got {x.dtype} {x.shape}")
        if not np.isfinite(x).all():
            raise ExportError("audio contains NaN or infinite samples")
        for start in range(0, len(x), _CHUNK):
            self._write(x[start : start + _CHUNK].astype(np.float32, copy=False))
        self.samples_written += len(x)

    def close(self) -> None:
        """Flush and finish the stream (headers, tags, sizes). Idempotent.

        An empty stream is an error: a one-frame MP3 is not even detected by ffmpeg, and libsndfile
        writes an empty FLAC that it cannot read back.
        """
        if self._closed:
            return
        if not self.samples_written:
            self.abort()
            raise ExportError("no audio samples were written")
        self._closed = True
        self._finish()

    def abort(self) -> None:
        """Release the encoder without finishing the stream (the caller discards the output)."""
        self._closed = True

    def __enter__(self) -> Encoder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()

    def _write(self, frames: np.ndarray) -> None:
        raise NotImplementedError

    def _finish(self) -> None:
        raise NotImplementedError


# --- CRC-16 as LAME uses it: polynomial 0x8005 bit-reflected (0xA001), initial value 0 ("CRC-16/ARC").


def _crc16_table() -> np.ndarray:
    def entry(c: int) -> int:
        for _ in range(8):
            c = (c >> 1) ^ 0xA001 if c & 1 else c >> 1
        return c

    return np.array([entry(i) for i in range(256)], dtype=np.uint32)


_CRC16 = _crc16_table()
_CRC16_LIST = _CRC16.tolist()
_LANE = 1024  # bytes per lane in the vectorised CRC


def crc16(data: bytes | bytearray, crc: int = 0) -> int:
    """CRC-16/ARC of ``data`` continuing from ``crc``, a byte at a time (for short data)."""
    for byte in data:
        crc = (crc >> 8) ^ _CRC16_LIST[(crc ^ byte) & 0xFF]
    return crc


def _zero_shift_tables() -> tuple[list[int], list[int]]:
    """The linear map "run the state through _LANE zero bytes", tabled by the state's low and high byte."""
    states = np.concatenate([np.arange(256), np.arange(256) << 8]).astype(np.uint32)
    for _ in range(_LANE):
        states = (states >> 8) ^ _CRC16[states & 0xFF]
    return states[:256].tolist(), states[256:].tolist()


_SHIFT_LO, _SHIFT_HI = _zero_shift_tables()


def _two_byte_table() -> np.ndarray:
    """CRC-16/ARC two bytes at a time: a 16-bit state run through two zero bytes, for every state.

    A byte step reads only the state's low byte xor the data byte, so after two bytes the state is a
    function of ``state ^ word`` alone (the word little-endian): ``crc = T[crc ^ word]``."""
    states = np.arange(1 << 16, dtype=np.uint32)
    for _ in range(2):
        states = (states >> 8) ^ _CRC16[states & 0xFF]
    return states


_CRC16_WORD = _two_byte_table()


class Crc16Stream:
    """CRC-16/ARC of a long stream, fast: many 1 KiB lanes at once in numpy, two bytes a step, then
    combined.

    The CRC is linear over GF(2), so crc(state, lane) = crc(state, zeros) ^ crc(0, lane).
    """

    def __init__(self) -> None:
        self.value = 0
        self._pending = bytearray()

    def update(self, data: bytes | bytearray) -> None:
        self._pending += data
        if len(self._pending) >= _LANE * _LANE:
            self._drain()

    def digest(self) -> int:
        self._drain()
        self.value = crc16(self._pending, self.value)
        self._pending.clear()
        return self.value

    def _drain(self) -> None:
        size = len(self._pending) // _LANE * _LANE
        words = np.frombuffer(bytes(self._pending[:size]), dtype="<u2")
        columns = words.reshape(-1, _LANE // 2).T.astype(np.uint32)  # row j = word j of every lane
        crc = np.zeros(columns.shape[1], dtype=np.uint32)
        for row in columns:
            crc = _CRC16_WORD[crc ^ row]
        for lane_crc in crc.tolist():
            self.value = _SHIFT_LO[self.value & 0xFF] ^ _SHIFT_HI[self.value >> 8] ^ lane_crc
        del self._pending[:size]


# --- MP3


def _frame_length(header: int) -> int:
    """Bytes in the MPEG-1 Layer III frame that starts with this 32-bit header."""
    bitrate_index, rate_index = (header >> 12) & 0xF, (header >> 10) & 3
    if header >> 17 != 0x7FFD or not 1 <= bitrate_index <= 14 or rate_index == 3:  # sync, MPEG-1, L3
        raise ExportError(f"LAME produced an unexpected frame header {header:08x}")
    kbps = MP3_BITRATES_KBPS[bitrate_index - 1]
    return 144_000 * kbps // MP3_SAMPLE_RATES[rate_index] + ((header >> 9) & 1)


# The Info frame, per the "Mp3 Info Tag rev 1" spec (gabriel.mp3-tech.org/mp3infotag.html): a silent
# frame whose side information (ISO/IEC 11172-3 2.4.1.7: 17 bytes for one channel, 32 otherwise) is
# followed by the Xing header (at byte 21 mono, 36 stereo), then the 36-byte LAME extension.
_TOC_SIZE = 100
_XING_SIZE = 4 + 4 + 4 + 4 + _TOC_SIZE + 4  # "Info", flags, frames, bytes, TOC, quality
_LAME_SIZE = 36
_XING_FLAGS = 0x0F  # frames, bytes, TOC and quality present
_XING_TOC_FLAG = 0x04
_LAME_VERSION = b"LAME3.100"  # lameenc 1.x embeds LAME 3.100
_VBR_METHOD_CBR = 1
_XING_QUALITY = 100 - 10 * 4 - MP3_QUALITY  # LAME's 100 - 10 * VBR_q - quality, VBR_q at its default 4
_LAME_STEREO_MODE = {3: 0, 0: 1, 2: 2, 1: 3}  # header channel mode -> tag's mono/stereo/dual/joint


class Mp3Encoder(Encoder):
    """CBR MP3 through lameenc, with an Info frame so that decoders trim delay and padding exactly.

    lameenc writes bare frames. The first frame of the stream is reserved here and filled in at
    ``close()`` with a silent frame carrying the Xing "Info" header and the LAME extension (encoder
    delay 576 and the padding that makes ``frames * 1152 = 576 + n + padding``), so that ffmpeg,
    mutagen, mpg123 and gapless players return exactly the samples written.
    """

    def __init__(self, fileobj: BinaryIO, *, rate: int, channels: int, bitrate_kbps: int) -> None:
        super().__init__(channels)
        if rate not in MP3_SAMPLE_RATES or channels not in (1, 2) or bitrate_kbps not in MP3_BITRATES_KBPS:
            raise ExportError(
                f"MP3 needs a rate in {MP3_SAMPLE_RATES}, 1 or 2 channels and a bitrate in "
                f"{MP3_BITRATES_KBPS} kbps; got {rate} Hz, {channels} channels, {bitrate_kbps} kbps"
            )
        self._fileobj, self._rate, self._kbps = fileobj, rate, bitrate_kbps
        self._input_gain = np.float32(1.0 / LAME_INPUT_SCALE[bitrate_kbps])
        self._lame = lameenc.Encoder()
        self._lame.set_bit_rate(bitrate_kbps)
        self._lame.set_in_sample_rate(rate)
        self._lame.set_out_sample_rate(rate)
        self._lame.set_channels(channels)
        self._lame.set_quality(MP3_QUALITY)
        self._lame.silence()
        try:
            self._lame.encode(b"")  # start LAME now: bad settings fail here, and flush() always works
        except RuntimeError as err:
            raise ExportError(f"LAME rejected {bitrate_kbps} kbps at {rate} Hz: {err}") from err
        # The Info frame has the stream's own bitrate: a frame at another one makes strict checkers
        # (mp3check) report "bitrate switching" in a CBR file. At low bitrates that frame is too
        # small for the full tags (a mono frame at 48 kbps and 44.1 kHz has 156 bytes, the tags
        # need 177), and LAME itself then writes no tag at all (VbrTag.c, InitVbrTag), losing
        # gapless playback. Here the Xing TOC, which says nothing for CBR (position is linear in
        # time), is left out instead (flag 0x04 clear): 77 bytes mono, 92 stereo, which fit in
        # every MPEG-1 frame (the smallest, 32 kbps at 48 kHz, has 96). Decoders read the Xing
        # fields by their flags, and the LAME extension right after them.
        self._side_info = 17 if channels == 1 else 32
        self._toc = self._size(bitrate_kbps) >= 4 + self._side_info + _XING_SIZE + _LAME_SIZE
        self._start = fileobj.tell()
        fileobj.write(bytes(self._size(self._kbps)))
        self._pending = bytearray()  # encoded bytes not yet walked frame by frame
        self._frames = self._audio_bytes = 0
        self._first_header: int | None = None
        self._music_crc = Crc16Stream()

    def _size(self, kbps: int) -> int:
        return 144_000 * kbps // self._rate  # an unpadded frame

    def _write(self, frames: np.ndarray) -> None:
        self._emit(self._lame.encode(to_int16(frames, self._input_gain).tobytes()))

    def _emit(self, data: bytes | bytearray) -> None:
        """Write encoded bytes through, counting whole frames and feeding the music CRC."""
        self._fileobj.write(data)
        self._pending += data
        pos = 0
        while len(self._pending) - pos >= 4:
            header = int.from_bytes(self._pending[pos : pos + 4], "big")
            length = _frame_length(header)
            if len(self._pending) - pos < length:
                break
            if self._first_header is None:
                self._first_header = header
            self._frames += 1
            pos += length
        self._music_crc.update(self._pending[:pos])
        self._audio_bytes += pos
        del self._pending[:pos]

    def _finish(self) -> None:
        self._emit(self._lame.flush())
        if self._pending:
            raise ExportError(f"LAME left {len(self._pending)} bytes that are not a whole frame")
        padding = self._frames * MP3_SAMPLES_PER_FRAME - LAME_ENCODER_DELAY - self.samples_written
        if not 0 <= padding < 4096:
            raise ExportError(f"MP3 padding {padding} does not fit the LAME tag (12 bits)")
        end = self._fileobj.tell()
        self._fileobj.seek(self._start)
        self._fileobj.write(self.info_frame(padding))
        self._fileobj.seek(end)

    def info_frame(self, padding: int) -> bytes:
        """The Xing "Info" + LAME tag frame for the stream written so far."""
        mono_or_joint = 0xC4 if self.channels == 1 else 0x44  # LAME's mode bits, if no frame yet
        byte3 = self._first_header & 0xFF if self._first_header is not None else mono_or_joint
        index, rate_index = MP3_BITRATES_KBPS.index(self._kbps) + 1, MP3_SAMPLE_RATES.index(self._rate)
        # 0xFFFB: sync, MPEG-1, Layer III, no CRC; then bitrate, rate, no padding; then mode bits.
        header = bytes((0xFF, 0xFB, index << 4 | rate_index << 2, byte3))
        total_bytes = self._size(self._kbps) + self._audio_bytes
        if self._toc:
            toc = bytes(i * 256 // _TOC_SIZE for i in range(_TOC_SIZE))  # CBR: position is linear in time
            xing = struct.pack(
                ">4sIII100sI", b"Info", _XING_FLAGS, self._frames, total_bytes, toc, _XING_QUALITY
            )
        else:
            flags = _XING_FLAGS & ~_XING_TOC_FLAG
            xing = struct.pack(">4sIIII", b"Info", flags, self._frames, total_bytes, _XING_QUALITY)
        source_rate = {32_000: 0, 44_100: 1, 48_000: 2}[self._rate]
        misc = source_rate << 6 | _LAME_STEREO_MODE[byte3 >> 6] << 2  # no noise-shaping info
        lame = struct.pack(
            ">9sBB8xBBIB2xIH",
            _LAME_VERSION,
            0 << 4 | _VBR_METHOD_CBR,  # tag revision 0, then the method
            0,  # lowpass: not recorded; 8x: peak and both ReplayGains, not computed
            0,  # encoding flags and ATH type: not recorded
            min(self._kbps, 255),
            (LAME_ENCODER_DELAY << 12 | padding) << 8 | misc,  # 12 + 12 bits, then the misc byte
            0,  # MP3 gain; 2x: preset and surround, none
            total_bytes,  # music length: from this frame to the end of the audio
            self._music_crc.digest(),
        )
        frame = header + bytes(self._side_info) + xing + lame
        # The tag CRC covers every byte before it: the spec's "first 190 bytes" for stereo
        # (4 + 32 + 120 + 34); with the 15-byte-shorter mono side info that is 175 bytes, and
        # 100 fewer again without the TOC.
        frame += crc16(frame).to_bytes(2, "big")
        return frame + bytes(self._size(self._kbps) - len(frame))


# --- WAV, FLAC and Ogg Vorbis through libsndfile

_SF_BLOCK = 8192  # frames per libsndfile write
OGG_SERIAL = 0x41474431
"""Fixed Ogg bitstream serial ("AGD1"): libsndfile picks a time-seeded one, which breaks determinism."""

_BIT_REVERSE = bytes(int(f"{i:08b}"[::-1], 2) for i in range(256))


def ogg_crc(data: bytes | bytearray) -> int:
    """The Ogg page CRC-32 (polynomial 0x04C11DB7, MSB first, initial 0, no final xor; RFC 3533).

    zlib's CRC-32 is the same polynomial bit-reflected; reflecting every input byte and the result
    turns one into the other, and keeps the byte loop in C.
    """
    raw = zlib.crc32(data.translate(_BIT_REVERSE), 0xFFFFFFFF) ^ 0xFFFFFFFF
    return int(f"{raw:032b}"[::-1], 2)


def _restamp_ogg(fileobj: BinaryIO, end: int) -> None:
    """Rewrite every Ogg page's serial number to OGG_SERIAL and its CRC, page by page."""
    pos = 0
    while pos < end:
        fileobj.seek(pos)
        head = bytearray(fileobj.read(27))
        if len(head) < 27 or head[:4] != b"OggS":
            raise ExportError(f"libsndfile wrote an unexpected Ogg page at byte {pos}")
        segments = fileobj.read(head[26])
        body = fileobj.read(sum(segments))
        head[14:18] = OGG_SERIAL.to_bytes(4, "little")
        head[22:26] = bytes(4)
        head[22:26] = ogg_crc(bytes(head) + segments + body).to_bytes(4, "little")
        fileobj.seek(pos)
        fileobj.write(head)
        pos += 27 + len(segments) + len(body)
    fileobj.seek(end)


class _GuardedFile:
    """A file object for libsndfile's callbacks: an OSError (a full disk) is kept, not raised.

    Raised inside a callback it would print a cffi traceback and surface as a bare
    AssertionError; returned as a short write, libsndfile stops, and we report the cause.
    """

    def __init__(self, fileobj: BinaryIO) -> None:
        self._fileobj = fileobj
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        if self.error is not None:
            return 0
        try:
            written = self._fileobj.write(data)
        except OSError as err:
            self.error = err
            return 0
        return len(data) if written is None else written

    def __getattr__(self, name: str) -> object:
        return getattr(self._fileobj, name)


def _libsndfile() -> ModuleType:
    """The soundfile module, imported when a WAV, FLAC or Ogg file is written: loading libsndfile
    through cffi costs an MP3 build, which never uses it, about 16 ms."""
    import soundfile  # here, not at the top: MP3 builds never load libsndfile

    return soundfile


class SoundFileEncoder(Encoder):
    """16-bit WAV, 16-bit FLAC or Ogg Vorbis, streamed through libsndfile onto the file object."""

    def __init__(self, fileobj: BinaryIO, fmt: str, *, rate: int, channels: int) -> None:
        super().__init__(channels)
        if fileobj.tell() != 0 or (fmt == "ogg" and not fileobj.readable()):
            raise ExportError(f"{fmt} output must start at byte 0 (and ogg needs 'w+b': pages are restamped)")
        self._fileobj, self._fmt = fileobj, fmt
        self._queue: list[np.ndarray] = []
        self._queued = 0
        container, subtype = FORMATS[fmt].soundfile  # type: ignore[misc]
        self._guard = _GuardedFile(fileobj)
        sf = self._lib = _libsndfile()
        try:
            self._sf = sf.SoundFile(self._guard, "w", rate, channels, subtype, format=container)
        except (sf.LibsndfileError, RuntimeError, ValueError) as err:
            raise ExportError(f"libsndfile cannot write {fmt} at {rate} Hz x {channels}: {err}") from err

    def _write(self, frames: np.ndarray) -> None:
        # libsndfile's Vorbis pages depend on how the audio is cut into writes, so it always gets
        # whole _SF_BLOCK-frame writes: the bytes then depend on the audio alone.
        self._queue.append(frames)
        self._queued += len(frames)
        if self._queued >= _SF_BLOCK:
            data = np.concatenate(self._queue)
            whole = len(data) - len(data) % _SF_BLOCK
            for start in range(0, whole, _SF_BLOCK):
                self._sf_write(data[start : start + _SF_BLOCK])
            self._queue, self._queued = [data[whole:]], len(data) - whole

    def _sf_write(self, frames: np.ndarray) -> None:
        # Vorbis codes floats; the 16-bit formats get our own rounding (libsndfile would not clip).
        data = np.clip(frames, -1.0, 1.0) if self._fmt == "ogg" else to_int16(frames)
        try:
            self._sf.write(data)
        except (self._lib.LibsndfileError, RuntimeError, AssertionError) as err:
            raise ExportError(f"cannot write {self._fmt}: {self._guard.error or err}") from err
        if self._guard.error is not None:
            raise ExportError(f"cannot write {self._fmt}: {self._guard.error}")

    def _finish(self) -> None:
        if self._queued:
            self._sf_write(np.concatenate(self._queue))
        try:
            self._sf.close()
        except (self._lib.LibsndfileError, RuntimeError, AssertionError) as err:
            raise ExportError(f"cannot finish {self._fmt}: {self._guard.error or err}") from err
        if self._guard.error is not None:
            raise ExportError(f"cannot write {self._fmt}: {self._guard.error}")
        if self._fmt == "ogg":
            _restamp_ogg(self._fileobj, self._fileobj.seek(0, 2))

    def abort(self) -> None:
        if not self._closed:
            super().abort()
            # Let libsndfile release its state; its last writes go to a file the caller discards.
            with contextlib.suppress(self._lib.LibsndfileError, RuntimeError, OSError, ValueError):
                self._sf.close()


def open_encoder(
    fileobj: BinaryIO,
    fmt: str,
    *,
    rate: int = SAMPLE_RATE,
    channels: int = 1,
    bitrate_kbps: int | None = None,
) -> Encoder:
    """A streaming encoder for ``fmt`` (one of FORMATS) writing to a seekable binary file object.

    ``bitrate_kbps`` applies to MP3 only (default: 64 kbps mono, 128 kbps stereo, suited to speech).
    MP3 may start anywhere in the file; the libsndfile formats start at byte 0, and ogg reads its
    pages back, so its file must be open for reading too ("w+b").
    """
    audio_format = get_format(fmt)
    if channels < 1:
        raise ExportError(f"channels must be at least 1, got {channels}")
    if audio_format.encoder == "lame":
        kbps = bitrate_kbps if bitrate_kbps is not None else (64 if channels == 1 else 128)
        return Mp3Encoder(fileobj, rate=rate, channels=channels, bitrate_kbps=kbps)
    if bitrate_kbps is not None:
        raise ExportError(f"a bitrate applies to mp3 only, not {fmt}")
    return SoundFileEncoder(fileobj, fmt, rate=rate, channels=channels)


def encode_file(
    path: str | Path,
    blocks: Iterable[np.ndarray],
    fmt: str,
    *,
    rate: int = SAMPLE_RATE,
    channels: int = 1,
    bitrate_kbps: int | None = None,
) -> None:
    """Encode ``blocks`` into ``path`` atomically: on any failure the path is left as it was."""
    try:
        with (
            atomic_write(path, "w+b") as fh,  # w+: the Ogg pass reads its pages back
            open_encoder(
                cast(BinaryIO, fh), fmt, rate=rate, channels=channels, bitrate_kbps=bitrate_kbps
            ) as encoder,
        ):
            for block in blocks:
                encoder.write(block)
    except OSError as err:
        raise ExportError(f"{path}: cannot write {fmt}: {err}") from err
