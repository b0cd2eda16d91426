"""Series, the model: a series file becomes a validated Series of numbered Episodes, ready to build.

``load_series`` is the entry point here; ``series_build`` builds (``build_series``, ``plan_series``),
``feed`` writes the podcast feed and ``site`` the listening page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from audioguide import __version__
from audioguide.compile.compiler import PACES, VERBOSITY
from audioguide.compile.compiler import Options as CompileOptions
from audioguide.errors import ExportError, OptionError, RoutineError
from audioguide.export.cover import user_cover
from audioguide.fsutil import is_file, read_capped
from audioguide.load.durations import DurationSyntaxError, parse_span
from audioguide.load.poses import POSITIONS
from audioguide.load.routine import builtin_routines, load_routine, parse_routine
from audioguide.load.voices import find_profile
from audioguide.load.yamlnodes import Doc, parse, read_text, suggest
from audioguide.model.cues import BUILTIN_BEDS
from audioguide.model.routine import BREATH_PATTERNS, TARGET_RANGE_MS, Routine
from audioguide.pipeline.generate import DEFAULT_PROPS, FOCUS, WHERE, Request
from audioguide.series.feed import CATEGORY as DEFAULT_CATEGORY
from audioguide.series.program import Program, SessionTexts
from audioguide.speak.cache import default_cache_dir

SERIES_KEYS = (
    "title", "author", "description", "language", "base_url", "image", "owner", "category", "program",
    "episodes",
)  # fmt: skip
EPISODE_KEYS = (
    "routine", "generated", "title", "description", "voice", "verbosity", "duration", "intro",
    "pace", "breath", "avoid", "ambience",
)  # fmt: skip
PROGRAM_KEYS = (
    *("weeks", "per_week", "length", "focus", "where", "avoid", "props", "level", "seed"),
    *("new_per_session", "verbosity"),
)
MAX_WEEKS, MAX_PER_WEEK = 52, 7
OWNER_KEYS = ("name", "email")
CATEGORY_KEYS = ("name", "subcategory")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
INTRO_WORDS = {True: "full", False: "short", "full": "full", "short": "short", "none": "none"}
"""``intro:`` on an episode: on/off (YAML booleans) or the compile option's own words."""

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")  # BCP 47, as RSS <language> takes it
EPISODE_FILENAME = re.compile(r"[0-9]{2,}-[a-z0-9]+(?:-[a-z0-9]+)*\.mp3")
"""Every episode file name a series build makes: its number, then its routine's slug (``_slug``)."""
MAX_IMAGE_BYTES = 20_000_000
"""Cover art is a few hundred kilobytes to a few megabytes (Apple asks for under 512 KB)."""
_NOT_IN_URL = re.compile(r'[\s"<>\\^`{|}\x00-\x1f\x7f-\x9f]')
"""Characters RFC 3986 never allows in a URL, white space and controls among them."""
MAX_NAME_CHARS = 255
"""A show's or episode's title and author: one line in a podcast app (and in an ID3 frame)."""
MAX_DESCRIPTION_CHARS = 4000
"""Apple Podcasts shows at most 4000 characters of a description."""
COVER_SIDE_PX = (1400, 3000)
"""Apple Podcasts takes square cover art from 1400 to 3000 pixels a side."""


@dataclass(frozen=True)
class Episode:
    """One episode: its routine (overrides applied), how it is compiled, and the file it becomes."""

    number: int
    key: str  # names the episode across rebuilds (its routine as written); its guid hangs on this
    ref: str  # what load_routine takes: a built-in name or an absolute path
    routine: Routine  # title and description overrides already applied
    source_text: str  # the routine file's text (or the built-in's): part of the fingerprint
    filename: str  # "01-lower-back-10min.mp3"
    line: int
    verbosity: str = "full"
    intro: str = "full"
    voice: str | None = None  # a profile name, or an absolute path to a profile file
    duration_ms: int | None = None
    pace: str = "normal"
    breath: str | None = None  # a pattern name from BREATH_PATTERNS; None: the routine's own
    avoid: tuple[str, ...] = ()  # positions to swap out (compile.Options.avoid)
    overrides: tuple[tuple[str, Any], ...] = ()  # the episode's own keys as written, for the fingerprint

    @property
    def title(self) -> str:
        return self.routine.title

    @property
    def description(self) -> str:
        return self.routine.description


