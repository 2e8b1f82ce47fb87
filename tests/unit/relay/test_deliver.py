"""The relay's `deliver` and `fallback` jobs with a fake operator, on SQLite and PostgreSQL:
what each answer of the operator becomes, what is kept once a letter is delivered, when a
letter goes to paper instead, and which wire form an operator gets."""

import datetime as dt
import hashlib

import pytest
from lxml import etree
from sqlalchemy import select, update
from sqlalchemy.orm import sessionmaker

from support.world import EXEMPELKOMMUN, NOW, SYD, TOLVAN, FakeOperator, sender_organisation
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.jobs.models import Job
from utskick.jobs.queue import DELIVER, FALLBACK, PRINT, ClaimedJob, JobQueue, Retry
from utskick.letters import events
from utskick.letters.inputs import AttachmentInput, LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.mm import namespaces as ns
from utskick.mm.devca import write_pem_bundle
from utskick.mm.soap import WireForm
from utskick.relay.deliver import (
    PAPER_PART,
    RelayDependencies,
    deliver_job,
    fallback_job,
    wire_form_for,
)
from utskick.relay.operator import DeliveryRefusedError, TransientDeliveryError
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings

SYD_ADDRESS = "https://syd.example/service/v3"
PDF = minimal_pdf(1000)
RETRY_BASE, RETRY_MAX = 2.0, 30.0


@pytest.fixture(scope="module")
def key_file(authority, tmp_path_factory):
    """Exempelkommun's key and certificate from the test CA, as a sender's key file."""
    path = tmp_path_factory.mktemp("keys") / "exempelkommun.pem"
    write_pem_bundle(path, authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))
    return path


@pytest.fixture
def sessions(migrated_engine):
    """Sessions whose transactions are savepoints of one transaction rolled back afterwards."""
    connection = migrated_engine.connect()
    transaction = connection.begin()
    if migrated_engine.dialect.name == "sqlite":
        # pysqlite opens a transaction only at the first write, so the first savepoint would
        # open it instead, and releasing that savepoint would commit: open it now.
        connection.exec_driver_sql("BEGIN")
    yield sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    transaction.rollback()
    connection.close()


@pytest.fixture
def relay(sessions):
    """The relay's dependencies around an operator, with the settings given."""

    def make(operator, **settings):
        values = {"retry_base_seconds": RETRY_BASE, "retry_max_seconds": RETRY_MAX, **settings}
        return RelayDependencies(sessions, operator, Settings(**values), lambda: NOW, "worker:t")

    return make


@pytest.fixture
def classified(sessions, key_file):
    """Store a letter to Tolvan as the switch leaves it for Syd; returns its id.

    Exempelkommun signs and seals it (it is the intermediary), with its key file.
    """
    with sessions() as session, session.begin():
        session.add(sender_organisation(key_path=str(key_file), intermediary=True))
        session.flush()
        system_id = create_sending_system(
            session, name="Ärendesystemet", sender_numbers=[EXEMPELKOMMUN], now=NOW
        ).id

    def make(*, policy="digital-or-paper", attachments=(), support_text=None):
        with sessions() as session, session.begin():
            letter, _ = LetterService(session, Settings(), clock=lambda: NOW).accept(
                session.get(SendingSystem, system_id),
                LetterInput(
                    sender=EXEMPELKOMMUN,
                    recipient=TOLVAN,
                    subject="Beslut om bygglov",
                    body="Hej! Ditt bygglov är beviljat.",
                    attachments=tuple(attachments),
                    protection_class=2,
                    policy=policy,
                    support_text=support_text,
                ),
                actor="cli",
            )
            letter.operator_number = SYD
            letter.service_address = SYD_ADDRESS
            events.record(
                session,
                letter,
                "classified",
                actor="worker:t",
                now=NOW,
                reason="reachable",
                channel="digital",
            )
            return letter.id

    return make


def claimed(letter_id, kind=DELIVER, attempts=1):
    return ClaimedJob(1, kind, letter_id, None, attempts, NOW)


