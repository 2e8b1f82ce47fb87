"""A letter's record as one plain value: what a disclosure PDF and an archive package hold.

`load_record_documents` reads letters in bulk (letter, attachments, record, events, the
organisation's and message type's names) and returns `RecordDocument`s that need no session
afterwards: the disclosure page renders one, the archive export renders a package's worth,
a batch at a time.

The recipient is masked ("skyddad identitet") when the letter's own events found the person
protected (`masking.protected_by_events`: FaR's classification or the print service's
batching), or when the caller says so (`mask_identity`: the records pages also ask the
population register, which a disclosure must follow).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.jobs.queue import utc
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent, MessageType
from utskick.records.masking import protected_by_events
from utskick.records.models import KEPT_BY_SYSTEM, LetterRecord
from utskick.records.rules import KEEPER_TEXTS, RULE_TEXTS
from utskick.senders.models import SenderOrganisation

MASKED_RECIPIENT = "skyddad identitet"
DEFAULT_TIME_ZONE = "Europe/Stockholm"
# The events after which the letter had reached its recipient (or the print vendor).
DELIVERY_STATES = frozenset({vocabulary.DELIVERED, vocabulary.HANDED_TO_PRINT, vocabulary.PRINTED})


@dataclasses.dataclass(frozen=True)
class RecordAttachment:
    """One attachment: its facts always, its content while it is kept."""

    position: int
    filename: str
    content_type: str
    channel: str
    size: int
    sha256: str
    content: bytes | None


@dataclasses.dataclass(frozen=True)
class RecordEvent:
    """One event of the letter's life (times are aware UTC)."""

    at: dt.datetime
    state: str
    reason: str | None
    detail: str | None
    actor: str


@dataclasses.dataclass(frozen=True)
class RecordDocument:
    """Everything a letter's record holds, read once (times are aware UTC).

    `body` is None when the content is no longer kept; `content_note` then says why in
    Swedish (minimised after delivery, or disposed of by a decision).
    """

    letter_id: str
    organisation_number: str
    organisation_name: str
    department: str | None
    message_type: str | None
    message_type_name: str | None
    rule: str | None  # the stored word (models.RULES); None before the letter has ended
    keeper: str | None
    decision: str | None
    subject: str
    case_number: str | None
    reference: str | None
    registration_number: str | None
    recipient: str  # as people type it, or MASKED_RECIPIENT
    recipient_masked: bool
    protection_class: int
    created_at: dt.datetime
    sent_at: dt.datetime | None  # when the letter ended (its record's start)
    delivered_at: dt.datetime | None
    channel: str | None
    state: str
    reason: str | None
    body: str | None
    body_type: str
    content_note: str | None
    attachments: tuple[RecordAttachment, ...]
    events: tuple[RecordEvent, ...]
    registration: str | None = None
    archived_at: dt.datetime | None = None
    archive_package: str | None = None
    time_zone: str = DEFAULT_TIME_ZONE

    @property
    def rule_text(self) -> str:
        """The rule in Swedish ("diarieförs" …), or "–" before the letter has ended."""
        return RULE_TEXTS.get(self.rule, self.rule) if self.rule else "–"

    @property
    def keeper_text(self) -> str:
        """Who keeps the record, in Swedish."""
        return KEEPER_TEXTS.get(self.keeper, self.keeper) if self.keeper else "–"


