"""YAML composition: libyaml (the fast path) gives what PyYAML's pure-Python loader gives, or defers to it.

The oracle is PyYAML's pure-Python loader, the reference implementation every error message was
written against: each test composes with it directly and compares.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audioguide.errors import RoutineError
from audioguide.load import yamlnodes
from audioguide.load.yamlnodes import compose, load_data, parse

ROOT = Path(__file__).resolve().parent.parent
YAML_FILES = sorted(
    ROOT / name
    for name in subprocess.run(
        ["git", "ls-files", "*.yaml", "*.yml"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
)
needs_libyaml = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML was built without libyaml")


def shape(node: yaml.Node | None, full: bool = True) -> Any:
    """Everything of a node tree that the loaders read: kinds, tags, values and where each starts
    (line and column); with ``full``, also its offset and where it ends. A scalar's style is left out:
    libyaml names the plain style '' and PyYAML None, and nothing here reads it."""
    if node is None:
        return None
    marks: tuple[int, ...] = (node.start_mark.line, node.start_mark.column)
    if full:
        marks += (node.start_mark.index, node.end_mark.line, node.end_mark.column, node.end_mark.index)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, marks)
    if isinstance(node, yaml.SequenceNode):
        return ("sequence", node.tag, [shape(child, full) for child in node.value], marks)
    return ("mapping", node.tag, [(shape(k, full), shape(v, full)) for k, v in node.value], marks)


def parse_outcome(text: str) -> Any:
    """What ``parse`` makes of ``text``: the tree it composed, or its one-line error."""
    try:
        return shape(parse(text, "f.yaml").root, full=False)  # where a value ends is never reported
    except RoutineError as exc:
        return str(exc)


def test_the_repository_has_yaml_files_to_compare() -> None:
    names = {p.name for p in YAML_FILES}
    assert {"poses.yaml", "phrases.yaml", "lower-back-10min.yaml", "series.yaml"} <= names
    assert len(YAML_FILES) >= 20


@needs_libyaml
@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_libyaml_composes_every_file_here_as_the_pure_python_loader_does(path: Path) -> None:
    text = path.read_text(encoding="utf-8-sig")
    assert shape(compose(text, yaml.CSafeLoader)) == shape(compose(text))
    assert load_data(text) == yaml.safe_load(text)


@pytest.fixture
def loaders(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The loader of every compose() call, in order."""
    used: list[Any] = []
    real = yamlnodes.compose

    def spy(text: str, loader: Any = yaml.SafeLoader) -> Any:
        used.append(loader)
        return real(text, loader)

    monkeypatch.setattr(yamlnodes, "compose", spy)
    return used


@needs_libyaml
def test_the_pose_library_is_read_with_libyaml(loaders: list[Any]) -> None:
    """The fast path is taken for the data files (the fallback would hide a slow start-up)."""
    text = (ROOT / "audioguide" / "data" / "poses.yaml").read_text(encoding="utf-8")
    load_data(text)
    assert loaders == [yaml.CSafeLoader]


# Inputs the fast path must hand to the pure-Python loader: its errors (and its recursion limit) are
# what users see. Each is checked against that loader directly.
AWKWARD = [
    "",
    "# only a comment\n",
    "title: T\nsteps:\n\t- pose: cat-cow\n",
    "title: T\n  steps: []\n",
    "title: 'open\n",
    'title: "open\n',
    "title: Back: Basics\n",
    "title: T\nsteps:\n  - pose: cat-cow\n   hold: 20s\n",
    "title: T\nsteps:\n- pose: cat-cow\n  - rest: 5s\n",
    "a: &x [1, 2]\nb: *x\n",
    "a: *nowhere\n",
    "--- 1\n--- 2\n",
    "title: T\x01\n",
    "title: T\x85\n",
    "title: \ufeffT\n",
    "key: [1, 2\n",
    "{a: 1, a: 2}\n",
    "? [a, b]\n: c\n",
    "!!python/object:os.system x\n",
    "title: !custom T\n",
    "[" * 1000,
    "[" * 70 + "]" * 70,
    "[" * 64 + "]" * 64,
    "a:\n" + "".join(" " * (2 * i) + "- \n" for i in range(1, 80)),
    "x: 1\n" * 3,
    "é: ü\nsteps: [ñ]\n",
    # where libyaml and PyYAML part ways (found by the fuzzing below)
    "title: a \tb\n",
    "!",
    "?",
    "a: [x? \n  y]\n",
    '[b"?c]',
    "a: >#\n  x\n",
    "a: 1\n \ufeffb: 1\n",
    "a: 1\x85b: 2\n",
]


@pytest.mark.parametrize("text", AWKWARD, ids=range(len(AWKWARD)))
def test_parse_answers_awkward_input_as_the_pure_python_loader_did(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = parse_outcome(text)
    monkeypatch.setattr(yamlnodes, "_FAST_LOADER", None)
    assert fast == parse_outcome(text)


def test_a_tree_nested_past_the_fast_depth_is_composed_by_the_reference_loader(loaders: list[Any]) -> None:
    depth = yamlnodes.MAX_FAST_DEPTH
    parse("[" * depth + "]" * depth, "f.yaml")
    assert loaders == ([yaml.CSafeLoader] if yaml.__with_libyaml__ else [yaml.SafeLoader])
    loaders.clear()
    parse("[" * (depth + 1) + "]" * (depth + 1), "f.yaml")
    assert loaders[-1] is yaml.SafeLoader


TOKENS = (
    *("- ", "a:", "b: 1", ": ", ":", " ", "  ", "-", "x", "é", "yes", "1.5", "~", "null", "0x1F", "1_000"),
    *("[", "]", "{", "}", ", ", ",", "'", '"', "'a''b'", '"a\n b"', '"\\x41"', "\\", "# c", "#"),
    *("|", ">", "|-", ">+", "&x ", "*x", "<<: ", "? ", "?", "!", "!!str ", "%", "%YAML 1.1", "...", "---"),
    *("\t", "\r\n", "\r", "\x85", "\u2028", "\ufeff", "\x01"),
)
"""Pieces of YAML, the awkward ones among them, from which lines of text are drawn."""
LINES = st.tuples(st.integers(0, 4), st.lists(st.sampled_from(TOKENS), max_size=5))
YAMLISH = st.lists(LINES.map(lambda line: " " * line[0] + "".join(line[1])), min_size=1, max_size=5).map(
    "\n".join
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_any_text_parses_as_the_pure_python_loader_would(text: str) -> None:
    """Differential fuzzing: whatever libyaml accepts, the reference loader accepts with the same tree."""
    original = yamlnodes._FAST_LOADER
    try:
        fast = parse_outcome(text)
        yamlnodes._FAST_LOADER = None
        assert fast == parse_outcome(text)
    finally:
        yamlnodes._FAST_LOADER = original
