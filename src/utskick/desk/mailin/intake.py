"""Taking an officer's e-mail in: who sent it, and the letter stored or refused with a reply.

What the SMTP server (`server`) hands over after DATA is decided here, in a worker thread of
its own (the database and the mail server block):

- an e-mail marked as automatic (`Auto-Submitted`, out-of-office answers and the like) is
  refused with 554 and no reply, so that two robots never answer each other; so is one that
  cannot even be read (far too many parts, nested too deep), with the reason;
- a letter is accepted like one written at the desk: through the organisation's desk sending
  system (`desk.sending`), sender organisation and department the officer's own, the event
  log naming `mail:<username>`, protection class 2 (`MAIL_PROTECTION_CLASS`: an e-mail has
  no message type, and 2 is the class the records rules treat as possibly secret, so an
  e-mailed letter is never handled as less sensitive than it may be). The letter, its
  `MailSubmission` (state `waiting`) and the `mail_reply` job are one transaction. The
  letter's idempotency key is `e-post:` + SHA-256 of the user's id and the e-mail's
  Message-ID (or, without one, of its bytes): a client that sends the same e-mail again
  after a lost answer gets the same letter and one reply;
- a refusal (no identity, a non-PDF attachment, HTML with scripts, a letter the letter
  service refuses …) stores nothing. The officer gets a reply at once, through the reply
  sender, and the SMTP answer is 250, so that their client neither retries nor shows an
  error beside the reply. When no reply can be sent (no `mail_out_url`, or its server does
  not answer) the answer is 554 with the Swedish reason instead, which the officer's client
  or mail server shows them. The reply never names attachments: their names are replaced by
  "bilaga N" in reasons that come from the letter service.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from utskick.desk.mailin.mail_out import MailOut, MailOutError
from utskick.desk.mailin.models import MailSubmission
from utskick.desk.mailin.parsing import (
    MailLetter,
    MailRefusedError,
    letter_from_mail,
    read_message,
)
from utskick.desk.mailin.replies import refusal_reply, thread_id
from utskick.desk.mailin.reply_job import FIRST_LOOK, WAITING
from utskick.desk.sending import desk_sending_system, organisation_of
from utskick.jobs.queue import MAIL_REPLY, enqueue
from utskick.letters.inputs import IdempotencyConflictError, LetterInput, LetterRejectedError
from utskick.letters.service import LetterService, utc_now
from utskick.settings import Settings
from utskick.web.users import (
    DEPARTMENT_ROLES,
    UserRepository,
    WebUser,
    hash_password,
    verify_password,
)

logger = logging.getLogger(__name__)

MAIL_PROTECTION_CLASS = 2
IDEMPOTENCY_PREFIX = "e-post:"
SMTP_LINE_CHARACTERS = 200  # a reply line is at most 512 bytes; Swedish letters take two
INVALID_LOGIN = (
    "fel användarnamn eller lösenord; logga in med ditt användarnamn (eller din registrerade "
    "e-postadress) och lösenordet till Utskick"
)


def smtp_reply(code: int, enhanced: str, text: str) -> str:
    """An SMTP answer, over several lines if long (`550-5.1.1 …` then `550 5.1.1 …`)."""
    lines = textwrap.wrap(" ".join(text.split()), SMTP_LINE_CHARACTERS) or [""]
    last = len(lines) - 1
    return "\r\n".join(
        f"{code}{' ' if index == last else '-'}{enhanced} {line}"
        for index, line in enumerate(lines)
    )


@dataclass(frozen=True)
class MailSender:
    """Who an SMTP session sends as: a user who logged in, or one known by address."""

    user_id: int
    username: str


@dataclass(frozen=True)
class ReceivedMail:
    """One SMTP transaction as the server hands it over after DATA."""

    raw: bytes
    sender: MailSender
    envelope_from: str
    recipient: str
    # Known by the envelope address through a relay host (else logged in): the From
    # header must then be the same registered address.
    relayed: bool = False
    # Why a recipient of this transaction was refused: the whole e-mail is refused then.
    refused_recipient: str | None = None


@dataclass(frozen=True)
class _Officer:
    """The sender as the e-mail's handling needs them, read once."""

    id: int
    username: str
    display_name: str
    email: str | None
    reply_to: str


@functools.cache
def _unknown_user_hash() -> str:
    """A hash to check a password against when the user does not exist (same time taken)."""
    return hash_password(uuid.uuid4().hex)


