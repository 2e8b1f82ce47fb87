"""Sending a letter an officer wrote at the desk: through the letter service like any other.

A letter from the desk is handed over by a sending system of the desk, one per sender
organisation ("Handläggarwebben <organisation>", made on first use), so that the letter
service checks it as it checks every system's letters and the event log names the officer
(`web:<username>`). Sender and department are the officer's own, never the form's. The
form carries an idempotency key made when the page was drawn: a form sent twice (a double
click, a reload, a retry after a lost answer) gives back the letter stored the first time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from utskick.identity import parse_organisation
from utskick.letters.address_screen import ProtectedIdentityLookup, screen_addresses
from utskick.letters.inputs import AttachmentInput, LetterInput, LetterRejectedError
from utskick.letters.service import LetterService, utc_now
from utskick.letters.text_checks import refused_character
from utskick.senders.models import SendingSystem
from utskick.senders.repository import SenderRepository, SendingSystemRepository
from utskick.senders.systems import MAX_NAME_LENGTH, create_sending_system
from utskick.settings import Settings
from utskick.web.users import WebUser

DESK_SYSTEM_PREFIX = "Handläggarwebben"
MAX_CONTACT_LENGTH = 200

MESSAGE_TYPE_MISSING = "välj en meddelandetyp; brevets skyddsklass följer av den"


@dataclass(frozen=True)
class DeskDraft:
    """A letter as the officer wrote it on the compose page, before any check."""

    recipient: str
    subject: str
    body: str
    message_type: str | None = None
    attachments: tuple[AttachmentInput, ...] = ()
    eservice_url: str | None = None
    case_number: str | None = None
    reference: str | None = None
    # name, lines, postal_code, city: for paper, instead of the population register's.
    postal_address: Mapping[str, object] | None = None
    use_contact: bool = False
    contact_email: str | None = None
    contact_phone: str | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class SentLetter:
    """The letter stored for a sent form, and whether it was stored now (False: sent before)."""

    letter_id: str
    created: bool


@dataclass(frozen=True)
class ContactLines:
    """The officer's contact paragraph: who, and how to reach them."""

    who: str
    lines: tuple[str, ...] = field(default=())

    @property
    def text(self) -> str:
        """The paragraph as the letter's support text."""
        return "\n".join((self.who, *self.lines))


def contact_who(user: WebUser, organisation_name: str) -> str:
    """The first line of the officer's contact paragraph."""
    where = ", ".join(part for part in (user.department, organisation_name) if part)
    return f"Har du frågor om brevet? Kontakta {user.display_name}, {where}."


def contact_lines(
    user: WebUser, organisation_name: str, email: str | None, phone: str | None
) -> ContactLines:
    """The officer's contact paragraph with the e-mail address and phone number given.

    Raises:
        LetterRejectedError: an address or number that cannot stand in a letter.
    """
    lines = []
    for name, label, value in (
        ("contact_email", "E-post", email),
        ("contact_phone", "Telefon", phone),
    ):
        if not value:
            continue
        if len(value) > MAX_CONTACT_LENGTH or refused_character(value) is not None:
            raise LetterRejectedError(
                name,
                f"{label.lower()} får ha högst {MAX_CONTACT_LENGTH} tecken på en rad, utan "
                "styrtecken",
            )
        if name == "contact_email" and ("@" not in value or " " in value):
            raise LetterRejectedError(
                name, "e-postadressen ska ha formen namn@kommun.se, utan mellanslag"
            )
        lines.append(f"{label}: {value}")
    return ContactLines(contact_who(user, organisation_name), tuple(lines))


def organisation_of(user: WebUser) -> str:
    """The officer's sender organisation (10 digits).

    Raises:
        LetterRejectedError: the person belongs to no organisation.
    """
    if not user.organisation_number:
        raise LetterRejectedError(
            "sender",
            "du hör inte till någon avsändarorganisation och kan därför inte skicka brev; be "
            "en administratör lägga till din organisation (utskick users)",
        )
    return user.organisation_number


