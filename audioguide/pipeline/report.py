"""What a plan looks like to a person or a program: the cue sheet text and the plan as JSON data."""

from __future__ import annotations

from typing import Any

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


def cue_sheet(timeline: Timeline) -> list[str]:
    """The session as lines to read: each chapter's start and title, then what is said and the quiet
    spans, with their times. Cue sounds are left out (the chapter and hold lines say where they are)."""
    tl = timeline
    lines = [f"{tl.title} — {format_clock(tl.length_ms)}"]
    chapters = {c.start_sample: c for c in tl.chapters}
    for e in tl.events:
        if e.start_sample in chapters:
            c = chapters.pop(e.start_sample)
            lines += ["", f"[{format_clock(tl.ms(c.start_sample))}] {c.title}"]
        if e.kind == CUE:
            continue
        mark, text = ("  ", e.text) if e.kind == SPEECH else ("··", f"({e.text})")
        lines.append(
            f"  {format_clock(tl.ms(e.start_sample))}–{format_clock(tl.ms(e.end_sample))} {mark} {text}"
        )
    return lines
