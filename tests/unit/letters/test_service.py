"""The letter service on SQLite and PostgreSQL: what it accepts, what it refuses, and that a
refused letter leaves nothing behind."""

import datetime as dt

import pytest
from sqlalchemy import func, select

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW, sender_organisation
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.jobs.models import Job
from utskick.letters import events, vocabulary
from utskick.letters.inputs import (
    AttachmentInput,
    IdempotencyConflictError,
    LetterInput,
    LetterRejectedError,
)
from utskick.letters.models import Letter, LetterAttachment, LetterEvent, MessageType
from utskick.letters.service import LetterNotCancellableError, LetterNotFoundError, LetterService
from utskick.observability.context import request_id_scope
from utskick.senders.models import SenderOrganisation
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings

UNKNOWN_ORGANISATION = "2120000142"  # a valid organisationsnummer that is not a sender
PDF = minimal_pdf(1000)

pytestmark = pytest.mark.storage


@pytest.fixture
def world(db_session):
    db_session.add(sender_organisation(EXEMPELKOMMUN, intermediary=True))
    db_session.add(sender_organisation(GRANNKOMMUN))
    db_session.add(MessageType(code="beslut", name="Beslut", protection_class=2))
    db_session.add(MessageType(code="skyddat", name="Skyddat", protection_class=4))
    db_session.flush()
    system = create_sending_system(
        db_session, name="Ärendesystemet", sender_numbers=[EXEMPELKOMMUN], now=NOW
    )
    other = create_sending_system(
        db_session,
        name="Socialtjänsten",
        sender_numbers=[GRANNKOMMUN],
        departments=["Socialtjänst"],
        now=NOW,
    )
    settings = Settings(fallback_after_seconds=3600)
    service = LetterService(db_session, settings, clock=lambda: NOW)
    return service, system, other


def letter(**changes):
    fields = {
        "sender": "202100-4748",
        "recipient": "19121212-1212",
        "subject": "Beslut om bygglov",
        "body": "Hej! Här kommer beslutet.",
        "protection_class": 2,
    }
    fields.update(changes)
    return LetterInput(**fields)


def counts(session):
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model))
        for model in (Letter, LetterAttachment, LetterEvent, Job)
    }


NOTHING = {"letter": 0, "letter_attachment": 0, "letter_event": 0, "job": 0}


class TestAccept:
    def test_stores_the_letter_its_attachment_first_event_and_classify_job(self, world, db_session):
        service, system, _ = world
        stored, created = service.accept(
            system,
            letter(
                attachments=(AttachmentInput("beslut.pdf", PDF, channel="paper"),),
                case_number="BN 2026/1",
            ),
            actor="api:Ärendesystemet",
        )
        db_session.flush()
        assert created
        assert stored.recipient_id == "191212121212"
        assert stored.sender_number == EXEMPELKOMMUN
        assert stored.state == vocabulary.RECEIVED
        assert len(stored.message_id) == 32
        assert stored.deliver_by == NOW + dt.timedelta(hours=1)
        assert stored.attachments[0].size == len(PDF)
        assert stored.attachments[0].channel == "paper"
        assert len(stored.attachments[0].sha256) == 64
        assert counts(db_session) == {
            "letter": 1,
            "letter_attachment": 1,
            "letter_event": 1,
            "job": 1,
        }
        job = db_session.scalar(select(Job))
        assert (job.kind, job.letter_id) == ("classify", stored.id)
        event = db_session.scalar(select(LetterEvent))
        assert (event.state, event.actor) == ("received", "api:Ärendesystemet")

    def test_the_classify_job_carries_the_request_id_it_was_accepted_under(self, world, db_session):
        service, system, _ = world
        with request_id_scope("arende-4711"):
            stored, _ = service.accept(system, letter(), actor="api:Ärendesystemet")
        db_session.flush()
        job = db_session.scalar(select(Job).where(Job.letter_id == stored.id))
        assert job.payload == {"request_id": "arende-4711"}

    def test_takes_the_protection_class_from_the_message_type(self, world):
        service, system, _ = world
        stored, _ = service.accept(
            system, letter(protection_class=None, message_type="beslut"), actor="cli"
        )
        assert stored.protection_class == 2

    def test_paper_only_letters_have_no_fallback_deadline(self, world):
        service, system, _ = world
        stored, _ = service.accept(system, letter(policy="paper-only"), actor="cli")
        assert stored.deliver_by is None

    def test_accepts_restricted_html(self, world):
        service, system, _ = world
        stored, _ = service.accept(
            system,
            letter(body_type="text/html", body='<p>Hej <a href="https://kommun.se">här</a></p>'),
            actor="cli",
        )
        assert stored.body_type == "text/html"

    def test_accepts_attachments_just_under_two_megabytes_on_the_wire(self, world):
        service, system, _ = world
        big = PDF + b"0" * (1_450_000)
        stored, _ = service.accept(
            system, letter(attachments=(AttachmentInput("stor.pdf", big),)), actor="cli"
        )
        assert stored.attachments[0].size == len(big)


