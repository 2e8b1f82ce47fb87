"""Registering sent letters in the case or records system: the port and its signed-JSON adapter.

A letter whose records rule registers it (diarieförs, journalförs) gets a `register` job when
it has ended. The job reads the letter and its record, asks the case system to register it
(no remote call inside a database transaction), and then, in one transaction, keeps the
number on the letter (`letter.registration_number`), marks the record registered and
records an event the desk shows ("Registrerat i diariet som KS 2026/123.").

The call (docs/records.md): `POST settings.records_registration_url` with the letter as
JSON, signed in three headers: `Utskick-Id` (new for every call), `Utskick-Timestamp` (unix
seconds) and `Utskick-Signature: v1=<base64 of HMAC-SHA256 over "<id>.<timestamp>.<body>">`
with the key shared with the case system. The case system answers
`{"registration_number": "KS 2026/123", "registered_at": "<RFC 3339>"}` and answers the same
number when asked again for the same letter, so a call repeated after a lost answer
registers nothing twice.

Anything else (no connection, a timeout, HTTP 5xx, a refusal, an answer without a number)
leaves the letter waiting: its record counts the attempt and the job runs again with
backoff, for as long as it takes. A letter already registered is left as it is.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import httpx2
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import ClaimedJob, Retry, backoff_seconds, utc
from utskick.letters import events, vocabulary
from utskick.letters.models import Letter, LetterAttachment
from utskick.letters.repository import lock_letters
from utskick.observability.logs import httpx_request_id_hooks
from utskick.records.models import (
    JOURNAL,
    REGISTRATION_DONE,
    REGISTRATION_PENDING,
    LetterRecord,
)
from utskick.settings import Settings

logger = logging.getLogger(__name__)

CONTRACT_VERSION = 1
ID_HEADER = "Utskick-Id"
TIMESTAMP_HEADER = "Utskick-Timestamp"
SIGNATURE_HEADER = "Utskick-Signature"
SIGNATURE_SCHEME = "v1"
# The longest registration number a letter keeps (letter.registration_number).
MAX_NUMBER_LENGTH = 100
# How long one call may take: the case system registers one letter, which is quick, but a
# slow answer must not hold a worker's lease (60 s by default) to its end.
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 30.0
_SUCCESS = range(200, 300)
_SERVER_ERRORS = range(500, 600)


@dataclass(frozen=True)
class RegisteredAttachment:
    """An attachment as the case system is told of it: its name and SHA-256 (hex)."""

    name: str
    sha256: str


@dataclass(frozen=True)
class RegistrationRequest:
    """What the case system is told about a sent letter."""

    letter_id: str
    message_id: str
    organisation_number: str
    department: str | None
    rule: str  # register | journal
    message_type: str
    subject: str
    case_number: str | None
    reference: str | None
    recipient_id: str  # 12 digits, as on the Mina meddelanden wire
    channel: str | None
    state: str
    sent_at: dt.datetime
    delivered_digest: str | None
    attachments: tuple[RegisteredAttachment, ...]


@dataclass(frozen=True)
class Registration:
    """The case system's answer: the letter's registration number, and when it was made."""

    number: str
    registered_at: dt.datetime


class RegistrationError(Exception):
    """The letter is not registered yet; the message says why, in Swedish."""


class RegistrationUnavailableError(RegistrationError):
    """The case system could not be reached, timed out or failed (HTTP 5xx)."""


class RegistrationRefusedError(RegistrationError):
    """The case system refused the call or answered without a registration number."""


class RegistrationNotConfiguredError(RegistrationError):
    """No URL or no shared key is set, so no call can be made."""


class RegistrationService(Protocol):
    """The case or records system that registers sent letters (the port)."""

    def register(self, request: RegistrationRequest) -> Registration:
        """Register a letter, or find the number it was registered under before.

        Raises:
            RegistrationError: the letter is not registered (try again later).
        """
        ...


def rfc3339(moment: dt.datetime) -> str:
    """A moment as RFC 3339 in UTC with a `Z`, to the second: `2026-11-27T09:00:00Z`."""
    return utc(moment).astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def request_body(request: RegistrationRequest) -> bytes:
    """The call's JSON body: compact UTF-8, the fields in the contract's order."""
    document = {
        "version": CONTRACT_VERSION,
        "letter_id": request.letter_id,
        "message_id": request.message_id,
        "organisation_number": request.organisation_number,
        "department": request.department,
        "rule": request.rule,
        "message_type": request.message_type,
        "subject": request.subject,
        "case_number": request.case_number,
        "reference": request.reference,
        "recipient_id": request.recipient_id,
        "channel": request.channel,
        "state": request.state,
        "sent_at": rfc3339(request.sent_at),
        "delivered_digest": request.delivered_digest,
        "attachments": [{"name": a.name, "sha256": a.sha256} for a in request.attachments],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature(secret: bytes, call_id: str, timestamp: int, body: bytes) -> str:
    """The `Utskick-Signature` value: `v1=` and the base64 HMAC-SHA256 of id.timestamp.body."""
    signed = f"{call_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, signed, hashlib.sha256).digest()
    return f"{SIGNATURE_SCHEME}={base64.b64encode(digest).decode('ascii')}"


def registration_client(settings: Settings) -> httpx2.Client:
    """The HTTP client registration calls go through, one per process (the caller closes it).

    Connecting may take 10 s and each read 30 s; no redirect is followed, since the signed
    call is meant for the configured URL only. An HTTPS case system is trusted through the
    system's certificate store. No setting changes these yet; `settings` is taken so that
    the composition root need not change when one does.
    """
    del settings  # see above: nothing in the settings shapes the client today
    return httpx2.Client(
        timeout=httpx2.Timeout(READ_TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        follow_redirects=False,
        event_hooks=httpx_request_id_hooks(),
    )


class HttpRegistrationService:
    """The case system over HTTP(S): one signed JSON call per letter (see the module text)."""

    def __init__(
        self,
        client: httpx2.Client,
        url: str,
        secret: bytes,
        *,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.client = client
        self.url = url
        self.secret = secret
        self.clock = clock

    @classmethod
    def from_settings(
        cls, settings: Settings, client: httpx2.Client, clock: Callable[[], dt.datetime]
    ) -> HttpRegistrationService:
        """The adapter for the configured case system.

        Raises:
            RegistrationNotConfiguredError: no URL or no shared key is set.
        """
        secret = settings.records_registration_secret
        if not settings.records_registration_url:
            raise RegistrationNotConfiguredError(
                "ingen adress till diariet är inställd (UTSKICK_RECORDS_REGISTRATION_URL)"
            )
        if secret is None or not secret.get_secret_value():
            raise RegistrationNotConfiguredError(
                "nyckeln som delas med diariet saknas; ange "
                "UTSKICK_RECORDS_REGISTRATION_SECRET (samma värde som i diariet)"
            )
        return cls(
            client,
            settings.records_registration_url,
            secret.get_secret_value().encode("utf-8"),
            clock=clock,
        )

    def register(self, request: RegistrationRequest) -> Registration:
        """Register one letter (see `RegistrationService.register`)."""
        body = request_body(request)
        call_id = str(uuid.uuid4())
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            ID_HEADER: call_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: signature(self.secret, call_id, timestamp, body),
        }
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx2.HTTPError as error:
            detail = str(error) or type(error).__name__
            raise RegistrationUnavailableError(
                f"diariet {self.url} svarar inte: {detail}"
            ) from None
        if response.status_code in _SERVER_ERRORS:
            raise RegistrationUnavailableError(
                f"diariet {self.url} svarade HTTP {response.status_code}{_said(response)}"
            )
        if response.status_code not in _SUCCESS:
            raise RegistrationRefusedError(
                f"diariet {self.url} nekade registreringen med HTTP {response.status_code}"
                f"{_said(response)}"
            )
        return _registration_in(response, self.url)


def _said(response: httpx2.Response) -> str:
    """What the case system said in its error answer, shortened: `: <error>`."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    return f": {str(error)[:300]}" if error else ""


