"""Sessions without YAML: from what a person asks for (length, focus, where, props, level) to a routine.

A generated session follows the rules a physiotherapist would check a hand-written one against:

- **Warm up, work, close.** It opens with gentle movement (a reps pose), does its main work on the
  focus areas, and ends on a calm pose (``calm: true`` in the library), so the body eases in and out.
- **Few changes of position.** Poses are grouped by position and the groups are ordered so the moves
  between them are the fewest and shortest (``movement.move_ms``); a floor block is never broken by a
  standing pose. A session may change position at most ``max_changes(length)`` times.
- **Balanced.** Where the back is the focus, a pose that rounds the back (flexion) is matched by one
  that arches it (extension, or a pose that does both, such as cat-cow).
- **Within limits.** Only poses at or below the level asked for, in the positions allowed, with the
  props to hand, and none the person asked to leave out.
- **Doses as prescribed.** Every pose keeps its library dose. The length is met by choosing how many
  poses and rounds, never by stretching a hold: the fitted session keeps holds at their dose and lets
  only the quiet between poses give way.

The same request and seed always give the same routine; another seed gives a different one, chosen
with the same rules. Lengths are estimated from the words to be spoken (``speech_samples``); the
pipeline (``pipeline.make``) then measures the real speech and asks again until both agree.
"""

from __future__ import annotations

import functools
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from audioguide.compile.compiler import HOLD_STRETCH, PACES, compile_routine
from audioguide.compile.compiler import Options as CompileOptions
from audioguide.compile.movement import FLOOR, move_ms
from audioguide.errors import OptionError
from audioguide.load.poses import LEVELS, POSITIONS, PROPS, Pose, library, phrases
from audioguide.model.amounts import Amount
from audioguide.model.routine import BREATH_PATTERNS, TARGET_RANGE_MS, Breath, Routine, Step
from audioguide.schedule import Lengths, measure
from audioguide.units import ms_to_samples

FOCUS: dict[str, frozenset[str]] = {
    "lower back": frozenset({"lower back"}),
    "mid back": frozenset({"mid back", "upper back"}),
    "hips": frozenset({"hips", "hip flexors", "glutes"}),
    "hamstrings": frozenset({"hamstrings"}),
    "neck and shoulders": frozenset({"neck", "shoulders", "upper back", "chest"}),
    "whole body": frozenset(),  # every area
}
"""What each focus a person can ask for means in the library's ``areas``."""
BACK_FOCUS = frozenset({"lower back", "mid back", "whole body"})
"""Foci where rounding the back must be balanced by arching it."""

WHERE: dict[str, frozenset[str]] = {
    "floor": FLOOR,
    "chair": frozenset({"seated"}),
    "standing": frozenset({"standing"}),
}
"""Where a session may happen, as positions."""
DEFAULT_PROPS = ("mat", "chair", "wall", "cushion")
"""What most homes have to hand; a strap or a foam roller must be asked for."""

TRIES = 6
CHANGE_COST = ms_to_samples(20_000)
"""Choosing among openings and endings, a change of position weighs as much as 20 s of stretched quiet."""
"""Openings and endings tried before a session does without them (only very short ones do)."""
NEAR_MS = 10_000
"""A move this short that stays on the floor or off it (lying to hands and knees, chair to standing)
keeps a session in one place."""
SHORT_FRACTION = 0.05
"""A session this much short of its length at rest, with nothing left to add, says so in a note."""
ROUNDS_MAX = 3
"""A generated step is repeated at most this many times; beyond that, variety is better."""
SPEECH_MS_PER_WORD = 330
"""Estimate of the default voice: a least-squares fit of clip length to word count over the phrases
of three generated 15-minute sessions (328 ms a word plus 283 ms), default profile, normal pace."""
SPEECH_OVERHEAD_MS = 280


def max_changes(length_ms: int) -> int:
    """How many changes of position a session may make: two up to ten minutes, one more per ten after."""
    return 2 + max(0, length_ms - 1) // 600_000


