"""Retention (gallring): what goes on which day, what a hold keeps, and the disposal log.

Letters end and become records under the demo's rules (`ended_letters`); `dispose_due` then
runs as the daily job runs it, committing batch by batch, inside a transaction the test rolls
back. Run on SQLite and PostgreSQL.

The demo rules used: information (content 3 months, metadata 24), faktura (84 and 84),
beslut (content until archived, metadata kept for ever).
"""

import dataclasses
import datetime as dt
import threading

import pytest
from sqlalchemy import event, func, select

from functional.records.ended_letters import (
    at,
    ended_letter,
    make_records,
    prepare_world,
    savepoint_sessions,
)
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.db.engine import session_factory
from utskick.jobs.models import Job
from utskick.letters import vocabulary
from utskick.letters.content import has_content
from utskick.letters.models import Letter, LetterAttachment, LetterEvent
from utskick.migrations import migrate
from utskick.printing.models import PrintItem
from utskick.records.holds import place_hold, release_hold
from utskick.records.models import DisposalLogEntry, LetterRecord
from utskick.records.retention import (
    ACCESS_LOG,
    ARCHIVED_DETAIL,
    CONTENT,
    CONTENT_DETAIL,
    METADATA,
    METADATA_DETAIL,
    dispose_due,
    due_for_disposal,
)
from utskick.records.rules import DEMO_RULES
from utskick.settings import Settings
from utskick.web.access_log import SEARCH, AccessLogEntry, log_access

pytestmark = pytest.mark.storage

ENDED = at("2026-01-10")
RUN_AT = at("2030-06-01")  # when the runs happen: only `today` decides what is due
DECISIONS = {rule.message_type: rule.decision for rule in DEMO_RULES}
INFORMATION_CONTENT_DAY = dt.date(2026, 4, 10)
INFORMATION_METADATA_DAY = dt.date(2028, 1, 10)


@dataclasses.dataclass
class World:
    sessions: object
    connection: object
    systems: object

    def letters(self, count=1, **fields):
        """Ended letters (of the desk unless another system is given), kept as records."""
        system = fields.pop("system", self.systems.desk)
        with self.sessions() as session, session.begin():
            made = [ended_letter(session, system, **{"ended_at": ENDED, **fields})
                    for _ in range(count)]  # fmt: skip
            make_records(session, made)
            return [letter.id for letter in made]

    def letter(self, **fields):
        return self.letters(1, **fields)[0]

    def dispose(self, day, *, batch=500, clock=None, **settings):
        settings = Settings(records_disposal_batch=batch, **settings)
        return dispose_due(self.sessions, settings, today=day, clock=clock or (lambda: RUN_AT),
                           actor="test")  # fmt: skip

    def get(self, model, key):
        with self.sessions() as session:
            return session.get(model, key)

    def count(self, model, *conditions):
        with self.sessions() as session:
            query = select(func.count()).select_from(model).where(*conditions)
            return session.scalar(query)

    def has_content(self, letter_id):
        with self.sessions() as session:
            return has_content(session.get(Letter, letter_id))

    def log(self, *conditions):
        with self.sessions() as session:
            return session.scalars(
                select(DisposalLogEntry).where(*conditions).order_by(DisposalLogEntry.id)
            ).all()

    def hold(self, **fields):
        with self.sessions() as session, session.begin():
            return place_hold(session, reason="Begärt av förvaltningsrätten", actor="test",
                              now=RUN_AT, **{"sender_number": EXEMPELKOMMUN, **fields}).id  # fmt: skip

    def release(self, hold_id):
        with self.sessions() as session, session.begin():
            release_hold(session, hold_id, sender_number=None, actor="test", now=RUN_AT)


@pytest.fixture
def world(migrated_engine):
    with savepoint_sessions(migrated_engine) as (sessions, connection):
        with sessions() as session, session.begin():
            systems = prepare_world(session)
        yield World(sessions, connection, systems)


def _utc(moment):
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _counts(summary):
    return sorted((c.sender_number, c.message_type, c.what, c.count) for c in summary.counts)


