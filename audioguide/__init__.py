"""audioguide: compile an exercise routine into a voice-guided, exact-length audio session.

The library in five names::

    from audioguide import BuildOptions, build, cue_sheet, load_routine, plan

    routine = load_routine("lower-back-10min")     # a built-in name or a path to a .yaml file
    print("\\n".join(cue_sheet(plan(routine).timeline)))
    build(routine, BuildOptions(output=Path("session.mp3")))

Every expected failure is an ``AudioguideError`` (see ``audioguide.errors``). The names below are
loaded on first use, so ``import audioguide`` stays cheap for the speech workers and the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "plan": ("audioguide.pipeline.build", "make_plan"),
    "build": ("audioguide.pipeline.build", "build"),
    "BuildOptions": ("audioguide.pipeline.build", "BuildOptions"),
    "BuildResult": ("audioguide.pipeline.build", "BuildResult"),
    "Plan": ("audioguide.pipeline.build", "Plan"),
    "CompileOptions": ("audioguide.compile.compiler", "Options"),
    "RenderOptions": ("audioguide.render.mixer", "RenderOptions"),
    "load_routine": ("audioguide.load.routine", "load_routine"),
    "parse_routine": ("audioguide.load.routine", "parse_routine"),
    "plan_data": ("audioguide.pipeline.report", "plan_data"),
    "cue_sheet": ("audioguide.pipeline.report", "cue_sheet"),
    "AudioguideError": ("audioguide.errors", "AudioguideError"),
    "RoutineError": ("audioguide.errors", "RoutineError"),
    "OptionError": ("audioguide.errors", "OptionError"),
    "ScheduleError": ("audioguide.errors", "ScheduleError"),
    "SpeechError": ("audioguide.errors", "SpeechError"),
    "RenderError": ("audioguide.errors", "RenderError"),
    "ExportError": ("audioguide.errors", "ExportError"),
}

__all__ = [
    "AudioguideError",
    "BuildOptions",
    "BuildResult",
    "CompileOptions",
    "ExportError",
    "OptionError",
    "Plan",
    "RenderError",
    "RenderOptions",
    "RoutineError",
    "ScheduleError",
    "SpeechError",
    "__version__",
    "build",
    "cue_sheet",
    "load_routine",
    "parse_routine",
    "plan",
    "plan_data",
]

if TYPE_CHECKING:
    from audioguide.compile.compiler import Options as CompileOptions
    from audioguide.errors import (
        AudioguideError,
        ExportError,
        OptionError,
        RenderError,
        RoutineError,
        ScheduleError,
        SpeechError,
    )
    from audioguide.load.routine import load_routine, parse_routine
    from audioguide.pipeline.build import BuildOptions, BuildResult, Plan, build
    from audioguide.pipeline.build import make_plan as plan
    from audioguide.pipeline.report import cue_sheet, plan_data
    from audioguide.render.mixer import RenderOptions


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562)."""
    try:
        module, attr = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'audioguide' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value
