"""Shared fixtures: one speech cache for the whole run, and isolation from the user's own config."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DATA = TESTS / "data"
sys.path.insert(0, str(TESTS))  # so test modules can import audio_tools


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every test in the run shares one fresh speech cache (synthesis is real, so share it) and
    never reads the developer's ~/.config voices."""
    cache = tmp_path_factory.mktemp("speech-cache")
    os.environ["AUDIOGUIDE_CACHE"] = str(cache)
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    os.environ.pop("AUDIOGUIDE_VOICES", None)


@pytest.fixture
def write_routine(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write routine YAML text to a file in a fresh folder and return its path."""

    def write(text: str, name: str = "routine.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
