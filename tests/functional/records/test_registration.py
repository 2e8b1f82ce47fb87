"""Registering sent letters in the case system: the signed JSON call against the real stand-in.

The diarium stand-in (`utskick.reference.diarium`) runs on a loopback port over real HTTP;
the connector's `register` job calls it with its own code. Letters end and become records as
the `record` job makes them (`ended_letters`), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re
import threading

import httpx2
import pytest
from fastapi import FastAPI, Response
from pydantic import SecretStr
from sqlalchemy import select

from functional.records.ended_letters import (
    ended_letter,
    make_records,
    prepare_world,
    savepoint_sessions,
)
from utskick.jobs.models import Job
from utskick.jobs.queue import REGISTER, ClaimedJob, Retry
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent
from utskick.records.models import (
    REGISTRATION_DONE,
    REGISTRATION_NONE,
    REGISTRATION_PENDING,
    LetterRecord,
)
from utskick.records.registration import (
    HttpRegistrationService,
    RegistrationRefusedError,
    pending_request,
    register_job,
    registration_client,
    request_body,
)
from utskick.reference.diarium.series import DEMO_SERIES
from utskick.reference.diarium.service import create_diarium_app
from utskick.reference.runner import free_loopback_ports
from utskick.reference.tls import ServerGroup, server_config
from utskick.settings import Settings

pytestmark = pytest.mark.storage

SECRET = "delad-nyckel-för-testet-med-diariet"
WORKER = "worker:test"
YEAR = dt.datetime.now(dt.UTC).year


def now():
    return dt.datetime.now(dt.UTC)


class LoopbackDiarium:
    """The diarium stand-in on a loopback port of its own, started and stopped by the test."""

    def __init__(self, folder, secret=SECRET, port=None):
        self.folder = folder
        self.secret = secret
        self.port = port or free_loopback_ports(1)[0]
        self._group = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/v1/registrations"

    def start(self):
        app = create_diarium_app(self.secret.encode(), DEMO_SERIES, self.folder)
        self._group = ServerGroup([server_config(app, "127.0.0.1", self.port, None)])
        self._group.start_in_thread()

    def stop(self):
        if self._group is not None:
            self._group.stop()
            self._group = None

    def registrations(self, letter_id):
        listing = httpx2.get(f"http://127.0.0.1:{self.port}/api/registreringar").json()
        return [row for row in listing if row["letter_id"] == letter_id]


@pytest.fixture(scope="module")
def diarium(tmp_path_factory):
    stand_in = LoopbackDiarium(tmp_path_factory.mktemp("diarium"))
    stand_in.start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def client():
    http = registration_client(Settings())
    yield http
    http.close()


@pytest.fixture
def world(migrated_engine):
    with savepoint_sessions(migrated_engine) as (sessions, _connection):
        with sessions() as session, session.begin():
            systems = prepare_world(session)
        yield sessions, systems


def settings_for(url, *, secret=SECRET, **overrides):
    values = {
        "embedded_reference": False,
        "records_registration_url": url,
        "records_registration_secret": SecretStr(secret) if secret else None,
        "retry_base_seconds": 2.0,
        "retry_max_seconds": 60.0,
    }
    return Settings(**(values | overrides))


def sent_letters(world, settings, count=1, **options):
    """Letters that ended and got their records (with `register` jobs, as the worker makes)."""
    sessions, systems = world
    department = options.pop("department", "Byggnadsnämnden")
    with sessions() as session, session.begin():
        letters = []
        for _ in range(count):
            letter = ended_letter(session, systems.archiving, **options)
            letter.department = department
            letter.delivered_digest = "ab" * 32
            letters.append(letter)
        make_records(session, letters, settings=settings, now=now())
        return [letter.id for letter in letters]


def register_job_for(sessions, letter_id, attempts=1):
    with sessions() as session:
        job = session.scalar(select(Job).where(Job.letter_id == letter_id, Job.kind == REGISTER))
        assert job is not None, "the record job queues a register job when a URL is set"
        return ClaimedJob(job.id, job.kind, job.letter_id, job.payload, attempts, now())


def run(world, letter_id, settings, client, *, attempts=1, clock=now):
    sessions, _ = world
    return register_job(
        register_job_for(sessions, letter_id, attempts),
        sessions=sessions,
        settings=settings,
        clock=clock,
        actor=WORKER,
        client=client,
    )


def state_of(world, letter_id):
    sessions, _ = world
    with sessions() as session:
        letter = session.get(Letter, letter_id)
        record = session.get(LetterRecord, letter_id)
        registered = session.scalars(
            select(LetterEvent).where(
                LetterEvent.letter_id == letter_id,
                LetterEvent.reason == vocabulary.REGISTERED,
            )
        ).all()
        session.expunge_all()
        return letter, record, registered


class TestRegistered:
    def test_a_delivered_beslut_gets_its_diarium_number_and_an_event(self, world, diarium, client):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(world, settings, message_type="beslut")

        assert run(world, letter_id, settings, client) is None

        letter, record, [event] = state_of(world, letter_id)
        [registration] = diarium.registrations(letter_id)
        number = registration["registration_number"]
        assert re.fullmatch(rf"KS {YEAR}/\d+", number)
        assert letter.registration_number == number
        assert (record.registration, record.registration_attempts) == (REGISTRATION_DONE, 0)
        assert record.registered_at is not None
        assert event.detail == f"Registrerat i diariet som {number}."
        assert event.data == {"registration_number": number}
        assert event.actor == WORKER
        # The event records what happened to the letter; its state stays delivered.
        assert event.state == letter.state == vocabulary.DELIVERED

    def test_the_stand_in_was_told_the_letter_as_the_contract_says(self, world, diarium, client):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(world, settings, message_type="beslut", attachments=2)
        sessions, _ = world
        request = pending_request(sessions, letter_id)

        run(world, letter_id, settings, client)

        [registration] = diarium.registrations(letter_id)
        assert registration["subject"] == request.subject
        assert registration["rule"] == "register"
        assert registration["message_type"] == "beslut"
        assert registration["channel"] == "digital"
        assert [a.name for a in request.attachments] == ["bilaga-1.pdf", "bilaga-2.pdf"]
        assert b'"sent_at":"' in request_body(request)
        assert request.recipient_id == "191212121212"

    def test_a_kallelse_is_journalled_in_its_departments_series(self, world, diarium, client):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(
            world, settings, message_type="kallelse", department="Socialtjänsten"
        )

        run(world, letter_id, settings, client)

        letter, _, [event] = state_of(world, letter_id)
        assert re.fullmatch(rf"SOC {YEAR}/\d+", letter.registration_number)
        assert event.detail == (
            f"Journalfört i verksamhetens ärendesystem som {letter.registration_number}."
        )

    def test_a_paper_letter_handed_to_print_is_registered_too(self, world, diarium, client):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(world, settings, message_type="beslut", paper=True)

        run(world, letter_id, settings, client)

        letter, record, _ = state_of(world, letter_id)
        assert record.registration == REGISTRATION_DONE
        assert letter.state == vocabulary.HANDED_TO_PRINT
        assert diarium.registrations(letter_id)[0]["channel"] == "paper"

    def test_a_letter_whose_rule_registers_nothing_gets_no_job_and_no_number(self, world, diarium):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(world, settings, message_type="faktura")
        sessions, _ = world
        with sessions() as session:
            assert session.get(LetterRecord, letter_id).registration == REGISTRATION_NONE
            assert session.scalar(select(Job).where(Job.letter_id == letter_id, Job.kind == REGISTER)) is None  # fmt: skip


class TestNeverTwice:
    def test_running_the_job_again_changes_nothing_and_calls_nobody(self, world, diarium, client):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(world, settings, message_type="beslut")
        run(world, letter_id, settings, client)
        first, _, _ = state_of(world, letter_id)

        # Pointed at a port where nothing listens: a call would fail, so none is made.
        elsewhere = settings_for(f"http://127.0.0.1:{free_loopback_ports(1)[0]}/v1/registrations")
        assert run(world, letter_id, elsewhere, client, attempts=2) is None

        again, record, events = state_of(world, letter_id)
        assert again.registration_number == first.registration_number
        assert len(events) == 1
        assert record.registration_attempts == 0
        assert len(diarium.registrations(letter_id)) == 1

    def test_an_answer_lost_on_the_way_is_answered_again_with_the_same_number(
        self, world, diarium, client
    ):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(world, settings, message_type="beslut")
        sessions, _ = world
        service = HttpRegistrationService.from_settings(settings, client, now)
        lost = service.register(pending_request(sessions, letter_id))  # answer never stored

        assert run(world, letter_id, settings, client, attempts=2) is None

        letter, _, _ = state_of(world, letter_id)
        assert letter.registration_number == lost.number
        assert len(diarium.registrations(letter_id)) == 1


class TestRefused:
    def test_a_call_signed_with_another_key_is_refused_and_retried(self, world, diarium, client):
        wrong = settings_for(diarium.url, secret="en-annan-nyckel")
        [letter_id] = sent_letters(world, wrong, message_type="beslut")

        outcome = run(world, letter_id, wrong, client)

        assert isinstance(outcome, Retry)
        assert "HTTP 401" in outcome.error
        assert "signaturen stämmer inte" in outcome.error
        letter, record, events = state_of(world, letter_id)
        assert letter.registration_number is None
        assert (record.registration, record.registration_attempts) == (REGISTRATION_PENDING, 1)
        assert events == []
        assert diarium.registrations(letter_id) == []

        # Once the key is right, the same job registers the letter.
        assert run(world, letter_id, settings_for(diarium.url), client, attempts=2) is None
        assert state_of(world, letter_id)[1].registration == REGISTRATION_DONE

    def test_a_call_with_a_timestamp_older_than_five_minutes_is_refused(
        self, world, diarium, client
    ):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(world, settings, message_type="beslut")

        def slow_clock():
            return now() - dt.timedelta(minutes=6)

        outcome = run(world, letter_id, settings, client, clock=slow_clock)

        assert isinstance(outcome, Retry)
        assert "HTTP 401" in outcome.error
        assert "sekunder gammal" in outcome.error
        assert state_of(world, letter_id)[1].registration == REGISTRATION_PENDING
        assert diarium.registrations(letter_id) == []

    def test_without_a_shared_key_no_call_is_made_and_the_letter_waits(
        self, world, diarium, client
    ):
        settings = settings_for(diarium.url, secret=None)
        [letter_id] = sent_letters(world, settings, message_type="beslut")

        outcome = run(world, letter_id, settings, client)

        assert isinstance(outcome, Retry)
        assert "UTSKICK_RECORDS_REGISTRATION_SECRET" in outcome.error
        assert state_of(world, letter_id)[1].registration_attempts == 1
        assert diarium.registrations(letter_id) == []


class TestCaseSystemDown:
    def test_letters_wait_while_the_stand_in_is_down_and_are_registered_once_it_is_up(
        self, world, client, tmp_path
    ):
        stand_in = LoopbackDiarium(tmp_path / "diarium")
        settings = settings_for(stand_in.url)
        letter_ids = sent_letters(world, settings, count=4, message_type="beslut")
        before = now()

        for attempt in (1, 2):
            for letter_id in letter_ids:
                outcome = run(world, letter_id, settings, client, attempts=attempt)
                assert isinstance(outcome, Retry)
                assert "svarar inte" in outcome.error
                # Backoff: never at once, never later than the longest delay.
                assert before < outcome.at <= now() + dt.timedelta(seconds=60)
        assert {state_of(world, i)[1].registration_attempts for i in letter_ids} == {2}

        stand_in.start()
        try:
            for letter_id in letter_ids:
                assert run(world, letter_id, settings, client, attempts=3) is None
            numbers = [state_of(world, i)[0].registration_number for i in letter_ids]
            assert numbers == [f"KS {YEAR}/{n}" for n in (1, 2, 3, 4)]
            for letter_id in letter_ids:
                assert len(stand_in.registrations(letter_id)) == 1
        finally:
            stand_in.stop()

    @pytest.mark.parametrize("failure", ["server_error", "timeout", "no_number"])
    def test_a_failing_answer_leaves_the_letter_waiting(self, world, failure):
        with BrokenCaseSystem(failure) as broken:
            settings = settings_for(broken.url)
            [letter_id] = sent_letters(world, settings, message_type="beslut")
            quick = httpx2.Client(timeout=0.5)
            try:
                outcome = run(world, letter_id, settings, quick)
            finally:
                quick.close()
        assert isinstance(outcome, Retry)
        assert {
            "server_error": "HTTP 503",
            "timeout": "svarar inte",
            "no_number": "utan diarienummer",
        }[failure] in outcome.error
        letter, record, events = state_of(world, letter_id)
        assert letter.registration_number is None
        assert (record.registration, record.registration_attempts) == (REGISTRATION_PENDING, 1)
        assert events == []


class BrokenCaseSystem:
    """A case system on loopback that fails in one way: 503, too slow, or no number."""

    def __init__(self, failure):
        self.port = free_loopback_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}/v1/registrations"
        self.release = threading.Event()
        app = FastAPI()

        @app.post("/v1/registrations")
        def answer():
            if failure == "server_error":
                return Response('{"error": "underhåll"}', status_code=503)
            if failure == "timeout":
                self.release.wait(5)
            return {"registered_at": "2026-12-07T10:00:00Z"}

        self.servers = ServerGroup([server_config(app, "127.0.0.1", self.port, None)])

    def __enter__(self):
        self.servers.start_in_thread()
        return self

    def __exit__(self, *_):
        self.release.set()
        self.servers.stop()


class TestAnswerChecks:
    def test_an_answer_with_a_number_too_long_to_keep_is_a_refusal(self, world, diarium):
        settings = settings_for(diarium.url)
        [letter_id] = sent_letters(world, settings, message_type="beslut")
        sessions, _ = world

        def answer(_request):
            return httpx2.Response(
                200, json={"registration_number": "KS " + "9" * 200, "registered_at": "x"}
            )

        fake = httpx2.Client(transport=httpx2.MockTransport(answer))
        service = HttpRegistrationService.from_settings(settings, fake, now)
        with pytest.raises(RegistrationRefusedError, match="inte kan sparas"):
            service.register(pending_request(sessions, letter_id))