def _registration_in(response: httpx2.Response, url: str) -> Registration:
    """The number and time in a success answer; a refusal if they are not there."""
    try:
        answer = response.json()
        number = answer["registration_number"]
        registered_at = answer.get("registered_at")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise RegistrationRefusedError(
            f"diariet {url} svarade utan diarienummer (registration_number)"
        ) from None
    if not isinstance(number, str) or not number.strip() or len(number) > MAX_NUMBER_LENGTH:
        raise RegistrationRefusedError(
            f"diariet {url} svarade med ett diarienummer som inte kan sparas: {number!r:.120}"
        )
    try:
        moment = dt.datetime.fromisoformat(str(registered_at))
    except ValueError:
        raise RegistrationRefusedError(
            f"diariet {url} svarade med en tid som inte är RFC 3339: {registered_at!r:.60}"
        ) from None
    if moment.tzinfo is None:
        raise RegistrationRefusedError(f"diariet {url} svarade med en tid utan tidszon")
    return Registration(number.strip(), moment.astimezone(dt.UTC))


# --- the job --------------------------------------------------------------------------------


def register_job(
    job: ClaimedJob,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
    actor: str,
    client: httpx2.Client,
) -> Retry | None:
    """Register the job's letter in the case system; a Retry while that does not succeed."""
    if job.letter_id is None:
        return None
    request = pending_request(sessions, job.letter_id)
    if request is None:
        return None  # registered already, or nothing to register
    try:
        service = HttpRegistrationService.from_settings(settings, client, clock)
        registration = service.register(request)
    except RegistrationError as error:
        return _try_again(job, sessions, settings, clock, error)
    keep_registration(
        sessions, job.letter_id, registration, rule=request.rule, now=clock(), actor=actor
    )
    return None


