"""An NDJSON file of letters taken as one batch, a chunk of lines at a time.

Each line is the API's letter object (`POST /batches`); what a line does not say is the
source's (`sender`, else the sending system's only organisation; `department`, `subject`,
`message_type`, `policy`). A line without an idempotency key gets
`<source>:<file's SHA-256>:<line number>`, so that taking the file again from the start
(Utskick was killed mid-file) finds every letter stored before instead of storing it twice.
The lines are stored by `intake.batch.BatchIntake` into one batch, which a resumed taking
continues: its counts are counted anew from the first line.

A file that is empty, or whose first line is no JSON object, is no NDJSON file and is refused
as a whole; any later line that is no letter is refused alone, named in the receipt.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from utskick.intake.batch import (
    MAX_BATCH_LINE_BYTES,
    BatchIntake,
    LineProblem,
    PendingLines,
    UnreadableLineError,
    read_letter,
)
from utskick.intake.pickup.receipts import ReceiptWriter, Taken
from utskick.intake.sources import Source
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.letters.batch_store import ReadLine
from utskick.letters.inputs import LetterInput, LetterRejectedError
from utskick.senders.models import SendingSystem
from utskick.settings import Settings

_BOM = b"\xef\xbb\xbf"
# Problems that say a line is no JSON object at all: on the first line, the file is no NDJSON.
_NOT_NDJSON = {
    LineProblem.TOO_LONG,
    LineProblem.NOT_UTF8,
    LineProblem.NOT_JSON,
    LineProblem.TOO_DEEP,
    LineProblem.NOT_AN_OBJECT,
}


class NotNdjsonError(ValueError):
    """The file is no NDJSON file of letters; `message` says why in Swedish."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def source_defaults(source: Source, system: SendingSystem) -> dict[str, str]:
    """What a line of the source's files does not say: the source's fields, where it has them.

    The sender is the source's, else the sending system's only organisation.
    """
    only_sender = system.sender_numbers[0] if len(system.sender_numbers) == 1 else None
    fields = {
        "sender": source.sender or only_sender,
        "department": source.department,
        "subject": source.subject,
        "message_type": source.message_type,
        "policy": source.policy,
    }
    return {name: value for name, value in fields.items() if value is not None}


@dataclass
class NdjsonFile:
    """One NDJSON file to take: whose, where, and under which keys its letters go."""

    sessions: Callable[[], Session]
    settings: Settings
    system: SendingSystem
    protection: Callable[[], ProtectedIdentityLookup | None]
    actor: str
    path: Path
    name: str
    file_key: str
    defaults: Mapping[str, str]

    def check(self) -> None:
        """Refuse a file that is empty or whose first line is no JSON object.

        Raises:
            NotNdjsonError: why, in Swedish.
        """
        for number, line, _size in numbered_lines(self.path):
            try:
                self._letter(line)
            except UnreadableLineError as error:
                if error.problem in _NOT_NDJSON:
                    raise NotNdjsonError(
                        f"filen {self.name} är ingen NDJSON-fil med brev: rad {number} är inget "
                        f"JSON-objekt ({error.message}). Varje rad ska vara ett brev som ett "
                        "JSON-objekt, som i API:ets POST /batches; spara filen så och lägg den i "
                        "mappen igen."
                    ) from None
            except LetterRejectedError:
                pass  # a letter with a wrong field: refused alone, named in the receipt
            return
        raise NotNdjsonError(
            f"filen {self.name} är tom: den har inga rader med brev. Lägg filen i mappen igen "
            "när den har ett brev (ett JSON-objekt) per rad."
        )

    def take(
        self,
        batch_id: str | None,
        remember: Callable[[str], None],
        receipt: Path,
        header: dict[str, object],
    ) -> Taken:
        """Store every line's letter in the batch (a new one if `batch_id` is None).

        `remember` is called with a new batch's id before any letter is stored, so that a
        taking cut short continues that batch. The receipt is written to `receipt` as it
        goes, `header` first.
        """
        intake = BatchIntake(
            self.sessions,
            self.settings,
            self.system,
            protection=self.protection,
            actor=self.actor,
            kept_rejections=0,  # every refusal goes to the receipt as its chunk is stored
        )
        if batch_id is not None:
            intake.batch_id = batch_id
        # A batch recorded before is kept as it is; its counts are set anew, chunk by chunk.
        intake.start()
        if batch_id is None:
            remember(intake.batch_id)
        taken = Taken(intake.batch_id, 0, 0, receipt)
        with ReceiptWriter(receipt, {**header, "batch_id": intake.batch_id}) as writer:
            pending: PendingLines[tuple[ReadLine, bytes | None]] = PendingLines()
            for number, line, size in numbered_lines(self.path):
                pending.add(number, (self._read(number, line), line), size)
                if pending.full:
                    self._store(intake, pending.take(), writer, taken)
            if pending:
                self._store(intake, pending.take(), writer, taken)
            intake.finish()
            writer.close({"accepted": taken.accepted, "rejected": taken.rejected})
        return taken

    def _letter(self, line: bytes | None) -> LetterInput:
        return read_letter(line, defaults=self.defaults, zone=self.settings.print_timezone)

    def _read(self, number: int, line: bytes | None) -> ReadLine:
        """The line's letter under its key, or why it is refused."""
        try:
            letter = self._letter(line)
        except LetterRejectedError as error:
            return error
        key = letter.idempotency_key or f"{self.file_key}:{number}"
        return dataclasses.replace(letter, idempotency_key=key)

    @staticmethod
    def _store(
        intake: BatchIntake,
        lines: Sequence[tuple[int, tuple[ReadLine, bytes | None]]],
        writer: ReceiptWriter,
        taken: Taken,
    ) -> None:
        """Store one chunk, then write its lines to the receipt with their letters' ids."""
        stored = intake.store([(number, item) for number, (item, _line) in lines])
        for (number, (item, line)), outcome in zip(lines, stored, strict=True):
            recipient = item.recipient if isinstance(item, LetterInput) else _recipient_in(line)
            if outcome.letter_id is not None:
                writer.add(
                    {
                        "line": number,
                        "recipient": recipient,
                        "accepted": True,
                        "letter_id": outcome.letter_id,
                    }
                )
                taken.accepted += 1
                continue
            rejection = outcome.rejection
            entry: dict[str, object] = {
                "line": number,
                "recipient": recipient,
                "accepted": False,
                "field": rejection.field if rejection else None,
                "reason": rejection.message if rejection else None,
            }
            writer.add(entry)
            taken.rejected += 1
            taken.note_rejection(entry)


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes | None, int]]:
    """The file's non-blank lines with their numbers (from 1) and sizes in bytes.

    A line longer than a letter can be is None; it is read no further than that, so a file
    without line breaks is never held in memory whole. A byte order mark is dropped.
    """
    with path.open("rb") as stream:
        number = 0
        while raw := stream.readline(MAX_BATCH_LINE_BYTES + 1):
            number += 1
            size = len(raw)
            if number == 1 and raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
            if size > MAX_BATCH_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := stream.readline(1024 * 1024)) and not rest.endswith(b"\n"):
                    size += len(rest)
                size += len(rest)
                yield number, None, size
                continue
            line = raw.strip()
            if line:
                yield number, line, size


def _recipient_in(line: bytes | None) -> str | None:
    """The recipient a refused line names, when it is JSON that names one as text."""
    if line is None:
        return None
    try:
        data = json.loads(line)
    except (ValueError, RecursionError):
        return None
    recipient = data.get("recipient") if isinstance(data, dict) else None
    return recipient if isinstance(recipient, str) else None
