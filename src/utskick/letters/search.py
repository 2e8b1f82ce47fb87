"""Searching the letters a person may see: filters within a scope, newest first, page by page.

The officer's desk (`/brev`) searches every letter of the organisation that the person's role
allows, whichever way it came in (the API, a batch, the CLI or the web), so a registrator can
find any letter the organisation sent. Each query here is bounded by the scope first: a letter
outside it is never read, also not when asked for by its id, so a direct URL to another
department's letter finds nothing, exactly as for a letter that does not exist.

Subjects and case numbers match case-insensitively on SQLite and PostgreSQL alike. SQLite's
`lower()` folds only ASCII, so the Swedish (and a few other common) capitals are folded by
`replace()` around it, and the typed text goes through the same expression in the database:
both sides are folded by the same rules whatever the backend or its locale.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Select,
    SQLColumnExpression,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterAttachment, LetterEvent
from utskick.letters.repository import LetterRepository
from utskick.senders.models import SendingSystem

PER_PAGE = 50
_Row = TypeVar("_Row")
# The capitals SQLite's lower() leaves as they are, with the small letter each becomes.
_NON_ASCII_CAPITALS = (("Å", "å"), ("Ä", "ä"), ("Ö", "ö"), ("É", "é"), ("È", "è"), ("Ü", "ü"),
                       ("Æ", "æ"), ("Ø", "ø"))  # fmt: skip
_LIKE_ESCAPE = "\\"
# A letter in these states has not gone out: it may still be cancelled (LetterService.cancel
# refuses the others, and these too once a delivery attempt has begun).
CANCELLABLE_STATES: frozenset[str] = frozenset(
    {vocabulary.RECEIVED, vocabulary.CLASSIFIED, vocabulary.PAPER}
)


class Scope(Protocol):
    """Whose letters are searched (`utskick.web.menu.LetterScope` is one).

    `organisation_number` None: every organisation; `department` None: every department of
    it; "": the letters that have no department.
    """

    @property
    def organisation_number(self) -> str | None:
        """The sender organisation (10 digits), or None for all."""

    @property
    def department(self) -> str | None:
        """The department, None for all, "" for letters without one."""


@dataclasses.dataclass(frozen=True)
class LetterFilters:
    """What to look for within the scope; every filter given must match (empty: any).

    Attributes:
        recipient_ids: 12-digit recipient ids, any of which matches (a 10-digit
            personnummer may stand for two centuries).
        subject: text the subject contains, in any case.
        case_number: the case number (diarienummer), or how it begins, in any case.
        created_from: the first moment (UTC) of the period, inclusive.
        created_before: the moment (UTC) the period ends, exclusive.
        state: one of `vocabulary.STATES`.
        channel: digital, paper or none.
        department: the department ("" for letters without one).
        sender_number: the sender organisation (10 digits).
        sending_system_id: the sending system that handed the letter over.
    """

    recipient_ids: tuple[str, ...] = ()
    subject: str | None = None
    case_number: str | None = None
    created_from: dt.datetime | None = None
    created_before: dt.datetime | None = None
    state: str | None = None
    channel: str | None = None
    department: str | None = None
    sender_number: str | None = None
    sending_system_id: str | None = None


@dataclasses.dataclass(frozen=True)
class SearchPage:
    """One page of matches, newest first, with the number of all matches."""

    letters: list[Letter]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the matches fill (at least one)."""
        return max(1, math.ceil(self.total / self.per_page))


def folded(value: SQLColumnExpression[Any]) -> ColumnElement[str]:
    """Text in lower case by the same rules on SQLite and PostgreSQL."""
    result = func.lower(value)
    for capital, small in _NON_ASCII_CAPITALS:
        result = func.replace(result, capital, small)
    return result


def _like_escaped(text: str) -> str:
    """Text matched literally in LIKE: its `%`, `_` and escape characters escaped."""
    for special in (_LIKE_ESCAPE, "%", "_"):
        text = text.replace(special, _LIKE_ESCAPE + special)
    return text


def _matches(column: SQLColumnExpression[Any], pattern: str) -> ColumnElement[bool]:
    return folded(column).like(folded(literal(pattern)), escape=_LIKE_ESCAPE)


def _department_is(department: str) -> ColumnElement[bool]:
    if department == "":
        return or_(Letter.department.is_(None), Letter.department == "")
    return Letter.department == department