def stored(sessions, letter_id):
    """(letter with its attachments, its events oldest first, its print jobs), read afresh."""
    with sessions() as session:
        letter = session.get(Letter, letter_id)
        _ = list(letter.attachments)
        history = session.scalars(
            select(LetterEvent).where(LetterEvent.letter_id == letter_id).order_by(LetterEvent.id)
        ).all()
        prints = session.scalars(
            select(Job).where(Job.letter_id == letter_id, Job.kind == PRINT)
        ).all()
        return letter, history, prints


def change_senders(sessions, **values):
    with sessions() as session, session.begin():
        session.execute(update(SenderOrganisation).values(**values))


def record_state(sessions, letter_id, state):
    with sessions() as session, session.begin():
        events.record(session, session.get(Letter, letter_id), state, actor="cli", now=NOW)


class TestDelivered:
    def test_the_letter_keeps_the_trans_id_and_the_digest_of_exactly_what_was_posted(
        self, classified, relay, sessions
    ):
        letter_id = classified()
        operator = FakeOperator()

        assert deliver_job(claimed(letter_id), relay(operator)) is None

        [(address, request)] = operator.requests
        assert address == SYD_ADDRESS
        letter, history, _ = stored(sessions, letter_id)
        assert (letter.state, letter.channel) == ("delivered", "digital")
        assert letter.trans_id == "trans-1"
        assert letter.delivered_digest == hashlib.sha256(request).hexdigest()
        assert history[-1].data["operator"] == SYD
        assert history[-1].data["wire_form"] == "prefixed"

    def test_the_paper_part_goes_to_print_and_the_records_work_decides_the_content(
        self, classified, relay, sessions
    ):
        letter_id = classified(
            attachments=[
                AttachmentInput("beslut.pdf", PDF, channel="digital"),
                AttachmentInput("blankett.pdf", PDF, channel="paper"),
            ]
        )

        deliver_job(claimed(letter_id), relay(FakeOperator()))

        letter, history, prints = stored(sessions, letter_id)
        # The relay removes nothing itself: the DELIVERED event queues the record job, whose
        # rule says whether the content goes (tests/functional/records).
        assert letter.body == "Hej! Ditt bygglov är beviljat."
        assert [a.content for a in letter.attachments] == [PDF, PDF]
        assert history[-1].data["paper_part"] == {"state": "paper", "attachments": ["blankett.pdf"]}
        assert [job.payload for job in prints] == [{"part": PAPER_PART}]
        with sessions() as session:
            kinds = session.scalars(select(Job.kind).where(Job.letter_id == letter_id)).all()
        assert "record" in kinds

    def test_the_wire_form_set_for_the_operator_is_what_is_posted(
        self, classified, relay, sessions
    ):
        letter_id = classified()
        operator = FakeOperator()

        deliver_job(claimed(letter_id), relay(operator, operator_wire_forms={SYD: "default"}))

        [(_, request)] = operator.requests
        assert b"<ds:Signature" not in request
        assert request.count(b'<Signature xmlns="http://www.w3.org/2000/09/xmldsig#">') == 2
        assert stored(sessions, letter_id)[1][-1].data["wire_form"] == "default"

    def test_an_answer_after_the_letter_went_to_paper_changes_nothing(
        self, classified, relay, sessions
    ):
        letter_id = classified()
        meanwhile = FakeOperator(lambda: record_state(sessions, letter_id, "paper"))

        assert deliver_job(claimed(letter_id), relay(meanwhile)) is None

        letter, history, _ = stored(sessions, letter_id)
        assert letter.state == "paper"
        assert letter.trans_id is None
        assert [event.state for event in history][-1] == "paper"


def support_text_posted(request):
    """The Supportinfo Text of the one message in a posted delivery."""
    v3 = ns.MESSAGE_V3
    [text] = etree.fromstring(request).iterfind(f".//{{{v3}}}Supportinfo/{{{v3}}}Text")
    return text.text


