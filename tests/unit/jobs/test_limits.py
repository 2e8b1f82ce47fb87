"""The attempt limit on SQLite and PostgreSQL: failing jobs end failed, waiting ones go on."""

import datetime as dt

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.limits import attempt_limit, attempts_to_longest_backoff, carry_limit
from utskick.jobs.models import Job
from utskick.jobs.queue import LEASE_RAN_OUT, JobQueue, Retry, enqueue, reschedule_in

pytestmark = pytest.mark.storage

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
LEASE = 30


class Clock:
    def __init__(self):
        self.now = NOW

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += dt.timedelta(seconds=seconds)


@pytest.fixture
def engine(migrated_engine):
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))
    yield migrated_engine
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def told():
    """What the limit told `on_failed`: (job, time) for each job marked failed."""
    return []


def limited_queue(engine, clock, told, max_attempts=3):
    limit = attempt_limit(
        max_attempts,
        retry_base_seconds=2.0,
        retry_max_seconds=600.0,
        clock=clock,
        on_failed=lambda _session, jobs, now: told.extend((job, now) for job in jobs),
    )
    return JobQueue(engine, lease_seconds=LEASE, limit=limit)


def add_job(engine, kind="deliver", letter_id="letter-1"):
    with Session(engine) as session, session.begin():
        job = enqueue(session, kind, now=NOW, letter_id=letter_id)
        session.flush()
        return job.id


def stored(engine, job_id):
    with Session(engine) as session:
        return session.get(Job, job_id)


def fail_once(queue, clock, owner="w", *, waiting=False):
    """Claim the due job and ask for a retry one second later; the claimed job."""
    [job] = queue.claim(owner, now=clock())
    queue.reschedule(owner, job.id, Retry(clock() + dt.timedelta(seconds=1), "HTTP 503", waiting))
    clock.advance(1)
    return job


class TestFailingJobs:
    def test_a_job_that_keeps_failing_ends_failed_at_the_limit_and_is_not_claimed_again(
        self, engine, clock, told
    ):
        job_id = add_job(engine)
        queue = limited_queue(engine, clock, told, max_attempts=3)

        attempts = [fail_once(queue, clock).attempts for _ in range(3)]

        assert attempts == [1, 2, 3]
        failed = stored(engine, job_id)
        assert failed.failed_at is not None
        assert (failed.lease_owner, failed.lease_expires) == (None, None)
        assert failed.last_error == "HTTP 503"
        assert [(job.id, job.attempts, job.error) for job, _ in told] == [(job_id, 3, "HTTP 503")]
        clock.advance(3600)
        assert queue.claim("w", now=clock()) == []
        assert queue.next_due(now=clock()) is None

    def test_before_the_limit_a_failing_job_is_only_rescheduled(self, engine, clock, told):
        job_id = add_job(engine)
        queue = limited_queue(engine, clock, told, max_attempts=3)

        fail_once(queue, clock)
        fail_once(queue, clock)

        assert stored(engine, job_id).failed_at is None
        assert told == []
        assert [job.id for job in queue.claim("w", now=clock())] == [job_id]

    def test_without_a_limit_a_job_is_retried_as_before(self, engine, clock):
        job_id = add_job(engine)
        queue = JobQueue(engine, lease_seconds=LEASE)

        for _ in range(30):
            fail_once(queue, clock)

        assert stored(engine, job_id).failed_at is None
        assert stored(engine, job_id).attempts == 30

    def test_the_failure_is_part_of_the_transaction_that_would_have_rescheduled(
        self, engine, clock, told
    ):
        job_id = add_job(engine)
        queue = limited_queue(engine, clock, told, max_attempts=1)
        [job] = queue.claim("w", now=clock())
        sessions = sessionmaker(engine)
        carry_limit(sessions, queue.limit)

        with sessions() as session:
            reschedule_in(session, "w", {job.id: Retry(clock(), "refused")})
            assert session.get(Job, job_id).failed_at is not None
            session.rollback()  # the outcome this belonged to was not written: neither is this

        assert stored(engine, job_id).failed_at is None
        assert stored(engine, job_id).lease_owner == "w"


