"""A batch's chunk of letters is stored in a few statements, and every letter of it fares as it
would have alone: `LetterService.accept_many` against `accept` one letter after the other, and
`BatchIntake.store` around it, on SQLite and PostgreSQL.

Each test works in sending systems of its own on a database of this module (committed, as the
intake commits), so that rows are told apart by the system that wrote them.
"""

import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from support.postgres import postgres_schema_url
from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW, sender_organisation
from utskick.db.engine import create_database_engine, session_factory
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.intake.batch import BatchIntake
from utskick.jobs.models import Job
from utskick.letters.bulk_accept import Accepted, NewLetters
from utskick.letters.inputs import (
    AttachmentInput,
    IdempotencyConflictError,
    LetterInput,
    LetterRejectedError,
)
from utskick.letters.models import Batch, Letter, LetterAttachment, LetterEvent, MessageType
from utskick.letters.service import LetterService
from utskick.migrations import migrate
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings

SETTINGS = Settings(fallback_after_seconds=3600)
PDF = minimal_pdf(2_000)
OTHER_PDF = minimal_pdf(3_000)


def _prepare(engine):
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        session.add(sender_organisation(intermediary=True))
        session.add(MessageType(code="beslut", name="Beslut", protection_class=2))
        session.add(MessageType(code="faktura", name="Faktura", protection_class=1))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request, tmp_path_factory):
    """A migrated database of each kind with one sender and two message types."""
    if request.param == "sqlite":
        engine = create_database_engine(f"sqlite:///{tmp_path_factory.mktemp('bulk') / 'u.db'}")
        _prepare(engine)
        yield engine
        engine.dispose()
        return
    with postgres_schema_url("utskick_bulk") as url:
        engine = create_database_engine(url)
        _prepare(engine)
        yield engine
        engine.dispose()


@pytest.fixture
def sessions(engine):
    return session_factory(engine)


@pytest.fixture
def new_system(sessions):
    """A sending system of the test's own (with a webhook if asked), detached."""

    def create(*, webhook=False):
        with sessions() as session:
            system = create_sending_system(
                session,
                name=f"system-{uuid.uuid4().hex[:8]}",
                sender_numbers=[EXEMPELKOMMUN],
                now=NOW,
                webhook_url="https://arende.example.se/hook" if webhook else None,
            )
            session.commit()
            return system

    return create


def _letter(**changes):
    fields = {
        "sender": "202100-4748",
        "recipient": "19121212-1212",
        "subject": "Beslut om bygglov",
        "body": "Hej! Här kommer beslutet.",
        "protection_class": 2,
    }
    fields.update(changes)
    return LetterInput(**fields)


ATTACHMENTS = (
    AttachmentInput("beslut.pdf", PDF),
    AttachmentInput("bilaga.pdf", OTHER_PDF, channel="paper"),
)
ADDRESS = {"name": "Tolvan Tolvansson", "lines": ["Storgatan 1"], "postal_code": "123 45",
           "city": "Staden", "country": "SE"}  # fmt: skip


def _chunk():
    """Letters of every kind a chunk meets, with the keys `k0` (stored before) and others."""
    return [
        _letter(idempotency_key="k1"),
        _letter(idempotency_key="k0"),  # a replay of the letter stored before
        _letter(idempotency_key="k0", subject="Ett annat beslut"),  # conflict with it
        _letter(idempotency_key="k2", attachments=ATTACHMENTS),
        _letter(idempotency_key="k2", attachments=ATTACHMENTS),  # replay within the chunk
        _letter(idempotency_key="k2", attachments=ATTACHMENTS[:1]),  # conflict within it
        _letter(idempotency_key="k3", protection_class=4),  # refused: leaves the key unused
        _letter(idempotency_key="k3", recipient="19661109-0827"),
        _letter(idempotency_key=" "),  # refused key
        _letter(),  # no key: its own id
        _letter(),
        _letter(
            idempotency_key="k4",
            message_type="beslut",
            protection_class=None,
            policy="digital-only",
            case_number="BN 2026/1",
            reference="ref-1",
            eservice_url="https://e.example.se/arende/1",
            support_text="Frågor? Ring Anna på 0771-00 00 00.",
            department="Bygglov",
        ),
        _letter(idempotency_key="k5", message_type="okänd", protection_class=None),
        _letter(idempotency_key="k6", sender=GRANNKOMMUN),  # not a sender in Utskick
        _letter(idempotency_key="k7", postal_address=ADDRESS, address_screened=True),
        _letter(idempotency_key="k8", postal_address=ADDRESS),  # not screened: refused
        _letter(idempotency_key="k1"),  # a replay of the chunk's first letter
    ]


