"""Series builds: rebuild only the episodes whose fingerprint changed (in parallel), then cover, feed, page.

What shaped each file, and the ids assigned once, are kept in the folder's manifest (``manifest``);
episodes are built by ``series_workers``; the feed is ``feed`` and the page ``site``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audioguide import __version__
from audioguide.compile.compiler import Options as CompileOptions
from audioguide.errors import ExportError
from audioguide.export.sidecars import sidecar_paths
from audioguide.export.tags import ChapterMark, write_tags
from audioguide.fsutil import check_writable_folder, folder_lock, staged_leftovers
from audioguide.pipeline.build import BuildOptions, cached_cover, make_plan, tag_info
from audioguide.series.feed import Channel, Item, feed_xml
from audioguide.series.manifest import MANIFEST, Manifest, data_files, fingerprints, sha, write_if_changed
from audioguide.series.site import page_html, read_vtt
from audioguide.series.spec import Episode, Series, load_series

if TYPE_CHECKING:
    from audioguide.series.workers import EpisodeBuilt, EpisodeError


@dataclass(frozen=True)
class SeriesOptions:
    """How to build a series: where, how many episodes at once, and build-wide overrides."""

    output: Path
    jobs: int | None = None  # episodes built at once (default: all cores)
    engine: str | None = None  # speech engine for every episode ("tone" drafts timing)
    cache_dir: Path | None = None
    force: bool = False  # rebuild every episode


@dataclass(frozen=True)
class EpisodeReport:
    """What happened to one episode: "built", "retagged" or "up to date"."""

    episode: Episode
    status: str
    path: Path
    length_ms: int
    size_bytes: int
    seconds: float


SeriesProgress = Callable[[EpisodeReport, int, int], None]
"""progress(report, done, total): called in the calling process as each episode is settled."""


@dataclass(frozen=True)
class SeriesResult:
    """What a series build did; ``written`` lists every file it replaced (empty on a no-op)."""

    output: Path
    episodes: tuple[EpisodeReport, ...]
    written: tuple[Path, ...]
    removed: tuple[Path, ...]
    seconds: float


@dataclass(frozen=True)
class EpisodePlan:
    """An episode's place in the series, its exact length and what a build would do to it."""

    episode: Episode
    path: Path
    length_ms: int
    action: str  # "build", "retag" or "none"
    reason: str  # "new", "changed", "file missing", "tags changed", "forced" or "up to date"


# -- planning ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Job:
    episode: Episode
    options: BuildOptions
    audio: str
    tags: str
    action: str
    reason: str

    @property
    def output(self) -> Path:
        """The episode's audio file (a series job always names one)."""
        assert self.options.output is not None
        return self.options.output


def _jobs(series: Series, options: SeriesOptions, manifest: Manifest) -> tuple[list[_Job], str]:

    cover_id = _cover_id(series)
    data = data_files()
    year = time.gmtime(manifest.created).tm_year
    jobs = []
    for episode in series.episodes:
        build_options = BuildOptions(
            output=options.output / episode.filename,
            fmt="mp3",
            voice=episode.voice,
            engine=options.engine,
            compile=CompileOptions(
                verbosity=episode.verbosity,
                intro=episode.intro,
                duration_ms=episode.duration_ms,
                pace=episode.pace,
                breath=episode.breath,
                avoid=episode.avoid,
            ),
            cache_dir=options.cache_dir,
            artist=series.author,
            album=series.title,
            track=episode.number,
            track_total=len(series.episodes),
            year=year,
            comment=episode.description or None,
        )
        audio, tags = fingerprints(episode, build_options, cover_id, data)
        entry = manifest.files.get(episode.filename)
        action, reason = "build", "new" if entry is None else "changed"
        if entry is not None and not _intact(options.output / episode.filename, entry):
            reason = "file missing"
        elif options.force:
            reason = "forced"
        elif entry is not None and entry.get("audio") == audio:
            action, reason = (
                ("none", "up to date") if entry.get("tags") == tags else ("retag", "tags changed")
            )
        jobs.append(_Job(episode, build_options, audio, tags, action, reason))
    return jobs, cover_id


def _intact(path: Path, entry: dict[str, Any]) -> bool:
    try:
        size = path.stat().st_size
    except OSError:
        return False
    return size == entry.get("bytes") and all(p.is_file() for p in sidecar_paths(path).values())


