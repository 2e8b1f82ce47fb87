"""The daily records run: when it is queued, that it is queued once, and what it does.

Run on SQLite and PostgreSQL.
"""

import datetime as dt
import threading
import time

import pytest
from sqlalchemy import func, select

from functional.records.ended_letters import (
    at,
    ended_letter,
    make_records,
    prepare_world,
    savepoint_sessions,
)
from utskick.db.engine import session_factory
from utskick.jobs.models import Job
from utskick.jobs.queue import RECORDS_DAILY, ClaimedJob, JobQueue, Retry
from utskick.letters.content import has_content
from utskick.letters.models import Letter
from utskick.migrations import migrate
from utskick.records.daily import daily_job, ensure_daily_job, next_daily_run
from utskick.records.models import DisposalLogEntry
from utskick.settings import Settings

pytestmark = pytest.mark.storage

SETTINGS = Settings(records_daily_hour=2)


class TestNextRun:
    def test_before_the_hour_it_is_today_after_it_tomorrow(self):
        # Winter: Stockholm is UTC+1, so 02:00 there is 01:00 UTC.
        assert next_daily_run(at("2026-12-07", 0), SETTINGS) == at("2026-12-07", 1)
        assert next_daily_run(at("2026-12-07", 1), SETTINGS) == at("2026-12-08", 1)
        assert next_daily_run(at("2026-12-07", 12), SETTINGS) == at("2026-12-08", 1)

    def test_summer_time_keeps_the_local_hour(self):
        # Summer: UTC+2, so 02:00 in Stockholm is midnight UTC.
        assert next_daily_run(at("2026-07-01", 12), SETTINGS) == at("2026-07-02", 0)

    def test_the_night_the_clocks_skip_the_hour_it_runs_an_hour_later(self):
        # 29 March 2026: 02:00 becomes 03:00 in Stockholm; the run is at 01:00 UTC (03:00 CEST).
        run = next_daily_run(at("2026-03-28", 12), SETTINGS)
        assert run == at("2026-03-29", 1)

    def test_the_hour_is_the_installations(self):
        settings = Settings(records_daily_hour=23)
        assert next_daily_run(at("2026-12-07", 12), settings) == at("2026-12-07", 22)


def _jobs(session):
    return session.scalars(select(Job).where(Job.kind == RECORDS_DAILY).order_by(Job.id)).all()


class TestEnsure:
    def test_one_run_is_queued_and_then_no_more(self, db_session):
        now = at("2026-12-07", 12)
        job = ensure_daily_job(db_session, SETTINGS, now)
        assert job is not None
        assert ensure_daily_job(db_session, SETTINGS, now) is None
        assert ensure_daily_job(db_session, SETTINGS, now + dt.timedelta(days=3)) is None
        [queued] = _jobs(db_session)
        assert queued.run_at.replace(tzinfo=dt.UTC) == at("2026-12-08", 1)

    def test_waiting_duplicates_are_removed_and_the_first_kept(self, db_session):
        now = at("2026-12-07", 12)
        for day in ("2026-12-09", "2026-12-08", "2026-12-10"):
            db_session.add(Job(kind=RECORDS_DAILY, run_at=at(day, 1), attempts=0, created_at=now))
        db_session.flush()
        assert ensure_daily_job(db_session, SETTINGS, now) is None
        [kept] = _jobs(db_session)
        assert kept.run_at.replace(tzinfo=dt.UTC) == at("2026-12-08", 1)

    def test_a_run_in_progress_is_not_the_next_run(self, db_session):
        now = at("2026-12-08", 1)
        running = Job(kind=RECORDS_DAILY, run_at=now, attempts=1, created_at=now,
                      lease_owner="worker:a", lease_expires=now + dt.timedelta(seconds=60))  # fmt: skip
        db_session.add(running)
        db_session.flush()
        queued = ensure_daily_job(db_session, SETTINGS, now)
        assert queued is not None
        assert queued.run_at.replace(tzinfo=dt.UTC) == at("2026-12-09", 1)
        assert len(_jobs(db_session)) == 2

    def test_the_callers_own_job_is_not_the_next_run_even_after_its_lease(self, db_session):
        now = at("2026-12-08", 3)
        own = Job(kind=RECORDS_DAILY, run_at=at("2026-12-08", 1), attempts=1, created_at=now,
                  lease_owner="worker:a", lease_expires=at("2026-12-08", 2))  # fmt: skip
        db_session.add(own)
        db_session.flush()
        queued = ensure_daily_job(db_session, SETTINGS, now, running_job_id=own.id)
        assert queued is not None
        assert [job.id for job in _jobs(db_session)] == [own.id, queued.id]


def test_processes_starting_together_queue_one_run(empty_engine):
    """The second check waits for the first's transaction and then finds its job."""
    migrate.upgrade(empty_engine)
    sessions = session_factory(empty_engine)
    now = at("2026-12-07", 12)
    first = sessions()
    first.begin()
    assert ensure_daily_job(first, SETTINGS, now) is not None
    outcome = []

    def second_process():
        with sessions() as session, session.begin():
            outcome.append(ensure_daily_job(session, SETTINGS, now))

    thread = threading.Thread(target=second_process)
    thread.start()
    time.sleep(0.5)
    assert outcome == []  # still waiting for the first transaction's lock
    first.commit()
    first.close()
    thread.join(timeout=30)
    assert outcome == [None]
    with sessions() as session:
        assert len(_jobs(session)) == 1