class TestContent:
    def test_content_goes_on_its_day_and_the_letter_stays(self, world):
        letter_id = world.letter()
        assert world.dispose(INFORMATION_CONTENT_DAY - dt.timedelta(days=1)).total == 0
        assert world.has_content(letter_id)

        summary = world.dispose(INFORMATION_CONTENT_DAY)

        assert _counts(summary) == [(EXEMPELKOMMUN, "information", CONTENT, 1)]
        assert not world.has_content(letter_id)
        # The letter, its attachments' digests and its events stay.
        assert world.get(Letter, letter_id) is not None
        assert world.count(LetterAttachment, LetterAttachment.letter_id == letter_id) == 1
        assert world.count(LetterEvent, LetterEvent.letter_id == letter_id) == 2
        record = world.get(LetterRecord, letter_id)
        assert _utc(record.content_disposed_at) == RUN_AT
        [entry] = world.log()
        assert (entry.what, entry.count, entry.sender_number, entry.message_type) == (
            CONTENT,
            1,
            EXEMPELKOMMUN,
            "information",
        )
        assert (_utc(entry.oldest), _utc(entry.newest)) == (ENDED, ENDED)
        assert (entry.decision, entry.detail, entry.actor) == (
            DECISIONS["information"],
            CONTENT_DETAIL,
            "test",
        )

    def test_content_removed_at_delivery_is_marked_but_not_counted(self, world):
        kept_here = world.letter()
        removed = world.letter(system=world.systems.archiving)
        summary = world.dispose(INFORMATION_CONTENT_DAY)
        assert _counts(summary) == [(EXEMPELKOMMUN, "information", CONTENT, 1)]
        assert world.get(LetterRecord, removed).content_disposed_at is not None
        assert world.get(LetterRecord, kept_here).content_disposed_at is not None

    def test_content_kept_until_archived_goes_once_archived(self, world):
        letter_id = world.letter(message_type="beslut")
        assert world.dispose(dt.date(2099, 1, 1)).total == 0
        assert world.has_content(letter_id)
        with world.sessions() as session, session.begin():
            record = session.get(LetterRecord, letter_id)
            record.archived_at, record.archive_package = RUN_AT, "sip-2026-01.zip"

        summary = world.dispose(dt.date(2026, 2, 1))

        assert _counts(summary) == [(EXEMPELKOMMUN, "beslut", CONTENT, 1)]
        assert not world.has_content(letter_id)
        assert world.get(Letter, letter_id) is not None  # the metadata is kept for ever
        [entry] = world.log()
        assert (entry.decision, entry.detail) == (None, ARCHIVED_DETAIL)

    def test_a_second_run_finds_nothing_more(self, world):
        world.letters(2)
        assert world.dispose(INFORMATION_CONTENT_DAY).total == 2
        assert world.dispose(INFORMATION_CONTENT_DAY).total == 0
        assert len(world.log()) == 1


class TestMetadata:
    def test_the_whole_letter_goes_on_its_day(self, world):
        letter_id = world.letter()
        later = world.letter(ended_at=at("2026-02-10"))
        with world.sessions() as session, session.begin():
            session.add(Job(kind="webhook", letter_id=letter_id, run_at=RUN_AT, attempts=0,
                            created_at=RUN_AT))  # fmt: skip

        summary = world.dispose(INFORMATION_METADATA_DAY)

        # Its content was due long before: it goes first, then the whole letter.
        assert _counts(summary) == [
            (EXEMPELKOMMUN, "information", CONTENT, 2),
            (EXEMPELKOMMUN, "information", METADATA, 1),
        ]
        assert world.get(Letter, letter_id) is None
        for model, column in (
            (LetterAttachment, LetterAttachment.letter_id),
            (LetterEvent, LetterEvent.letter_id),
            (LetterRecord, LetterRecord.letter_id),
            (Job, Job.letter_id),
        ):
            assert world.count(model, column == letter_id) == 0, model.__name__
        assert world.get(Letter, later) is not None
        entry = world.log(DisposalLogEntry.what == METADATA)[0]
        assert (entry.count, entry.detail, entry.decision) == (
            1,
            METADATA_DETAIL,
            DECISIONS["information"],
        )

    def test_a_letter_that_has_not_ended_stays(self, world):
        letter_id = world.letter()
        with world.sessions() as session, session.begin():
            session.get(Letter, letter_id).state = vocabulary.RETRYING
        summary = world.dispose(INFORMATION_METADATA_DAY)
        assert summary.total == 0
        assert world.get(Letter, letter_id) is not None
        assert world.has_content(letter_id)

    def test_a_letter_kept_for_ever_stays(self, world):
        letter_id = world.letter(message_type="beslut")
        assert world.dispose(dt.date(2199, 1, 1)).total == 0
        assert world.get(Letter, letter_id) is not None


class TestPaperLetters:
    def test_paper_letters_follow_the_same_rules(self, world):
        paper = world.letter(paper=True)
        assert world.count(PrintItem, PrintItem.letter_id == paper) == 1

        content = world.dispose(INFORMATION_CONTENT_DAY)
        assert _counts(content) == [(EXEMPELKOMMUN, "information", CONTENT, 1)]
        assert not world.has_content(paper)
        assert world.count(PrintItem, PrintItem.letter_id == paper) == 1

        metadata = world.dispose(INFORMATION_METADATA_DAY)
        assert _counts(metadata) == [(EXEMPELKOMMUN, "information", METADATA, 1)]
        assert world.get(Letter, paper) is None
        assert world.count(PrintItem, PrintItem.letter_id == paper) == 0