@dataclass(frozen=True)
class Request:
    """What a person asks for. ``avoid`` holds positions (or "floor") and pose ids."""

    length_ms: int
    about: bool = False
    focus: tuple[str, ...] = ("whole body",)
    where: tuple[str, ...] = tuple(WHERE)
    avoid: tuple[str, ...] = ()
    props: tuple[str, ...] = DEFAULT_PROPS
    level: str = "gentle"
    seed: int = 1
    compile: CompileOptions = field(default_factory=CompileOptions)
    # A program's later sessions: holds grow within their band, and poses come in a few at a time.
    hold_scale: float = 1.0  # every timed or counted hold, times this (1 to HOLD_STRETCH)
    known: frozenset[str] = frozenset()  # poses taught in earlier sessions
    new_limit: int | None = None  # at most this many poses not in ``known`` (None: any)

    def __post_init__(self) -> None:
        """Refuse what cannot be generated, naming the option (OptionError)."""
        low, high = TARGET_RANGE_MS
        if not low <= self.length_ms <= high:
            raise OptionError("length", f"must be from {low // 1000} seconds to {high // 3_600_000} hours")
        for name, values, allowed in (
            ("focus", self.focus, tuple(FOCUS)),
            ("where", self.where, tuple(WHERE)),
            ("props", self.props, PROPS),
        ):
            for value in values:
                if value not in allowed:
                    raise OptionError(name, f"unknown {name} '{value}'; expected one of {', '.join(allowed)}")
        if not self.focus or not self.where:
            raise OptionError("focus" if not self.focus else "where", "give at least one")
        if self.level not in LEVELS:
            raise OptionError("level", f"unknown level '{self.level}'; expected one of {', '.join(LEVELS)}")
        poses = library()
        for item in self.avoid:
            if item not in POSITIONS and item != "floor" and item not in poses:
                raise OptionError(
                    "avoid", f"'{item}' is neither a position ({', '.join(POSITIONS)}, floor) nor a pose id"
                )
        if not 1.0 <= self.hold_scale <= HOLD_STRETCH:
            raise OptionError("hold_scale", f"must be from 1 to {HOLD_STRETCH:g}")
        if not 0 <= self.seed < 2**63:
            raise OptionError("seed", "must be a whole number from 0")
        avoided = tuple(a for a in self.avoid if a in POSITIONS or a == "floor")
        object.__setattr__(self, "compile", replace(self.compile, avoid=avoided, duration_ms=None))

    @property
    def positions(self) -> frozenset[str]:
        """Where the session may go: the places asked for, less the positions avoided."""
        allowed = frozenset().union(*(WHERE[w] for w in self.where))
        return allowed - set(self.compile.avoid)

    def focus_areas(self) -> frozenset[str] | None:
        """The library areas the focus covers; None when any area will do (whole body)."""
        if "whole body" in self.focus:
            return None
        return frozenset().union(*(FOCUS[f] for f in self.focus))

    def describe(self) -> str:
        """The request as the options that make it again."""
        parts = [f"--length {'~' if self.about else ''}{_human(self.length_ms)}"]
        parts += [f'--focus "{f}"' if " " in f else f"--focus {f}" for f in self.focus]
        if set(self.where) != set(WHERE):
            parts += [f"--where {w}" for w in self.where]
        parts += [f"--avoid {a}" for a in self.avoid]
        if set(self.props) != set(DEFAULT_PROPS):
            parts.append(f"--props {','.join(self.props) or 'none'}")
        if self.level != "gentle":
            parts.append(f"--level {self.level}")
        options = self.compile
        if options.verbosity != "full":
            parts.append(f"--verbosity {options.verbosity}")
        if options.pace != "normal":
            parts.append(f"--pace {options.pace}")
        parts.append(f"--seed {self.seed}")
        return " ".join(parts)


