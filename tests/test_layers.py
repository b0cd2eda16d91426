"""The package's shape: stages are layers (import-linter contracts in pyproject.toml), no module
imports another in a circle, and imports inside functions are kept for optional heavy dependencies."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "audioguide"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

MAX_INNER_IMPORTS = 14
"""Imports inside functions are for optional or slow dependencies only (pyttsx3, espeakng-loader,
pydub, parts of scipy; Pillow, and the series' episode workers with multiprocessing, which a build
with a cached cover or a series rebuild with nothing to do never needs; soundfile, which speech
workers and MP3 builds never need; importlib.metadata for hibari's identity, which an eSpeak build
never needs), each with a comment saying why."""


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_layer_contracts_are_kept() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 kept, 0 broken" in run.stdout


def test_a_backward_import_breaks_the_contract(tmp_path: Path) -> None:
    """The check can fail: render importing the pipeline (a later stage) is reported."""
    shutil.copytree(PACKAGE, tmp_path / "audioguide", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    sounds = tmp_path / "audioguide" / "render" / "sounds.py"
    sounds.write_text(sounds.read_text() + "\nfrom audioguide.pipeline import build  # noqa\n")
    env_path = f"{tmp_path}"
    run = subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": env_path, "PATH": ""},
    )
    assert run.returncode != 0
    assert "audioguide.render.sounds -> audioguide.pipeline" in run.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_another_in_a_circle() -> None:
    graph = grimp.build_graph("audioguide", cache_dir=None)
    # The package's face (audioguide/__init__.py) loads its public names lazily, and every
    # submodule imports the package first; that edge is Python's, not a circle of ours.
    graph.remove_module("audioguide")
    assert _cycles(graph) == []


def test_imports_inside_functions_are_few_and_say_why() -> None:
    inner = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        lines = path.read_text(encoding="utf-8").splitlines()
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        near = " ".join(lines[max(0, node.lineno - 3) : node.lineno])
                        inner.append((f"{path.relative_to(ROOT)}:{node.lineno}", "#" in near))
    assert len(inner) <= MAX_INNER_IMPORTS, inner
    assert all(commented for _, commented in inner), [where for where, commented in inner if not commented]
