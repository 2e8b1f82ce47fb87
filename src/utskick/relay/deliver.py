"""Deliver a letter digitally: build, sign, seal, post to its operator, record what happened.

One `deliver` job per digital letter. The job's unit of work is split in three, so that no
remote call happens inside a database transaction:

1. lock the letter, check that it still waits for digital delivery, read what goes out;
2. sign as the sender, seal as the intermediary, write the request in the wire form set for
   the letter's operator (`wire_form_for`), post it to the letter's ServiceAdress;
3. lock the letter again and record DELIVERED (the records work then keeps or removes the
   content by its rule), RETRYING (the job comes back later, with the same message Id) or the
   refusal (PAPER or FAILED by policy).

The `fallback` job at the letter's deadline moves a letter that is still not delivered to
paper, unless a delivery attempt is running right now (then it looks again shortly).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import (
    DELIVER,
    PRINT,
    ClaimedJob,
    JobQueue,
    Retry,
    backoff_seconds,
    enqueue,
)
from utskick.letters import events, vocabulary
from utskick.letters.content import DIGITAL_ATTACHMENT_CHANNELS
from utskick.letters.models import Letter
from utskick.letters.repository import lock_letters
from utskick.mm.delivery import (
    Attachment,
    Delivery,
    DeliveryDocumentError,
    SecureMessage,
    SupportInfo,
)
from utskick.mm.signing import SigningError, sign_and_seal
from utskick.mm.soap import MessageTooLargeError, WireForm, deliver_secure_request
from utskick.relay.operator import (
    DeliveryRefusedError,
    MailboxOperatorClient,
    TransientDeliveryError,
)
from utskick.senders.keys import SenderKeyError, signing_identity
from utskick.senders.models import SenderOrganisation
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings, operator_wire_form_key
from utskick.switch.rule import DIGITAL

logger = logging.getLogger(__name__)

PAPER_ATTACHMENT_CHANNEL = "paper"
PAPER_PART = "paper_part"  # the print job's part for a digitally delivered letter's paper
_DELIVERABLE_STATES = (vocabulary.CLASSIFIED, vocabulary.RETRYING)
# How soon a fallback looks again while a delivery attempt is running.
_FALLBACK_RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class _Outgoing:
    letter_id: str
    service_address: str
    operator_number: str | None
    delivery: Delivery
    sender: SenderOrganisation
    intermediary: SenderOrganisation


@dataclass(frozen=True)
class RelayDependencies:
    """What the relay's handlers need besides the job."""

    sessions: sessionmaker[Session]
    client: MailboxOperatorClient
    settings: Settings
    clock: Callable[[], dt.datetime]
    actor: str


class _NotDeliverableError(Exception):
    """The letter cannot be built or signed as it is: final, like a refusal."""


def deliver_job(job: ClaimedJob, deps: RelayDependencies) -> Retry | None:  # noqa: PLR0911 (each outcome ends the job its own way)
    """Run one `deliver` job; returns a Retry when the job must come back, else None."""
    if job.letter_id is None:
        return None
    try:
        outgoing = _prepare(job.letter_id, deps)
    except _NotDeliverableError as error:
        _record_refused(job.letter_id, None, str(error), deps)
        return None
    if outgoing is None:
        return None  # terminal, cancelled, or not a digital letter: nothing to do
    try:
        form = wire_form_for(deps.settings, outgoing.service_address, outgoing.operator_number)
        request = _sign_and_seal(outgoing, deps.clock().date(), form)
    except SenderKeyError as error:
        # A configuration problem the administrator can fix: the letter waits (until its
        # deadline), the job keeps the error.
        return _retry(job, deps, str(error), record=False)
    except _NotDeliverableError as error:
        _record_refused(job.letter_id, None, str(error), deps)
        return None
    try:
        result = deps.client.deliver(outgoing.service_address, request)
    except DeliveryRefusedError as refusal:
        _record_refused(job.letter_id, refusal.code, refusal.description, deps)
        return None
    except TransientDeliveryError as error:
        return _retry(job, deps, str(error), record=True)
    delivered = any(
        status.delivered and status.recipient_id == outgoing.delivery.recipient_id
        for status in result.statuses
    )
    if not delivered:
        _record_refused(
            job.letter_id,
            None,
            "operatören svarade att brevet inte levererades (Delivered=false)",
            deps,
        )
        return None
    digest = hashlib.sha256(request).hexdigest()
    _record_delivered(job.letter_id, result.trans_id, digest, form, deps)
    return None


def _prepare(letter_id: str, deps: RelayDependencies) -> _Outgoing | None:
    with deps.sessions() as session, session.begin():
        lock_letters(session, [letter_id])
        letter = session.get(Letter, letter_id)
        if (
            letter is None
            or letter.state not in _DELIVERABLE_STATES
            or letter.channel != DIGITAL
            or not letter.service_address
        ):
            return None
        senders = SenderRepository(session)
        sender = senders.get(letter.sender_number)
        intermediary = senders.intermediary()
        if sender is None:
            raise _NotDeliverableError(
                f"avsändarorganisationen {letter.sender_number} finns inte längre bland avsändarna"
            )
        if intermediary is None:
            raise _NotDeliverableError(
                "ingen avsändarorganisation är förmedlare, så brevet kan inte förseglas"
            )
        delivery = _delivery_of(letter, sender)
        return _Outgoing(
            letter.id,
            letter.service_address,
            letter.operator_number,
            delivery,
            sender,
            intermediary,
        )


def _delivery_of(letter: Letter, sender: SenderOrganisation) -> Delivery:
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


