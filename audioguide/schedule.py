"""Stage 4, schedule: place every event at an exact sample, fit flexible spans to the target, verify."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from audioguide.compile.compiler import HOLD_SHRINK, HOLD_STRETCH
from audioguide.errors import ScheduleError
from audioguide.model import cues
from audioguide.model.clip import Clip
from audioguide.model.routine import TARGET_RANGE_MS
from audioguide.model.script import Say, Script, Section, Sound, Span
from audioguide.model.timeline import CUE, HOLD, REST, SPEECH, Chapter, Event, Timeline
from audioguide.units import SAMPLE_RATE, format_clock, ms_to_samples, samples_to_ms

HOLD_BAND_TEXT = f"{HOLD_SHRINK:g}x to {HOLD_STRETCH:g}x"
"""How far a timed hold may move from its dose to fit a length."""

MIN_SPEECH_GAP_MS = 300
"""Two phrases never sit closer than this: a listener needs a breath between them."""


@dataclass(frozen=True)
class _Flex:
    base: int
    low: int
    high: int
    kind: str = "rest"  # "rest" (rests, moving and settling time) gives way before "hold" (a dose)
    linked: bool = False  # paired with another span (the other side): must keep the same length


def _flex(span: Span) -> _Flex:
    return _Flex(
        ms_to_samples(span.base_ms),
        ms_to_samples(span.min_ms),
        ms_to_samples(span.max_ms),
        span.kind,
        span.link is not None,
    )


def fit_spans(flex: list[_Flex], needed: int) -> list[int]:
    """Lengths (samples) for flexible spans adding up to exactly ``needed``.

    Rests, moving and settling time give way first, by one common factor; holds keep their
    prescribed dose unless the rests alone cannot meet the length, and then change together, by
    one common factor, within their band. ``needed`` must lie within the spans' bounds.
    """
    rests = [i for i, f in enumerate(flex) if f.kind != "hold"]
    holds = [i for i, f in enumerate(flex) if f.kind == "hold"]
    hold_base = sum(flex[i].base for i in holds)
    rest_low, rest_high = sum(flex[i].low for i in rests), sum(flex[i].high for i in rests)
    if rest_low + hold_base <= needed <= rest_high + hold_base:
        rest_need, hold_need = needed - hold_base, hold_base
    elif needed > rest_high + hold_base:
        rest_need, hold_need = rest_high, needed - rest_high
    else:
        rest_need, hold_need = rest_low, needed - rest_low
    lengths = [0] * len(flex)
    for group, need in ((rests, rest_need), (holds, hold_need)):
        for i, n in zip(group, _common_factor([flex[i] for i in group], need), strict=True):
            lengths[i] = n
    residual = needed - sum(lengths)
    # Rounding leaves a few samples over or under: give them to the last unpaired span (the closing
    # ring-out) and, if it is at its bound, to the spans before it, so the total is exact to the sample.
    order = [i for i in reversed(range(len(flex))) if not flex[i].linked]
    order += [i for i in reversed(range(len(flex))) if flex[i].linked]
    for i in order:
        if residual == 0:
            break
        if residual > 0:
            step = min(residual, flex[i].high - lengths[i])
        else:
            step = max(residual, flex[i].low - lengths[i])
        lengths[i] += step
        residual -= step
    return lengths


def _common_factor(flex: list[_Flex], needed: int) -> list[int]:
    """Each span's base times one factor, clamped to its bounds, adding up to about ``needed``."""
    if not flex:
        return []

    def total(f: float) -> float:
        return sum(min(max(s.base * f, s.low), s.high) for s in flex)

    lo, hi = 0.0, 1.0
    while total(hi) < needed and hi < 1e6:
        hi *= 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if total(mid) < needed:
            lo = mid
        else:
            hi = mid
    return [round(min(max(s.base * hi, s.low), s.high)) for s in flex]


