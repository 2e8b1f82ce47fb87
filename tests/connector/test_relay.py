"""The relay with a fake operator: retries, refusals, deadlines, minimisation, digests."""

import datetime as dt
import hashlib
import uuid

import pytest
from lxml import etree
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.world import (
    ANNA,
    BERTIL,
    EXEMPELKOMMUN,
    TOLVAN,
    Clock,
    FakeFar,
    FakeOperator,
)
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.entrypoints.worker import Worker
from utskick.jobs.models import Job
from utskick.jobs.queue import DELIVER, FALLBACK, JobQueue
from utskick.letters.inputs import AttachmentInput, LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.relay.operator import DeliveryRefusedError, TransientDeliveryError
from utskick.senders.models import SendingSystem

PDF = minimal_pdf(1000)  # attachments are opened at intake: a real PDF
V3 = "http://minameddelanden.gov.se/schema/Message/v3"


@pytest.fixture
def accept(world, clean_jobs):
    _, settings, engine, system_id = world

    def accept_letter(recipient=TOLVAN, *, policy="digital-or-paper", attachments=(), clock=None):
        with Session(engine) as session, session.begin():
            system = session.get(SendingSystem, system_id)
            service = (
                LetterService(session, settings, clock)
                if clock
                else LetterService(session, settings)
            )
            letter, _ = service.accept(
                system,
                LetterInput(
                    sender=EXEMPELKOMMUN,
                    recipient=recipient,
                    subject="Beslut om bygglov",
                    body="Hej! Ditt bygglov är beviljat.",
                    attachments=tuple(attachments),
                    policy=policy,
                    protection_class=2,
                    department="Bygglovsenheten",
                    case_number="BN 2026/123",
                    idempotency_key=str(uuid.uuid4()),
                ),
                actor="cli",
            )
            return letter.id

    return accept_letter


def make_worker(world, operator, clock, **overrides):
    _, settings, engine, _ = world
    settings = settings.model_copy(
        update={"retry_base_seconds": 2.0, "retry_max_seconds": 30.0, **overrides}
    )
    return Worker(
        settings,
        engine,
        operator_client=operator,
        clock=clock,
        worker_id=f"test-{uuid.uuid4().hex[:6]}",
    )


def run_until_settled(worker, clock, rounds=20):
    for _ in range(rounds):
        while worker.run_once():
            pass
        clock.advance(31)


def letter_and_events(world, letter_id):
    _, _, engine, _ = world
    with Session(engine) as session:
        letter = session.get(Letter, letter_id)
        _ = [(a.channel, a.content) for a in letter.attachments]
        events = session.scalars(
            select(LetterEvent).where(LetterEvent.letter_id == letter_id).order_by(LetterEvent.id)
        ).all()
        session.expunge_all()
        return letter, events


def jobs_of(world, letter_id):
    _, _, engine, _ = world
    with Session(engine) as session:
        return session.scalars(select(Job).where(Job.letter_id == letter_id)).all()


def test_transient_failures_are_retried_with_the_same_message_id_until_delivered(world, accept):
    clock = Clock()
    letter_id = accept(clock=clock)
    operator = FakeOperator(TransientDeliveryError("timeout"), TransientDeliveryError("HTTP 502"))
    worker = make_worker(world, operator, clock)

    run_until_settled(worker, clock)

    letter, events = letter_and_events(world, letter_id)
    assert [e.state for e in events] == [
        "received",
        "classified",
        "retrying",
        "retrying",
        "delivered",
    ]
    message_ids = {
        etree.fromstring(request).findtext(f".//{{{V3}}}Id") for _, request in operator.requests
    }
    assert message_ids == {letter.message_id}
    assert len(operator.requests) == 3
    assert letter.trans_id == "trans-3"
    assert letter.delivered_digest == hashlib.sha256(operator.requests[-1][1]).hexdigest()


def test_a_retry_waits_with_backoff_and_jitter(world, accept):
    clock = Clock()
    letter_id = accept(clock=clock)
    worker = make_worker(world, FakeOperator(TransientDeliveryError("connection reset")), clock)

    while worker.run_once():
        pass

    [deliver] = [job for job in jobs_of(world, letter_id) if job.kind == DELIVER]
    waited = (deliver.run_at.replace(tzinfo=dt.UTC) - clock.now).total_seconds()
    assert 2.0 <= waited <= 30.0
    assert deliver.last_error == "connection reset"
    _, events = letter_and_events(world, letter_id)
    assert events[-1].state == "retrying"
    assert "connection reset" in events[-1].detail


