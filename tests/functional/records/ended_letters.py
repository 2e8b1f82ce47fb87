"""Letters that have ended and become records, for the records tests (no network).

A letter is stored as the intake stores it, goes through the events a real letter goes
through (classified, then delivered digitally or handed to print with its print item), and
is then kept as a record by the real `record` job's work (`records.intake.record_letters`)
under the demo's rules. Two sending systems send them: one that keeps its own records (its
delivered letters lose their content at delivery) and the desk's, which keeps none (Utskick
keeps the content).

`savepoint_sessions` gives code that commits batch by batch (disposal, the daily job) a
session factory inside a transaction that the test rolls back, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from contextlib import contextmanager

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW, sender_organisation
from utskick.letters import events, vocabulary
from utskick.letters.models import Letter, LetterAttachment, MessageType
from utskick.printing.models import PrintItem
from utskick.records.intake import record_letters
from utskick.records.rules import seed_demo_rules
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.settings import Settings

PDF = b"%PDF-1.7\n% a test attachment\n%%EOF\n"
_serial = itertools.count(1)


@contextmanager
def savepoint_sessions(engine):
    """A session factory whose commits stay inside one transaction, rolled back at the end.

    Yields (factory, connection): listen for statements on the connection.
    """
    connection = engine.connect()
    transaction = connection.begin()
    if engine.dialect.name == "sqlite":
        # Python's sqlite3 opens a transaction only before a data change, so the first
        # SAVEPOINT would open (and its RELEASE commit) a transaction of its own: open the
        # outer one now, for the rollback at the end to undo everything.
        connection.exec_driver_sql("BEGIN")
    factory = sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield factory, connection
    finally:
        transaction.rollback()
        connection.close()


class Systems:
    """The ids of the two sending systems: `archiving` keeps records, `desk` keeps none."""

    def __init__(self, archiving: str, desk: str) -> None:
        self.archiving = archiving
        self.desk = desk


def prepare_world(session: Session) -> Systems:
    """Both demo senders, the demo's message types and rules, and two sending systems."""
    for number in (EXEMPELKOMMUN, GRANNKOMMUN):
        exists = session.scalar(
            select(SenderOrganisation).where(SenderOrganisation.organisation_number == number)
        )
        if exists is None:
            session.add(sender_organisation(number))
    for code, name in (
        ("beslut", "Beslut"),
        ("faktura", "Faktura"),
        ("information", "Information"),
        ("kallelse", "Kallelse"),
    ):
        if session.get(MessageType, code) is None:
            session.add(MessageType(code=code, name=name, protection_class=2))
    seed_demo_rules(session, NOW)
    systems = []
    for keeps_records in (True, False):
        system_id = str(uuid.uuid4())
        session.add(
            SendingSystem(
                id=system_id,
                name=f"{'Ekonomisystemet' if keeps_records else 'Handläggarwebben'} "
                f"{system_id[:8]}",
                sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN],
                departments=None,
                keeps_records=keeps_records,
                created_at=NOW,
            )
        )
        systems.append(system_id)
    session.flush()
    return Systems(*systems)


def ended_letter(
    session: Session,
    system_id: str,
    *,
    message_type: str | None = "information",
    sender: str = EXEMPELKOMMUN,
    ended_at: dt.datetime = NOW,
    paper: bool = False,
    state: str | None = None,
    case_number: str | None = None,
    attachments: int = 1,
) -> Letter:
    """A letter that went out (digitally, or to print with `paper`) and ended at `ended_at`.

    `state` gives another ending (failed, cancelled …). The record is not made yet: see
    `make_records`.
    """
    number = next(_serial)
    letter_id = str(uuid.uuid4())
    received = ended_at - dt.timedelta(minutes=5)
    letter = Letter(
        id=letter_id,
        sending_system_id=system_id,
        idempotency_key=letter_id,
        sender_number=sender,
        department="Byggnadsnämnden",
        recipient_id="191212121212",
        subject=f"Brev nummer {number}",
        body_type="text/plain",
        body=f"Hej!\n\nDetta är brev nummer {number}.",
        protection_class=2,
        message_type=message_type,
        policy=vocabulary.PAPER_ONLY if paper else vocabulary.DIGITAL_OR_PAPER,
        case_number=case_number,
        message_id=uuid.uuid4().hex,
        created_at=received,
        state=vocabulary.RECEIVED,
        updated_at=received,
    )
    session.add(letter)
    session.flush()
    for position in range(1, attachments + 1):
        session.add(
            LetterAttachment(
                letter_id=letter_id,
                position=position,
                filename=f"bilaga-{position}.pdf",
                content_type="application/pdf",
                channel="both",
                size=len(PDF),
                sha256="0" * 64,
                content=PDF,
            )
        )
    channel = "paper" if paper else "digital"
    events.record(session, letter, vocabulary.CLASSIFIED, actor="test", now=received,
                  channel=channel, reason="reachable")  # fmt: skip
    if paper:
        events.record(session, letter, vocabulary.PAPER, actor="test", now=received)
        session.add(PrintItem(letter_id=letter_id, part="letter", address=["Tolvan Tolvansson"],
                              protected=False, created_at=received))  # fmt: skip
    ending = state or (vocabulary.HANDED_TO_PRINT if paper else vocabulary.DELIVERED)
    events.record(session, letter, ending, actor="test", now=ended_at)
    session.flush()
    return letter


def make_records(session: Session, letters, *, settings: Settings | None = None, now=None):
    """Keep the letters as records, as the worker's `record` jobs do."""
    return record_letters(
        session,
        [letter.id for letter in letters],
        settings=settings or Settings(),
        now=now or NOW,
    )


def at(day: str, hour: int = 9) -> dt.datetime:
    """A moment on a day (YYYY-MM-DD), in UTC."""
    return dt.datetime.combine(dt.date.fromisoformat(day), dt.time(hour), tzinfo=dt.UTC)
