"""A mailbox operator's message store: deliveries encrypted at rest, the inbox read from them.

Each accepted request is kept exactly as received (the signed and sealed delivery, or the
notification) and encrypted with AES-256-GCM under the operator's storage key. The associated
data binds the ciphertext to the operator and the delivery's TransId, so a row copied to
another operator or another delivery does not decrypt. The inbox rows hold only what routing
and listing need without content (recipient, sender, message Id, read and deleted times); the
subject, the body and the attachments are read by decrypting the delivery.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from utskick.mm import namespaces as ns
from utskick.mm.delivery import (
    NotificationDelivery,
    SecureMessage,
    parse_delivery,
    parse_notification_delivery,
)
from utskick.mm.soap import body_element
from utskick.reference.store import MailboxAccount, MailboxDelivery, MailboxMessage, utc_now

KEY_BYTES = 32
_DELIVERIES: Table = MailboxDelivery.__table__  # type: ignore[assignment]
_MESSAGES: Table = MailboxMessage.__table__  # type: ignore[assignment]
NONCE_BYTES = 12
# A body that is itself one base64 token this long or longer may be a double encoding.
_MIN_WRAPPED_BODY = 16
_BASE64_TOKEN = re.compile(rb"[A-Za-z0-9+/]+={0,2}")


class StorageKeyError(ValueError):
    """A stored delivery that does not decrypt: wrong storage key, or changed at rest."""


@dataclass(frozen=True)
class NewMessage:
    """One message of an accepted delivery, as the inbox files it."""

    recipient_id: str
    sender_number: str  # organisationsnummer, 10 digits
    sender_name: str
    message_id: str  # the sender's message Id (idempotency key with sender and recipient)
    message_index: int = 0  # position of the message in the delivery


@dataclass(frozen=True)
class StoredDelivery:
    """What storing a delivery did: its TransId, its inbox rows, and which of them are new."""

    trans_id: str
    message_ids: tuple[int, ...]  # inbox row ids, in the order of the delivery's messages
    new_message_ids: tuple[int, ...]
    new_recipients: tuple[str, ...] = ()  # the recipient of each new message, in that order

    @property
    def new(self) -> bool:
        """True if anything was stored; False for a repeat of an earlier delivery."""
        return bool(self.new_message_ids)


@dataclass(frozen=True)
class InboxEntry:
    """One line of the inbox."""

    id: int
    sender_name: str
    subject: str
    received_at: dt.datetime
    read: bool
    secure: bool


@dataclass(frozen=True)
class AttachmentContent:
    """An attachment's bytes, ready to be served."""

    index: int
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class MessageContent:
    """A message as the recipient reads it, decrypted from the stored delivery."""

    id: int
    recipient_id: str
    sender_name: str
    sender_number: str
    subject: str
    received_at: dt.datetime
    read: bool
    secure: bool
    body_content_type: str  # "text/plain" | "text/html"
    body_text: str
    attachments: list[AttachmentContent]
    support_text: str
    support_url: str | None
    support_phone: str | None
    support_email: str | None
    message_id: str  # the sender's message Id
    trans_id: str
    reference: str | None = None
    # The simple path only: the texts the sender asked to have forwarded in notices.
    email_subject: str | None = None
    email_text: str | None = None
    sms_text: str | None = None


