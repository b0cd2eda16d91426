"""The built-in pose library and guidance phrases: load, validate and look them up."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from audioguide.load.durations import DurationSyntaxError, parse_ms, parse_span
from audioguide.load.yamlnodes import load_data
from audioguide.model.amounts import Amount

PROPS = ("mat", "chair", "wall", "strap", "cushion", "foam roller")
"""Everything a pose may need to hand; a session names its props before it starts."""
POSITIONS = ("supine", "prone", "side-lying", "seated", "standing", "kneeling", "hands-and-knees")
KINDS = ("hold", "reps")
LEVELS = ("gentle", "moderate")
"""How demanding a pose is; a generated session never goes beyond the level asked for."""
SPINE = ("neutral", "flexion", "extension", "both", "rotation", "side-bend")
"""What a pose asks of the spine ("both": flexion and extension in turn, as in cat-cow). A session
that rounds the back is balanced by one that arches it, where the back is the focus."""
SIDES = ("left", "right")

# Word limits: at eSpeak's 150-170 words a minute, short sentences are what a listener can follow by ear.
SETUP_WORDS, BRIEF_WORDS, CUE_WORDS, RELEASE_WORDS, EASIER_WORDS, REP_CUE_WORDS = 14, 10, 10, 12, 14, 3
PHRASE_WORDS, SAFETY_WORDS, BREATH_WORDS = 10, 18, 4

# Default dosing, from common physiotherapy guidance for gentle mobility work.
HOLD_MS_RANGE = (10_000, 30_000)
HOLD_BREATHS_RANGE = (3, 8)
REPS_RANGE = (5, 15)
TEMPO_MS_RANGE = (3_000, 8_000)

# A rough speech-length model used to check that each rep cue fits inside its phase of one rep.
SPEECH_MS_PER_WORD = 400  # 150 words a minute: the slow end of our eSpeak rate
SPEECH_OVERHEAD_MS = 300  # onset and tail of one synthesized clip
REP_CUE_QUIET_MS = 500  # quiet left after a rep cue before the next phase is called

UNSAFE_WORDING = re.compile(
    r"\b(?:push(?:ing)? through|work(?:ing)? through|through the pain|no pain|pain is good|feel the burn"
    r"|cures?|cured|heals?|healed|guaranteed?)\b",
    re.IGNORECASE,
)
"""Wording never spoken to someone in pain: pushing through it, or promising a cure."""

_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_BRACED = re.compile(r"\{[^{}]*\}")
_SIDE_USE = re.compile(r"your \{(?:side|other)\} [a-z]")
_ENDS = (".", "!", "?")
_POSE_OPTIONAL = frozenset(
    {"release", "easier", "cautions", "alternatives", "rep_cues", "props", "level", "spine", "calm"}
)

BREATH_SLOTS = ("inhale", "exhale", "hold_in", "hold_out")
PLACEHOLDERS: Mapping[str, str] = MappingProxyType(
    {"welcome": "title", "first_pose": "name", "next_pose": "name", "last_pose": "name", "first_side": "side"}
    | {"switch_side": "side", "hold_breaths": "count", "reps_start": "count", "easier": "easier"}
)
"""The one placeholder each slot's variants must use; slots not listed take none."""
# Entry counts of the ordered slots (spoken in full); every other slot holds 3-6 variants.
_ORDERED = {"safety_full": (3, 5), "safety_short": (1, 1), "closing": (2, 4)}
_PLAIN = ("settle", "hold_start", "halfway", "last_seconds", "last_breath", "release_generic", "rep_last")
PHRASE_SLOTS = (*_ORDERED, *PLACEHOLDERS, *BREATH_SLOTS, *_PLAIN, "rest", "encourage", "closing_brief")
"""Every slot of phrases.yaml, besides ``numbers``."""
_SLOT_WORDS = {"safety_full": SAFETY_WORDS, **dict.fromkeys(BREATH_SLOTS, BREATH_WORDS)}  # else PHRASE_WORDS
NUMBER_COUNT = 30


