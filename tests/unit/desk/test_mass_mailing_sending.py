"""Sending a checked mass mailing: each row that passed once, however often it is interrupted.

Every test runs on SQLite and on PostgreSQL (a fresh database each, since sending commits).
"""

import codecs
import datetime as dt
import io
import itertools
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from support.world import (
    DAVID,
    EVA,
    EXEMPELKOMMUN,
    HANNA,
    NOW,
    TOLVAN,
    FakePrecheck,
    fresh_personnummer,
    sender_organisation,
)
from utskick.db.engine import session_factory
from utskick.desk.letter_views import LocalTimes
from utskick.desk.mass_mailing import (
    CHECKED,
    INTERRUPTED,
    SENDING,
    SENDING_FILE,
    SENT,
    MailingStore,
    Owner,
)
from utskick.desk.mass_outcome import letter_progress, outcome_lines
from utskick.desk.mass_precheck import MassPrecheck
from utskick.desk.mass_sending import STOPPED, MassSending, idempotency_key, read_sending
from utskick.desk.ports import DeskPorts, RegisterFacts
from utskick.jobs.models import Job
from utskick.letters.models import Batch, Letter, LetterEvent, MessageType
from utskick.letters.tables.columns import ColumnMapping
from utskick.migrations import migrate
from utskick.settings import Settings

pytestmark = pytest.mark.storage

SOCIAL = "Socialtjänsten"
HEADER = "Personnummer;Namn;Adress;Postnummer;Ort"


def typed(number):
    return f"{number[:8]}-{number[8:]}"


class Register:
    def facts(self, recipient_id):
        return RegisterFacts(found=True, deceased=recipient_id == HANNA, has_address=True)


class Protection:
    """The register's protected-identity lookup: Eva is protected."""

    def protected(self, recipient_ids):
        return {rid for rid in recipient_ids if rid == EVA}


@pytest.fixture
def engine(empty_engine):
    migrate.upgrade(empty_engine)
    with Session(empty_engine) as session:
        session.add(sender_organisation(EXEMPELKOMMUN))
        session.add(MessageType(code="beslut", name="Beslut", protection_class=2))
        session.commit()
    return empty_engine


@pytest.fixture
def store(tmp_path):
    return MailingStore(tmp_path)


def checked_mailing(store, *lines):
    """A mailing of these rows, checked (FakePrecheck: Tolvan digital, the others paper)."""
    data = "\n".join([HEADER, *lines, ""]).encode("utf-8")
    mailing = store.create(io.BytesIO(data), "lista.csv", Owner(EXEMPELKOMMUN, SOCIAL, "hans"), NOW)
    mailing.mapping = ColumnMapping(
        recipient="Personnummer",
        name="Namn",
        address_lines=("Adress",),
        postal_code="Postnummer",
        city="Ort",
    )
    mailing.subject_template, mailing.body_template = "Beslut till {Namn}", "Hej {Namn}!"
    mailing.message_type, mailing.case_number = "beslut", "SOC 2026-17"
    ports = DeskPorts(
        precheck=FakePrecheck, register=Register, paper=lambda: None, protection=lambda: None
    )
    precheck = MassPrecheck(store, ports, sender_name="Exempelkommun", today=NOW.date())
    precheck.run(mailing, store.take_lock(mailing.id))
    mailing = store.load(mailing.id)
    assert mailing.status == CHECKED
    return mailing


def sender(store, engine, protection=None, chunk=2, stop_at_chunk=None):
    """Sends in chunks of `chunk`; the process "stops" as chunk `stop_at_chunk` asks the
    register about its addresses (a chunk without addresses does not ask)."""
    protection = protection or Protection()
    chunks = itertools.count(1)

    def protection_for_chunk():
        if next(chunks) == stop_at_chunk:
            raise RuntimeError("the process stops here")
        return protection

    return MassSending(
        store,
        session_factory(engine),
        Settings(home=store.root.parent),
        protection_for_chunk,
        clock=lambda: NOW,
        chunk=chunk,
    )


def send(store, engine, mailing, **options):
    lock = store.take_lock(mailing.id)
    sender(store, engine, **options).run(mailing, "web:hans", lock)
    assert not store.working(mailing.id)
    return store.load(mailing.id)


