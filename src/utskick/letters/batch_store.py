"""A batch of letters stored a chunk at a time: the record of the batch, its counts, its refusals.

Every way many letters come in at once stores them here: the API's and the command line's
batches (NDJSON or a table), the watched folders' tables and the desk's mass mailing. The ways
in read their lines or rows into letters (or into why a line is no letter) and hand them over
in chunks; `BatchStore` records the batch (`letters.Batch`), asks the population register
about the chunk's addresses (outside the transaction, in one call), then checks and stores the
chunk in one transaction of a few statements (`LetterService.accept_many`). Good letters are
accepted whatever the bad ones hold; each refusal is kept with its line or row number. A chunk
that loses a race for an idempotency key (another submitter stored it a moment ago) is stored
once more, and then finds the letter stored.

Each call is its own unit of work (it opens a session from `sessions` and commits), so that a
caller may make each call from another thread.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from utskick.letters.address_screen import ProtectedIdentityLookup, screen_addresses
from utskick.letters.inputs import LetterInput, LetterRejectedError
from utskick.letters.models import Batch
from utskick.letters.repository import LetterRepository
from utskick.letters.service import LetterService, utc_now
from utskick.senders.models import SendingSystem
from utskick.settings import Settings

# The batch keeps this many refused lines with their reasons; the count covers them all.
STORED_REJECTIONS = 1000

# A line (or row) as read: its letter, or why it is refused.
ReadLine = LetterInput | LetterRejectedError


@dataclass(frozen=True)
class LineRejection:
    """A line of a batch that was not accepted: its number, the field and what is wrong."""

    line: int
    field: str
    message: str

    def as_row(self) -> dict[str, object]:
        """The rejection as the batch stores it."""
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class StoredLine:
    """What became of one line of a stored chunk: its letter, or why it was refused."""

    line: int
    letter_id: str | None
    # Whether the letter was created now (False: a replay of a known idempotency key).
    created: bool = False
    rejection: LineRejection | None = None


def _same_name(field: str) -> str:
    return field


@dataclass
class BatchStore:
    """One batch as it is stored: started, a chunk of lines at a time, then finished.

    `accepted`, `replayed` and `rejected` count every line stored by this store; a store that
    continues a batch (the desk's mass mailing after an interruption) starts from the counts
    the batch had, and the batch's record is given these counts after each chunk.
    """

    sessions: Callable[[], Session]
    settings: Settings
    system: SendingSystem
    # The population register, asked (outside the transaction) for lines with an address;
    # None when none can be asked (a letter with an address is then refused).
    protection: Callable[[], ProtectedIdentityLookup | None]
    # Who hands the letters over, for the event log (`api:<system>`, `cli`, `web:<user>`).
    actor: str
    batch_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # How many rejections `rejections` keeps for the answer; None keeps every one.
    kept_rejections: int | None = None
    clock: Callable[[], dt.datetime] = utc_now
    # How a refusal names the field (a table names its column instead of the letter's field).
    field_name: Callable[[str], str] = _same_name
    accepted: int = 0
    replayed: int = 0
    rejected: int = 0
    rejections: list[LineRejection] = field(default_factory=list)

    def start(self) -> None:
        """Record the batch, with nothing accepted yet; a batch recorded before is kept."""
        with self.sessions() as session:
            if session.get(Batch, self.batch_id) is not None:
                return
            LetterRepository(session).add_batch(
                Batch(
                    id=self.batch_id,
                    sending_system_id=self.system.id,
                    created_at=self.clock(),
                    accepted=self.accepted,
                    rejected=self.rejected,
                    rejections=[],
                )
            )
            session.commit()

    def store(self, lines: Sequence[tuple[int, ReadLine]]) -> list[StoredLine]:
        """Store one chunk of read lines in one transaction (retried once on a key race).

        Lines are numbered by the caller and come in order of their numbers.

        Returns:
            What became of each line, in order.
        """
        screened = self._screened(lines)
        for attempt in range(2):
            try:
                return self._store(screened)
            except IntegrityError:
                if attempt:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def finish(self) -> None:
        """Mark the batch read to its end (a batch finished before keeps its time)."""
        with self.sessions() as session:
            batch = self._batch(session)
            if batch.completed_at is None:
                batch.completed_at = self.clock()
                session.commit()

    def discard(self) -> None:
        """Drop the record of a batch of which nothing was accepted."""
        with self.sessions() as session:
            session.delete(self._batch(session))
            session.commit()

    def _batch(self, session: Session) -> Batch:
        batch = session.get(Batch, self.batch_id)
        assert batch is not None
        return batch

    def _screened(self, lines: Sequence[tuple[int, ReadLine]]) -> list[tuple[int, ReadLine]]:
        """The lines with their letters' addresses screened, in one call to the register."""
        letters = [item for _number, item in lines if isinstance(item, LetterInput)]
        if all(letter.postal_address is None for letter in letters):
            return list(lines)
        # Unscreened letters (register unavailable) are refused by the service, with the reason.
        screened = iter(screen_addresses(letters, self.protection()).letters)
        return [
            (number, next(screened) if isinstance(item, LetterInput) else item)
            for number, item in lines
        ]

    def _store(self, lines: Sequence[tuple[int, ReadLine]]) -> list[StoredLine]:
        """The chunk's letters checked and stored in a few statements, with the batch's counts."""
        letters = [item for _number, item in lines if isinstance(item, LetterInput)]
        stored: list[StoredLine] = []
        with self.sessions() as session:
            outcomes = iter(
                LetterService(session, self.settings, self.clock).accept_many(
                    self.system, letters, actor=self.actor, batch_id=self.batch_id
                )
            )
            for number, item in lines:
                outcome = item if isinstance(item, LetterRejectedError) else next(outcomes)
                if isinstance(outcome, LetterRejectedError):
                    name = self.field_name(outcome.field)
                    stored.append(
                        StoredLine(
                            number, None, rejection=LineRejection(number, name, outcome.message)
                        )
                    )
                else:
                    stored.append(StoredLine(number, outcome.letter_id, created=outcome.created))
            rejections = [line.rejection for line in stored if line.rejection is not None]
            accepted = len(stored) - len(rejections)
            self._record(self._batch(session), accepted, rejections)
            session.commit()
        self.replayed += sum(1 for line in stored if line.letter_id and not line.created)
        self._count(accepted, rejections)
        return stored

    def _record(self, batch: Batch, accepted: int, rejections: list[LineRejection]) -> None:
        """The batch's counts as they are once the chunk is committed; its first refusals."""
        batch.accepted = self.accepted + accepted
        batch.rejected = self.rejected + len(rejections)
        # A continued batch may store a chunk again whose refusals it has already kept.
        last_kept = max(
            (row["line"] for row in batch.rejections if isinstance(row["line"], int)), default=0
        )
        new = [rejection for rejection in rejections if rejection.line > last_kept]
        room = STORED_REJECTIONS - len(batch.rejections)
        if new and room > 0:
            # A new list, so that the JSON column sees the change.
            batch.rejections = [*batch.rejections, *(r.as_row() for r in new[:room])]

    def _count(self, accepted: int, rejections: list[LineRejection]) -> None:
        self.accepted += accepted
        self.rejected += len(rejections)
        room = len(rejections)
        if self.kept_rejections is not None:
            room = max(0, self.kept_rejections - len(self.rejections))
        self.rejections.extend(rejections[:room])