@dataclass(frozen=True)
class Pose:
    """One library pose: how to get into it, what to notice, how to come out, and its default dose."""

    id: str
    name: str
    position: str
    areas: tuple[str, ...]
    one_sided: bool
    kind: str  # "hold" | "reps"
    setup: tuple[str, ...]
    brief: str
    cues: tuple[str, ...]
    release: str
    easier: str
    cautions: tuple[str, ...]
    alternatives: tuple[str, ...]
    rep_cues: tuple[str, ...]
    props: tuple[str, ...]  # what the listener needs to hand (PROPS); announced at the start
    hold: Amount | None  # None for kind "reps"
    reps: int  # 1 for kind "hold"
    tempo_ms: int | None  # length of one rep; None for kind "hold"
    level: str = "gentle"  # LEVELS
    spine: str = "neutral"  # SPINE
    calm: bool = False  # restful: a session may end here

    def text(self, sentence: str, side: str | None) -> str:
        """Fill ``{side}``/``{other}``; with no side, "your {side} knee" reads "one knee", and so on."""
        if side is None:
            return sentence.replace("your {side} ", "one ").replace("your {other} ", "the other ")
        if side not in SIDES:
            raise ValueError(f"side must be 'left', 'right' or None, got {side!r}")
        other = "right" if side == "left" else "left"
        return sentence.replace("{side}", side).replace("{other}", other)

    def spoken(self) -> tuple[str, ...]:
        """Every sentence of this pose that can be spoken, placeholders unfilled."""
        lines = (*self.setup, self.brief, *self.cues, self.release, self.easier, *self.rep_cues)
        return tuple(line for line in lines if line)


_POSE_KEYS = frozenset(f.name for f in fields(Pose)) - {"hold", "reps", "tempo_ms"} | {"dose"}


def _words(text: str) -> int:
    return len(text.split())


def _problem(text: str, limit: int, *, lower: bool = False, open_end: bool = False) -> str | None:
    """What is wrong with one spoken sentence (length, capitals, full stop, unsafe wording), if anything."""
    if _words(text) > limit:
        return f"{text!r} has {_words(text)} words; at most {limit} are easy to follow by ear"
    if not (text.endswith(_ENDS) or open_end):
        return f"{text!r} should end with a full stop"
    if text[0].isupper() == lower and not text.startswith("{"):
        return f"{text!r} should start with a {'lower-case' if lower else 'capital'} letter"
    bad = UNSAFE_WORDING.search(text)
    return f"{text!r} says {bad[0]!r}: never say this to someone in pain" if bad else None


