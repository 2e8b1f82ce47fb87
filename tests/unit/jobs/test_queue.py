"""The job queue on SQLite and PostgreSQL: leases, concurrency, expiry, settling."""

import datetime as dt
import random
import threading

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from utskick.jobs.models import Job
from utskick.jobs.queue import JobQueue, Retry, backoff_seconds, enqueue

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def engine(migrated_engine):
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))
    yield migrated_engine
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))


def add_jobs(engine, count, kind="deliver", run_at=NOW):
    with Session(engine) as session, session.begin():
        for index in range(count):
            enqueue(session, kind, now=NOW, letter_id=f"letter-{index}", run_at=run_at)


def test_a_claimed_job_is_nobody_elses_until_its_lease_runs_out(engine):
    add_jobs(engine, 1)
    queue = JobQueue(engine, lease_seconds=30)

    [job] = queue.claim("a", now=NOW)
    assert job.attempts == 1
    assert queue.claim("b", now=NOW + dt.timedelta(seconds=29)) == []

    [again] = queue.claim("b", now=NOW + dt.timedelta(seconds=31))
    assert again.id == job.id
    assert again.attempts == 2


def test_a_job_is_not_claimed_before_it_is_due(engine):
    add_jobs(engine, 1, run_at=NOW + dt.timedelta(minutes=5))
    queue = JobQueue(engine, lease_seconds=30)

    assert queue.claim("a", now=NOW) == []
    assert len(queue.claim("a", now=NOW + dt.timedelta(minutes=5))) == 1


def test_claims_can_be_limited_to_kinds(engine):
    add_jobs(engine, 2, kind="classify")
    add_jobs(engine, 1, kind="deliver")
    queue = JobQueue(engine, lease_seconds=30)

    assert [j.kind for j in queue.claim("a", now=NOW, limit=10, kinds=["classify"])] == [
        "classify",
        "classify",
    ]
    assert [j.kind for j in queue.claim("a", now=NOW, limit=10, exclude_kinds=["classify"])] == [
        "deliver"
    ]


def test_completing_removes_only_the_owners_job(engine):
    add_jobs(engine, 1)
    queue = JobQueue(engine, lease_seconds=1)
    [job] = queue.claim("a", now=NOW)
    later = NOW + dt.timedelta(seconds=2)
    queue.claim("b", now=later)  # a's lease ran out: b has it now

    queue.complete("a", [job.id])  # a finishes late: must not remove b's claim
    with Session(engine) as session:
        assert session.get(Job, job.id).lease_owner == "b"
    queue.complete("b", [job.id])
    with Session(engine) as session:
        assert session.get(Job, job.id) is None


def test_a_rescheduled_job_waits_and_keeps_its_error(engine):
    add_jobs(engine, 1)
    queue = JobQueue(engine, lease_seconds=30)
    [job] = queue.claim("a", now=NOW)

    queue.reschedule("a", job.id, Retry(NOW + dt.timedelta(seconds=10), "HTTP 503"))

    assert queue.claim("b", now=NOW + dt.timedelta(seconds=9)) == []
    [again] = queue.claim("b", now=NOW + dt.timedelta(seconds=10))
    assert again.id == job.id
    with Session(engine) as session:
        assert session.get(Job, job.id).last_error == "HTTP 503"


def test_concurrent_workers_never_claim_the_same_job(engine):
    add_jobs(engine, 120)
    queue = JobQueue(engine, lease_seconds=300)
    claimed = {}
    lock = threading.Lock()
    errors = []

    def work(owner):
        try:
            while True:
                jobs = queue.claim(owner, now=NOW, limit=3)
                if not jobs:
                    return
                with lock:
                    for job in jobs:
                        claimed.setdefault(job.id, []).append(owner)
        except Exception as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(claimed) == 120
    assert all(len(owners) == 1 for owners in claimed.values())


def test_backoff_grows_and_stays_between_base_and_maximum():
    rng = random.Random(7)
    delays = [[backoff_seconds(n, 2.0, 60.0, rng) for _ in range(200)] for n in (1, 3, 10)]

    assert all(d == 2.0 for d in delays[0])
    assert all(2.0 <= d <= 8.0 for d in delays[1])
    assert all(2.0 <= d <= 60.0 for d in delays[2])
    assert max(delays[2]) > 30  # the jitter spreads retries over the whole window


def test_a_renewed_lease_keeps_a_long_job_from_other_workers(engine):
    add_jobs(engine, 1, kind="records_daily")
    queue = JobQueue(engine, lease_seconds=30)
    [job] = queue.claim("a", now=NOW)

    assert queue.extend("a", job.id, now=NOW + dt.timedelta(seconds=25))
    # Without the renewal the job would be due again at 31 s; now only after 55 s.
    assert queue.claim("b", now=NOW + dt.timedelta(seconds=50)) == []
    assert [again.id for again in queue.claim("b", now=NOW + dt.timedelta(seconds=56))] == [job.id]
    # Once another worker holds it, the first cannot renew it any more.
    assert not queue.extend("a", job.id, now=NOW + dt.timedelta(seconds=57))
