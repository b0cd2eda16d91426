"""``audioguide make``: generate a routine, measure it with the real voice, fit it to the length asked.

The generator (``pipeline.generate``) estimates how long each phrase takes from its words. Here the
phrases it chose are synthesized (cached, as for any build), the estimate is corrected with their real
lengths, and the generator is asked again, until the routine it returns is the one just measured. Then
the routine is written out as YAML, read back as any routine is, and scheduled at the length asked.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

from audioguide.errors import ScheduleError
from audioguide.load.routine import parse_routine
from audioguide.model.routine import Routine
from audioguide.pipeline.build import BuildOptions, Plan, Progress, make_plan
from audioguide.pipeline.generate import Generated, Request, Speech, estimate_speech, generate, routine_yaml
from audioguide.schedule import Lengths, measure
from audioguide.units import format_clock, ms_to_samples, samples_to_ms

MAX_ATTEMPTS = 4
"""Estimate, measure, ask again: the routine settles in one or two rounds; this bounds the worst case."""


@dataclass(frozen=True)
class Made:
    """A generated routine: the choices, its YAML, the routine read back from it, and its plan."""

    generated: Generated
    yaml: str
    routine: Routine
    plan: Plan
    lengths: Lengths  # with the real speech
    attempts: int


def make(
    request: Request,
    options: BuildOptions | None = None,
    *,
    version: str = "",
    file: str = "<generated>",
    progress: Progress | None = None,
) -> Made:
    """Generate a routine for ``request`` and plan it at the requested length with the real voice."""
    options = replace(options or BuildOptions(), compile=request.compile)
    estimate = estimate_speech(request.compile.pace)
    real: dict[str, int] = {}
    speech: Speech = estimate
    seen: list[tuple[str, ...]] = []
    attempts = 0
    while True:
        attempts += 1
        generated = generate(request, speech)
        ids = tuple(f"{c.pose.id}x{c.rounds}" for c in generated.choices)
        if ids in seen or attempts > MAX_ATTEMPTS:
            break  # measured already: its lengths below are real
        seen.append(ids)
        plan = make_plan(generated.routine, options, progress)
        real.update((text, clip.length_samples) for text, clip in plan.clips.items())
        speech = _corrected(real, estimate)
    measured = make_plan(generated.routine, options, progress)  # spoken already: from the cache
    lengths = measure(measured.script, lambda text: measured.clips[text].length_samples)
    target = ms_to_samples(request.length_ms)
    if not request.about and not lengths.least <= target <= lengths.most:
        raise ScheduleError(
            f"cannot make a {format_clock(request.length_ms)} session from these choices: the poses that "
            f"fit make {format_clock(samples_to_ms(lengths.least))} to "
            f"{format_clock(samples_to_ms(lengths.most))}; allow more places, props or foci, or ask "
            "for about this long (--length ~TIME)"
        )
    yaml_text = routine_yaml(generated, version, voice=options.voice or "default")
    routine = parse_routine(yaml_text, file, rid=_rid(file))
    plan = make_plan(routine, options, progress)
    return Made(generated, yaml_text, routine, plan, lengths, attempts)


def _corrected(real: dict[str, int], estimate: Speech) -> Speech:
    """Real lengths for phrases already spoken; for others, the estimate scaled by how it has erred."""
    ratio = statistics.median(n / estimate(text) for text, n in real.items()) if real else 1.0

    def samples(text: str) -> int:
        known = real.get(text)
        return known if known is not None else round(estimate(text) * ratio)

    return samples


def _rid(file: str) -> str:
    name = file.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if name.endswith((".yaml", ".yml")) else "generated"
