"""Sending a checked mass mailing: every row that passed becomes a letter of one batch.

The rows are read again from the stored table (the same check as the precheck, so the same
subject and text) beside the precheck file, which says which rows to send. The rows are stored
as every batch of letters is (`utskick.letters.batch_store.BatchStore`), from the desk's
sending system of the organisation, in a batch (`letters.Batch`) whose id is the mailing's: a
chunk of rows is screened against the population register first (outside any transaction: an
address given for a person with protected identity is never stored), then checked and stored
in one transaction of a few statements; only then is each row's outcome appended to the
mailing's sending record and the counts saved. A time set on the mailing ("skicka tidigast")
is every letter's `not_before`.

Every letter carries the idempotency key `massutskick:<mailing>:<row>`. A mailing that was
interrupted (the process stopped between a commit and the record) is continued from the
last recorded row: a row whose letter was committed already gets that letter back from the
letter service instead of a second one, so no row is ever sent twice.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from utskick.desk.mass_mailing import (
    PRECHECK_FILE,
    SENDING,
    SENDING_FILE,
    SENT,
    TABLE_FILE,
    MailingStore,
    MassMailing,
    WorkLock,
    appending,
)
from utskick.desk.mass_precheck import RowOutcome, csv_line, read_precheck
from utskick.desk.mass_rows import RowCheck, check_rows
from utskick.desk.mass_template import Template
from utskick.desk.sending import desk_sending_system
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.letters.batch_store import BatchStore, ReadLine
from utskick.letters.inputs import LetterInput, LetterRejectedError
from utskick.letters.models import Letter
from utskick.letters.service import utc_now
from utskick.letters.tables.reading import TableRefusedError, read_table
from utskick.senders.models import SendingSystem
from utskick.settings import Settings

# Rows stored in one transaction, as a batch from the API stores its lines.
SEND_CHUNK = 500
STOPPED = (
    "Sändningen avbröts av ett oväntat fel. Inget brev skickas två gånger: fortsätt när felet "
    "är åtgärdat, så skickas de rader som återstår."
)

_log = logging.getLogger(__name__)


def idempotency_key(mailing_id: str, row_number: int) -> str:
    """The key of a row's letter: the same on every attempt, so a row is sent once."""
    return f"massutskick:{mailing_id}:{row_number}"


@dataclass(frozen=True, slots=True)
class SentRow:
    """A row handed to the letter service: its letter, or why it was refused."""

    row_number: int
    letter_id: str | None
    refusal: str | None


def read_sending(path: Path) -> Iterator[SentRow]:
    """The rows of a sending record, in order (none when there is no record yet).

    A line is written whole or not at all as far as a reader knows: a last line without its
    end (being written now, or cut off by a crash) is not read.
    """
    if not path.exists():
        return
    with path.open("rb") as stream:
        for line in stream:
            if not line.endswith(b"\n"):
                return
            [[row_number, letter_id, refusal]] = csv.reader([line.decode("utf-8")], delimiter=";")
            yield SentRow(int(row_number), letter_id or None, refusal or None)


def _complete_record(path: Path) -> None:
    """Cut a record back to its last whole line (a crash may have left half a line)."""
    if not path.exists():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with path.open("r+b") as stream:
            stream.truncate(end)


