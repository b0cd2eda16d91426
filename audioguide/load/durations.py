"""Parse the routine's duration strings: ``30s``, ``1m30s``, ``90``, ``2m``, ``1h``, ``2 minutes``,
``1 minute 30 seconds``, ``8 breaths``."""

from __future__ import annotations

import math
import re

from audioguide.model.amounts import Amount

# Units as people write them: h, hr(s), hour(s); m, min(s), minute(s); s, sec(s), second(s); parts
# may be separated by blanks or a comma ("1 minute, 30 seconds"). Only seconds take decimals.
_HOURS, _MINUTES, _SECONDS = r"h(?:rs?|ours?)?", r"m(?:ins?|inutes?)?", r"s(?:ecs?|econds?)?"
_CLOCK = re.compile(
    rf"^(?:(?P<h>\d+)\s*{_HOURS}(?=[\s,\d]|$))?[\s,]*"
    rf"(?:(?P<m>\d+)\s*{_MINUTES}(?=[\s,\d]|$))?[\s,]*"
    rf"(?:(?P<s>\d+(?:\.\d+)?)\s*{_SECONDS})?$"
)
_BREATHS = re.compile(r"^(?P<n>\d+)\s*breaths?$")


class DurationSyntaxError(ValueError):
    """The text is not a duration; the message says what forms are accepted."""


ACCEPTED = "a duration such as 30s, 1m30s, 2 minutes, 90 (seconds) or 8 breaths"
ACCEPTED_TIMES = "a time such as 30s, 1m30s, 2 minutes or 90 (seconds)"
"""Where breaths make no sense (a session's length, a tempo) the message offers times only."""


def parse_span(value: object, *, allow_breaths: bool = True) -> Amount:
    """Parse a YAML scalar into a Amount; raise DurationSyntaxError with the accepted forms."""
    try:
        return _parse_span(value, allow_breaths)
    except OverflowError:
        accepted = ACCEPTED if allow_breaths else ACCEPTED_TIMES
        raise DurationSyntaxError(f"expected {accepted}; {str(value)[:20]!r}... is far too large") from None


def _parse_span(value: object, allow_breaths: bool) -> Amount:
    accepted = ACCEPTED if allow_breaths else ACCEPTED_TIMES
    if isinstance(value, bool):
        raise DurationSyntaxError(f"expected {accepted}, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise DurationSyntaxError(f"expected {accepted}, got {value!r}")
        return Amount(ms=round(float(value) * 1000))
    if not isinstance(value, str):
        raise DurationSyntaxError(f"expected {accepted}, got a {type(value).__name__}")
    text = value.strip().lower()
    if not text:
        raise DurationSyntaxError(f"expected {accepted}, got an empty string")
    match = _BREATHS.match(text)
    if match:
        if not allow_breaths:
            raise DurationSyntaxError(f"expected {accepted} here, not breaths ({value!r})")
        return Amount(breaths=int(match["n"]))
    if re.fullmatch(r"-?\d+(?:\.\d+)?", text):
        return Amount(ms=round(float(text) * 1000))
    match = _CLOCK.match(text)
    if not match or not any(match.group(g) for g in ("h", "m", "s")):
        raise DurationSyntaxError(f"expected {accepted}, got {value!r}")
    seconds = int(match["h"] or 0) * 3600 + int(match["m"] or 0) * 60 + float(match["s"] or 0)
    return Amount(ms=round(seconds * 1000))


def parse_ms(value: object) -> int:
    """Parse a time (not breaths) into whole milliseconds."""
    span = parse_span(value, allow_breaths=False)
    assert span.ms is not None
    return span.ms


ABOUT = re.compile(r"^\s*(?:~|about\s+)", re.IGNORECASE)
"""``~10m`` or ``about 10m``: a target length that may move to the nearest one the routine can meet."""


def parse_target(value: object) -> tuple[int, bool]:
    """A session length: (milliseconds, whether it is "about" that long)."""
    about = isinstance(value, str) and ABOUT.match(value) is not None
    if about:
        assert isinstance(value, str)
        value = ABOUT.sub("", value)
    return parse_ms(value), about
