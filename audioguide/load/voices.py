"""Voice profile files: find them by name or path, and load and validate them into VoiceProfile."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from audioguide.errors import RoutineError
from audioguide.fsutil import is_file
from audioguide.load.yamlnodes import parse, read_text, suggest
from audioguide.model.voice import ENGINE_NAMES, VoiceProfile

PROFILE_KEYS = ("engine", "voice", "rate", "pitch", "volume", "recordings", "description")


def profile_dirs() -> list[Path]:
    """Where profiles are looked up by name, first match wins."""
    dirs: list[Path] = []
    env = os.environ.get("AUDIOGUIDE_VOICES")
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.append(Path.cwd() / "voices")
    dirs.append(Path(__file__).resolve().parents[2] / "voices")  # a source checkout
    dirs.append(Path(sys.prefix) / "share" / "audioguide" / "voices")  # an installed wheel
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    dirs.append(config / "audioguide" / "voices")
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def available_profiles() -> dict[str, Path]:
    """Profile name -> file, over every profile folder (earlier folders win)."""
    found: dict[str, Path] = {}
    for folder in profile_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.yaml")):
                found.setdefault(path.stem, path)
    return found


def find_profile(name: str, base_dir: Path | None = None) -> Path:
    """Resolve a profile name or path to a file; unknown names list the profiles that exist."""
    looks_like_path = name.endswith((".yaml", ".yml")) or "/" in name or os.sep in name
    if looks_like_path:
        try:
            path = Path(name).expanduser()
        except RuntimeError:
            raise RoutineError(f"cannot find the home folder in voice profile path '{name}'") from None
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        if not is_file(path):
            raise RoutineError(f"voice profile file '{name}' not found (looked at {path})")
        return path
    profiles = available_profiles()
    if name in profiles:
        return profiles[name]
    names = ", ".join(sorted(profiles)) or "none found"
    hint = suggest(name, profiles)
    raise RoutineError(f"unknown voice profile '{name}' (profiles: {names})", hint=hint)


def load_profile(name: str, base_dir: Path | None = None) -> VoiceProfile:
    """Load and validate a voice profile by name or path."""
    path = find_profile(name, base_dir)
    doc = parse(read_text(path), str(path))
    fields = doc.mapping(doc.root, "", PROFILE_KEYS, "a voice profile")
    values: dict[str, object] = {}
    for key, node in fields.items():
        value = doc.value(node, key)
        if key == "engine":
            if value not in ENGINE_NAMES:
                raise doc.error(
                    node,
                    key,
                    f"unknown engine {value!r}; expected one of {', '.join(ENGINE_NAMES)}",
                    suggest(str(value), ENGINE_NAMES),
                )
        elif key in ("voice", "description"):
            if not isinstance(value, str) or not value.strip():
                raise doc.error(node, key, "expected text")
        elif key == "rate":
            if not isinstance(value, int) or isinstance(value, bool) or not 80 <= value <= 400:
                raise doc.error(node, key, "expected words per minute, a whole number from 80 to 400")
        elif key == "pitch":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
                raise doc.error(node, key, "expected a pitch from 0 to 100 (50 is the voice's normal pitch)")
        elif key == "volume":
            if not isinstance(value, int | float) or isinstance(value, bool) or not 0.1 <= value <= 2.0:
                raise doc.error(node, key, "expected a volume from 0.1 to 2.0 (1.0 is normal)")
            value = float(value)
        elif key == "recordings":
            if not isinstance(value, str) or not value.strip():
                raise doc.error(node, key, "expected a folder path (relative to this profile file)")
            value = (path.parent / Path(value).expanduser()).resolve()
        values[key] = value
    return VoiceProfile(name=path.stem, source=path, **values)  # type: ignore[arg-type]


# -- listing -----------------------------------------------------------------------------------------


def profile_info(profile: VoiceProfile) -> dict[str, object]:
    """A profile as plain data (for listings and JSON)."""
    return {
        "name": profile.name,
        "engine": profile.engine,
        "voice": profile.voice,
        "rate": profile.rate,
        "pitch": profile.pitch,
        "volume": profile.volume,
        "description": profile.description,
        "recordings": str(profile.recordings) if profile.recordings else None,
        "source": str(profile.source) if profile.source else None,
    }


def describe_profiles() -> list[dict[str, object]]:
    """Every profile found, as plain data; one that fails to load carries its error instead."""
    rows: list[dict[str, object]] = []
    for name, path in sorted(available_profiles().items()):
        try:
            rows.append(profile_info(load_profile(str(path))))
        except RoutineError as exc:
            rows.append({"name": name, "source": str(path), "error": str(exc)})
    return rows