def test_the_letter_goes_to_its_recipients_service_address(world, accept):
    context, _, _, _ = world
    clock = Clock()
    accept(ANNA, clock=clock)
    operator = FakeOperator()
    run_until_settled(make_worker(world, operator, clock), clock, rounds=1)

    assert operator.requests[0][0] == context.endpoints.operators["nord"].service_url


def test_after_delivery_the_content_is_removed_but_paper_attachments_and_the_digest_stay(
    world, accept
):
    clock = Clock()
    letter_id = accept(
        clock=clock,
        attachments=[
            AttachmentInput("beslut.pdf", PDF, "both"),
            AttachmentInput("digital.pdf", PDF, "digital"),
            AttachmentInput("karta.pdf", PDF, "paper"),
        ],
    )
    operator = FakeOperator()
    run_until_settled(make_worker(world, operator, clock), clock, rounds=1)

    letter, events = letter_and_events(world, letter_id)
    assert letter.state == "delivered"
    assert letter.body is None
    assert {a.filename: a.content is not None for a in letter.attachments} == {
        "beslut.pdf": False,
        "digital.pdf": False,
        "karta.pdf": True,
    }
    assert letter.delivered_digest
    delivered = next(event for event in events if event.state == "delivered")
    assert delivered.data["paper_part"] == {"state": "paper", "attachments": ["karta.pdf"]}
    sent = operator.requests[0][1]
    assert b"karta.pdf" not in sent
    assert b"beslut.pdf" in sent
    assert b"digital.pdf" in sent


def test_a_records_rule_can_keep_the_content(world, accept):
    clock = Clock()
    letter_id = accept(clock=clock)
    run_until_settled(
        make_worker(world, FakeOperator(), clock, keep_content_after_delivery=True), clock, rounds=1
    )

    letter, _ = letter_and_events(world, letter_id)
    assert letter.state == "delivered"
    assert letter.body == "Hej! Ditt bygglov är beviljat."


def test_a_refused_delivery_goes_on_paper_with_the_operators_reason(world, accept):
    clock = Clock()
    letter_id = accept(clock=clock)
    operator = FakeOperator(DeliveryRefusedError(5003, "mottagaren har ingen brevlåda här"))
    run_until_settled(make_worker(world, operator, clock), clock, rounds=3)

    letter, events = letter_and_events(world, letter_id)
    # On paper, and the print service has already addressed it and put it in a print batch.
    assert (letter.state, letter.channel, letter.reason) == ("batched", "paper", "delivery_refused")
    paper = next(event for event in events if event.state == "paper")
    assert "5003" in paper.detail
    assert paper.data == {"code": 5003, "description": "mottagaren har ingen brevlåda här"}
    assert len(operator.requests) == 1
    assert letter.body is not None  # the print service needs it


def test_a_refused_notification_fails_without_paper(world, accept):
    clock = Clock()
    letter_id = accept(clock=clock, policy="digital-only")
    run_until_settled(
        make_worker(world, FakeOperator(DeliveryRefusedError(5012, "signaturfel")), clock),
        clock,
        rounds=3,
    )

    letter, _ = letter_and_events(world, letter_id)
    assert (letter.state, letter.reason) == ("failed", "delivery_refused")


def test_a_recipient_who_cannot_be_reached_never_reaches_the_operator(world, accept):
    clock = Clock()
    paper_id = accept(BERTIL, clock=clock)
    notice_id = accept(BERTIL, clock=clock, policy="digital-only")
    operator = FakeOperator()
    run_until_settled(make_worker(world, operator, clock), clock, rounds=1)

    assert letter_and_events(world, paper_id)[0].state == "batched"  # on paper, in a print batch
    notice, _ = letter_and_events(world, notice_id)
    assert (notice.state, notice.channel, notice.reason) == (
        "not_reachable",
        "none",
        "sender_not_accepted",
    )
    assert operator.requests == []
    assert jobs_of(world, paper_id) == []