class TestSupportText:
    def test_a_letters_own_support_text_is_what_the_recipient_gets(self, classified, relay):
        own = "Har du frågor? Kontakta Anna Andersson, Bygglov.\nTelefon: 0771-00 00 00"
        letter_id = classified(support_text=own)
        operator = FakeOperator()

        deliver_job(claimed(letter_id), relay(operator))

        [(_, request)] = operator.requests
        assert support_text_posted(request) == own

    def test_without_one_the_organisations_support_text_goes(self, classified, relay):
        letter_id = classified()
        operator = FakeOperator()

        deliver_job(claimed(letter_id), relay(operator))

        [(_, request)] = operator.requests
        assert support_text_posted(request) == sender_organisation().support_text


class TestNotDelivered:
    def test_a_fault_sends_the_letter_to_paper_with_the_operators_code(
        self, classified, relay, sessions
    ):
        letter_id = classified()
        refusal = DeliveryRefusedError(5003, "mottagaren har ingen brevlåda här")

        assert deliver_job(claimed(letter_id), relay(FakeOperator(refusal))) is None

        letter, history, prints = stored(sessions, letter_id)
        assert (letter.state, letter.reason, letter.channel) == (
            "paper",
            "delivery_refused",
            "paper",
        )
        assert history[-1].detail.endswith(" Fel 5003: mottagaren har ingen brevlåda här")
        assert history[-1].data == {
            "code": 5003,
            "description": "mottagaren har ingen brevlåda här",
        }
        assert len(prints) == 1

    def test_a_digital_only_letter_that_is_refused_fails_and_is_not_printed(
        self, classified, relay, sessions
    ):
        letter_id = classified(policy="digital-only")

        deliver_job(claimed(letter_id), relay(FakeOperator(DeliveryRefusedError(5012, "x"))))

        letter, _, prints = stored(sessions, letter_id)
        assert (letter.state, letter.reason) == ("failed", "delivery_refused")
        assert prints == []

    def test_delivered_false_in_the_answer_is_a_refusal(self, classified, relay, sessions):
        letter_id = classified()

        assert deliver_job(claimed(letter_id), relay(FakeOperator("not delivered"))) is None

        letter, history, _ = stored(sessions, letter_id)
        assert (letter.state, letter.reason) == ("paper", "delivery_refused")
        assert "Delivered=false" in history[-1].detail
        assert letter.trans_id is None

    def test_a_transient_failure_comes_back_after_a_backoff_and_says_why(
        self, classified, relay, sessions
    ):
        letter_id = classified()

        retry = deliver_job(
            claimed(letter_id, attempts=3), relay(FakeOperator(TransientDeliveryError("HTTP 502")))
        )

        assert isinstance(retry, Retry)
        assert retry.error == "HTTP 502"
        # Third attempt: a delay between the base and base·2², well below the maximum.
        assert NOW + dt.timedelta(seconds=RETRY_BASE) <= retry.at
        assert retry.at <= NOW + dt.timedelta(seconds=RETRY_BASE * 4)
        letter, history, _ = stored(sessions, letter_id)
        assert letter.state == "retrying"
        assert history[-1].data == {"attempt": 3, "next_attempt": retry.at.isoformat()}
        assert "HTTP 502" in history[-1].detail

    def test_a_sender_without_a_key_file_waits_without_an_event(self, classified, relay, sessions):
        letter_id = classified()
        change_senders(sessions, key_path=None)
        operator = FakeOperator()

        retry = deliver_job(claimed(letter_id), relay(operator))

        assert isinstance(retry, Retry)
        assert "har ingen nyckelfil" in retry.error
        assert operator.requests == []
        letter, history, _ = stored(sessions, letter_id)
        assert letter.state == "classified"
        assert [event.state for event in history][-1] == "classified"

    def test_without_an_intermediary_to_seal_the_letter_goes_to_paper(
        self, classified, relay, sessions
    ):
        letter_id = classified()
        change_senders(sessions, intermediary=False)
        operator = FakeOperator()

        assert deliver_job(claimed(letter_id), relay(operator)) is None

        assert operator.requests == []
        letter, history, _ = stored(sessions, letter_id)
        assert (letter.state, letter.reason) == ("paper", "delivery_refused")
        assert "ingen avsändarorganisation är förmedlare" in history[-1].detail

    @pytest.mark.parametrize("state", ["cancelled", "delivered", "paper"])
    def test_a_letter_that_no_longer_waits_for_delivery_is_left_alone(
        self, classified, relay, sessions, state
    ):
        letter_id = classified()
        record_state(sessions, letter_id, state)
        operator = FakeOperator()

        assert deliver_job(claimed(letter_id), relay(operator)) is None

        assert operator.requests == []
        assert stored(sessions, letter_id)[0].state == state


