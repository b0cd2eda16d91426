"""The output folder's memory: what shaped each episode file (fingerprints), and ids assigned once.

``.audioguide-series.json`` records, per episode file, the sha256 of everything that shaped its audio
and of what only reaches its tags; per episode key, the guid and publication time, never reassigned.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from audioguide import __version__
from audioguide.errors import ExportError
from audioguide.fsutil import atomic_write
from audioguide.load.voices import load_profile
from audioguide.series.feed import episode_guid, podcast_guid
from audioguide.series.spec import Episode, Series

MANIFEST = ".audioguide-series.json"
MANIFEST_FORMAT = 1
TAG_FIELDS = ("artist", "album", "track", "track_total", "year", "comment", "cover_png")
"""BuildOptions fields that only reach the tags: when only these change, the file is retagged."""
NOT_SHAPING = ("output", "jobs", "cache_dir")
"""BuildOptions fields that change where and how fast, never what."""

# -- fingerprints ------------------------------------------------------------------------------------


def sha(value: Any) -> str:
    blob = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def data_files() -> dict[str, str]:
    """The pose library and phrase tables, by name -> sha256 of their bytes."""
    folder = resources.files("audioguide") / "data"
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".yaml")
    }


def _voice_inputs(episode: Episode) -> dict[str, Any]:

    profile = load_profile(episode.voice or episode.routine.voice, episode.routine.base_dir)
    found: dict[str, Any] = {
        "profile": profile.source.read_text(encoding="utf-8") if profile.source else None
    }
    if profile.recordings and profile.recordings.is_dir():  # a voice pack: names, sizes and times
        found["recordings"] = sorted(
            (str(p.relative_to(profile.recordings)), p.stat().st_size, p.stat().st_mtime_ns)
            for p in profile.recordings.rglob("*")
            if p.is_file()
        )
    return found


def _ambience_inputs(episode: Episode) -> Any:
    routine = episode.routine
    path = Path(routine.ambience).expanduser()
    if routine.ambience == "none" or not (routine.base_dir and (path.suffix or "/" in routine.ambience)):
        return routine.ambience
    path = path if path.is_absolute() else routine.base_dir / path
    stat = path.stat()
    return [routine.ambience, stat.st_size, stat.st_mtime_ns]


def fingerprints(episode: Episode, options: Any, cover_id: str, data: dict[str, str]) -> tuple[str, str]:
    """(audio, tags): sha256 over everything that shaped the audio, and over what only reaches the tags."""
    fields = {f.name: getattr(options, f.name) for f in dataclasses.fields(options)}
    shaping = [k for k in fields if k not in (*TAG_FIELDS, *NOT_SHAPING)]
    audio = sha(
        {
            "audioguide": __version__,
            "routine": episode.source_text,
            "data": data,
            "voice": _voice_inputs(episode),
            "ambience": _ambience_inputs(episode),
            "options": {k: v for k, v in dataclasses.asdict(options).items() if k in shaping},
            "overrides": episode.overrides,
            "file": episode.filename,
        }
    )
    tags = sha({k: fields[k] for k in TAG_FIELDS if k != "cover_png"} | {"cover": cover_id, "audio": audio})
    return audio, tags


# -- the manifest ------------------------------------------------------------------------------------


@dataclass
class Manifest:
    """The output folder's memory: fingerprints per file; guid and publication time per episode key."""

    created: int
    channel_guid: str
    guids: dict[str, dict[str, Any]]
    files: dict[str, dict[str, Any]]
    cover: str | None = None

    @classmethod
    def load(cls, folder: Path, series: Series) -> Manifest:
        """The folder's manifest, or a fresh one (created now, channel guid from the feed URL)."""

        path = folder / MANIFEST
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(_now(), podcast_guid(series.feed_url), {}, {})
        except OSError as exc:
            raise ExportError(f"{path}: cannot read the series manifest: {exc.strerror or exc}") from exc
        try:
            data = json.loads(raw)
            if data.get("format") != MANIFEST_FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
            return cls(
                int(data["created"]),
                str(data["channel_guid"]),
                dict(data["guids"]),
                dict(data["files"]),
                data.get("cover"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ExportError(
                f"{path} is not a series manifest this version can read ({exc}); move it away to start "
                "afresh (guids are derived from base_url, so they stay the same unless it changed)"
            ) from exc

    def text(self) -> str:
        data = {
            "format": MANIFEST_FORMAT,
            "created": self.created,
            "channel_guid": self.channel_guid,
            "cover": self.cover,
            "guids": self.guids,
            "files": self.files,
        }
        return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"

    def assign(self, series: Series) -> None:
        """Give each new episode key a guid and a publication time, once; existing ones never change."""

        new = [e for e in series.episodes if e.key not in self.guids]
        latest = max((int(g["published"]) for g in self.guids.values()), default=0)
        first = max(_now() - 60 * (len(new) - 1), latest + 60)  # a minute apart, in episode order
        for i, episode in enumerate(new):
            self.guids[episode.key] = {
                "guid": episode_guid(series.feed_url, episode.key),
                "published": first + 60 * i,
            }


def _now() -> int:
    """Now in whole seconds, or $SOURCE_DATE_EPOCH for reproducible builds."""
    return int(os.environ.get("SOURCE_DATE_EPOCH") or time.time())


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write ``data`` atomically unless ``path`` already holds exactly it; True when written."""
    with contextlib.suppress(OSError):
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    try:
        with atomic_write(path) as fh:
            fh.write(data)
    except OSError as exc:
        raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    return True