def load_record_document(
    session: Session,
    letter_id: str,
    *,
    mask_identity: bool,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> RecordDocument | None:
    """The letter's record, or None when there is no such letter."""
    found = load_record_documents(
        session, [letter_id], mask_identity=mask_identity, time_zone=time_zone
    )
    return found[0] if found else None


def load_record_documents(
    session: Session,
    letter_ids: Sequence[str],
    *,
    mask_identity: bool = False,
    masked_ids: Collection[str] = (),
    time_zone: str = DEFAULT_TIME_ZONE,
) -> list[RecordDocument]:
    """The records of these letters, in the order asked (letters that do not exist left out).

    Every recipient is masked with `mask_identity`, those of `masked_ids` (found protected
    by the population register) and those the letters' own events found protected in any
    case. Reads in a handful of queries whatever the number of letters; the caller bounds
    the number (attachments' content is read with them).
    """
    if not letter_ids:
        return []
    letters = {
        letter.id: letter
        for letter in session.scalars(
            select(Letter)
            .where(Letter.id.in_(letter_ids))
            .options(selectinload(Letter.attachments))
        )
    }
    records = {
        record.letter_id: record
        for record in session.scalars(
            select(LetterRecord).where(LetterRecord.letter_id.in_(letter_ids))
        )
    }
    events: dict[str, list[LetterEvent]] = {}
    for event in session.scalars(
        select(LetterEvent)
        .where(LetterEvent.letter_id.in_(letter_ids))
        .order_by(LetterEvent.letter_id, LetterEvent.at, LetterEvent.id)
    ):
        events.setdefault(event.letter_id, []).append(event)
    protected = protected_by_events(session, list(letters))
    names = _names(session, list(letters.values()))
    documents = []
    for letter_id in letter_ids:
        letter = letters.get(letter_id)
        if letter is None:
            continue
        documents.append(
            _document(
                letter,
                records.get(letter_id),
                events.get(letter_id, []),
                names,
                masked=mask_identity or letter_id in protected or letter_id in masked_ids,
                time_zone=time_zone,
            )
        )
    return documents


@dataclasses.dataclass(frozen=True)
class _Names:
    organisations: dict[str, str]
    message_types: dict[str, str]


def _names(session: Session, letters: Collection[Letter]) -> _Names:
    numbers = {letter.sender_number for letter in letters}
    codes = {letter.message_type for letter in letters if letter.message_type}
    organisations = {
        str(number): str(name)
        for number, name in session.execute(
            select(SenderOrganisation.organisation_number, SenderOrganisation.name).where(
                SenderOrganisation.organisation_number.in_(numbers)
            )
        )
    }
    message_types = {
        str(code): str(name)
        for code, name in session.execute(
            select(MessageType.code, MessageType.name).where(MessageType.code.in_(codes))
        )
    }
    return _Names(organisations, message_types)


def _document(
    letter: Letter,
    record: LetterRecord | None,
    events: Sequence[LetterEvent],
    names: _Names,
    *,
    masked: bool,
    time_zone: str,
) -> RecordDocument:
    delivered = next((utc(e.at) for e in events if e.state in DELIVERY_STATES), None)
    return RecordDocument(
        letter_id=letter.id,
        organisation_number=letter.sender_number,
        organisation_name=names.organisations.get(letter.sender_number, letter.sender_number),
        department=letter.department,
        message_type=letter.message_type,
        message_type_name=names.message_types.get(letter.message_type or ""),
        rule=record.rule if record else None,
        keeper=record.keeper if record else None,
        decision=record.decision if record else None,
        subject=letter.subject,
        case_number=letter.case_number,
        reference=letter.reference,
        registration_number=letter.registration_number,
        recipient=MASKED_RECIPIENT if masked else _shown_number(letter.recipient_id),
        recipient_masked=masked,
        protection_class=letter.protection_class,
        created_at=utc(letter.created_at),
        sent_at=utc(record.sent_at) if record else None,
        delivered_at=delivered,
        channel=letter.channel,
        state=letter.state,
        reason=letter.reason,
        body=letter.body,
        body_type=letter.body_type,
        content_note=_content_note(letter, record, time_zone),
        attachments=tuple(
            RecordAttachment(
                position=a.position,
                filename=a.filename,
                content_type=a.content_type,
                channel=a.channel,
                size=a.size,
                sha256=a.sha256,
                content=a.content,
            )
            for a in letter.attachments
        ),
        events=tuple(RecordEvent(utc(e.at), e.state, e.reason, e.detail, e.actor) for e in events),
        registration=record.registration if record else None,
        archived_at=utc(record.archived_at) if record and record.archived_at else None,
        archive_package=record.archive_package if record else None,
        time_zone=time_zone,
    )


def _shown_number(number: str) -> str:
    try:
        return parse_identity(number).display
    except InvalidIdentityError:
        return number


def _content_note(letter: Letter, record: LetterRecord | None, time_zone: str) -> str | None:
    """Why the body or an attachment is not here (None when everything is kept)."""
    kept = [letter.body is not None, *(a.content is not None for a in letter.attachments)]
    if all(kept):
        return None
    if record is not None and record.content_disposed_at is not None:
        day = local_time(utc(record.content_disposed_at), time_zone, seconds=False)
        return (
            f"Innehållet (brevtext och bilagor) gallrades {day} enligt "
            f"{record.decision or 'gällande gallringsbeslut'}. Uppgifterna om brevet och "
            "dess händelser finns kvar."
        )
    keeper = record is not None and record.keeper == KEPT_BY_SYSTEM
    who = " Det sändande verksamhetssystemet förvarar handlingen." if keeper else ""
    if any(kept):
        return (
            "Innehållet är minimerat: det som levererades digitalt togs bort efter leveransen; "
            f"det som bara skrevs ut finns kvar.{who}"
        )
    return f"Innehållet är minimerat: brevtext och bilagor togs bort efter leveransen.{who}"


def local_time(moment: dt.datetime, time_zone: str, *, seconds: bool = True) -> str:
    """A time as people read it: local, with the zone's abbreviation (CET/CEST)."""
    local = utc(moment).astimezone(ZoneInfo(time_zone))
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")
