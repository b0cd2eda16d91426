"""Duration strings in routines: ``30s``, ``1m30s``, ``90``, ``2m``, ``1h`` and ``N breaths``."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from audioguide.errors import RoutineError
from audioguide.load.durations import ACCEPTED, ACCEPTED_TIMES, DurationSyntaxError, parse_ms, parse_span
from audioguide.load.routine import load_routine
from audioguide.model.amounts import Amount


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        ("30s", 30_000),
        ("1m30s", 90_000),
        (90, 90_000),
        ("90", 90_000),
        (1.5, 1_500),
        ("1.5s", 1_500),
        ("2m", 120_000),
        ("1h", 3_600_000),
        ("1h30m", 5_400_000),
        ("1m 30s", 90_000),
        ("30 sec", 30_000),
        ("2min", 120_000),
        ("30S", 30_000),  # case does not matter
        ("  45s  ", 45_000),  # surrounding blanks do not matter
        (0, 0),  # zero is a length; the loader decides whether it is allowed
        # as people write them
        ("30 seconds", 30_000),
        ("1 second", 1_000),
        ("2 mins", 120_000),
        ("1 minute", 60_000),
        ("10 Minutes", 600_000),
        ("1 minute 30 seconds", 90_000),
        ("1 min, 30 secs", 90_000),
        ("1 hour", 3_600_000),
        ("2 hrs 5 min", 7_500_000),
    ],
)
def test_times_parse_to_whole_milliseconds(value: object, ms: int) -> None:
    span = parse_span(value)
    assert span == Amount(ms=ms)
    assert span.breaths is None
    assert parse_ms(value) == ms
    assert isinstance(parse_ms(value), int)


@pytest.mark.parametrize(
    ("value", "breaths"),
    [("8 breaths", 8), ("1 breath", 1), ("8breaths", 8), ("5 BREATHS", 5), (" 12  breaths ", 12)],
)
def test_breaths_parse_to_a_count(value: str, breaths: int) -> None:
    assert parse_span(value) == Amount(breaths=breaths)


@pytest.mark.parametrize(
    ("span", "text"),
    [
        (Amount(ms=1500), "1.5s"),
        (Amount(ms=90_000), "90s"),
        (Amount(breaths=1), "1 breath"),
        (Amount(breaths=8), "8 breaths"),
    ],
)
def test_describe_reads_back_naturally(span: Amount, text: str) -> None:
    assert span.describe() == text


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "abc",
        "1e9",
        "nan",
        "inf",
        "-5s",
        "1.5m",
        "s",
        "m",
        "1h1h",
        "5 mins ago",
        "2 minute s",
        "30 secondss",
        "1m30",
        ".5s",
        "soon",
        float("nan"),
        float("inf"),
        float("-inf"),
        True,
        False,
        None,
        [],
        [30],
        ["30s"],
        {"s": 30},
    ],
)
def test_non_durations_are_refused_with_the_accepted_forms(value: object) -> None:
    with pytest.raises(DurationSyntaxError) as info:
        parse_span(value)
    assert ACCEPTED in str(info.value)
    with pytest.raises(DurationSyntaxError):
        parse_ms(value)


def test_the_error_quotes_what_was_given() -> None:
    with pytest.raises(DurationSyntaxError, match="'abc'"):
        parse_span("abc")
    with pytest.raises(DurationSyntaxError, match="a list"):
        parse_span(["30s"])
    with pytest.raises(DurationSyntaxError, match="empty string"):
        parse_span("")


def test_duration_syntax_error_is_a_value_error() -> None:
    # callers outside the loader (the CLI's --duration) may catch ValueError
    assert issubclass(DurationSyntaxError, ValueError)


@pytest.mark.parametrize("value", ["8 breaths", "1 breath", "60breaths"])
def test_breaths_are_refused_where_only_a_time_makes_sense(value: str) -> None:
    with pytest.raises(DurationSyntaxError, match="not breaths"):
        parse_span(value, allow_breaths=False)
    with pytest.raises(DurationSyntaxError, match="not breaths"):
        parse_ms(value)


def test_times_still_parse_where_breaths_are_not_allowed() -> None:
    assert parse_span("1m30s", allow_breaths=False) == Amount(ms=90_000)


@given(m=st.integers(0, 10), s=st.integers(0, 59))
def test_minutes_and_seconds_property(m: int, s: int) -> None:
    assert parse_ms(f"{m}m{s}s") == (m * 60 + s) * 1000
    assert parse_ms(f"{m}m {s}s") == (m * 60 + s) * 1000


@given(ms=st.integers(0, 3_600_000))
def test_plain_seconds_with_millisecond_decimals_property(ms: int) -> None:
    seconds = f"{ms // 1000}.{ms % 1000:03d}"
    assert parse_ms(seconds) == ms
    assert parse_ms(seconds + "s") == ms


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(10**400, id="int-10**400"),
        pytest.param(1e308, id="float-1e308"),
        pytest.param("9" * 400, id="400-digit-seconds"),
        pytest.param("9" * 400 + "s", id="400-digit-s"),
        pytest.param("9" * 400 + "h", id="400-digit-h"),
    ],
)
def test_huge_numbers_are_a_duration_error_not_an_overflow(value: object) -> None:
    with pytest.raises(DurationSyntaxError):
        parse_span(value)


@pytest.mark.parametrize("value", ["ten minutes", "8 breaths", "soon"])
def test_a_sessions_length_error_offers_times_only(value: str, tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(f"title: R\nduration: {value}\nsteps:\n  - rest: 10s\n", encoding="utf-8")
    with pytest.raises(RoutineError) as info:
        load_routine(path)
    assert info.value.key == "duration" and info.value.line == 2
    assert ACCEPTED_TIMES in str(info.value)
    assert "or 8 breaths" not in str(info.value)  # a session is never "8 breaths" long


def test_time_only_errors_do_not_offer_breaths() -> None:
    with pytest.raises(DurationSyntaxError) as info:
        parse_ms("soon")
    assert str(info.value) == f"expected {ACCEPTED_TIMES}, got 'soon'"