class TestHolds:
    def test_a_hold_on_a_letter_keeps_it_until_released(self, world):
        held, free = world.letters(2)
        hold_id = world.hold(letter_id=held)

        summary = world.dispose(INFORMATION_METADATA_DAY)

        assert summary.held == 1
        assert summary.total_of(METADATA) == 1
        assert world.get(Letter, free) is None
        assert world.has_content(held)
        world.release(hold_id)
        again = world.dispose(INFORMATION_METADATA_DAY)
        assert (again.total_of(CONTENT), again.total_of(METADATA), again.held) == (1, 1, 0)
        assert world.get(Letter, held) is None

    def test_a_hold_on_a_case_number_keeps_the_cases_letters(self, world):
        [first, second] = world.letters(2, case_number="KS 2026/12")
        other_case = world.letter(case_number="KS 2026/13")
        elsewhere = world.letter(case_number="KS 2026/12", sender=GRANNKOMMUN)
        hold_id = world.hold(case_number=" ks 2026/12")

        summary = world.dispose(INFORMATION_CONTENT_DAY)

        assert summary.held == 2
        assert world.has_content(first)
        assert world.has_content(second)
        assert not world.has_content(other_case)
        assert not world.has_content(elsewhere)  # the hold is Exempelkommun's case only
        world.release(hold_id)
        assert world.dispose(INFORMATION_CONTENT_DAY).total == 2
        assert not world.has_content(first)

    def test_a_released_hold_on_a_case_leaves_another_hold_on_one_of_its_letters(self, world):
        [first, second] = world.letters(2, case_number="KS 2026/12")
        case_hold = world.hold(case_number="KS 2026/12")
        world.hold(letter_id=second)
        world.release(case_hold)
        world.dispose(INFORMATION_CONTENT_DAY)
        assert not world.has_content(first)
        assert world.has_content(second)


class TestBatchesAndLog:
    def test_each_transaction_disposes_of_at_most_a_batch(self, world):
        world.letters(7)
        sizes = []

        def watch(_conn, _cursor, statement, parameters, _context, _many):
            if statement.startswith("DELETE FROM letter WHERE"):
                sizes.append(len(parameters))

        event.listen(world.connection, "before_cursor_execute", watch)
        try:
            summary = world.dispose(INFORMATION_METADATA_DAY, batch=3)
        finally:
            event.remove(world.connection, "before_cursor_execute", watch)
        assert sizes == [3, 3, 1]
        assert summary.total_of(METADATA) == 7
        # One log entry per kind and run, however many batches.
        entries = world.log()
        assert [(e.what, e.count) for e in entries] == [(CONTENT, 7), (METADATA, 7)]

    def test_one_entry_per_organisation_type_and_what(self, world):
        world.letters(2, ended_at=at("2026-01-05"))
        world.letters(1, ended_at=at("2026-01-20"))
        world.letters(2, sender=GRANNKOMMUN, ended_at=at("2026-01-07"))
        world.letters(3, message_type="faktura", ended_at=at("2026-01-08"))

        world.dispose(dt.date(2026, 12, 31), batch=2)

        entries = {(e.sender_number, e.message_type, e.what): e for e in world.log()}
        assert set(entries) == {
            (EXEMPELKOMMUN, "information", CONTENT),
            (GRANNKOMMUN, "information", CONTENT),
        }
        ours = entries[EXEMPELKOMMUN, "information", CONTENT]
        assert ours.count == 3
        assert (_utc(ours.oldest), _utc(ours.newest)) == (at("2026-01-05"), at("2026-01-20"))
        assert entries[GRANNKOMMUN, "information", CONTENT].count == 2

    def test_a_dry_run_counts_what_the_run_then_disposes_of_and_changes_nothing(self, world):
        world.letters(2)
        world.letters(1, sender=GRANNKOMMUN, paper=True)
        world.letters(2, message_type="faktura")
        world.letter(case_number="KS 1")
        world.hold(case_number="KS 1")
        day = INFORMATION_METADATA_DAY
        with world.sessions() as session:
            planned = due_for_disposal(session, Settings(), today=day)
        assert world.count(Letter) == 6
        assert world.log() == []

        done = world.dispose(day)

        assert planned.held == done.held == 1
        assert planned.counts == done.counts
        assert (planned.total_of(CONTENT), planned.total_of(METADATA)) == (3, 3)