def test_at_the_deadline_an_undelivered_letter_falls_back_to_paper_once(world, accept):
    clock = Clock()
    letter_id = accept(clock=clock)
    always_down = FakeOperator(*[TransientDeliveryError("down")] * 100)
    # The retry falls due after the deadline: the fallback comes first.
    worker = make_worker(
        world, always_down, clock, retry_base_seconds=2 * 86400.0, retry_max_seconds=3 * 86400.0
    )
    while worker.run_once():
        pass
    letter, _ = letter_and_events(world, letter_id)
    [fallback] = [job for job in jobs_of(world, letter_id) if job.kind == FALLBACK]
    assert fallback.run_at.replace(tzinfo=dt.UTC) == letter.deliver_by.replace(tzinfo=dt.UTC)

    clock.now = letter.deliver_by.replace(tzinfo=dt.UTC) + dt.timedelta(seconds=1)
    attempts = len(always_down.requests)
    run_until_settled(worker, clock, rounds=1)
    clock.advance(4 * 86400)
    run_until_settled(worker, clock, rounds=1)

    letter, events = letter_and_events(world, letter_id)
    assert (letter.state, letter.reason) == ("batched", "deadline_passed")
    assert [e.state for e in events].count("paper") == 1
    assert len(always_down.requests) == attempts  # the late deliver job found the letter on paper
    assert jobs_of(world, letter_id) == []


def test_the_fallback_waits_while_a_delivery_attempt_is_running(world, accept):
    _, settings, engine, _ = world
    clock = Clock()
    letter_id = accept(clock=clock)
    worker = make_worker(world, FakeOperator(), clock)
    worker._run_classify(
        worker.queue.claim(worker.worker_id, now=clock(), limit=10, kinds=["classify"])
    )
    JobQueue(engine, settings.lease_seconds).claim("busy-worker", now=clock(), kinds=[DELIVER])
    letter, _ = letter_and_events(world, letter_id)
    clock.now = letter.deliver_by.replace(tzinfo=dt.UTC)
    # The lease of the running attempt must outlast the deadline check.
    with Session(engine) as session, session.begin():
        session.execute(
            Job.__table__.update()
            .where(Job.letter_id == letter_id, Job.kind == DELIVER)
            .values(lease_expires=clock.now + dt.timedelta(seconds=60))
        )

    worker.run_once()

    letter, _ = letter_and_events(world, letter_id)
    assert letter.state == "classified"
    [fallback] = [job for job in jobs_of(world, letter_id) if job.kind == FALLBACK]
    assert fallback.last_error == "leverans pågår"


def test_a_deliver_job_for_a_cancelled_letter_sends_nothing(world, accept):
    _, _, engine, _ = world
    clock = Clock()
    letter_id = accept(clock=clock)
    operator = FakeOperator()
    worker = make_worker(world, operator, clock)
    jobs = worker.queue.claim(worker.worker_id, now=clock(), limit=10, kinds=["classify"])
    worker._run_classify(jobs)
    with Session(engine) as session, session.begin():
        from utskick.letters import events, vocabulary

        events.record(
            session,
            session.get(Letter, letter_id),
            vocabulary.CANCELLED,
            actor="cli",
            now=clock(),
            reason="cancelled",
        )

    while worker.run_once():
        pass

    assert operator.requests == []
    assert letter_and_events(world, letter_id)[0].state == "cancelled"


def test_while_far_is_down_letters_wait_and_are_classified_when_it_is_back(world, accept):
    clock = Clock()
    letter_id = accept(clock=clock)
    down = make_worker(world, FakeOperator(), clock)
    down.adapters.register = FakeFar(down=True)

    while down.run_once():
        pass

    letter, _ = letter_and_events(world, letter_id)
    assert letter.state == "received"
    [classify] = jobs_of(world, letter_id)
    assert classify.kind == "classify"
    assert "svarar inte" in classify.last_error
    assert classify.run_at.replace(tzinfo=dt.UTC) > clock.now

    clock.advance(31)
    run_until_settled(make_worker(world, FakeOperator(), clock), clock, rounds=1)
    assert letter_and_events(world, letter_id)[0].state == "delivered"


def test_a_letter_whose_deadline_passes_while_far_is_down_goes_on_paper(world, accept):
    channel = "paper"
    clock = Clock()
    letter_id = accept(clock=clock)
    _, settings, _, _ = world
    clock.advance(settings.fallback_after_seconds + 1)
    down = make_worker(world, FakeOperator(), clock)
    down.adapters.register = FakeFar(down=True)

    while down.run_once():
        pass

    letter, events = letter_and_events(world, letter_id)
    assert (letter.state, letter.reason, letter.channel) == ("batched", "deadline_passed", channel)
    paper = [event for event in events if event.state == "paper"]
    assert len(paper) == 1
    assert "FaR gick inte att fråga" in paper[0].detail
    assert jobs_of(world, letter_id) == []
