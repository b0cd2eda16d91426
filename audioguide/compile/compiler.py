"""Stage 2, compile: a Routine becomes a Script of sections, speech, cue sounds and flexible spans."""

from __future__ import annotations

from dataclasses import dataclass, replace

from audioguide.compile.movement import (
    EYES_OPEN,
    EYES_OPEN_MS,
    FLOOR,
    LYING,
    SETTLE_MS,
    SIDE_SETTLE_MS,
    arrival,
    path,
)
from audioguide.compile.wording import (
    POSITION_WORDS,
    UNSAFE,
    Vocabulary,
    chapter_title,
    sentence_name,
    title_case,
)
from audioguide.errors import OptionError, RoutineError
from audioguide.load.poses import POSITIONS, PROPS, Pose, get_pose
from audioguide.model import cues
from audioguide.model.amounts import Amount
from audioguide.model.routine import BREATH_PATTERNS, TARGET_RANGE_MS, Breath, Routine, Step
from audioguide.model.script import Placed, Say, Script, Section, Sound, Span
from audioguide.units import samples_to_ms

VERBOSITY = ("full", "brief", "minimal")
FLOOR_POSITIONS = frozenset({"supine", "prone", "side-lying", None})  # None: an inline pose, position unknown
INTRO = ("full", "short", "none")
PACES = {"slow": (0.9, 1.3), "normal": (1.0, 1.0), "brisk": (1.12, 0.75)}
"""pace -> (speech rate scale, scale of the quiet gaps between phrases)."""

HOLD_SHRINK, HOLD_STRETCH = 0.75, 1.5
"""A timed hold stays within this band of its prescribed dose when a session is fitted to a length;
rests, settling and moving time give way first (see schedule.fit_spans)."""
HOLD_MIN_MS = 5_000
REST_SHRINK, REST_STRETCH = 0.4, 5.0
REST_MIN_MS = 2_000
ARRIVAL_ONLY_WORDS = 6
"""A first setup line this short only names the position ("Come onto your hands and knees."): after the
spoken moves into that position it is left out rather than said twice."""
BREATH_TONES = "Breathe with the tones: a rising tone, breathe in; a falling tone, breathe out."
BREATHE_MS, BREATHE_MIN_MS, BREATHE_MAX_MS = 2_000, 1_000, 45_000
"""Quiet after each pose, to breathe and notice: the first thing a fitted length stretches or shrinks,
so that terse guidance (minimal, brisk) still fills a session without stretching a dose."""
REPEAT_REST_MS = 5_000  # between repeated holds of one side
BREATH_LEAD_MS = 1_500  # from the hold's chime to its first breath
CHIME_ADVANCE_MS = 900
SPEECH_MARGIN_MS = 250  # speech in a breath or rep phase must end this long before the phase does
TAIL = (4_000, 3_000, 10_000)  # the closing bell rings out in this span (base, min, max)


@dataclass(frozen=True)
class Options:
    """How to compile: verbosity, pace, the opening note, positions to avoid, and overrides."""

    verbosity: str = "full"
    pace: str = "normal"
    intro: str = "full"
    avoid: tuple[str, ...] = ()
    duration_ms: int | None = None
    duration_about: bool = False  # the target is about duration_ms: the nearest achievable length
    breath: Breath | str | None = None  # a pattern, or the name of one in BREATH_PATTERNS

    def __post_init__(self) -> None:
        """Check every option here, so the library refuses what the CLI refuses (OptionError)."""
        for name, value, allowed in (
            ("verbosity", self.verbosity, VERBOSITY),
            ("pace", self.pace, PACES),
            ("intro", self.intro, INTRO),
        ):
            if value not in allowed:
                raise OptionError(name, f"unknown {name} '{value}'; expected one of {', '.join(allowed)}")
        if "floor" in self.avoid:  # every position on the floor: kneeling, on hands and knees, lying
            expanded = [p for p in self.avoid if p != "floor"] + [p for p in POSITIONS if p in FLOOR]
            object.__setattr__(self, "avoid", tuple(dict.fromkeys(expanded)))
        for position in self.avoid:
            if position not in POSITIONS:
                raise OptionError(
                    "avoid", f"unknown position '{position}'; positions: {', '.join(POSITIONS)}, or floor"
                )
        if isinstance(self.breath, str):
            if self.breath not in BREATH_PATTERNS:
                raise OptionError(
                    "breath",
                    f"unknown breath pattern '{self.breath}'; expected one of {', '.join(BREATH_PATTERNS)}",
                )
            object.__setattr__(self, "breath", BREATH_PATTERNS[self.breath])
        if self.duration_ms is not None and not TARGET_RANGE_MS[0] <= self.duration_ms <= TARGET_RANGE_MS[1]:
            low, high = TARGET_RANGE_MS
            raise OptionError("duration", f"must be from {low // 1000} seconds to {high // 3_600_000} hours")