def _cover_id(series: Series) -> str:
    if series.image_png is not None:
        return "png:" + hashlib.sha256(series.image_png).hexdigest()
    return "generated:" + sha(["cover", __version__, series.title, series.author])


def _cover_png(series: Series, options: SeriesOptions) -> bytes:
    if series.image_png is not None:
        return series.image_png

    return cached_cover(
        series.title, series.author if series.author != series.title else None, options.cache_dir
    )


def plan_series(series: Series | str | Path, options: SeriesOptions) -> tuple[EpisodePlan, ...]:
    """Each episode's exact length (speech is synthesized or read from the cache; no audio is rendered)
    and what ``build_series`` would do to it."""

    series = series if isinstance(series, Series) else load_series(series, options.cache_dir)
    manifest = _manifest_for(series, options)
    jobs, _ = _jobs(series, options, manifest)
    plans = []
    for job in jobs:
        plan = make_plan(job.episode.routine, job.options)
        plans.append(EpisodePlan(job.episode, job.output, plan.timeline.length_ms, job.action, job.reason))
    return tuple(plans)


def _manifest_for(series: Series, options: SeriesOptions) -> Manifest:
    manifest = Manifest.load(options.output, series)
    manifest.assign(series)
    return manifest


# -- publishing ---------------------------------------------------------------------------------------


def publish(series: Series, manifest: Manifest, out: Path) -> list[Path]:
    """Write feed.xml and index.html from the manifest and the transcripts, each only if it changed."""

    channel = Channel(
        title=series.title,
        author=series.author,
        description=series.description,
        language=series.language,
        link=series.base_url,
        feed_url=series.feed_url,
        image_url=series.base_url + "cover.png",
        guid=manifest.channel_guid,
        generator=f"audioguide {__version__}",
        owner=series.owner,
        category=series.category,
    )
    items = []
    for episode in series.episodes:
        entry, ids = manifest.files[episode.filename], manifest.guids[episode.key]
        items.append(
            Item(
                number=episode.number,
                title=episode.title,
                description=episode.description,
                filename=episode.filename,
                size_bytes=entry["bytes"],
                length_ms=entry["length_ms"],
                chapters=tuple((int(s), int(e), str(t)) for s, e, t in entry["chapters"]),
                guid=ids["guid"],
                published=int(ids["published"]),
            )
        )
    written = []
    if write_if_changed(out / "feed.xml", feed_xml(channel, items, series.base_url)):
        written.append(out / "feed.xml")
    cues = [read_vtt(out / item.sidecar("vtt")) for item in items]
    if write_if_changed(out / "index.html", page_html(channel, items, cues).encode("utf-8")):
        written.append(out / "index.html")
    return written


# -- building ------------------------------------------------------------------------------------------


def build_series(
    series: Series | str | Path,
    options: SeriesOptions,
    progress: SeriesProgress | None = None,
    waiting: Callable[[Path], None] | None = None,
) -> SeriesResult:
    """Bring the output folder up to date: episodes that changed, then cover.png, feed.xml, index.html.

    A file whose content is already right is not touched. Finished episodes are recorded in the
    manifest as they finish, so an interrupted build keeps them; staged files never outlive it.
    One build at a time holds the folder: a second one waits (``waiting(folder)`` is called once)
    and then finds the first one's work done, so two concurrent builds never undo each other.
    """

    started = time.perf_counter()
    series = series if isinstance(series, Series) else load_series(series, options.cache_dir)
    out = options.output
    check_writable_folder(out)  # before any work: a read-only folder fails now, not after the renders
    with folder_lock(out, (lambda: waiting(out)) if waiting else None):
        return _build_locked(series, options, progress, started)


