"""A batch that is a table: every row of a CSV or XLSX file one letter, stored as one batch.

The API's `POST /batches` (a CSV or XLSX body), `utskick batch submit` (a .csv or .xlsx file)
and a watched folder's tables all come here. `take_table` reads the file as Excel writes it
(`utskick.letters.tables.reading`), tells its columns from the headers
(`utskick.letters.tables.letter_rows`), reads the whole table once to be sure it can be read to
the end, and then makes each row a letter and stores the rows 500 at a time in the letters'
batch store: good rows are accepted whatever the bad ones hold, and each bad row is refused
with its row number in Excel, the column and a Swedish reason. A file that is no table, or a
table no letter can come from (no recipient or text column, nothing that says the sender or
the subject), is refused whole with `TableRefusedError` before anything is stored.

Each row's letter has the idempotency key `table:<file_key>:<row>`, where the caller's
`file_key` names the file (the SHA-256 of its bytes, or the caller's own key): a file handed
over again gives back the letters stored the first time instead of new ones.
"""

from __future__ import annotations

import codecs
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from utskick.intake.sources import Source
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.letters.batch_store import STORED_REJECTIONS, BatchStore, ReadLine, StoredLine
from utskick.letters.inputs import LetterRejectedError
from utskick.letters.tables.letter_rows import (
    LetterColumns,
    RowDefaults,
    letter_columns,
    letter_of_row,
)
from utskick.letters.tables.reading import DEFAULT_MAX_BYTES, Table, TableRefusedError, read_table
from utskick.senders.models import SendingSystem
from utskick.settings import Settings

__all__ = [
    "SNIFF_BYTES",
    "TableDefaults",
    "TableReceipt",
    "TableRefusedError",
    "idempotency_key",
    "is_table",
    "take_table",
]

# Rows stored in one transaction, as an NDJSON batch stores its lines.
TABLE_CHUNK_ROWS = 500
# A table batch may be as large as an NDJSON batch; the file's size limits it first.
MAX_TABLE_ROWS = 500_000
MAX_TABLE_BYTES = DEFAULT_MAX_BYTES
# Enough of a file's first bytes (after any blank) to tell a table from NDJSON.
SNIFF_BYTES = 8
# A table's first bytes that no NDJSON file has: a workbook (ZIP), an old Excel file or a PDF
# (the table reader refuses the last two, saying why).
_TABLE_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF")


@dataclass(frozen=True)
class TableDefaults:
    """What every row's letter says where the row (or the table) does not say it."""

    sender: str | None = None
    department: str | None = None
    subject: str | None = None
    message_type: str | None = None
    policy: str | None = None


