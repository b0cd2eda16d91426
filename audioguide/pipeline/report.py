"""What a plan looks like to a person or a program: the cue sheet text and the plan as JSON data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from audioguide.load.poses import Pose
from audioguide.model.script import Script
from audioguide.model.timeline import CUE, SPEECH, Timeline
from audioguide.units import format_clock


def plan_data(timeline: Timeline) -> dict[str, Any]:
    """Every event and chapter of ``timeline`` as plain data (times in ms and in samples)."""
    tl = timeline
    return {
        "title": tl.title,
        "sample_rate": tl.sample_rate,
        "length_samples": tl.length_samples,
        "length_ms": tl.length_ms,
        "events": [
            {
                "start_ms": tl.ms(e.start_sample),
                "end_ms": tl.ms(e.end_sample),
                "start_sample": e.start_sample,
                "end_sample": e.end_sample,
                "kind": e.kind,
                "text": e.text,
                "step": e.step_index,
                "side": e.side,
            }
            for e in tl.events
        ],
        "chapters": [
            {
                "start_ms": tl.ms(c.start_sample),
                "end_ms": tl.ms(c.end_sample),
                "title": c.title,
                "step": c.step_index,
            }
            for c in tl.chapters
        ],
    }


def cue_sheet(timeline: Timeline, *, cues: bool = False) -> list[str]:
    """The session as lines to read: each chapter's start and title, then what is said and the quiet
    spans, with their times; with ``cues``, the cue sounds too (chime, tick, transition...)."""
    tl = timeline
    lines = [f"{tl.title} — {format_clock(tl.length_ms)}"]
    chapters = {c.start_sample: c for c in tl.chapters}
    for e in tl.events:
        if e.start_sample in chapters:
            c = chapters.pop(e.start_sample)
            lines += ["", f"[{format_clock(tl.ms(c.start_sample))}] {c.title}"]
        if e.kind == CUE and not cues:
            continue
        mark, text = {SPEECH: ("  ", e.text), CUE: ("♪ ", f"[{e.text}]")}.get(e.kind, ("··", f"({e.text})"))
        lines.append(
            f"  {format_clock(tl.ms(e.start_sample))}–{format_clock(tl.ms(e.end_sample))} {mark} {text}"
        )
    return lines


def pose_sheet(pose: Pose, poses: Mapping[str, Pose]) -> list[str]:
    """Everything about one library pose, as lines to read: where it is done, its dose, what is said
    (placeholders read as the compiler says them with no side chosen), the easier variation, the
    cautions, and the alternatives that ``--avoid`` swaps in (with their positions)."""

    def say(sentence: str) -> str:
        return pose.text(sentence, None)

    if pose.kind == "reps":
        tempo = f" of {pose.tempo_ms / 1000:g}s each" if pose.tempo_ms else ""
        dose = f"{pose.reps} reps{tempo}"
    else:
        dose = f"hold {pose.hold.describe()}" if pose.hold else "hold"
    alternatives = [f"{a} ({poses[a].position})" if a in poses else a for a in pose.alternatives]
    rows: list[tuple[str, list[str]]] = [
        ("position", [pose.position]),
        ("areas", [", ".join(pose.areas)]),
        ("sides", ["one side at a time (sides: both, left or right)" if pose.one_sided else "both at once"]),
        ("dose", [f"{dose} (the default; a step's hold:, reps: and tempo: change it)"]),
        ("props", [", ".join(pose.props) or "none"]),
        ("setup", [say(s) for s in pose.setup]),
        ("brief", [say(pose.brief)] if pose.brief else []),
        ("cues", [say(s) for s in pose.cues]),
        ("rep cues", [say(s) for s in pose.rep_cues]),
        ("release", [say(pose.release)] if pose.release else []),
        ("easier", [f"If that is too much, {say(pose.easier)}"] if pose.easier else []),
        ("cautions", list(pose.cautions) or ["none listed"]),
        ("alternatives", [", ".join(alternatives) or "none"]),
    ]
    lines = [f"{pose.id} — {pose.name}"]
    for label, values in rows:
        for i, value in enumerate(values):
            lines.append(f"  {label if i == 0 else '':<13}{value}")
    return lines


def script_props(script: Script) -> tuple[str, ...]:
    """The props a session needs, in order of first use (the welcome names them)."""
    return tuple(dict.fromkeys(prop for section in script.sections for prop in section.props))


def plan_summary(script: Script, timeline: Timeline, warnings: Sequence[str]) -> list[str]:
    """The closing lines of a plan: its length, how much of it is speech, the cue sounds, the props to
    have at hand, and anything to look at (``warnings``: notices and choreography findings)."""
    tl = timeline
    speech_ms = sum(tl.ms(e.end_sample) - tl.ms(e.start_sample) for e in tl.events if e.kind == SPEECH)
    sounds: dict[str, int] = {}
    for e in tl.events:
        if e.kind == CUE:
            sounds[e.text] = sounds.get(e.text, 0) + 1
    share = speech_ms * 100 // tl.length_ms if tl.length_ms else 0
    counted = ", ".join(f"{n} {name}" for name, n in sorted(sounds.items(), key=lambda kv: (-kv[1], kv[0])))
    rows = [
        ("length", [format_clock(tl.length_ms)]),
        ("speech", [f"{format_clock(speech_ms)} ({share}%), quiet {format_clock(tl.length_ms - speech_ms)}"]),
        ("cue sounds", [f"{sum(sounds.values())}: {counted}" if sounds else "none"]),
        ("props", [", ".join(script_props(script)) or "none"]),
        ("warnings", list(warnings) or ["none"]),
    ]
    lines = ["", "Summary"]
    for label, values in rows:
        for i, value in enumerate(values):
            lines.append(f"  {label if i == 0 else '':<12}{value}")
    return lines
