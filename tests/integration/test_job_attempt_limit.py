"""The worker's attempt limit with real handlers, on SQLite and PostgreSQL.

A delivery that keeps failing ends failed with an event on its letter, is not claimed again,
leaves the letter's paper deadline in place, and runs again after `jobs retry`; a print job
whose register is down fails the same way inside the print service's own transaction. A
classify job that waits for FaR is never given up: the letter still goes on paper when its
deadline passes. A job whose worker dies on it each time ends failed too.
"""

from __future__ import annotations

import datetime as dt
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.postgres import postgres_schema_url
from support.world import DAVID, EXEMPELKOMMUN, SYD, TOLVAN, Clock, FakeFar, FakeOperator
from utskick.db.engine import create_database_engine
from utskick.entrypoints.worker import Worker
from utskick.jobs.models import Job
from utskick.jobs.queue import CLASSIFY, DELIVER, FALLBACK, LEASE_RAN_OUT, PRINT
from utskick.letters import job_failures, vocabulary
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.migrations import migrate
from utskick.mm.devca import write_pem_bundle
from utskick.mm.soap import ReachabilityStatus, ServiceSupplier
from utskick.printing.addresses import AddressSourceUnavailableError, RegisterEntry
from utskick.relay.operator import TransientDeliveryError
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.settings import PrintVendor, Settings
from utskick.switch.far import Reachability

pytestmark = pytest.mark.storage

START = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
MAX_ATTEMPTS = 3


class DigitalFar:
    """FaR: everyone has a mailbox at Brevlåda Syd that accepts Exempelkommun."""

    def is_reachable(self, _sender_number, recipient_ids):
        syd = ServiceSupplier(SYD, "Brevlåda Syd", "https://syd.test/svc", "https://syd.test/svc")
        return {
            rid: Reachability(rid, ReachabilityStatus(rid, "Secure", pending=False,
                                                      sender_accepted=True, service_supplier=syd))
            for rid in recipient_ids
        }  # fmt: skip


class SwitchableRegister:
    """The population register: down until `up` is set, then David lives at Storgatan 1."""

    def __init__(self):
        self.up = False

    def lookup(self, recipient_ids):
        if not self.up:
            raise AddressSourceUnavailableError("folkbokföringen svarar inte: ConnectTimeout")
        return {
            rid: RegisterEntry(rid, found=True, name="David Svensson", lines=("Storgatan 1",
                                                                               "123 45 Staden"))
            for rid in recipient_ids
        }  # fmt: skip


@contextmanager
def _database(kind, tmp_path):
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'utskick.db'}"
        return
    with postgres_schema_url("job_limit") as url:
        yield url


class World:
    """A migrated database with Exempelkommun (signing with a test CA's key) and one system."""

    def __init__(self, url, tmp_path, authority):
        self.engine = create_database_engine(url)
        migrate.upgrade(self.engine)
        self.clock = Clock(START)
        key = tmp_path / "exempelkommun.pem"
        write_pem_bundle(key, authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))
        self.settings = Settings(
            home=tmp_path,
            database_url=url,
            job_max_attempts=MAX_ATTEMPTS,
            retry_base_seconds=1.0,
            retry_max_seconds=2.0,
            fallback_after_seconds=3600.0,
            print_vendors=[PrintVendor(name="tryckeriet", drop=tmp_path / "drop")],
        )
        with Session(self.engine) as session, session.begin():
            session.add(
                SenderOrganisation(
                    organisation_number=EXEMPELKOMMUN,
                    name="Exempelkommun",
                    key_path=str(key),
                    intermediary=True,
                    support_text="Kontakta Exempelkommuns kundcenter.",
                    created_at=START,
                )
            )
            self.system_id = str(uuid.uuid4())
            session.add(
                SendingSystem(
                    id=self.system_id,
                    name="Ärendesystemet",
                    sender_numbers=[EXEMPELKOMMUN],
                    departments=None,
                    created_at=START,
                )
            )

    def accept(self, recipient, policy):
        with Session(self.engine) as session, session.begin():
            system = session.get(SendingSystem, self.system_id)
            letter, _ = LetterService(session, self.settings, self.clock).accept(
                system,
                LetterInput(
                    sender=EXEMPELKOMMUN,
                    recipient=recipient,
                    subject="Beslut om bygglov",
                    body="Hej! Ditt bygglov är beviljat.",
                    protection_class=2,
                    policy=policy,
                    idempotency_key=str(uuid.uuid4()),
                ),
                actor="api:test",
            )
            return letter.id

    def worker(self, **ports):
        return Worker(self.settings, self.engine, clock=self.clock, worker_id="test", **ports)

    def run(self, worker, rounds, seconds=3):
        """Run every due job, `rounds` times, letting `seconds` pass after each round."""
        for _ in range(rounds):
            while worker.run_once():
                pass
            self.clock.advance(seconds)

    def job(self, letter_id, kind):
        with Session(self.engine) as session:
            return session.scalar(select(Job).where(Job.letter_id == letter_id, Job.kind == kind))

    def letter(self, letter_id):
        with Session(self.engine) as session:
            return session.get(Letter, letter_id)

    def events(self, letter_id, reason=None):
        with Session(self.engine) as session:
            query = select(LetterEvent).where(LetterEvent.letter_id == letter_id)
            if reason is not None:
                query = query.where(LetterEvent.reason == reason)
            return list(session.scalars(query.order_by(LetterEvent.id)))

    def retry(self, job_id):
        with Session(self.engine) as session, session.begin():
            job_failures.retry_job(session, job_id, now=self.clock(), actor="cli:anna")


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, tmp_path, authority):
    with _database(request.param, tmp_path) as url:
        world = World(url, tmp_path, authority)
        yield world
        world.engine.dispose()