def letter_input_for(user: WebUser, organisation_name: str, draft: DeskDraft) -> LetterInput:
    """The letter the letter service gets: the officer's organisation and department as sender.

    With `use_contact`, the officer's contact paragraph is the letter's own support text
    (shown under "Frågor om brevet" instead of the organisation's, printed after the text).

    Raises:
        LetterRejectedError: no organisation, or contact details that cannot be used.
    """
    support_text = None
    if draft.use_contact:
        contact = contact_lines(user, organisation_name, draft.contact_email, draft.contact_phone)
        support_text = contact.text
    return LetterInput(
        sender=organisation_of(user),
        recipient=draft.recipient,
        subject=draft.subject,
        body=draft.body,
        body_type="text/plain",
        attachments=draft.attachments,
        message_type=draft.message_type,
        department=user.department,
        eservice_url=draft.eservice_url,
        support_text=support_text,
        case_number=draft.case_number,
        reference=draft.reference,
        idempotency_key=draft.idempotency_key,
        postal_address=draft.postal_address,
    )


def screened(letter: LetterInput, protection: ProtectedIdentityLookup | None) -> LetterInput:
    """The letter with a given address screened for protected identity, as the intake does.

    Ask outside any transaction: for a protected recipient the address is dropped before
    anything is stored, and the letter goes through Skatteverket like every such letter.

    Raises:
        LetterRejectedError: an address was given, and the register cannot be asked now.
    """
    if letter.postal_address is None:
        return letter
    result = screen_addresses([letter], protection)
    if result.unavailable is not None:
        raise LetterRejectedError("address", result.unavailable)
    return result.letters[0]


def desk_sending_system(
    session: Session, organisation_number: str, now: dt.datetime
) -> SendingSystem:
    """The desk's sending system of this sender organisation, made on first use.

    Raises:
        LetterRejectedError: the organisation is no sender, or the name is taken by a system
            that sends for others.
    """
    number = parse_organisation(organisation_number).organisation_number
    sender = SenderRepository(session).get(number)
    if sender is None:
        raise LetterRejectedError(
            "sender",
            f"din organisation ({number[:6]}-{number[6:]}) finns inte som avsändare i "
            "Utskick; be en administratör lägga upp den (utskick senders add)",
        )
    name = f"{DESK_SYSTEM_PREFIX} {sender.name}"[:MAX_NAME_LENGTH].strip()
    system = SendingSystemRepository(session).by_name(name)
    if system is None:
        # A letter written at the desk has no other home: Utskick keeps it as the record.
        return create_sending_system(
            session, name=name, sender_numbers=[number], now=now, keeps_records=False
        )
    if list(system.sender_numbers) != [number]:
        raise LetterRejectedError(
            "sender",
            f"det sändande systemet {name!r} finns redan men skickar för andra organisationer "
            "än din; be en administratör byta namn på det",
        )
    return system


class DeskSending:
    """Hands letters from the desk to the letter service; each send is its own transaction."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock

    def send(self, user: WebUser, letter: LetterInput) -> SentLetter:
        """Store the letter (screened already) with its first job, and commit.

        A form sent again with the same idempotency key and content gives the first letter
        back; two sends of one form at the same moment store one letter (the second finds
        the first when its insert collides). A refused letter leaves nothing behind, the
        desk's sending system included.

        Raises:
            LetterRejectedError: naming the field and saying in Swedish what to do
                (`IdempotencyConflictError` for a key used with other content).
        """
        organisation = organisation_of(user)
        for attempt in range(2):
            with self.sessions() as session:
                try:
                    system = desk_sending_system(session, organisation, self.clock())
                    stored, created = LetterService(session, self.settings, self.clock).accept(
                        system, letter, actor=f"web:{user.username}"
                    )
                    sent = SentLetter(stored.id, created)
                    session.commit()
                except IntegrityError:
                    # The same form (or the first letter of the organisation) was stored by
                    # another request a moment ago: the second attempt finds it.
                    session.rollback()
                    if attempt:
                        raise
                    continue
            return sent
        raise AssertionError("unreachable")  # pragma: no cover