class _Names:
    """Letter ids named in the order they first appear, so that two runs can be compared."""

    def __init__(self):
        self.names = {}

    def of(self, letter_id):
        return self.names.setdefault(letter_id, f"L{len(self.names)}")

    def outcome(self, result):
        if isinstance(result, LetterRejectedError):
            message = result.message
            if isinstance(result, IdempotencyConflictError):
                message = message.replace(result.letter_id, self.of(result.letter_id))
            return ("refused", result.field, message)
        letter_id, created = result
        return ("created" if created else "replayed", self.of(letter_id))


def _one_at_a_time(sessions, system, letters, names):
    """The letters through `accept`, one after the other in one transaction (as before)."""
    outcomes = []
    with sessions() as session:
        service = LetterService(session, SETTINGS, clock=lambda: NOW)
        for letter in letters:
            try:
                stored, created = service.accept(system, letter, actor="cli")
            except LetterRejectedError as error:
                outcomes.append(names.outcome(error))
            else:
                outcomes.append(names.outcome((stored.id, created)))
        session.commit()
    return outcomes


def _in_one_chunk(sessions, system, letters, names):
    with sessions() as session:
        results = LetterService(session, SETTINGS, clock=lambda: NOW).accept_many(
            system, letters, actor="cli"
        )
        session.commit()
    return [
        names.outcome(r if isinstance(r, LetterRejectedError) else (r.letter_id, r.created))
        for r in results
    ]


def _stored_before(sessions, system, names):
    with sessions() as session:
        stored, _ = LetterService(session, SETTINGS, clock=lambda: NOW).accept(
            system, _letter(idempotency_key="k0"), actor="cli"
        )
        session.commit()
    names.of(stored.id)


def _rows(engine, names):
    """Every row the letters named wrote, as read back, with ids replaced by the names."""
    ids = list(names.names)
    with engine.connect() as connection:
        letters = sorted(
            (
                {
                    **row,
                    "id": names.names[row["id"]],
                    "idempotency_key": (
                        "(own id)"
                        if row["idempotency_key"] == row["id"]
                        else row["idempotency_key"]
                    ),
                    "sending_system_id": None,
                    "message_id": len(row["message_id"]),
                }
                for row in connection.execute(
                    select(Letter.__table__).where(Letter.id.in_(ids))
                ).mappings()
            ),
            key=lambda row: row["id"],
        )
        attachments = sorted(
            (
                {**row, "id": None, "letter_id": names.names[row["letter_id"]]}
                for row in connection.execute(
                    select(LetterAttachment.__table__).where(LetterAttachment.letter_id.in_(ids))
                ).mappings()
            ),
            key=lambda row: (row["letter_id"], row["position"]),
        )
        events = list(
            connection.execute(
                select(LetterEvent.__table__)
                .where(LetterEvent.letter_id.in_(ids))
                .order_by(LetterEvent.id)
            ).mappings()
        )
        letter_of_event = {row["event_id"]: names.names[row["letter_id"]] for row in events}
        jobs = [
            {
                **row,
                "id": None,
                "letter_id": names.names[row["letter_id"]],
                "payload": row["payload"]
                and {"event_of": letter_of_event[row["payload"]["event_id"]]},
            }
            for row in connection.execute(
                select(Job.__table__).where(Job.letter_id.in_(ids)).order_by(Job.id)
            ).mappings()
        ]
    events = [
        {**row, "id": None, "event_id": None, "letter_id": names.names[row["letter_id"]]}
        for row in events
    ]
    return {"letter": letters, "attachment": attachments, "event": events, "job": jobs}


