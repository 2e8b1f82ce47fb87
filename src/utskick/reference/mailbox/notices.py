"""Notices (avisering): telling a recipient by e-mail or SMS that a message has arrived.

A notice is owed per new message and per channel the recipient has set up (an e-mail address,
a mobile number); a company mailbox without an e-mail address of its own notifies its
administrators. The row is written in the same transaction as the message (`filing`), so
that a notice is never owed for a message that was not stored, and sent only after commit.

How often follows the mailbox's setting: "direkt" sends each notice at once, "daglig" and
"veckovis" gather them into one digest per day or week (`send_due_digests`), "aldrig" sends
none. A secure message's notice names only the sender and where to read it; a notification
(the simple path, protection class 1) may carry the text its sender asked to have forwarded.

E-mail goes over real SMTP to the configured server (by default the local sink); SMS go to a
sink that stores and logs them. A failing mail server never fails a delivery: the error is
recorded on the notice and the next digest run tries again.
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from utskick.reference.context import ReferenceContext
from utskick.reference.mailbox.storage import MessageContent, MessageStore
from utskick.reference.store import (
    MailboxAccount,
    MailboxCompanyAdministrator,
    MailboxMessage,
    MailboxNotice,
    SinkSms,
    utc_now,
)
from utskick.reference.world import Organisation

logger = logging.getLogger(__name__)

EMAIL = "email"
SMS = "sms"
DIRECT = "direkt"
DAILY = "daglig"
WEEKLY = "veckovis"
NEVER = "aldrig"
NOTICE_FREQUENCIES = (DIRECT, DAILY, WEEKLY, NEVER)
DIGEST_PERIODS = {DAILY: dt.timedelta(days=1), WEEKLY: dt.timedelta(days=7)}
# A direct notice still unsent after this long was lost (say, the process stopped before
# sending it); the digest run sends it then.
DIRECT_GRACE = dt.timedelta(minutes=5)
SMTP_TIMEOUT_SECONDS = 10.0
MAX_SMS_LENGTH = 160


class NoticeError(Exception):
    """A notice that could not be sent; the message is recorded on the notice."""


@dataclass(frozen=True)
class RecordedNotice:
    """A notice owed for a new message, and whether it goes out at once."""

    id: int
    recipient_id: str
    channel: str  # EMAIL | SMS
    direct: bool


@dataclass(frozen=True)
class NoticePlan:
    """What a new message in one mailbox owes: notices by these channels, now or in a digest."""

    channels: tuple[str, ...]  # EMAIL and/or SMS
    direct: bool  # "direkt": sent at once, else gathered into the digest


NO_NOTICES = NoticePlan((), direct=False)


@dataclass(frozen=True)
class MailboxNoticeSettings:
    """A mailbox's notice settings, as read with its recipient on delivery."""

    owner_id: str
    kind: str  # "person" | "company"
    email: str | None
    phone: str | None
    notice_frequency: str


@dataclass(frozen=True)
class OutgoingMail:
    """An e-mail notice ready to send."""

    to: tuple[str, ...]
    subject: str
    text: str


class SmtpMailer:
    """Sends e-mail over SMTP (plain, as to the local sink or a relay on the same network)."""

    def __init__(self, host: str, port: int, sender_address: str) -> None:
        self.host = host
        self.port = port
        self.sender_address = sender_address

    def send(self, mail: OutgoingMail, sender_name: str) -> None:
        """Send one e-mail.

        Raises:
            NoticeError: the server could not be reached or refused the mail.
        """
        message = EmailMessage()
        message["From"] = f"{sender_name} <{self.sender_address}>"
        message["To"] = ", ".join(mail.to)
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender_address.rpartition("@")[2] or None)
        message.set_content(mail.text)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as error:
            raise NoticeError(
                f"e-post till {', '.join(mail.to)} kunde inte skickas via "
                f"{self.host}:{self.port}: {error}"
            ) from None


