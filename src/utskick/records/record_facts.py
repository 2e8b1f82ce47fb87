"""A letter as a record, in the words of the record page (`/arkiv/brev/{id}`).

What the page says about the content follows what is stored, not what the rule promised:
content that is gone is said to be gone, and why (minimised after delivery because the
sending system keeps the record, or disposed of by a decision).

The disclosure rule (which record is marked "Sekretess kan gälla – pröva före utlämnande")
is here too, so that the page shows beforehand what the PDF will be marked with; see
`secrecy_may_apply`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy.orm import Session

from utskick.letters import vocabulary
from utskick.letters.models import Letter
from utskick.records.masking import ADDRESS_HIDDEN
from utskick.records.models import KEPT_BY_SYSTEM, LetterRecord
from utskick.records.record_views import (
    NONE_TEXT,
    REGISTRATION_TEXTS,
    LocalTimes,
    TimelineStep,
    letter_events,
    letter_record,
    message_type_names,
    number_display,
    organisation_names,
    sending_system_name,
    timeline,
)
from utskick.records.rules import KEEPER_TEXTS, RULE_TEXTS, RuleBook

SECRECY_MARKING = "Sekretess kan gälla – pröva före utlämnande"
# The lowest protection class whose letters may hold information under secrecy.
SECRECY_PROTECTION_CLASS = 2


def secrecy_may_apply(letter: Letter, *, recipient_protected: bool) -> bool:
    """Whether a disclosure of this letter must be tried for secrecy first.

    Protection class 1 is for letters with nothing sensitive in them; classes 2 and 3 are
    chosen because the content may be covered by secrecy (whatever the records rule says: a
    registered letter of class 2 is as sensitive as one kept in order). A recipient with a
    protected identity makes any letter to them sensitive, since it ties the person to the
    organisation's matter.
    """
    return letter.protection_class >= SECRECY_PROTECTION_CLASS or recipient_protected


@dataclasses.dataclass(frozen=True)
class Fact:
    """One line of facts: a label and its value."""

    label: str
    value: str


@dataclasses.dataclass(frozen=True)
class AttachmentFact:
    """An attachment: its name and whether its content is still kept."""

    filename: str
    size: int
    kept: bool


@dataclasses.dataclass(frozen=True)
class RecordFacts:
    """Everything the record page shows about the letter (holds apart)."""

    letter_facts: list[Fact]
    record_facts: list[Fact]
    content_text: str
    attachments: list[AttachmentFact]
    steps: list[TimelineStep]
    ended: bool
    marked: bool


def record_facts(
    session: Session,
    letter: Letter,
    times: LocalTimes,
    *,
    hidden_recipient: str | None,
    held: bool,
) -> RecordFacts:
    """The record page's facts about this letter.

    `hidden_recipient` is shown instead of the recipient's number when it is masked; a masked
    recipient's address is not shown either, and the letter is marked for secrecy.
    """
    record = letter_record(session, letter.id)
    masked = hidden_recipient is not None
    return RecordFacts(
        letter_facts=_letter_facts(session, letter, times, hidden_recipient=hidden_recipient),
        record_facts=_record_facts(session, letter, record, times, held=held),
        content_text=content_text(letter, record, times),
        attachments=[
            AttachmentFact(a.filename, a.size, a.content is not None) for a in letter.attachments
        ],
        steps=timeline(letter_events(session, letter.id), times),
        ended=record is not None,
        marked=secrecy_may_apply(letter, recipient_protected=masked),
    )


def _letter_facts(
    session: Session, letter: Letter, times: LocalTimes, *, hidden_recipient: str | None
) -> list[Fact]:
    organisations = organisation_names(session)
    types = message_type_names(session)
    sender = organisations.get(letter.sender_number)
    type_name = types.get(letter.message_type or "")
    return [
        Fact("Ämne", letter.subject),
        Fact(
            "Avsändare",
            f"{sender} ({number_display(letter.sender_number)})"
            if sender
            else number_display(letter.sender_number),
        ),
        Fact("Förvaltning", letter.department or NONE_TEXT),
        Fact("Mottagare", hidden_recipient or number_display(letter.recipient_id)),
        Fact("Adress för papperspost", _address_text(letter, masked=hidden_recipient is not None)),
        Fact("Ärendets diarienummer", letter.case_number or NONE_TEXT),
        Fact("Referens", letter.reference or NONE_TEXT),
        Fact(
            "Meddelandetyp",
            f"{type_name} ({letter.message_type})"
            if type_name
            else letter.message_type or NONE_TEXT,
        ),
        Fact("Skyddsklass", str(letter.protection_class)),
        Fact("Sändande system", sending_system_name(session, letter)),
        Fact("Skapat", times.minutes(letter.created_at)),
        Fact("Läge", vocabulary.state_text(letter.state)),
        Fact("Kanal", vocabulary.channel_text(letter.channel)),
        Fact("Brevets id", letter.id),
    ]


def _address_text(letter: Letter, *, masked: bool) -> str:
    if masked:
        return ADDRESS_HIDDEN
    address = letter.postal_address
    if not address:
        return "ingen angiven (folkbokföringens adress används)"
    parts = [str(address.get("name") or "")]
    lines = address.get("lines")
    if isinstance(lines, list):
        parts.extend(str(line) for line in lines)
    parts.append(f"{address.get('postal_code') or ''} {address.get('city') or ''}".strip())
    parts.append(str(address.get("country") or ""))
    return ", ".join(part.strip() for part in parts if part.strip())


def _record_facts(
    session: Session,
    letter: Letter,
    record: LetterRecord | None,
    times: LocalTimes,
    *,
    held: bool,
) -> list[Fact]:
    if record is None:
        rule = RuleBook.load(session).rule_for(letter.sender_number, letter.message_type)
        return [
            Fact("Arkivregel", f"{RULE_TEXTS.get(rule.rule, rule.rule)} (när brevet är avslutat)"),
            Fact("Gallringsbeslut", rule.decision or NONE_TEXT),
        ]
    return [
        Fact("Arkivregel", RULE_TEXTS.get(record.rule, record.rule)),
        Fact("Förvaras av", KEEPER_TEXTS.get(record.keeper, record.keeper)),
        Fact("Gallringsbeslut", record.decision or NONE_TEXT),
        Fact("Avslutat", times.minutes(record.sent_at)),
        Fact("Registrering", REGISTRATION_TEXTS.get(record.registration, record.registration)),
        Fact("Registreringsnummer", letter.registration_number or NONE_TEXT),
        Fact("Registrerat", times.minutes(record.registered_at)),
        Fact("Försök att registrera", str(record.registration_attempts)),
        Fact("Innehållet får gallras", _due_text(record.content_due, "när det arkiveras", held)),
        Fact("Uppgifterna får gallras", _due_text(record.metadata_due, "aldrig (bevaras)", held)),
        Fact(
            "Arkiverat",
            f"{times.minutes(record.archived_at)} ({record.archive_package})"
            if record.archived_at
            else "inte än",
        ),
    ]


def _due_text(due: dt.date | None, without: str, held: bool) -> str:
    if due is None:
        return without
    return f"{due} (spärrat: gallras inte så länge spärren gäller)" if held else str(due)


def content_text(letter: Letter, record: LetterRecord | None, times: LocalTimes) -> str:
    """What is left of the letter's content, and why."""
    kept = [letter.body is not None, *(a.content is not None for a in letter.attachments)]
    if record is not None and record.content_disposed_at is not None:
        return (
            f"Innehållet gallrades {times.minutes(record.content_disposed_at)} enligt "
            f"{record.decision or 'gallringsbeslutet'}; uppgifterna och händelserna finns kvar."
        )
    if all(kept):
        if record is None:
            return "Innehållet finns i Utskick."
        return f"Innehållet sparas i Utskick ({KEEPER_TEXTS[record.keeper]} förvarar handlingen)."
    keeper = record is not None and record.keeper == KEPT_BY_SYSTEM
    why = " Det sändande verksamhetssystemet förvarar handlingen." if keeper else ""
    if any(kept):
        return (
            "Minimerat: det som levererades digitalt togs bort efter leveransen; det som "
            f"bara skrivs ut finns kvar.{why}"
        )
    return f"Minimerat: innehållet togs bort efter leveransen.{why}"
