"""Each kind of file handed to its taker, and what it came to in one common form.

NDJSON batches go to `pickup.ndjson`, tables to `intake.table_batch.take_table`, print files
to `intake.printfile.take_print_file`. Each gets the file key `<source>:<SHA-256>`, from
which its letters' idempotency keys are made, so that taking a file again from the start
stores none of its letters twice. A taker that refuses the file as a whole raises; here that
becomes `FileRefusedError` with the taker's Swedish message.

A print file's rejected letters have their pages put in `fel/<stem>-sidor-<a>-<b>.pdf`, each
with a `.fel.txt` that says why, so that no page is lost.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from utskick.intake.pickup import receipts
from utskick.intake.pickup.context import Poll
from utskick.intake.pickup.folders import REFUSED, free_name
from utskick.intake.pickup.ndjson import NdjsonFile, NotNdjsonError, source_defaults
from utskick.intake.pickup.plan import CSV, NDJSON, PDF, XLSX, stem_of
from utskick.intake.pickup.receipts import Taken, write_receipt
from utskick.intake.printfile import PrintFileReceipt, PrintFileRefusedError, pages_pdf
from utskick.intake.printfile import take_print_file as take_print
from utskick.intake.table_batch import TableRefusedError, take_table


class FileRefusedError(Exception):
    """A file not taken at all; `message` says in Swedish what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Files:
    """A file to take as it lies locally, with what names it."""

    name: str  # as it came into the inbox
    kind: str
    path: Path
    control: Path | None
    control_name: str | None
    sha256: str
    batch_id: str | None  # the batch of a taking cut short, if it got that far
    remember_batch: Callable[[str], None]


def take(poll: Poll, files: Files) -> Taken:
    """Take one file by its kind; the receipt is written under the poll's work folder.

    Raises:
        FileRefusedError: the file is refused as a whole; nothing of it was stored.
    """
    receipt = poll.work / f".{files.sha256}{receipts.RECEIPT_SUFFIX}"
    header: dict[str, object] = {
        "file": files.name,
        "source": poll.source.name,
        "sha256": files.sha256,
        "taken_at": poll.clock().isoformat(),
    }
    if files.kind == NDJSON:
        return _ndjson(poll, files, receipt, header)
    if files.kind in (CSV, XLSX):
        return _table(poll, files, receipt, header)
    if files.kind == PDF:
        return _print_file(poll, files, receipt, header)
    raise AssertionError(files.kind)  # pragma: no cover (the plan takes no other kind)


def _ndjson(poll: Poll, files: Files, receipt: Path, header: dict[str, object]) -> Taken:
    ndjson = NdjsonFile(
        sessions=poll.sessions,
        settings=poll.settings,
        system=poll.system,
        protection=poll.protection,
        actor=poll.actor,
        path=files.path,
        name=files.name,
        file_key=poll.file_key(files.sha256),
        defaults=source_defaults(poll.source, poll.system),
    )
    try:
        ndjson.check()
    except NotNdjsonError as error:
        raise FileRefusedError(error.message) from None
    return ndjson.take(files.batch_id, files.remember_batch, receipt, header)


def _table(poll: Poll, files: Files, receipt: Path, header: dict[str, object]) -> Taken:
    try:
        table = take_table(
            sessions=poll.sessions,
            settings=poll.settings,
            system=poll.system,
            source=poll.source,
            path=files.path,
            file_key=poll.file_key(files.sha256),
            actor=poll.actor,
            protection=poll.protection,
        )
    except TableRefusedError as error:
        raise FileRefusedError(error.message) from None
    write_receipt(receipt, header, table.as_json())
    taken = Taken(table.batch_id, table.accepted, table.rejected, receipt)
    for row, column, message in table.rejections:
        taken.note_rejection({"row": row, "field": column, "reason": message})
    return taken


def _print_file(poll: Poll, files: Files, receipt: Path, header: dict[str, object]) -> Taken:
    try:
        printed = take_print(
            sessions=poll.sessions,
            settings=poll.settings,
            system=poll.system,
            source=poll.source,
            pdf=files.path,
            control=files.control,
            file_key=poll.file_key(files.sha256),
            actor=poll.actor,
        )
    except PrintFileRefusedError as error:
        raise FileRefusedError(error.message) from None
    header = {**header, "control_file": files.control_name}
    write_receipt(receipt, header, printed.as_json())
    taken = Taken(printed.batch_id, printed.accepted, printed.rejected, receipt)
    _put_rejected_pages(poll, files, printed, taken)
    return taken


def _put_rejected_pages(poll: Poll, files: Files, printed: PrintFileReceipt, taken: Taken) -> None:
    """Each rejected letter's pages to `fel/`, with a text that says why."""
    stem = stem_of(files.name)
    for letter in printed.letters:
        if letter.letter_id is not None:
            continue
        reason = letter.problem or "brevet togs inte emot"
        taken.note_rejection(
            {
                "index": letter.index,
                "first_page": letter.first_page,
                "last_page": letter.last_page,
                "recipient": letter.recipient,
                "reason": reason,
            }
        )
        pages = poll.work / ".sidor.pdf"  # a dot: no name a taken file can have
        pages.write_bytes(pages_pdf(files.path, letter.first_page, letter.last_page))
        wanted = f"{stem}-sidor-{letter.first_page}-{letter.last_page}.pdf"
        name = free_name(poll.folder, REFUSED, wanted, poll.stamp())
        poll.folder.write_text(
            posixpath.join(REFUSED, name + receipts.REASON_SUFFIX),
            _pages_reason(poll, files.name, letter.first_page, letter.last_page, reason),
        )
        poll.folder.put(pages, posixpath.join(REFUSED, name))
        pages.unlink()


def _pages_reason(poll: Poll, name: str, first: int, last: int, reason: str) -> str:
    pages = f"sidan {first}" if first == last else f"sidorna {first}–{last}"
    return (
        f"Utskick tog emot utskriftsfilen {name} från källan {poll.source.name} "
        f"({poll.shown(poll.clock())}), men brevet på {pages} skickades inte:\n\n{reason}\n\n"
        "Sidorna ligger i PDF-filen bredvid den här texten. Rätta det som står ovan och lämna "
        "in sidorna igen som en egen utskriftsfil; övriga brev i filen är mottagna och "
        "skickas inte igen.\n"
    )