class TestDailyJob:
    @pytest.fixture
    def world(self, migrated_engine):
        with savepoint_sessions(migrated_engine) as (sessions, _connection):
            with sessions() as session, session.begin():
                systems = prepare_world(session)
                letters = [
                    ended_letter(session, systems.desk, ended_at=at("2026-01-10")) for _ in range(2)
                ]
                make_records(session, letters)
                running = Job(kind=RECORDS_DAILY, run_at=at("2026-04-10", 0), attempts=1,
                              created_at=at("2026-04-09"), lease_owner="worker:test",
                              lease_expires=at("2026-04-10", 1))  # fmt: skip
                session.add(running)
            claimed = ClaimedJob(running.id, RECORDS_DAILY, None, None, 1, at("2026-04-09"))
            yield sessions, claimed, [letter.id for letter in letters]

    @staticmethod
    def _content(sessions, letter_ids):
        with sessions() as session:
            return [has_content(session.get(Letter, letter_id)) for letter_id in letter_ids]

    def test_it_exports_first_then_disposes_of_what_is_due_and_queues_the_next_run(self, world):
        sessions, job, letter_ids = world
        # 00:30 UTC on 10 April is 02:30 in Stockholm: the local day is the 10th.
        clock = lambda: at("2026-04-10", 0) + dt.timedelta(minutes=30)  # noqa: E731
        exported = []

        def export(day):
            exported.append((day, self._content(sessions, letter_ids)))

        outcome = daily_job(job, sessions=sessions, settings=SETTINGS, clock=clock,
                            actor="worker:test", export=export)  # fmt: skip

        assert outcome is None
        # The export ran first, while the letters still had their content.
        assert exported == [(dt.date(2026, 4, 10), [True, True])]
        assert self._content(sessions, letter_ids) == [False, False]
        with sessions() as session:
            [entry] = session.scalars(select(DisposalLogEntry)).all()
            assert (entry.count, entry.actor) == (2, "worker:test")
            runs = _jobs(session)
        assert len(runs) == 2
        assert runs[0].id == job.id  # the worker removes it once the handler returns
        assert runs[1].run_at.replace(tzinfo=dt.UTC) == at("2026-04-11", 0)

    def test_the_local_day_decides_what_is_due(self, world):
        sessions, job, letter_ids = world
        # 21:30 UTC on 9 April is 23:30 in Stockholm: still the 9th, nothing due yet.
        clock = lambda: at("2026-04-09", 21) + dt.timedelta(minutes=30)  # noqa: E731
        daily_job(job, sessions=sessions, settings=SETTINGS, clock=clock, actor="worker:test")
        assert self._content(sessions, letter_ids) == [True, True]

    def test_a_failed_export_is_tried_again_and_disposal_still_runs(self, world):
        sessions, job, letter_ids = world
        clock = lambda: at("2026-04-10", 1)  # noqa: E731

        def export(_day):
            raise OSError("the SFTP server did not answer")

        outcome = daily_job(job, sessions=sessions, settings=SETTINGS, clock=clock,
                            actor="worker:test", export=export)  # fmt: skip

        assert isinstance(outcome, Retry)
        assert "the SFTP server did not answer" in outcome.error
        assert outcome.at > clock()
        assert self._content(sessions, letter_ids) == [False, False]
        with sessions() as session:
            assert len(_jobs(session)) == 2  # this run (to be tried again) and the next

    def test_a_duplicate_run_disposes_of_nothing_twice_and_queues_no_second_next_run(self, world):
        sessions, job, _letter_ids = world
        clock = lambda: at("2026-04-10", 1)  # noqa: E731
        with sessions() as session, session.begin():
            duplicate = Job(kind=RECORDS_DAILY, run_at=at("2026-04-10", 0), attempts=1,
                            created_at=at("2026-04-09"), lease_owner="worker:other",
                            lease_expires=at("2026-04-10", 2))  # fmt: skip
            session.add(duplicate)
        other = ClaimedJob(duplicate.id, RECORDS_DAILY, None, None, 1, at("2026-04-09"))
        for claimed in (job, other):
            daily_job(claimed, sessions=sessions, settings=SETTINGS, clock=clock,
                      actor="worker:test")  # fmt: skip
        with sessions() as session:
            logged = session.scalar(select(func.sum(DisposalLogEntry.count)))
            waiting = [run for run in _jobs(session) if run.id not in (job.id, duplicate.id)]
        assert logged == 2
        assert len(waiting) == 1


def test_the_worker_settles_the_run_and_one_next_run_stays(empty_engine):
    """Claimed, run and completed through the real queue: one run waits for tomorrow."""
    migrate.upgrade(empty_engine)
    sessions = session_factory(empty_engine)
    start = at("2026-12-07", 12)
    with sessions() as session, session.begin():
        ensure_daily_job(session, SETTINGS, start)
    queue = JobQueue(empty_engine, lease_seconds=60)
    run_time = at("2026-12-08", 1)
    [claimed] = queue.claim("worker:test", now=run_time, kinds=[RECORDS_DAILY])
    outcome = daily_job(claimed, sessions=sessions, settings=SETTINGS, clock=lambda: run_time,
                        actor="worker:test")  # fmt: skip
    assert outcome is None
    queue.complete("worker:test", [claimed.id])
    with sessions() as session:
        [waiting] = _jobs(session)
    assert waiting.run_at.replace(tzinfo=dt.UTC) == at("2026-12-09", 1)
