"""Searching the access log: who searched, opened or disclosed which letters, newest first.

The filters are what an administrator asks when a person wonders who looked at their
letters, or when a user's reading is reviewed: the user, the letter, the kind of access and
a period of local days. Every filter given must match; a page holds `PER_PAGE` rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from utskick.web.access_log import ACTIONS, AccessLogEntry

PER_PAGE = 50
MAX_PAGE = 100_000
MAX_TEXT = 200
DATE_HELP = "skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-11-27"


@dataclasses.dataclass(frozen=True)
class LogForm:
    """The filters as typed (stripped), to read and to show again."""

    username: str = ""
    letter_id: str = ""
    action: str = ""
    date_from: str = ""
    date_to: str = ""


@dataclasses.dataclass(frozen=True)
class LogFilters:
    """The filters read: exact user and letter, one action, UTC bounds of the local days."""

    username: str | None = None
    letter_id: str | None = None
    action: str | None = None
    at_from: dt.datetime | None = None
    at_before: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class LogPage:
    """One page of log rows, newest first, and how many rows match in all."""

    entries: list[AccessLogEntry]
    total: int
    page: int

    @property
    def pages(self) -> int:
        """How many pages the matches fill (at least one)."""
        return max(1, math.ceil(self.total / PER_PAGE))


def read_log_form(form: LogForm, *, zone: str) -> tuple[LogFilters | None, dict[str, str]]:
    """The filters, or a Swedish message per field that cannot be read (then no filters)."""
    errors: dict[str, str] = {}
    for field in ("username", "letter_id"):
        if len(getattr(form, field)) > MAX_TEXT:
            errors[field] = f"får ha högst {MAX_TEXT} tecken; korta texten"
    if form.action and form.action not in ACTIONS:
        errors["action"] = "välj en handling i listan"
    first = _day(form.date_from, "date_from", errors)
    last = _day(form.date_to, "date_to", errors)
    if first and last and last < first:
        errors["date_to"] = (
            f"till-datumet ({last}) ligger före från-datumet ({first}); byt plats på dem"
        )
    if errors:
        return None, errors
    local = ZoneInfo(zone)
    return (
        LogFilters(
            username=form.username.lower() or None,
            letter_id=form.letter_id.lower() or None,
            action=form.action or None,
            at_from=_start_of(first, local) if first else None,
            at_before=_start_of(last + dt.timedelta(days=1), local) if last else None,
        ),
        errors,
    )


def _day(typed: str, field: str, errors: dict[str, str]) -> dt.date | None:
    if not typed:
        return None
    try:
        return dt.date.fromisoformat(typed)
    except ValueError:
        errors[field] = f"”{typed[:40]}” är inget datum; {DATE_HELP}"
        return None


def _start_of(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _conditions(filters: LogFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.username is not None:
        conditions.append(func.lower(AccessLogEntry.username) == filters.username)
    if filters.letter_id is not None:
        conditions.append(AccessLogEntry.letter_id == filters.letter_id)
    if filters.action is not None:
        conditions.append(AccessLogEntry.action == filters.action)
    if filters.at_from is not None:
        conditions.append(AccessLogEntry.at >= filters.at_from)
    if filters.at_before is not None:
        conditions.append(AccessLogEntry.at < filters.at_before)
    return conditions


def search_log(session: Session, filters: LogFilters, *, page: int = 1) -> LogPage:
    """The matching rows, newest first: one page and the count of all."""
    conditions = _conditions(filters)
    total = session.scalar(select(func.count(AccessLogEntry.id)).where(*conditions)) or 0
    page = min(max(1, page), max(1, math.ceil(total / PER_PAGE)))
    entries = session.scalars(
        select(AccessLogEntry)
        .where(*conditions)
        .order_by(AccessLogEntry.at.desc(), AccessLogEntry.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    )
    return LogPage(entries=list(entries), total=total, page=page)


def page_number(typed: str | None) -> int:
    """The page asked for; anything but a page number is the first."""
    try:
        number = int(typed or "1")
    except ValueError:
        return 1
    return number if 1 <= number <= MAX_PAGE else 1