def _inline_pose(step: Step) -> Pose:
    reps_kind = step.tempo_ms is not None
    return Pose(
        id="inline",
        name=step.name or "this pose",
        position=step.position or "",
        areas=(),
        one_sided=False,
        kind="reps" if reps_kind else "hold",
        setup=step.say,
        brief=step.say[0],
        cues=(),
        release="",
        easier="",
        cautions=(),
        alternatives=(),
        rep_cues=(),
        props=step.props,
        hold=None if reps_kind else Amount(ms=20_000),
        reps=10 if reps_kind else 1,
        tempo_ms=step.tempo_ms,
    )


class _Compiler:
    def __init__(self, routine: Routine, options: Options) -> None:
        self.routine = routine
        self.options = options
        self.full = options.verbosity == "full"
        self.minimal = options.verbosity == "minimal"
        self.gap_scale = PACES[options.pace][1]
        self.breath = options.breath if isinstance(options.breath, Breath) else routine.breath
        self.vocab = Vocabulary(routine.title)
        self.holds_done = 0
        self.position_line: str | None = None  # the last pose's "get into position" sentence
        self.last_position: str | None = None  # where the listener is (None: not known)
        self.breath_explained = False  # the first breath hold says which tone is in and which out
        self.said_position: str | None = None  # the position the words last put the listener in

    def gap(self, ms: int) -> int:
        return round(ms * self.gap_scale)

    def say(self, text: str, pause_ms: int = 600) -> Say:
        return Say(text, self.gap(pause_ms))

    # -- the whole session ---------------------------------------------------------------------------
    def compile(self) -> Script:
        steps = []
        for i, step in enumerate(self.routine.steps):
            pose = self.resolve(i, step)
            if pose is not None and step.pose is not None and pose.id != step.pose:
                # A substitute keeps its own dose: a hold's seconds mean nothing to a repeated movement.
                step = replace(step, pose=pose.id, hold=None, reps=None, tempo_ms=None, sides=None)
            steps.append((i, step, pose))
        pose_steps = [i for i, step, _ in steps if step.kind == "pose"]
        needed = {prop for _, _, pose in steps if pose is not None for prop in pose.props}
        sections = [self.welcome(tuple(p for p in PROPS if p in needed))]
        lead: list[Say] = []  # words of a say step, spoken as the lead-in to the pose after it
        for k, (i, step, pose) in enumerate(steps):
            self.check_words(i, step)
            if step.kind == "say" and self.moves_into_avoided(step):
                continue  # "lie down on your back again" must not survive --avoid supine
            if step.kind == "say":
                self.position_line = None  # free words usually move the listener somewhere new
                words = [self.say(s, 900) for s in step.say]
                if k + 1 < len(steps) and steps[k + 1][1].kind == "pose":
                    lead = words  # "Roll onto your side..." belongs to the chapter of what comes next
                else:
                    sections.append(Section(chapter_title(step.say[0]), i, tuple(words), step.line))
            elif step.kind == "rest":
                sections.append(self.rest(i, step))
            else:
                assert pose is not None
                if len(pose_steps) == 1 or i == pose_steps[0]:
                    order = "first_pose"
                else:
                    order = "last_pose" if i == pose_steps[-1] else "next_pose"
                parts = self.pose(i, step, pose, order)
                if lead:
                    parts[0] = replace(parts[0], items=(*lead, *parts[0].items))
                    lead = []
                sections.extend(parts)
        sections.append(self.closing())
        target: int | None = self.options.duration_ms
        about = self.options.duration_about
        if target is None:
            target, about = self.routine.duration_ms, self.routine.duration_about
        return Script(self.routine.title, tuple(sections), target, self.routine.source, about)

    def resolve(self, index: int, step: Step) -> Pose | None:
        if step.kind != "pose":
            return None
        if step.pose is None:
            return _inline_pose(step)
        pose = get_pose(step.pose)
        if pose.position not in self.options.avoid:
            return pose
        for alt_id in pose.alternatives:
            alt = get_pose(alt_id)
            if alt.position not in self.options.avoid:
                return alt
        raise RoutineError(
            f"pose '{pose.id}' is {pose.position} and has no alternative outside "
            f"{', '.join(self.options.avoid)}",
            file=self.routine.source,
            line=step.line,
            key=f"steps[{index}].pose",
            hint="remove this step or choose another pose",
        )

    def moves_into_avoided(self, step: Step) -> bool:
        """True when free words would move the listener into a position the options avoid."""
        return any(
            POSITION_WORDS[position].search(sentence)
            for position in self.options.avoid
            if position in POSITION_WORDS
            for sentence in step.say
        )

    def check_words(self, index: int, step: Step) -> None:
        texts = [(f"steps[{index}].say", s) for s in step.say]
        if step.name:
            texts.append((f"steps[{index}].name", step.name))
        for key, sentence in texts:
            if UNSAFE.search(sentence):
                raise RoutineError(
                    f"{sentence!r} tells a listener to push on through discomfort",
                    file=self.routine.source,
                    line=step.line,
                    key=key,
                    hint="guidance here always says to ease off or stop when something hurts",
                )

    # -- welcome and closing -------------------------------------------------------------------------
    def welcome(self, props: tuple[str, ...]) -> Section:
        items: list[Say | Sound | Span] = [
            self.say(self.vocab.pick("welcome", title=self.routine.title), 900)
        ]
        if self.options.intro == "full" and not self.minimal:
            safety = self.vocab.all("safety_full")
            items += [self.say(s, 500 if k < len(safety) - 1 else 1000) for k, s in enumerate(safety)]
        elif self.options.intro != "none":
            items.append(self.say(self.vocab.all("safety_short")[0], 1000))
        if props:  # before anything else: nobody should hunt for a chair with their eyes closed
            items.append(self.say(f"For this session, have {_listed(props)} close by.", 1000))
        if self.full:
            items.append(self.say(self.vocab.pick("settle"), 1500))
        return Section("Welcome", -1, tuple(items))

    def closing(self) -> Section:
        items: list[Say | Sound | Span] = [Sound("transition", self.gap(1200))]
        if self.full:
            closing = self.vocab.all("closing")
            if self.last_position not in FLOOR_POSITIONS:  # ended seated or standing: no "if lying down"
                closing = tuple(s for s in closing if not POSITION_WORDS["lying"].search(s))
            items += [self.say(s, 700) for s in closing]
        else:
            if self.last_position in LYING:  # never sit straight up from lying: roll to the side first
                items.append(self.say("When you are ready, roll onto your side before you get up.", 700))
            items.append(self.say(self.vocab.pick("closing_brief"), 700))
        items.append(Sound("bell", 0))
        bell_ms = samples_to_ms(cues.natural_length("bell") or 0)
        base, low, high = (max(v, bell_ms + 500) for v in TAIL)
        items.append(Span("rest", base, low, high, "the closing bell rings out"))
        return Section("Closing", -1, tuple(items))

    def rest(self, index: int, step: Step) -> Section:
        assert step.rest_ms is not None
        items: list[Say | Sound | Span] = []
        if step.say:
            items += [self.say(s, 600) for s in step.say]
        elif not self.minimal:
            items.append(self.say(self.vocab.pick("rest"), 600))
        items.append(self.flex_rest(step.rest_ms, f"rest {step.rest_ms / 1000:g} s"))
        return Section("Rest", index, tuple(items), step.line)

    def flex_rest(self, ms: int, label: str, link: str | None = None, side: str | None = None) -> Span:
        low = min(ms, max(REST_MIN_MS, round(ms * REST_SHRINK)))
        return Span("rest", ms, low, round(ms * REST_STRETCH), label, link=link, side=side)

    # -- poses -----------------------------------------------------------------------------------------
    def pose(self, index: int, step: Step, pose: Pose, order: str) -> list[Section]:
        sides_mode = step.sides or ("both" if pose.one_sided else "none")
        choices: dict[str, list[str | None]] = {
            "both": ["left", "right"],
            "left": ["left"],
            "right": ["right"],
        }
        sides = choices.get(sides_mode, [None])
        title = title_case(pose.name)
        position = pose.position or None
        out = []
        for k, side in enumerate(sides):
            items: list[Say | Sound | Span] = []
            first = k == 0
            moved = False
            if first:
                items.append(Sound("transition", self.gap(1000)))
                if self.minimal:
                    items.append(self.say(f"{title}.", 500))
                else:
                    items.append(self.say(self.vocab.pick(order, name=sentence_name(pose.name)), 700))
                moves, moved = self.transition(position)
                items += moves
            side_line: list[Say | Sound | Span] = []
            if side is not None:
                if self.minimal:
                    side_line.append(self.say(f"{title_case(side)} side.", 800))
                elif first:
                    side_line.append(self.say(self.vocab.pick("first_side", side=side), 500))
                else:
                    side_line.append(self.say(self.vocab.pick("switch_side", side=side), 500))
            items += [*side_line, *self.setup(pose, side, first, moved, brief=step.guidance == "brief")]
            settle = SETTLE_MS if first else SIDE_SETTLE_MS
            items.append(Span("rest", settle, settle, settle * 2, "settle", side=side))
            items += self.work(index, step, pose, side)
            if k == len(sides) - 1:  # quiet to breathe before what comes next; it gives way first
                items.append(Span("rest", BREATHE_MS, BREATHE_MIN_MS, BREATHE_MAX_MS, "breathe"))
            chapter = f"{title} ({side} side)" if side else title
            out.append(Section(chapter, index, tuple(items), step.line, side, position, pose.props))
        self.last_position = position
        return out

    def transition(self, position: str | None) -> tuple[list[Say | Sound | Span], bool]:
        """The spoken moves from where the listener is to ``position``, each followed by the time it
        takes, and whether there were any."""
        start = self.last_position
        items: list[Say | Sound | Span] = []
        if position is None or start == position:
            return items, False
        if start is None:  # the first pose: nothing to move from, the setup says where to be
            if position in EYES_OPEN:
                items.append(self.say("Keep your eyes open for this one.", EYES_OPEN_MS))
            return items, False
        chain = path(start, position)
        if start not in EYES_OPEN and any(m.end in EYES_OPEN for m in chain):
            items.append(self.say("Open your eyes.", EYES_OPEN_MS))
        for move in chain:
            items.append(self.say(move.text, 0))
            items.append(Span("rest", move.ms, move.ms, round(move.ms * 1.5), f"move {move.ms / 1000:g} s"))
        self.position_line = None
        self.said_position = position
        return items, True

    def setup(
        self, pose: Pose, side: str | None, first: bool, moved: bool, *, brief: bool = False
    ) -> list[Say | Sound | Span]:
        """How to get into the pose: every setup sentence in full guidance, else its one-line brief
        (also in full guidance when the routine marks the pose as taught already: ``guidance: brief``)."""
        out: list[Say | Sound | Span] = []
        detailed = self.full and not brief
        if first and not moved and pose.position and self.said_position != pose.position and not detailed:
            out.append(self.say(arrival(pose.position), 500))  # brief and minimal still say where to be
        if first:
            self.said_position = pose.position or None
        if self.minimal:
            return out
        if detailed and first:
            lines = [pose.text(s, side) for s in pose.setup]
            if len(lines) > 1 and (
                lines[0] == self.position_line or (moved and len(lines[0].split()) <= ARRIVAL_ONLY_WORDS)
            ):
                lines = lines[1:]  # already there just so, or the move said it: don't ask again
            elif moved and len(lines) > 1 and lines[0].lower().startswith("open your eyes"):
                lines = lines[1:]  # the move opened the eyes and stood up already
            self.position_line = pose.text(pose.setup[0], side)
            out = [self.say(s, 500) for s in lines]
            if pose.easier:
                out.append(self.say(self.vocab.pick("easier", easier=pose.text(pose.easier, side)), 500))
        else:
            shape = pose.text(pose.setup[0], side)
            arrived = moved and len(shape.split()) <= ARRIVAL_ONLY_WORDS  # the move said it all
            if brief and first and self.full and shape != self.position_line and not arrived:
                # Taught before, but the body may not be in the starting shape: say it, then the brief.
                out = [o for o in out if not (isinstance(o, Say) and o.text == arrival(pose.position))]
                out.append(self.say(shape, 500))
            if brief and first and self.full:
                self.position_line = shape
            out.append(self.say(pose.text(pose.brief, side), 500))
        return out

    def work(self, index: int, step: Step, pose: Pose, side: str | None) -> list[Say | Sound | Span]:
        hold = step.hold
        if hold is not None and step.tempo_ms is not None:
            raise RoutineError(
                "a step takes either 'hold' or 'tempo', not both",
                file=self.routine.source,
                line=step.line,
                key=f"steps[{index}]",
                hint="hold is for a still stretch, tempo for a repeated movement",
            )
        moving = hold is None and (step.tempo_ms is not None or pose.kind == "reps")
        link = f"step{index}"
        items: list[Say | Sound | Span] = []
        for round_ in range(step.rounds):
            if round_:
                # A stretch is eased out of and held again; movement rests and goes again as a set
                # ("round" would clash with cues such as cat-cow's "Round.").
                word = "Set" if moving else "Round"
                if not self.minimal:
                    items.append(
                        self.say("Rest a moment." if moving else self.vocab.pick("release_generic"), 500)
                    )
                items.append(self.flex_rest(REPEAT_REST_MS, "between rounds", f"{link}/round{round_}", side))
                if not self.minimal:
                    number, total = self.vocab.number(round_ + 1), self.vocab.number(step.rounds)
                    items.append(self.say(f"{word} {number} of {total}.", 500))
                    items.append(self.say(pose.text(pose.brief, side), self.gap(800)))
                items.append(Span("rest", SETTLE_MS, SETTLE_MS, SETTLE_MS * 2, "settle", side=side))
                link = f"step{index}/round{round_}"
            if moving:
                reps = step.reps or pose.reps or 10
                tempo = step.tempo_ms or pose.tempo_ms or 4_000
                if not self.minimal:
                    items.append(self.say(self.vocab.pick("reps_start", count=self.vocab.number(reps)), 900))
                items.append(self.reps(pose, reps, tempo, side))
                items.append(Sound("chime", self.gap(CHIME_ADVANCE_MS)))
            else:
                amount = hold or pose.hold or Amount(ms=20_000)
                repeats = step.reps or 1
                for r in range(repeats):
                    if amount.breaths is not None:
                        if not self.breath_explained:  # once, in every verbosity: what the tones mean
                            self.breath_explained = True
                            items.append(self.say(BREATH_TONES, 800))
                        if self.full:
                            count = self.vocab.number(amount.breaths)
                            items.append(self.say(self.vocab.pick("hold_breaths", count=count), 600))
                        items.append(self.breath_hold(pose, amount.breaths, side, f"{link}/{r}"))
                    else:
                        assert amount.ms is not None
                        items.append(self.timed_hold(pose, amount.ms, side, f"{link}/{r}"))
                    items.append(Sound("chime", self.gap(CHIME_ADVANCE_MS)))
                    if r < repeats - 1:
                        if not self.minimal:
                            items.append(self.say(self.vocab.pick("release_generic"), 500))
                        items.append(self.flex_rest(REPEAT_REST_MS, "ease off", f"{link}/rest{r}", side))
                        if not self.minimal:
                            items.append(self.say(pose.text(pose.brief, side), self.gap(800)))
                        items.append(Span("rest", SETTLE_MS, SETTLE_MS, SETTLE_MS * 2, "settle", side=side))
        if not self.minimal:
            release = pose.text(pose.release, side) if pose.release else self.vocab.pick("release_generic")
            items.append(self.say(release, 1500))
        return items

    def timed_hold(self, pose: Pose, ms: int, side: str | None, link: str) -> Span:
        """A hold in seconds: flexible, with a chime, then cues placed by fraction so they move with it."""

        def at(text: str, fraction: float, min_span_ms: int) -> Placed:
            return Placed(
                "speech", text, anchor="fraction", fraction=fraction, optional=True, min_span_ms=min_span_ms
            )

        placed = [Placed("cue", "chime", side=side)]
        if self.full:
            self.holds_done += 1
            cues = [pose.text(c, side) for c in pose.cues]
            placed.append(
                Placed(
                    "speech", self.vocab.pick("hold_start"), offset_ms=1300, optional=True, min_span_ms=6_000
                )
            )
            if cues:
                placed.append(at(cues[self.holds_done % len(cues)], 0.27, 16_000))
            placed.append(at(self.vocab.pick("halfway"), 0.5, 30_000))
            if len(cues) > 1:
                placed.append(at(cues[(self.holds_done + 1) % len(cues)], 0.7, 36_000))
            elif self.holds_done % 3 == 0:
                placed.append(at(self.vocab.pick("encourage"), 0.7, 30_000))
        if not self.minimal:
            placed.append(
                Placed(
                    "speech",
                    self.vocab.pick("last_seconds"),
                    anchor="end",
                    offset_ms=6_500,
                    optional=True,
                    min_span_ms=15_000 if self.full else 20_000,
                )
            )
        low = min(ms, max(HOLD_MIN_MS, round(ms * HOLD_SHRINK)))
        return Span(
            "hold", ms, low, round(ms * HOLD_STRETCH), f"hold {ms / 1000:g} s", tuple(placed), link, side
        )

    def breath_hold(self, pose: Pose, breaths: int, side: str | None, link: str) -> Span:
        """A hold counted in breaths: rigid, cued breath by breath, ending on an exhale."""
        breath = self.breath
        phases = breath.phases()
        placed = [Placed("cue", "chime", side=side)]
        cues = [pose.text(c, side) for c in pose.cues] if self.full else []
        for k in range(breaths):
            t = BREATH_LEAD_MS + k * breath.cycle_ms
            last_cycle = k == breaths - 1
            for phase, length in phases:
                if last_cycle and phase == "hold_out":
                    continue  # the hold ends on the exhale
                if phase in ("inhale", "exhale"):
                    placed.append(Placed("cue", phase, offset_ms=t, length_ms=length, side=side))
                if self.full and k < 2:
                    # The first breath of a hold is always called plainly ("Breathe in."); variety after.
                    words = self.vocab.all(phase)[0] if k == 0 else self.vocab.pick(phase)
                    placed.append(Placed("speech", words, offset_ms=t, window_ms=length - SPEECH_MARGIN_MS))
                elif phase == "inhale" and self.full and k >= 2:
                    if last_cycle and breaths >= 3:
                        placed.append(
                            Placed(
                                "speech",
                                self.vocab.pick("last_breath"),
                                offset_ms=t,
                                window_ms=breath.cycle_ms - SPEECH_MARGIN_MS,
                                optional=True,
                            )
                        )
                    elif cues and k % 2 == 0:
                        placed.append(
                            Placed(
                                "speech",
                                cues[(k // 2) % len(cues)],
                                offset_ms=t,
                                window_ms=breath.cycle_ms - SPEECH_MARGIN_MS,
                                optional=True,
                            )
                        )
                t += length
        total = BREATH_LEAD_MS + breaths * breath.cycle_ms - breath.hold_out_ms
        return Span("hold", total, total, total, f"hold {breaths} breaths", tuple(placed), link, side)

    def reps(self, pose: Pose, reps: int, tempo: int, side: str | None) -> Span:
        """Repeated movement at a tempo: rigid; a tick each rep, phase cues first, then the count."""
        placed: list[Placed] = []
        for r in range(reps):
            t = r * tempo
            placed.append(Placed("cue", "tick", offset_ms=t, side=side))
            if self.minimal:
                continue
            if r < 2 and pose.rep_cues and self.full:
                part = tempo // len(pose.rep_cues)
                for p, cue in enumerate(pose.rep_cues):
                    placed.append(
                        Placed(
                            "speech",
                            pose.text(cue, side),
                            offset_ms=t + p * part,
                            window_ms=part - SPEECH_MARGIN_MS,
                        )
                    )
            elif r == reps - 1 and reps > 2:
                placed.append(
                    Placed(
                        "speech", self.vocab.pick("rep_last"), offset_ms=t, window_ms=tempo - SPEECH_MARGIN_MS
                    )
                )
            else:
                placed.append(
                    Placed(
                        "speech",
                        title_case(self.vocab.number(r + 1)) + ".",
                        offset_ms=t,
                        window_ms=tempo - SPEECH_MARGIN_MS,
                    )
                )
        total = reps * tempo
        return Span(
            "hold", total, total, total, f"{reps} reps of {tempo / 1000:g} s", tuple(placed), side=side
        )


def _listed(props: tuple[str, ...]) -> str:
    """ "a mat, a chair and a cushion"."""
    named = [f"a {p}" for p in props]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def compile_routine(routine: Routine, options: Options | None = None) -> Script:
    """Compile a routine into a Script (RoutineError for steps that cannot be compiled)."""
    return _Compiler(routine, options or Options()).compile()