def pending_request(sessions: sessionmaker[Session], letter_id: str) -> RegistrationRequest | None:
    """What to tell the case system about a letter waiting for registration; else None.

    Read in a short transaction of its own, which has ended when this returns.
    """
    with sessions() as session:
        record = session.get(LetterRecord, letter_id)
        letter = session.get(Letter, letter_id)
        if record is None or letter is None or record.registration != REGISTRATION_PENDING:
            return None
        attachments = session.execute(
            select(LetterAttachment.filename, LetterAttachment.sha256)
            .where(LetterAttachment.letter_id == letter_id)
            .order_by(LetterAttachment.position)
        ).all()
        return RegistrationRequest(
            letter_id=letter.id,
            message_id=letter.message_id,
            organisation_number=letter.sender_number,
            department=letter.department,
            rule=record.rule,
            message_type=record.message_type,
            subject=letter.subject,
            case_number=letter.case_number,
            reference=letter.reference,
            recipient_id=letter.recipient_id,
            channel=letter.channel,
            state=letter.state,
            sent_at=utc(record.sent_at),
            delivered_digest=letter.delivered_digest,
            attachments=tuple(RegisteredAttachment(name, sha) for name, sha in attachments),
        )


def registration_text(rule: str, number: str) -> str:
    """The event's Swedish sentence: where the letter was registered, and as what."""
    if rule == JOURNAL:
        return f"Journalfört i verksamhetens ärendesystem som {number}."
    return f"Registrerat i diariet som {number}."


def keep_registration(
    sessions: sessionmaker[Session],
    letter_id: str,
    registration: Registration,
    *,
    rule: str,
    now: dt.datetime,
    actor: str,
) -> bool:
    """Keep the case system's number on the letter, with its event, in one transaction.

    Returns:
        False when the letter was registered meanwhile (by a worker whose lease ran out and
        that went on all the same): it is left as it is.
    """
    with sessions() as session, session.begin():
        lock_letters(session, [letter_id])
        record = session.get(LetterRecord, letter_id, populate_existing=True)
        letter = session.get(Letter, letter_id, populate_existing=True)
        if record is None or letter is None or record.registration != REGISTRATION_PENDING:
            return False
        letter.registration_number = registration.number
        record.registration = REGISTRATION_DONE
        record.registered_at = registration.registered_at
        events.record(
            session,
            letter,
            letter.state,
            current=False,
            reason=vocabulary.REGISTERED,
            detail=registration_text(rule, registration.number),
            data={"registration_number": registration.number},
            actor=actor,
            now=now,
        )
    return True


def _try_again(
    job: ClaimedJob,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
    error: RegistrationError,
) -> Retry:
    """Count the failed attempt on the letter's record and run the job again later."""
    with sessions() as session, session.begin():
        session.execute(
            update(LetterRecord)
            .where(
                LetterRecord.letter_id == job.letter_id,
                LetterRecord.registration == REGISTRATION_PENDING,
            )
            .values(registration_attempts=LetterRecord.registration_attempts + 1)
            .execution_options(synchronize_session=False)
        )
    delay = backoff_seconds(job.attempts, settings.retry_base_seconds, settings.retry_max_seconds)
    logger.warning(
        "letter %s not registered (attempt %d, next in %.0f s): %s",
        job.letter_id,
        job.attempts,
        delay,
        error,
    )
    return Retry(clock() + dt.timedelta(seconds=delay), str(error))
