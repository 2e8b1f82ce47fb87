"""Addressing paper letters at scale: a few statements per chunk, no hot row per batch.

Every test but the last class runs on SQLite and PostgreSQL. The last runs two workers on
PostgreSQL at once, each holding its chunk's transaction open until the other has one open
too: with a row that every chunk of a department writes, the second would wait for the
first's commit and never get there.
"""

import datetime as dt
import threading
import uuid

import pytest
from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import sessionmaker

from support.paper_letters import ensure_sender_and_system
from support.world import DAVID, EVA, EXEMPELKOMMUN, HANNA, NOW
from utskick.jobs.models import Job
from utskick.jobs.queue import PRINT, JobQueue
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.vocabulary import BATCHED, PAPER
from utskick.migrations import migrate
from utskick.printing.addresses import (
    AddressSourceUnavailableError,
    FixedAddressSource,
    RegisterEntry,
)
from utskick.printing.models import PrintBatch, PrintItem
from utskick.printing.service import RECORD_CHUNK, address_jobs, close_on_command
from utskick.settings import PrintVendor, Settings

pytestmark = pytest.mark.storage

REGISTER = FixedAddressSource(
    {
        DAVID: RegisterEntry(
            DAVID, found=True, name="David Dahl", lines=("Dalvägen 3", "123 46 Exempelstad")
        ),
        EVA: RegisterEntry(EVA, found=True, protected=True),
        HANNA: RegisterEntry(HANNA, found=True, name="Hanna Holm", lines=(), deceased=True),
    }
)
WORKER = "worker:test"
# Statements besides the chunks: the read before the register and of the webhook systems (2),
# opening a batch (its insert, its close job and its read: 3, and the chunk whose letters
# waited for it: 11), and closing one by size (lock, count, numbering, its row, its job: 6).
FIXED_STATEMENTS = 22
# Lock, read, open batches, items, events (up to 2: `EventBatch` sets apart the rows without
# a reason), the jobs events queue, letter updates (up to 3: batched, erased address,
# impossible), the jobs completed. The same for 1 letter or 100.
STATEMENTS_PER_CHUNK = 11


class Unavailable:
    """A register that is down."""

    def lookup(self, recipient_ids):
        raise AddressSourceUnavailableError(f"folkbokföringen svarar inte ({len(recipient_ids)})")


class Installation:
    """A migrated database of the test's own with one department's paper letters."""

    def __init__(self, engine, tmp_path, *, max_letters, upgrade=True):
        if upgrade:
            migrate.upgrade(engine)
        self.engine = engine
        self.sessions = sessionmaker(engine)
        self.department = f"Avdelning {uuid.uuid4().hex[:8]}"
        self.settings = Settings(
            home=tmp_path,
            print_vendors=[PrintVendor(name="tryckeriet", drop=tmp_path / "drop")],
            print_batch_max_letters=max_letters,
        )
        with self.sessions() as session, session.begin():
            self.system_id = ensure_sender_and_system(session)

    def paper_letters(self, count, recipients=(DAVID,)):
        """Letters in state `paper` with their print jobs, as the switch leaves them; ids."""
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with self.sessions() as session, session.begin():
            session.execute(
                insert(Letter), [self._letter(i, n, recipients) for n, i in enumerate(ids)]
            )
            session.execute(
                insert(Job),
                [{"kind": PRINT, "letter_id": i, "run_at": NOW, "attempts": 0, "created_at": NOW}
                 for i in ids],
            )  # fmt: skip
        return ids

    def _letter(self, letter_id, number, recipients):
        return {
            "id": letter_id,
            "sending_system_id": self.system_id,
            "idempotency_key": letter_id,
            "sender_number": EXEMPELKOMMUN,
            "department": self.department,
            "recipient_id": recipients[number % len(recipients)],
            "subject": f"Beslut nr {number}",
            "body_type": "text/plain",
            "body": "Hej!",
            "protection_class": 2,
            "policy": "paper-only",
            "message_id": uuid.uuid4().hex,
            "created_at": NOW,
            "state": PAPER,
            "channel": "paper",
            "reason": "paper_only_policy",
            "updated_at": NOW,
        }

    def claim(self, owner, limit=1000):
        return JobQueue(self.engine, 600).claim(owner, now=NOW, limit=limit, kinds=[PRINT])

    def address(self, jobs, *, owner=WORKER, sessions=None, source=REGISTER):
        return address_jobs(
            jobs,
            sessions=sessions or self.sessions,
            source=source,
            settings=self.settings,
            clock=lambda: NOW,
            actor="worker:test",
            owner=owner,
        )

    def batches(self):
        """(state, close reason, [letter ids in position order], [positions]) per batch."""
        with self.sessions() as session:
            batches = session.scalars(
                select(PrintBatch)
                .where(PrintBatch.department == self.department)
                .order_by(PrintBatch.created_at, PrintBatch.closed_at)
            ).all()
            found = []
            for batch in batches:
                items = session.scalars(
                    select(PrintItem)
                    .where(PrintItem.batch_id == batch.id)
                    .order_by(PrintItem.position, PrintItem.letter_id)
                ).all()
                found.append(
                    (
                        batch.state,
                        batch.close_reason,
                        batch.letter_count,
                        [item.letter_id for item in items],
                        [item.position for item in items],
                    )
                )
        return found

    def close_open_batches(self):
        with self.sessions() as session, session.begin():
            for batch_id in session.scalars(
                select(PrintBatch.id).where(
                    PrintBatch.department == self.department, PrintBatch.state == "open"
                )
            ).all():
                close_on_command(session, batch_id, now=NOW)

    def print_jobs(self):
        with self.sessions() as session:
            return session.scalars(select(Job).where(Job.kind == PRINT)).all()

    def batched_events(self):
        """How many BATCHED events each letter has."""
        with self.sessions() as session:
            rows = session.execute(
                select(LetterEvent.letter_id, func.count())
                .where(LetterEvent.state == BATCHED)
                .group_by(LetterEvent.letter_id)
            ).all()
        return dict(rows)


