"""Stage 1, load: routine YAML becomes a frozen, validated Routine; raw YAML never leaves this module."""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

import yaml

from audioguide.errors import RoutineError
from audioguide.fsutil import exists, is_file
from audioguide.load.durations import DurationSyntaxError, parse_span, parse_target
from audioguide.load.poses import POSITIONS, PROPS, get_pose, library
from audioguide.load.voices import find_profile
from audioguide.load.yamlnodes import Doc, parse, read_text, suggest
from audioguide.model.amounts import Amount
from audioguide.model.cues import BUILTIN_BEDS
from audioguide.model.routine import BREATH_PATTERNS, SIDES, TARGET_RANGE_MS, Breath, Routine, Step

ROUTINE_KEYS = ("title", "description", "duration", "voice", "breath", "ambience", "steps")
STEP_KEYS = (
    *("pose", "name", "say", "hold", "reps", "tempo", "sides", "rest", "rounds", "position", "props"),
    "guidance",  # "brief": the pose was taught in full earlier (a program says so); else the session's
    "why",  # a note for the reader (``plan`` shows it), never spoken
)
GUIDANCE = ("full", "brief")
MAX_ROUNDS = 10
BREATH_KEYS = ("inhale", "hold_in", "exhale", "hold_out")

MAX_STEPS = 200
"""Twenty times the steps of the longest built-in routine; more is not a session but a series."""
MAX_SENTENCE_CHARS = 400
"""One phrase is spoken in one go: 4x the longest built-in phrase (95), about 20 s of speech. A
4000-word sentence took 1.2-1.8 GB to synthesize and then timed out as a "hung" engine."""
MAX_NAME_CHARS = 150
"""A title or a pose's name is spoken and shown as a chapter title: a line, not a paragraph."""
MAX_HOLD_MS = 10 * 60 * 1000
MAX_BREATHS = 60
MAX_REPS = 100
TEMPO_RANGE_MS = (1_000, 30_000)
BREATH_PHASE_MAX_MS = 20_000


def builtin_routines() -> dict[str, resources.abc.Traversable]:
    """Built-in routine id -> packaged file."""
    folder = resources.files("audioguide") / "data" / "routines"
    return {p.name.rsplit(".", 1)[0]: p for p in folder.iterdir() if p.name.endswith(".yaml")}


def resolve(ref: str | Path) -> tuple[str, str, Path | None]:
    """Turn a path or a built-in routine name into (text, display name, base folder)."""
    path = Path(ref)
    text_ref = str(ref)
    builtins = builtin_routines()
    if text_ref in builtins and not exists(path):
        item = builtins[text_ref]
        return item.read_text(encoding="utf-8"), f"<built-in {text_ref}>", None
    if not exists(path) and not text_ref.endswith((".yaml", ".yml")) and "/" not in text_ref:
        names = ", ".join(sorted(builtins))
        hint = suggest(text_ref, builtins) or f"built-in routines: {names}"
        raise RoutineError(
            f"no routine file or built-in routine named '{text_ref}'", file=text_ref, hint=hint
        )
    return read_text(path), str(path), path.resolve().parent


def load_routine(ref: str | Path) -> Routine:
    """Load a routine from a path or a built-in name; raise RoutineError naming file, line and key."""
    text, display, base_dir = resolve(ref)
    rid = Path(str(ref)).name.rsplit(".", 1)[0] if base_dir else str(ref)
    return parse_routine(text, display, rid=rid, base_dir=base_dir)


def parse_routine(text: str, file: str, *, rid: str = "routine", base_dir: Path | None = None) -> Routine:
    """Parse routine YAML text (``file`` is only used in messages)."""
    doc = parse(text, file)
    if not isinstance(doc.root, yaml.MappingNode):
        raise doc.error(
            doc.root, None, "a routine must be a mapping with title and steps, not a list or a value"
        )
    fields = doc.mapping(doc.root, "", ROUTINE_KEYS, "a routine")
    if "steps" not in fields:
        raise doc.error(doc.root, "steps", "missing 'steps': a routine needs at least one step")
    title = _text(doc, fields, "title", default=None)
    if title is None:
        raise doc.error(doc.root, "title", "missing 'title'")
    duration_ms, about = None, False
    if "duration" in fields:
        duration_ms, about = _target(doc, fields["duration"])
    voice = _text(doc, fields, "voice", default="default")
    if "voice" in fields:
        _check_voice(doc, fields["voice"], voice or "default", base_dir)
    ambience = _text(doc, fields, "ambience", default="none") or "none"
    if ambience != "none":
        _check_ambience(doc, fields["ambience"], ambience, base_dir)
    breath = _breath(doc, fields["breath"]) if "breath" in fields else BREATH_PATTERNS["relaxed"]
    step_nodes = doc.sequence(fields["steps"], "steps", "steps")
    if not step_nodes:
        raise doc.error(fields["steps"], "steps", "'steps' is empty: a routine needs at least one step")
    if len(step_nodes) > MAX_STEPS:
        raise doc.error(
            fields["steps"],
            "steps",
            f"{len(step_nodes)} steps is too many for one session; the most is {MAX_STEPS}",
            "split it into several routines (a series builds them as episodes)",
        )
    steps = tuple(_step(doc, node, f"steps[{i}]") for i, node in enumerate(step_nodes))
    return Routine(
        id=rid,
        source=file,
        title=title,
        description=_text(doc, fields, "description", default="") or "",
        steps=steps,
        duration_ms=duration_ms,
        duration_about=about,
        voice=voice or "default",
        breath=breath,
        ambience=ambience or "none",
        base_dir=base_dir,
        ambience_line=fields["ambience"].start_mark.line + 1 if "ambience" in fields else None,
    )


