"""The message store on SQLite and PostgreSQL: encrypted at rest, idempotent, the inbox."""

import datetime as dt
import secrets

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from lxml import etree
from sqlalchemy import select, update

from support.world import BERTIL, KARIN, TOLVAN
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.mm.delivery import (
    Attachment,
    Delivery,
    NotificationDelivery,
    SecureMessage,
    SupportInfo,
    build_notification_delivery,
)
from utskick.mm.notify import notify_request
from utskick.mm.signing import sign_and_seal
from utskick.mm.soap import deliver_secure_request
from utskick.reference.mailbox.storage import MessageStore, NewMessage, StorageKeyError
from utskick.reference.store import MailboxAccount, MailboxDelivery, MailboxMessage
from utskick.reference.world import EXEMPELKOMMUN, NORD, SYD

KEY = bytes(range(32))


@pytest.fixture
def store(reference_sessions):
    return MessageStore(reference_sessions, SYD, KEY)


@pytest.fixture
def deliver(store, sender, intermediary, today):
    """Store a signed and sealed letter as the operator would; returns (StoredDelivery, request)."""

    def send(
        recipient=TOLVAN,
        subject="Beslut om bygglov",
        message_id="bygglov-1",
        body=b"Bygglov beviljas.",
        attachments=(),
    ):
        message = SecureMessage(
            id=message_id,
            subject=subject,
            support_info=SupportInfo("Ring 010-123 45 67"),
            body=body,
            attachments=attachments,
        )
        delivery = Delivery("16" + EXEMPELKOMMUN, "Exempelkommun", recipient, (message,))
        request = deliver_secure_request(
            sign_and_seal(delivery, sender, intermediary, received_on=today)
        )
        stored = store.store_delivery(
            request,
            [NewMessage(recipient, EXEMPELKOMMUN, "Exempelkommun", message_id)],
            secure=True,
        )
        return stored, request

    return send


def only_entry(store, recipient):
    [entry] = store.inbox(recipient)
    return entry


class TestStoring:
    def test_a_stored_letter_reads_back_with_its_attachment(self, store, deliver):
        pdf = minimal_pdf(4000)
        stored, _ = deliver(attachments=(Attachment("beslut.pdf", pdf),))

        entry = only_entry(store, TOLVAN)
        assert (entry.sender_name, entry.subject, entry.read, entry.secure) == (
            "Exempelkommun",
            "Beslut om bygglov",
            False,
            True,
        )
        assert entry.received_at.tzinfo is not None
        content = store.message(TOLVAN, entry.id)
        assert content.trans_id == stored.trans_id
        assert content.sender_number == EXEMPELKOMMUN
        assert content.body_content_type == "text/plain"
        assert content.body_text == "Bygglov beviljas."
        assert content.support_text == "Ring 010-123 45 67"
        assert [(a.index, a.filename, a.content_type, a.data) for a in content.attachments] == [
            (0, "beslut.pdf", "application/pdf", pdf)
        ]
        assert store.attachment(TOLVAN, entry.id, 0).data == pdf

    def test_the_request_is_kept_exactly_as_received_but_encrypted(
        self, deliver, reference_sessions
    ):
        stored, request = deliver(subject="Hemlig ämnesrad om skuld")
        with reference_sessions() as session:
            row = session.scalar(
                select(MailboxDelivery).where(MailboxDelivery.trans_id == stored.trans_id)
            )
        assert len(row.nonce) == 12
        assert "Hemlig ämnesrad".encode() not in row.ciphertext
        assert b"Exempelkommun" not in row.ciphertext
        # AES-256-GCM, bound to the operator and the TransId.
        associated = f"mailbox-delivery:{SYD}:{stored.trans_id}".encode()
        assert AESGCM(KEY).decrypt(row.nonce, row.ciphertext, associated) == request

    def test_a_repeated_delivery_is_stored_once_with_the_first_trans_id(
        self, store, deliver, reference_sessions
    ):
        first, _ = deliver()
        again, _ = deliver()

        assert first.new
        assert not again.new
        assert again.trans_id == first.trans_id
        assert again.message_ids == first.message_ids
        assert len(store.inbox(TOLVAN)) == 1
        with reference_sessions() as session:
            assert len(session.scalars(select(MailboxDelivery)).all()) == 1

    def test_the_same_message_id_from_the_same_sender_to_another_recipient_is_new(self, deliver):
        first, _ = deliver(TOLVAN)
        other, _ = deliver(BERTIL)
        assert other.new
        assert other.trans_id != first.trans_id

    def test_a_wrong_key_cannot_read_the_messages(self, store, deliver, reference_sessions):
        deliver()
        entry = only_entry(store, TOLVAN)
        thief = MessageStore(reference_sessions, SYD, secrets.token_bytes(32))
        with pytest.raises(StorageKeyError, match="fel lagringsnyckel"):
            thief.message(TOLVAN, entry.id)
        with pytest.raises(StorageKeyError):
            thief.inbox(TOLVAN)

    def test_a_ciphertext_moved_to_another_delivery_does_not_decrypt(
        self, store, deliver, reference_sessions
    ):
        stored, _ = deliver()
        entry = only_entry(store, TOLVAN)
        with reference_sessions.begin() as session:
            session.execute(
                update(MailboxDelivery)
                .where(MailboxDelivery.trans_id == stored.trans_id)
                .values(trans_id="another-trans-id-0000000000000000")
            )
        with pytest.raises(StorageKeyError):
            store.message(TOLVAN, entry.id)

    def test_a_key_of_the_wrong_length_is_refused(self, reference_sessions):
        with pytest.raises(ValueError, match="32 byte"):
            MessageStore(reference_sessions, SYD, b"too short")


