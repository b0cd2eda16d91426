"""``audioguide poses`` and ``audioguide routines``: what the built-in library holds."""

from __future__ import annotations

import dataclasses
import json
import textwrap

import click

from audioguide.compile.compiler import compile_routine
from audioguide.load.poses import library
from audioguide.load.routine import builtin_routines, load_routine
from audioguide.load.yamlnodes import suggest
from audioguide.pipeline.report import pose_sheet, script_props


@click.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def poses(name: str | None, as_json: bool) -> None:
    """List the built-in pose library, or everything about the pose NAME (dose, wording, cautions...)."""

    if name is not None:
        found = library().get(name)
        if found is None:
            hint = suggest(name, library()) or "run 'audioguide poses' for the list"
            raise click.BadParameter(f"no pose named '{name}' ({hint})", param_hint="NAME")
        if as_json:
            click.echo(json.dumps(dataclasses.asdict(found), indent=2, ensure_ascii=False))
        else:
            click.echo("\n".join(pose_sheet(found, library())))
        return
    rows = [
        {"id": p.id, "name": p.name, "position": p.position, "areas": list(p.areas), "one_sided": p.one_sided}
        for p in library().values()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for p in library().values():
        side = " (one side at a time)" if p.one_sided else ""
        click.echo(f"{p.id:28} {p.position:16} {', '.join(p.areas)}{side}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def routines(as_json: bool) -> None:
    """List the built-in routines: length, title, what each is for and the props it needs."""

    rows = []
    for rid in sorted(builtin_routines()):
        r = load_routine(rid)
        script = compile_routine(r)
        positions = tuple(dict.fromkeys(s.position for s in script.sections if s.position))
        rows.append(
            {
                "id": rid,
                "title": r.title,
                "duration_s": (r.duration_ms or 0) / 1000,
                "description": r.description,
                "props": list(script_props(script)),
                "positions": list(positions),
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        minutes = float(row["duration_s"]) / 60  # type: ignore[arg-type]
        click.echo(f"{row['id']:26} {minutes:4.0f} min  {row['title']}")
        props = ", ".join(row["props"]) or "none"  # type: ignore[arg-type]
        needs = f"props: {props}; positions: {', '.join(row['positions'])}"  # type: ignore[arg-type]
        for text in (str(row["description"]), needs):
            indent = " " * 37
            click.echo(
                textwrap.fill(
                    text, 100, initial_indent=indent, subsequent_indent=indent, break_on_hyphens=False
                )
            )
