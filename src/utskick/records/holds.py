"""Holds (spärrar): no disposal of one letter, or of every letter of one case.

A hold is placed when records must outlive their disposal date: a court asks for them, a
request for disclosure is being tried, an audit is under way. It names either one letter or
one case number (diarienummer) within one organisation, and stops disposal of what it names
until someone releases it. Released holds stay in the table, with who released them and
when: the trace of why a record was kept past its date.

A case number is matched as officers type them: surrounding spaces are ignored and so is
case, by the same folding as the desk's search (`letters.search.folded`), so `ks 2026/12 `
holds the letters of `KS 2026/12`. The disposal applies the same rule (`retention`), through
`hold_applies`, so that what a page says is held is what the daily job leaves alone.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    String,
    and_,
    exists,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.orm import Session

from utskick.letters.models import Letter
from utskick.letters.search import folded
from utskick.records.models import RecordHold
from utskick.senders.models import SenderOrganisation

REASON_MAX = 500
CASE_NUMBER_MAX = 200


class HoldInputError(ValueError):
    """A hold that cannot be placed or released, with a Swedish message that says what to do."""


def place_hold(
    session: Session,
    *,
    sender_number: str,
    reason: str,
    actor: str,
    now: dt.datetime,
    letter_id: str | None = None,
    case_number: str | None = None,
) -> RecordHold:
    """Place a hold on one letter or on one case number of an organisation (caller commits).

    Refuses, in Swedish and changing nothing: a missing reason, both or neither of letter id
    and case number, a letter that does not exist or belongs to another organisation, an
    organisation that is not a sender here.
    """
    reason = (reason or "").strip()
    letter_id = (letter_id or "").strip() or None
    case_number = (case_number or "").strip() or None
    if not reason:
        message = (
            "Ange skälet till spärren (till exempel att en domstol har begärt handlingarna): "
            "den som senare undrar varför brevet inte gallrades ska kunna läsa det."
        )
        raise HoldInputError(message)
    if len(reason) > REASON_MAX:
        message = f"Skälet är för långt ({len(reason)} tecken); skriv högst {REASON_MAX} tecken."
        raise HoldInputError(message)
    if (letter_id is None) == (case_number is None):
        message = "Ange antingen ett brev (dess id) eller ett ärendenummer att spärra, inte båda."
        raise HoldInputError(message)
    if case_number is not None and len(case_number) > CASE_NUMBER_MAX:
        message = f"Ärendenumret är för långt; skriv högst {CASE_NUMBER_MAX} tecken."
        raise HoldInputError(message)
    _check_organisation(session, sender_number)
    if letter_id is not None:
        _check_letter(session, letter_id, sender_number)
    hold = RecordHold(
        sender_number=sender_number,
        letter_id=letter_id,
        case_number=case_number,
        reason=reason,
        created_at=now,
        created_by=actor,
    )
    session.add(hold)
    session.flush()
    return hold


def _check_organisation(session: Session, sender_number: str) -> None:
    known = session.scalar(
        select(SenderOrganisation.id).where(SenderOrganisation.organisation_number == sender_number)
    )
    if known is None:
        message = (
            f"Organisationen {sender_number} skickar inga brev här; ange en av "
            "avsändarorganisationernas organisationsnummer."
        )
        raise HoldInputError(message)


def _check_letter(session: Session, letter_id: str, sender_number: str) -> None:
    owner = session.scalar(select(Letter.sender_number).where(Letter.id == letter_id))
    # A letter of another organisation is reported as missing: its existence is not ours to tell.
    if owner is None or owner != sender_number:
        message = (
            f"Det finns inget brev med id {letter_id} hos organisationen {sender_number}; "
            "kontrollera id:t (det står på brevets sida) eller om brevet redan har gallrats."
        )
        raise HoldInputError(message)


def release_hold(
    session: Session,
    hold_id: int,
    *,
    sender_number: str | None,
    actor: str,
    now: dt.datetime,
) -> RecordHold:
    """Release an active hold (caller commits); disposal then takes its letters when due.

    `sender_number` is the organisation of the person releasing it; None is the installation's
    administrator, who may release any. A hold of another organisation is reported as missing.
    """
    hold = session.get(RecordHold, hold_id, with_for_update=True)
    if hold is None or (sender_number is not None and hold.sender_number != sender_number):
        message = f"Det finns ingen spärr nummer {hold_id}; se listan över spärrar."
        raise HoldInputError(message)
    if hold.released_at is not None:
        message = (
            f"Spärr nummer {hold_id} är redan hävd (av {hold.released_by}); inget har ändrats."
        )
        raise HoldInputError(message)
    hold.released_at = now
    hold.released_by = actor
    session.flush()
    return hold


def active_holds(session: Session, *, sender_number: str | None) -> list[RecordHold]:
    """The holds not yet released, oldest first; `sender_number` None: every organisation's."""
    query = select(RecordHold).where(RecordHold.released_at.is_(None))
    if sender_number is not None:
        query = query.where(RecordHold.sender_number == sender_number)
    return list(session.scalars(query.order_by(RecordHold.created_at, RecordHold.id)))


def holds_for_letter(session: Session, letter: Letter) -> list[RecordHold]:
    """The active holds that stop disposal of this letter: on it, or on its case number."""
    query = select(RecordHold).where(
        RecordHold.released_at.is_(None),
        hold_applies(
            letter_id=literal(letter.id, String),
            sender_number=literal(letter.sender_number, String),
            case_number=literal(letter.case_number, String),
        ),
    )
    return list(session.scalars(query.order_by(RecordHold.created_at, RecordHold.id)))


def count_held_letters(session: Session, hold: RecordHold) -> int:
    """How many stored letters the hold names now (a case's letters may be many, or none)."""
    if hold.letter_id is not None:
        condition = Letter.id == hold.letter_id
    else:
        condition = _case_key(Letter.case_number) == _case_key(literal(hold.case_number, String))
    query = select(func.count()).where(Letter.sender_number == hold.sender_number, condition)
    return int(session.scalar(query) or 0)


def hold_applies(
    *,
    letter_id: SQLColumnExpression[str],
    sender_number: SQLColumnExpression[str],
    case_number: SQLColumnExpression[str | None],
) -> ColumnElement[bool]:
    """Whether a hold names the letter: by its id, or by its case number (same organisation)."""
    return and_(
        RecordHold.sender_number == sender_number,
        or_(
            RecordHold.letter_id == letter_id,
            and_(
                RecordHold.case_number.is_not(None),
                case_number.is_not(None),
                _case_key(RecordHold.case_number) == _case_key(case_number),
            ),
        ),
    )


def under_active_hold(
    *,
    letter_id: SQLColumnExpression[str],
    sender_number: SQLColumnExpression[str],
    case_number: SQLColumnExpression[str | None],
) -> ColumnElement[bool]:
    """An SQL condition: some active hold names the letter with these columns."""
    return exists(
        select(RecordHold.id).where(
            RecordHold.released_at.is_(None),
            hold_applies(
                letter_id=letter_id,
                sender_number=sender_number,
                case_number=case_number,
            ),
        )
    )


def _case_key(value: SQLColumnExpression[str | None]) -> SQLColumnExpression[str]:
    """A case number as compared: without surrounding spaces, in lower case."""
    return folded(func.trim(value))