class _Checker:
    """Reads one pose's raw mapping; every failure names the pose id and the field."""

    def __init__(self, raw: Mapping[str, Any], pose_id: str, one_sided: bool) -> None:
        self.raw, self.id, self.one_sided = raw, pose_id, one_sided

    def fail(self, field: str, message: str) -> ValueError:
        return ValueError(f"poses.yaml: pose {self.id!r}, field {field!r}: {message}")

    def choice(self, field: str, value: Any, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            raise self.fail(field, f"{value!r} is not one of {', '.join(allowed)}")
        return str(value)

    def flag(self, field: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field, f"expected true or false, got {value!r}")
        return value

    def text(self, field: str, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field, f"expected non-empty text, got {value!r}")
        return value.strip()

    def texts(self, field: str, fewest: int, most: int) -> tuple[str, ...]:
        value = self.raw.get(field, [])
        if not isinstance(value, list) or not fewest <= len(value) <= most:
            raise self.fail(field, f"expected a list of {fewest} to {most} entries, got {value!r}")
        return tuple(self.text(field, item) for item in value)

    def say(self, field: str, text: str, limit: int, lower: bool = False) -> str:
        problem = _problem(text, limit, lower=lower)
        braces = _BRACED.findall(text)
        if not problem and ("{" in text or "}" in text):
            if not self.one_sided:
                problem = f"{text!r}: a two-sided pose cannot use placeholders"
            elif not len(_SIDE_USE.findall(text)) == len(braces) == text.count("{") == text.count("}"):
                problem = f"{text!r}: write 'your {{side}} <noun>' or 'your {{other}} <noun>', nothing else"
        if problem:
            raise self.fail(field, problem)
        return text

    def says(self, field: str, fewest: int, most: int, limit: int) -> tuple[str, ...]:
        return tuple(self.say(field, text, limit) for text in self.texts(field, fewest, most))

    def line(self, field: str, limit: int, *, lower: bool = False) -> str:
        """One spoken sentence; empty when the field is optional and absent."""
        if field in _POSE_OPTIONAL and not self.raw.get(field):
            return ""
        return self.say(field, self.text(field, self.raw.get(field)), limit, lower)


def _pose(raw: Any, index: int) -> Pose:
    if not isinstance(raw, dict):
        raise ValueError(f"poses.yaml: entry {index} is not a mapping")
    one_sided, position, kind = raw.get("one_sided"), raw.get("position"), raw.get("kind")
    check = _Checker(raw, str(raw.get("id", f"#{index}")), one_sided is True)
    pose_id, name = check.text("id", raw.get("id")), check.text("name", raw.get("name"))
    unknown, missing = sorted(raw.keys() - _POSE_KEYS), sorted(_POSE_KEYS - _POSE_OPTIONAL - raw.keys())
    if unknown:
        near = difflib.get_close_matches(str(unknown[0]), _POSE_KEYS, n=1)
        raise check.fail(str(unknown[0]), "unknown field" + (f"; did you mean {near[0]!r}?" if near else ""))
    if missing:
        raise check.fail(missing[0], "missing")
    if not _ID.match(pose_id):
        raise check.fail("id", "use lower-case kebab-case, such as 'knee-to-chest'")
    if name[0].isupper():
        raise check.fail("name", f"{name!r} is spoken inside sentences: start it lower case")
    position, kind = check.choice("position", position, POSITIONS), check.choice("kind", kind, KINDS)
    one_sided = check.flag("one_sided", one_sided)
    setup, cues = check.says("setup", 2, 4, SETUP_WORDS), check.says("cues", 2, 4, CUE_WORDS)
    brief, release = check.line("brief", BRIEF_WORDS), check.line("release", RELEASE_WORDS)
    easier = check.line("easier", EASIER_WORDS, lower=True)
    if "{" in easier:
        raise check.fail("easier", "it is inserted into a phrase: name sides without placeholders")
    rep_cues = check.says("rep_cues", 0, 4, REP_CUE_WORDS)
    if one_sided and "{side}" not in " ".join((*setup, brief)):
        raise check.fail("setup", "a one-sided pose must name {side} in its setup or brief")
    hold, reps, tempo_ms = _dose(check, raw["dose"], kind)
    if (kind == "reps") != bool(rep_cues):
        raise check.fail("rep_cues", "a 'reps' pose needs the phases of one rep; a 'hold' pose has none")
    for cue in rep_cues:
        phase_ms = (tempo_ms or 0) // len(rep_cues)
        if _words(cue) * SPEECH_MS_PER_WORD + SPEECH_OVERHEAD_MS + REP_CUE_QUIET_MS > phase_ms:
            raise check.fail("rep_cues", f"{cue!r} does not fit in a {phase_ms} ms phase of one rep")
    areas, cautions = check.texts("areas", 1, 6), check.texts("cautions", 0, 6)
    props = check.texts("props", 0, 4)
    if set(props) - set(PROPS):
        raise check.fail("props", f"{sorted(set(props) - set(PROPS))[0]!r} is not one of {', '.join(PROPS)}")
    alternatives = check.texts("alternatives", 0, 4)
    level = check.choice("level", raw.get("level", "gentle"), LEVELS)
    spine = check.choice("spine", raw.get("spine", "neutral"), SPINE)
    calm = check.flag("calm", raw.get("calm", False))
    return Pose(
        id=pose_id,
        name=name,
        position=position,
        areas=areas,
        one_sided=one_sided,
        kind=kind,
        setup=setup,
        brief=brief,
        cues=cues,
        release=release,
        easier=easier,
        cautions=cautions,
        alternatives=alternatives,
        rep_cues=rep_cues,
        props=props,
        hold=hold,
        reps=reps,
        tempo_ms=tempo_ms,
        level=level,
        spine=spine,
        calm=calm,
    )


def _dose(check: _Checker, dose: Any, kind: str) -> tuple[Amount | None, int, int | None]:
    expected = {"hold": {"hold"}, "reps": {"reps", "tempo"}}[kind]
    if not isinstance(dose, dict) or set(dose) != expected:
        raise check.fail("dose", f"a {kind!r} pose needs exactly {sorted(expected)}, got {dose!r}")
    try:
        span = parse_span(dose["hold"]) if kind == "hold" else None
        tempo_ms = parse_ms(dose["tempo"]) if kind == "reps" else None
    except DurationSyntaxError as exc:
        raise check.fail("dose", str(exc)) from None
    reps = dose.get("reps", 1)
    if isinstance(reps, bool) or not isinstance(reps, int):
        raise check.fail("dose", f"reps must be a whole number, got {reps!r}")
    checks = [(reps, REPS_RANGE, 1, "reps", "")] if kind == "reps" else []
    if tempo_ms is not None:
        checks.append((tempo_ms, TEMPO_MS_RANGE, 1000, "tempo", "s"))
    if span is not None and span.ms is not None:
        checks.append((span.ms, HOLD_MS_RANGE, 1000, "hold", "s"))
    if span is not None and span.breaths is not None:
        checks.append((span.breaths, HOLD_BREATHS_RANGE, 1, "hold", " breaths"))
    for amount, (low, high), scale, what, unit in checks:
        if not low <= amount <= high:
            usual = f"{low / scale:g}-{high / scale:g}{unit}"
            raise check.fail("dose", f"{what} {amount / scale:g}{unit} is outside the usual {usual}")
    return span, reps, tempo_ms


def _read(name: str) -> Any:
    return load_data(resources.files("audioguide").joinpath("data", name).read_text(encoding="utf-8"))


@cache
def library() -> Mapping[str, Pose]:
    """Every built-in pose by id, validated once and cached."""
    raw = _read("poses.yaml")
    if not isinstance(raw, list):
        raise ValueError("poses.yaml: expected a list of poses")
    poses: dict[str, Pose] = {}
    for index, entry in enumerate(raw):
        pose = _pose(entry, index)
        if pose.id in poses:
            raise ValueError(f"poses.yaml: pose {pose.id!r}, field 'id': defined twice")
        poses[pose.id] = pose
    for pose in poses.values():
        for alt in pose.alternatives:
            target = poses.get(alt)
            if target is None or target.position == pose.position:
                why = "is not a pose" if target is None else f"is also {pose.position}"
                raise ValueError(f"poses.yaml: pose {pose.id!r}, field 'alternatives': {alt!r} {why}")
    return MappingProxyType(poses)


def suggest(pose_id: str) -> str | None:
    """The library id closest to a mistyped one, if any is close."""
    close = difflib.get_close_matches(pose_id, list(library()), n=1, cutoff=0.6)
    return close[0] if close else None


def get_pose(pose_id: str) -> Pose:
    """The pose with this id; an unknown id raises LookupError with a "did you mean" suggestion."""
    pose = library().get(pose_id)
    if pose is not None:
        return pose
    near = suggest(pose_id)
    hint = f" — did you mean {near!r}?" if near else " (see docs/poses.md for the list)"
    raise LookupError(f"unknown pose {pose_id!r}{hint}")


PHRASE_LANGUAGE = "en"
"""The language the pose library and phrases.yaml are written in (BCP 47 primary subtag): a voice
for another language would read English words with its own letter-to-sound rules."""


@cache
def phrases() -> Mapping[str, tuple[str, ...]]:
    """The guidance vocabulary by slot (plus ``numbers``, "one" to "thirty"), validated once and cached."""
    raw = _read("phrases.yaml")
    if not isinstance(raw, dict):
        raise ValueError("phrases.yaml: expected a mapping of slot to phrases")
    expected = set(PHRASE_SLOTS) | {"numbers"}
    for slot in sorted(set(raw) ^ expected):
        near = difflib.get_close_matches(str(slot), expected, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        why = "missing" if slot in expected else f"unknown slot{hint}"
        raise ValueError(f"phrases.yaml: slot {slot!r}: {why}")
    table: dict[str, tuple[str, ...]] = {}
    for slot in PHRASE_SLOTS:
        fewest, most = _ORDERED.get(slot, (3, 6))
        needs = frozenset({PLACEHOLDERS[slot]}) if slot in PLACEHOLDERS else frozenset()
        limit = _SLOT_WORDS.get(slot, PHRASE_WORDS)
        table[slot] = tuple(_phrase(slot, v, needs, limit) for v in _entries(slot, raw[slot], fewest, most))
    numbers = raw["numbers"]
    if not isinstance(numbers, list) or len(numbers) != NUMBER_COUNT:
        raise ValueError(f"phrases.yaml: slot 'numbers': expected the {NUMBER_COUNT} words one to thirty")
    if not all(isinstance(n, str) and n == n.strip().lower() and n for n in numbers):
        raise ValueError("phrases.yaml: slot 'numbers': write each number as a lower-case word")
    table["numbers"] = tuple(numbers)
    return MappingProxyType(table)


def _entries(slot: str, value: Any, fewest: int, most: int) -> list[Any]:
    entries = [value] if isinstance(value, str) else value
    if not isinstance(entries, list) or not fewest <= len(entries) <= most:
        raise ValueError(f"phrases.yaml: slot {slot!r}: expected {fewest} to {most} entries, got {value!r}")
    return entries


def _phrase(slot: str, text: Any, needs: frozenset[str], limit: int) -> str:
    where = f"phrases.yaml: slot {slot!r}"
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: expected non-empty text, got {text!r}")
    text, braces = text.strip(), _BRACED.findall(text)
    if {b[1:-1] for b in braces} != needs or not len(braces) == text.count("{") == text.count("}"):
        allowed = ", ".join("{" + n + "}" for n in sorted(needs)) or "no placeholders"
        raise ValueError(f"{where}: {text!r} must use exactly {allowed}")
    problem = _problem(text, limit, open_end=slot == "easier" and text.endswith("{easier}"))
    if problem:
        raise ValueError(f"{where}: {problem}")
    return text
