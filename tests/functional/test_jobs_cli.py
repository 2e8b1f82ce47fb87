"""`utskick jobs list|retry|cancel` on an installation (SQLite and PostgreSQL).

A failed job is listed, runs again after `jobs retry` (the worker takes it and the letter
moves on), and is removed by `jobs cancel`; the letter's history says who did what. A
refused command says why in Swedish and changes nothing.
"""

import datetime as dt
import getpass
import uuid

import pytest
from sqlalchemy import select

from functional.admin_cli import installation_of
from support.world import DAVID, EXEMPELKOMMUN
from utskick.entrypoints.worker import Worker
from utskick.jobs.models import Job
from utskick.jobs.queue import CLASSIFY
from utskick.letters import job_failures, vocabulary
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.senders.models import SendingSystem
from utskick.settings import Settings

pytestmark = pytest.mark.storage

OPERATOR = f"cli:{getpass.getuser()}"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def installation(request, tmp_path_factory):
    with installation_of(request.param, tmp_path_factory.mktemp("jobs")) as installation:
        installation.settings = Settings(
            home=installation.home, database_url=installation.url, embedded_reference=False
        )
        yield installation


def paper_letter(installation, *, failed=True, leased=False):
    """A paper-only letter whose classify job failed (or waits, or runs); (letter, job) ids."""
    now = dt.datetime.now(dt.UTC)
    with installation.session() as session, session.begin():
        system = session.get(SendingSystem, installation.system_id)
        letter, _ = LetterService(session, installation.settings).accept(
            system,
            LetterInput(
                sender=EXEMPELKOMMUN,
                recipient=DAVID,
                subject="Kallelse",
                body="Välkommen.",
                protection_class=2,
                policy=vocabulary.PAPER_ONLY,
                idempotency_key=str(uuid.uuid4()),
            ),
            actor="api:test",
        )
        session.flush()
        job = session.scalar(select(Job).where(Job.letter_id == letter.id, Job.kind == CLASSIFY))
        if failed:
            job.attempts, job.failed_at, job.last_error = 25, now, "FaR svarade HTTP 500"
        if leased:
            job.attempts, job.lease_owner = 1, "host:1:0"
            job.lease_expires = now + dt.timedelta(minutes=5)
        return letter.id, job.id


def job_row(installation, job_id):
    with installation.session() as session:
        return session.get(Job, job_id)


def classify_job(installation, letter_id):
    with installation.session() as session:
        return session.scalar(select(Job).where(Job.letter_id == letter_id, Job.kind == CLASSIFY))


def events(installation, letter_id, reason):
    with installation.session() as session:
        return list(
            session.scalars(
                select(LetterEvent).where(
                    LetterEvent.letter_id == letter_id, LetterEvent.reason == reason
                )
            )
        )


class TestList:
    def test_failed_jobs_are_listed_first_and_alone_with_failed(self, installation):
        letter_id, failed_id = paper_letter(installation)
        _, waiting_id = paper_letter(installation, failed=False)

        everything = installation.json("jobs", "list")
        only_failed = installation.json("jobs", "list", "--failed", "--kind", CLASSIFY)

        assert everything[0]["state"] == "failed"
        assert {failed_id, waiting_id} <= {job["id"] for job in everything}
        assert all(job["state"] == "failed" for job in only_failed)
        [ours] = [job for job in only_failed if job["id"] == failed_id]
        assert (ours["letter_id"], ours["attempts"]) == (letter_id, 25)
        assert ours["last_error"] == "FaR svarade HTTP 500"

    def test_the_table_shows_the_state_in_swedish(self, installation):
        _, failed_id = paper_letter(installation)

        result = installation.run("jobs", "list", "--failed")

        assert result.exit_code == 0, result.output
        assert str(failed_id) in result.stdout
        assert "misslyckat" in result.stdout
        assert "FaR svarade HTTP 500" in result.stdout

    def test_a_long_list_says_how_much_is_left_out(self, installation):
        paper_letter(installation)
        paper_letter(installation)

        result = installation.run("jobs", "list", "--antal", "1", "--json")

        assert result.exit_code == 0, result.output
        assert "Visar 1 av" in result.stderr

    def test_an_unknown_kind_is_refused(self, installation):
        installation.refused("jobs", "list", "--kind", "skicka", says="okänd jobbtyp 'skicka'")


class TestRetry:
    def test_a_retried_job_is_run_by_the_worker_and_the_letter_moves_on(self, installation):
        letter_id, job_id = paper_letter(installation)

        [retried] = installation.json("jobs", "retry", str(job_id))

        assert (retried["state"], retried["attempts"]) == ("waiting", 0)
        [event] = events(installation, letter_id, job_failures.JOB_RETRIED)
        assert event.detail == f"jobbet classify körs igen på begäran av {OPERATOR}"
        worker = Worker(installation.settings, installation.engine, worker_id="test")
        try:
            while worker.run_once():
                pass
        finally:
            worker.close()
        assert classify_job(installation, letter_id) is None  # run and done
        with installation.session() as session:
            assert session.get(Letter, letter_id).state == vocabulary.PAPER

    def test_a_job_that_has_not_failed_is_refused_and_nothing_is_retried(self, installation):
        _, failed_id = paper_letter(installation)
        _, waiting_id = paper_letter(installation, failed=False)

        installation.refused(
            "jobs", "retry", str(failed_id), str(waiting_id), says="har inte misslyckats"
        )

        assert job_row(installation, failed_id).failed_at is not None  # all or nothing

    def test_an_unknown_job_is_refused(self, installation):
        installation.refused("jobs", "retry", "99999999", says="det finns inget jobb 99999999")


class TestCancel:
    def test_a_failed_job_is_removed_and_the_letter_is_told(self, installation):
        letter_id, job_id = paper_letter(installation)

        removed = installation.json("jobs", "cancel", str(job_id))

        assert (removed["id"], removed["kind"], removed["letter_id"]) == (
            job_id,
            CLASSIFY,
            letter_id,
        )
        assert classify_job(installation, letter_id) is None
        [event] = events(installation, letter_id, job_failures.JOB_CANCELLED)
        assert event.detail == f"jobbet classify ({job_id}) avbröts av {OPERATOR}"

    def test_a_job_a_worker_is_running_is_refused_and_kept(self, installation):
        letter_id, job_id = paper_letter(installation, failed=False, leased=True)

        installation.refused("jobs", "cancel", str(job_id), says="körs just nu av host:1:0")

        assert job_row(installation, job_id) is not None
        assert events(installation, letter_id, job_failures.JOB_CANCELLED) == []

    def test_an_unknown_job_is_refused(self, installation):
        installation.refused("jobs", "cancel", "99999999", says="det finns inget jobb 99999999")