@pytest.mark.parametrize("webhook", [False, True], ids=["no-webhook", "webhook"])
def test_a_chunk_fares_and_is_stored_as_its_letters_one_after_the_other(
    engine, sessions, new_system, webhook
):
    alone, chunked = new_system(webhook=webhook), new_system(webhook=webhook)
    alone_names, chunk_names = _Names(), _Names()
    _stored_before(sessions, alone, alone_names)
    _stored_before(sessions, chunked, chunk_names)

    expected = _one_at_a_time(sessions, alone, _chunk(), alone_names)
    outcomes = _in_one_chunk(sessions, chunked, _chunk(), chunk_names)

    assert outcomes == expected
    kinds = [outcome[0] for outcome in outcomes]
    assert (kinds.count("created"), kinds.count("replayed"), kinds.count("refused")) == (7, 3, 7)
    stored = _rows(engine, chunk_names)
    assert stored == _rows(engine, alone_names)
    assert len(stored["letter"]) == 8  # the one stored before and the seven created
    assert len(stored["attachment"]) == 2
    assert [job["kind"] for job in stored["job"]].count("webhook") == (8 if webhook else 0)


def test_a_chunk_of_refused_letters_leaves_nothing_behind(sessions, new_system):
    system = new_system(webhook=True)
    refused = [
        _letter(protection_class=4),
        _letter(idempotency_key="k", recipient="19121212-1213"),
        _letter(message_type="okänd", protection_class=None, attachments=ATTACHMENTS),
    ]
    before = _table_counts(sessions)

    with sessions() as session:
        results = LetterService(session, SETTINGS).accept_many(system, refused, actor="cli")
        session.commit()

    assert [(type(r), r.field) for r in results] == [
        (LetterRejectedError, "protection_class"),
        (LetterRejectedError, "recipient"),
        (LetterRejectedError, "message_type"),
    ]
    assert _table_counts(sessions) == before


def _table_counts(sessions):
    with sessions() as session:
        return {
            model.__tablename__: session.scalar(_count(model))
            for model in (Letter, LetterAttachment, LetterEvent, Job)
        }


def _count(model):
    return select(func.count()).select_from(model)


@pytest.mark.parametrize(
    ("changes", "conflict"),
    [({}, False), ({"subject": "Ett annat beslut"}, True), ({"case_number": "BN 9"}, True)],
    ids=["same-content", "other-subject", "other-case"],
)
def test_a_letter_stored_before_fingerprints_is_compared_on_its_row(
    sessions, new_system, changes, conflict
):
    system = new_system()
    with sessions() as session:
        old, _ = LetterService(session, SETTINGS).accept(
            system, _letter(idempotency_key="gammal", attachments=ATTACHMENTS), actor="cli"
        )
        session.flush()
        # As migrated: the fingerprint column is new and empty, the body removed after delivery.
        session.execute(
            update(Letter).where(Letter.id == old.id).values(request_fingerprint=None, body=None)
        )
        session.commit()

    again = _letter(idempotency_key="gammal", attachments=ATTACHMENTS, **changes)
    with sessions() as session:
        [result] = LetterService(session, SETTINGS).accept_many(system, [again], actor="cli")
        session.commit()

    if conflict:
        assert isinstance(result, IdempotencyConflictError)
        assert result.letter_id == old.id
    else:
        assert result == Accepted(old.id, created=False)


def _intake(sessions, system):
    intake = BatchIntake(sessions, SETTINGS, system, protection=lambda: None, actor="cli")
    intake.start()
    return intake