class TestADeliveryThatKeepsFailing:
    def test_it_ends_failed_with_an_event_and_the_paper_deadline_stays(self, world):
        letter_id = world.accept(TOLVAN, vocabulary.DIGITAL_OR_PAPER)
        down = [TransientDeliveryError("Brevlåda Syd svarade HTTP 503")] * 10
        worker = world.worker(register=DigitalFar(), operator_client=FakeOperator(*down))
        try:
            world.run(worker, rounds=20)
        finally:
            worker.close()

        deliver = world.job(letter_id, DELIVER)
        assert deliver.failed_at is not None
        assert deliver.attempts == MAX_ATTEMPTS
        assert world.letter(letter_id).state == vocabulary.RETRYING  # no transition
        [event] = world.events(letter_id, job_failures.JOB_FAILED)
        assert event.state == vocabulary.RETRYING
        assert event.actor == "utskick"
        assert event.detail == (
            f"jobbet deliver gav upp efter {MAX_ATTEMPTS} försök: Brevlåda Syd svarade HTTP "
            f"503; kör utskick jobs retry {deliver.id}"
        )
        fallback = world.job(letter_id, FALLBACK)
        assert fallback.failed_at is None  # the deadline still holds

    def test_it_is_not_claimed_again_and_runs_after_a_retry(self, world):
        letter_id = world.accept(TOLVAN, vocabulary.DIGITAL_OR_PAPER)
        operator = FakeOperator(*[TransientDeliveryError("HTTP 503")] * MAX_ATTEMPTS)
        worker = world.worker(register=DigitalFar(), operator_client=operator)
        try:
            world.run(worker, rounds=20)
            assert len(operator.requests) == MAX_ATTEMPTS
            world.run(worker, rounds=20, seconds=60)
            assert len(operator.requests) == MAX_ATTEMPTS  # failed: never tried again alone

            world.retry(world.job(letter_id, DELIVER).id)
            world.run(worker, rounds=1)
        finally:
            worker.close()

        assert len(operator.requests) == MAX_ATTEMPTS + 1
        assert world.letter(letter_id).state == vocabulary.DELIVERED
        assert world.job(letter_id, DELIVER) is None
        [retried] = world.events(letter_id, job_failures.JOB_RETRIED)
        assert retried.detail == "jobbet deliver körs igen på begäran av cli:anna"


def test_a_print_job_fails_in_the_print_services_own_transaction(world):
    register = SwitchableRegister()
    letter_id = world.accept(DAVID, vocabulary.PAPER_ONLY)
    worker = world.worker(address_source=register)
    try:
        world.run(worker, rounds=10)
        job = world.job(letter_id, PRINT)
        assert job.failed_at is not None
        assert world.letter(letter_id).state == vocabulary.PAPER
        [event] = world.events(letter_id, job_failures.JOB_FAILED)
        assert "jobbet print gav upp efter 3 försök: folkbokföringen svarar inte" in event.detail

        register.up = True
        world.retry(job.id)
        world.run(worker, rounds=1)
    finally:
        worker.close()
    assert world.letter(letter_id).state == vocabulary.BATCHED


def test_a_letter_waiting_for_far_is_never_given_up_and_goes_on_paper_at_its_deadline(world):
    letter_id = world.accept(TOLVAN, vocabulary.DIGITAL_OR_PAPER)
    worker = world.worker(register=FakeFar(down=True))
    try:
        world.run(worker, rounds=40)  # two minutes of outage: far more than 3 attempts
        classify = world.job(letter_id, CLASSIFY)
        assert classify.failed_at is None
        assert classify.attempts < MAX_ATTEMPTS
        assert world.letter(letter_id).state == vocabulary.RECEIVED
        assert world.events(letter_id, job_failures.JOB_FAILED) == []

        world.clock.advance(3600)  # the paper deadline passes while FaR is still down
        world.run(worker, rounds=3)
    finally:
        worker.close()
    letter = world.letter(letter_id)
    assert (letter.state, letter.reason) == (vocabulary.PAPER, vocabulary.DEADLINE_PASSED)


def test_a_job_that_kills_its_worker_each_time_ends_failed_with_an_event(world):
    letter_id = world.accept(TOLVAN, vocabulary.DIGITAL_OR_PAPER)
    worker = world.worker(register=DigitalFar())
    try:
        for attempt in range(MAX_ATTEMPTS):
            # A worker takes the job and dies with it: claimed, never settled.
            [job] = worker.queue.claim(f"dies-{attempt}", now=world.clock(), kinds=[CLASSIFY])
            world.clock.advance(world.settings.lease_seconds + 1)
        assert worker.run_once() is False  # the next claim gives it up instead of running it
    finally:
        worker.close()

    assert world.job(letter_id, CLASSIFY).failed_at is not None
    [event] = world.events(letter_id, job_failures.JOB_FAILED)
    assert event.detail.startswith(
        f"jobbet classify gav upp efter {MAX_ATTEMPTS + 1} försök: {LEASE_RAN_OUT}"
    )
    assert world.letter(letter_id).state == vocabulary.RECEIVED
    assert job.id == world.job(letter_id, CLASSIFY).id
