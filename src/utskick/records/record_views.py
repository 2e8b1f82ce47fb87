"""What the records pages show, read from the database and put in Swedish words and local time.

The overview (`/arkiv`) shows the rules in force, how registration stands, the active holds
and the latest disposals; a letter's record (`/arkiv/brev/{id}`) shows the letter as a
record: its rule and keeper, its registration, what is left of its content and until when,
its holds and its timeline. Everything here only reads; the pages' routes are in `routes`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.jobs.queue import utc
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent, MessageType
from utskick.records.models import (
    REGISTRATION_DONE,
    REGISTRATION_EXPORTED,
    REGISTRATION_NONE,
    REGISTRATION_PENDING,
    DisposalLogEntry,
    LetterRecord,
    RecordHold,
)
from utskick.records.rules import KEEPER_TEXTS, RULE_TEXTS, Rule, RuleBook
from utskick.senders.models import SenderOrganisation, SendingSystem

LATEST_DISPOSALS = 20
NONE_TEXT = "–"
ALL_ORGANISATIONS = "alla organisationer"
REGISTRATION_TEXTS = {
    REGISTRATION_NONE: "registreras inte",
    REGISTRATION_PENDING: "väntar på registrering",
    REGISTRATION_DONE: "registrerat",
    REGISTRATION_EXPORTED: "med i registreringsfilen",
}
# The counts the overview shows, in this order.
COUNTED_REGISTRATIONS = (REGISTRATION_PENDING, REGISTRATION_DONE, REGISTRATION_EXPORTED)
DISPOSED_TEXTS = {
    "content": "innehåll (brevtext och bilagor)",
    "metadata": "hela brev (uppgifter och händelser)",
    "access_log": "åtkomstloggen",
}


class LocalTimes:
    """Stored times (UTC; naive on SQLite) as people read them in the installation's zone."""

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)

    def minutes(self, moment: dt.datetime | None) -> str:
        """`2026-11-27 10:00`, or "–"."""
        return self._shown(moment, "%Y-%m-%d %H:%M")

    def seconds(self, moment: dt.datetime | None) -> str:
        """`2026-11-27 10:00:03`, or "–"."""
        return self._shown(moment, "%Y-%m-%d %H:%M:%S")

    def _shown(self, moment: dt.datetime | None, pattern: str) -> str:
        if moment is None:
            return NONE_TEXT
        return utc(moment).astimezone(self.zone).strftime(pattern)


def number_display(number: str | None) -> str:
    """An identity or organisation number as people type it."""
    if not number:
        return NONE_TEXT
    try:
        return parse_identity(number).display
    except InvalidIdentityError:
        return number


def actor_text(actor: str) -> str:
    """Who did something, in Swedish: `web:rita` → `rita (webben)`."""
    kind, _, name = actor.partition(":")
    if kind == "web" and name:
        return f"{name} (webben)"
    if kind == "api" and name:
        return f"{name} (API)"
    if kind == "worker":
        return "Utskick (bakgrundsjobb)"
    if actor == "cli":
        return "kommandoraden"
    return actor


def months_text(months: int | None, forever: str) -> str:
    """A retention period: `7 år`, `18 månader`, or what happens without one."""
    if months is None:
        return forever
    if months and months % 12 == 0:
        return f"{months // 12} år"
    return f"{months} månader"


def organisation_names(session: Session) -> dict[str, str]:
    """Sender organisations' names by number."""
    rows = session.execute(select(SenderOrganisation.organisation_number, SenderOrganisation.name))
    return {str(number): str(name) for number, name in rows}


def message_type_names(session: Session) -> dict[str, str]:
    """Message types' names by code."""
    return {str(code): str(name) for code, name in session.execute(
        select(MessageType.code, MessageType.name)
    )}  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RuleView:
    """One rule as the overview lists it."""

    organisation: str
    message_type: str
    rule: str
    keeper: str
    content: str
    metadata: str
    decision: str


def rule_views(
    book: RuleBook,
    *,
    organisation_number: str | None,
    organisations: Mapping[str, str],
    message_types: Mapping[str, str],
) -> list[RuleView]:
    """The rules that apply to an organisation's letters (None: every organisation's)."""
    shown = [
        rule
        for rule in book.all()
        if organisation_number is None or rule.organisation_number in {None, organisation_number}
    ]
    return [_rule_view(rule, organisations, message_types) for rule in shown]


def _rule_view(
    rule: Rule, organisations: Mapping[str, str], message_types: Mapping[str, str]
) -> RuleView:
    number = rule.organisation_number
    type_name = message_types.get(rule.message_type)
    return RuleView(
        organisation=ALL_ORGANISATIONS if number is None else organisations.get(number, number),
        message_type="övriga typer"
        if rule.message_type == "*"
        else (f"{type_name} ({rule.message_type})" if type_name else rule.message_type),
        rule=RULE_TEXTS.get(rule.rule, rule.rule),
        keeper=KEEPER_TEXTS.get(rule.keeper, rule.keeper),
        content=months_text(rule.content_months, "till arkivering"),
        metadata=months_text(rule.metadata_months, "bevaras"),
        decision=rule.decision or NONE_TEXT,
    )