@pytest.fixture
def installation(empty_engine, tmp_path):
    return Installation(empty_engine, tmp_path, max_letters=40)


def counting_statements(engine):
    """A list whose length is the driver calls made on the engine from now on."""
    calls = []
    event.listen(engine, "before_cursor_execute", lambda *args: calls.append(args[2]))
    return calls


class TestSetBased:
    def test_each_chunk_costs_a_few_statements_whatever_its_letters(self, installation):
        installation.settings = installation.settings.model_copy(
            update={"print_batch_max_letters": 500}
        )
        installation.paper_letters(500, recipients=(DAVID, EVA, HANNA))
        jobs = installation.claim(WORKER)
        calls = counting_statements(installation.engine)

        assert installation.address(jobs) == {}

        chunks = 500 // RECORD_CHUNK
        assert len(calls) <= FIXED_STATEMENTS + STATEMENTS_PER_CHUNK * chunks, len(calls)
        assert installation.print_jobs() == []
        [(state, reason, count, letters, _positions)] = installation.batches()
        # Hanna is deceased: a third of the letters cannot be printed.
        assert (state, reason, count) == ("open", None, 0)
        assert len(letters) == 500 - 500 // 3

    def test_with_an_owner_every_job_ends_with_its_letters_outcome(self, installation):
        ids = installation.paper_letters(30, recipients=(DAVID, EVA, HANNA))
        jobs = installation.claim(WORKER)

        outcomes = installation.address(jobs)

        assert outcomes == {}
        assert installation.print_jobs() == []
        with installation.sessions() as session:
            states = dict(session.execute(select(Letter.id, Letter.state)).all())
        assert sorted(states[i] for i in ids) == ["batched"] * 20 + ["impossible"] * 10

    def test_without_an_owner_the_caller_settles_every_job(self, installation):
        installation.paper_letters(5)
        jobs = installation.claim(WORKER)

        outcomes = installation.address(jobs, owner=None)

        assert outcomes == {job.id: None for job in jobs}
        assert len(installation.print_jobs()) == 5  # still there for the caller to complete

    def test_batches_close_at_their_size_with_positions_one_to_n(self, installation):
        ids = installation.paper_letters(100)
        installation.address(installation.claim(WORKER))
        installation.close_open_batches()

        batches = installation.batches()

        assert [(state, reason, count) for state, reason, count, _, _ in batches] == [
            ("closed", "size", 40),
            ("closed", "size", 40),
            ("closed", "command", 20),
        ]
        for _state, _reason, count, _letters, positions in batches:
            assert positions == list(range(1, count + 1))
        # Numbered in the order the letters went to paper (their print jobs' order).
        assert [letter for batch in batches for letter in batch[3]] == ids
        assert installation.batched_events() == dict.fromkeys(ids, 1)

    def test_a_register_outage_reschedules_the_jobs_with_the_reason(self, installation):
        installation.paper_letters(3)
        jobs = installation.claim(WORKER)

        assert installation.address(jobs, source=Unavailable()) == {}

        retried = installation.print_jobs()
        assert len(retried) == 3
        for job in retried:
            assert (job.lease_owner, job.last_error) == (None, "folkbokföringen svarar inte (3)")
            assert job.run_at.replace(tzinfo=dt.UTC) > NOW
        assert installation.batches() == []

    def test_jobs_of_letters_no_longer_waiting_only_end(self, installation):
        ids = installation.paper_letters(2)
        with installation.sessions() as session, session.begin():
            session.get(Letter, ids[0]).state = "cancelled"
        jobs = installation.claim(WORKER)

        assert installation.address(jobs) == {}

        assert installation.print_jobs() == []
        [(_state, _reason, _count, letters, _positions)] = installation.batches()
        assert letters == [ids[1]]


