"""Batch intake: many letters, one JSON object per line, checked and stored a chunk at a time.

Both ways a batch comes in use this: the API's `POST /batches` (an NDJSON body, streamed) and
`utskick batch submit` (an NDJSON file). `read_letter` reads one line into a letter.
`BatchIntake` records the batch and stores each chunk of lines in one transaction of a few
statements (`LetterService.accept_many`): the population register is asked first, outside the
transaction, about the lines that give an address; good lines are accepted whatever the bad
ones hold, and each bad line is kept with its number. Neither memory nor a transaction grows
with the batch.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from utskick.intake.schemas import LetterIn, letter_input
from utskick.letters.address_screen import ProtectedIdentityLookup, screen_addresses
from utskick.letters.inputs import LetterInput, LetterRejectedError
from utskick.letters.models import Batch
from utskick.letters.repository import LetterRepository
from utskick.letters.service import LetterService, utc_now
from utskick.senders.models import SendingSystem
from utskick.settings import Settings
from utskick.web.errors import swedish_error
from utskick.web.json_guard import DuplicateKeyError, loads_strict

# A batch commits every so many lines, so that memory and transactions stay small ... A chunk
# takes about ten statements whatever its size, and holds SQLite's one write lock (which
# the worker waits for) only while it writes: some 25 ms for 500 text letters. Larger chunks
# would save little (1,000: 4 % less time) and hold the lock, and redo a chunk lost to a key
# race, for longer.
BATCH_COMMIT_LINES = 500
# ... or earlier, once the lines waiting hold this many bytes (attachments make lines big).
BATCH_COMMIT_BYTES = 16 * 1024 * 1024
# A line longer than this cannot be a letter of at most 2 MB on the wire.
MAX_BATCH_LINE_BYTES = 4 * 1024 * 1024
# The batch keeps this many rejected lines with their reasons; the count covers them all.
STORED_REJECTIONS = 1000
# The field named when a line as a whole is no letter.
WHOLE_LINE = "(rad)"

_NOT_JSON = (
    "raden är inget brev i JSON (inte giltig JSON i UTF-8); skicka ett brev (ett JSON-objekt) "
    "per rad"
)

# --- one line --------------------------------------------------------------------------------


class LineProblem(enum.Enum):
    """Why a line is no letter at all, for a way in that words it in its own terms."""

    TOO_LONG = "too_long"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    TOO_DEEP = "too_deep"
    REPEATED_KEY = "repeated_key"
    NOT_AN_OBJECT = "not_an_object"
    NOT_A_LETTER = "not_a_letter"


class UnreadableLineError(LetterRejectedError):
    """A line that is no letter at all; its field and message say why as the API says it.

    `problem` is the reason as data; `position` (where the JSON breaks, from 0) and `detail`
    (what the JSON or the letter schema objected to) are set where the problem has them.
    """

    def __init__(
        self,
        problem: LineProblem,
        message: str,
        *,
        field: str = WHOLE_LINE,
        position: int | None = None,
        detail: str = "",
    ) -> None:
        self.problem = problem
        self.position = position
        self.detail = detail
        super().__init__(field, message)


def read_letter(line: str | bytes | None, *, default_sender: str | None = None) -> LetterInput:
    """One NDJSON line (the API's letter object) as a letter.

    Args:
        line: the line; bytes are read as JSON text in UTF-8; None stands for a line too long
            to be a letter (longer than `MAX_BATCH_LINE_BYTES`).
        default_sender: the sender of a letter whose line names none.

    Raises:
        UnreadableLineError: the line is no JSON object, or no letter object.
        LetterRejectedError: a field of the letter is wrong (named in `field`).
    """
    if line is None:
        raise UnreadableLineError(
            LineProblem.TOO_LONG,
            f"raden är längre än {MAX_BATCH_LINE_BYTES // 1024 // 1024} MB och kan inte vara ett "
            "brev på högst 2 MB; minska bilagorna",
        )
    data = _json_of(line)
    if default_sender is not None and isinstance(data, dict):
        data.setdefault("sender", default_sender)
    try:
        body = LetterIn.model_validate(data)
    except ValidationError as error:
        first = swedish_error(dict(error.errors()[0]))
        message = str(first["message"])
        if first["field"] is None:
            raise UnreadableLineError(
                LineProblem.NOT_A_LETTER if isinstance(data, dict) else LineProblem.NOT_AN_OBJECT,
                f"raden är inget brev i JSON ({message}); ett brev per rad",
                detail=message,
            ) from None
        raise LetterRejectedError(first["field"], message) from None
    return letter_input(body)


def _json_of(line: str | bytes) -> object:
    """The line's JSON value; objects that name a key twice are refused."""
    try:
        return loads_strict(line)
    except DuplicateKeyError as error:
        raise UnreadableLineError(
            LineProblem.REPEATED_KEY, error.message, field=error.key, detail=error.message
        ) from None
    except json.JSONDecodeError as error:
        raise UnreadableLineError(LineProblem.NOT_JSON, _NOT_JSON, position=error.pos) from None
    except UnicodeDecodeError:
        raise UnreadableLineError(LineProblem.NOT_UTF8, _NOT_JSON) from None
    except ValueError:  # a number too long to read
        raise UnreadableLineError(LineProblem.NOT_JSON, _NOT_JSON) from None
    except RecursionError:
        raise UnreadableLineError(LineProblem.TOO_DEEP, _NOT_JSON) from None


def _read_or_refusal(line: str | bytes | None) -> LetterInput | LetterRejectedError:
    """The line's letter, or why it is refused (`read_letter` without raising)."""
    try:
        return read_letter(line)
    except LetterRejectedError as error:
        return error


async def ndjson_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes | None]]:
    """Non-blank lines with their numbers (from 1); None for a line too long to be a letter."""
    buffer = bytearray()
    number = 0
    overlong = False
    async for chunk in chunks:
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            number += 1
            line = None if overlong else bytes(buffer[:end])
            del buffer[: end + 1]
            overlong = False
            if line is None or line.strip():
                yield number, line
        if len(buffer) > MAX_BATCH_LINE_BYTES:
            # Drop what we have of the line; the rest up to its newline is dropped too.
            overlong = True
            buffer.clear()
    if overlong or buffer.strip():
        yield number + 1, None if overlong else bytes(buffer)