def _build_locked(
    series: Series, options: SeriesOptions, progress: SeriesProgress | None, started: float
) -> SeriesResult:
    out = options.output
    manifest = _manifest_for(series, options)
    jobs, cover_id = _jobs(series, options, manifest)
    written: list[Path] = []
    reports: list[EpisodeReport] = []
    total = len(jobs)

    def settle(report: EpisodeReport) -> None:
        reports.append(report)
        if progress:
            progress(report, len(reports), total)

    _sweep_leftovers(out, manifest, jobs)
    removed = _remove_stale(out, manifest, {job.episode.filename for job in jobs})
    cover: bytes | None = None
    if (
        any(job.action != "none" for job in jobs)
        or manifest.cover != cover_id
        or not (out / "cover.png").is_file()
    ):
        cover = _cover_png(series, options)
    for job in (j for j in jobs if j.action == "none"):
        entry = manifest.files[job.episode.filename]
        settle(EpisodeReport(job.episode, "up to date", job.output, entry["length_ms"], entry["bytes"], 0.0))
    for job in (j for j in jobs if j.action == "retag"):
        report = _retag(job, manifest, cover)
        written.append(report.path)
        _save(out, manifest, written)
        settle(report)
    to_build = [
        dataclasses.replace(j, options=dataclasses.replace(j.options, cover_png=cover))
        for j in jobs
        if j.action == "build"
    ]

    def built(job: _Job, result: EpisodeBuilt) -> None:
        manifest.files[job.episode.filename] = {
            "key": job.episode.key,
            "audio": job.audio,
            "tags": job.tags,
            "bytes": result.bytes,
            "length_ms": result.length_ms,
            "chapters": [list(c) for c in result.chapters],
        }
        written.extend(result.files)
        _save(out, manifest, written)
        settle(
            EpisodeReport(
                job.episode,
                "built",
                job.output,
                result.length_ms,
                result.bytes,
                result.seconds,
            )
        )

    if to_build:
        # The episode workers (multiprocessing, concurrent.futures) load only when there is work:
        # a rebuild with nothing to do is most rebuilds.
        from audioguide.series.workers import run_builds

        run_builds(to_build, options.jobs, built)
    if cover is not None and write_if_changed(out / "cover.png", cover):
        written.append(out / "cover.png")
    manifest.cover = cover_id
    written += publish(series, manifest, out)
    _save(out, manifest, written)
    order = {job.episode.filename: i for i, job in enumerate(jobs)}
    reports.sort(key=lambda r: order[r.episode.filename])
    seconds = time.perf_counter() - started
    return SeriesResult(out, tuple(reports), tuple(dict.fromkeys(written)), tuple(removed), seconds)


def _save(out: Path, manifest: Manifest, written: list[Path]) -> None:
    if write_if_changed(out / MANIFEST, manifest.text().encode("utf-8")):
        written.append(out / MANIFEST)


def _retag(job: _Job, manifest: Manifest, cover: bytes | None) -> EpisodeReport:
    """Rewrite only the tags (track count, album, author, year, cover): the audio is already right."""

    started = time.perf_counter()
    entry = manifest.files[job.episode.filename]
    o = job.options
    info = tag_info(job.episode.routine, o)
    chapters = [ChapterMark(int(s), int(e), str(t)) for s, e, t in entry["chapters"]]
    write_tags(job.output, "mp3", info, chapters, cover)
    entry.update(tags=job.tags, bytes=job.output.stat().st_size)
    return EpisodeReport(
        job.episode, "retagged", job.output, entry["length_ms"], entry["bytes"], time.perf_counter() - started
    )


def _sweep_leftovers(out: Path, manifest: Manifest, jobs: list[_Job]) -> None:
    """Delete staged files a killed build left beside this folder's own files (never anything else)."""
    names = {MANIFEST, "feed.xml", "index.html", "cover.png"}
    for filename in {*manifest.files, *(job.episode.filename for job in jobs)}:
        names.update(p.name for p in (out / filename, *sidecar_paths(out / filename).values()))
    for path in staged_leftovers(out, names):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _remove_stale(out: Path, manifest: Manifest, current: set[str]) -> list[Path]:
    """Delete episode files this folder's manifest recorded that the series no longer has."""
    removed = []
    for name in sorted(set(manifest.files) - current):
        audio = out / name
        if audio.parent != out:  # Manifest.load admits only episode file names; never leave the folder
            raise ExportError(f"{out / MANIFEST}: {name!r} is not a file of this folder")
        for path in (audio, *sidecar_paths(audio).values()):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
        del manifest.files[name]
    return removed


def __getattr__(name: str) -> Any:
    """``EpisodeError``, raised by the episode workers, is loaded with them on first use (PEP 562)."""
    if name == "EpisodeError":
        from audioguide.series.workers import EpisodeError  # the workers load multiprocessing

        return EpisodeError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MANIFEST",
    "EpisodeError",
    "EpisodePlan",
    "EpisodeReport",
    "SeriesOptions",
    "SeriesProgress",
    "SeriesResult",
    "build_series",
    "plan_series",
]