@dataclass(frozen=True)
class Series:
    """A validated series file: the show's details and its episodes in order."""

    title: str
    author: str
    description: str
    language: str
    base_url: str  # always ends with "/"
    episodes: tuple[Episode, ...]
    source: Path
    image: Path | None = None
    image_png: bytes | None = field(default=None, repr=False)
    owner: tuple[str, str] | None = None  # (name, email): itunes:owner, where Apple writes about the show
    category: tuple[str, str | None] = DEFAULT_CATEGORY  # (category, subcategory): itunes:category

    @property
    def feed_url(self) -> str:
        return self.base_url + "feed.xml"


def load_series(path: str | Path, cache_dir: Path | None = None) -> Series:
    """Load and validate a series file; RoutineError names the file, line and key of any problem.
    A program's generated sessions are kept in ``cache_dir`` (default: the speech cache's folder)."""
    path = Path(path)
    display = str(path)
    doc = parse(read_text(path), display)
    base_dir = path.resolve().parent
    if not isinstance(doc.root, yaml.MappingNode):
        raise doc.error(doc.root, None, "a series must be a mapping with title, base_url and episodes")
    fields = doc.mapping(doc.root, "", SERIES_KEYS, "a series")
    for required, example in (
        ("title", "title: Back Care Basics"),
        ("description", "description: Short guided sessions for a stiff back"),
        ("base_url", "base_url: https://example.org/backcare/ (the feed needs absolute links)"),
        ("episodes", "episodes: [{routine: lower-back-10min}], or a program: (docs/series.md)"),
    ):
        if required == "episodes" and "program" in fields:
            continue
        if required not in fields:
            raise doc.error(doc.root, required, f"missing '{required}'", f"for example {example}")
    title = _text(doc, fields, "title")
    author = _text(doc, fields, "author") if "author" in fields else title
    description = _text(doc, fields, "description")
    language = _language(doc, fields["language"]) if "language" in fields else "en"
    base_url = _base_url(doc, fields["base_url"])
    image = image_png = None
    if "image" in fields:
        image, image_png = _image(doc, fields["image"], base_dir)
    owner = _owner(doc, fields["owner"]) if "owner" in fields else None
    category = _category(doc, fields["category"]) if "category" in fields else DEFAULT_CATEGORY
    program = made = None
    if "program" in fields:
        program = _program(doc, fields["program"])
        texts = SessionTexts(program, title, path.name, __version__, cache_dir or default_cache_dir())
        made = _Program(program, texts, path.name)
    if "episodes" in fields:
        nodes = doc.sequence(fields["episodes"], "episodes", "episodes")
        if not nodes:
            raise doc.error(
                fields["episodes"], "episodes", "'episodes' is empty: a series needs at least one"
            )
    else:  # a program on its own: every session, in order
        assert program is not None
        listed = ", ".join(f"{{generated: {n}}}" for n in range(1, program.sessions + 1))
        nodes = yaml.compose(f"[{listed}]").value
    width = max(2, len(str(len(nodes))))
    seen: dict[str, int] = {}
    episodes = []
    for i, node in enumerate(nodes):
        episode = _episode(doc, node, f"episodes[{i}]", i + 1, width, base_dir, made)
        if made is not None:
            made.taught |= {step.pose for step in episode.routine.steps if step.pose}
        seen[episode.key] = seen.get(episode.key, 0) + 1
        if seen[episode.key] > 1:  # the same routine twice: the later one gets a key of its own
            episode = replace(episode, key=f"{episode.key}#{seen[episode.key]}")
        episodes.append(episode)
    return Series(
        title=title,
        author=author,
        description=description,
        language=language,
        base_url=base_url,
        episodes=tuple(episodes),
        source=path,
        image=image,
        image_png=image_png,
        owner=owner,
        category=category,
    )


