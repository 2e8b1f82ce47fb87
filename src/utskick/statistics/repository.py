"""All queries of the statistics on letters (read only).

Months are Stockholm calendar months. Letters store their times in UTC, so a month is the
half-open range of UTC instants between the starts of two Stockholm months; the queries sort
letters into months with one CASE over those boundaries, which reads the same on SQLite and on
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from utskick.letters.models import Letter, LetterEvent, MessageType
from utskick.letters.vocabulary import DELIVERED, HANDED_TO_PRINT, PRINTED
from utskick.senders.models import SenderOrganisation

STOCKHOLM = ZoneInfo("Europe/Stockholm")
MONTHS_PER_YEAR = 12

# The states that end a letter's way to its recipient, digital or on paper, and from which
# its delivery time is read.
DELIVERED_STATES = (DELIVERED, HANDED_TO_PRINT, PRINTED)


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in Stockholm."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """`YYYY-MM` as a month.

        Raises:
            ValueError: the text is not a month; the message is Swedish.
        """
        year_text, separator, month_text = text.strip().partition("-")
        if (
            not separator
            or len(year_text) != 4  # noqa: PLR2004 (four-digit year)
            or not year_text.isdigit()
            or not month_text.isdigit()
            or not 1 <= int(month_text) <= MONTHS_PER_YEAR
        ):
            raise ValueError(f"en månad skrivs ÅÅÅÅ-MM, t.ex. 2026-11, fick '{text}'")
        return cls(int(year_text), int(month_text))

    @classmethod
    def of(cls, instant: dt.datetime) -> Month:
        """The Stockholm month an instant falls in."""
        local = instant.astimezone(STOCKHOLM)
        return cls(local.year, local.month)

    def next(self) -> Month:
        """The month after this one."""
        if self.month == MONTHS_PER_YEAR:
            return Month(self.year + 1, 1)
        return Month(self.year, self.month + 1)

    def minus(self, months: int) -> Month:
        """The month `months` before this one."""
        index = self.year * MONTHS_PER_YEAR + self.month - 1 - months
        return Month(index // MONTHS_PER_YEAR, index % MONTHS_PER_YEAR + 1)

    def start(self) -> dt.datetime:
        """The month's first instant (midnight in Stockholm on the 1st), in UTC."""
        return dt.datetime(self.year, self.month, 1, tzinfo=STOCKHOLM).astimezone(dt.UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def months_between(first: Month, last: Month) -> list[Month]:
    """Every month from `first` to `last`, both included."""
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = month.next()
    return months


@dataclass(frozen=True)
class LetterScope:
    """Which letters count.

    A period of months and, optionally, one department, one sender organisation (10 digits)
    and one message type. The web app always names the organisation for someone who belongs
    to one (`utskick.statistics.web.scope_for`): the department alone would count two
    municipalities' departments of the same name together.
    """

    first_month: Month
    last_month: Month
    department: str | None = None
    sender_number: str | None = None
    message_type: str | None = None


@dataclass(frozen=True)
class OutcomeCount:
    """How many letters of one month, department, sender and message type are in one state."""

    month: str
    department: str | None
    sender_number: str
    message_type: str | None
    state: str
    reason: str | None
    letters: int


@dataclass(frozen=True)
class DeliveryTime:
    """When a delivered (or printed) letter was accepted and when it reached its end state."""

    month: str
    department: str | None
    sender_number: str
    message_type: str | None
    state: str
    created_at: dt.datetime
    delivered_at: dt.datetime


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; every time Utskick stores is UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class StatisticsRepository:
    """Counts and times of letters for the statistics (read only)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _month_of_letter(self, scope: LetterScope) -> ColumnElement[str | None]:
        """The letter's month as `YYYY-MM`, by the UTC boundaries of the Stockholm months."""
        months = months_between(scope.first_month, scope.last_month)
        return case(
            *((Letter.created_at < month.next().start(), str(month)) for month in months),
            else_=None,
        )

    def _conditions(self, scope: LetterScope) -> list[ColumnElement[bool]]:
        """The conditions a letter in scope meets."""
        conditions = [
            Letter.created_at >= scope.first_month.start(),
            Letter.created_at < scope.last_month.next().start(),
        ]
        if scope.department is not None:
            conditions.append(Letter.department == scope.department)
        if scope.sender_number is not None:
            conditions.append(Letter.sender_number == scope.sender_number)
        if scope.message_type is not None:
            conditions.append(Letter.message_type == scope.message_type)
        return conditions

    def _grouping(self, scope: LetterScope) -> tuple[Any, ...]:
        """The columns a letter is grouped by: month, department, sender, type and state."""
        month = self._month_of_letter(scope).label("month")
        return (month, Letter.department, Letter.sender_number, Letter.message_type, Letter.state)

    def outcome_counts(self, scope: LetterScope) -> list[OutcomeCount]:
        """The letters in scope counted by month, department, sender, type, state and reason."""
        grouping = (*self._grouping(scope), Letter.reason)
        query = (
            select(*grouping, func.count().label("letters"))
            .where(*self._conditions(scope))
            .group_by(*grouping)
        )
        return [OutcomeCount(*row[:6], letters=row[6]) for row in self.session.execute(query)]

    def delivery_times(self, scope: LetterScope) -> list[DeliveryTime]:
        """Each delivered or printed letter in scope with the time of its end event."""
        reached = (
            select(LetterEvent.letter_id, func.min(LetterEvent.at).label("at"))
            .where(LetterEvent.state.in_(DELIVERED_STATES))
            .group_by(LetterEvent.letter_id)
            .subquery()
        )
        query = (
            select(*self._grouping(scope), Letter.created_at, reached.c.at)
            .join(reached, reached.c.letter_id == Letter.id)
            .where(Letter.state.in_(DELIVERED_STATES), *self._conditions(scope))
        )
        return [
            DeliveryTime(*row[:5], created_at=_utc(row[5]), delivered_at=_utc(row[6]))
            for row in self.session.execute(query)
        ]

    def first_letter_at(self) -> dt.datetime | None:
        """When the first letter of all was accepted (None before any letter)."""
        first = self.session.scalar(select(func.min(Letter.created_at)))
        return None if first is None else _utc(first)

    def departments(
        self, departments: Sequence[str] | None = None, *, sender_number: str | None = None
    ) -> list[str]:
        """The departments letters were sent for, by name.

        Restricted to `departments`, and to one sender organisation's letters when named.
        """
        query = select(Letter.department).where(Letter.department.is_not(None)).distinct()
        if departments is not None:
            query = query.where(Letter.department.in_(departments))
        if sender_number is not None:
            query = query.where(Letter.sender_number == sender_number)
        return sorted(name for name in self.session.scalars(query) if name is not None)

    def sender_names(self) -> dict[str, str]:
        """Organisationsnummer → name of every sender organisation."""
        rows = self.session.execute(
            select(SenderOrganisation.organisation_number, SenderOrganisation.name)
        )
        return dict(rows.all())

    def message_type_names(self) -> dict[str, str]:
        """Code → Swedish name of every message type."""
        rows = self.session.execute(select(MessageType.code, MessageType.name))
        return dict(rows.all())
