"""Batch intake: many letters, one JSON object per line, checked and stored a chunk at a time.

Both ways an NDJSON batch comes in use this: the API's `POST /batches` (an NDJSON body,
streamed) and `utskick batch submit` (an NDJSON file). `read_letter` reads one line into a
letter. `BatchIntake` is the letters' batch store (`utskick.letters.batch_store`) reading each
chunk of lines first: it records the batch and stores each chunk in one transaction of a few
statements; good lines are accepted whatever the bad ones hold, and each bad line is kept with
its number. Neither memory nor a transaction grows with the batch. A batch that is a table
(CSV or XLSX) is read by `utskick.intake.table_batch` into the same store.
"""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pydantic import ValidationError

from utskick.intake.schemas import LetterIn, letter_input
from utskick.letters.batch_store import BatchStore, ReadLine, StoredLine
from utskick.letters.inputs import LetterInput, LetterRejectedError
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
# The zone of a local `not_before` when the caller names none (the settings' default).
DEFAULT_ZONE = "Europe/Stockholm"
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


def read_letter(
    line: str | bytes | None,
    *,
    defaults: Mapping[str, str] | None = None,
    zone: str = DEFAULT_ZONE,
) -> LetterInput:
    """One NDJSON line (the API's letter object) as a letter.

    Args:
        line: the line; bytes are read as JSON text in UTF-8; None stands for a line too long
            to be a letter (longer than `MAX_BATCH_LINE_BYTES`).
        defaults: the fields (`sender`, `department`, `subject`, ...) of a letter whose line
            does not give them.
        zone: the local time zone of a `not_before` written without an offset.

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
    if defaults and isinstance(data, dict):
        for name, value in defaults.items():
            data.setdefault(name, value)
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
    return letter_input(body, zone=zone)


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


def _read_or_refusal(line: str | bytes | None, defaults: Mapping[str, str], zone: str) -> ReadLine:
    """The line's letter, or why it is refused (`read_letter` without raising)."""
    try:
        return read_letter(line, defaults=defaults, zone=zone)
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


@dataclass
class BatchIntake(BatchStore):
    """An NDJSON batch as it comes in: the batch store, reading each chunk of lines first.

    `defaults` fill in the fields a line does not give (`sender`, `department`, ...), as the
    API's query parameters and the command line's options give them.
    """

    defaults: Mapping[str, str] = field(default_factory=dict)

    def store_lines(self, lines: Sequence[tuple[int, str | bytes | None]]) -> list[StoredLine]:
        """Read and store one chunk of lines (see `read_letter` and `BatchStore.store`)."""
        zone = self.settings.print_timezone
        return self.store(
            [(number, _read_or_refusal(line, self.defaults, zone)) for number, line in lines]
        )