def _sign_and_seal(outgoing: _Outgoing, today: dt.date, form: WireForm) -> bytes:
    sender_key = signing_identity(outgoing.sender)
    sealer_key = signing_identity(outgoing.intermediary)
    try:
        sealed = sign_and_seal(outgoing.delivery, sender_key, sealer_key, received_on=today)
        return deliver_secure_request(sealed, form)
    except (DeliveryDocumentError, SigningError, MessageTooLargeError) as error:
        raise _NotDeliverableError(str(error)) from None


def _retry(job: ClaimedJob, deps: RelayDependencies, error: str, *, record: bool) -> Retry | None:
    settings = deps.settings
    delay = backoff_seconds(job.attempts, settings.retry_base_seconds, settings.retry_max_seconds)
    now = deps.clock()
    at = now + dt.timedelta(seconds=delay)
    if record:
        with deps.sessions() as session, session.begin():
            lock_letters(session, [job.letter_id or ""])
            letter = session.get(Letter, job.letter_id)
            if letter is None or letter.state not in _DELIVERABLE_STATES:
                return None
            events.record(
                session,
                letter,
                vocabulary.RETRYING,
                actor=deps.actor,
                now=now,
                detail=f"Leveransen misslyckades och görs om: {error}",
                data={"attempt": job.attempts, "next_attempt": at.isoformat()},
            )
    return Retry(at, error)


def _record_refused(
    letter_id: str, code: int | None, description: str, deps: RelayDependencies
) -> None:
    now = deps.clock()
    with deps.sessions() as session, session.begin():
        lock_letters(session, [letter_id])
        letter = session.get(Letter, letter_id)
        if letter is None or letter.state in vocabulary.SETTLED_STATES:
            return
        detail = (
            f"{vocabulary.text_for(vocabulary.DELIVERY_REFUSED)} Fel {code}: {description}"
            if code is not None
            else f"{vocabulary.text_for(vocabulary.DELIVERY_REFUSED)} {description}"
        )
        data: dict[str, object] = {"code": code, "description": description}
        _record_not_delivered(
            session,
            letter,
            vocabulary.DELIVERY_REFUSED,
            detail,
            actor=deps.actor,
            now=now,
            data=data,
        )


def _record_delivered(
    letter_id: str, trans_id: str, digest: str, form: WireForm, deps: RelayDependencies
) -> None:
    now = deps.clock()
    with deps.sessions() as session, session.begin():
        lock_letters(session, [letter_id])
        letter = session.get(Letter, letter_id)
        if letter is None:
            return
        if letter.state in vocabulary.SETTLED_STATES:
            if letter.state != vocabulary.DELIVERED:
                logger.error(
                    "letter %s was delivered (TransId %s) after it became %s",
                    letter_id,
                    trans_id,
                    letter.state,
                )
            return
        letter.trans_id = trans_id
        letter.delivered_digest = digest
        data: dict[str, object] = {"trans_id": trans_id, "digest": digest, "wire_form": str(form)}
        if letter.operator_number:
            data["operator"] = letter.operator_number
        paper_only = [
            a.filename for a in letter.attachments if a.channel == PAPER_ATTACHMENT_CHANNEL
        ]
        if paper_only:
            # The letter asked for both channels: its paper part goes to the print service.
            data["paper_part"] = {"state": vocabulary.PAPER, "attachments": paper_only}
        events.record(
            session,
            letter,
            vocabulary.DELIVERED,
            actor=deps.actor,
            now=now,
            reason=vocabulary.REACHABLE,
            detail="Brevet är levererat till mottagarens digitala brevlåda.",
            data=data,
            channel=DIGITAL,
        )
        if paper_only:
            enqueue(session, PRINT, now=now, letter_id=letter.id, payload={"part": PAPER_PART})
        # What happens to the content now is the records rule's business: the `record` job
        # queued by the DELIVERED event removes it when the sending system keeps the record.


def _record_not_delivered(
    session: Session,
    letter: Letter,
    reason: str,
    detail: str,
    *,
    actor: str,
    now: dt.datetime,
    data: dict[str, object] | None = None,
    failed_detail: str | None = None,
) -> None:
    """A letter that will not reach the mailbox: on paper, or FAILED when it is digital-only."""
    if letter.policy == vocabulary.DIGITAL_ONLY:
        events.record(
            session,
            letter,
            vocabulary.FAILED,
            actor=actor,
            now=now,
            reason=reason,
            detail=failed_detail or detail,
            data=data,
        )
        return
    events.record(
        session,
        letter,
        vocabulary.PAPER,
        actor=actor,
        now=now,
        reason=reason,
        detail=detail,
        data=data,
        channel="paper",
    )


def fallback_job(job: ClaimedJob, deps: RelayDependencies, queue: JobQueue) -> Retry | None:
    """At the deadline: a letter not yet terminal goes on paper (FAILED for digital-only)."""
    if job.letter_id is None:
        return None
    now = deps.clock()
    with deps.sessions() as session, session.begin():
        lock_letters(session, [job.letter_id])
        letter = session.get(Letter, job.letter_id)
        if letter is None or letter.state in vocabulary.SETTLED_STATES:
            return None
        if queue.has_active_lease(session, letter.id, DELIVER, now=now):
            # An attempt is on the wire: its answer decides; look again after it.
            return Retry(now + dt.timedelta(seconds=_FALLBACK_RECHECK_SECONDS), "leverans pågår")
        _record_not_delivered(
            session,
            letter,
            vocabulary.DEADLINE_PASSED,
            vocabulary.text_for(vocabulary.DEADLINE_PASSED),
            actor=deps.actor,
            now=now,
            failed_detail="Brevet kunde inte levereras digitalt i tid.",
        )
    return None
