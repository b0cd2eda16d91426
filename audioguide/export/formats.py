"""The output formats: one registry that the encoder, the tagger, mastering and the CLI all read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from audioguide.errors import ExportError

MP3_HEADROOM_DB = 2.5
"""How far under the ceiling the limiter aims before LAME. MP3 adds quantisation noise to a limited
signal whose peaks sit at the ceiling, and the decoded true peak comes back higher. Measured on the
flagship session (ffmpeg ebur128, 4x oversampled): with the eSpeak voice LAME at 64 kbit/s mono added
+0.8 to +1.25 dB and at 128 kbit/s stereo +0.35 to +0.6 dB; the neural voice, with more energy in
its sibilants, adds +2.34 dB at 64 kbit/s mono (limiter at -2.5 dBTP decoded at -0.16), +0.5 dB at
48 kbit/s and -0.7 dB at 128 kbit/s stereo. 2.5 dB keeps every bitrate under -1 dBTP (64 kbit/s
mono decodes at -1.28). The loudness is unaffected: mastering solves for the target after the
limiter, which just works a little harder (0.37 dB more gain on the flagship)."""
PCM_HEADROOM_DB = 0.1
"""Lossless formats keep what the limiter wrote, whose true peak is at the ceiling by BS.1770's 4x
oversampling. Meters that oversample more finely read higher between samples: ffmpeg's ebur128 read
-0.96 dBTP on the flagship with the neural voice limited to -1.0. 0.1 dB keeps it under either way."""
VORBIS_HEADROOM_DB = 1.5
"""The same for libvorbis at its default quality: +0.8 to +0.9 dB measured on the flagship."""


@dataclass(frozen=True)
class AudioFormat:
    """One output format: its name (= its suffix), how it is encoded and tagged, and its headroom."""

    name: str
    encoder: str  # "lame" (our gapless MP3 writer) or "soundfile" (libsndfile)
    soundfile: tuple[str, str] | None  # libsndfile (container, subtype)
    tags: str  # "id3" or "vorbis"
    headroom_db: float  # extra limiter headroom under the true-peak ceiling
    mime: str

    @property
    def suffix(self) -> str:
        return f".{self.name}"


FORMATS = MappingProxyType(
    {
        "mp3": AudioFormat("mp3", "lame", None, "id3", MP3_HEADROOM_DB, "audio/mpeg"),
        "wav": AudioFormat("wav", "soundfile", ("WAV", "PCM_16"), "id3", PCM_HEADROOM_DB, "audio/wav"),
        "flac": AudioFormat("flac", "soundfile", ("FLAC", "PCM_16"), "vorbis", PCM_HEADROOM_DB, "audio/flac"),
        "ogg": AudioFormat("ogg", "soundfile", ("OGG", "VORBIS"), "vorbis", VORBIS_HEADROOM_DB, "audio/ogg"),
    }
)
"""Every format audioguide writes, by name; the first is the default."""
FORMAT_NAMES = tuple(FORMATS)
DEFAULT_FORMAT = FORMAT_NAMES[0]


def get_format(name: str) -> AudioFormat:
    """The format called ``name``; ExportError listing the formats for anything else."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ExportError(f"unknown audio format '{name}'; expected one of {', '.join(FORMATS)}") from None


def format_for(path: Path, fmt: str | None = None) -> AudioFormat:
    """The format of an output: ``fmt`` if given (it must agree with a known suffix), else the suffix's,
    else the default. A path whose suffix names another format than ``fmt`` is an ExportError, so
    that Ogg bytes never land in a file called ``.mp3``."""
    suffix = path.suffix.lstrip(".").lower()
    if fmt is not None:
        chosen = get_format(fmt)
        if suffix in FORMATS and suffix != chosen.name:
            raise ExportError(
                f"{path}: the name says {suffix} but the format asked for is {chosen.name}; "
                f"name it {path.with_suffix(chosen.suffix).name} or drop the format option"
            )
        return chosen
    if suffix in FORMATS:
        return FORMATS[suffix]
    return FORMATS[DEFAULT_FORMAT]