class _Scheduler:
    def __init__(self, script: Script, clips: Mapping[str, Clip]) -> None:
        self.script = script
        self.clips = clips
        self.events: list[Event] = []

    def clip(self, text: str) -> Clip:
        try:
            return self.clips[text]
        except KeyError:
            raise ScheduleError(f"no speech was made for {text!r}") from None

    def fixed_length(self, item: Say | Sound | Span) -> int | None:
        if isinstance(item, Say):
            return self.clip(item.text).length_samples + ms_to_samples(item.pause_ms)
        if isinstance(item, Sound):
            return ms_to_samples(item.advance_ms)
        return ms_to_samples(item.base_ms) if item.rigid else None

    def span_lengths(self) -> dict[int, int]:
        """id(span) -> length in samples, fitted to the script's target when it has one."""
        fixed = 0
        flex_spans: list[Span] = []
        for item in self.script.items():
            n = self.fixed_length(item)
            if n is None:
                assert isinstance(item, Span)
                flex_spans.append(item)
            else:
                fixed += n
        lengths: dict[int, int] = {}
        for item in self.script.items():
            if isinstance(item, Span) and item.rigid:
                lengths[id(item)] = ms_to_samples(item.base_ms)
        flex = [_flex(s) for s in flex_spans]
        if self.script.target_ms is None:
            fitted = [f.base for f in flex]
        else:
            needed = ms_to_samples(self.script.target_ms) - fixed
            least, most = sum(f.low for f in flex), sum(f.high for f in flex)
            if self.script.target_about:  # "~10m": the achievable length nearest the one asked for
                needed = min(max(needed, least), most)
            shortest, longest = samples_to_ms(fixed + least), samples_to_ms(fixed + most)
            achievable = f"this routine can last {_human(shortest, up=True)} to {_human(longest, down=True)}"
            why = (
                f"its speech, moves and timed parts take {_human(samples_to_ms(fixed))}, and holds stay "
                f"within {HOLD_BAND_TEXT} of their dose"
            )
            asked = f"{self.script.source}: duration {_human(self.script.target_ms)}"
            about = f"or ask for about this long (duration: ~{_human(self.script.target_ms)})"
            if needed < least and shortest > TARGET_RANGE_MS[1]:  # no duration can help
                raise ScheduleError(_too_long(self.script.source, shortest))
            if needed < least:
                raise ScheduleError(
                    f"{asked} is too short: {achievable} ({why}); set duration to at least "
                    f"{_human(shortest, up=True)} {about}, remove a step, or use --verbosity brief"
                )
            if needed > most:
                raise ScheduleError(
                    f"{asked} is too long for these steps: {achievable} ({why}); set duration to at most "
                    f"{_human(longest, down=True)} {about}, add steps, or repeat one with 'rounds:'"
                )
            fitted = fit_spans(flex, needed)
        for span, n in zip(flex_spans, fitted, strict=True):
            lengths[id(span)] = n
        return lengths

    def run(self) -> Timeline:
        lengths = self.span_lengths()
        cursor = 0
        starts: list[int] = []
        for section in self.script.sections:
            starts.append(cursor)
            for item in section.items:
                if isinstance(item, Say):
                    clip = self.clip(item.text)
                    self.events.append(
                        Event(
                            cursor,
                            clip.length_samples,
                            SPEECH,
                            item.text,
                            section.step_index,
                            clip.key,
                            section.side,
                        )
                    )
                    cursor += clip.length_samples + ms_to_samples(item.pause_ms)
                elif isinstance(item, Sound):
                    n = cues.natural_length(item.name) or 0
                    self.events.append(
                        Event(cursor, n, CUE, item.name, section.step_index, item.name, section.side)
                    )
                    cursor += ms_to_samples(item.advance_ms)
                else:
                    n = lengths[id(item)]
                    kind = HOLD if item.kind == "hold" else REST
                    label = item.label if item.rigid else f"{item.kind} {n / SAMPLE_RATE:.1f} s"
                    self.events.append(Event(cursor, n, kind, label, section.step_index, None, item.side))
                    self.place(section, item, cursor, n)
                    cursor += n
        total = cursor
        events = sorted(self.events, key=lambda e: (e.start_sample, e.kind != HOLD and e.kind != REST))
        self.verify(events, total)
        chapters = tuple(
            Chapter(start, starts[i + 1] if i + 1 < len(starts) else total, section.title, section.step_index)
            for i, (start, section) in enumerate(zip(starts, self.script.sections, strict=True))
        )
        return Timeline(self.script.title, total, tuple(events), chapters, SAMPLE_RATE)

    def place(self, section: Section, span: Span, start: int, length: int) -> None:
        """Put the span's placed items at their samples; drop optional ones that do not fit."""
        taken: list[tuple[int, int]] = []  # speech already placed in this span, (start, end)
        gap = ms_to_samples(MIN_SPEECH_GAP_MS)
        ordered = sorted(span.placed, key=lambda p: p.optional)  # required items claim their time first
        for p in ordered:
            if length < ms_to_samples(p.min_span_ms):
                continue
            if p.anchor == "start":
                at = start + ms_to_samples(p.offset_ms)
            elif p.anchor == "end":
                at = start + length - ms_to_samples(p.offset_ms)
            else:
                at = start + round(length * p.fraction)
            if p.kind == "cue":
                n = (
                    ms_to_samples(p.length_ms)
                    if p.length_ms is not None
                    else cues.natural_length(p.what) or 0
                )
                self.events.append(
                    Event(
                        at,
                        n,
                        CUE,
                        p.what,
                        section.step_index,
                        f"{p.what}:{n}" if p.length_ms is not None else p.what,
                        p.side,
                    )
                )
                continue
            clip = self.clip(p.what)
            end = at + clip.length_samples
            problem = None
            if p.window_ms is not None and clip.length_samples > ms_to_samples(p.window_ms):
                problem = f"only {p.window_ms / 1000:.1f} s is free there"
            elif end > start + length:
                problem = (
                    f"the {span.label} ends {samples_to_ms(end - start - length) / 1000:.1f} s before it does"
                )
            elif at < start:
                problem = f"the {span.label} is too short to hold it"
            elif any(at < b + gap and end + gap > a for a, b in taken):
                problem = "it would talk over another cue"
            if problem is None:
                taken.append((at, end))
                self.events.append(
                    Event(at, clip.length_samples, SPEECH, p.what, section.step_index, clip.key, section.side)
                )
            elif not p.optional:
                self.overrun(section, p.what, clip.length_samples, problem, span)

    def overrun(self, section: Section, text: str, n: int, problem: str, span: Span) -> None:
        where = f"{self.script.source}:{section.line}" if section.line else self.script.source
        if "reps" in span.label:
            fix = "use a slower tempo, or --verbosity brief"
        elif "breaths" in span.label:
            fix = "use a slower breath pattern (for example breath: {inhale: 5s, exhale: 7s}) or --pace brisk"
        else:
            fix = "lengthen the hold"
        raise ScheduleError(
            f"{where}: step {section.step_index + 1} ({section.title}): {text!r} takes "
            f"{n / SAMPLE_RATE:.1f} s but {problem}; {fix}"
        )

    def verify(self, events: list[Event], total: int) -> None:
        """No two phrases overlap, and nothing audible runs past the end of the session."""
        speech = [e for e in events if e.kind == SPEECH]
        for a, b in itertools.pairwise(speech):
            if b.start_sample < a.end_sample:
                raise ScheduleError(
                    f"{a.text!r} at {format_clock(samples_to_ms(a.start_sample))} runs into "
                    f"{b.text!r}; the step's timing leaves no room for both"
                )
        for e in events:
            if e.kind in (SPEECH, CUE) and e.end_sample > total:
                raise ScheduleError(f"{e.text!r} runs past the end of the session")


