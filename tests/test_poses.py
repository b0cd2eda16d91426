"""The pose library, the guidance phrases and the built-in routines: complete, short, safe and consistent."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from audioguide.load import poses
from audioguide.load.durations import parse_ms, parse_span
from audioguide.load.poses import POSITIONS, Pose, get_pose, library, phrases

DATA = Path(poses.__file__).parents[1] / "data"
ROUTINES = sorted((DATA / "routines").glob("*.yaml"))
RAW_POSES: list[dict[str, Any]] = yaml.safe_load((DATA / "poses.yaml").read_text(encoding="utf-8"))

REQUIRED_IDS = {
    "knee-to-chest", "double-knee-to-chest", "knee-rolls", "pelvic-tilt", "cat-cow", "standing-cat-cow",
    "seated-cat-cow", "childs-pose", "sphinx", "prone-press-up", "supine-twist", "seated-twist",
    "seated-hamstring", "supine-hamstring", "standing-hamstring", "supine-hip-flexor", "figure-four",
    "seated-figure-four", "cow-face-legs", "bridge", "corner-chest-stretch", "thread-the-needle",
    "foam-roller-thoracic", "easy-walk", "seated-knee-hug", "seated-side-bend", "standing-back-extension",
    "constructive-rest", "side-lying-knee-hug",
}  # fmt: skip
REQUIRED_ROUTINES = {
    "lower-back-10min": 10, "mid-back-10min": 10, "desk-break-5min": 5, "morning-mobility-15min": 15,
    "bedtime-unwind-20min": 20, "no-floor-10min": 10,
}  # fmt: skip
LYING = {"supine", "prone", "side-lying"}

# Wording that must never reach someone in pain: pushing through it, or promising a cure.
UNSAFE = re.compile(
    r"push(ing)? through|work(ing)? through|through the pain|no pain|pain is good|feel the burn|"
    r"\bcur(e|es|ed|ing)\b|\bheal(s|ed|ing)?\b|guarantee|fix your back|no gain",
    re.IGNORECASE,
)

# A deliberately slow speech model for planning routines: 150 words a minute plus a pause per sentence.
SECONDS_PER_WORD = 0.4
SECONDS_PER_SENTENCE = 0.5
SECONDS_PER_BREATH = {"relaxed": 10.0, "box": 16.0, "4-7-8": 19.0}


def words(text: str) -> int:
    return len(text.split())


def spoken_texts(pose: Pose) -> list[str]:
    return [*pose.setup, pose.brief, *pose.cues, pose.release, pose.easier, *pose.rep_cues]


def all_texts(pose: Pose) -> list[str]:
    return [pose.name, *spoken_texts(pose), *pose.cautions, *pose.areas]


def load_routine(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path.name
    return data


def routine_poses(path: Path) -> list[Pose]:
    return [get_pose(step["pose"]) for step in load_routine(path)["steps"] if "pose" in step]


# ---------------------------------------------------------------- the pose library


def test_library_is_large_enough_and_ids_are_unique() -> None:
    ids = [raw["id"] for raw in RAW_POSES]
    assert len(ids) >= 18
    assert len(ids) == len(set(ids)), "duplicate pose ids"
    assert set(library()) == set(ids)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", pose_id) for pose_id in ids)


def test_required_poses_are_present() -> None:
    assert set(library()) >= REQUIRED_IDS, sorted(REQUIRED_IDS - set(library()))


def test_required_pose_shapes() -> None:
    lib = library()
    assert lib["knee-to-chest"].one_sided and not lib["double-knee-to-chest"].one_sided
    for pose_id in ("knee-rolls", "pelvic-tilt", "cat-cow", "standing-cat-cow", "prone-press-up", "bridge"):
        assert lib[pose_id].kind == "reps", pose_id
    assert lib["cat-cow"].position == "hands-and-knees"
    assert lib["standing-cat-cow"].position == "standing"
    assert lib["childs-pose"].position == "kneeling"
    assert lib["sphinx"].position == lib["prone-press-up"].position == "prone"
    assert lib["seated-figure-four"].id in lib["figure-four"].alternatives
    assert "strap" in lib["supine-hamstring"].easier and "towel" in lib["supine-hamstring"].easier
    assert "towel" in lib["foam-roller-thoracic"].easier
    assert lib["easy-walk"].position == "standing" and lib["easy-walk"].kind == "hold"
    for pose_id in ("supine-twist", "seated-twist", "seated-hamstring", "supine-hamstring", "figure-four",
                    "supine-hip-flexor", "cow-face-legs", "thread-the-needle"):  # fmt: skip
        assert lib[pose_id].one_sided, pose_id


@pytest.mark.parametrize("pose", library().values(), ids=lambda p: p.id)
def test_pose_fields_are_valid(pose: Pose) -> None:
    assert pose.position in POSITIONS
    assert pose.kind in ("hold", "reps")
    assert pose.name and pose.name == pose.name.lower(), "names are spoken mid-sentence"
    assert pose.areas and all(pose.areas)
    assert 2 <= len(pose.setup) <= 4 and 2 <= len(pose.cues) <= 4
    assert pose.release and pose.easier, "every built-in pose says how to come out and how to make it easier"
    if pose.kind == "hold":
        assert pose.hold is not None and pose.reps == 1 and pose.tempo_ms is None and not pose.rep_cues
        if pose.hold.ms is not None:
            assert 10_000 <= pose.hold.ms <= 30_000
        else:
            assert pose.hold.breaths is not None and 3 <= pose.hold.breaths <= 8
    else:
        assert pose.hold is None and pose.tempo_ms is not None
        assert 5 <= pose.reps <= 15 and 3_000 <= pose.tempo_ms <= 8_000
        assert pose.rep_cues, "a reps pose names the phases of one rep"


@pytest.mark.parametrize("pose", library().values(), ids=lambda p: p.id)
def test_sentences_are_short_enough_to_follow_by_ear(pose: Pose) -> None:
    assert all(words(s) <= 14 for s in pose.setup), pose.setup
    assert words(pose.brief) <= 10
    assert all(words(s) <= 10 for s in pose.cues), pose.cues
    assert words(pose.release) <= 12
    assert words(pose.easier) <= 14
    assert pose.easier[0].islower() and pose.easier.endswith("."), "it completes 'If that is too much, ...'"
    assert "{" not in pose.easier, "easier is inserted into a phrase template as is"
    for sentence in [*pose.setup, pose.brief, *pose.cues, pose.release, *pose.rep_cues]:
        assert sentence[0].isupper() and sentence.endswith((".", "?", "!")), sentence


@pytest.mark.parametrize("pose", library().values(), ids=lambda p: p.id)
def test_placeholders(pose: Pose) -> None:
    texts = all_texts(pose)
    braces = [field for text in texts for field in re.findall(r"\{[^}]*\}?", text)]
    if pose.one_sided:
        assert "{side}" in " ".join((*pose.setup, pose.brief))
        for lines in (pose.setup, [pose.brief]):
            named = re.findall(r"\{(side|other)\}", " ".join(lines))
            assert not named or named[0] == "side", "after 'Start with your left side', name the left first"
        assert set(braces) <= {"{side}", "{other}"}
        for text in spoken_texts(pose):
            # always "your {side} <noun>", so that no side can read "one knee" / "the other knee"
            assert len(re.findall(r"your \{(side|other)\} [a-z]", text)) == text.count("{") == text.count("}")
    else:
        assert not braces and not any("{" in t or "}" in t for t in texts), "two-sided: no placeholders"
    assert not any("{" in text or "}" in text for text in [pose.name, *pose.cautions, *pose.areas])


def test_docs_list_every_pose_and_routine() -> None:
    docs = (Path(__file__).parents[1] / "docs" / "poses.md").read_text(encoding="utf-8")
    assert all(f"| `{pose_id}` |" in docs for pose_id in library())
    assert all(f"| `{path.stem}` |" in docs for path in ROUTINES)


def test_text_fills_sides() -> None:
    pose = get_pose("figure-four")
    assert pose.text(pose.setup[1], "left") == "Cross your left ankle over your right knee."
    assert pose.text(pose.setup[1], "right") == "Cross your right ankle over your left knee."
    assert pose.text(pose.setup[1], None) == "Cross one ankle over the other knee."
    for line in spoken_texts(pose):
        for side in ("left", "right", None):
            assert "{" not in pose.text(line, side)
    with pytest.raises(ValueError):
        pose.text(pose.brief, "middle")


@pytest.mark.parametrize("pose", library().values(), ids=lambda p: p.id)
def test_rep_cues_fit_one_rep(pose: Pose) -> None:
    for cue in pose.rep_cues:
        assert words(cue) <= 3, cue
        assert pose.tempo_ms is not None
        phase_s = pose.tempo_ms / 1000 / len(pose.rep_cues)
        assert words(cue) * SECONDS_PER_WORD + SECONDS_PER_SENTENCE <= phase_s, (cue, phase_s)


@pytest.mark.parametrize("pose", library().values(), ids=lambda p: p.id)
def test_alternatives_exist_in_another_position(pose: Pose) -> None:
    lib = library()
    for alt in pose.alternatives:
        assert alt in lib, alt
        assert lib[alt].position != pose.position, alt
    if pose.position == "supine":
        assert any(lib[alt].position != "supine" for alt in pose.alternatives), "no way to avoid lying supine"
    if pose.position in LYING - {"side-lying"}:
        assert any(lib[alt].position not in LYING for alt in pose.alternatives), "needs an upright option"


def test_lying_poses_carry_a_pregnancy_caution() -> None:
    for pose in library().values():
        if pose.position in ("supine", "prone"):
            assert any("pregnan" in c.lower() for c in pose.cautions), pose.id


def test_nothing_unsafe_is_ever_said() -> None:
    texts = [text for pose in library().values() for text in all_texts(pose)]
    texts += [text for variants in phrases().values() for text in variants]
    offending = [text for text in texts if UNSAFE.search(text)]
    assert not offending
    assert UNSAFE.search("Push through the pain.") and UNSAFE.search("No pain, no gain.")


# ---------------------------------------------------------------- phrases

SLOT_PLACEHOLDERS = {
    "welcome": {"{title}"}, "first_pose": {"{name}"}, "next_pose": {"{name}"}, "last_pose": {"{name}"},
    "first_side": {"{side}"}, "switch_side": {"{side}"}, "hold_breaths": {"{count}"},
    "reps_start": {"{count}"}, "easier": {"{easier}"},
}  # fmt: skip
PLAIN_SLOTS = {
    "safety_full", "safety_short", "settle", "hold_start", "halfway", "last_seconds", "last_breath",
    "release_generic", "inhale", "exhale", "hold_in", "hold_out", "rep_last", "rest", "encourage", "closing",
    "closing_brief",
}  # fmt: skip


def test_phrase_slots_and_counts() -> None:
    table = phrases()
    assert set(table) == set(SLOT_PLACEHOLDERS) | PLAIN_SLOTS | {"numbers"}
    for slot, variants in table.items():
        if slot == "numbers":
            continue
        expected = {"safety_full": (3, 5), "safety_short": (1, 1), "closing": (2, 4)}.get(slot, (3, 6))
        assert expected[0] <= len(variants) <= expected[1], slot
        assert len(set(variants)) == len(variants), f"{slot} repeats a variant"


def test_phrase_placeholders_and_lengths() -> None:
    for slot, variants in phrases().items():
        if slot == "numbers":
            continue
        for text in variants:
            assert set(re.findall(r"\{[^}]*\}?", text)) == SLOT_PLACEHOLDERS.get(slot, set()), (slot, text)
            limit = {"safety_full": 18, "inhale": 4, "exhale": 4, "hold_in": 4, "hold_out": 4}.get(slot, 10)
            assert words(text) <= limit, (slot, text)
            assert text[0].isupper() or text.startswith("{"), (slot, text)
            assert text.endswith(".") or (slot == "easier" and text.endswith("{easier}")), (slot, text)


def test_safety_note_covers_what_it_must() -> None:
    note = " ".join(phrases()["safety_full"]).lower()
    for needed in ("not medical advice", "comfortable", "sharp", "numbness", "tingling", "into an arm or leg",
                   "pregnant", "surgery", "clinician"):  # fmt: skip
        assert needed in note, needed
    closing = " ".join(phrases()["closing"]).lower()
    assert "side" in closing and "time" in closing and "thank" in closing


def test_easier_prefix_reads_as_one_sentence() -> None:
    easier = get_pose("supine-hamstring").easier
    for variant in phrases()["easier"]:
        sentence = variant.format(easier=easier)
        assert sentence.endswith(".") and "{" not in sentence


def test_numbers() -> None:
    numbers = phrases()["numbers"]
    assert len(numbers) == 30
    assert (numbers[0], numbers[4], numbers[19], numbers[-1]) == ("one", "five", "twenty", "thirty")
    assert all(n == n.lower() for n in numbers)


# ---------------------------------------------------------------- lookup and validation


def test_unknown_pose_suggests_the_nearest() -> None:
    with pytest.raises(LookupError, match="cat-cow") as caught:
        get_pose("cat-cwo")
    assert not isinstance(caught.value, KeyError), "a KeyError would print its message in quotes"
    assert get_pose("cat-cow").id == "cat-cow"
    with pytest.raises(LookupError, match="unknown pose 'zzzz'"):
        get_pose("zzzz")


def test_library_and_phrases_are_cached_and_read_only() -> None:
    assert library() is library() and phrases() is phrases()
    with pytest.raises(TypeError):
        library()["new"] = get_pose("sphinx")  # type: ignore[index]


def _broken(monkeypatch: pytest.MonkeyPatch, pose_id: str, **changes: Any) -> str:
    data = copy.deepcopy(RAW_POSES)
    entry = next(raw for raw in data if raw["id"] == pose_id)
    for key, value in changes.items():
        if value is None:
            del entry[key]
        else:
            entry[key] = value
    monkeypatch.setattr(poses, "_read", lambda name: data)
    with pytest.raises(ValueError) as caught:
        poses.library.__wrapped__()
    return str(caught.value)


@pytest.mark.parametrize(
    ("pose_id", "changes", "field"),
    [
        ("sphinx", {"position": "upside-down"}, "position"),
        ("sphinx", {"brief": "Rest on your forearms and let your chest lift up high today."}, "brief"),
        ("sphinx", {"brief": "Rest your {side} arm."}, "brief"),
        ("knee-to-chest", {"setup": ["Lie down.", "Hug a knee."], "brief": "Hug a knee."}, "setup"),
        ("knee-to-chest", {"release": "Lower the {side} foot."}, "release"),
        ("knee-to-chest", {"dose": {"hold": "2m"}}, "dose"),
        ("cat-cow", {"dose": {"reps": 40, "tempo": "6s"}}, "dose"),
        ("cat-cow", {"rep_cues": ["Round your back up slowly."]}, "rep_cues"),
        ("sphinx", {"rep_cues": ["Lift."]}, "rep_cues"),
        ("sphinx", {"alternatives": ["childs-pse"]}, "alternatives"),
        ("sphinx", {"alternatives": ["prone-press-up"]}, "alternatives"),
        ("sphinx", {"cues": ["Push through the pain.", "Breathe."]}, "cues"),
        ("sphinx", {"easier": "Lift less."}, "easier"),
        ("knee-to-chest", {"easier": "hold behind your {side} thigh."}, "easier"),
        ("sphinx", {"brief": None}, "brief"),
        ("sphinx", {"breif": "Lift."}, "breif"),
    ],
)
def test_validation_names_the_pose_and_field(
    monkeypatch: pytest.MonkeyPatch, pose_id: str, changes: dict[str, Any], field: str
) -> None:
    message = _broken(monkeypatch, pose_id, **changes)
    assert repr(pose_id) in message and repr(field) in message, message


# ---------------------------------------------------------------- built-in routines

ROUTINE_KEYS = {"title", "description", "duration", "voice", "breath", "ambience", "steps"}
STEP_KEYS = {
    "pose": {"pose", "hold", "reps", "tempo", "sides"},
    "name": {"name", "say", "hold", "reps", "tempo", "sides"},
    "rest": {"rest"},
    "say": {"say"},
}


def test_all_required_routines_exist() -> None:
    assert {path.stem for path in ROUTINES} >= set(REQUIRED_ROUTINES)


@pytest.mark.parametrize("path", ROUTINES, ids=lambda p: p.stem)
def test_routine_is_well_formed(path: Path) -> None:
    routine = load_routine(path)
    assert {"title", "description", "duration", "steps"} <= set(routine) <= ROUTINE_KEYS
    assert routine["title"] and routine["description"] and routine["steps"]
    if path.stem in REQUIRED_ROUTINES:
        assert parse_ms(routine["duration"]) == REQUIRED_ROUTINES[path.stem] * 60_000
    breath = routine.get("breath", "relaxed")
    if isinstance(breath, dict):
        assert {"inhale", "exhale"} <= set(breath) <= {"inhale", "exhale", "hold_in", "hold_out"}
        assert all(parse_ms(value) > 0 for value in breath.values())
    else:
        assert breath in SECONDS_PER_BREATH
    for step in routine["steps"]:
        kind = next(key for key in ("pose", "name", "rest", "say") if key in step)
        assert set(step) <= STEP_KEYS[kind], step
        if kind == "pose":
            pose = get_pose(step["pose"])
            assert step.get("sides", "both") in ("left", "right", "both", "none")
            if pose.one_sided:
                assert step.get("sides", "both") == "both", f"{pose.id}: work both sides"
        if "hold" in step:
            parse_span(step["hold"])
        if "tempo" in step:
            assert 3_000 <= parse_ms(step["tempo"]) <= 8_000
        if "reps" in step:
            assert 5 <= step["reps"] <= 15
        if "rest" in step:
            parse_ms(step["rest"])
        if kind == "say":
            assert all(words(s) <= 14 for s in re.split(r"(?<=\.)\s+", step["say"].strip()))


@pytest.mark.parametrize(
    ("routine", "allowed"),
    [
        ("desk-break-5min", {"seated", "standing"}),
        ("bedtime-unwind-20min", set(POSITIONS) - {"standing"}),
        ("no-floor-10min", set(POSITIONS) - LYING),
    ],
)
def test_routine_positions(routine: str, allowed: set[str]) -> None:
    used = {pose.position for pose in routine_poses(DATA / "routines" / f"{routine}.yaml")}
    assert used <= allowed, used - allowed


def test_no_floor_routine_is_careful_about_pregnancy() -> None:
    description = load_routine(DATA / "routines" / "no-floor-10min.yaml")["description"].lower()
    assert "pregnan" in description and ("clinician" in description or "midwife" in description)


def test_bedtime_breathes_slowly() -> None:
    breath = load_routine(DATA / "routines" / "bedtime-unwind-20min.yaml")["breath"]
    assert parse_ms(breath["exhale"]) > parse_ms(breath["inhale"])


def _speech_s(texts: list[str]) -> float:
    return sum(words(t) * SECONDS_PER_WORD + SECONDS_PER_SENTENCE for t in texts)


@pytest.mark.parametrize("path", ROUTINES, ids=lambda p: p.stem)
def test_routine_time_budget_leaves_room_for_speech(path: Path) -> None:
    """Speech between holds plus rigid reps must fit, and holds as written should land near the target."""
    routine = load_routine(path)
    table = phrases()
    breath = routine.get("breath", "relaxed")
    breath_s = sum(parse_ms(v) for v in breath.values()) / 1000 if isinstance(breath, dict) else None
    breath_s = breath_s or SECONDS_PER_BREATH[breath]
    speech = _speech_s([*table["safety_full"], table["welcome"][0], table["settle"][0], *table["closing"]])
    rigid = holds = 0.0
    for step in routine["steps"]:
        if "pose" in step:
            pose = get_pose(step["pose"])
            sides = 2 if pose.one_sided and step.get("sides", "both") == "both" else 1
            lines = [f"Next, {pose.name}.", *pose.setup, pose.release, f"If that is too much, {pose.easier}"]
            speech += _speech_s(lines)
            speech += (sides - 1) * _speech_s(["Now switch to your left side.", pose.brief, pose.release])
            if pose.kind == "reps":
                tempo_ms = parse_ms(step["tempo"]) if "tempo" in step else pose.tempo_ms
                assert tempo_ms is not None
                rigid += sides * step.get("reps", pose.reps) * tempo_ms / 1000
            else:
                span = parse_span(step["hold"]) if "hold" in step else pose.hold
                assert span is not None
                hold_s = span.ms / 1000 if span.ms is not None else (span.breaths or 0) * breath_s
                holds += sides * step.get("reps", 1) * hold_s
        elif "rest" in step:
            holds += parse_ms(step["rest"]) / 1000
        elif "say" in step:
            speech += _speech_s([step["say"]])
    target = parse_ms(routine["duration"]) / 1000
    planned = speech + rigid + holds
    assert speech + rigid <= 0.9 * target, f"speech {speech:.0f}s + reps {rigid:.0f}s leave no room for holds"
    # The rest of the target is the compiler's: moves between positions, settling before each hold,
    # and quiet after each pose (tests/test_schedule.py fits every routine with the real voice).
    assert 0.75 <= planned / target <= 1.2, f"planned {planned:.0f}s for a {target:.0f}s target"