class TestInbox:
    def test_newest_first(self, store, deliver):
        deliver(subject="Först", message_id="m-1")
        deliver(subject="Sedan", message_id="m-2")
        assert [e.subject for e in store.inbox(TOLVAN)] == ["Sedan", "Först"]

    def test_another_operator_and_another_recipient_see_nothing(
        self, store, deliver, reference_sessions
    ):
        deliver()
        entry = only_entry(store, TOLVAN)
        nord = MessageStore(reference_sessions, NORD, KEY)
        assert nord.inbox(TOLVAN) == []
        assert nord.message(TOLVAN, entry.id) is None
        assert store.message(BERTIL, entry.id) is None
        assert store.attachment(BERTIL, entry.id, 0) is None
        assert not store.mark_read(BERTIL, entry.id)
        assert not store.delete(BERTIL, entry.id)

    def test_reading_marks_read_and_counts_down_the_unread(self, store, deliver):
        deliver(message_id="m-1")
        deliver(message_id="m-2")
        assert store.unread_count(TOLVAN) == 2
        newest = store.inbox(TOLVAN)[0]

        assert store.mark_read(TOLVAN, newest.id)
        assert store.unread_count(TOLVAN) == 1
        assert store.message(TOLVAN, newest.id).read
        assert [e.read for e in store.inbox(TOLVAN)] == [True, False]

    def test_a_deleted_message_leaves_the_inbox_but_stays_in_the_database(
        self, store, deliver, reference_sessions
    ):
        deliver()
        entry = only_entry(store, TOLVAN)

        assert store.delete(TOLVAN, entry.id)
        assert store.inbox(TOLVAN) == []
        assert store.message(TOLVAN, entry.id) is None
        assert store.unread_count(TOLVAN) == 0
        assert not store.delete(TOLVAN, entry.id)
        with reference_sessions() as session:
            assert session.get(MailboxMessage, entry.id).deleted_at is not None

    def test_an_attachment_index_out_of_range_is_none(self, store, deliver):
        deliver()
        entry = only_entry(store, TOLVAN)
        assert store.attachment(TOLVAN, entry.id, 0) is None
        assert store.attachment(TOLVAN, entry.id, -1) is None

    def test_a_plain_text_body_is_shown_as_sent(self, store, deliver):
        deliver(body="Hej Tolvan! Välkommen.".encode())
        entry = only_entry(store, TOLVAN)
        assert store.message(TOLVAN, entry.id).body_text == "Hej Tolvan! Välkommen."

    def test_the_samples_doubly_encoded_body_and_pdf_are_shown_decoded(self, store, sample_bytes):
        request = deliver_secure_request(etree.fromstring(sample_bytes))
        store.store_delivery(
            request, [NewMessage(KARIN, EXEMPELKOMMUN, "Kommun A", "198101052382")], secure=True
        )
        entry = only_entry(store, KARIN)
        content = store.message(KARIN, entry.id)
        assert content.body_text.startswith("<p>Ett meddelande till 198101052382")
        assert "<strong>Annars är det fel!</strong>" in content.body_text
        assert content.attachments[0].data.startswith(b"%PDF-1.5")

    def test_a_notification_reads_back_as_a_simple_message(self, store):
        notification = NotificationDelivery(
            sender_id="16" + EXEMPELKOMMUN,
            sender_name="Exempelkommun",
            recipient_ids=(TOLVAN,),
            message=SecureMessage(
                id="n-1",
                subject="Sophämtning",
                support_info=SupportInfo("Ring oss"),
                body=b"Tisdag.",
            ),
            sms_from="Kommunen",
            sms_text="Sophamtning tisdag",
        )
        request = notify_request(build_notification_delivery(notification))
        store.store_delivery(
            request, [NewMessage(TOLVAN, EXEMPELKOMMUN, "Exempelkommun", "n-1")], secure=False
        )
        entry = only_entry(store, TOLVAN)
        content = store.message(TOLVAN, entry.id)
        assert not entry.secure
        assert (content.subject, content.body_text, content.sms_text) == (
            "Sophämtning",
            "Tisdag.",
            "Sophamtning tisdag",
        )


class TestMailboxes:
    def test_only_an_active_mailbox_receives(self, store, reference_sessions):
        with reference_sessions.begin() as session:
            session.add(
                MailboxAccount(
                    operator_number=SYD, owner_id=TOLVAN, kind="person", name="Tolvan Tolvansson"
                )
            )
            session.add(
                MailboxAccount(
                    operator_number=SYD,
                    owner_id=BERTIL,
                    kind="person",
                    name="Bertil",
                    active=False,
                    deactivated_at=dt.datetime.now(dt.UTC),
                )
            )
        assert store.has_active_mailbox(TOLVAN)
        assert not store.has_active_mailbox(BERTIL)
        assert not store.has_active_mailbox(KARIN)