class MessageStore:
    """The inbox of one operator's mailboxes, over the reference database.

    Every method is its own unit of work, except `store_delivery`, which joins the caller's
    session when given one (so that the notices owed are recorded in the same transaction).
    """

    def __init__(self, sessions: sessionmaker[Session], operator_number: str, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError(
                f"lagringsnyckeln ska vara {KEY_BYTES} byte (AES-256), fick {len(key)}"
            )
        self._sessions = sessions
        self.operator_number = operator_number
        self._cipher = AESGCM(key)

    # --- storing ----------------------------------------------------------------------------

    def store_delivery(
        self,
        request: bytes,
        messages: Sequence[NewMessage],
        *,
        secure: bool,
        session: Session | None = None,
        assume_new: bool = False,
    ) -> StoredDelivery:
        """Store a delivery as received, encrypted, and file its messages in the inboxes.

        Idempotent: a message already stored for the same recipient, sender and message Id
        is not stored again. When every message of the delivery is a repeat, nothing is
        written and the TransId of the first delivery is returned.

        Args:
            request: the request exactly as received (kept, encrypted, as the evidence).
            messages: the delivery's messages, one per recipient and message.
            secure: True for deliverSecure, False for a notification (the simple path).
            session: join this session's transaction instead of committing one of our own.
            assume_new: skip the look-up of earlier copies and only insert (two statements);
                a repeat then raises IntegrityError, and the caller rolls back and stores
                again without this.

        Raises:
            sqlalchemy.exc.IntegrityError: a concurrent request stored the same message
                first (the caller retries and then finds it stored), or a repeat with
                `assume_new`.
        """
        with self._unit_of_work(session) as work:
            existing = {} if assume_new else self._existing(work, messages)
            fresh = [m for m in messages if _key(m) not in existing]
            if not fresh:
                first = existing[_key(messages[0])]
                delivery = work.get(MailboxDelivery, first.delivery_id)
                return StoredDelivery(
                    trans_id=delivery.trans_id if delivery is not None else "",
                    message_ids=tuple(existing[_key(m)].id for m in messages),
                    new_message_ids=(),
                )
            trans_id = uuid.uuid4().hex
            received_at = utc_now()
            delivery_id = self._insert_delivery(work, request, trans_id, received_at)
            rows = [
                {
                    "operator_number": self.operator_number,
                    "recipient_id": message.recipient_id,
                    "sender_number": message.sender_number,
                    "sender_name": message.sender_name,
                    "message_id": message.message_id,
                    "message_index": message.message_index,
                    "secure": secure,
                    "delivery_id": delivery_id,
                    "received_at": received_at,
                }
                for message in fresh
            ]
            # One statement for all the messages (RETURNING their ids, in this order).
            inserted = work.connection().execute(
                insert(_MESSAGES).returning(_MESSAGES.c.id, sort_by_parameter_order=True), rows
            )
            new_ids = dict(zip(map(_key, fresh), inserted.scalars(), strict=True))
            return StoredDelivery(
                trans_id=trans_id,
                message_ids=tuple(
                    new_ids[_key(m)] if _key(m) in new_ids else existing[_key(m)].id
                    for m in messages
                ),
                new_message_ids=tuple(new_ids.values()),
                new_recipients=tuple(m.recipient_id for m in fresh),
            )

    def _insert_delivery(
        self, session: Session, request: bytes, trans_id: str, received_at: dt.datetime
    ) -> int:
        nonce = secrets.token_bytes(NONCE_BYTES)
        statement = (
            insert(_DELIVERIES)
            .values(
                operator_number=self.operator_number,
                trans_id=trans_id,
                received_at=received_at,
                nonce=nonce,
                ciphertext=self._cipher.encrypt(nonce, request, self._associated_data(trans_id)),
            )
            .returning(_DELIVERIES.c.id)
        )
        return int(session.connection().execute(statement).scalar_one())

    def has_active_mailbox(self, recipient_id: str) -> bool:
        """Whether the recipient holds an active mailbox at this operator."""
        with self._sessions() as session:
            account = session.get(MailboxAccount, (self.operator_number, recipient_id))
            return account is not None and account.active

    # --- reading ----------------------------------------------------------------------------

    def inbox(self, recipient_id: str) -> list[InboxEntry]:
        """The recipient's messages, newest first, without the deleted ones."""
        with self._sessions() as session:
            rows = list(
                session.scalars(
                    select(MailboxMessage)
                    .where(
                        MailboxMessage.operator_number == self.operator_number,
                        MailboxMessage.recipient_id == recipient_id,
                        MailboxMessage.deleted_at.is_(None),
                    )
                    .order_by(MailboxMessage.received_at.desc(), MailboxMessage.id.desc())
                )
            )
            # One decryption per delivery, however many of its messages are listed.
            documents = {row.delivery_id: self._decrypt(session, row.delivery_id) for row in rows}
        return [
            InboxEntry(
                id=row.id,
                sender_name=row.sender_name,
                subject=_stored_message(documents[row.delivery_id], row).message.subject,
                received_at=_utc(row.received_at),
                read=row.read_at is not None,
                secure=row.secure,
            )
            for row in rows
        ]

    def message(self, recipient_id: str, message_id: int) -> MessageContent | None:
        """The recipient's message with this inbox id, decrypted; None if not theirs or deleted."""
        with self._sessions() as session:
            row = self._own(session, recipient_id, message_id)
            if row is None:
                return None
            delivery = session.get(MailboxDelivery, row.delivery_id)
            document = self._decrypt(session, row.delivery_id)
        parsed = _stored_message(document, row)
        message = parsed.message
        info = message.support_info
        return MessageContent(
            id=row.id,
            recipient_id=row.recipient_id,
            sender_name=row.sender_name,
            sender_number=row.sender_number,
            subject=message.subject,
            received_at=_utc(row.received_at),
            read=row.read_at is not None,
            secure=row.secure,
            body_content_type=message.body_content_type,
            body_text=_body_text(message),
            attachments=[
                AttachmentContent(
                    index=index,
                    filename=attachment.filename,
                    content_type=attachment.content_type,
                    data=_attachment_bytes(attachment.content, attachment.content_type),
                )
                for index, attachment in enumerate(message.attachments)
            ],
            support_text=info.text,
            support_url=info.url,
            support_phone=info.phone_number,
            support_email=info.email_address,
            message_id=message.id,
            trans_id=delivery.trans_id if delivery is not None else "",
            reference=parsed.reference,
            email_subject=parsed.notification.email_subject if parsed.notification else None,
            email_text=parsed.notification.email_text if parsed.notification else None,
            sms_text=parsed.notification.sms_text if parsed.notification else None,
        )

    def attachment(
        self, recipient_id: str, message_id: int, index: int
    ) -> AttachmentContent | None:
        """One attachment of the recipient's message; None if there is no such attachment."""
        content = self.message(recipient_id, message_id)
        if content is None or not 0 <= index < len(content.attachments):
            return None
        return content.attachments[index]

    def unread_count(self, recipient_id: str) -> int:
        """How many of the recipient's messages are unread (deleted ones not counted)."""
        with self._sessions() as session:
            count = session.scalar(
                select(func.count(MailboxMessage.id)).where(
                    MailboxMessage.operator_number == self.operator_number,
                    MailboxMessage.recipient_id == recipient_id,
                    MailboxMessage.read_at.is_(None),
                    MailboxMessage.deleted_at.is_(None),
                )
            )
            return int(count or 0)

    # --- changing ---------------------------------------------------------------------------

    def mark_read(self, recipient_id: str, message_id: int) -> bool:
        """Mark the recipient's message read (the first reading time is kept).

        Returns:
            False if the recipient has no such message.
        """
        with self._sessions.begin() as session:
            row = self._own(session, recipient_id, message_id)
            if row is None:
                return False
            if row.read_at is None:
                row.read_at = utc_now()
            return True

    def delete(self, recipient_id: str, message_id: int) -> bool:
        """Delete the recipient's message from the inbox (kept in the database, hidden).

        Returns:
            False if the recipient has no such message, or it was already deleted.
        """
        with self._sessions.begin() as session:
            row = self._own(session, recipient_id, message_id)
            if row is None:
                return False
            row.deleted_at = utc_now()
            return True

    # --- helpers ----------------------------------------------------------------------------

    @contextmanager
    def _unit_of_work(self, session: Session | None) -> Iterator[Session]:
        if session is not None:
            yield session
            return
        with self._sessions.begin() as own:
            yield own

    def _existing(
        self, session: Session, messages: Sequence[NewMessage]
    ) -> dict[tuple[str, str, str], MailboxMessage]:
        found: dict[tuple[str, str, str], MailboxMessage] = {}
        for message in messages:
            row = session.scalar(
                select(MailboxMessage).where(
                    MailboxMessage.operator_number == self.operator_number,
                    MailboxMessage.recipient_id == message.recipient_id,
                    MailboxMessage.sender_number == message.sender_number,
                    MailboxMessage.message_id == message.message_id,
                )
            )
            if row is not None:
                found[_key(message)] = row
        return found

    def _own(self, session: Session, recipient_id: str, message_id: int) -> MailboxMessage | None:
        row = session.get(MailboxMessage, message_id)
        if (
            row is None
            or row.operator_number != self.operator_number
            or row.recipient_id != recipient_id
            or row.deleted_at is not None
        ):
            return None
        return row

    def _associated_data(self, trans_id: str) -> bytes:
        return f"mailbox-delivery:{self.operator_number}:{trans_id}".encode()

    def _decrypt(self, session: Session, delivery_id: int) -> bytes:
        delivery = session.get(MailboxDelivery, delivery_id)
        if delivery is None or delivery.operator_number != self.operator_number:
            raise StorageKeyError(f"leverans {delivery_id} finns inte hos denna operatör")
        try:
            return self._cipher.decrypt(
                delivery.nonce, delivery.ciphertext, self._associated_data(delivery.trans_id)
            )
        except InvalidTag:
            raise StorageKeyError(
                f"leverans {delivery.trans_id} går inte att dekryptera: fel lagringsnyckel, "
                "eller så har den ändrats i databasen"
            ) from None


def _key(message: NewMessage) -> tuple[str, str, str]:
    return (message.recipient_id, message.sender_number, message.message_id)


@dataclass(frozen=True)
class _ParsedMessage:
    message: SecureMessage
    reference: str | None
    notification: NotificationDelivery | None


def _stored_message(document: bytes, row: MailboxMessage) -> _ParsedMessage:
    """Read one message back out of a stored request (deliverSecure or notify)."""
    content = body_element(document)
    if not row.secure:
        notification = parse_notification_delivery(content)
        return _ParsedMessage(notification.message, notification.reference, notification)
    v3 = ns.MESSAGE_V3
    delivery_element = content.find(
        f"{{{ns.SERVICE_V3}}}deliverSecure/{{{v3}}}SignedDelivery/{{{v3}}}Delivery"
    )
    if delivery_element is None:
        raise StorageKeyError(f"den lagrade leveransen för meddelande {row.id} saknar Delivery")
    delivery = parse_delivery(delivery_element)
    return _ParsedMessage(delivery.messages[row.message_index], delivery.reference, None)


def _body_text(message: SecureMessage) -> str:
    if message.body_content_type == "text/html":
        data = _unwrapped(message.body, lambda inner: b"<" in inner and _is_text(inner))
    else:
        data = _unwrapped(message.body, _is_text)
    return data.decode("utf-8", errors="replace")


def _attachment_bytes(data: bytes, content_type: str) -> bytes:
    if content_type == "application/pdf" and not data.startswith(b"%PDF"):
        return _unwrapped(b"".join(data.split()), lambda inner: inner.startswith(b"%PDF"))
    return data


def _unwrapped(data: bytes, looks_right: Callable[[bytes], bool]) -> bytes:
    """The content, with one extra layer of base64 removed where a sender added one.

    Some senders base64-encode the content themselves before the wire's own base64 (the
    published sample does so for its HTML body and its PDF). The signatures cover the bytes
    as sent, so they are stored unchanged; only when shown is the extra layer removed, and
    only when the bytes are one strict base64 token whose decoding looks like the stated type.
    """
    if len(data) < _MIN_WRAPPED_BODY or not _BASE64_TOKEN.fullmatch(data):
        return data
    try:
        inner = base64.b64decode(data, validate=True)
    except ValueError:
        return data
    return inner if looks_right(inner) else data


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(char.isprintable() or char in "\r\n\t" for char in text)


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
