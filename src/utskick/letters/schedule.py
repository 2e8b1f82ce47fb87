"""Sending at a set time: the "not before" a letter may carry, read as senders write it.

A letter prepared in the afternoon for 06:00 (a mass mailing, a night's invoice run) is
stored at once and waits: its `classify` job is due at `not_before`, so nothing about it is
decided or sent before then, and it can be cancelled until then like any letter that has
not gone out. A time in the past means at once.

Senders write times in many forms: ISO 8601 with an offset or `Z`, or a local time without
one (`2026-12-08 06:00`, `2026-12-08T06.00`, a date alone for its first minute); a time
without an offset is the installation's local time (Europe/Stockholm), as people mean it.
`24:00` is the end of the day (the next day's `00:00`), and a leap second `23:59:60` the moment
after `23:59:59`.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

from utskick.letters.inputs import LetterRejectedError

# The furthest ahead a letter may be set: a year, so that a typo in the year is caught.
MAX_DAYS_AHEAD = 366
FIELD = "not_before"

_LOCAL_FORMS = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?)?"
)
_EXAMPLE = "till exempel 2026-12-08 06:00 eller 2026-12-08T06:00:00+01:00"
# ISO 8601's end of a day (`24:00`, the next day's first moment) and a leap second (`23:59:60`,
# the moment after the minute's last second): moments that Python's times cannot hold as such.
_END_OF_DAY = re.compile(
    r"(?P<head>\d{4}-\d{2}-\d{2}[T ])24[:.]00(?:[:.]00(?:[.,]0+)?)?(?P<tail>(?:[zZ]|[+-].*)?)"
)
_LEAP_SECOND = re.compile(
    r"(?P<head>.*[T ]\d{1,2}[:.]59[:.])60(?P<tail>(?:[.,]\d+)?(?:[zZ]|[+-].*)?)"
)


def parse_not_before(value: str | dt.datetime | None, zone: str) -> dt.datetime | None:
    """The time a sender wrote, as aware UTC; None for none (an empty text is none).

    Raises:
        LetterRejectedError: the text is no time, or names a local time that does not exist.
    """
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return _aware(value, zone)
    text = value.strip()
    if not text:
        return None
    readable, later = _edge_of_clock(text)
    try:
        parsed = dt.datetime.fromisoformat(readable.replace("z", "Z"))
    except ValueError:
        parsed = _local_form(readable, shown=text)
    return _aware(parsed + later, zone)


def checked_not_before(when: dt.datetime | None, now: dt.datetime) -> dt.datetime | None:
    """`when` if the letter may wait until then; None if it is due now (or no time is set).

    Raises:
        LetterRejectedError: the time is more than a year ahead.
    """
    if when is None or when <= now:
        return None
    if when - now > dt.timedelta(days=MAX_DAYS_AHEAD):
        raise LetterRejectedError(
            FIELD,
            "tiden för när brevet tidigast ska skickas ligger mer än ett år fram i tiden; "
            "kontrollera årtalet",
        )
    return when


def _edge_of_clock(text: str) -> tuple[str, dt.timedelta]:
    """`24:00` as the day's `00:00` and a day later; `:60` as `:59` and a second later."""
    end = _END_OF_DAY.fullmatch(text)
    if end is not None:
        return f"{end['head']}00:00{end['tail']}", dt.timedelta(days=1)
    leap = _LEAP_SECOND.fullmatch(text)
    if leap is not None:
        return f"{leap['head']}59{leap['tail']}", dt.timedelta(seconds=1)
    return text, dt.timedelta()


def _local_form(text: str, *, shown: str) -> dt.datetime:
    match = _LOCAL_FORMS.fullmatch(text)
    if match is None:
        raise LetterRejectedError(
            FIELD,
            f"{shown!r} är ingen tid som går att läsa; skriv datum och klockslag, {_EXAMPLE}",
        )
    try:
        day = dt.date.fromisoformat(match["date"])
        return dt.datetime.combine(
            day,
            dt.time(int(match["hour"] or 0), int(match["minute"] or 0), int(match["second"] or 0)),
        )
    except ValueError:
        raise LetterRejectedError(
            FIELD, f"{shown!r} är inget giltigt datum eller klockslag; {_EXAMPLE}"
        ) from None


def _aware(value: dt.datetime, zone: str) -> dt.datetime:
    """An aware time in UTC; a naive one is local time in `zone`."""
    if value.tzinfo is not None:
        return value.astimezone(dt.UTC)
    local_zone = ZoneInfo(zone)
    aware = value.replace(tzinfo=local_zone)
    # A time the clocks skip in spring does not exist: say so rather than move it.
    if aware.astimezone(dt.UTC).astimezone(local_zone).replace(tzinfo=None) != value:
        raise LetterRejectedError(
            FIELD,
            f"klockslaget {value:%Y-%m-%d %H:%M} finns inte i svensk tid (klockan ställs fram "
            "då); välj en annan tid",
        )
    return aware.astimezone(dt.UTC)
