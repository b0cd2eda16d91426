"""``audioguide make``: a session from a few choices, with no YAML to write."""

from __future__ import annotations

import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from audioguide import __version__
from audioguide.cli import _build_options, _duration, _notices
from audioguide.cli.progress import Progress
from audioguide.compile.compiler import PACES, VERBOSITY
from audioguide.errors import OptionError
from audioguide.fsutil import atomic_write
from audioguide.load.poses import LEVELS, PROPS
from audioguide.pipeline.build import build as run_build
from audioguide.pipeline.generate import DEFAULT_PROPS, FOCUS, WHERE, Request
from audioguide.pipeline.make import make as run_make
from audioguide.units import format_clock

_EXAMPLES = """
\b
Examples:
  audioguide make --length 15m --focus "lower back" --where floor --build
  audioguide make --length 10m --focus "neck and shoulders" --where chair --seed 7
  audioguide make --length ~20m --focus hips --focus hamstrings --avoid prone --props mat,strap
"""


def _props(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[str, ...]:
    if value is None:
        return DEFAULT_PROPS
    if value.strip().lower() == "none":
        return ()
    props = tuple(p.strip() for p in value.split(",") if p.strip())
    for prop in props:
        if prop not in PROPS:
            raise click.BadParameter(f"unknown prop '{prop}'; props: {', '.join(PROPS)}, or none")
    return props


@click.command(epilog=_EXAMPLES)
@click.option(
    "--length",
    callback=_duration,
    default="10m",
    show_default=True,
    metavar="TIME",
    help="How long, e.g. 15m, or ~15m for about fifteen minutes.",
)
@click.option(
    "--focus",
    type=click.Choice(list(FOCUS)),
    multiple=True,
    help="What to work on; repeatable (default: whole body).",
)
@click.option(
    "--where",
    type=click.Choice(list(WHERE)),
    multiple=True,
    help="Where you can be: on the floor, on a chair, standing; repeatable (default: any).",
)
@click.option(
    "--avoid",
    multiple=True,
    metavar="POSITION|POSE",
    help="A position (supine, prone, floor...) or a pose id to leave out; repeatable.",
)
@click.option(
    "--props",
    callback=_props,
    metavar="LIST",
    help=f"What you have to hand, comma-separated, or none (default: {', '.join(DEFAULT_PROPS)}).",
)
@click.option(
    "--level", type=click.Choice(LEVELS), default="gentle", show_default=True, help="How demanding."
)
@click.option(
    "--verbosity", type=click.Choice(VERBOSITY), default="full", show_default=True, help="How much is said."
)
@click.option("--pace", type=click.Choice(list(PACES)), default="normal", show_default=True, help="How fast.")
@click.option("--breath", metavar="PATTERN", help="Breath pattern: relaxed, box or 4-7-8 (default: relaxed).")
@click.option(
    "--seed", type=click.IntRange(0, 2**63 - 1), help="Make this exact session again (default: a new one)."
)
@click.option("--voice", metavar="PROFILE", help="Voice profile name or .yaml path (default: default).")
@click.option(
    "--jobs", "-j", type=click.IntRange(1, 64), help="Speech worker processes (default: all cores)."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the routine (default: output/<focus>-<length>-<seed>.yaml; - prints it).",
)
@click.option(
    "--build", "then_build", is_flag=True, help="Also build the session's audio, beside the routine."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def make(
    length: tuple[int, bool],
    focus: tuple[str, ...],
    where: tuple[str, ...],
    avoid: tuple[str, ...],
    props: tuple[str, ...],
    level: str,
    seed: int | None,
    output: Path | None,
    then_build: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Make a session from a few choices: a routine you can read and edit, and with --build its audio.

    The same choices and --seed make the same session again; without --seed each run makes a new one.
    Poses keep their prescribed doses: the length is met by choosing poses and rounds.
    """

    options = _build_options(intro=True, avoid=(), duration=None, engine=None, recordings=None, **kw)
    try:
        request = Request(
            length_ms=length[0],
            about=length[1],
            focus=focus or ("whole body",),
            where=where or tuple(WHERE),
            avoid=avoid,
            props=props,
            level=level,
            seed=secrets.randbelow(10_000) if seed is None else seed,
            compile=options.compile,
        )
    except OptionError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.option}") from None
    name = _default_name(request)
    target = output or Path("output") / f"{name}.yaml"
    progress = Progress(quiet)
    made = run_make(
        request,
        options,
        version=__version__,
        file=str(target) if str(target) != "-" else name,
        progress=progress,
    )
    _notices(made.plan.notices)
    if str(target) == "-":
        click.echo(made.yaml, nl=False)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write(made.yaml)
    tl = made.plan.timeline
    steps = len(made.generated.choices)
    changes = made.generated.position_changes
    click.echo(
        f"wrote {target}: {steps} poses, {changes} change{'s' if changes != 1 else ''} of position, "
        f"{format_clock(tl.length_ms)} (seed {request.seed})",
        err=quiet,
    )
    for note in made.generated.notes:
        click.echo(f"audioguide: note: {note}", err=True)
    if not then_build:
        shaping = "".join(
            f" --{name} {value}"
            for name, value, default in (
                ("verbosity", options.compile.verbosity, "full"),
                ("pace", options.compile.pace, "normal"),
            )
            if value != default
        )  # the length was fitted for these: the routine file cannot hold them
        click.echo(f"next: audioguide plan{shaping} {target}   or   audioguide build{shaping} {target}")
        return
    audio = target.with_suffix(".mp3")
    result = run_build(made.routine, replace(options, output=audio), progress=progress)
    click.echo(
        f"wrote {result.output} ({tl.length_samples / tl.sample_rate:.3f} s) in {result.seconds:.1f} s"
    )


def _default_name(request: Request) -> str:
    focus = "-".join(f.replace(" and ", "-").replace(" ", "-") for f in request.focus)
    minutes = round(request.length_ms / 60_000)
    length = f"{minutes}min" if minutes else f"{request.length_ms // 1000}s"
    return f"{focus}-{length}-{request.seed}"
