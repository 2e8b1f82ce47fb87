"""What goes out: many letters read in one query, then each built, signed, sealed and posted.

`prepare` reads the letters of a set of `deliver` jobs with their attachments (two
statements for the whole set) and the sender organisations (one), outside any lock: the
recording step checks each letter's state again under the lock before anything counts.
`attempt` then does one letter's remote part (sign as the sender, seal as the intermediary,
post in the operator's wire form) and says what happened, without touching the database, so
that many attempts can be in flight at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from utskick.letters import vocabulary
from utskick.letters.content import DIGITAL_ATTACHMENT_CHANNELS
from utskick.letters.models import Letter, LetterAttachment
from utskick.mm.delivery import (
    Attachment,
    Delivery,
    DeliveryDocumentError,
    SecureMessage,
    SupportInfo,
)
from utskick.mm.signing import SigningError, sign_and_seal
from utskick.mm.soap import MessageTooLargeError, WireForm, deliver_secure_request
from utskick.observability.metrics import (
    CALL_FAULT,
    CALL_OK,
    CALL_UNAVAILABLE,
    count_operator_error,
    observe_operator_call,
)
from utskick.relay.operator import (
    DeliveryRefusedError,
    MailboxOperatorClient,
    TransientDeliveryError,
)
from utskick.senders.keys import SenderKeyError, signing_identity
from utskick.senders.models import SenderOrganisation
from utskick.settings import Settings, operator_wire_form_key
from utskick.switch.rule import DIGITAL

PAPER_ATTACHMENT_CHANNEL = "paper"
DELIVERABLE_STATES = (vocabulary.CLASSIFIED, vocabulary.RETRYING)


@dataclass(frozen=True)
class Outgoing:
    """One letter ready to go out: where, what, and who signs and seals it."""

    letter_id: str
    service_address: str
    operator_number: str | None
    delivery: Delivery
    sender: SenderOrganisation
    intermediary: SenderOrganisation
    # The names of attachments that go on paper only (a letter sent on both channels).
    paper_only: tuple[str, ...] = ()


class NotDeliverableError(Exception):
    """The letter cannot be built or signed as it is: final, like a refusal."""


# --- what an attempt came to ---------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """The operator took the letter: its TransId, the digest of what was sent, the wire form."""

    trans_id: str
    digest: str
    form: WireForm
    paper_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class Refused:
    """The letter will not go out digitally: a SOAP fault's code, or None for our own reason."""

    code: int | None
    description: str


@dataclass(frozen=True)
class Transient:
    """Try again later; `tell` says whether the letter gets a RETRYING event."""

    error: str
    tell: bool = True


@dataclass(frozen=True)
class NothingToDo:
    """Terminal, cancelled, or not a digital letter: the job simply ends."""

    why: str = field(default="")


Attempt = Delivered | Refused | Transient | NothingToDo


# --- preparing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _StoredAttachment:
    filename: str
    content: bytes | None
    content_type: str
    channel: str


@dataclass
class _StoredLetter:
    """What of a letter goes out, read by column (no ORM objects: a set is read per claim)."""

    id: str
    sender_number: str
    recipient_id: str
    subject: str
    body: str | None
    body_type: str
    support_text: str | None
    case_number: str | None
    message_type: str | None
    eservice_url: str | None
    department: str | None
    reference: str | None
    message_id: str
    service_address: str | None
    operator_number: str | None
    attachments: list[_StoredAttachment] = field(default_factory=list)


_LETTER_COLUMNS = (
    Letter.id,
    Letter.sender_number,
    Letter.recipient_id,
    Letter.subject,
    Letter.body,
    Letter.body_type,
    Letter.support_text,
    Letter.case_number,
    Letter.message_type,
    Letter.eservice_url,
    Letter.department,
    Letter.reference,
    Letter.message_id,
    Letter.service_address,
    Letter.operator_number,
)


def _stored_letters(session: Session, letter_ids: Sequence[str]) -> list[_StoredLetter]:
    """The letters still waiting for digital delivery, with their attachments (two queries)."""
    letters = {
        row[0]: _StoredLetter(*row)  # type: ignore[call-arg]  # the columns in field order
        for row in session.execute(
            select(*_LETTER_COLUMNS).where(
                Letter.id.in_(list(letter_ids)),
                Letter.state.in_(DELIVERABLE_STATES),
                Letter.channel == DIGITAL,
            )
        )
    }
    if letters:
        for letter_id, filename, content, content_type, channel in session.execute(
            select(
                LetterAttachment.letter_id,
                LetterAttachment.filename,
                LetterAttachment.content,
                LetterAttachment.content_type,
                LetterAttachment.channel,
            )
            .where(LetterAttachment.letter_id.in_(list(letters)))
            .order_by(LetterAttachment.letter_id, LetterAttachment.position)
        ):
            letters[letter_id].attachments.append(
                _StoredAttachment(filename, content, content_type, channel)
            )
    return list(letters.values())