class TestIdempotency:
    def test_the_same_key_returns_the_same_letter_and_stores_nothing_new(self, world, db_session):
        service, system, _ = world
        first, created_first = service.accept(system, letter(idempotency_key="BN-1"), actor="cli")
        db_session.flush()
        before = counts(db_session)
        again, created_again = service.accept(
            system, letter(idempotency_key="BN-1", recipient="191212121212"), actor="cli"
        )
        db_session.flush()
        assert (created_first, created_again) == (True, False)
        assert again.id == first.id
        assert counts(db_session) == before

    def test_the_same_key_with_other_content_is_refused_naming_the_first_letter(
        self, world, db_session
    ):
        service, system, _ = world
        first, _ = service.accept(system, letter(idempotency_key="BN-1"), actor="cli")
        db_session.flush()
        before = counts(db_session)
        with pytest.raises(IdempotencyConflictError) as refused:
            service.accept(system, letter(idempotency_key="BN-1", subject="Annat"), actor="cli")
        db_session.flush()
        assert refused.value.letter_id == first.id
        assert first.id in refused.value.message
        assert db_session.get(Letter, first.id).subject == "Beslut om bygglov"
        assert counts(db_session) == before

    def test_the_same_key_from_another_system_is_another_letter(self, world):
        service, system, other = world
        first, _ = service.accept(system, letter(idempotency_key="K"), actor="cli")
        second, created = service.accept(
            other,
            letter(idempotency_key="K", sender=GRANNKOMMUN, department="Socialtjänst"),
            actor="cli",
        )
        assert created
        assert second.id != first.id


REFUSALS = [
    pytest.param(
        {"recipient": "19121212-1213"},
        "recipient",
        "kontrollsiffran stämmer inte",
        id="invalid-identity",
    ),
    pytest.param(
        {"protection_class": 4}, "protection_class", "skyddsklass 4 får inte skickas", id="class-4"
    ),
    pytest.param(
        {"protection_class": None, "message_type": "skyddat"},
        "protection_class",
        "skyddsklass 4 får inte skickas",
        id="class-4-from-message-type",
    ),
    pytest.param(
        {
            "attachments": (
                AttachmentInput("beslut.pdf", PDF),
                AttachmentInput("beslut.docx", b"PK\x03\x04 word"),
            )
        },
        "attachments[1].content",
        "bilagan beslut.docx är ingen PDF-fil",
        id="non-pdf-attachment",
    ),
    pytest.param(
        {"attachments": (AttachmentInput("stor.pdf", PDF + b"0" * 1_600_000),)},
        "attachments",
        "Mina meddelanden tar högst 2048 kB (2 MB) inklusive bilagor",
        id="over-2-mb",
    ),
    pytest.param(
        {"body_type": "text/html", "body": "<p>Hej</p><script>alert(1)</script>"},
        "body",
        "HTML-elementet <script> är inte tillåtet",
        id="html-with-script",
    ),
    pytest.param(
        {"sender": UNKNOWN_ORGANISATION},
        "sender",
        f"avsändarorganisationen {UNKNOWN_ORGANISATION} finns inte i Utskick",
        id="unknown-sender-organisation",
    ),
    pytest.param(
        {"sender": GRANNKOMMUN},
        "sender",
        f"får inte skicka för avsändaren {GRANNKOMMUN}",
        id="sender-outside-the-systems-scope",
    ),
    pytest.param({"protection_class": None}, "protection_class", "ange skyddsklass", id="no-class"),
    pytest.param(
        {"message_type": "okänd"},
        "message_type",
        "meddelandetypen 'okänd' finns inte",
        id="unknown-type",
    ),
    pytest.param({"subject": "  "}, "subject", "ämnesraden är tom", id="empty-subject"),
    pytest.param({"subject": "x" * 256}, "subject", "korta den till högst 255", id="long-subject"),
    pytest.param({"policy": "fax"}, "policy", "ange en av digital-or-paper", id="unknown-policy"),
    pytest.param(
        {"eservice_url": "javascript:alert(1)"},
        "eservice_url",
        "börjar med https://",
        id="eservice-not-http",
    ),
    pytest.param(
        {"attachments": (AttachmentInput("a.pdf", PDF, channel="fax"),)},
        "attachments[0].channel",
        "kanalen 'fax' finns inte",
        id="unknown-attachment-channel",
    ),
    pytest.param({"body": "hej\x00"}, "body", "styrtecken", id="control-character"),
]