def _human(ms: int, *, up: bool = False, down: bool = False) -> str:
    """``9m46s``: rounded up or down to the second where a suggestion must work as written."""
    seconds = -(-ms // 1000) if up else ms // 1000 if down else round(ms / 1000)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return f"{h}h{m:02d}m{s:02d}s"
    return f"{m}m{s:02d}s" if m else f"{s}s"


@dataclass(frozen=True)
class Lengths:
    """How long a script can last, in samples: at rest (every span at its base), the range where every
    hold keeps its dose (only rests, moves and quiet give way), and the whole achievable range."""

    natural: int
    dose_low: int
    dose_high: int
    least: int
    most: int


def measure(script: Script, speech_samples: Callable[[str], int]) -> Lengths:
    """The ``Lengths`` of ``script`` when each phrase lasts ``speech_samples(text)`` samples.

    The generator calls this with estimated speech lengths before any speech exists; with real
    clips it agrees with what ``schedule`` can fit.
    """
    fixed, natural = 0, 0
    rest, hold = [0, 0], [0, 0]
    for item in script.items():
        if isinstance(item, Say):
            fixed += speech_samples(item.text) + ms_to_samples(item.pause_ms)
        elif isinstance(item, Sound):
            fixed += ms_to_samples(item.advance_ms)
        elif item.rigid:
            fixed += ms_to_samples(item.base_ms)
        else:
            flex = _flex(item)
            natural += flex.base
            bounds = hold if flex.kind == "hold" else rest
            bounds[0] += flex.low
            bounds[1] += flex.high
    hold_base = sum(
        _flex(i).base for i in script.items() if isinstance(i, Span) and not i.rigid and i.kind == "hold"
    )
    return Lengths(
        natural=fixed + natural,
        dose_low=fixed + rest[0] + hold_base,
        dose_high=fixed + rest[1] + hold_base,
        least=fixed + rest[0] + hold[0],
        most=fixed + rest[1] + hold[1],
    )


def length_range(script: Script, clips: Mapping[str, Clip]) -> tuple[int, int]:
    """(shortest, longest) session in samples that ``script`` can be fitted to with these clips."""
    scheduler = _Scheduler(script, clips)
    lengths = measure(script, lambda text: scheduler.clip(text).length_samples)
    return lengths.least, lengths.most


def _too_long(source: str, least_ms: int) -> str:
    return (
        f"{source}: this routine is too long: it takes at least {_human(least_ms, up=True)}, and a "
        f"session is at most {_human(TARGET_RANGE_MS[1])}; remove steps, or split it into several "
        "routines (a series builds them as episodes)"
    )


def schedule(script: Script, clips: Mapping[str, Clip]) -> Timeline:
    """Lay the script out in time with the clips' exact lengths; ScheduleError when speech cannot fit,
    or when a routine without a duration runs longer than any session may (TARGET_RANGE_MS)."""
    timeline = _Scheduler(script, clips).run()
    if script.target_ms is None and timeline.length_ms > TARGET_RANGE_MS[1]:
        raise ScheduleError(_too_long(script.source, timeline.length_ms))
    return timeline
