"""The ``audioguide voices`` command group: list profiles and engine voices, preview, write pack scripts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from audioguide.load.poses import PHRASE_LANGUAGE
from audioguide.load.voices import describe_profiles
from audioguide.speak.voices import engine_voices, speaks
from audioguide.tools.packscript import routine_phrases, write_script
from audioguide.tools.preview import write_preview


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--engines", "show_engines", is_flag=True, help="Also list the engine voices that can read the phrases."
)
@click.option(
    "--all-languages", is_flag=True, help="With --engines: every voice, also those for other languages."
)
@click.pass_context
def voices(ctx: click.Context, as_json: bool, show_engines: bool, all_languages: bool) -> None:
    """List the voice profiles: which engine and voice each uses, and whether it can speak here.

    \b
    Subcommands:
      audioguide voices preview bright          # hear a profile: output/preview-bright.wav
      audioguide voices script lower-back-10min -o my-pack/   # phrases to record
    """
    if ctx.invoked_subcommand is not None:
        return

    profiles = describe_profiles()
    engines = engine_voices()
    if as_json:
        click.echo(json.dumps({"profiles": profiles, "engines": engines}, indent=2, ensure_ascii=False))
        return
    click.echo("Voice profiles (choose with 'voice:' in a routine or --voice):")
    for p in profiles:
        if "error" in p:
            click.echo(f"  {p['name']:14} unusable: {p['error']}")
            continue
        settings = f"{p['engine']}/{p['voice']}, {p['rate']} wpm, pitch {p['pitch']}, volume {p['volume']}"
        engine = engines.get(str(p["engine"]) if p["engine"] != "auto" else "espeak", {"available": True})
        here = "can speak here" if engine["available"] else f"cannot speak here: {engine.get('error')}"
        click.echo(f"  {p['name']:14} {p['description']}")
        click.echo(f"  {'':14} {settings}; {here}  ({p['source']})")
        if p["recordings"]:
            click.echo(f"  {'':14} recordings: {p['recordings']}")
    if not show_engines:
        click.echo("\nEvery voice each engine offers: audioguide voices --engines")
        return
    shown: dict[str, list[dict[str, str]]] = {}
    for name, info in engines.items():
        click.echo("")
        if not info["available"]:
            click.echo(f"Engine {name}: not available: {info['error']}")
            continue
        every: list[dict[str, str]] = info["voices"]  # type: ignore[assignment]
        rows = every if all_languages else [v for v in every if speaks(v, PHRASE_LANGUAGE)]
        ids = {v["id"].lower() for v in rows}
        same = next(
            (other for other, seen in shown.items() if ids and {v["id"].lower() for v in seen} == ids), None
        )
        shown[name] = rows
        which = "voices" if all_languages else f"voices for '{PHRASE_LANGUAGE}', the phrases' language"
        if same:  # pyttsx3 on Linux drives eSpeak NG: the same voices again
            click.echo(f"Engine {name} ({info['identity']}): the same {len(rows)} {which} as {same}")
            continue
        genders = {v["gender"] for v in rows}
        informative = len(genders) > 1  # eSpeak calls every base voice "male": its variants set the sound
        click.echo(f"Engine {name} ({info['identity']}): {len(rows)} of {len(every)} {which}")
        for v in rows:
            click.echo(f"  {v['id']:28} {v['language']:20} {v['gender'] if informative else ''}".rstrip())
        if info.get("variants"):
            variants = ", ".join(info["variants"])  # type: ignore[arg-type]
            click.echo(
                f"  variants (add to a voice id, e.g. en-us+f3 for a female-sounding voice): {variants}"
            )
    if not all_languages:
        click.echo("\nVoices for other languages: audioguide voices --engines --all-languages")


@voices.command()
@click.argument("profile")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write (default: output/preview-<profile>.wav; .mp3, .flac and .ogg work too).",
)
@click.option(
    "--engine",
    type=click.Choice(["auto", "espeak", "pyttsx3", "tone"]),
    help="Speech engine (default: the profile's).",
)
def preview(profile: str, output: Path | None, engine: str | None) -> None:
    """Speak a short sample sentence with PROFILE (a name or a .yaml path) into an audio file."""

    path = write_preview(profile, output, engine=engine, base_dir=Path.cwd())
    click.echo(f"wrote {path}")


@voices.command()
@click.argument("routines", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "folder",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The voice pack folder to write script.txt and script.json into (and to record into).",
)
@click.option(
    "--verbosity",
    type=click.Choice(["full", "brief", "minimal"]),
    multiple=True,
    help="Include the phrases of this verbosity; repeatable (default: full).",
)
def script(routines: tuple[str, ...], folder: Path, verbosity: tuple[str, ...]) -> None:
    """Write every distinct phrase ROUTINES speak, each with the file name to record it under.

    Record each line of script.txt as <name>.wav or <name>.flac in the same folder (any sample
    rate, mono or stereo), then point a voice profile's 'recordings:' at the folder. Phrases
    without a recording are synthesized; a recording of words that have since changed is ignored.
    """

    phrases = routine_phrases(routines, verbosity or ("full",))
    report = write_script(phrases, folder)
    click.echo(
        f"wrote {folder / 'script.txt'} and script.json: {report.phrases} phrases, "
        f"{report.recorded} already recorded, {report.phrases - report.recorded} to record"
    )
    if report.unused:
        click.echo(
            f"{len(report.unused)} recordings in {folder} match no phrase of these routines "
            f"(their words changed, or they belong to other routines): {', '.join(report.unused[:5])}"
            + (" ..." if len(report.unused) > 5 else "")
        )