# --- the batch -------------------------------------------------------------------------------

T = TypeVar("T")
# A line as read: its letter, or why it is refused.
ReadLine = LetterInput | LetterRejectedError


@dataclass
class PendingLines(Generic[T]):
    """Lines waiting for the next commit, with their numbers and their size on the wire."""

    items: list[tuple[int, T]] = field(default_factory=list)
    size: int = 0

    def add(self, number: int, item: T, size: int) -> None:
        """Add a line that took `size` bytes."""
        self.items.append((number, item))
        self.size += size

    @property
    def full(self) -> bool:
        """Whether the lines waiting should be stored now."""
        return len(self.items) >= BATCH_COMMIT_LINES or self.size >= BATCH_COMMIT_BYTES

    def take(self) -> list[tuple[int, T]]:
        """The lines waiting; none wait afterwards."""
        items, self.items, self.size = self.items, [], 0
        return items

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class LineRejection:
    """A line of a batch that was not accepted: its number, the field and what is wrong."""

    line: int
    field: str
    message: str

    def as_row(self) -> dict[str, object]:
        """The rejection as the batch stores it."""
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass
class BatchIntake:
    """One batch as it comes in: started, stored a chunk of lines at a time, then finished.

    Each call is its own unit of work (it opens a session from `sessions` and commits), so
    that a caller may make each call from another thread.
    """

    sessions: Callable[[], Session]
    settings: Settings
    system: SendingSystem
    # The population register, asked (outside the transaction) for lines with an address;
    # None when none can be asked (a letter with an address is then refused).
    protection: Callable[[], ProtectedIdentityLookup | None]
    # Who hands the letters over, for the event log (`api:<system>`, `cli`).
    actor: str
    batch_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    # How many rejections `rejections` keeps for the answer; None keeps every one.
    kept_rejections: int | None = None
    accepted: int = 0
    replayed: int = 0
    rejected: int = 0
    rejections: list[LineRejection] = field(default_factory=list)

    def start(self) -> None:
        """Record the batch, with nothing accepted yet."""
        with self.sessions() as session:
            LetterRepository(session).add_batch(
                Batch(
                    id=self.batch_id,
                    sending_system_id=self.system.id,
                    created_at=utc_now(),
                    accepted=0,
                    rejected=0,
                    rejections=[],
                )
            )
            session.commit()

    def store_lines(self, lines: Sequence[tuple[int, str | bytes | None]]) -> None:
        """Read and store one chunk of lines (see `read_letter` and `store`)."""
        self.store([(number, _read_or_refusal(line)) for number, line in lines])

    def store(self, lines: Sequence[tuple[int, ReadLine]]) -> None:
        """Store one chunk of read lines in one transaction (retried once on a key race)."""
        screened = self._screened(lines)
        for attempt in range(2):
            try:
                self._store(screened)
            except IntegrityError:
                if attempt:
                    raise
            else:
                return

    def finish(self) -> None:
        """Mark the batch read to its end."""
        with self.sessions() as session:
            self._batch(session).completed_at = utc_now()
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

    def _store(self, lines: Sequence[tuple[int, ReadLine]]) -> None:
        """The chunk's letters checked and stored in a few statements, with the batch's counts."""
        letters = [item for _number, item in lines if isinstance(item, LetterInput)]
        accepted = replayed = 0
        rejections: list[LineRejection] = []
        with self.sessions() as session:
            outcomes = iter(
                LetterService(session, self.settings).accept_many(
                    self.system, letters, actor=self.actor, batch_id=self.batch_id
                )
            )
            for number, item in lines:
                outcome = item if isinstance(item, LetterRejectedError) else next(outcomes)
                if isinstance(outcome, LetterRejectedError):
                    rejections.append(LineRejection(number, outcome.field, outcome.message))
                    continue
                accepted += 1
                replayed += 0 if outcome.created else 1
            self._record(self._batch(session), accepted, rejections)
            session.commit()
        self.accepted += accepted
        self.replayed += replayed
        self.rejected += len(rejections)
        room = len(rejections)
        if self.kept_rejections is not None:
            room = max(0, self.kept_rejections - len(self.rejections))
        self.rejections.extend(rejections[:room])

    @staticmethod
    def _record(batch: Batch, accepted: int, rejections: list[LineRejection]) -> None:
        batch.accepted += accepted
        batch.rejected += len(rejections)
        room = STORED_REJECTIONS - len(batch.rejections)
        if rejections and room > 0:
            # A new list, so that the JSON column sees the change.
            batch.rejections = [*batch.rejections, *(r.as_row() for r in rejections[:room])]