# -- fields --------------------------------------------------------------------------------------------


def _text(doc: Doc, fields: dict[str, yaml.Node], key: str, path: str | None = None) -> str:
    path = path or key
    value = doc.value(fields[key], path)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise doc.error(fields[key], path, "expected text")
    most = MAX_DESCRIPTION_CHARS if key == "description" else MAX_NAME_CHARS
    if len(value) > most:
        raise doc.error(fields[key], path, f"{len(value):,} characters is too long; the most is {most:,}")
    return " ".join(value.split())


def _language(doc: Doc, node: yaml.Node) -> str:
    value = doc.value(node, "language")
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):  # match() admits "en\n"
        raise doc.error(node, "language", f"expected a language code such as en or en-GB, got {value!r}")
    return value


def _base_url(doc: Doc, node: yaml.Node) -> str:
    value = doc.value(node, "base_url")
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        if parts is not None:
            parts.port  # noqa: B018 (parsing the port is what checks it)
    except ValueError as exc:  # "http://[::1/": an unclosed IPv6 address, a port that is not a number
        raise doc.error(node, "base_url", f"{value!r} is not a web address: {exc}") from None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or _NOT_IN_URL.search(str(value))
    ):
        raise doc.error(
            node,
            "base_url",
            f"expected the web address the folder will be served from, got {value!r}",
            "for example https://example.org/backcare/",
        )
    if parts.query or parts.fragment or "?" in value or "#" in value:  # "…/#" has an empty fragment
        raise doc.error(node, "base_url", "the address of a folder takes no ?query or #fragment")
    return str(value) if str(value).endswith("/") else f"{value}/"


def _owner(doc: Doc, node: yaml.Node) -> tuple[str, str]:
    """``owner: {name: ..., email: ...}``: both are needed, as itunes:owner holds both."""
    fields = doc.mapping(node, "owner", OWNER_KEYS, "the owner")
    for key in OWNER_KEYS:
        if key not in fields:
            raise doc.error(
                node,
                f"owner.{key}",
                f"missing '{key}'",
                "for example owner: {name: Ana, email: ana@example.org}",
            )
    name = _text(doc, fields, "name", "owner.name")
    email = _text(doc, fields, "email", "owner.email")
    if not _EMAIL.match(email):
        raise doc.error(fields["email"], "owner.email", f"expected an email address, got {email!r}")
    return name, email


def _category(doc: Doc, node: yaml.Node) -> tuple[str, str | None]:
    """``category: Health & Fitness`` or ``category: {name: Health & Fitness, subcategory: Fitness}``."""
    if isinstance(node, yaml.ScalarNode):
        return _text(doc, {"category": node}, "category"), None
    fields = doc.mapping(node, "category", CATEGORY_KEYS, "the category")
    if "name" not in fields:
        raise doc.error(
            node,
            "category.name",
            "missing 'name'",
            "for example category: {name: Health & Fitness, subcategory: Fitness}",
        )
    name = _text(doc, fields, "name", "category.name")
    sub = _text(doc, fields, "subcategory", "category.subcategory") if "subcategory" in fields else None
    return name, sub


def _image(doc: Doc, node: yaml.Node, base_dir: Path) -> tuple[Path, bytes]:

    value = doc.value(node, "image")
    if not isinstance(value, str) or not value.strip():
        raise doc.error(node, "image", "expected the path of a PNG or JPEG file")
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        data = read_capped(path, MAX_IMAGE_BYTES)
    except OSError as exc:
        raise doc.error(
            node, "image", f"cannot read '{value}' ({exc.strerror or exc}; looked at {path})"
        ) from None
    try:
        data, width, height = user_cover(data)
    except ExportError as exc:
        raise doc.error(node, "image", f"'{value}': {exc}", "save the cover as PNG or JPEG") from None
    low, high = COVER_SIDE_PX
    if width != height or not low <= width <= high:
        raise doc.error(
            node,
            "image",
            f"'{value}' is {width}x{height} pixels; podcast apps want a square of {low} to {high}",
            "leave 'image' out and a cover is generated",
        )
    return path, data


