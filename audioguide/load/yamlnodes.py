"""Safe YAML reading that keeps line numbers: every value comes with the place it was written."""

from __future__ import annotations

import difflib
import errno
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from audioguide.errors import RoutineError
from audioguide.fsutil import exists, is_dir, read_capped

MAX_FILE_BYTES = 1_000_000
"""A routine is a page of text; anything larger is not one (and is refused before parsing)."""
MAX_NODES = 20_000
"""Bound the work a file can ask of the parser (alias bombs and the like fail fast)."""


def suggest(word: str, choices: Any) -> str | None:
    """The nearest valid name, for "did you mean" hints."""
    found = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return f"did you mean '{found[0]}'?" if found else None


@dataclass(frozen=True)
class Doc:
    """A parsed YAML document and the file it came from (for error messages)."""

    file: str
    root: yaml.Node

    def error(
        self, node: yaml.Node | None, key: str | None, message: str, hint: str | None = None
    ) -> RoutineError:
        line = node.start_mark.line + 1 if node is not None else None
        return RoutineError(message, file=self.file, line=line, key=key, hint=hint)

    def value(self, node: yaml.Node, key: str) -> Any:
        """The plain Python value of a scalar node (int, float, bool, str or None)."""
        if not isinstance(node, yaml.ScalarNode):
            kind = "a list" if isinstance(node, yaml.SequenceNode) else "a mapping"
            raise self.error(node, key, f"expected a single value, got {kind}")
        if node.tag not in _PLAIN_TAGS:
            raise self.error(
                node, key, f"YAML tags such as {node.tag!r} are not supported; write a plain value"
            )
        try:
            value = _CONSTRUCTOR.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise self.error(
                node, key, f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}"
            ) from exc
        if isinstance(value, str) and (bad := _NOT_TEXT.search(value)):
            char = bad.group()
            what = "half of a surrogate pair" if "\ud800" <= char <= "\udfff" else "a control character"
            raise self.error(
                node,
                key,
                f"contains {what} (U+{ord(char):04X}), which no text here may hold",
                "remove it; line breaks and tabs are fine",
            )
        return value

    def mapping(self, node: yaml.Node, key: str, allowed: tuple[str, ...], what: str) -> dict[str, yaml.Node]:
        """Check that ``node`` is a mapping with only ``allowed`` keys; return key -> value node."""
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, key or None, f"expected {what} (a mapping of keys to values)")
        out: dict[str, yaml.Node] = {}
        for knode, vnode in node.value:
            name = self.value(knode, key)
            path = f"{key}.{name}" if key else str(name)
            if not isinstance(name, str):
                raise self.error(knode, path, f"keys must be names, got {name!r}")
            if name not in allowed:
                raise self.error(
                    knode,
                    path,
                    f"unknown key '{name}' in {what}",
                    suggest(name, allowed) or "allowed keys: " + ", ".join(allowed),
                )
            if name in out:
                raise self.error(knode, path, f"key '{name}' is given twice")
            out[name] = vnode
        return out

    def sequence(self, node: yaml.Node, key: str, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, key, f"expected a list of {what}")
        return list(node.value)


class _Constructor(yaml.SafeLoader):
    """Only used to turn a scalar node into its value with YAML 1.1 safe rules."""

    def __init__(self) -> None:  # no stream: construct_object only
        yaml.constructor.SafeConstructor.__init__(self)