def letters_of(engine, mailing):
    with Session(engine) as session:
        return session.scalars(
            select(Letter).where(Letter.batch_id == mailing.id).order_by(Letter.idempotency_key)
        ).all()


ROWS = (
    f"{typed(TOLVAN)};Tolvan;;;",  # row 2: digital
    f"{typed(DAVID)};David;;;",  # row 3: paper
    "1234;Fel;;;",  # row 4: not sent
    f"{typed(HANNA)};Hanna;;;",  # row 5: deceased, not sent
    f"{typed(EVA)};Eva;Hemliga gatan 1;123 45;Orten",  # row 6: protected, address dropped
)


class TestSending:
    def test_every_row_that_passed_becomes_one_letter_of_the_batch(self, store, engine):
        mailing = checked_mailing(store, *ROWS)
        sent = send(store, engine, mailing)
        letters = letters_of(engine, mailing)
        assert sorted(letter.recipient_id for letter in letters) == sorted([TOLVAN, DAVID, EVA])
        assert {letter.idempotency_key for letter in letters} == {
            idempotency_key(mailing.id, row) for row in (2, 3, 6)
        }
        for letter in letters:
            assert letter.sender_number == EXEMPELKOMMUN
            assert letter.department == SOCIAL
            assert letter.case_number == "SOC 2026-17"
            assert letter.message_type == "beslut"
            assert letter.protection_class == 2
        by_recipient = {letter.recipient_id: letter for letter in letters}
        assert by_recipient[TOLVAN].subject == "Beslut till Tolvan"
        assert by_recipient[TOLVAN].body == "Hej Tolvan!"
        # Eva's address was given in the file, but she has a protected identity.
        assert by_recipient[EVA].postal_address is None
        with Session(engine) as session:
            actors = session.scalars(select(LetterEvent.actor)).all()
            batch = session.get(Batch, mailing.id)
            assert set(actors) == {"web:hans"}
            assert (batch.accepted, batch.rejected) == (3, 0)
            assert batch.completed_at is not None
            assert letter_progress(session, mailing.id).total == 3
        assert sent.status == SENT
        assert (sent.sending.accepted, sent.sending.refused, sent.sending.last_row) == (3, 0, 6)
        assert [row.row_number for row in read_sending(store.path(mailing.id, SENDING_FILE))] == [
            2,
            3,
            6,
        ]

    def test_a_row_the_letter_service_refuses_is_recorded_with_the_reason(self, store, engine):
        person = fresh_personnummer()
        mailing = checked_mailing(
            store, f"{typed(TOLVAN)};Tolvan;;;", f"{person};Ny;Gatan 1;123 45;Ort"
        )

        class RegisterDown(Protection):
            def protected(self, _recipient_ids):
                from utskick.letters.address_screen import ProtectionUnknownError

                raise ProtectionUnknownError("folkbokföringen svarar inte")

        sent = send(store, engine, mailing, protection=RegisterDown())
        rows = list(read_sending(store.path(mailing.id, SENDING_FILE)))
        assert rows[0].letter_id is not None
        assert rows[1].letter_id is None
        assert rows[1].refusal.startswith("Den angivna adressen kan inte tas emot")
        assert (sent.sending.accepted, sent.sending.refused) == (1, 1)
        assert len(letters_of(engine, mailing)) == 1

    def test_a_time_set_on_the_mailing_is_every_letters_not_before(self, store, engine):
        mailing = checked_mailing(store, *ROWS)
        later = NOW + dt.timedelta(days=3)
        mailing.not_before = later.isoformat()
        store.save(mailing)
        send(store, engine, mailing)
        letters = letters_of(engine, mailing)
        assert len(letters) == 3
        assert {letter.not_before.replace(tzinfo=dt.UTC) for letter in letters} == {later}
        with Session(engine) as session:
            run_at = session.scalars(
                select(Job.run_at).where(Job.letter_id.in_([letter.id for letter in letters]))
            ).all()
        assert {moment.replace(tzinfo=dt.UTC) for moment in run_at} == {later}


