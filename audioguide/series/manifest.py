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
import re
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from audioguide import __version__
from audioguide.errors import ExportError
from audioguide.fsutil import atomic_write, read_capped
from audioguide.load.voices import load_profile
from audioguide.series.feed import episode_guid, podcast_guid
from audioguide.series.spec import EPISODE_FILENAME, Episode, Series
from audioguide.speak.packs import RECORDING_SUFFIXES, STEM_PREFIX

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
        found["recordings"] = _recordings(profile.recordings)
    return found


def _recordings(folder: Path) -> list[tuple[str, int, int]]:
    """(name, size, mtime) of each recording a build could use: only the pack's own top level, by
    its own names (``recordings: /proc`` or a huge tree is neither walked nor a crash)."""
    found = []
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(STEM_PREFIX) and entry.name.endswith(RECORDING_SUFFIXES):
                with contextlib.suppress(OSError):
                    if entry.is_file():
                        stat = entry.stat()
                        found.append((entry.name, stat.st_size, stat.st_mtime_ns))
    return sorted(found)


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
    """The output folder's memory: fingerprints per file; guid and publication time per episode key.

    ``source``, ``feed_url`` and ``title`` say which series the folder holds: a folder is one show's,
    and a build of a series that matches none of the three is refused rather than allowed to delete
    the first show's episodes (one may change at a time: a show moves, or gets a new address or name).
    """

    created: int
    channel_guid: str
    guids: dict[str, dict[str, Any]]
    files: dict[str, dict[str, Any]]
    cover: str | None = None
    source: str | None = None
    feed_url: str | None = None
    title: str | None = None

    @classmethod
    def load(cls, folder: Path, series: Series) -> Manifest:
        """The folder's manifest, or a fresh one (created now, channel guid from the feed URL).

        ExportError when it cannot be read, is not one this version wrote (every file name in it
        must be an episode file name, every field of the type written) or belongs to another series.
        """

        path = folder / MANIFEST
        try:
            raw = read_capped(path, MAX_MANIFEST_BYTES)
        except FileNotFoundError:
            fresh = (_source(series), series.feed_url, series.title)
            return cls(_now(), podcast_guid(series.feed_url), {}, {}, None, *fresh)
        except OSError as exc:
            raise ExportError(f"{path}: cannot read the series manifest: {exc.strerror or exc}") from exc
        try:
            manifest = _parse(json.loads(raw.decode("utf-8")))
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ExportError(
                f"{path} is not a series manifest this version can read ({exc}); move it away to start "
                "afresh (guids are derived from base_url, so they stay the same unless it changed)"
            ) from None
        mine = (_source(series), series.feed_url, series.title)
        known = (manifest.source, manifest.feed_url, manifest.title)
        if known != (None, None, None) and all(a != b for a, b in zip(known, mine, strict=True)):
            raise ExportError(
                f"{folder} holds another series ('{manifest.title}', built from {manifest.source}, feed "
                f"{manifest.feed_url}); build into another folder, or move this one away (nothing in "
                "it was changed)"
            )
        if known[1:] == mine[1:]:
            return manifest  # a series file moved or copied: the same show, nothing new to record
        # The same show under a new address or a new title, or a folder from before folders
        # recorded their series: record what it is now.
        manifest.source, manifest.feed_url, manifest.title = mine
        return manifest

    def text(self) -> str:
        data = {
            "format": MANIFEST_FORMAT,
            "created": self.created,
            "channel_guid": self.channel_guid,
            "cover": self.cover,
            "guids": self.guids,
            "files": self.files,
            "source": self.source,
            "feed_url": self.feed_url,
            "title": self.title,
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


MAX_MANIFEST_BYTES = 16_000_000
"""A manifest holds a few hundred bytes per episode; far more than any series needs."""


MAX_MANIFEST_INT = 253_402_300_799
"""No count, size or time in a manifest exceeds this (9999-12-31T23:59:59Z, the last time that
email.utils and datetime can format for the feed); a larger one is damage."""
_NOT_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _source(series: Series) -> str:
    return str(series.source.resolve())


def _parse(data: Any) -> Manifest:
    """A manifest from its JSON, every field checked: ValueError or TypeError for anything else."""

    def need(value: Any, kind: type | tuple[type, ...], what: str) -> Any:
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TypeError(f"{what} is {type(value).__name__}")
        if isinstance(value, int) and not 0 <= value <= MAX_MANIFEST_INT:
            raise ValueError(f"{what} is out of range: {value}")
        if isinstance(value, str) and _NOT_TEXT.search(value):
            raise ValueError(f"{what} holds a control character or a lone surrogate")
        return value

    need(data, dict, "the manifest")
    if data.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"format {data.get('format')!r}, expected {MANIFEST_FORMAT}")
    guids = need(data["guids"], dict, "guids")
    for key, ids in guids.items():
        need(need(ids, dict, f"guids[{key!r}]").get("guid"), str, f"guids[{key!r}].guid")
        need(ids.get("published"), int, f"guids[{key!r}].published")
    files = need(data["files"], dict, "files")
    for name, entry in files.items():
        if not EPISODE_FILENAME.fullmatch(name):
            raise ValueError(f"{name!r} is not the name of an episode file")
        need(entry, dict, f"files[{name!r}]")
        for field in ("key", "audio", "tags"):
            need(entry.get(field), str, f"files[{name!r}].{field}")
        for field in ("bytes", "length_ms"):
            need(entry.get(field), int, f"files[{name!r}].{field}")
        for chapter in need(entry.get("chapters"), list, f"files[{name!r}].chapters"):
            if not (isinstance(chapter, list) and len(chapter) == 3):
                raise ValueError(f"files[{name!r}].chapters: expected [start_ms, end_ms, title]")
            need(chapter[0], int, "a chapter start"), need(chapter[1], int, "a chapter end")
            need(chapter[2], str, "a chapter title")
    for field in ("cover", "source", "feed_url", "title"):
        if data.get(field) is not None:
            need(data[field], str, field)
    return Manifest(
        need(data["created"], int, "created"),
        need(data["channel_guid"], str, "channel_guid"),
        guids,
        files,
        data.get("cover"),
        data.get("source"),
        data.get("feed_url"),
        data.get("title"),
    )


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
