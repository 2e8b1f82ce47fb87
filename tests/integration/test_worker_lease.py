"""A long job (the daily records run) keeps its lease while it runs, on SQLite and PostgreSQL."""

import time

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from utskick.entrypoints.worker import Worker
from utskick.jobs.queue import DELIVER, RECORDS_DAILY, enqueue
from utskick.letters.service import utc_now
from utskick.settings import Settings


@pytest.fixture
def engine(migrated_engine):
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))
    yield migrated_engine
    with migrated_engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))


def test_a_job_that_outlasts_its_lease_is_not_taken_by_another_worker(engine, tmp_path):
    with Session(engine) as session, session.begin():
        enqueue(session, RECORDS_DAILY, now=utc_now())
    settings = Settings(home=tmp_path, lease_seconds=3)
    worker = Worker(settings, engine, worker_id="long")
    [job] = worker.queue.claim("long", now=utc_now())
    taken_by_other = []

    def slow_work():
        # Twice the lease: without renewal another worker would take the job half-way.
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            taken_by_other.extend(worker.queue.claim("other", now=utc_now()))
            time.sleep(0.5)

    try:
        assert worker._with_leases_kept([job.id], slow_work) is None
    finally:
        worker.close()
    assert taken_by_other == []


def test_a_set_of_deliveries_keeps_every_lease_while_the_operators_answer(engine, tmp_path):
    """A worker's claimed set of deliveries stays its own while slow operators answer them."""
    with Session(engine) as session, session.begin():
        for _ in range(3):
            enqueue(session, DELIVER, now=utc_now())
    settings = Settings(home=tmp_path, lease_seconds=3)
    worker = Worker(settings, engine, worker_id="sender")
    jobs = worker.queue.claim("sender", now=utc_now(), limit=3)
    assert len(jobs) == 3
    taken_by_other = []

    def slow_answers():
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            taken_by_other.extend(worker.queue.claim("other", now=utc_now(), limit=3))
            time.sleep(0.5)
        return "answered"

    try:
        assert worker._with_leases_kept([job.id for job in jobs], slow_answers) == "answered"
    finally:
        worker.close()
    assert taken_by_other == []
    # Once the set is recorded, nothing renews the leases: another worker may take the jobs.
    time.sleep(3.5)
    assert len(worker.queue.claim("other", now=utc_now(), limit=3)) == 3
