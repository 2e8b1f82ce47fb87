"""Sending a checked mass mailing: every row that passed becomes a letter of one batch.

The rows are read again from the stored table (the same check as the precheck, so the same
subject and text) beside the precheck file, which says which rows to send. Each row is handed
to the letter service like any letter, from the desk's sending system of the organisation,
in a batch (`letters.Batch`) whose id is the mailing's. A chunk of rows is screened against
the population register first (outside any transaction: an address given for a person with
protected identity is never stored), then accepted and committed in one transaction; only
then is each row's outcome appended to the mailing's sending record and the counts saved.

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

from utskick.desk.mass_input import TableRefusedError, read_table
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
from utskick.letters.address_screen import ProtectedIdentityLookup, screen_addresses
from utskick.letters.inputs import LetterInput, LetterRejectedError
from utskick.letters.models import Batch, Letter
from utskick.letters.service import LetterService, utc_now
from utskick.senders.models import SendingSystem
from utskick.senders.repository import SendingSystemRepository
from utskick.settings import Settings

SEND_CHUNK = 200
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
        system_id = self._start_batch(mailing)
        pending: list[tuple[int, LetterInput]] = []
        for check, outcome in self._rows(mailing):
            if check.row_number <= mailing.sending.last_row or not outcome.sendable:
                continue
            pending.append((check.row_number, self._letter(mailing, check)))
            if len(pending) >= self.chunk:
                self._store_chunk(mailing, system_id, pending, actor, record)
                pending = []
        if pending:
            self._store_chunk(mailing, system_id, pending, actor, record)
        self._finish(mailing)

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
        )

    def _start_batch(self, mailing: MassMailing) -> str:
        """The desk's sending system's id; its batch for the mailing made if not yet there."""
        for attempt in range(2):
            with self.sessions() as session:
                try:
                    system = desk_sending_system(session, mailing.organisation_number, self.clock())
                    if session.get(Batch, mailing.id) is None:
                        session.add(
                            Batch(
                                id=mailing.id,
                                sending_system_id=system.id,
                                created_at=self.clock(),
                                accepted=0,
                                rejected=0,
                                rejections=[],
                            )
                        )
                    system_id = system.id
                    session.commit()
                except IntegrityError:
                    # The organisation's first letter from the desk, stored a moment ago.
                    session.rollback()
                    if attempt:
                        raise
                    continue
            return system_id
        raise AssertionError("unreachable")  # pragma: no cover

    def _store_chunk(
        self,
        mailing: MassMailing,
        system_id: str,
        chunk: Sequence[tuple[int, LetterInput]],
        actor: str,
        record: Path,
    ) -> None:
        """Screen, accept and commit one chunk; then record it and save the counts."""
        screened = screen_addresses([letter for _row, letter in chunk], self.protection())
        letters = list(zip((row for row, _letter in chunk), screened.letters, strict=True))
        try:
            sent = self._accept(mailing, system_id, letters, actor)
        except IntegrityError:
            # Another transaction stored one of these keys a moment ago (a second process
            # continuing the same mailing); the second attempt gets its letters back.
            sent = self._accept(mailing, system_id, letters, actor)
        with appending(record) as stream:
            for row in sent:
                stream.write(csv_line((row.row_number, row.letter_id or "", row.refusal or "")))
            stream.flush()
            os.fsync(stream.fileno())
        self.store.save(mailing)

    def _accept(
        self,
        mailing: MassMailing,
        system_id: str,
        letters: Sequence[tuple[int, LetterInput]],
        actor: str,
    ) -> list[SentRow]:
        """Accept the letters in one transaction; the mailing's counts follow the commit."""
        sent: list[SentRow] = []
        with self.sessions() as session:
            system = SendingSystemRepository(session).get(system_id)
            assert system is not None
            service = LetterService(session, self.settings, self.clock)
            for row_number, letter in letters:
                sent.append(
                    self._accept_one(
                        service,
                        system=system,
                        row_number=row_number,
                        letter=letter,
                        actor=actor,
                        batch_id=mailing.id,
                    )
                )
            accepted = sum(row.letter_id is not None for row in sent)
            batch = session.get(Batch, mailing.id)
            assert batch is not None
            batch.accepted = mailing.sending.accepted + accepted
            batch.rejected = mailing.sending.refused + len(sent) - accepted
            session.commit()
        mailing.sending.accepted += accepted
        mailing.sending.refused += len(sent) - accepted
        mailing.sending.last_row = sent[-1].row_number
        return sent

    @staticmethod
    def _accept_one(
        service: LetterService,
        *,
        system: SendingSystem,
        row_number: int,
        letter: LetterInput,
        actor: str,
        batch_id: str,
    ) -> SentRow:
        try:
            stored, _created = service.accept(system, letter, actor=actor, batch_id=batch_id)
        except LetterRejectedError as error:
            return SentRow(row_number, None, error.message[:1].upper() + error.message[1:])
        return SentRow(row_number, stored.id, None)

    def _finish(self, mailing: MassMailing) -> None:
        with self.sessions() as session:
            batch = session.get(Batch, mailing.id)
            if batch is not None and batch.completed_at is None:
                batch.completed_at = self.clock()
                session.commit()
        mailing.status = SENT
        mailing.sending.finished_at = self.clock().isoformat()
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