@dataclass
class _Program:
    """A series' program while its episodes are read: the sessions' texts, and the poses taught so far."""

    program: Program
    texts: SessionTexts
    source: str
    taught: set[str] = field(default_factory=set)


def _episode(
    doc: Doc, node: yaml.Node, key: str, number: int, width: int, base_dir: Path, made: _Program | None = None
) -> Episode:
    if isinstance(node, yaml.ScalarNode):  # "- lower-back-10min" is short for "- routine: lower-back-10min"
        fields = {"routine": node}
        routine_key = key
    else:
        fields = doc.mapping(node, key, EPISODE_KEYS, "an episode")
        routine_key = f"{key}.routine"
        if "routine" in fields and "generated" in fields:
            raise doc.error(node, key, "an episode is a routine or a generated session, not both")
        if "routine" not in fields and "generated" not in fields:
            raise doc.error(
                node,
                routine_key,
                "missing 'routine': a built-in routine name or a .yaml path"
                + (", or 'generated: N' for the program's session N" if made else ""),
            )
    if "generated" in fields:
        ref, text, routine, written, stem = _generated(doc, fields["generated"], f"{key}.generated", made)
    else:
        written = doc.value(fields["routine"], routine_key)
        if not isinstance(written, str) or not written.strip():
            raise doc.error(
                fields["routine"], routine_key, "expected a built-in routine name or a .yaml path"
            )
        written = written.strip()
        ref, text = _resolve(doc, fields["routine"], routine_key, written, base_dir)
        routine = load_routine(ref)
        stem = _slug(Path(ref).stem if ref.endswith((".yaml", ".yml")) else ref)
    overrides: dict[str, Any] = {"routine": written}
    if "title" in fields:
        overrides["title"] = _text(doc, fields, "title", f"{key}.title")
        routine = replace(routine, title=overrides["title"])
    if "description" in fields:
        overrides["description"] = _text(doc, fields, "description", f"{key}.description")
        routine = replace(routine, description=overrides["description"])
    verbosity = "full"
    if "verbosity" in fields:
        verbosity = overrides["verbosity"] = _choice(doc, fields["verbosity"], f"{key}.verbosity")
    intro = "full" if number == 1 else "short"  # the full safety note once; later a one-line reminder
    if "intro" in fields:
        value = doc.value(fields["intro"], f"{key}.intro")
        if isinstance(value, bool | str) and value in INTRO_WORDS:
            intro = overrides["intro"] = INTRO_WORDS[value]
        else:
            raise doc.error(
                fields["intro"],
                f"{key}.intro",
                f"expected on or off (or full, short, none), got {value!r}",
                suggest(str(value), ("full", "short", "none")),
            )
    duration_ms = None
    if "duration" in fields:
        duration_ms = overrides["duration"] = _duration(doc, fields["duration"], f"{key}.duration")
    voice = None
    if "voice" in fields:
        voice = overrides["voice"] = _voice(doc, fields["voice"], f"{key}.voice", base_dir)
    pace = "normal"
    if "pace" in fields:
        pace = overrides["pace"] = _choice(doc, fields["pace"], f"{key}.pace", tuple(PACES))
    breath = None
    if "breath" in fields:
        breath = overrides["breath"] = _choice(doc, fields["breath"], f"{key}.breath", tuple(BREATH_PATTERNS))
    avoid: tuple[str, ...] = ()
    if "avoid" in fields:
        avoid = overrides["avoid"] = _avoid(doc, fields["avoid"], f"{key}.avoid")
    if "ambience" in fields:
        overrides["ambience"] = _ambience(doc, fields["ambience"], f"{key}.ambience", base_dir)
        routine = replace(routine, ambience=overrides["ambience"])
    return Episode(
        number=number,
        key=written,
        ref=ref,
        routine=routine,
        source_text=text,
        filename=f"{number:0{width}d}-{stem}.mp3",
        line=node.start_mark.line + 1,
        verbosity=verbosity,
        intro=intro,
        voice=voice,
        duration_ms=duration_ms,
        pace=pace,
        breath=breath,
        avoid=avoid,
        overrides=tuple(sorted(overrides.items())),
    )