def _text(doc: Doc, fields: dict[str, yaml.Node], key: str, default: str | None) -> str | None:
    if key not in fields:
        return default
    value = doc.value(fields[key], key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise doc.error(fields[key], key, "expected text")
    if (key == "title" or key.endswith(".name")) and len(value) > MAX_NAME_CHARS:
        raise doc.error(
            fields[key], key, f"{len(value)} characters is too long for a name; the most is {MAX_NAME_CHARS}"
        )
    return " ".join(value.split()) if key != "say" else value.strip()


def _span(doc: Doc, node: yaml.Node, key: str, *, allow_breaths: bool = True) -> Amount:
    try:
        return parse_span(doc.value(node, key), allow_breaths=allow_breaths)
    except DurationSyntaxError as exc:
        raise doc.error(node, key, str(exc)) from exc


def _ms(doc: Doc, node: yaml.Node, key: str, bounds: tuple[int, int], *, allow_zero: bool = False) -> int:
    span = _span(doc, node, key, allow_breaths=False)
    assert span.ms is not None
    low, high = bounds
    if span.ms < 0 or (span.ms == 0 and not allow_zero):
        raise doc.error(node, key, f"must be longer than zero, got {span.describe()}")
    if span.ms < low and not (allow_zero and span.ms == 0):
        raise doc.error(node, key, f"{span.describe()} is too short; the least is {low / 1000:g}s")
    if span.ms > high:
        raise doc.error(node, key, f"{span.describe()} is too long; the most is {_human(high)}")
    return span.ms


def _target(doc: Doc, node: yaml.Node) -> tuple[int, bool]:
    """The routine's length: a time, or about a time (``~10m``), within TARGET_RANGE_MS."""
    try:
        ms, about = parse_target(doc.value(node, "duration"))
    except DurationSyntaxError as exc:  # parse_target offers times only: a session is not N breaths
        raise doc.error(node, "duration", f"{exc}; '~10m' means about ten minutes") from exc
    low, high = TARGET_RANGE_MS
    if ms <= 0:
        raise doc.error(node, "duration", f"must be longer than zero, got {ms / 1000:g}s")
    if ms < low:
        raise doc.error(node, "duration", f"{_human(ms)} is too short; the least is {_human(low)}")
    if ms > high:
        raise doc.error(node, "duration", f"{_human(ms)} is too long; the most is {_human(high)}")
    return ms, about


def _human(ms: int) -> str:
    if ms >= 3_600_000 and ms % 3_600_000 == 0:
        return f"{ms // 3_600_000}h"
    if ms >= 60_000 and ms % 60_000 == 0:
        return f"{ms // 60_000}m"
    return f"{ms / 1000:g}s"


def _breath(doc: Doc, node: yaml.Node) -> Breath:
    if isinstance(node, yaml.ScalarNode):
        name = doc.value(node, "breath")
        if name in BREATH_PATTERNS:
            return BREATH_PATTERNS[str(name)]
        raise doc.error(
            node,
            "breath",
            f"unknown breath pattern {name!r}; expected one of {', '.join(BREATH_PATTERNS)} "
            "or a mapping such as {inhale: 4s, exhale: 6s}",
            suggest(str(name), BREATH_PATTERNS),
        )
    fields = doc.mapping(node, "breath", BREATH_KEYS, "a breath pattern")
    for required in ("inhale", "exhale"):
        if required not in fields:
            raise doc.error(node, f"breath.{required}", f"missing '{required}' (for example {required}: 4s)")
    phase: dict[str, int] = {}
    for key, vnode in fields.items():
        allow_zero = key.startswith("hold")
        # Inhale and exhale carry a rising or falling tone, which needs at least a second.
        least = 500 if allow_zero else 1000
        phase[key] = _ms(doc, vnode, f"breath.{key}", (least, BREATH_PHASE_MAX_MS), allow_zero=allow_zero)
    return Breath(
        phase["inhale"], phase["exhale"], phase.get("hold_in", 0), phase.get("hold_out", 0), "custom"
    )


def _check_voice(doc: Doc, node: yaml.Node, value: str, base_dir: Path | None) -> None:

    try:
        find_profile(value, base_dir)
    except RoutineError as exc:
        raise doc.error(node, "voice", exc.message, exc.hint) from None


def _check_ambience(doc: Doc, node: yaml.Node, value: str, base_dir: Path | None) -> None:

    if value in BUILTIN_BEDS:
        return
    looks_like_path = "/" in value or "." in Path(value).name
    if not looks_like_path:
        raise doc.error(
            node,
            "ambience",
            f"unknown ambience '{value}'; built-in beds: none, "
            + ", ".join(BUILTIN_BEDS)
            + ", or a path to an audio file",
            suggest(value, (*BUILTIN_BEDS, "none")),
        )
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~someone/..." for a user that does not exist
        raise doc.error(node, "ambience", f"cannot find the home folder in '{value}'") from None
    if not path.is_absolute():
        path = (base_dir or Path.cwd()) / path
    if not is_file(path):
        raise doc.error(node, "ambience", f"ambience file '{value}' not found (looked at {path})")


def _scalar_step_hint(doc: Doc, node: yaml.ScalarNode, key: str) -> RoutineError:
    """A step written as a bare word (``- childs-pose``): say which key it needs."""
    text = str(node.value).strip()
    near = difflib.get_close_matches(text, list(library()), n=1, cutoff=0.6)
    if near:
        fix = f"write `- pose: {near[0]}`"
    else:
        try:
            parse_span(text)
            fix = f"write `- rest: {text}`"
        except DurationSyntaxError:
            fix = "write `- pose: NAME` (see `audioguide poses`), `- rest: 10s` or `- say: words to speak`"
    return doc.error(node, key, f"a step needs a key: '{text}' alone is not a step", fix)


def _step(doc: Doc, node: yaml.Node, key: str) -> Step:
    if isinstance(node, yaml.ScalarNode):
        raise _scalar_step_hint(doc, node, key)
    fields = doc.mapping(node, key, STEP_KEYS, "a step")
    line = node.start_mark.line + 1
    kinds = [k for k in ("pose", "name", "rest") if k in fields]
    if len(kinds) > 1:
        raise doc.error(
            node, key, f"a step is one of pose, name (an inline pose) or rest, not {' and '.join(kinds)}"
        )
    if not kinds:
        if "say" not in fields:
            raise doc.error(node, key, "a step needs one of: pose, name (with say), rest, or say")
        extra = [k for k in fields if k != "say"]
        if extra:
            raise doc.error(
                fields[extra[0]],
                f"{key}.{extra[0]}",
                f"'{extra[0]}' needs a pose: add 'pose:' or 'name:' to this step",
            )
        return Step(kind="say", line=line, say=_sentences(doc, fields["say"], f"{key}.say"))
    if kinds == ["rest"]:
        extra = [k for k in fields if k not in ("rest", "say")]
        if extra:
            raise doc.error(fields[extra[0]], f"{key}.{extra[0]}", f"a rest step takes no '{extra[0]}'")
        rest_ms = _ms(doc, fields["rest"], f"{key}.rest", (1000, MAX_HOLD_MS))
        say = _sentences(doc, fields["say"], f"{key}.say") if "say" in fields else ()
        return Step(kind="rest", line=line, rest_ms=rest_ms, say=say)

    pose_id = name = None
    if "pose" in fields:
        pose_id = doc.value(fields["pose"], f"{key}.pose")
        if not isinstance(pose_id, str):
            raise doc.error(fields["pose"], f"{key}.pose", "expected a pose id such as knee-to-chest")

        try:
            get_pose(pose_id)
        except LookupError:
            raise doc.error(
                fields["pose"],
                f"{key}.pose",
                f"unknown pose '{pose_id}'",
                suggest(pose_id, library()) or "run 'audioguide poses' for the list",
            ) from None
    else:
        name = _text(doc, {f"{key}.name": fields["name"]}, f"{key}.name", default=None)
        if "say" not in fields:
            raise doc.error(
                fields["name"], f"{key}.say", f"inline pose '{name}' needs 'say': how to get into it"
            )
    hold = reps = tempo = None
    if "hold" in fields:
        hold = _span(doc, fields["hold"], f"{key}.hold")
        if hold.ms is not None:
            _ms(doc, fields["hold"], f"{key}.hold", (1000, MAX_HOLD_MS))
        elif hold.breaths is not None and not 1 <= hold.breaths <= MAX_BREATHS:
            raise doc.error(
                fields["hold"], f"{key}.hold", f"expected 1 to {MAX_BREATHS} breaths, got {hold.breaths}"
            )
    if "reps" in fields:
        reps = doc.value(fields["reps"], f"{key}.reps")
        if not isinstance(reps, int) or isinstance(reps, bool) or not 1 <= reps <= MAX_REPS:
            raise doc.error(
                fields["reps"],
                f"{key}.reps",
                f"expected a whole number of reps from 1 to {MAX_REPS}, got {reps!r}",
            )
    if "tempo" in fields:
        tempo = _ms(doc, fields["tempo"], f"{key}.tempo", TEMPO_RANGE_MS)
    position, props = _placement(doc, fields, key, inline=name is not None)
    rounds = 1
    if "rounds" in fields:
        rounds = doc.value(fields["rounds"], f"{key}.rounds")
        if not isinstance(rounds, int) or isinstance(rounds, bool) or not 1 <= rounds <= MAX_ROUNDS:
            raise doc.error(
                fields["rounds"],
                f"{key}.rounds",
                f"expected how many times to do this step, from 1 to {MAX_ROUNDS}, got {rounds!r}",
            )
    sides = _choice(doc, fields, key, "sides", SIDES)
    say = _sentences(doc, fields["say"], f"{key}.say") if "say" in fields else ()
    why = _text(doc, {f"{key}.why": fields["why"]}, f"{key}.why", default="") if "why" in fields else ""
    guidance = _choice(doc, fields, key, "guidance", GUIDANCE)
    return Step(
        kind="pose",
        line=line,
        pose=pose_id,
        name=name,
        say=say,
        hold=hold,
        reps=reps,
        tempo_ms=tempo,
        sides=sides,
        rounds=rounds,
        position=position,
        props=props,
        why=why or "",
        guidance=guidance,
    )


def _choice(
    doc: Doc, fields: dict[str, yaml.Node], key: str, field: str, allowed: tuple[str, ...]
) -> str | None:
    """A step's ``field`` if given, which must be one of ``allowed`` (with a did-you-mean)."""
    if field not in fields:
        return None
    value = doc.value(fields[field], f"{key}.{field}")
    if value not in allowed:
        raise doc.error(
            fields[field],
            f"{key}.{field}",
            f"expected one of {', '.join(allowed)}, got {value!r}",
            suggest(str(value), allowed),
        )
    return str(value)


def _placement(
    doc: Doc, fields: dict[str, yaml.Node], key: str, *, inline: bool
) -> tuple[str | None, tuple[str, ...]]:
    """An inline pose's ``position`` and ``props`` (a library pose has its own: it takes neither)."""
    for field in ("position", "props"):
        if field in fields and not inline:
            raise doc.error(
                fields[field], f"{key}.{field}", f"a library pose has its own {field}; remove '{field}' here"
            )
    position = _choice(doc, fields, key, "position", POSITIONS)
    props: tuple[str, ...] = ()
    if "props" in fields:
        node = fields["props"]
        if isinstance(node, yaml.SequenceNode):
            values = [doc.value(item, f"{key}.props") for item in doc.sequence(node, f"{key}.props", "props")]
        else:
            values = [doc.value(node, f"{key}.props")]
        if not isinstance(values, list) or not all(isinstance(v, str) and v in PROPS for v in values):
            raise doc.error(fields["props"], f"{key}.props", f"expected a list of: {', '.join(PROPS)}")
        props = tuple(values)
    return position, props


def _sentences(doc: Doc, node: yaml.Node, key: str) -> tuple[str, ...]:
    """Split free text into sentences (each is spoken, and cached, on its own)."""
    value = doc.value(node, key)
    if not isinstance(value, str) or not any(ch.isalnum() for ch in value):
        raise doc.error(node, key, "expected the words to say")
    sentences = split_sentences(value)
    longest = max(sentences, key=len)
    if len(longest) > MAX_SENTENCE_CHARS:
        raise doc.error(
            node,
            key,
            f"the sentence {longest[:40]!r}... is {len(longest)} characters; one spoken phrase is at most "
            f"{MAX_SENTENCE_CHARS}",
            "break it up with full stops",
        )
    return sentences


def split_sentences(text: str) -> tuple[str, ...]:
    """Break text at sentence ends (. ! ?) keeping the punctuation; fold white space."""
    words = " ".join(text.split())
    out: list[str] = []
    current = ""
    for i, ch in enumerate(words):
        current += ch
        nxt = words[i + 1] if i + 1 < len(words) else " "
        if ch in ".!?" and nxt == " ":
            out.append(current.strip())
            current = ""
    if current.strip():
        out.append(current.strip())
    return tuple(s for s in out if s)
