"""What an operator does with jobs, on SQLite and PostgreSQL: list, retry a failed one, cancel."""

import datetime as dt

import pytest

from utskick.jobs.admin import (
    FAILED,
    RUNNING,
    WAITING,
    JobAdminError,
    cancel_job,
    count_jobs,
    failed_jobs,
    list_jobs,
    retry_job,
)
from utskick.jobs.models import Job

pytestmark = pytest.mark.storage

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)


def add(session, kind="deliver", **fields):
    job = Job(**{"kind": kind, "run_at": NOW, "attempts": 0, "created_at": NOW, **fields})
    session.add(job)
    session.flush()
    return job


def failed(session, kind="deliver", at=NOW):
    return add(
        session, kind, attempts=25, failed_at=at, last_error="HTTP 503", letter_id="letter-1"
    )


def running(session):
    return add(
        session, attempts=1, lease_owner="host:1:0", lease_expires=NOW + dt.timedelta(seconds=60)
    )


class TestLists:
    def test_failed_jobs_come_first_latest_failure_first_then_by_when_they_are_due(
        self, db_session
    ):
        later = add(db_session, run_at=NOW + dt.timedelta(hours=1))
        sooner = add(db_session)
        old = failed(db_session, at=NOW - dt.timedelta(hours=2))
        new = failed(db_session, "print")
        busy = running(db_session)

        listed = list_jobs(db_session, now=NOW)

        assert [job.id for job in listed] == [new.id, old.id, sooner.id, busy.id, later.id]
        assert [job.state for job in listed] == [FAILED, FAILED, WAITING, RUNNING, WAITING]

    def test_lists_can_be_limited_to_failed_jobs_of_one_kind(self, db_session):
        add(db_session)
        failed(db_session)
        only = failed(db_session, "print")

        assert [job.id for job in failed_jobs(db_session, "print")] == [only.id]
        assert count_jobs(db_session, failed_only=True) == 2
        assert count_jobs(db_session) == 3
        assert len(list_jobs(db_session, now=NOW, limit=1)) == 1


class TestRetry:
    def test_a_failed_job_runs_again_now_with_every_attempt(self, db_session):
        job = failed(db_session)
        later = NOW + dt.timedelta(hours=3)

        view = retry_job(db_session, job.id, later)

        assert (view.state, view.attempts, view.run_at, view.failed_at) == (WAITING, 0, later, None)
        stored = db_session.get(Job, job.id)
        assert (stored.failed_at, stored.attempts, stored.lease_owner) == (None, 0, None)
        assert stored.last_error == "HTTP 503"  # what went wrong last time stays readable

    def test_a_job_that_has_not_failed_is_refused_and_left_as_it_is(self, db_session):
        job = add(db_session, attempts=2)

        with pytest.raises(JobAdminError, match=r"har inte misslyckats .* jobs list --failed"):
            retry_job(db_session, job.id, NOW)

        assert db_session.get(Job, job.id).attempts == 2

    def test_an_unknown_job_is_refused(self, db_session):
        with pytest.raises(JobAdminError, match="det finns inget jobb 999999; se utskick jobs"):
            retry_job(db_session, 999999, NOW)


class TestCancel:
    def test_a_job_no_worker_runs_is_removed(self, db_session):
        job = failed(db_session)

        view = cancel_job(db_session, job.id, NOW)

        assert (view.id, view.kind, view.letter_id) == (job.id, "deliver", "letter-1")
        assert db_session.get(Job, job.id) is None

    def test_a_job_whose_lease_ran_out_may_be_cancelled(self, db_session):
        job = running(db_session)

        cancel_job(db_session, job.id, NOW + dt.timedelta(minutes=5))

        assert db_session.get(Job, job.id) is None

    def test_a_running_job_is_refused_and_kept(self, db_session):
        job = running(db_session)

        with pytest.raises(JobAdminError, match="körs just nu av host:1:0; vänta"):
            cancel_job(db_session, job.id, NOW)

        assert db_session.get(Job, job.id) is not None

    def test_an_unknown_job_is_refused(self, db_session):
        with pytest.raises(JobAdminError, match="det finns inget jobb 999999"):
            cancel_job(db_session, 999999, NOW)