def _generated(
    doc: Doc, node: yaml.Node, key: str, made: _Program | None
) -> tuple[str, str, Routine, str, str]:
    """A program's session N as an episode: (ref, routine text, routine, key, file stem)."""
    if made is None:
        raise doc.error(node, key, "'generated' needs a 'program:' in the series", "see docs/series.md")
    value = doc.value(node, key)
    count = made.program.sessions
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= count:
        raise doc.error(node, key, f"expected a session number of the program, 1 to {count}, got {value!r}")
    text = made.texts.text(value, sorted(made.taught))
    routine = parse_routine(text, f"{made.source}: program session {value}", rid=f"session-{value}")
    return f"program/{value}", text, routine, f"program/{value}", made.program.stem(value)


def _program(doc: Doc, node: yaml.Node) -> Program:
    """The ``program:`` mapping; every value checked against what the generator takes."""
    fields = doc.mapping(node, "program", PROGRAM_KEYS, "a program")
    for required, example in (("weeks", "weeks: 4"), ("per_week", "per_week: 3"), ("length", "length: 15m")):
        if required not in fields:
            raise doc.error(node, f"program.{required}", f"missing '{required}'", f"for example {example}")
    counts: dict[str, int] = {}
    for name, high in (
        ("weeks", MAX_WEEKS),
        ("per_week", MAX_PER_WEEK),
        ("seed", 2**63 - 1),
        ("new_per_session", 20),
    ):
        if name in fields:
            value = doc.value(fields[name], f"program.{name}")
            low = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise doc.error(
                    fields[name],
                    f"program.{name}",
                    f"expected a whole number from {low} to {high}, got {value!r}",
                )
            counts[name] = value
    lists: dict[str, tuple[str, ...]] = {}
    for name, allowed in (("focus", tuple(FOCUS)), ("where", tuple(WHERE)), ("props", None), ("avoid", None)):
        if name not in fields:
            continue
        vnode = fields[name]
        items = (
            doc.sequence(vnode, f"program.{name}", name) if isinstance(vnode, yaml.SequenceNode) else [vnode]
        )
        values = [doc.value(item, f"program.{name}") for item in items]
        for item, value in zip(items, values, strict=True):
            if not isinstance(value, str) or (allowed is not None and value not in allowed):
                raise doc.error(
                    item,
                    f"program.{name}",
                    f"expected {'one of ' + ', '.join(allowed) if allowed else 'a name'}, got {value!r}",
                    suggest(str(value), allowed) if allowed else None,
                )
        lists[name] = tuple(str(v) for v in values if v != "none")
    level = str(doc.value(fields["level"], "program.level")) if "level" in fields else "gentle"
    verbosity = _choice(doc, fields["verbosity"], "program.verbosity") if "verbosity" in fields else "full"
    try:  # the generator checks what it is asked; its errors are reported against the program's keys
        request = Request(
            length_ms=_duration(doc, fields["length"], "program.length"),
            focus=lists.get("focus", ("whole body",)),
            where=lists.get("where", tuple(WHERE)),
            avoid=lists.get("avoid", ()),
            props=lists.get("props", DEFAULT_PROPS),
            level=level,
            seed=counts.get("seed", 1),
            compile=CompileOptions(verbosity=verbosity),
        )
    except OptionError as exc:
        target = fields.get(exc.option, node)
        raise doc.error(target, f"program.{exc.option}", exc.message) from None
    program = Program(counts["weeks"], counts["per_week"], request, counts.get("new_per_session", 2))
    if program.sessions > 100:
        raise doc.error(node, "program", f"{program.sessions} sessions; a program has at most 100")
    return program


