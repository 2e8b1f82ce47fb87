"""A letter's failed, retried and cancelled jobs in its history (SQLite and PostgreSQL)."""

import datetime as dt

import pytest
from sqlalchemy import select

from support.world import NOW
from utskick.jobs.admin import JobAdminError
from utskick.jobs.limits import FailedJob
from utskick.jobs.models import Job
from utskick.jobs.queue import CLASSIFY, WEBHOOK
from utskick.letters import job_failures, vocabulary
from utskick.letters.models import Letter, LetterEvent

pytestmark = pytest.mark.storage

LATER = NOW + dt.timedelta(hours=2)


@pytest.fixture
def letter(intake, a_letter):
    service, system = intake
    accepted, _ = service.accept(system, a_letter(), actor="api:test")
    service.session.flush()
    return accepted


def events(session, letter_id, reason):
    return list(
        session.scalars(
            select(LetterEvent).where(
                LetterEvent.letter_id == letter_id, LetterEvent.reason == reason
            )
        )
    )


def classify_job(session, letter_id):
    return session.scalar(select(Job).where(Job.letter_id == letter_id, Job.kind == CLASSIFY))


class TestFailures:
    def test_the_letter_is_told_without_a_change_of_state(self, db_session, letter):
        failed = FailedJob(41, CLASSIFY, letter.id, 25, "FaR svarade HTTP 500")

        job_failures.record_failed_jobs(db_session, [failed], LATER)

        [event] = events(db_session, letter.id, job_failures.JOB_FAILED)
        assert event.detail == (
            "jobbet classify gav upp efter 25 försök: FaR svarade HTTP 500; "
            "kör utskick jobs retry 41"
        )
        assert (event.state, event.actor) == (vocabulary.RECEIVED, "utskick")
        assert event.data == {
            "job_id": 41,
            "kind": CLASSIFY,
            "attempts": 25,
            "error": "FaR svarade HTTP 500",
        }
        db_session.expire_all()
        stored = db_session.get(Letter, letter.id)
        assert (stored.state, stored.reason) == (vocabulary.RECEIVED, None)

    def test_a_system_with_a_webhook_hears_of_it(self, db_session, letter, intake):
        _, system = intake
        system.webhook_url = "https://system.test/handelser"
        db_session.flush()

        job_failures.record_failed_jobs(
            db_session, [FailedJob(41, CLASSIFY, letter.id, 25, "fel")], LATER
        )

        [event] = events(db_session, letter.id, job_failures.JOB_FAILED)
        webhooks = db_session.scalars(
            select(Job).where(Job.letter_id == letter.id, Job.kind == WEBHOOK)
        ).all()
        assert [job.payload for job in webhooks] == [{"event_id": event.event_id}]

    def test_a_failed_webhook_or_a_job_without_a_letter_is_not_told(self, db_session, letter):
        job_failures.record_failed_jobs(
            db_session,
            [
                FailedJob(41, WEBHOOK, letter.id, 25, "HTTP 500"),
                FailedJob(42, "pickup", None, 25, "SFTP svarar inte"),
            ],
            LATER,
        )

        assert events(db_session, letter.id, job_failures.JOB_FAILED) == []


class TestOperators:
    def test_a_retry_is_told_with_who_asked(self, db_session, letter):
        job = classify_job(db_session, letter.id)
        job.failed_at, job.attempts = NOW, 25
        db_session.flush()

        job_failures.retry_job(db_session, job.id, now=LATER, actor="cli:anna")

        [event] = events(db_session, letter.id, job_failures.JOB_RETRIED)
        assert event.detail == "jobbet classify körs igen på begäran av cli:anna"
        assert classify_job(db_session, letter.id).failed_at is None

    def test_a_cancel_is_told_with_who_did_it(self, db_session, letter):
        job = classify_job(db_session, letter.id)

        job_failures.cancel_job(db_session, job.id, now=LATER, actor="cli:anna")

        [event] = events(db_session, letter.id, job_failures.JOB_CANCELLED)
        assert event.detail == f"jobbet classify ({job.id}) avbröts av cli:anna"
        assert event.actor == "cli:anna"
        assert classify_job(db_session, letter.id) is None

    def test_a_refused_cancel_tells_nothing(self, db_session, letter):
        job = classify_job(db_session, letter.id)
        job.lease_owner, job.lease_expires = "host:1:0", LATER + dt.timedelta(minutes=1)
        db_session.flush()

        with pytest.raises(JobAdminError):
            job_failures.cancel_job(db_session, job.id, now=LATER, actor="cli:anna")

        assert events(db_session, letter.id, job_failures.JOB_CANCELLED) == []
