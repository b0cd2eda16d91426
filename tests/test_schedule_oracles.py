"""Stage 4 against hand-computed samples: pauses, anchors and overruns on tiny scripts with silent clips.

Every expected position below is worked out by hand from the documented semantics (``Say.pause_ms``,
``Placed.anchor``, ``MIN_SPEECH_GAP_MS``) at 44.1 kHz, where 1 ms is 44.1 samples and milliseconds
become samples rounded half up; the arithmetic is in the comments, never taken from the scheduler.
"""

from __future__ import annotations

import numpy as np
import pytest

from audioguide.errors import ScheduleError
from audioguide.model.clip import Clip
from audioguide.model.script import Placed, Say, Script, Section, Span
from audioguide.model.timeline import CUE, HOLD, REST, SPEECH, Event, Timeline
from audioguide.schedule import schedule

# The clips are digital silence of an exact length: the scheduler only ever reads their length.


def clips(**lengths: int) -> dict[str, Clip]:
    return {
        text: Clip(f"key-{text}", text, np.zeros(n, dtype=np.float32), "engine")
        for text, n in lengths.items()
    }


def script(*items: Say | Span, target_ms: int | None = None) -> Script:
    return Script("T", (Section("Hold", 0, tuple(items)),), target_ms, "t.yaml")


def hold(ms: int, *placed: Placed) -> Span:
    """A rigid hold: exactly ``ms`` long whatever the target."""
    return Span("hold", ms, ms, ms, "hold", placed)


def starts(tl: Timeline, kind: str) -> dict[str, int]:
    return {e.text: e.start_sample for e in tl.events if e.kind == kind}


def only(tl: Timeline, kind: str) -> Event:
    (event,) = (e for e in tl.events if e.kind == kind)
    return event


# --- pauses between phrases ---------------------------------------------------------------------------------


def test_each_phrase_waits_for_the_previous_ones_length_plus_its_pause() -> None:
    tl = schedule(
        script(Say("one", 600), Say("two", 250), Say("three", 5)),
        clips(one=44_100, two=22_050, three=10_000),
    )
    # one:   starts at 0, 44100 samples long.
    # two:   0 + 44100 + 600 ms (600 * 44.1 = 26460)      = 70560
    # three: 70560 + 22050 + 250 ms (250 * 44.1 = 11025)  = 103635
    # end:   103635 + 10000 + 5 ms (5 * 44.1 = 220.5, half up -> 221) = 113856
    assert starts(tl, SPEECH) == {"one": 0, "two": 70_560, "three": 103_635}
    assert [e.length_samples for e in tl.speech()] == [44_100, 22_050, 10_000]
    assert tl.length_samples == 113_856
    assert [(c.start_sample, c.end_sample) for c in tl.chapters] == [(0, 113_856)]


def test_the_quiet_after_a_phrase_is_its_pause_and_not_zero() -> None:
    tl = schedule(script(Say("a", 1_000), hold(2_000)), clips(a=30_000))
    # The hold starts after the phrase (30000) and its pause (1000 ms = 44100): at 74100, not at 30000.
    # It lasts 2000 ms = 88200 samples, so the session is 74100 + 88200 = 162300 samples.
    span = only(tl, HOLD)
    assert (span.start_sample, span.length_samples) == (74_100, 88_200)
    assert tl.length_samples == 162_300
    assert tl.speech()[0].end_sample == 30_000


def test_placed_phrases_keep_the_minimum_gap_of_300_ms() -> None:
    # Two optional phrases in one 10 s hold at the start of the session; "first" (1 s = 44100 samples)
    # at the start. The gap is 300 ms = 13230 samples, so "second" may start at 44100 + 13230 = 57330:
    # at 1300 ms (1300 * 44.1 = 57330) it fits exactly; at 1299 ms (57285.9 -> 57286) it is 44 samples
    # too close and is left out.
    def placed(offset_ms: int) -> Timeline:
        return schedule(
            script(
                hold(
                    10_000,
                    Placed("speech", "first", optional=True),
                    Placed("speech", "second", offset_ms=offset_ms, optional=True),
                )
            ),
            clips(first=44_100, second=22_050),
        )

    assert starts(placed(1_300), SPEECH) == {"first": 0, "second": 57_330}
    assert starts(placed(1_299), SPEECH) == {"first": 0}


# --- anchors inside a span ----------------------------------------------------------------------------------

READY = Say("ready", 1_000)  # 44100 samples of speech + 1000 ms (44100) of pause: the span starts at 88200
READY_CLIP = {"ready": 44_100}
SPAN_START = 88_200


def test_end_anchored_items_are_measured_back_from_a_rigid_holds_end() -> None:
    tl = schedule(
        script(
            READY,
            hold(
                10_000,
                Placed("speech", "last", anchor="end", offset_ms=4_000),
                Placed("cue", "exhale", anchor="end", offset_ms=2_000, length_ms=2_000),
            ),
        ),
        clips(last=44_100, **READY_CLIP),
    )
    # The hold: 10000 ms = 441000 samples from 88200, so it ends at 529200.
    # "last":   529200 - 4000 ms (176400) = 352800, ending at 352800 + 44100 = 396900.
    # "exhale": 529200 - 2000 ms (88200)  = 441000, 2000 ms (88200) long, ending on the hold's end.
    span = only(tl, HOLD)
    assert (span.start_sample, span.end_sample) == (SPAN_START, 529_200)
    assert starts(tl, SPEECH) == {"ready": 0, "last": 352_800}
    tone = only(tl, CUE)
    assert (tone.start_sample, tone.length_samples, tone.end_sample) == (441_000, 88_200, 529_200)