def prepare(
    session: Session, letter_ids: Sequence[str]
) -> dict[str, Outgoing | NotDeliverableError]:
    """Each letter that still waits for digital delivery, ready to sign (or why it cannot be).

    Letters that are not waiting (gone out, cancelled, not digital) are left out.
    """
    letters = _stored_letters(session, letter_ids)
    if not letters:
        return {}
    senders = {s.organisation_number: s for s in session.scalars(select(SenderOrganisation))}
    intermediary = next((s for s in senders.values() if s.intermediary), None)
    prepared: dict[str, Outgoing | NotDeliverableError] = {}
    for letter in letters:
        if not letter.service_address:
            continue
        sender = senders.get(letter.sender_number)
        if sender is None:
            prepared[letter.id] = NotDeliverableError(
                f"avsändarorganisationen {letter.sender_number} finns inte längre bland avsändarna"
            )
        elif intermediary is None:
            prepared[letter.id] = NotDeliverableError(
                "ingen avsändarorganisation är förmedlare, så brevet kan inte förseglas"
            )
        else:
            prepared[letter.id] = Outgoing(
                letter.id,
                letter.service_address,
                letter.operator_number,
                _delivery_of(letter, sender),
                sender,
                intermediary,
                tuple(
                    a.filename for a in letter.attachments if a.channel == PAPER_ATTACHMENT_CHANNEL
                ),
            )
    return prepared


def _delivery_of(letter: _StoredLetter, sender: SenderOrganisation) -> Delivery:
    """The letter as Mina meddelanden's SignedDelivery content, in the sender's name."""
    metadata: list[tuple[str, str]] = []
    if letter.case_number:
        metadata.append(("Diarienummer", letter.case_number))
    if letter.message_type:
        metadata.append(("Meddelandetyp", letter.message_type))
    if letter.eservice_url:
        metadata.append(("E-tjänst", letter.eservice_url))
    attachments = tuple(
        Attachment(a.filename, a.content or b"", a.content_type)
        for a in letter.attachments
        if a.channel in DIGITAL_ATTACHMENT_CHANNELS
    )
    message = SecureMessage(
        id=letter.message_id,
        subject=letter.subject,
        support_info=SupportInfo(
            # The letter's own (the officer's contact details), else the organisation's.
            text=letter.support_text or sender.support_text or sender.name,
            url=sender.support_url,
            phone_number=sender.support_phone,
            email_address=sender.support_email,
        ),
        body=(letter.body or "").encode("utf-8"),
        body_content_type=letter.body_type,
        attachments=attachments,
        metadata=tuple(metadata),
    )
    return Delivery(
        sender_id="16" + sender.organisation_number,
        sender_name=sender.name,
        recipient_id=letter.recipient_id,
        messages=(message,),
        sender_attention=letter.department,
        reference=letter.reference,
        correlation_id=letter.id,
    )


# --- sending -------------------------------------------------------------------------------


def wire_form_for(
    settings: Settings, service_address: str, operator_number: str | None
) -> WireForm:
    """The wire form for an operator: set for its ServiceAdress, else for it, else prefixed."""
    forms: dict[str, str] = {}
    for key, value in settings.operator_wire_forms.items():
        # Keys are normalised when the settings load; again here for settings made in code.
        with contextlib.suppress(ValueError):
            forms[operator_wire_form_key(key)] = value
    for operator in (service_address, operator_number):
        try:
            form = forms.get(operator_wire_form_key(operator or ""))
        except ValueError:
            continue  # no operator given, or an id in a form no setting can name
        if form is not None:
            return WireForm(form)
    return WireForm.PREFIXED


def attempt(
    outgoing: Outgoing, *, client: MailboxOperatorClient, settings: Settings, today: dt.date
) -> Attempt:
    """Sign, seal and post one letter; what came of it. Touches no database."""
    try:
        form = wire_form_for(settings, outgoing.service_address, outgoing.operator_number)
        request = _signed_request(outgoing, today, form)
    except SenderKeyError as error:
        # A configuration problem the administrator can fix: the letter waits (until its
        # deadline), the job keeps the error.
        return Transient(str(error), tell=False)
    except NotDeliverableError as error:
        return Refused(None, str(error))
    operator = outgoing.operator_number or "unknown"
    started = time.perf_counter()
    try:
        result = client.deliver(outgoing.service_address, request)
    except DeliveryRefusedError as refusal:
        _measured(operator, started, CALL_FAULT, str(refusal.code))
        return Refused(refusal.code, refusal.description)
    except TransientDeliveryError as error:
        _measured(operator, started, CALL_UNAVAILABLE, error.code)
        return Transient(str(error))
    delivered = any(
        status.delivered and status.recipient_id == outgoing.delivery.recipient_id
        for status in result.statuses
    )
    _measured(operator, started, CALL_OK, None if delivered else "not_delivered")
    if not delivered:
        return Refused(None, "operatören svarade att brevet inte levererades (Delivered=false)")
    digest = hashlib.sha256(request).hexdigest()
    return Delivered(result.trans_id, digest, form, outgoing.paper_only)


def _measured(operator: str, started: float, outcome: str, error_code: str | None) -> None:
    """Count one deliverSecure call for /metrics: its time, its outcome, what went wrong."""
    observe_operator_call(operator, time.perf_counter() - started, outcome)
    if error_code is not None:
        count_operator_error(operator, error_code)


def _signed_request(outgoing: Outgoing, today: dt.date, form: WireForm) -> bytes:
    sender_key = signing_identity(outgoing.sender)
    sealer_key = signing_identity(outgoing.intermediary)
    try:
        sealed = sign_and_seal(outgoing.delivery, sender_key, sealer_key, received_on=today)
        return deliver_secure_request(sealed, form)
    except (DeliveryDocumentError, SigningError, MessageTooLargeError) as error:
        raise NotDeliverableError(str(error)) from None