_CONSTRUCTOR = _Constructor()
_NOT_TEXT = re.compile("[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
"""What no text field may hold: C0 and C1 controls but tab and line breaks, lone surrogates (which
UTF-8 cannot encode) and the two non-characters XML refuses."""
_PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null"))


def read_text(path: Path) -> str:
    """Read a routine or series file as UTF-8 text, with a clear error for anything else."""
    name = str(path)
    if not exists(path):
        raise RoutineError("no such file", file=name)
    if is_dir(path):
        raise RoutineError("is a directory, expected a .yaml file", file=name)
    try:
        data = read_capped(path, MAX_FILE_BYTES)  # a device or pipe is refused; the cap counts bytes read
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            too_big = f"file is over {MAX_FILE_BYTES:,} bytes: too large for a routine"
            raise RoutineError(too_big, file=name) from None
        raise RoutineError(f"cannot read: {exc.strerror or exc}", file=name) from None
    if b"\0" in data:
        raise RoutineError("is not a text file (it contains NUL bytes); expected YAML", file=name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RoutineError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            file=name,
            line=line,
            hint="save it as UTF-8",
        ) from exc


_FAST_LOADER: Any = yaml.CSafeLoader if yaml.__with_libyaml__ else None
"""PyYAML's binding to libyaml (in its wheels): composes ten times faster than the pure-Python
loader, with the same nodes and marks (tests/test_yamlnodes.py compares the two on every file here)."""
_FAST_DIFFERS = re.compile(r"[\t\x85\u2028\u2029\ufeff?!]|[|>][-+0-9]*#")
"""Text libyaml may read differently from the pure-Python loader (found by tests/test_yamlnodes.py's
differential fuzzing), which is left to that loader: a tab (libyaml allows one inside a plain value),
a byte-order mark or a Unicode line break within the text, a ``?`` (PyYAML ends a plain value in
brackets there, and places the empty value of ``? key`` elsewhere), a ``!`` (a lone ``!`` tag makes a
string for libyaml, a null for PyYAML) and a block scalar header with a comment stuck to it (``>#``).
None of the files shipped here holds any of these."""
MAX_FAST_DEPTH = 64
"""A tree nested deeper than this is composed again by the pure-Python loader, whose recursion limit
decides, as it always has, what is too deep. No routine, series or data file comes near it."""


def compose(text: str, loader: Any = yaml.SafeLoader) -> yaml.Node | None:
    """The node tree of one YAML document (None when empty), composed by ``loader``."""
    composer = loader(text)
    try:
        return composer.get_single_node()
    finally:
        composer.dispose()


def _compose(text: str) -> yaml.Node | None:
    """Compose with libyaml where it is installed. Anything it fails on, and any tree the pure-Python
    loader might answer differently (an alias, nesting deeper than ``MAX_FAST_DEPTH``), is composed
    again by the pure-Python loader, whose result and errors are the ones the user sees."""
    if _FAST_LOADER is not None and not _FAST_DIFFERS.search(text):
        try:
            root = compose(text, _FAST_LOADER)
        except Exception:  # the reference loader below says what is wrong, in its words
            pass
        else:
            if root is None or _plain_tree(root):
                return root
    return compose(text)


def _plain_tree(root: yaml.Node) -> bool:
    """True when no node occurs twice (no alias), nothing nests deeper than ``MAX_FAST_DEPTH`` and
    no value is left out (the two loaders place an empty value's mark differently)."""
    seen: set[int] = set()
    stack = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen or depth > MAX_FAST_DEPTH or node.value == "":
            return False
        seen.add(id(node))
        stack.extend((child, depth + 1) for child in _children(node))
    return True


def load_data(text: str) -> Any:
    """``yaml.safe_load(text)``, composed as ``parse`` composes: for the packaged data files."""
    root = _compose(text)
    return None if root is None else yaml.constructor.SafeConstructor().construct_document(root)


def parse(text: str, file: str) -> Doc:
    """Compose YAML into a node tree; refuse aliases, tabs and anything over the size bounds."""
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = (exc.problem or exc.context or "malformed YAML").strip()
        hint = None
        if "\t" in problem or "'\\t'" in problem:
            problem = "a tab character cannot be used for indentation"
            hint = "indent with spaces"
        else:
            hint = _syntax_hint(problem, exc.context or "", line)
        raise RoutineError(f"malformed YAML: {problem}", file=file, line=line, hint=hint) from exc
    except yaml.reader.ReaderError as exc:  # a raw control character: YAML refuses it before parsing
        line = text[: exc.position].count("\n") + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        raise RoutineError(f"the character {char} is not allowed in YAML", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise RoutineError(f"malformed YAML: {' '.join(str(exc).split())}", file=file) from exc
    except RecursionError:  # the composer recurses once per level: [[[[... a thousand deep
        raise RoutineError("lists or mappings are nested too deeply to be a routine", file=file) from None
    if root is None:
        raise RoutineError("the file is empty", file=file)
    _check_tree(root, file)
    return Doc(file=file, root=root)


def _syntax_hint(problem: str, context: str, line: int | None) -> str | None:
    """What a person can do about PyYAML's parser message (its words are about tokens, not lines)."""
    where = f"line {line}" if line else "this line"
    if "expected <block end>" in problem or "did not find expected key" in context + problem:
        return (
            f"check the indentation of {where} against the lines above it: the keys of one step line up "
            "under each other, two spaces in from its '-'"
        )
    if "mapping values are not allowed" in problem:
        return (
            f"on {where}, either a value holds ': ' and needs quotes (title: \"Back: Basics\"), "
            "or the line is indented more than the key before it"
        )
    if "could not find expected ':'" in problem:
        return f"a key needs a colon after it: 'key: value' ({where} or the line before it)"
    if "end of stream" in problem or "quoted scalar" in context:
        return "a quote (\" or ') is opened and never closed"
    if "expected <block sequence start>" in problem or "block collection" in context:
        return f"check the indentation of {where}: list items start with '- ' at the same indent"
    return None


def _check_tree(root: yaml.Node, file: str) -> None:
    """Reject anchors/aliases (a node seen twice) and oversized trees before anything walks them."""
    seen: set[int] = set()
    stack: list[yaml.Node] = [root]
    count = 0
    while stack:
        node = stack.pop()
        if id(node) in seen:
            raise RoutineError(
                "YAML anchors and aliases (& and *) are not supported",
                file=file,
                line=node.start_mark.line + 1,
                hint="write each value out in full",
            )
        seen.add(id(node))
        count += 1
        if count > MAX_NODES:
            raise RoutineError(f"the file has more than {MAX_NODES:,} values; is it a routine?", file=file)
        stack.extend(_children(node))


def _children(node: yaml.Node) -> Iterator[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        yield from node.value
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            yield k
            yield v