def test_a_chunk_counts_its_lines_and_stores_only_the_good_ones(sessions, new_system):
    system = new_system()
    intake = _intake(sessions, system)
    lines = [
        (1, _letter(idempotency_key="a")),
        (2, LetterRejectedError("(rad)", "raden är inget brev i JSON")),
        (4, _letter(idempotency_key="a")),
        (5, _letter(recipient="19121212-1213")),
        (6, _letter(idempotency_key="b", attachments=ATTACHMENTS)),
        (8, _letter(idempotency_key="b", subject="Annat")),
    ]

    intake.store(lines)

    assert (intake.accepted, intake.replayed, intake.rejected) == (3, 1, 3)
    assert [(r.line, r.field) for r in intake.rejections] == [
        (2, "(rad)"),
        (5, "recipient"),
        (8, "idempotency_key"),
    ]
    with sessions() as session:
        batch = session.get(Batch, intake.batch_id)
        assert (batch.accepted, batch.rejected) == (3, 3)
        assert [r["line"] for r in batch.rejections] == [2, 5, 8]
        batch_letters = _count(Letter).where(Letter.batch_id == intake.batch_id)
        assert session.scalar(batch_letters) == 2
        assert session.scalar(_count(Letter).where(Letter.sending_system_id == system.id)) == 2

    intake.store(lines)  # the same lines again: every good one is a replay, nothing new

    assert (intake.accepted, intake.replayed, intake.rejected) == (6, 4, 6)
    with sessions() as session:
        assert session.scalar(_count(Letter).where(Letter.sending_system_id == system.id)) == 2


@pytest.mark.parametrize("same_content", [True, False], ids=["same", "other"])
def test_a_key_another_submitter_stores_meanwhile_is_found_when_the_chunk_is_retried(
    sessions, new_system, monkeypatch, same_content
):
    system = new_system()
    intake = _intake(sessions, system)
    original_write = NewLetters.write
    raced = []

    def write_after_another_submitter(self, session):
        if not raced:
            raced.append(True)
            with sessions() as other:
                theirs = _letter(idempotency_key="race", subject="Beslut" if same_content else "X")
                LetterService(other, SETTINGS).accept(system, theirs, actor="api:annat")
                other.commit()
        return original_write(self, session)

    monkeypatch.setattr(NewLetters, "write", write_after_another_submitter)
    ours = _letter(idempotency_key="race", subject="Beslut")

    intake.store([(1, ours), (2, _letter(idempotency_key="own"))])

    assert raced
    if same_content:
        assert (intake.accepted, intake.replayed, intake.rejected) == (2, 1, 0)
    else:
        assert (intake.accepted, intake.rejected) == (1, 1)
        assert intake.rejections[0].message.startswith("idempotensnyckeln 'race' har redan")
    with sessions() as session:
        keys = session.scalars(
            select(Letter.idempotency_key).where(Letter.sending_system_id == system.id)
        )
        assert sorted(keys) == ["own", "race"]


@contextmanager
def _driver_calls(engine):
    calls = []

    def count(_connection, _cursor, statement, *_rest):
        calls.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield calls
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _varied_lines(count):
    """Letters of several shapes: keys, attachments, message types, refusals, repeated keys."""
    lines = []
    for number in range(1, count + 1):
        changes = {"idempotency_key": f"nyckel-{number}", "subject": f"Beslut {number}"}
        if number % 5 == 0:
            changes["attachments"] = ATTACHMENTS[:1]
        if number % 7 == 0:
            changes.update(
                message_type="beslut" if number % 2 else "faktura", protection_class=None
            )
        if number % 11 == 0:
            changes["protection_class"] = 4
        if number % 13 == 0:
            changes["idempotency_key"] = "nyckel-1"  # a replay or a conflict of the first
        if number % 17 == 0:
            changes["reference"] = f"ref-{number}"
        lines.append((number, _letter(**changes)))
    return lines


def test_a_chunk_takes_the_same_few_statements_whatever_its_size(engine, sessions, new_system):
    statements = {}
    for size in (50, 500):
        intake = _intake(sessions, new_system(webhook=True))
        lines = _varied_lines(size)
        with _driver_calls(engine) as calls:
            intake.store(lines)
        statements[size] = len(calls)
        assert intake.accepted + intake.rejected == size
        assert intake.accepted > size * 0.8

    # Keys, sender, two message types, webhooks, the batch; letters, attachments, events,
    # jobs, the letters' state, the batch's counts.
    assert statements[500] == statements[50] <= 12, statements