class TestFallback:
    @pytest.mark.parametrize(
        ("policy", "state", "detail"),
        [
            ("digital-or-paper", "paper", None),
            ("digital-only", "failed", "Brevet kunde inte levereras digitalt i tid."),
        ],
    )
    def test_at_the_deadline_an_undelivered_letter_goes_to_paper_or_fails(
        self, classified, relay, sessions, migrated_engine, policy, state, detail
    ):
        letter_id = classified(policy=policy)
        queue = JobQueue(migrated_engine, lease_seconds=60)

        assert fallback_job(claimed(letter_id, FALLBACK), relay(FakeOperator()), queue) is None

        letter, history, _ = stored(sessions, letter_id)
        assert (letter.state, letter.reason) == (state, "deadline_passed")
        if detail is not None:
            assert history[-1].detail == detail

    def test_while_a_delivery_attempt_holds_its_lease_the_fallback_looks_again_shortly(
        self, classified, relay, sessions, migrated_engine
    ):
        letter_id = classified()
        with sessions() as session, session.begin():
            session.add(
                Job(
                    kind=DELIVER,
                    letter_id=letter_id,
                    run_at=NOW,
                    attempts=1,
                    created_at=NOW,
                    lease_owner="worker:other",
                    lease_expires=NOW + dt.timedelta(seconds=60),
                )
            )
        queue = JobQueue(migrated_engine, lease_seconds=60)

        retry = fallback_job(claimed(letter_id, FALLBACK), relay(FakeOperator()), queue)

        assert retry == Retry(NOW + dt.timedelta(seconds=5), "leverans pågår")
        assert stored(sessions, letter_id)[0].state == "classified"

    def test_a_delivered_letter_stays_delivered(self, classified, relay, sessions, migrated_engine):
        letter_id = classified()
        deliver_job(claimed(letter_id), relay(FakeOperator()))
        queue = JobQueue(migrated_engine, lease_seconds=60)

        assert fallback_job(claimed(letter_id, FALLBACK), relay(FakeOperator()), queue) is None

        assert stored(sessions, letter_id)[0].state == "delivered"


def form(forms, address=SYD_ADDRESS, operator=SYD):
    return wire_form_for(Settings(operator_wire_forms=forms), address, operator)


class TestPerOperator:
    def test_without_a_setting_every_operator_gets_the_prefixed_form(self):
        assert form({}) == WireForm.PREFIXED

    @pytest.mark.parametrize("key", ["5569990012", "556999-0012", "165569990012"])
    def test_an_operator_named_by_its_organisationsnummer_in_any_form(self, key):
        assert form({key: "default"}) == WireForm.DEFAULT_NAMESPACES
        assert form({key: "default"}, "https://nord.example/v3", "5569990020") == (
            WireForm.PREFIXED
        )

    def test_an_operator_named_by_its_service_address(self):
        forms = {SYD_ADDRESS + "/": "default"}
        assert form(forms, operator=None) == WireForm.DEFAULT_NAMESPACES
        assert form(forms, "https://syd.example/annan/v3") == WireForm.PREFIXED

    def test_the_service_address_decides_before_the_operator(self):
        forms = {SYD: "default", SYD_ADDRESS: "prefixed"}
        assert form(forms) == WireForm.PREFIXED
        assert form(forms, "https://syd.example/v3-b") == WireForm.DEFAULT_NAMESPACES