def _resolve(doc: Doc, node: yaml.Node, key: str, written: str, base_dir: Path) -> tuple[str, str]:
    """A routine as written -> (ref for load_routine, its text): a file beside the series wins."""
    builtins = builtin_routines()
    path = Path(written).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if is_file(path):
        return str(path), read_text(path)
    if written in builtins:
        return written, builtins[written].read_text(encoding="utf-8")
    nearby = [p.name for p in base_dir.glob("*.y*ml")] if base_dir.is_dir() else []
    hint = suggest(written, [*builtins, *nearby]) or "built-in routines: " + ", ".join(sorted(builtins))
    raise doc.error(
        node, key, f"no routine file or built-in routine named '{written}' (looked at {path})", hint
    )


def _choice(doc: Doc, node: yaml.Node, key: str, allowed: tuple[str, ...] = VERBOSITY) -> str:

    value = doc.value(node, key)
    if value not in allowed:
        raise doc.error(
            node,
            key,
            f"expected one of {', '.join(allowed)}, got {value!r}",
            suggest(str(value), allowed),
        )
    return str(value)


def _avoid(doc: Doc, node: yaml.Node, key: str) -> tuple[str, ...]:
    """``avoid: supine`` or ``avoid: [supine, kneeling]``: positions, or ``floor`` for all floor ones."""
    nodes = doc.sequence(node, key, "positions") if isinstance(node, yaml.SequenceNode) else [node]
    names = [doc.value(n, key) for n in nodes]
    allowed = (*POSITIONS, "floor")
    for name in names:
        if name not in allowed:
            raise doc.error(
                node,
                key,
                f"expected positions from {', '.join(allowed)}, got {name!r}",
                suggest(str(name), allowed),
            )
    return tuple(str(n) for n in names)


def _ambience(doc: Doc, node: yaml.Node, key: str, base_dir: Path) -> str:
    """A built-in bed (or none), or an audio file; a relative path is taken beside the series file."""
    value = doc.value(node, key)
    if not isinstance(value, str) or not value.strip():
        raise doc.error(node, key, "expected a built-in bed or the path of an audio file")
    if value in (*BUILTIN_BEDS, "none"):
        return value
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if not path.is_file():
        raise doc.error(
            node,
            key,
            f"unknown ambience '{value}' (no file at {path}); beds: none, {', '.join(BUILTIN_BEDS)}",
            suggest(value, (*BUILTIN_BEDS, "none")),
        )
    return str(path.resolve())


def _duration(doc: Doc, node: yaml.Node, key: str) -> int:
    try:
        span = parse_span(doc.value(node, key), allow_breaths=False)
    except DurationSyntaxError as exc:
        raise doc.error(node, key, str(exc)) from None
    assert span.ms is not None
    low, high = TARGET_RANGE_MS
    if not low <= span.ms <= high:
        raise doc.error(
            node, key, f"{span.describe()} is out of range: {low // 1000}s to {high // 3_600_000}h"
        )
    return span.ms


def _voice(doc: Doc, node: yaml.Node, key: str, base_dir: Path) -> str:

    value = doc.value(node, key)
    if not isinstance(value, str) or not value.strip():
        raise doc.error(node, key, "expected a voice profile name or a .yaml path")
    try:
        found = find_profile(value, base_dir)
    except RoutineError as exc:
        raise doc.error(node, key, exc.message, exc.hint) from None
    if value.endswith((".yaml", ".yml")) or "/" in value:
        return str(found.resolve())  # the build would look for a relative path beside the routine
    return value


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "episode"