@dataclass(frozen=True)
class Choice:
    """One generated step: the pose, its rounds, and why it is there (said in the YAML and by ``plan``)."""

    pose: Pose
    role: str  # "warm-up", "main" or "close"
    rounds: int = 1

    def why(self, request: Request) -> str:
        areas = request.focus_areas()
        if self.role == "warm-up":
            return "warm-up: gentle movement before holding stretches"
        if self.role == "close":
            return "close: a calm pose to end on"
        matched = [a for a in self.pose.areas if areas is None or a in areas]
        reason = f"main work: {', '.join(matched or self.pose.areas)}"
        if self.pose.spine in ("flexion", "extension"):
            reason += f" ({self.pose.spine})"
        return reason + (f"; {self.rounds} rounds to fill the length" if self.rounds > 1 else "")


@dataclass(frozen=True)
class Generated:
    """A generated session: its steps in order, the routine they make, and its estimated lengths."""

    request: Request
    choices: tuple[Choice, ...]
    routine: Routine
    lengths: Lengths
    notes: tuple[str, ...] = ()  # what could not be done as asked, e.g. no calm pose to end on

    @property
    def position_changes(self) -> int:
        return changes(self.choices)


Speech = Callable[[str], int]
"""How long a phrase lasts, in samples."""


def estimate_speech(pace: str = "normal") -> Speech:
    """A speech-length estimate from the words alone, for the default voice at ``pace``."""
    rate = PACES[pace][0]

    def samples(text: str) -> int:
        return ms_to_samples(round((len(text.split()) * SPEECH_MS_PER_WORD + SPEECH_OVERHEAD_MS) / rate))

    return samples


def changes(choices: Sequence[Choice]) -> int:
    """How many times the listener changes position."""
    return sum(a.pose.position != b.pose.position for a, b in itertools.pairwise(choices))


def eligible(request: Request) -> list[Pose]:
    """Every library pose the request allows, in library order."""
    rank = LEVELS.index(request.level)
    return [
        pose
        for pose in library().values()
        if pose.position in request.positions
        and pose.id not in request.avoid
        and set(pose.props) <= set(request.props)
        and LEVELS.index(pose.level) <= rank
    ]


def generate(request: Request, speech: Speech | None = None) -> Generated:
    """A well-sequenced routine for ``request``, its length estimated with ``speech``."""
    return _Generator(request, speech or estimate_speech(request.compile.pace)).run()