class MailDesk:
    """The officer's desk reached by e-mail: logging in, and taking e-mails in."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock

    # --- who sends ------------------------------------------------------------------------

    def authenticate(self, login: str, password: str) -> MailSender | str:
        """The user a login names, if the password is theirs and they may send letters.

        Returns:
            The sender, or why not (Swedish; the same text for an unknown user and a wrong
            password).
        """
        with self.sessions() as session:
            repository = UserRepository(session)
            login = login.strip()
            user = repository.by_email(login) if "@" in login else repository.by_username(login)
            stored = user.password_hash if user is not None else _unknown_user_hash()
            matches = verify_password(password, stored)
            if user is None or not matches or not user.active:
                return INVALID_LOGIN
            if user.role not in DEPARTMENT_ROLES:
                return (
                    f"rollen {user.role_name} skickar inga brev; bara handläggare och "
                    "verksamhetsadministratörer kan skicka brev med e-post"
                )
            return MailSender(user.id, user.username)

    def sender_by_address(self, address: str) -> MailSender | None:
        """The active officer whose registered e-mail address this is (relay hosts)."""
        with self.sessions() as session:
            user = UserRepository(session).by_email(address)
            if user is None or not user.active or user.role not in DEPARTMENT_ROLES:
                return None
            return MailSender(user.id, user.username)

    # --- the e-mail -------------------------------------------------------------------------

    def take(self, mail: ReceivedMail) -> str:
        """Store the letter an e-mail asks for, or refuse it with a reply; the SMTP answer."""
        now = self.clock()
        try:
            message = read_message(mail.raw)
        except MailRefusedError as error:
            # Not even read: no reply, since it cannot be told whether a robot sent it.
            return smtp_reply(554, "5.6.0", f"brevet skickades inte: {error.reason}")
        if str(message.get("auto-submitted", "no")).strip().lower() != "no":
            return smtp_reply(
                554, "5.7.1", "automatiska e-brev (frånvaromeddelanden, studsar) blir inga brev"
            )
        officer = self._officer(mail)
        if officer is None:
            return smtp_reply(
                554,
                "5.7.1",
                "ditt konto i Utskick kan inte längre skicka brev; fråga en administratör",
            )
        message_id = thread_id(str(message.get("message-id", "") or ""))
        try:
            letter = _letter(mail, message, officer)
            key = submission_key(officer.id, message_id, mail.raw)
            letter_id, created = self._accept(officer, letter, key, message_id, now)
        except MailRefusedError as error:
            return self._refuse(officer, error, message_id, now)
        logger.info("mail from %s: letter %s (new: %s)", officer.username, letter_id, created)
        if not created:
            return smtp_reply(
                250, "2.0.0", "e-brevet var redan mottaget och är samma brev; inget nytt skickas"
            )
        return smtp_reply(
            250,
            "2.0.0",
            "brevet är mottaget av Utskick; du får ett svar med e-post om hur det skickades",
        )

    def _officer(self, mail: ReceivedMail) -> _Officer | None:
        with self.sessions() as session:
            user = UserRepository(session).get(mail.sender.user_id)
            if user is None or not user.active or user.role not in DEPARTMENT_ROLES:
                return None
            return _Officer(
                user.id,
                user.username,
                user.display_name,
                user.email,
                user.email or mail.envelope_from,
            )

    def _accept(
        self,
        officer: _Officer,
        letter: MailLetter,
        key: str,
        message_id: str | None,
        now: dt.datetime,
    ) -> tuple[str, bool]:
        """Store the letter, its submission and the reply job in one transaction.

        Raises:
            MailRefusedError: the letter service refused the letter (nothing stored).
        """
        for attempt in range(2):
            with self.sessions() as session:
                try:
                    user = UserRepository(session).get(officer.id)
                    if user is None:  # pragma: no cover (deleted during this e-mail)
                        raise MailRefusedError("ditt konto finns inte längre", letter.recipient)
                    stored = self._store(
                        session, user, officer, letter, key=key, message_id=message_id, now=now
                    )
                    session.commit()
                except IntegrityError:
                    # The same e-mail, sent again at once, was stored by another session a
                    # moment ago (or the organisation's first letter): the retry finds it.
                    session.rollback()
                    if attempt:
                        raise
                    continue
                except IdempotencyConflictError:
                    raise MailRefusedError(
                        "ett e-brev med samma Message-ID togs emot tidigare med ett annat "
                        "innehåll; skicka brevet som ett nytt e-brev",
                        letter.recipient,
                    ) from None
                except LetterRejectedError as error:
                    raise MailRefusedError(
                        _without_names(error.message, letter), letter.recipient
                    ) from None
            return stored
        raise AssertionError("unreachable")  # pragma: no cover

    def _store(
        self,
        session: Session,
        user: WebUser,
        officer: _Officer,
        letter: MailLetter,
        *,
        key: str,
        message_id: str | None,
        now: dt.datetime,
    ) -> tuple[str, bool]:
        system = desk_sending_system(session, organisation_of(user), now)
        letter_input = LetterInput(
            sender=organisation_of(user),
            recipient=letter.recipient,
            subject=letter.subject,
            body=letter.body,
            body_type="text/plain",
            attachments=letter.attachments,
            protection_class=MAIL_PROTECTION_CLASS,
            department=user.department,
            idempotency_key=IDEMPOTENCY_PREFIX + key,
        )
        stored, created = LetterService(session, self.settings, self.clock).accept(
            system, letter_input, actor=f"mail:{user.username}"
        )
        if created:
            session.flush()  # the letter's row first: the submission refers to it
            submission = MailSubmission(
                id=str(uuid.uuid4()),
                submission_key=key,
                received_at=now,
                user_id=user.id,
                reply_to=officer.reply_to,
                mail_message_id=message_id,
                letter_id=stored.id,
                state=WAITING,
                attempts=0,
            )
            session.add(submission)
            enqueue(
                session,
                MAIL_REPLY,
                now=now,
                letter_id=stored.id,
                run_at=now + FIRST_LOOK,
                payload={"submission_id": submission.id},
            )
        return stored.id, created

    def _refuse(
        self, officer: _Officer, error: MailRefusedError, message_id: str | None, now: dt.datetime
    ) -> str:
        """Tell the officer why, by reply (250) or, when no reply can go, in SMTP (554)."""
        reply = refusal_reply(
            self.settings,
            to=officer.reply_to,
            name=officer.display_name,
            recipient=error.recipient,
            reason=error.reason,
            in_reply_to=message_id,
            now=now,
        )
        try:
            mail_out = MailOut.from_settings(self.settings)
            if mail_out is not None:
                mail_out.send(reply, officer.reply_to)
                return smtp_reply(
                    250, "2.0.0", "e-brevet blev inget brev; du får skälet i ett svar med e-post"
                )
        except (MailOutError, ValueError) as failure:
            logger.warning("refusal reply to %s not sent: %s", officer.username, failure)
        return smtp_reply(554, "5.6.0", f"brevet skickades inte: {error.reason}")


def submission_key(user_id: int, message_id: str | None, raw: bytes) -> str:
    """SHA-256 (hex) of the user's id and the e-mail's Message-ID (or its bytes, without one)."""
    what = message_id or hashlib.sha256(raw).hexdigest()
    return hashlib.sha256(f"{user_id}\n{what}".encode()).hexdigest()


def _letter(mail: ReceivedMail, message: EmailMessage, officer: _Officer) -> MailLetter:
    """The letter the e-mail asks for, once the transaction and the sender pass.

    Raises:
        MailRefusedError: a recipient of the transaction was refused, a relayed e-mail's
            From is not the officer's, or the e-mail is no letter.
    """
    if mail.refused_recipient is not None:
        raise MailRefusedError(mail.refused_recipient)
    if mail.relayed:
        _check_from(message.get("from"), officer)
    return letter_from_mail(message, mail.recipient)


def _check_from(header: object, officer: _Officer) -> None:
    """A relayed e-mail's From must be the officer's registered address, and only that.

    Raises:
        MailRefusedError: another address, several, or none.
    """
    addresses = getattr(header, "addresses", ())
    found = [str(getattr(address, "addr_spec", "")).lower() for address in addresses]
    if found != [officer.email]:
        raise MailRefusedError(
            "avsändaren (From) i e-brevet är inte din registrerade e-postadress i Utskick; "
            "skicka från den adressen"
        )


def _without_names(reason: str, letter: MailLetter) -> str:
    """A reason with each attachment's name replaced by "bilaga N" (names may say too much)."""
    for number, attachment in sorted(
        enumerate(letter.attachments, start=1), key=lambda item: -len(item[1].filename)
    ):
        reason = reason.replace(repr(attachment.filename), f"bilaga {number}")
        reason = reason.replace(attachment.filename, f"bilaga {number}")
    return reason