class TestRefusals:
    @pytest.mark.parametrize(("changes", "field", "message"), REFUSALS)
    def test_refuses_with_a_swedish_message_and_stores_nothing(
        self, world, db_session, changes, field, message
    ):
        service, system, _ = world
        with pytest.raises(LetterRejectedError) as refused:
            service.accept(system, letter(**changes), actor="cli")
        assert refused.value.field == field
        assert message in refused.value.message
        db_session.flush()
        assert counts(db_session) == NOTHING

    def test_a_department_outside_the_systems_scope_is_refused(self, world, db_session):
        service, _, other = world
        with pytest.raises(LetterRejectedError) as refused:
            service.accept(other, letter(sender=GRANNKOMMUN, department="Skola"), actor="cli")
        assert refused.value.field == "department"
        assert "får skicka för: Socialtjänst" in refused.value.message
        assert counts(db_session) == NOTHING

    def test_a_sender_without_support_text_cannot_send_digitally(self, world, db_session):
        service, system, _ = world
        sender = db_session.scalar(
            select(SenderOrganisation).where(
                SenderOrganisation.organisation_number == EXEMPELKOMMUN
            )
        )
        sender.support_text = ""
        with pytest.raises(LetterRejectedError, match="saknar en giltig supporttext"):
            service.accept(system, letter(), actor="cli")


class TestCancel:
    def test_cancels_a_letter_not_yet_sent_and_drops_its_pending_work(self, world, db_session):
        service, system, _ = world
        stored, _ = service.accept(system, letter(), actor="cli")
        db_session.flush()
        cancelled = service.cancel(system, stored.id, actor="api:Ärendesystemet")
        db_session.flush()
        assert (cancelled.state, cancelled.reason, cancelled.channel) == (
            "cancelled",
            "cancelled",
            "none",
        )
        # Nothing is left to do for it but to keep it as a record (the `record` job).
        assert db_session.scalars(select(Job.kind)).all() == ["record"]
        states = db_session.scalars(select(LetterEvent.state).order_by(LetterEvent.id)).all()
        assert states == ["received", "cancelled"]

    def test_another_systems_letter_is_not_found(self, world, db_session):
        service, system, other = world
        stored, _ = service.accept(system, letter(), actor="cli")
        db_session.flush()
        with pytest.raises(LetterNotFoundError):
            service.cancel(other, stored.id, actor="cli")
        assert stored.state == "received"

    def test_refuses_while_a_worker_is_delivering(self, world, db_session):
        service, system, _ = world
        stored, _ = service.accept(system, letter(), actor="cli")
        db_session.add(
            Job(
                kind="deliver",
                letter_id=stored.id,
                run_at=NOW,
                attempts=1,
                lease_owner="worker:1",
                lease_expires=NOW + dt.timedelta(seconds=60),
                created_at=NOW,
            )
        )
        db_session.flush()
        with pytest.raises(LetterNotCancellableError, match="ett leveransförsök har redan gjorts"):
            service.cancel(system, stored.id, actor="cli")
        assert stored.state == "received"

    def test_refuses_a_delivered_letter(self, world, db_session):
        service, system, _ = world
        stored, _ = service.accept(system, letter(), actor="cli")
        events.record(
            db_session, stored, vocabulary.DELIVERED, actor="worker:1", now=NOW, channel="digital"
        )
        db_session.flush()
        with pytest.raises(LetterNotCancellableError, match="redan avslutat"):
            service.cancel(system, stored.id, actor="cli")