class MassSending:
    """Sends one checked mailing, in the thread that holds its work lock."""

    def __init__(
        self,
        store: MailingStore,
        sessions: sessionmaker[Session],
        settings: Settings,
        protection: Callable[[], ProtectedIdentityLookup | None],
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        chunk: int = SEND_CHUNK,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.settings = settings
        self.protection = protection
        self.clock = clock
        self.chunk = chunk

    def run(self, mailing: MassMailing, actor: str, lock: WorkLock) -> None:
        """Send every row that passed (continuing after the last recorded one); release."""
        try:
            self.send(mailing, actor)
        except LetterRejectedError as error:
            # The organisation cannot send from the desk (no sender, or a system's name taken).
            mailing.error = error.message[:1].upper() + error.message[1:]
            self.store.save(mailing)
        except Exception:  # noqa: BLE001 (a thread's failure is logged and shown, never lost)
            _log.exception("the sending of mass mailing %s stopped", mailing.id)
            mailing.error = STOPPED
            self.store.save(mailing)
        finally:
            lock.release()

    def send(self, mailing: MassMailing, actor: str) -> None:
        """Send the rows not yet recorded; the mailing ends `sent`.

        Raises:
            TableRefusedError: the stored table cannot be read (it could when checked).
            SQLAlchemyError: the database failed; the rows recorded so far stay sent.
        """
        record = self.store.path(mailing.id, SENDING_FILE)
        _complete_record(record)
        self._resume_counts(mailing, record)
        mailing.status = SENDING
        mailing.error = None
        mailing.sending.started_at = mailing.sending.started_at or self.clock().isoformat()
        self.store.save(mailing)
        batch = self._batch_store(mailing, actor)
        pending: list[tuple[int, ReadLine]] = []
        for check, outcome in self._rows(mailing):
            if check.row_number <= mailing.sending.last_row or not outcome.sendable:
                continue
            pending.append((check.row_number, self._letter(mailing, check)))
            if len(pending) >= self.chunk:
                self._store_chunk(mailing, batch, pending, record)
                pending = []
        if pending:
            self._store_chunk(mailing, batch, pending, record)
        batch.finish()
        mailing.status = SENT
        mailing.sending.finished_at = self.clock().isoformat()
        self.store.save(mailing)

    def _resume_counts(self, mailing: MassMailing, record: Path) -> None:
        """The counts as the record has them (the record is the truth after a crash)."""
        counts = mailing.sending
        counts.accepted = counts.refused = counts.last_row = 0
        for sent in read_sending(record):
            counts.last_row = sent.row_number
            if sent.letter_id is not None:
                counts.accepted += 1
            else:
                counts.refused += 1
        counts.to_send = mailing.precheck.to_send

    def _rows(self, mailing: MassMailing) -> Iterator[tuple[RowCheck, RowOutcome]]:
        """Each row checked again, beside its precheck outcome."""
        assert mailing.mapping is not None
        table = read_table(self.store.path(mailing.id, TABLE_FILE))
        subject = (
            Template.parse(mailing.subject_template, table.columns)
            if mailing.subject_template.strip()
            else None
        )
        body = Template.parse(mailing.body_template, table.columns)
        today = dt.date.fromisoformat(mailing.created_at[:10])
        if mailing.precheck.finished_at:
            today = dt.date.fromisoformat(mailing.precheck.finished_at[:10])
        checks = check_rows(table, mailing.mapping, subject, body, today)
        with self.store.path(mailing.id, PRECHECK_FILE).open("rb") as stream:
            for check, outcome in zip(checks, read_precheck(stream), strict=True):
                if check.row_number != outcome.row_number:
                    raise TableRefusedError(
                        f"Filen har ändrats sedan kontrollen (rad {check.row_number}); "
                        "kontrollera mottagarna igen"
                    )
                yield check, outcome

    @staticmethod
    def _letter(mailing: MassMailing, check: RowCheck) -> LetterInput:
        """The row's letter, from the mailing's organisation and department."""
        assert check.recipient_id is not None
        return LetterInput(
            sender=mailing.organisation_number,
            recipient=check.recipient_id,
            subject=check.subject,
            body=check.body,
            message_type=mailing.message_type,
            department=mailing.department,
            case_number=mailing.case_number,
            idempotency_key=idempotency_key(mailing.id, check.row_number),
            postal_address=check.postal_address,
            not_before=(
                dt.datetime.fromisoformat(mailing.not_before) if mailing.not_before else None
            ),
        )

    def _batch_store(self, mailing: MassMailing, actor: str) -> BatchStore:
        """The mailing's batch, continued from the counts of its record (made if not there)."""
        batch = BatchStore(
            self.sessions,
            self.settings,
            self._desk_system(mailing),
            protection=self.protection,
            actor=actor,
            batch_id=mailing.id,
            clock=self.clock,
            accepted=mailing.sending.accepted,
            rejected=mailing.sending.refused,
        )
        batch.start()
        return batch

    def _desk_system(self, mailing: MassMailing) -> SendingSystem:
        """The desk's sending system of the mailing's organisation (made on first use)."""
        for attempt in range(2):
            with self.sessions() as session:
                try:
                    system = desk_sending_system(session, mailing.organisation_number, self.clock())
                    session.commit()
                except IntegrityError:
                    # The organisation's first letter from the desk, stored a moment ago.
                    session.rollback()
                    if attempt:
                        raise
                    continue
            return system
        raise AssertionError("unreachable")  # pragma: no cover

    def _store_chunk(
        self,
        mailing: MassMailing,
        batch: BatchStore,
        chunk: Sequence[tuple[int, ReadLine]],
        record: Path,
    ) -> None:
        """Store one chunk; then record each row's outcome and save the counts."""
        stored = batch.store(chunk)
        with appending(record) as stream:
            for row in stored:
                refusal = row.rejection.message if row.rejection is not None else ""
                stream.write(
                    csv_line((row.line, row.letter_id or "", refusal[:1].upper() + refusal[1:]))
                )
            stream.flush()
            os.fsync(stream.fileno())
        mailing.sending.accepted = batch.accepted
        mailing.sending.refused = batch.rejected
        mailing.sending.last_row = stored[-1].line
        self.store.save(mailing)


@dataclass(frozen=True)
class LetterFacts:
    """What the outcome download shows of one letter."""

    letter_id: str
    state: str
    channel: str | None
    reason: str | None
    updated_at: dt.datetime


class MassLetters:
    """The queries on a mailing's letters (its batch's); the caller's session reads."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def counts(self, batch_id: str) -> dict[tuple[str, str | None], int]:
        """How many of the batch's letters are in each state, on each channel."""
        rows = self.session.execute(
            select(Letter.state, Letter.channel, func.count(Letter.id))
            .where(Letter.batch_id == batch_id)
            .group_by(Letter.state, Letter.channel)
        )
        return {(str(state), channel): int(count) for state, channel, count in rows}

    def facts(self, batch_id: str, letter_ids: Sequence[str]) -> dict[str, LetterFacts]:
        """The state of each of these letters of the batch, by id."""
        rows = self.session.execute(
            select(Letter.id, Letter.state, Letter.channel, Letter.reason, Letter.updated_at).where(
                Letter.batch_id == batch_id, Letter.id.in_(list(letter_ids))
            )
        )
        return {row[0]: LetterFacts(*row) for row in rows}