class _Generator:
    def __init__(self, request: Request, speech: Speech) -> None:
        self.request = request
        self.speech = speech
        self.rng = random.Random(request.seed)
        self.pool = eligible(request)
        self.areas = request.focus_areas()
        self.target = ms_to_samples(request.length_ms)
        self.notes: list[str] = []
        if not self.pool:
            raise OptionError(
                "where", "no pose in the library fits these choices; allow more places or props"
            )

    def novel(self, candidates: Sequence[Pose], chosen: Sequence[Pose]) -> list[Pose]:
        """``candidates`` less the poses a program has not taught yet, once this session has as many
        new poses as it may."""
        limit, known = self.request.new_limit, self.request.known
        if limit is None or sum(p.id not in known for p in chosen) < limit:
            return list(candidates)
        return [p for p in candidates if p.id in known]

    def dose(self, pose: Pose) -> Amount | None:
        """The pose's hold, grown by the request's ``hold_scale`` (whole seconds, whole breaths)."""
        hold, scale = pose.hold, self.request.hold_scale
        if hold is None or scale == 1.0:
            return hold
        if hold.breaths is not None:
            return Amount(breaths=round(hold.breaths * scale))
        assert hold.ms is not None
        return Amount(ms=round(hold.ms * scale / 1000) * 1000)

    def matches(self, pose: Pose) -> bool:
        return self.areas is None or bool(self.areas & set(pose.areas))

    def pick(self, candidates: Sequence[Pose], weight: Callable[[Pose], float]) -> Pose | None:
        weights = [weight(p) for p in candidates]
        if not candidates or not any(weights):
            return None
        return self.rng.choices(list(candidates), weights)[0]

    def run(self) -> Generated:
        warms = [p for p in self.pool if p.kind == "reps" and p.level == "gentle"]
        warms = [p for p in warms if self.matches(p)] or warms  # warm up what the session works on
        calms = [p for p in self.pool if p.calm]
        best: tuple[tuple[int, bool, int], list[Choice], Lengths, list[str]] | None = None
        # A few openings and endings drawn by the seed; then, for sessions too short for both, one or
        # neither. The first whose length fits with every hold at its dose wins.
        for attempt in range(TRIES + 2):
            warm = self.pick(self.novel(warms, []), self.opening_weight) if attempt <= TRIES else None
            close = (
                self.pick(
                    self.novel([p for p in calms if p is not warm], [warm] if warm else []),
                    functools.partial(_nearness, warm.position if warm else None),
                )
                if attempt < TRIES + 1
                else None
            )
            choices, lengths, exhausted = self.fill(warm, close)
            notes = []
            if exhausted:
                notes.append(
                    "every pose that fits these choices is used, so the quiet between poses is longer"
                )
            if warm is None:
                notes.append(
                    "no gentle movement fits these choices, so the session starts with a hold"
                    if not warms
                    else "the session is too short for a warm-up as well as its main work"
                )
            if close is None:
                notes.append(
                    "no calm pose fits these choices, so the session ends on its last stretch"
                    if not calms
                    else "the session is too short to end on a calm pose as well"
                )
            if any(c.role == "main" and not self.matches(c.pose) for c in choices):
                notes.append("too few poses for this focus fit these choices, so others fill the length")
            score = self.score(lengths, changes(choices), bare=attempt >= TRIES)
            if choices and (best is None or score < best[0]):
                best = (score, choices, lengths, notes)
            if best is not None and best[0] <= (0, False, self.target // 20):
                break  # within 5% at rest, few moves, and every hold at its dose
        if best is None:
            raise OptionError(
                "where", "no pose in the library fits these choices; allow more places or props"
            )
        _, choices, lengths, notes = best
        return Generated(self.request, tuple(choices), self.routine(choices), lengths, tuple(notes))

    def opening_weight(self, pose: Pose) -> float:
        """An opening for the focus is likelier, and more so where many focus poses are near it:
        the opening decides where most of the session happens."""
        floor = pose.position in FLOOR
        nearby = sum(self.matches(p) and (p.position in FLOOR) == floor for p in self.pool)
        again = 3.0 if pose.id in self.request.known else 1.0  # a program opens as it has before
        return (6.0 if self.matches(pose) else 1.0) * (1 + nearby) * again

    def score(self, lengths: Lengths, changes: int, bare: bool) -> tuple[int, bool, int]:
        """How far the target lies outside the range where every hold keeps its dose (0: inside), then
        whether it does without a warm-up or a calm end, then how far the quiet between poses must
        stretch or shrink to meet it and how often the listener moves: smaller is better."""
        miss = max(lengths.dose_low - self.target, self.target - lengths.dose_high, 0)
        return miss, bare, abs(lengths.natural - self.target) + CHANGE_COST * changes

    def fill(self, warm: Pose | None, close: Pose | None) -> tuple[list[Choice], Lengths, bool]:
        """Main work added between ``warm`` and ``close`` until the session is as near its length as
        poses and rounds can bring it; and whether it ran out of poses and rounds well short."""
        ends = [c for c in (warm, close) if c is not None]
        mains: list[Choice] = []
        best = self.arrange(warm, mains, close)
        best_lengths = self.lengths(best)
        while best_lengths.natural < self.target:
            grown = self.grow(warm, mains, close, ends)
            if grown is None:
                return best, best_lengths, best_lengths.natural < self.target * (1 - SHORT_FRACTION)
            arranged = self.arrange(warm, grown, close)
            lengths = self.lengths(arranged)
            if lengths.natural > self.target and (
                lengths.dose_low > self.target
                or self.target - best_lengths.natural < lengths.natural - self.target
            ):
                # The step the rules prefer overshoots: the smallest step that lands nearer, if any.
                return self.last_step(warm, mains, close, ends, best, best_lengths)
            mains, best, best_lengths = grown, arranged, lengths
        return best, best_lengths, False

    def last_step(
        self,
        warm: Pose | None,
        mains: list[Choice],
        close: Pose | None,
        ends: list[Pose],
        best: list[Choice],
        best_lengths: Lengths,
    ) -> tuple[list[Choice], Lengths, bool]:
        """The session short of its length, or with one more round or new focus pose (whichever
        brings it nearest with every hold at its dose): the last step of ``fill``."""
        used = {c.pose.id for c in mains} | {p.id for p in ends}
        cap = max_changes(self.request.length_ms)
        fresh = self.novel(
            [p for p in self.pool if p.id not in used and self.matches(p)], [*ends, *(c.pose for c in mains)]
        )
        options = [
            [replace(c, rounds=c.rounds + 1) if c is m else c for c in mains]
            for m in mains
            if m.rounds < ROUNDS_MAX
        ]
        options += [[*mains, Choice(p, "main")] for p in self.balanced(fresh, mains, ends)]
        for option in options:
            arranged = self.arrange(warm, option, close)
            if changes(arranged) > cap:
                continue
            lengths = self.lengths(arranged)
            if lengths.dose_low <= self.target and abs(lengths.natural - self.target) < abs(
                best_lengths.natural - self.target
            ):
                best, best_lengths = arranged, lengths
        return best, best_lengths, False

    def grow(
        self, warm: Pose | None, mains: list[Choice], close: Pose | None, ends: list[Pose]
    ) -> list[Choice] | None:
        """``mains`` with one more pose or round, in this order of preference: a new pose for the focus
        where the listener already is (or a short move away), a second round of a focus pose, a focus
        pose further away, (past a program's limit of new poses) one more focus pose nearby, a third
        round, another pose nearby, another round of anything, another pose further away.
        New poses are balanced (``balanced``) and never exceed the changes of position allowed."""
        used = {c.pose.id for c in mains} | {p.id for p in ends}
        cap = max_changes(self.request.length_ms)
        # Poses join their position's group, so the changes of position depend on the position only.
        moves = {
            position: changes(self.arrange(warm, [*mains, Choice(p, "main")], close))
            for position, p in {p.position: p for p in self.pool}.items()
        }
        fits = [
            p
            for p in self.pool
            if p.id not in used and moves[p.position] <= cap and not (p.calm and p.spine == "neutral")
        ]  # a resting pose (constructive rest, crocodile) is an ending, not main work
        unlimited = fits
        fits = self.novel(fits, [*ends, *(c.pose for c in mains)])
        here = {c.pose.position for c in mains} | {p.position for p in ends}

        def near(pose: Pose) -> bool:  # a short move, without getting down to the floor or up from it
            floor = pose.position in FLOOR
            return not here or any(
                (h in FLOOR) == floor and move_ms(h, pose.position) <= NEAR_MS for h in here
            )

        def weight(pose: Pose) -> float:  # staying put is better than moving, and near better than far
            if pose.position in here or not here:
                return 1.0
            return max((1.0 + move_ms(h, pose.position) / 4000) ** -1 for h in here)

        def new(candidates: list[Pose], balance: bool = True) -> list[Choice] | None:
            pose = self.pick(self.balanced(candidates, mains, ends) if balance else candidates, weight)
            return None if pose is None else [*mains, Choice(pose, "main")]

        def again(candidates: list[Choice]) -> list[Choice] | None:
            if not candidates:
                return None
            chosen = min(candidates, key=lambda c: c.rounds)  # the first with the fewest rounds
            return [replace(c, rounds=c.rounds + 1) if c is chosen else c for c in mains]

        focused = [p for p in fits if self.matches(p)]
        others = [p for p in fits if not self.matches(p)]
        repeatable = [c for c in mains if c.rounds < ROUNDS_MAX]
        for grown in (
            lambda: new([p for p in focused if near(p)]),
            lambda: again([c for c in repeatable if self.matches(c.pose) and c.rounds < 2]),
            lambda: new(focused),
            # Past a program's limit of new poses: another focus pose nearby rather than a third round.
            lambda: new([p for p in unlimited if self.matches(p) and near(p)]),
            lambda: again([c for c in repeatable if self.matches(c.pose)]),
            lambda: new([p for p in others if near(p)]),
            lambda: again(repeatable),
            lambda: new(others),
            lambda: new(unlimited),
            lambda: new(unlimited, balance=False),  # the last resort: nothing else is left
        ):
            result = grown()
            if result is not None:
                return result
        return None

    def balanced(self, candidates: list[Pose], mains: list[Choice], ends: list[Pose]) -> list[Pose]:
        """Where the back is the focus, the poses that keep rounding and arching the back in balance:
        once more poses round it than arch it (or the reverse), the next one must not add to that side."""
        if not BACK_FOCUS & set(self.request.focus):
            return candidates
        spines = [c.pose.spine for c in mains] + [p.spine for p in ends]
        rounding = spines.count("flexion") - spines.count("both")
        arching = spines.count("extension") - spines.count("both")
        if rounding > max(arching, 0):
            kept = [p for p in candidates if p.spine != "flexion"]
        elif arching > max(rounding, 0):
            kept = [p for p in candidates if p.spine != "extension"]
        else:
            return candidates
        return kept

    def arrange(self, warm: Pose | None, mains: list[Choice], close: Pose | None) -> list[Choice]:
        """Warm-up, main work grouped by position in the order with the least moving, then the close."""
        start = warm.position if warm else None
        end = close.position if close else None
        groups: dict[str, list[Choice]] = {}
        for choice in mains:
            groups.setdefault(choice.pose.position, []).append(choice)
        first = groups.pop(start, []) if start else []
        last = groups.pop(end, []) if end and end != start else []
        middle = list(groups)

        def cost(order: tuple[str, ...]) -> int:
            stops = [p for p in (start, *order, end) if p is not None]
            return sum(move_ms(a, b) for a, b in itertools.pairwise(stops))

        order = min(itertools.permutations(middle), key=cost) if middle else ()
        blocks = [first, *(groups[p] for p in order), last]
        # Within a position, movement before stillness: reps, then holds.
        body = [c for block in blocks for c in sorted(block, key=lambda c: c.pose.kind != "reps")]
        head = [Choice(warm, "warm-up")] if warm else []
        tail = [Choice(close, "close")] if close else []
        return [*head, *body, *tail]

    def routine(self, choices: Sequence[Choice]) -> Routine:
        steps = tuple(
            Step(
                kind="pose",
                line=0,
                pose=c.pose.id,
                hold=self.dose(c.pose),
                reps=c.pose.reps if c.pose.kind == "reps" else None,
                tempo_ms=c.pose.tempo_ms,
                sides="both" if c.pose.one_sided else None,
                rounds=c.rounds,
                guidance="brief" if c.pose.id in self.request.known else None,
            )
            for c in choices
        )
        return Routine(
            id="generated",
            source="<generated>",
            title=title(self.request),
            steps=steps,
            breath=self.breath(),
        )

    def breath(self) -> Breath:
        pattern = self.request.compile.breath
        return pattern if isinstance(pattern, Breath) else BREATH_PATTERNS["relaxed"]

    def lengths(self, choices: Sequence[Choice]) -> Lengths:
        if not choices:
            return Lengths(0, 0, 0, 0, 0)
        script = compile_routine(self.routine(choices), self.request.compile)
        return measure(script, self.speech)


def _nearness(start: str | None, pose: Pose) -> float:
    """Weight of ending on ``pose`` after opening at ``start``: a calm end near the start is likelier."""
    return (1.0 + (move_ms(start, pose.position) / 4000 if start else 0)) ** -2


def title(request: Request) -> str:
    """A title the welcome can speak ("Hello, and welcome to ..."): "Fifteen Minutes for the Lower Back"."""
    minutes = round(request.length_ms / 60_000)
    numbers = phrases()["numbers"]
    count = numbers[minutes - 1].title() if 1 <= minutes <= len(numbers) else str(minutes)
    length = f"{count} Minute{'s' if minutes != 1 else ''}" if minutes >= 1 else "A Few Moments"
    focus = " and ".join(f.title() for f in request.focus).replace(" And ", " and ")
    return f"{length} for the {focus}"


def _human(ms: int) -> str:
    minutes, rest = divmod(ms // 1000, 60)
    return f"{minutes}m{rest:02d}s" if rest and minutes else f"{minutes}m" if minutes else f"{rest}s"


def routine_yaml(
    made: Generated,
    version: str,
    voice: str = "default",
    *,
    title: str | None = None,
    taught: frozenset[str] = frozenset(),
    header: Sequence[str] = (),
) -> str:
    """The routine as YAML a person can read and edit, with a header saying how it was made.

    ``taught``: poses a listener has been taught in full already (a program's earlier episodes);
    their steps say ``guidance: brief``.
    """
    request = made.request
    lines = list(header) or [
        f"# Made by `audioguide make` (audioguide {version}), seed {request.seed}:",
        f"#   audioguide make {request.describe()}",
        "# The same options and seed make this routine again; another --seed makes a different one.",
        "# It is an ordinary routine: edit it freely (docs/routines.md), then check it with",
        "#   audioguide plan --check THIS_FILE",
    ]
    options = request.compile
    if options.verbosity != "full" or options.pace != "normal":
        lines.append(
            f"# Its length was fitted for --verbosity {options.verbosity} --pace {options.pace}: "
            "build it with those."
        )
    lines += [f"# Note: {note}." for note in made.notes]
    poses = [c.pose.name for c in made.choices]
    description = (
        f"Made for {', '.join(request.focus)}: {', '.join(poses)}. "
        f"{made.position_changes} change{'s' if made.position_changes != 1 else ''} of position."
    )
    lines += [
        f"title: {_quoted(title or made.routine.title)}",
        f"description: {_quoted(description)}",
        f"duration: {'~' if request.about else ''}{_human(request.length_ms)}",
        f"voice: {_quoted(voice) if voice != 'default' else voice}",
        f"breath: {_breath_yaml(made.routine.breath)}",
        "ambience: none",
        "steps:",
    ]
    for choice, step in zip(made.choices, made.routine.steps, strict=True):
        pose = choice.pose
        lines.append(f"  - pose: {pose.id}")
        if step.reps is not None and step.tempo_ms is not None:
            lines += [f"    reps: {step.reps}", f"    tempo: {_amount(Amount(ms=step.tempo_ms))}"]
        elif step.hold is not None:
            lines.append(f"    hold: {_amount(step.hold)}")
        if step.sides:
            lines.append(f"    sides: {step.sides}")
        if step.rounds > 1:
            lines.append(f"    rounds: {step.rounds}")
        why = choice.why(request)
        if step.hold is not None and step.hold != pose.hold:
            why += (
                f"; held longer than the library's {_amount(pose.hold)} as the program progresses"
                if pose.hold
                else ""
            )
        if pose.id in taught:
            lines.append("    guidance: brief")
            why += "; taught in full in an earlier episode, so set up briefly"
        lines.append(f"    why: {_quoted(why)}")
    return "\n".join(lines) + "\n"


def _amount(amount: Amount) -> str:
    if amount.breaths is not None:
        return f"{amount.breaths} breaths"
    assert amount.ms is not None
    return f"{amount.ms / 1000:g}s"


def _breath_yaml(breath: Breath) -> str:
    if breath.name in BREATH_PATTERNS and BREATH_PATTERNS[breath.name] == breath:
        return breath.name if breath.name != "4-7-8" else '"4-7-8"'
    parts = {"inhale": breath.inhale_ms, "hold_in": breath.hold_in_ms, "exhale": breath.exhale_ms}
    parts["hold_out"] = breath.hold_out_ms
    return "{" + ", ".join(f"{k}: {v / 1000:g}s" for k, v in parts.items() if v) + "}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