class TestUpgrade:
    def test_a_batch_open_during_the_upgrade_keeps_its_letters_first_in_order(
        self, empty_engine, tmp_path
    ):
        migrate.upgrade(empty_engine, "2026_12_07_0012")
        installation = Installation(empty_engine, tmp_path, max_letters=40, upgrade=False)
        old = installation.paper_letters(3)
        key = f"{EXEMPELKOMMUN}|tryckeriet|{installation.department}"
        earlier = NOW - dt.timedelta(hours=1)
        with empty_engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO print_batch (id, route, local, department, sender_number, state,"
                    " open_key, created_at, letter_count) VALUES ('old', 'tryckeriet', :f, :d,"
                    " :s, 'open', :k, :t, 3)"
                ),
                {"f": False, "d": installation.department, "s": EXEMPELKOMMUN, "k": key,
                 "t": earlier},
            )  # fmt: skip
            for position, letter_id in zip((3, 1, 2), old, strict=True):
                connection.execute(
                    text(
                        "INSERT INTO print_item (letter_id, batch_id, part, position, protected,"
                        " created_at) VALUES (:l, 'old', 'letter', :p, :f, :t)"
                    ),
                    {"l": letter_id, "p": position, "f": False, "t": earlier},
                )
            connection.execute(text("DELETE FROM job"))

        migrate.upgrade(empty_engine)
        new = installation.paper_letters(2)
        installation.address(installation.claim(WORKER))
        installation.close_open_batches()

        [(_state, _reason, count, letters, positions)] = installation.batches()
        assert letters == [old[1], old[2], old[0], *new]
        assert (count, positions) == (5, [1, 2, 3, 4, 5])

    def test_a_downgrade_numbers_the_open_batches_for_the_earlier_code(
        self, empty_engine, tmp_path
    ):
        installation = Installation(empty_engine, tmp_path, max_letters=40)
        ids = installation.paper_letters(3)
        installation.address(installation.claim(WORKER))

        migrate.downgrade(empty_engine, "2026_12_07_0012")

        with empty_engine.connect() as connection:
            positions = (
                connection.execute(text("SELECT letter_id FROM print_item ORDER BY position"))
                .scalars()
                .all()
            )
            counts = connection.execute(text("SELECT letter_count FROM print_batch")).scalars()
            assert list(counts) == [3]
        assert positions == ids
        migrate.upgrade(empty_engine)