class SmsSink:
    """The SMS gateway stand-in: stores each text (shown on the sink page) and logs it."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def send(self, sender: str, phone: str, text: str) -> None:
        """Record one text message as sent."""
        with self._sessions.begin() as session:
            session.add(SinkSms(sender=sender[:64], phone=phone, text=text, sent_at=utc_now()))
        logger.info("SMS from %s recorded (shown on the sink page)", sender)


class Notices:
    """The notices of one mailbox operator: recorded with each message, sent now or later."""

    def __init__(
        self,
        context: ReferenceContext,
        operator: Organisation,
        store: MessageStore,
        *,
        mailer: SmtpMailer | None = None,
        sms: SmsSink | None = None,
    ) -> None:
        settings = context.settings
        self._sessions = context.sessions
        self.operator = operator
        self.store = store
        self.mailbox_url = context.endpoints.operators[operator.operator_key or ""].ui_url
        self.mailer = mailer or SmtpMailer(
            settings.smtp_host, settings.smtp_port, settings.notice_from
        )
        self.sms = sms or SmsSink(context.sessions)
        # One thread: notices leave in the order they were owed, and a slow mail server
        # never holds up the answer to the sender.
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"notices-{operator.operator_key}"
        )

    # --- recording ------------------------------------------------------------------------

    def plan(self, mailbox: MailboxNoticeSettings | None) -> NoticePlan:
        """What a new message in this mailbox owes: the channels, and whether at once."""
        if mailbox is None or mailbox.notice_frequency == NEVER:
            return NO_NOTICES
        channels = []
        if mailbox.email:
            channels.append(EMAIL)
        elif mailbox.kind == "company":
            with self._sessions() as session:
                if self._email_addresses(session, mailbox):
                    channels.append(EMAIL)
        if mailbox.phone:
            channels.append(SMS)
        return NoticePlan(tuple(channels), direct=mailbox.notice_frequency == DIRECT)

    # --- sending ----------------------------------------------------------------------------

    def send_later(self, notices: Sequence[RecordedNotice]) -> None:
        """Send the direct ones among these notices on the notice thread, after commit."""
        direct = [notice.id for notice in notices if notice.direct]
        if direct:
            self._executor.submit(self._send_logged, direct)

    def send_now(self, notice_ids: Sequence[int]) -> int:
        """Send these notices one by one; a failure is recorded on the notice.

        Returns:
            How many were sent.
        """
        sent = 0
        for notice_id in notice_ids:
            with self._sessions() as session:
                notice = session.get(MailboxNotice, notice_id)
                if notice is None or notice.sent_at is not None:
                    continue
                account = session.get(MailboxAccount, (self.operator.number, notice.recipient_id))
                addresses = self._email_addresses(session, account) if account else ()
                message = session.get(MailboxMessage, notice.message_id)
                phone = account.phone if account else None
            error = self._deliver_one(notice, message, addresses, phone)
            sent += self._settle([notice_id], error, utc_now())
        return sent

    def send_due_digests(self, now: dt.datetime) -> int:
        """Send what is due: daily and weekly digests, and direct notices that failed earlier.

        A digest is due when no notice went to that recipient by that channel within the
        period (one a day, one a week); it lists the senders, never the content.

        Returns:
            How many notices were sent.
        """
        sent = 0
        retry_direct: list[int] = []
        for (recipient_id, channel), group in self._unsent_by_recipient().items():
            with self._sessions() as session:
                account = session.get(MailboxAccount, (self.operator.number, recipient_id))
                if account is None or account.notice_frequency == NEVER:
                    continue
                frequency = account.notice_frequency
                if frequency == DIRECT:
                    retry_direct += [
                        notice.id
                        for notice in group
                        if notice.error is not None or _utc(notice.created_at) < now - DIRECT_GRACE
                    ]
                    continue
                period = DIGEST_PERIODS.get(frequency)
                last = self._last_sent(session, recipient_id, channel)
                if period is not None and last is not None and now - last < period:
                    continue
                addresses = self._email_addresses(session, account)
                phone = account.phone
                senders = Counter(
                    message.sender_name
                    for notice in group
                    if (message := session.get(MailboxMessage, notice.message_id)) is not None
                )
            error = self._deliver_digest(channel, senders, addresses, phone)
            sent += self._settle([notice.id for notice in group], error, now)
        return sent + self.send_now(retry_direct)

    def close(self) -> None:
        """Let the notice thread finish what it was given, then stop it."""
        self._executor.shutdown(wait=True)

    # --- composing --------------------------------------------------------------------------

    def _deliver_one(
        self,
        notice: MailboxNotice,
        message: MailboxMessage | None,
        addresses: tuple[str, ...],
        phone: str | None,
    ) -> str | None:
        """Send one message's notice; returns the error, or None when it went out."""
        if message is None:
            return "meddelandet finns inte längre"
        forwarded = None if message.secure else self.store.message(message.recipient_id, message.id)
        try:
            if notice.channel == EMAIL:
                if not addresses:
                    return "mottagaren har ingen e-postadress längre"
                mail = self._notice_mail(message.sender_name, addresses)
                if forwarded is not None:
                    mail = self._forwarded_mail(
                        mail, forwarded.email_subject, forwarded.email_text or _plain(forwarded)
                    )
                self.mailer.send(mail, self.operator.name)
            else:
                if not phone:
                    return "mottagaren har inget mobilnummer längre"
                text = self._notice_sms(message.sender_name)
                if forwarded is not None and forwarded.sms_text:
                    text = forwarded.sms_text
                self.sms.send(self.operator.name, phone, text)
        except NoticeError as error:
            return str(error)
        return None

    def _deliver_digest(
        self, channel: str, senders: Counter[str], addresses: tuple[str, ...], phone: str | None
    ) -> str | None:
        count = sum(senders.values())
        what = "ett nytt meddelande" if count == 1 else f"{count} nya meddelanden"
        try:
            if channel == EMAIL:
                if not addresses:
                    return "mottagaren har ingen e-postadress längre"
                lines = "\n".join(
                    f"  – {name}: {number} st" for name, number in sorted(senders.items())
                )
                self.mailer.send(
                    OutgoingMail(
                        to=addresses,
                        subject=f"Du har {what} i din brevlåda hos {self.operator.name}",
                        text=(
                            f"Hej!\n\nDu har fått {what} i din digitala brevlåda hos "
                            f"{self.operator.name} sedan förra sammanställningen:\n\n{lines}\n\n"
                            f"Logga in för att läsa dem:\n{self.mailbox_url}\n\n{self._footer()}"
                        ),
                    ),
                    self.operator.name,
                )
            else:
                if not phone:
                    return "mottagaren har inget mobilnummer längre"
                self.sms.send(
                    self.operator.name,
                    phone,
                    _fit_sms(
                        f"Du har {what} i din brevlåda hos {self.operator.name}: {self.mailbox_url}"
                    ),
                )
        except NoticeError as error:
            return str(error)
        return None

    def _notice_mail(self, sender_name: str, addresses: tuple[str, ...]) -> OutgoingMail:
        return OutgoingMail(
            to=addresses,
            subject=f"Nytt meddelande från {sender_name}",
            text=(
                f"Hej!\n\nDu har fått ett nytt meddelande från {sender_name} i din digitala "
                f"brevlåda hos {self.operator.name}.\n\nAv säkerhetsskäl står innehållet inte "
                f"i det här e-postmeddelandet. Logga in för att läsa det:\n{self.mailbox_url}"
                f"\n\n{self._footer()}"
            ),
        )

    def _forwarded_mail(
        self, notice: OutgoingMail, subject: str | None, text: str | None
    ) -> OutgoingMail:
        """A class 1 notification: the sender's own text may travel in the e-mail."""
        if not text:
            return notice
        return OutgoingMail(
            to=notice.to,
            subject=subject or notice.subject,
            text=(
                f"{text}\n\n---\nMeddelandet finns också i din digitala brevlåda hos "
                f"{self.operator.name}:\n{self.mailbox_url}\n\n{self._footer()}"
            ),
        )

    def _notice_sms(self, sender_name: str) -> str:
        return _fit_sms(
            f"Nytt meddelande från {sender_name} i din brevlåda hos {self.operator.name}: "
            f"{self.mailbox_url}"
        )

    def _footer(self) -> str:
        return (
            f"Det här är ett automatiskt meddelande från {self.operator.name}; svara inte på "
            "det. Under Inställningar i brevlådan väljer du hur och hur ofta du aviseras."
        )

    # --- queries ----------------------------------------------------------------------------

    def _email_addresses(
        self, session: Session, account: MailboxAccount | MailboxNoticeSettings
    ) -> tuple[str, ...]:
        """Where e-mail notices go: the mailbox's address, else a company's administrators."""
        if account.email:
            return (account.email,)
        if account.kind != "company":
            return ()
        administrators = session.scalars(
            select(MailboxCompanyAdministrator.person_id).where(
                MailboxCompanyAdministrator.operator_number == self.operator.number,
                MailboxCompanyAdministrator.company_id == account.owner_id,
            )
        )
        addresses: list[str] = []
        for person_id in administrators:
            # The administrator's own mailbox may be at another operator; any address will do.
            emails = session.scalars(
                select(MailboxAccount.email)
                .where(MailboxAccount.owner_id == person_id, MailboxAccount.email.is_not(None))
                .order_by(MailboxAccount.operator_number != self.operator.number)
            )
            first = next(iter(emails), None)
            if first and first not in addresses:
                addresses.append(first)
        return tuple(addresses)

    def _unsent_by_recipient(self) -> dict[tuple[str, str], list[MailboxNotice]]:
        with self._sessions() as session:
            rows = session.scalars(
                select(MailboxNotice)
                .where(
                    MailboxNotice.operator_number == self.operator.number,
                    MailboxNotice.sent_at.is_(None),
                )
                .order_by(MailboxNotice.id)
            )
            grouped: dict[tuple[str, str], list[MailboxNotice]] = {}
            for row in rows:
                grouped.setdefault((row.recipient_id, row.channel), []).append(row)
            return grouped

    def _last_sent(self, session: Session, recipient_id: str, channel: str) -> dt.datetime | None:
        last = session.scalar(
            select(func.max(MailboxNotice.sent_at)).where(
                MailboxNotice.operator_number == self.operator.number,
                MailboxNotice.recipient_id == recipient_id,
                MailboxNotice.channel == channel,
            )
        )
        return _utc(last) if last is not None else None

    def _settle(self, notice_ids: Sequence[int], error: str | None, now: dt.datetime) -> int:
        """Record the outcome on the notices; returns how many were sent."""
        with self._sessions.begin() as session:
            for notice_id in notice_ids:
                notice = session.get(MailboxNotice, notice_id)
                if notice is None:
                    continue
                if error is None:
                    notice.sent_at = now
                    notice.error = None
                else:
                    notice.error = error
        if error is not None:
            # Not the error itself: it names the recipient's address (it is kept on the notice).
            logger.warning("notices %s not sent, retried on the next digest run", list(notice_ids))
            return 0
        return len(notice_ids)

    def _send_logged(self, notice_ids: Sequence[int]) -> None:
        try:
            self.send_now(notice_ids)
        except Exception:
            # The notice thread must survive anything; the digest run retries what is unsent.
            logger.exception("sending notices %s failed", list(notice_ids))


def _plain(message: MessageContent) -> str | None:
    """A notification's body when it is plain text (HTML is not forwarded into e-mail)."""
    return message.body_text if message.body_content_type == "text/plain" else None


def _fit_sms(text: str) -> str:
    return text if len(text) <= MAX_SMS_LENGTH else text[: MAX_SMS_LENGTH - 1] + "…"


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