class TestAccessLog:
    def test_old_access_log_rows_go_and_are_logged(self, world):
        with world.sessions() as session, session.begin():
            for moment, organisation in (
                (at("2024-05-31", 21), EXEMPELKOMMUN),  # 23:00 in Stockholm on 31 May
                (at("2024-04-01"), EXEMPELKOMMUN),
                (at("2024-05-02"), GRANNKOMMUN),
                (at("2024-05-31", 22), EXEMPELKOMMUN),  # midnight on 1 June: kept
                (at("2025-01-01"), EXEMPELKOMMUN),
            ):
                log_access(session, username="registrator", role="records",
                           organisation_number=organisation, action=SEARCH, now=moment)  # fmt: skip

        summary = world.dispose(dt.date(2026, 6, 1), access_log_months=24)

        assert _counts(summary) == [
            (EXEMPELKOMMUN, "*", ACCESS_LOG, 2),
            (GRANNKOMMUN, "*", ACCESS_LOG, 1),
        ]
        assert world.count(AccessLogEntry) == 2
        entry = world.log(DisposalLogEntry.sender_number == EXEMPELKOMMUN)[0]
        assert (_utc(entry.oldest), _utc(entry.newest)) == (at("2024-04-01"), at("2024-05-31", 21))
        assert "24 månader" in entry.detail


class TestInterruptedRuns:
    def test_a_run_killed_between_batches_loses_nothing_and_counts_nothing_twice(self, world):
        letters = world.letters(7)
        calls = []

        def dies_before_the_third_batch():
            calls.append(1)
            if len(calls) == 3:
                raise KeyboardInterrupt
            return RUN_AT

        with pytest.raises(KeyboardInterrupt):
            world.dispose(INFORMATION_CONTENT_DAY, batch=3, clock=dies_before_the_third_batch)
        gone = [letter for letter in letters if not world.has_content(letter)]
        assert len(gone) == 6
        assert sum(e.count for e in world.log()) == 6

        world.dispose(INFORMATION_CONTENT_DAY, batch=3)

        assert not any(world.has_content(letter) for letter in letters)
        assert [e.count for e in world.log()] == [6, 1]

    def test_a_batch_that_fails_half_way_is_undone_with_its_log(self, world):
        letters = world.letters(7)
        deletes = []

        def fails_in_the_second_batch(_conn, _cursor, statement, *_rest):
            if statement.startswith("DELETE FROM letter WHERE"):
                deletes.append(statement)
                if len(deletes) == 2:
                    raise RuntimeError("the database went away")

        event.listen(world.connection, "before_cursor_execute", fails_in_the_second_batch)
        try:
            with pytest.raises(RuntimeError):
                world.dispose(INFORMATION_METADATA_DAY, batch=3)
        finally:
            event.remove(world.connection, "before_cursor_execute", fails_in_the_second_batch)
        left = [letter for letter in letters if world.get(Letter, letter) is not None]
        assert len(left) == 4
        # The failed batch's attachments and events were deleted first: they are back.
        for letter in left:
            assert world.count(LetterAttachment, LetterAttachment.letter_id == letter) == 1
            assert world.count(LetterEvent, LetterEvent.letter_id == letter) == 2
        assert [(e.what, e.count) for e in world.log()] == [(CONTENT, 7), (METADATA, 3)]

        world.dispose(INFORMATION_METADATA_DAY, batch=3)

        assert world.count(Letter) == 0
        assert sum(e.count for e in world.log(DisposalLogEntry.what == METADATA)) == 7


def test_two_runs_at_once_share_the_work_and_count_it_once(empty_engine):
    """A run whose lease ran out is started again while the first still runs."""
    migrate.upgrade(empty_engine)
    sessions = session_factory(empty_engine)
    with sessions() as session, session.begin():
        systems = prepare_world(session)
        letters = [ended_letter(session, systems.desk, ended_at=ENDED) for _ in range(40)]
        make_records(session, letters)
    settings = Settings(records_disposal_batch=4)
    start = threading.Barrier(2)
    results, errors = [], []

    def run():
        start.wait()
        try:
            results.append(dispose_due(sessions, settings, today=INFORMATION_METADATA_DAY,
                                       clock=lambda: RUN_AT, actor="test"))  # fmt: skip
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sum(summary.total_of(METADATA) for summary in results) == 40
    assert sum(summary.total_of(CONTENT) for summary in results) == 40
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Letter)) == 0
        logged = session.scalars(select(DisposalLogEntry)).all()
    assert sum(e.count for e in logged if e.what == METADATA) == 40
    assert sum(e.count for e in logged if e.what == CONTENT) == 40
