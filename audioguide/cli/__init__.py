"""The command line: a thin click layer over the library; errors become one line and an exit code here."""

from __future__ import annotations

import os

# numpy's OpenBLAS starts a thread pool when it loads, and its threads spin for about 0.08 CPU s even
# when nothing uses them (`python -c "import numpy"`: 0.15 CPU s, 0.08 with one thread; 2 cores). The
# renderer's matrix products are kept small enough to run on one thread (render.dsp.BLAS_THREADED_MNK),
# so a command never gains from the pool. OpenBLAS reads this once, when numpy is first imported:
# hence here, before the imports below. A value the user has set is kept.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import dataclasses
import math
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import click

from audioguide import __version__
from audioguide.cli.lazy import LazyGroup
from audioguide.cli.progress import Progress
from audioguide.compile.compiler import PACES, VERBOSITY, Options
from audioguide.errors import AudioguideError, OptionError, one_line
from audioguide.export.formats import FORMAT_NAMES
from audioguide.load.durations import DurationSyntaxError, parse_target
from audioguide.load.routine import load_routine
from audioguide.model.routine import Routine
from audioguide.pipeline.build import LOUDNESS_RANGE_LUFS, BuildOptions
from audioguide.pipeline.build import build as run_build
from audioguide.render.mixer import RenderOptions
from audioguide.speak.engines import ENGINE_NAMES


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, bool] | None:
    if value is None:
        return None
    try:
        return parse_target(value)  # its range is checked with the other options, in compile.Options
    except DurationSyntaxError as exc:
        raise click.BadParameter(str(exc)) from None


def _finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):  # FloatRange lets nan through
        raise click.BadParameter(f"expected a number, got {value}")
    return value