def registration_counts(session: Session, *, sender_number: str | None) -> list[tuple[str, int]]:
    """How many records wait for registration, are registered and are exported."""
    query = select(LetterRecord.registration, func.count()).group_by(LetterRecord.registration)
    if sender_number is not None:
        query = query.where(LetterRecord.sender_number == sender_number)
    counted = {str(state): int(count) for state, count in session.execute(query)}
    return [(REGISTRATION_TEXTS[state], counted.get(state, 0)) for state in COUNTED_REGISTRATIONS]


@dataclasses.dataclass(frozen=True)
class HoldView:
    """An active hold: on one letter or on one case number."""

    id: int
    organisation: str
    letter_id: str | None
    case_number: str | None
    reason: str
    created: str
    created_by: str
    letters: int | None = None


def hold_views(
    holds: Sequence[RecordHold],
    times: LocalTimes,
    organisations: Mapping[str, str],
    letter_counts: Mapping[int, int] | None = None,
) -> list[HoldView]:
    """Holds as the pages list them (with how many letters each names, where counted)."""
    return [
        HoldView(
            id=hold.id,
            organisation=organisations.get(hold.sender_number, hold.sender_number),
            letter_id=hold.letter_id,
            case_number=hold.case_number,
            reason=hold.reason,
            created=times.minutes(hold.created_at),
            created_by=actor_text(hold.created_by),
            letters=(letter_counts or {}).get(hold.id),
        )
        for hold in holds
    ]


@dataclasses.dataclass(frozen=True)
class DisposalView:
    """One entry of the disposal log."""

    at: str
    organisation: str
    message_type: str
    what: str
    count: int
    period: str
    decision: str


def latest_disposals(
    session: Session,
    times: LocalTimes,
    *,
    sender_number: str | None,
    organisations: Mapping[str, str],
) -> list[DisposalView]:
    """The newest entries of the disposal log (an organisation's, or every one)."""
    query = select(DisposalLogEntry).order_by(
        DisposalLogEntry.at.desc(), DisposalLogEntry.id.desc()
    )
    if sender_number is not None:
        query = query.where(DisposalLogEntry.sender_number == sender_number)
    entries = session.scalars(query.limit(LATEST_DISPOSALS))
    return [
        DisposalView(
            at=times.minutes(entry.at),
            organisation=organisations.get(entry.sender_number, entry.sender_number)
            if entry.sender_number
            else ALL_ORGANISATIONS,
            message_type=entry.message_type,
            what=DISPOSED_TEXTS.get(entry.what, entry.what),
            count=entry.count,
            period=f"{times.minutes(entry.oldest)[:10]} – {times.minutes(entry.newest)[:10]}",
            decision=entry.decision or NONE_TEXT,
        )
        for entry in entries
    ]


@dataclasses.dataclass(frozen=True)
class TimelineStep:
    """One event of the letter's life."""

    at: str
    state: str
    reason: str
    detail: str
    actor: str


def timeline(events: Sequence[LetterEvent], times: LocalTimes) -> list[TimelineStep]:
    """The letter's events, oldest first, in Swedish and local time."""
    return [
        TimelineStep(
            at=times.seconds(event.at),
            state=vocabulary.state_text(event.state),
            reason=vocabulary.text_for(event.reason) if event.reason else "",
            detail=_detail_beyond_reason(event),
            actor=actor_text(event.actor),
        )
        for event in events
    ]


def _detail_beyond_reason(event: LetterEvent) -> str:
    """The event's detail; where it opens with the reason's text, that is not said twice."""
    detail = (event.detail or "").strip()
    if event.reason:
        detail = detail.removeprefix(vocabulary.text_for(event.reason)).strip()
    return detail


def letter_record(session: Session, letter_id: str) -> LetterRecord | None:
    """The letter's record, once the letter has ended."""
    return session.get(LetterRecord, letter_id)


def letter_events(session: Session, letter_id: str) -> list[LetterEvent]:
    """The letter's events in the order they happened."""
    return list(
        session.scalars(
            select(LetterEvent)
            .where(LetterEvent.letter_id == letter_id)
            .order_by(LetterEvent.at, LetterEvent.id)
        )
    )


def sending_system_name(session: Session, letter: Letter) -> str:
    """The name of the system that handed the letter over."""
    system = session.get(SendingSystem, letter.sending_system_id)
    return system.name if system is not None else letter.sending_system_id


def records_of(session: Session, letter_ids: Sequence[str]) -> dict[str, LetterRecord]:
    """The records of these letters, by letter id (letters not yet ended have none)."""
    if not letter_ids:
        return {}
    rows = session.scalars(select(LetterRecord).where(LetterRecord.letter_id.in_(letter_ids)))
    return {record.letter_id: record for record in rows}