@dataclass
class TableReceipt:
    """What became of a table's rows.

    `batch_id` is None when no row was accepted (the batch is then not kept). `rejections`
    holds the first refused rows as (row in Excel, column, Swedish message); `letters` each
    accepted row's letter as (row, letter id), replays included.
    """

    batch_id: str | None
    accepted: int = 0
    replayed: int = 0
    rejected: int = 0
    rejections: list[tuple[int, str, str]] = field(default_factory=list)
    letters: list[tuple[int, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The receipt as JSON (for a receipt file beside a watched folder's table)."""
        return {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "replayed": self.replayed,
            "rejected": self.rejected,
            "rejections": [
                {"row": row, "field": column, "message": message}
                for row, column, message in self.rejections
            ],
            "letters": [{"row": row, "letter_id": letter_id} for row, letter_id in self.letters],
        }


def idempotency_key(file_key: str, row_number: int) -> str:
    """The key of a row's letter: the same for the same file, so a row is stored once."""
    return f"table:{file_key}:{row_number}"


def is_table(head: bytes, *, declared_ndjson: bool) -> bool:
    """Whether a file that begins with `head` is a table (else NDJSON), told from its bytes.

    A file whose first sign is `{` is NDJSON whatever it is called, and an empty one is an
    empty NDJSON batch; for anything else the name or declared type decides (`declared_ndjson`),
    so that an NDJSON file whose first line is broken is still read line by line.
    """
    if head.startswith(_TABLE_MAGIC):
        return True
    text = head.removeprefix(codecs.BOM_UTF8).lstrip()
    if not text or text.startswith(b"{"):
        return False
    return not declared_ndjson


def take_table(
    *,
    sessions: Callable[[], Session],
    settings: Settings,
    system: SendingSystem,
    source: Source | None,
    path: Path,
    file_key: str,
    actor: str,
    defaults: TableDefaults | None = None,
    protection: Callable[[], ProtectedIdentityLookup | None] | None = None,
) -> TableReceipt:
    """Store every row of the table at `path` as a letter of one batch from `system`.

    Args:
        sessions: opens a session per chunk (each chunk is its own unit of work).
        settings: the installation's settings (the local time zone among them).
        system: the sending system the letters come from.
        source: the watched folder's source, whose defaults apply after `defaults`; None for
            the API and the command line.
        path: the CSV or XLSX file; it is read twice and never changed.
        file_key: names the file in the letters' idempotency keys (its SHA-256, say).
        actor: who hands the letters over, for the event log (`api:<system>`, `cli`).
        defaults: what the rows' letters say where a row does not say it.
        protection: the population register, asked before rows with an address are stored;
            None: none can be asked, and a row with an address is refused with the reason.

    Raises:
        TableRefusedError: the file is no table, or no letter can come from it; nothing is
            stored then.
    """
    table = read_table(path, max_rows=MAX_TABLE_ROWS, max_bytes=MAX_TABLE_BYTES)
    columns = letter_columns(table.columns)
    row_defaults = _row_defaults(defaults, source, system)
    _check_complete(columns, row_defaults)
    # Read to the end first: a table refused on row 30,000 leaves nothing half stored.
    for _row in table.rows():
        pass
    store = BatchStore(
        sessions,
        settings,
        system,
        protection=protection or _no_register,
        actor=actor,
        kept_rejections=STORED_REJECTIONS,
        field_name=columns.column_of,
    )
    store.start()
    receipt = TableReceipt(batch_id=store.batch_id)
    _store_rows(
        store, table, columns=columns, defaults=row_defaults, file_key=file_key, receipt=receipt
    )
    if store.accepted:
        store.finish()
    else:
        store.discard()
        receipt.batch_id = None
    receipt.accepted, receipt.replayed = store.accepted, store.replayed
    receipt.rejected = store.rejected
    receipt.rejections = [(r.line, r.field, r.message) for r in store.rejections]
    return receipt


def _no_register() -> ProtectedIdentityLookup | None:
    return None


def _store_rows(
    store: BatchStore,
    table: Table,
    *,
    columns: LetterColumns,
    defaults: RowDefaults,
    file_key: str,
    receipt: TableReceipt,
) -> None:
    """Every row made a letter (or refused) and stored, a chunk at a time."""
    zone = store.settings.print_timezone
    today = dt.datetime.now(ZoneInfo(zone)).date()
    pending: list[tuple[int, ReadLine]] = []

    def flush() -> None:
        stored = store.store(pending)
        receipt.letters.extend(_letters(stored))
        pending.clear()

    for row_number, row in table.rows():
        key = idempotency_key(file_key, row_number)
        try:
            item: ReadLine = letter_of_row(row, columns, defaults, key=key, zone=zone, today=today)
        except LetterRejectedError as error:
            item = error
        pending.append((row_number, item))
        if len(pending) >= TABLE_CHUNK_ROWS:
            flush()
    if pending:
        flush()


def _letters(stored: list[StoredLine]) -> list[tuple[int, str]]:
    return [(line.line, line.letter_id) for line in stored if line.letter_id is not None]


def _row_defaults(
    defaults: TableDefaults | None, source: Source | None, system: SendingSystem
) -> RowDefaults:
    """The caller's defaults, then the source's; the sender, else the system's only one."""
    given = defaults or TableDefaults()
    only_sender = system.sender_numbers[0] if len(system.sender_numbers) == 1 else None
    return RowDefaults(
        sender=given.sender or (source.sender if source else None) or only_sender,
        department=given.department or (source.department if source else None),
        subject=given.subject or (source.subject if source else None),
        message_type=given.message_type or (source.message_type if source else None),
        policy=given.policy or (source.policy if source else None),
    )


def _check_complete(columns: LetterColumns, defaults: RowDefaults) -> None:
    """Refuse a table whose every row would lack the sender, the subject or the class."""
    if columns.sender is None and defaults.sender is None:
        raise TableRefusedError(
            "Filen har ingen kolumn med avsändaren och ingen avsändare angavs för hela filen; "
            "lägg till kolumnen Avsändare med organisationsnumret, eller ange avsändaren "
            "(i API:t ?sender=, på kommandoraden --sender)"
        )
    if columns.mapping.subject is None and defaults.subject is None:
        raise TableRefusedError(
            "Filen har ingen kolumn med ämnesraden och inget ämne angavs för hela filen; lägg "
            "till kolumnen Ämne, eller ange ämnet (i API:t ?subject=, på kommandoraden "
            "--subject)"
        )
    if (
        columns.message_type is None
        and columns.protection_class is None
        and not (defaults.message_type)
    ):
        raise TableRefusedError(
            "Filen har varken kolumnen Meddelandetyp eller Skyddsklass, och ingen "
            "meddelandetyp angavs för hela filen; lägg till en av kolumnerna, eller ange "
            "meddelandetypen (i API:t ?message_type=, på kommandoraden --message-type)"
        )