@click.group(
    cls=LazyGroup,
    lazy={  # every command but build lives in a module of its own, imported when it runs
        "plan": "audioguide.cli.plan:plan",
        "poses": "audioguide.cli.library:poses",
        "routines": "audioguide.cli.library:routines",
        "series": "audioguide.cli.series:series",
        "voices": "audioguide.cli.voices:voices",
        "make": "audioguide.cli.make:make",
    },
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, "--version", prog_name="audioguide")
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Turn an exercise routine (YAML) into a voice-guided audio session.

    \b
    Quick start:
      audioguide make --length 15m --focus "lower back" --build   # a new session, no YAML needed
      audioguide build lower-back-10min        # a built-in routine -> output/lower-back-10min.mp3
      audioguide plan my-routine.yaml          # the cue sheet, before any audio is rendered
      audioguide routines                      # the built-in routines
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _options(f: Any) -> Any:
    """Options shared by build and plan: they shape what is said and when."""
    opts = [
        click.option(
            "--voice", metavar="PROFILE", help="Voice profile name or .yaml path (default: the routine's)."
        ),
        click.option(
            "--duration",
            callback=_duration,
            metavar="TIME",
            help="Target length, e.g. 10m or 12m30s, or ~10m for about ten minutes "
            "(default: the routine's, else what the steps add up to).",
        ),
        click.option(
            "--verbosity",
            type=click.Choice(VERBOSITY),
            default="full",
            show_default=True,
            help="How much is said: full guidance, the essentials, or names and tones only.",
        ),
        click.option(
            "--pace",
            type=click.Choice(list(PACES)),
            default="normal",
            show_default=True,
            help="Speech rate and the quiet between phrases.",
        ),
        click.option(
            "--breath",
            metavar="PATTERN",
            help="Breath pattern: relaxed, box or 4-7-8 (default: the routine's).",
        ),
        click.option(
            "--intro/--no-intro",
            default=True,
            show_default=True,
            help="Speak the full opening safety note (--no-intro keeps a one-line reminder).",
        ),
        click.option(
            "--avoid",
            multiple=True,
            metavar="POSITION",
            help="Swap out poses in this position (e.g. supine); repeatable.",
        ),
        click.option(
            "--engine",
            type=click.Choice(ENGINE_NAMES),
            help="Speech engine (default: the voice profile's; 'tone' drafts timing with tones).",
        ),
        click.option(
            "--jobs", "-j", type=click.IntRange(1, 64), help="Speech worker processes (default: all cores)."
        ),
        click.option(
            "--recordings",
            type=click.Path(file_okay=False, exists=True),
            metavar="DIR",
            help="A voice pack folder of recorded phrases (see 'audioguide voices script').",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _audio_options(f: Any) -> Any:
    """How the audio is rendered and encoded: the timeline does not change with these, so plan takes
    them only so that a build's command line can be planned as it is."""
    opts = [
        click.option(
            "--format",
            "fmt",
            type=click.Choice(FORMAT_NAMES),
            help="Audio format (default: from -o, else mp3).",
        ),
        click.option(
            "--bitrate", type=int, metavar="KBPS", help="MP3 bitrate (default: 64 mono, 128 stereo)."
        ),
        click.option("--mono/--stereo", default=True, show_default=True, help="Channel layout."),
        click.option(
            "--spatial",
            is_flag=True,
            help="Stereo, with cues for one-sided poses placed toward the working side.",
        ),
        click.option(
            "--loudness",
            type=click.FloatRange(*LOUDNESS_RANGE_LUFS),
            callback=_finite,
            default=-16.0,
            show_default=True,
            metavar="LUFS",
            help="Integrated loudness target, -31 to -16 (-16 podcasts, -19 mono, -23 broadcast); louder "
            "would need heavy limiting that MP3 cannot keep under the -1 dBTP ceiling.",
        ),
        click.option(
            "--ambience",
            metavar="BED",
            help="Ambience bed: none, brown-noise, rain, drone, or an audio file.",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _with_title(routine: str, title: str | None) -> Routine:
    """The routine, with ``--title`` in place of its own (it is spoken in the welcome)."""
    loaded = load_routine(routine)
    if title is not None and title.strip():
        loaded = dataclasses.replace(loaded, title=" ".join(title.split()))
    return loaded


def _tag_options(f: Any) -> Any:
    """Tags for a standalone build (a series sets them from its series file)."""
    opts = [
        click.option("--title", help="Title (default: the routine's); it is spoken in the welcome too."),
        click.option("--artist", default="audioguide", show_default=True, help="Artist (ID3 TPE1)."),
        click.option("--album", help="Album (default: the title)."),
        click.option("--year", type=click.IntRange(1000, 9999), help="Year of the recording."),
        click.option("--track", type=click.IntRange(1, 9999), help="Track number."),
        click.option("--comment", help="Comment (default: the routine's description)."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _build_options(**kw: Any) -> BuildOptions:
    for name in ("voice", "ambience"):
        value = kw.get(name)
        if value and ("/" in value or value.endswith((".yaml", ".yml", ".wav", ".flac", ".ogg", ".mp3"))):
            kw[name] = str(Path(value).expanduser().resolve())  # paths typed here are relative to cwd
    try:  # the library checks its options; here a bad value is reported against its option
        compile_options = Options(
            verbosity=kw["verbosity"],
            pace=kw["pace"],
            intro="full" if kw["intro"] else "short",
            avoid=tuple(kw.get("avoid") or ()),
            duration_ms=kw["duration"][0] if kw.get("duration") else None,
            duration_about=bool(kw.get("duration") and kw["duration"][1]),
            breath=kw.get("breath") or None,
        )
    except OptionError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.option}") from None
    render = RenderOptions(
        channels=2 if kw.get("stereo") else 1,
        spatial=bool(kw.get("spatial")),
        loudness_lufs=kw.get("loudness", -16.0),
    )
    output = kw.get("output")
    return BuildOptions(
        output=Path(output) if output else None,
        fmt=kw.get("fmt"),
        bitrate_kbps=kw.get("bitrate"),
        voice=kw.get("voice"),
        engine=kw.get("engine"),
        compile=compile_options,
        render=render,
        ambience=kw.get("ambience"),
        jobs=kw.get("jobs"),
        recordings=Path(kw["recordings"]) if kw.get("recordings") else None,
        artist=kw.get("artist") or "audioguide",
        album=kw.get("album"),
        year=kw.get("year"),
        track=kw.get("track"),
        comment=kw.get("comment"),
    )


def _notices(notices: tuple[str, ...]) -> None:
    for notice in notices:
        click.echo(f"audioguide: note: {notice}", err=True)


@cli.command()
@click.argument("routine")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Where to write (default: output/<name>.mp3)."
)
@_options
@_audio_options
@_tag_options
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def build(routine: str, quiet: bool, mono: bool, title: str | None, **kw: Any) -> None:
    """Build ROUTINE (a .yaml path or a built-in name) into an audio file with chapters and transcript."""

    options = _build_options(stereo=not mono, **kw)
    result = run_build(_with_title(routine, title), options, progress=Progress(quiet))
    _notices(result.plan.notices)
    tl = result.plan.timeline
    sources = ", ".join(f"{n} from {s}" for s, n in sorted(result.speech_sources.items()))
    click.echo(
        f"wrote {result.output} ({tl.length_samples / tl.sample_rate:.3f} s, {len(tl.chapters)} chapters; "
        f"phrases: {sources}) in {result.seconds:.1f} s"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map failures to exit codes (the only place that does)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    terminated: list[int] = []

    def terminate(signum: int, frame: Any) -> None:  # SIGTERM (timeout, CI, service managers) is Ctrl-C;
        # both are recorded, so a failure a signal caused is reported as the interrupt it was
        terminated.append(signum)
        if len(terminated) == 1:  # once: a second signal must not break the first one's clean-up
            raise KeyboardInterrupt

    def interrupted() -> int:
        click.echo("audioguide: interrupted; no partial files were left", err=True)
        return 128 + (terminated[0] if terminated else signal.SIGINT)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, terminate) if main_thread else None
    previous_int = signal.signal(signal.SIGINT, terminate) if main_thread else None
    try:
        cli.main(args=args, prog_name="audioguide", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        return interrupted()
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except AudioguideError as exc:
        if terminated:
            return interrupted()
        if debug:
            traceback.print_exc()
        click.echo(f"audioguide: error: {one_line(str(exc))}", err=True)
        return exc.exit_code
    except Exception as exc:  # an unexpected failure is a bug: one line, the traceback with --debug
        if terminated:  # unless a signal caused it: an extension module interrupted while it
            return interrupted()  # initialises raises ImportError("initialization failed")
        if debug:
            traceback.print_exc()
        click.echo(
            f"audioguide: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            err=True,
        )
        return 70
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def run() -> None:
    """Console-script entry point."""
    try:
        code = main()
    except KeyboardInterrupt:  # a signal that arrived while main() was already reporting one
        code = 130
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM):
        # Interrupted, and cleaned up already. Exit with that status here: an extension module that
        # ran Python code while the interrupt was pending leaves CPython flagged to re-raise SIGINT
        # on itself at exit (status -2 instead of 143), which this skips.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
