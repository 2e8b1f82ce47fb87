"""What became of a file's letters, written beside it once all have an outcome; and the `pickup`
job that polls each source and queues its next poll, one waiting poll per source, on SQLite and
PostgreSQL."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from utskick.db.engine import session_factory
from utskick.intake.pickup.jobs import ensure_pickup_jobs, pickup_job
from utskick.jobs.models import Job
from utskick.jobs.queue import PICKUP, JobQueue, Retry, enqueue
from utskick.letters.models import Letter

pytestmark = pytest.mark.storage


def _settle(world, state, channel, reason, *, only=None):
    """Give the letters (or the one with id `only`) a state, as the worker would have."""
    with Session(world.engine) as session, session.begin():
        statement = update(Letter).values(state=state, channel=channel, reason=reason)
        if only is not None:
            statement = statement.where(Letter.id == only)
        session.execute(statement)


def _outcome_rows(world, name):
    path = world.inbox / "behandlade" / f"{name}.utfall.csv"
    with path.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.reader(stream, delimiter=";"))


class TestOutcomeFile:
    def test_none_is_written_while_a_letter_has_no_outcome(self, world):
        world.drop("brev.ndjson", world.ndjson(2))
        world.poll()
        first = world.letters()[0]
        _settle(world, "delivered", "digital", "reachable", only=first.id)

        report = world.poll()

        assert report.outcomes == []
        assert "brev.ndjson.utfall.csv" not in world.files("behandlade")

    def test_it_is_written_once_every_letter_has_one(self, world):
        world.drop("brev.ndjson", world.ndjson(2))
        world.poll()
        first, second = world.letters()
        _settle(world, "delivered", "digital", "reachable", only=first.id)
        _settle(world, "impossible", "paper", "deceased", only=second.id)

        report = world.poll()

        assert report.outcomes == ["brev.ndjson"]
        rows = _outcome_rows(world, "brev.ndjson")
        assert rows[0] == ["brev_id", "mottagare", "utfall", "kanal", "skäl"]
        by_id = {row[0]: row[1:] for row in rows[1:]}
        assert by_id[first.id] == [
            f"{first.recipient_id[:8]}-{first.recipient_id[8:]}",
            "levererat digitalt",
            "digitalt",
            "Mottagaren har en digital brevlåda som tar emot brev från avsändaren.",
        ]
        assert by_id[second.id][1:3] == ["kan inte skickas på papper", "papper"]
        assert "avliden" in by_id[second.id][3]
        [row] = world.rows()
        assert row.receipt["outcome_written_at"]

    def test_it_is_not_written_again(self, world):
        world.drop("brev.ndjson", world.ndjson(1))
        world.poll()
        _settle(world, "batched", "paper", "not_registered")
        world.poll()
        path = world.inbox / "behandlade" / "brev.ndjson.utfall.csv"
        path.write_text("ändrad av en människa", encoding="utf-8")

        report = world.poll()

        assert report.outcomes == []
        assert path.read_text(encoding="utf-8") == "ändrad av en människa"

    def test_a_file_of_which_nothing_was_accepted_gets_none(self, world):
        world.drop("brev.ndjson", world.letter_line("1912", 1) + "\n")
        world.poll()

        assert world.poll().outcomes == []
        assert world.files("behandlade") == ["brev.ndjson", "brev.ndjson.kvitto.json"]


SOURCES_TOML = """
[[source]]
name = "ekonomi"
system = "Ekonomisystemet"
folder = "{inbox}"
stable_seconds = 0
poll_seconds = 30

[source.recipient]
rule = "anchor"

[[source]]
name = "regler"
system = "Ekonomisystemet"

[source.recipient]
rule = "filename"
"""


def _write_sources(world, inbox=None):
    world.home.mkdir(parents=True, exist_ok=True)
    text = SOURCES_TOML.format(inbox=inbox or world.inbox)
    world.settings.sources_file.write_text(text, encoding="utf-8")
    return world.settings


def _jobs(world):
    with Session(world.engine) as session:
        return [
            (job.payload, job.run_at.replace(tzinfo=None))
            for job in session.scalars(select(Job).where(Job.kind == PICKUP).order_by(Job.id))
        ]


def _ensure(world, sources):
    with session_factory(world.engine)() as session, session.begin():
        return ensure_pickup_jobs(session, sources, world.now)


class TestEnsurePickupJobs:
    def test_each_picking_up_source_gets_one_poll_due_now(self, world):
        sources = [world.source(), world.source(name="regler", folder=None)]

        queued = _ensure(world, sources)

        assert queued == 1
        assert _jobs(world) == [({"source": "ekonomi"}, world.now.replace(tzinfo=None))]

    def test_calling_it_again_queues_none_and_duplicates_are_removed(self, world):
        sources = [world.source()]
        _ensure(world, sources)
        with session_factory(world.engine)() as session, session.begin():
            enqueue(session, PICKUP, now=world.now, payload={"source": "ekonomi"})

        queued = _ensure(world, sources)

        assert queued == 0
        assert len(_jobs(world)) == 1

    def test_polls_of_a_source_no_longer_picking_up_are_removed(self, world):
        _ensure(world, [world.source()])

        _ensure(world, [world.source(folder=None)])

        assert _jobs(world) == []


def _claim(world):
    queue = JobQueue(world.engine, lease_seconds=60)
    [job] = queue.claim("test", now=world.now, kinds=[PICKUP])
    return job


def _run(world, job, settings):
    return pickup_job(
        job, sessions=session_factory(world.engine), settings=settings, clock=world.clock
    )


class TestPickupJob:
    def test_it_polls_the_source_and_queues_the_next_poll(self, world):
        settings = _write_sources(world)
        world.drop("brev.ndjson", world.ndjson(2))
        _ensure(world, [world.source()])
        job = _claim(world)

        outcome = _run(world, job, settings)

        assert outcome is None
        assert world.letter_count() == 2
        later = (world.now + dt.timedelta(seconds=30)).replace(tzinfo=None)
        jobs = _jobs(world)
        assert ({"source": "ekonomi"}, later) in jobs
        assert len(jobs) == 2  # the running one ends when the worker completes it

    def test_a_source_that_is_gone_is_not_polled_again(self, world):
        settings = _write_sources(world)
        with session_factory(world.engine)() as session, session.begin():
            enqueue(session, PICKUP, now=world.now, payload={"source": "borttagen"})
        job = _claim(world)

        assert _run(world, job, settings) is None
        assert len(_jobs(world)) == 1  # only the claimed one

    def test_a_folder_that_cannot_be_read_is_polled_again_later_saying_why(self, world):
        settings = _write_sources(world, inbox=world.inbox / "saknas")
        _ensure(world, [world.source()])
        job = _claim(world)

        outcome = _run(world, job, settings)

        assert isinstance(outcome, Retry)
        assert outcome.at >= world.now + dt.timedelta(seconds=30)
        assert "finns inte" in outcome.error
        assert len(_jobs(world)) == 1
