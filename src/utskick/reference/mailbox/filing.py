"""Filing an accepted request: stored, and the notices it owes recorded, in one transaction.

A new delivery costs two INSERTs (the delivery, then all its messages in one statement) and
one more for all its notices. The first attempt assumes the delivery is new and only
inserts; a repeat (or an identical delivery stored concurrently) fails it on the messages'
unique key, and the next attempts look for the stored copy first and answer with its
TransId. Notices are sent after commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from utskick.reference.mailbox.notices import NoticePlan, Notices, RecordedNotice
from utskick.reference.mailbox.storage import MessageStore, NewMessage, StoredDelivery
from utskick.reference.store import MailboxNotice, utc_now

# Only inserting, then twice looking first: a concurrent identical delivery can win the
# race to store after the look; the last attempt then finds it.
STORE_ATTEMPTS = 3
_NOTICES: Table = MailboxNotice.__table__  # type: ignore[assignment]


class DeliveryFiling:
    """Stores one operator's accepted requests and records the notices they owe.

    Args:
        sessions: the reference database's sessions.
        store: the operator's message store.
        notices: the operator's notices; None records and sends none.
    """

    def __init__(
        self, sessions: sessionmaker[Session], store: MessageStore, notices: Notices | None
    ) -> None:
        self._sessions = sessions
        self.store = store
        self.notices = notices

    def file(
        self,
        request: bytes,
        messages: list[NewMessage],
        plans: Mapping[str, NoticePlan],
        *,
        secure: bool,
    ) -> tuple[StoredDelivery, list[RecordedNotice]]:
        """Store the request and its messages; record the notices `plans` ask for.

        Args:
            request: the request exactly as received.
            messages: its messages, one per recipient and message.
            plans: the notices each recipient's mailbox asks for, by recipient.
            secure: True for deliverSecure, False for a notification.

        Raises:
            sqlalchemy.exc.IntegrityError: the last attempt also failed.
        """
        if not messages:
            return StoredDelivery(uuid.uuid4().hex, (), ()), []
        for attempt in range(1, STORE_ATTEMPTS + 1):
            try:
                with self._sessions.begin() as session:
                    stored = self.store.store_delivery(
                        request, messages, secure=secure, session=session, assume_new=attempt == 1
                    )
                    notices = self._record(session, stored, plans)
                break
            except IntegrityError:
                if attempt == STORE_ATTEMPTS:
                    raise
        if self.notices is not None:
            self.notices.send_later(notices)
        return stored, notices

    def _record(
        self, session: Session, stored: StoredDelivery, plans: Mapping[str, NoticePlan]
    ) -> list[RecordedNotice]:
        """Record the notices owed for the new messages, in the storing transaction."""
        if self.notices is None:
            return []
        owed = [
            (message_id, recipient_id, channel, plans[recipient_id].direct)
            for message_id, recipient_id in zip(
                stored.new_message_ids, stored.new_recipients, strict=True
            )
            for channel in plans[recipient_id].channels
        ]
        if not owed:
            return []
        now = utc_now()
        rows = [
            {
                "operator_number": self.store.operator_number,
                "recipient_id": recipient_id,
                "message_id": message_id,
                "channel": channel,
                "created_at": now,
            }
            for message_id, recipient_id, channel, _direct in owed
        ]
        # One statement for every notice of the delivery (RETURNING their ids, in order).
        ids = session.connection().execute(
            insert(_NOTICES).returning(_NOTICES.c.id, sort_by_parameter_order=True), rows
        )
        return [
            RecordedNotice(notice_id, recipient_id, channel, direct)
            for notice_id, (_, recipient_id, channel, direct) in zip(
                ids.scalars(), owed, strict=True
            )
        ]
