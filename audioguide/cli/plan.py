"""``audioguide plan``: a routine's compiled session as a cue sheet, or a check of its choreography."""

from __future__ import annotations

import json
from typing import Any

import click

from audioguide.cli import _audio_options, _build_options, _notices, _options, _tag_options, _with_title
from audioguide.cli.progress import Progress
from audioguide.pipeline.build import make_plan
from audioguide.pipeline.check import check
from audioguide.pipeline.report import cue_sheet, plan_data, plan_summary


@click.command()
@click.argument("routine")
@_options
@click.option("--json", "as_json", is_flag=True, help="Print every event as JSON (times in ms and samples).")
@click.option(
    "--check",
    "run_check",
    is_flag=True,
    help="Check the choreography instead: time to move, doses, eyes open before standing, props.",
)
@_audio_options
@_tag_options
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def plan(
    routine: str, as_json: bool, run_check: bool, quiet: bool, mono: bool, title: str | None, **kw: Any
) -> None:
    """Show ROUTINE's compiled session as a cue sheet: every event and cue sound with its start and end,
    then a summary (length, speech, cue sounds, props, warnings). Takes build's options, so a build's
    command line can be planned as it is."""

    result = make_plan(
        _with_title(routine, title), _build_options(stereo=not mono, **kw), progress=Progress(quiet)
    )
    _notices(result.notices)
    timeline = result.timeline
    findings = check(result.script, timeline)
    if run_check:
        for finding in findings:
            click.echo(str(finding))
        errors = sum(f.level == "error" for f in findings)
        click.echo(f"{result.routine.title}: {errors} error(s), {len(findings) - errors} warning(s)")
        if errors:
            raise click.exceptions.Exit(1)
        return
    if as_json:
        click.echo(json.dumps(plan_data(timeline), indent=2, ensure_ascii=False))
        return
    click.echo("\n".join(cue_sheet(timeline, cues=True)))
    reasons = [(step, step.why) for step in result.routine.steps if step.why]
    if reasons:  # a generated routine says why each step is there
        click.echo("\nWhy these steps:")
        for step, why in reasons:
            click.echo(f"  {step.pose or step.name}: {why}")
    warnings = [*result.notices, *(str(f) for f in findings)]
    click.echo("\n".join(plan_summary(result.script, timeline, warnings)))