def scope_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """The conditions that keep a query on letters within the scope."""
    if scope.organisation_number is None:
        return []
    conditions = [Letter.sender_number == scope.organisation_number]
    if scope.department is not None:
        conditions.append(_department_is(scope.department))
    return conditions


def filter_conditions(filters: LetterFilters) -> list[ColumnElement[bool]]:
    """The conditions of the filters given."""
    conditions: list[ColumnElement[bool]] = []
    if filters.recipient_ids:
        conditions.append(Letter.recipient_id.in_(filters.recipient_ids))
    if filters.subject:
        conditions.append(_matches(Letter.subject, f"%{_like_escaped(filters.subject)}%"))
    if filters.case_number:
        conditions.append(_matches(Letter.case_number, f"{_like_escaped(filters.case_number)}%"))
    if filters.created_from is not None:
        conditions.append(Letter.created_at >= filters.created_from)
    if filters.created_before is not None:
        conditions.append(Letter.created_at < filters.created_before)
    if filters.department is not None:
        conditions.append(_department_is(filters.department))
    exact = (
        (Letter.state, filters.state),
        (Letter.channel, filters.channel),
        (Letter.sender_number, filters.sender_number),
        (Letter.sending_system_id, filters.sending_system_id),
    )
    conditions.extend(column == value for column, value in exact if value is not None)
    return conditions


class ScopedLetters:
    """The letters one person may see, and what hangs on them; nothing outside the scope.

    Args:
        session: the unit of work (only read here).
        scope: whose letters may be seen.
    """

    def __init__(self, session: Session, scope: Scope) -> None:
        self.session = session
        self._scope = scope_conditions(scope)

    def search(
        self, filters: LetterFilters, *, page: int = 1, per_page: int = PER_PAGE
    ) -> SearchPage:
        """The letters matching the filters, newest first: one page and the count of all."""
        conditions = [*self._scope, *filter_conditions(filters)]
        total = self.session.scalar(select(func.count(Letter.id)).where(*conditions)) or 0
        # A page past the last (an old link after letters went away) shows the last one.
        page = min(max(1, page), max(1, math.ceil(total / per_page)))
        letters = self.session.scalars(
            select(Letter)
            .where(*conditions)
            .order_by(Letter.created_at.desc(), Letter.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        return SearchPage(letters=list(letters), total=total, page=page, per_page=per_page)

    def letter(self, letter_id: str) -> Letter | None:
        """The letter if it exists and is in the scope, else None (the two look the same)."""
        return self.session.scalar(self._in_scope(select(Letter).where(Letter.id == letter_id)))

    def events(self, letter: Letter) -> list[LetterEvent]:
        """A letter's events in the order they happened (the letter comes from `letter`)."""
        return LetterRepository(self.session).events(letter.id)

    def attachment(self, letter_id: str, position: int) -> LetterAttachment | None:
        """An attachment of a letter in the scope, by its position (1, 2 …), or None."""
        query = (
            select(LetterAttachment)
            .join(Letter, LetterAttachment.letter_id == Letter.id)
            .where(LetterAttachment.letter_id == letter_id, LetterAttachment.position == position)
        )
        return self.session.scalar(self._in_scope(query))

    def sending_systems(self) -> list[tuple[str, str]]:
        """(id, name) of every sending system that has handed over a letter in the scope."""
        sent_any = exists().where(Letter.sending_system_id == SendingSystem.id, *self._scope)
        rows = self.session.execute(
            select(SendingSystem.id, SendingSystem.name)
            .where(sent_any)
            .order_by(SendingSystem.name)
        )
        return [(str(system_id), str(name)) for system_id, name in rows]

    def departments(self) -> list[str]:
        """The departments of the letters in the scope, in alphabetical order."""
        rows = self.session.scalars(
            select(Letter.department)
            .where(*self._scope, Letter.department.is_not(None), Letter.department != "")
            .distinct()
        )
        return sorted(str(department) for department in rows)

    def cancellable(self, letter: Letter, now: dt.datetime) -> bool:
        """Whether the letter may still be cancelled: nothing has gone out or begun to."""
        if letter.state not in CANCELLABLE_STATES:
            return False
        return not LetterRepository(self.session).delivery_started(letter.id, now)

    def _in_scope(self, query: Select[_Row]) -> Select[_Row]:
        return query.where(*self._scope)
