"""The ``series`` command group: build a podcast-style series folder, or plan what a build would do."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from audioguide.cli.lazy import LazyGroup
from audioguide.fsutil import atomic_write
from audioguide.series.build import EpisodeReport, SeriesOptions, build_series, plan_series
from audioguide.series.spec import load_series
from audioguide.units import format_clock


def _common(f: Any) -> Any:
    opts = [
        click.option(
            "-o",
            "--output",
            type=click.Path(file_okay=False, path_type=Path),
            default=Path("site"),
            show_default=True,
            help="The folder to build (episodes, feed.xml, index.html, cover.png), ready to upload.",
        ),
        click.option(
            "--engine",
            type=click.Choice(["auto", "espeak", "pyttsx3", "tone"]),
            help="Speech engine for every episode (default: each voice profile's; 'tone' drafts timing).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.group(cls=LazyGroup, lazy={"serve": "audioguide.cli.serve:serve_command"})  # loads http.server
def series() -> None:
    """Podcast-style series: numbered episodes, a podcast feed and a page to listen from.

    \b
    A series file lists routines (built-in names or .yaml paths beside it):
      title: Back Care Basics
      description: Short guided stretching sessions for a stiff back.
      base_url: https://example.org/backcare/
      episodes:
        - routine: lower-back-10min
        - routine: ep-quick.yaml
          title: A Quick Reset
    """


@series.command("build")
@click.argument("series_file", metavar="SERIES", type=click.Path(dir_okay=False, path_type=Path))
@_common
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(1, 64),
    help="Episodes built at once (default: all cores).",
)
@click.option("--force", is_flag=True, help="Rebuild every episode, even those that are up to date.")
@click.option("-q", "--quiet", is_flag=True, help="No progress lines.")
def build_command(
    series_file: Path, output: Path, engine: str | None, jobs: int | None, force: bool, quiet: bool
) -> None:
    """Build SERIES into a folder: only episodes whose inputs changed are rebuilt."""

    finished: list[EpisodeReport] = []

    def progress(report: EpisodeReport, done: int, total: int) -> None:
        if report.status != "up to date":
            finished.append(report)
        if quiet:
            return
        line = f"[{done}/{total}] {report.status} {report.path.name}"
        if report.status != "up to date":
            line += f" ({report.length_ms / 1000:.1f} s) in {report.seconds:.1f} s"
        click.echo(line, err=True)

    options = SeriesOptions(output=output, jobs=jobs, engine=engine, force=force)
    try:
        result = build_series(series_file, options, progress, waiting=_waiting)
    except KeyboardInterrupt:
        click.echo(
            f"audioguide: {len(finished)} finished episode(s) kept in {output}; "
            "run the same command again to build the rest",
            err=True,
        )
        raise click.Abort() from None
    counts: dict[str, int] = {}
    for report in result.episodes:
        counts[report.status] = counts.get(report.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in counts.items())
    changed = f"{len(result.written)} files written" if result.written else "nothing written"
    click.echo(f"{output}: {len(result.episodes)} episodes ({summary}); {changed} in {result.seconds:.1f} s")


def _waiting(folder: Path) -> None:
    click.echo(f"audioguide: another build is writing {folder}; waiting for it to finish", err=True)


@series.command("plan")
@click.argument("series_file", metavar="SERIES", type=click.Path(dir_okay=False, path_type=Path))
@_common
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
def plan_command(series_file: Path, output: Path, engine: str | None, as_json: bool) -> None:
    """List SERIES's episodes with their lengths, and which a build would redo (compared with --output)."""

    plans = plan_series(series_file, SeriesOptions(output=output, engine=engine))
    if as_json:
        rows = [
            {
                "number": p.episode.number,
                "file": p.path.name,
                "title": p.episode.title,
                "routine": p.episode.key,
                "length_ms": p.length_ms,
                "action": p.action,
                "reason": p.reason,
            }
            for p in plans
        ]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    width = max(len(p.path.name) for p in plans)
    for p in plans:
        what = {"build": "rebuild", "retag": "retag", "none": "keep"}[p.action]
        click.echo(
            f"{p.episode.number:>3}  {p.path.name:<{width}}  {format_clock(p.length_ms):>10}  "
            f"{what + ' (' + p.reason + ')':<22}  {p.episode.title}"
        )
    total_ms = sum(p.length_ms for p in plans)
    todo = sum(p.action != "none" for p in plans)
    click.echo(f"{len(plans)} episodes, {format_clock(total_ms)} in all; {todo} to (re)build")


@series.command("routines")
@click.argument("series_file", metavar="SERIES", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("routines"),
    show_default=True,
    help="The folder to write the routines into.",
)
def routines_command(series_file: Path, output: Path) -> None:
    """Write each of SERIES's episodes as a routine file, generated ones included: to read, edit or pin.

    To pin a generated episode, keep its file beside the series and list it under episodes:
    as '- routine: FILE' where its '- generated: N' was.
    """

    loaded = load_series(series_file)
    output.mkdir(parents=True, exist_ok=True)
    for episode in loaded.episodes:
        path = output / f"{Path(episode.filename).stem}.yaml"
        with atomic_write(path, "w", encoding="utf-8") as fh:
            fh.write(episode.source_text)
        click.echo(f"wrote {path}  ({episode.title})")