class TestWaitingJobs:
    def test_a_waiting_job_is_never_given_up_and_its_attempts_are_held(self, engine, clock, told):
        job_id = add_job(engine, kind="classify")
        queue = limited_queue(engine, clock, told, max_attempts=3)

        attempts = [fail_once(queue, clock, waiting=True).attempts for _ in range(10)]

        assert told == []
        assert stored(engine, job_id).failed_at is None
        # Held at the limit less one (the longest backoff is further away): still runnable.
        assert attempts == [1, 2, 3, 3, 3, 3, 3, 3, 3, 3]
        assert stored(engine, job_id).attempts == 2

    def test_with_the_default_limit_waiting_jobs_are_held_at_half_of_it(self, engine, clock, told):
        job_id = add_job(engine, kind="classify")
        queue = limited_queue(engine, clock, told, max_attempts=25)

        attempts = [fail_once(queue, clock, waiting=True).attempts for _ in range(20)]

        assert attempts[:13] == list(range(1, 14))  # counted as tries up to there
        assert max(attempts) == 13
        assert stored(engine, job_id).attempts == 12  # past the 10th: the longest backoff

    def test_waiting_jobs_are_held_no_lower_than_the_longest_backoff(self, engine, clock, told):
        job_id = add_job(engine, kind="classify")
        queue = limited_queue(engine, clock, told, max_attempts=12)

        for _ in range(20):
            fail_once(queue, clock, waiting=True)

        assert stored(engine, job_id).attempts == 10

    def test_a_waiting_job_that_then_fails_for_real_still_has_attempts_left(
        self, engine, clock, told
    ):
        job_id = add_job(engine, kind="classify")
        queue = limited_queue(engine, clock, told, max_attempts=25)
        for _ in range(40):
            fail_once(queue, clock, waiting=True)

        for _ in range(12):
            fail_once(queue, clock)
        assert told == []
        fail_once(queue, clock)

        assert [job.attempts for job, _ in told] == [25]
        assert stored(engine, job_id).failed_at is not None


class TestDeadWorkers:
    def test_a_job_whose_worker_dies_on_every_attempt_ends_failed(self, engine, clock, told):
        job_id = add_job(engine)
        queue = limited_queue(engine, clock, told, max_attempts=3)

        for attempt in range(1, 4):
            [job] = queue.claim(f"dies-{attempt}", now=clock())  # and never settles it
            assert job.attempts == attempt
            clock.advance(LEASE + 1)

        assert queue.claim("survivor", now=clock()) == []
        failed = stored(engine, job_id)
        assert failed.failed_at is not None
        assert (failed.lease_owner, failed.lease_expires) == (None, None)
        assert failed.last_error == LEASE_RAN_OUT
        [(job, at)] = told
        assert (job.id, job.attempts, at) == (job_id, 4, clock())

    def test_the_last_error_before_the_deaths_is_kept(self, engine, clock, told):
        job_id = add_job(engine)
        queue = limited_queue(engine, clock, told, max_attempts=2)
        fail_once(queue, clock)
        queue.claim("dies", now=clock())
        clock.advance(LEASE + 1)

        assert queue.claim("survivor", now=clock()) == []
        assert stored(engine, job_id).last_error == f"{LEASE_RAN_OUT}; senaste fel: HTTP 503"

    def test_a_job_rescheduled_past_the_limit_before_there_was_one_is_still_run(
        self, engine, clock, told
    ):
        """An installation upgraded with jobs that retried for ever: they run once more."""
        job_id = add_job(engine, kind="mail_reply")
        with Session(engine) as session, session.begin():
            session.get(Job, job_id).attempts = 300
        queue = limited_queue(engine, clock, told, max_attempts=25)

        [job] = queue.claim("w", now=clock())

        assert (job.id, job.attempts) == (job_id, 301)
        assert told == []


def test_the_backoff_is_longest_from_the_tenth_attempt_with_the_default_settings():
    assert attempts_to_longest_backoff(2.0, 600.0) == 10
    assert attempts_to_longest_backoff(5.0, 10.0) == 2
    assert attempts_to_longest_backoff(2.0, 2.0) == 1