class TestResuming:
    def test_an_interrupted_sending_continues_where_it_stopped_and_sends_nothing_twice(
        self, store, engine
    ):
        lines = [
            f"{typed(fresh_personnummer())};Person {n};Gatan {n};123 45;Orten" for n in range(7)
        ]
        mailing = checked_mailing(store, *lines)
        # The second chunk stops the run, as a crash would; the first chunk is committed.
        stopped = send(store, engine, mailing, stop_at_chunk=2)
        assert stopped.status == SENDING
        assert stopped.error == STOPPED
        assert store.shown_status(stopped) == INTERRUPTED
        assert stopped.sending.accepted == 2
        assert len(letters_of(engine, mailing)) == 2

        resumed = send(store, engine, stopped)
        letters = letters_of(engine, mailing)
        assert resumed.status == SENT
        assert resumed.error is None
        assert len(letters) == 7
        assert len({letter.recipient_id for letter in letters}) == 7
        assert (resumed.sending.accepted, resumed.sending.refused) == (7, 0)
        record = [row.row_number for row in read_sending(store.path(mailing.id, SENDING_FILE))]
        assert record == list(range(2, 9))

    def test_a_crash_between_the_commit_and_the_record_gives_the_same_letters_back(
        self, store, engine
    ):
        lines = [f"{typed(fresh_personnummer())};Person {n};;;" for n in range(5)]
        mailing = checked_mailing(store, *lines)
        done = send(store, engine, mailing)
        record = store.path(mailing.id, SENDING_FILE)
        first = {row.row_number: row.letter_id for row in read_sending(record)}
        # The process died after the last chunks were committed: the record lost them, and
        # half of a line was written.
        kept = record.read_bytes().splitlines(keepends=True)[:2]
        record.write_bytes(b"".join(kept) + b"4;0f3c")
        done.status = SENDING
        store.save(done)

        again = send(store, engine, done)
        assert {row.row_number: row.letter_id for row in read_sending(record)} == first
        assert len(letters_of(engine, mailing)) == 5
        assert (again.sending.accepted, again.sending.refused, again.status) == (5, 0, SENT)
        with Session(engine) as session:
            batch = session.get(Batch, mailing.id)
            assert (batch.accepted, batch.rejected) == (5, 0)

    def test_sending_a_sent_mailing_again_stores_no_second_letter(self, store, engine):
        mailing = checked_mailing(store, *ROWS)
        done = send(store, engine, mailing)
        store.path(mailing.id, SENDING_FILE).unlink()  # even without the record
        send(store, engine, done)
        assert len(letters_of(engine, mailing)) == 3
        with Session(engine) as session:
            assert session.scalar(select(func.count(Batch.id))) == 1


class TestOutcome:
    def test_every_row_with_what_became_of_it(self, store, engine):
        mailing = checked_mailing(store, *ROWS)
        send(store, engine, mailing)
        data = b"".join(
            outcome_lines(
                store,
                store.load(mailing.id),
                session_factory(engine),
                LocalTimes("Europe/Stockholm"),
            )
        )
        assert data.startswith(codecs.BOM_UTF8)
        lines = [line.split(";") for line in data.decode("utf-8-sig").splitlines()]
        assert lines[0] == ["Rad", "Mottagare", "Brev-id", "Kanal", "Läge", "Orsak", "Tid"]
        by_row = {line[0]: line for line in lines[1:]}
        ids = {letter.recipient_id: letter.id for letter in letters_of(engine, mailing)}
        assert by_row["2"][:5] == ["2", "19121212-1212", ids[TOLVAN], "inte vald än", "mottaget"]
        assert by_row["2"][6] == "2026-11-27 10:00"  # NOW in Stockholm
        assert by_row["4"][2:5] == ["", "", "skickades inte"]
        assert "inget giltigt identitetsnummer" in by_row["4"][5]
        assert by_row["5"][4:6] == ["skickades inte", "Kan inte skickas: avliden"]
        assert by_row["6"][2] == ids[EVA]
        assert len(lines) == 6

    def test_rows_not_handed_over_yet_say_so(self, store, engine):
        mailing = checked_mailing(store, *ROWS)
        data = b"".join(
            outcome_lines(store, mailing, session_factory(engine), LocalTimes("Europe/Stockholm"))
        )
        lines = data.decode("utf-8-sig").splitlines()
        assert lines[1].split(";")[4] == "inte skickat än"


def test_the_key_names_the_mailing_and_the_row():
    mailing_id = str(uuid.uuid4())
    assert idempotency_key(mailing_id, 12) == f"massutskick:{mailing_id}:12"