# A flexible rest after "ready", fitted to a 30 s target: the only flexible span takes all the time the
# speech leaves, 30000 ms (1323000 samples) - 88200 = 1234800 samples (28 s, inside its 5-40 s range),
# so it runs from 88200 to 1323000. Its base (10 s = 441000 samples) must play no part in the positions.
def fitted(*placed: Placed, **lengths: int) -> Timeline:
    rest = Span("rest", 10_000, 5_000, 40_000, "rest", placed)
    return schedule(script(READY, rest, target_ms=30_000), clips(**READY_CLIP, **lengths))


def test_a_flexible_span_is_fitted_to_the_target_exactly() -> None:
    tl = fitted()
    span = only(tl, REST)
    assert (span.start_sample, span.length_samples) == (SPAN_START, 1_234_800)
    assert tl.length_samples == 1_323_000


def test_end_anchored_items_follow_the_fitted_end_of_a_flexible_span() -> None:
    tl = fitted(Placed("speech", "soon", anchor="end", offset_ms=3_000), soon=44_100)
    # 1323000 - 3000 ms (132300) = 1190700. Measured from the start it would be 88200 + 132300 = 220500;
    # from the unfitted base end, 88200 + 441000 - 132300 = 396900.
    assert starts(tl, SPEECH)["soon"] == 1_190_700


def test_fraction_anchored_items_take_their_fraction_of_the_fitted_length() -> None:
    tl = fitted(
        Placed("speech", "half", anchor="fraction", fraction=0.5),
        Placed("speech", "late", anchor="fraction", fraction=0.8),
        half=44_100,
        late=44_100,
    )
    # half: 88200 + 0.5 * 1234800 (617400) = 705600
    # late: 88200 + 0.8 * 1234800 (987840) = 1076040
    # (Of the 10 s base instead they would sit at 88200 + 220500 = 308700 and 88200 + 352800 = 441000;
    # of the whole session at 661500 and 1058400; without the span's start at 617400 and 987840.)
    assert starts(tl, SPEECH) == {"ready": 0, "half": 705_600, "late": 1_076_040}


def test_fraction_anchored_cues_land_on_the_same_samples() -> None:
    tl = fitted(Placed("cue", "tick", anchor="fraction", fraction=0.25))
    # 88200 + 0.25 * 1234800 (308700) = 396900; a tick lasts 0.09 s = 3969 samples.
    tick = only(tl, CUE)
    assert (tick.start_sample, tick.length_samples) == (396_900, 3_969)


# --- speech must end inside its span ------------------------------------------------------------------------


# A 2 s hold (88200 samples) from 88200 to 176400, then a rigid 5 s rest, so that speech running past
# the hold lands in silence: only the overrun rule itself can object to it, not the check for
# overlapping phrases or for audio past the end of the session.
def hold_then_rest(*placed: Placed, **lengths: int) -> Timeline:
    rest = Span("rest", 5_000, 5_000, 5_000, "rest")
    return schedule(script(READY, hold(2_000, *placed), rest), clips(**READY_CLIP, **lengths))


@pytest.mark.parametrize(
    ("placed", "length"),
    [
        # At the start: 88200 + 88200 = 176400, exactly the hold's end.
        (Placed("speech", "line", offset_ms=0), 88_200),
        # 500 ms before the end: 176400 - 22050 = 154350; 154350 + 22050 = 176400, the hold's end.
        (Placed("speech", "line", anchor="end", offset_ms=500), 22_050),
        # At half: 88200 + 44100 = 132300; 132300 + 44100 = 176400.
        (Placed("speech", "line", anchor="fraction", fraction=0.5), 44_100),
    ],
    ids=["start", "end", "fraction"],
)
def test_speech_that_ends_on_the_last_sample_of_its_hold_fits(placed: Placed, length: int) -> None:
    tl = hold_then_rest(placed, line=length)
    line = next(e for e in tl.speech() if e.text == "line")
    assert line.end_sample == 176_400 == only(tl, HOLD).end_sample


@pytest.mark.parametrize(
    ("placed", "length"),
    [
        (Placed("speech", "line", offset_ms=0), 88_201),
        (Placed("speech", "line", anchor="end", offset_ms=500), 22_051),
        (Placed("speech", "line", anchor="fraction", fraction=0.5), 44_101),
    ],
    ids=["start", "end", "fraction"],
)
def test_required_speech_one_sample_past_its_hold_is_an_error(placed: Placed, length: int) -> None:
    # The same placements with clips one sample longer: each would end at 176401, inside the rest.
    with pytest.raises(
        ScheduleError, match=r"^t\.yaml: step 1 \(Hold\): 'line' takes \d\.\d s but the hold ends"
    ):
        hold_then_rest(placed, line=length)


def test_optional_speech_that_would_overrun_its_hold_is_left_out() -> None:
    tl = hold_then_rest(Placed("speech", "line", anchor="end", offset_ms=500, optional=True), line=22_051)
    assert [e.text for e in tl.speech()] == ["ready"]
