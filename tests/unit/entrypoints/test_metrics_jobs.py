"""How the worker's job runs are counted: each job of a set with the set's time, and its
outcome told apart: done, a retry, a failure at the attempt limit, or an error."""

import datetime as dt

import pytest

from utskick.entrypoints.metrics import job_outcome, observe_jobs
from utskick.jobs.queue import ClaimedJob, Retry
from utskick.observability.metrics import REGISTRY

NOW = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
LATER = Retry(NOW + dt.timedelta(minutes=1), "operatören svarar inte")
WAIT = Retry(NOW + dt.timedelta(minutes=1), "FaR svarar inte", waiting=True)


def claimed(job_id, kind="record", attempts=1):
    return ClaimedJob(job_id, kind, None, None, attempts, NOW)


def count(kind, outcome):
    labels = {"kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("utskick_job_duration_seconds_count", labels) or 0.0


def total(kind, outcome):
    labels = {"kind": kind, "outcome": outcome}
    return REGISTRY.get_sample_value("utskick_job_duration_seconds_sum", labels) or 0.0


class TestOutcome:
    def test_no_retry_is_done(self):
        assert job_outcome(claimed(1), None, 25) == "done"

    def test_a_retry_before_the_limit_is_a_retry(self):
        assert job_outcome(claimed(1, attempts=24), LATER, 25) == "retry"

    def test_a_retry_at_the_limit_is_a_failure(self):
        assert job_outcome(claimed(1, attempts=25), LATER, 25) == "failed"

    def test_a_wait_is_never_a_failure(self):
        assert job_outcome(claimed(1, attempts=300), WAIT, 25) == "retry"


class TestObserve:
    def test_each_job_of_a_set_counts_with_the_sets_time(self):
        before_done, before_retry = count("record", "done"), count("record", "retry")
        before_seconds = total("record", "done")
        jobs = [claimed(1), claimed(2), claimed(3)]

        # Job 3 was settled by the handler itself: left out of the outcomes, it is done.
        observe_jobs(jobs, 2.0, {1: None, 2: LATER}, max_attempts=25)

        assert count("record", "done") == before_done + 2
        assert count("record", "retry") == before_retry + 1
        assert total("record", "done") == pytest.approx(before_seconds + 4.0)

    def test_when_the_handler_raised_every_job_is_an_error(self):
        before = count("print", "error")
        jobs = [claimed(1, "print"), claimed(2, "print")]

        observe_jobs(jobs, 0.5, {1: LATER, 2: LATER}, max_attempts=25, raised=True)

        assert count("print", "error") == before + 2