@pytest.mark.parametrize("empty_engine", ["postgresql"], indirect=True)
class TestTwoWorkersAtOnce:
    def chunks_held_open_together(self, installation, jobs_of_each):
        """Run one worker per job list in threads; each holds its first chunk's transaction
        open until the other has one open too. Whether they met; and their errors."""
        meeting = threading.Barrier(len(jobs_of_each), timeout=15)
        met, errors = [], []

        def worker(owner, jobs):
            sessions = sessionmaker(installation.engine)
            first = []

            @event.listens_for(sessions, "before_commit")
            def hold_the_first_chunk_open(session):
                if not first:
                    first.append(True)
                    meeting.wait()  # the chunk's items are written, not yet committed
                    met.append(owner)

            try:
                installation.address(jobs, owner=owner, sessions=sessions)
            except Exception as error:  # noqa: BLE001 (reported by the test)
                errors.append(error)
                meeting.abort()

        threads = [
            threading.Thread(target=worker, args=(f"worker:{n}", jobs))
            for n, jobs in enumerate(jobs_of_each)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        return met, errors

    def test_two_workers_add_one_departments_letters_to_one_batch_at_once(
        self, empty_engine, tmp_path
    ):
        installation = Installation(empty_engine, tmp_path, max_letters=1000)
        ids = installation.paper_letters(1)
        installation.address(installation.claim(WORKER))  # the batch is open
        ids += installation.paper_letters(2 * RECORD_CHUNK)
        first, second = (
            installation.claim("worker:0", RECORD_CHUNK),
            installation.claim("worker:1", RECORD_CHUNK),
        )

        met, errors = self.chunks_held_open_together(installation, [first, second])

        assert errors == []
        assert sorted(met) == ["worker:0", "worker:1"]
        assert installation.print_jobs() == []
        assert installation.batched_events() == dict.fromkeys(ids, 1)
        [(state, _reason, _count, letters, _positions)] = installation.batches()
        assert (state, sorted(letters)) == ("open", sorted(ids))
        installation.close_open_batches()
        [(_state, _reason, count, _letters, positions)] = installation.batches()
        assert positions == list(range(1, count + 1))
        assert count == 2 * RECORD_CHUNK + 1

    def test_a_race_overfills_a_batch_by_at_most_one_chunk(self, empty_engine, tmp_path):
        maximum = RECORD_CHUNK + RECORD_CHUNK // 2
        installation = Installation(empty_engine, tmp_path, max_letters=maximum)
        ids = installation.paper_letters(1)
        installation.address(installation.claim(WORKER))  # the batch is open
        ids += installation.paper_letters(2 * RECORD_CHUNK + 10)
        first, second = (
            installation.claim("worker:0", RECORD_CHUNK),
            installation.claim("worker:1", RECORD_CHUNK),
        )

        met, errors = self.chunks_held_open_together(installation, [first, second])
        installation.address(installation.claim(WORKER))  # the last ten, after the race

        assert errors == []
        assert len(met) == 2
        [overfull, after] = installation.batches()
        # Both read one letter in the batch before either committed: each put its whole chunk
        # in, and the batch went over its size by less than one chunk.
        assert overfull[:3] == ("closed", "size", 2 * RECORD_CHUNK + 1)
        assert maximum < overfull[2] <= maximum + RECORD_CHUNK
        assert overfull[4] == list(range(1, 2 * RECORD_CHUNK + 2))
        assert (after[0], len(after[3])) == ("open", 10)
        assert installation.batched_events() == dict.fromkeys(ids, 1)

    def test_a_close_waits_for_the_chunk_writing_to_the_batch_and_numbers_it_too(
        self, empty_engine, tmp_path
    ):
        installation = Installation(empty_engine, tmp_path, max_letters=1000)
        ids = installation.paper_letters(1)
        installation.address(installation.claim(WORKER))  # the batch is open
        ids += installation.paper_letters(RECORD_CHUNK)
        jobs = installation.claim("worker:0")
        writing, release, closed = threading.Event(), threading.Event(), threading.Event()
        sessions = sessionmaker(empty_engine)

        @event.listens_for(sessions, "before_commit")
        def hold_the_chunk_open(session):
            if not writing.is_set():
                writing.set()
                release.wait(15)

        def close():
            installation.close_open_batches()
            closed.set()

        worker = threading.Thread(
            target=installation.address,
            args=(jobs,),
            kwargs={"owner": "worker:0", "sessions": sessions},
        )
        worker.start()
        assert writing.wait(15)
        closer = threading.Thread(target=close)
        closer.start()
        waited = not closed.wait(1.0)  # the chunk's items are written, not committed
        release.set()
        worker.join(30)
        closer.join(30)

        assert waited
        assert closed.is_set()
        [(state, reason, count, letters, positions)] = installation.batches()
        assert (state, reason, count) == ("closed", "command", RECORD_CHUNK + 1)
        assert sorted(letters) == sorted(ids)
        assert positions == list(range(1, RECORD_CHUNK + 2))
