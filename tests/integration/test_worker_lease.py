"""A long job (the daily records run) keeps its lease while it runs, on SQLite and PostgreSQL."""

import time

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from utskick.entrypoints.worker import Worker
from utskick.jobs.queue import RECORDS_DAILY, enqueue
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
        assert worker._with_lease_kept(job, slow_work) is None
    finally:
        worker.close()
    assert taken_by_other == []
