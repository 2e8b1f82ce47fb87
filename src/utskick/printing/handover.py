"""Hand a closed batch to its print vendor: a folder of PDFs and a manifest, atomically.

The batch is written into a hidden working folder inside the vendor's drop
(`.utskick-tmp/`, which vendors must ignore, as they ignore every name starting with a dot;
`.utskick-locks/` beside it holds a lock file per batch),
each file flushed to disk, and then renamed into place in one step: the vendor sees the
whole batch or nothing. Only then does the database record the hand-over.

If the process dies while writing, the job's lease runs out and the job runs again: the
half-written working folder is removed and the batch written anew. If it dies after the
rename but before the database knew, the next run finds the finished folder (its manifest
names the batch) and only records it. Handing over a handed-over batch changes nothing.
Rendering is deterministic, so every run writes the same bytes.

The rename is the vendor's drop's to make (`utskick.printing.drops`). A vendor with an SFTP
server (`sftp_url`) gets the batch the same way over SFTP (`utskick.printing.sftp`): the local
drop is then only where the batch is rendered and where the lock lives, and the batch
appears on the server by the server's rename.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import fcntl
import hashlib
import io
import json
import logging
import os
import re
import shutil
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import utc
from utskick.letters import events, vocabulary
from utskick.letters.repository import lock_letters
from utskick.mm.private_files import FILE_MODE, create_private_folders, open_private_file
from utskick.printing.documents import DocumentBuilder
from utskick.printing.drops import (
    MANIFEST_JSON,
    WORK_FOLDER,
    Drop,
    FolderDrop,
    HandoverError,
    sync_folder,
)
from utskick.printing.models import CLOSED, HANDED_OVER, OPEN, WHOLE_LETTER, PrintBatch, PrintItem
from utskick.printing.render import LetterRenderer, PrintLetter, Window, sheets_for
from utskick.printing.repository import PrintRepository
from utskick.printing.routes import vendor_named
from utskick.settings import PrintVendor, Settings

logger = logging.getLogger(__name__)

LOCK_FOLDER = ".utskick-locks"
MANIFEST_CSV = "manifest.csv"
MERGED_FILE = "brev.pdf"
LETTER_FOLDER = "brev"
MAX_ADDRESS_LINES = 6
LETTERS_PER_READ = 500


@dataclass(frozen=True)
class HandoverOutcome:
    """What a hand-over did."""

    batch_id: str
    folder: Path
    letters: int
    pages: int
    sheets: int
    already_done: bool
    location: str = ""
    """Where the vendor finds the batch: the folder, or its sftp:// address on the server."""


@dataclass(frozen=True)
class _Row:
    """One letter's line in the manifest."""

    letter_id: str
    position: int
    name: str
    address_lines: tuple[str, ...]
    forwarding: str | None
    department: str
    pages: int
    sheets: int
    file: str
    first_page: int
    sha256: str


def drop_for(vendor: PrintVendor, root: Path) -> Drop:
    """The vendor's drop: its SFTP server when it has one, else the folder `root`."""
    if vendor.sftp_url is None:
        return FolderDrop(root)
    # Imported here, not at the top: only installations that hand over by SFTP need paramiko,
    # and it would add 45-65 ms (`python -X importtime`, best of 10 runs), 138 modules (nacl,
    # bcrypt, invoke, yaml) and 5 MiB to every worker and web process that loads this module.
    from utskick.printing.sftp import SftpDrop  # noqa: PLC0415

    return SftpDrop(vendor)


def window_of(vendor: PrintVendor) -> Window:
    """The vendor's envelope window."""
    return Window(
        vendor.window_left_mm, vendor.window_top_mm, vendor.window_width_mm, vendor.window_height_mm
    )


def folder_name(batch: PrintBatch, timezone: str) -> str:
    """The batch's folder name in the drop: when it closed, the vendor, department, id."""
    closed = utc(batch.closed_at or batch.created_at).astimezone(ZoneInfo(timezone))
    department = re.sub(r"[^a-z0-9]+", "-", ascii_name(batch.department.lower())).strip("-")
    department = department or "alla"
    return f"{closed:%Y%m%d-%H%M}_{batch.route}_{department}_{batch.id[:8]}"


def ascii_name(text: str) -> str:
    """A name in plain ASCII for file names (å → a, é → e; other letters dropped)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return decomposed.encode("ascii", "ignore").decode("ascii")


def handover_batch(
    batch_id: str,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
    clock: Callable[[], dt.datetime],
    actor: str,
) -> HandoverOutcome:
    """Write a closed vendor batch to the vendor's drop and record it (see the module text).

    Two hand-overs of the same batch at once (a worker's job and an operator's command, or
    a job claimed again after its lease ran out) take turns on a lock file in the drop; the
    second then finds the batch handed over and changes nothing.

    Raises:
        HandoverError: no such batch, it is still open, it is a local exception list, its
            vendor is no longer configured, or its folder in the drop is damaged.
    """
    done, vendor, target = _check(batch_id, sessions, settings)
    if done is not None:
        return done
    lock_root = create_private_folders(target.parent / LOCK_FOLDER)
    # The lock files stay: removing one while another process waits on it would let a third
    # take a new lock beside it.
    with _exclusive(lock_root / f"{target.name}.lock"):
        # Another hand-over may have finished while this one waited for the lock.
        done, vendor, target = _check(batch_id, sessions, settings)
        if done is not None:
            return done
        drop = drop_for(vendor, target.parent)
        manifest = drop.complete(target.name, batch_id)
        if manifest is None:
            work = _write_folder(batch_id, target, vendor, sessions=sessions, settings=settings)
            manifest = (work / MANIFEST_JSON).read_bytes()
            drop.publish(work, target.name)
        return _record_handover(
            batch_id,
            target,
            manifest,
            sessions=sessions,
            clock=clock,
            actor=actor,
            location=drop.location(target.name),
        )


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a file: the kernel lets it go when the process dies."""
    # Mode 0600 (and the lock folder 0700) like everything Utskick writes into a drop.
    descriptor = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    with os.fdopen(descriptor, "r+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def _check(
    batch_id: str, sessions: sessionmaker[Session], settings: Settings
) -> tuple[HandoverOutcome | None, PrintVendor, Path]:
    """The batch's vendor and folder; an outcome already when it was handed over before."""
    with sessions() as session:
        batch = PrintRepository(session).batch(batch_id)
        if batch is None:
            raise HandoverError(f"det finns ingen utskriftsbatch {batch_id}")
        if batch.local:
            raise HandoverError(
                "batchen är en undantagslista för lokal utskrift; den lämnas inte till ett tryckeri"
            )
        vendor = vendor_named(batch.route, settings)
        if vendor is None:
            raise HandoverError(
                f"tryckeriet {batch.route!r} finns inte i inställningarna (UTSKICK_PRINT_VENDORS)"
            )
        target = settings.vendor_drop(vendor) / folder_name(batch, settings.print_timezone)
        if batch.state not in (CLOSED, HANDED_OVER):
            raise HandoverError(
                "batchen är fortfarande öppen; bara en stängd batch lämnas till tryckeriet "
                "(utskick print close)"
                if batch.state == OPEN
                else "batchen är redan utskriven och lämnas inte över igen"
            )
        if batch.state == HANDED_OVER:
            done = HandoverOutcome(
                batch.id,
                target,
                batch.letter_count,
                batch.page_count or 0,
                batch.sheet_count or 0,
                already_done=True,
                location=drop_for(vendor, target.parent).location(target.name),
            )
            return done, vendor, target
    return None, vendor, target


def _write_folder(
    batch_id: str,
    target: Path,
    vendor: PrintVendor,
    *,
    sessions: sessionmaker[Session],
    settings: Settings,
) -> Path:
    """Render the batch into a new working folder beside `target`; the folder, written."""
    work_root = create_private_folders(target.parent / WORK_FOLDER)
    for stale in work_root.glob(f"{target.name}.*"):
        # A run that died half-way (this one holds the lock, so none is running): its files
        # are never shown to the vendor, start afresh.
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    work = work_root / f"{target.name}.{uuid.uuid4().hex[:8]}"
    # Letters with names and addresses: the folder 0700 and its files 0600 from the start,
    # whatever the umask; the vendor picks them up as the same user, or over SFTP.
    create_private_folders(work)
    renderer = LetterRenderer(window_of(vendor))
    with sessions() as session:
        batch = PrintRepository(session).batch(batch_id)
        if batch is None:
            raise HandoverError(f"det finns ingen utskriftsbatch {batch_id}")
        builder = DocumentBuilder(session, settings)
        rows = (
            _write_merged(work, batch, builder, renderer, vendor)
            if vendor.merged
            else _write_letters(work, builder, renderer, vendor, batch)
        )
        senders = builder.repository.senders([batch.sender_number])
        sender = senders.get(batch.sender_number)
        manifest = _manifest(batch, rows, settings, sender.name if sender else "")
    _write_durably(work / MANIFEST_CSV, _manifest_csv(rows))
    _write_durably(
        work / MANIFEST_JSON, json.dumps(manifest, ensure_ascii=False, indent=2).encode()
    )
    sync_folder(work)
    if (work / LETTER_FOLDER).is_dir():
        sync_folder(work / LETTER_FOLDER)
    return work


def _letters_of(
    builder: DocumentBuilder, batch: PrintBatch
) -> Iterator[tuple[PrintItem, PrintLetter]]:
    # A page of letters at a time, let go of before the next, so that reading does not hold
    # the whole batch (recording the hand-over, one transaction, still holds every letter's
    # row; a merged file holds its pages until it is saved).
    position = 0
    while True:
        page = builder.repository.items_with_letters(
            batch.id, after_position=position, limit=LETTERS_PER_READ
        )
        if not page:
            return
        for item, letter in page:
            yield item, builder.build(item, letter)
        position = page[-1][0].position or 0
        builder.repository.session.expunge_all()


def _write_letters(
    work: Path,
    builder: DocumentBuilder,
    renderer: LetterRenderer,
    vendor: PrintVendor,
    batch: PrintBatch,
) -> list[_Row]:
    create_private_folders(work / LETTER_FOLDER)
    rows = []
    for item, document in _letters_of(builder, batch):
        rendered = renderer.render(document)
        file_name = f"{LETTER_FOLDER}/{item.position:05d}_{item.letter_id}.pdf"
        _write_durably(work / file_name, rendered.pdf)
        rows.append(
            _row(item, document, batch, rendered.pages, vendor, file_name, 1, rendered.sha256)
        )
    return rows


def _write_merged(
    work: Path,
    batch: PrintBatch,
    builder: DocumentBuilder,
    renderer: LetterRenderer,
    vendor: PrintVendor,
) -> list[_Row]:
    pairs = list(_letters_of(builder, batch))
    sender_names = sorted({document.sender_name for _item, document in pairs})
    pdf, parts = renderer.render_merged(
        (document for _item, document in pairs),
        title=f"Utskriftsbatch {batch.id}",
        author=", ".join(sender_names) or "Utskick",
        created=utc(batch.closed_at or batch.created_at),
    )
    _write_durably(work / MERGED_FILE, pdf)
    checksum = hashlib.sha256(pdf).hexdigest()
    return [
        _row(item, document, batch, part.pages, vendor, MERGED_FILE, part.first_page, checksum)
        for (item, document), part in zip(pairs, parts, strict=True)
    ]


def _row(  # noqa: PLR0917 (one manifest row gathers all these facts)
    item: PrintItem,
    document: PrintLetter,
    batch: PrintBatch,
    pages: int,
    vendor: PrintVendor,
    file_name: str,
    first_page: int,
    checksum: str,
) -> _Row:
    lines = document.address_lines
    return _Row(
        letter_id=item.letter_id,
        position=item.position or 0,
        # For a protected identity the envelope's lines are Skatteverket's: no name.
        name="" if item.protected else lines[0],
        address_lines=lines if item.protected else lines[1:],
        forwarding="skatteverket" if item.protected else None,
        department=batch.department,
        pages=pages,
        sheets=sheets_for(pages, duplex=vendor.duplex),
        file=file_name,
        first_page=first_page,
        sha256=checksum,
    )


def _manifest(
    batch: PrintBatch, rows: list[_Row], settings: Settings, sender_name: str
) -> dict[str, object]:
    return {
        "batch_id": batch.id,
        "vendor": batch.route,
        # The organisation whose letters these are (every letter of a batch is one's), for
        # billing beside the department.
        "sender": batch.sender_number,
        "sender_name": sender_name,
        "department": batch.department,
        "created_at": utc(batch.created_at).isoformat(),
        "closed_at": utc(batch.closed_at or batch.created_at).isoformat(),
        "timezone": settings.print_timezone,
        "letters": [
            {
                "letter_id": row.letter_id,
                "position": row.position,
                "name": row.name,
                "address_lines": list(row.address_lines),
                "forwarding": row.forwarding,
                "department": row.department,
                "pages": row.pages,
                "sheets": row.sheets,
                "file": row.file,
                "first_page": row.first_page,
                "sha256": row.sha256,
            }
            for row in rows
        ],
        "totals": {
            "letters": len(rows),
            "pages": sum(row.pages for row in rows),
            "sheets": sum(row.sheets for row in rows),
        },
    }


def _manifest_csv(rows: list[_Row]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [
            "letter_id",
            "position",
            "name",
            *(f"address_{n}" for n in range(1, MAX_ADDRESS_LINES + 1)),
            "forwarding",
            "department",
            "pages",
            "sheets",
            "file",
            "first_page",
            "sha256",
        ]
    )
    for row in rows:
        address = list(row.address_lines[:MAX_ADDRESS_LINES])
        address += [""] * (MAX_ADDRESS_LINES - len(address))
        writer.writerow(
            [
                row.letter_id,
                row.position,
                row.name,
                *address,
                row.forwarding or "",
                row.department,
                row.pages,
                row.sheets,
                row.file,
                row.first_page,
                row.sha256,
            ]
        )
    # UTF-8 with a byte order mark: spreadsheet programs then read å, ä and ö right.
    return ("\ufeff" + out.getvalue()).encode()


def _write_durably(path: Path, content: bytes) -> None:
    # A new file in a new working folder: created 0600, never an existing one.
    with os.fdopen(open_private_file(path), "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def _record_handover(
    batch_id: str,
    target: Path,
    manifest_json: bytes,
    *,
    sessions: sessionmaker[Session],
    clock: Callable[[], dt.datetime],
    actor: str,
    location: str,
) -> HandoverOutcome:
    manifest = json.loads(manifest_json.decode("utf-8"))
    rows = manifest["letters"]
    totals = manifest["totals"]
    assert isinstance(rows, list)
    assert isinstance(totals, dict)
    now = clock()
    with sessions() as session, session.begin():
        repository = PrintRepository(session)
        batch = repository.batch(batch_id, for_update=True)
        if batch is None:
            raise HandoverError(f"det finns ingen utskriftsbatch {batch_id}")
        if batch.state == HANDED_OVER:
            return HandoverOutcome(
                batch_id,
                target,
                batch.letter_count,
                totals["pages"],
                totals["sheets"],
                already_done=True,
                location=location,
            )
        letter_ids = [row["letter_id"] for row in rows]
        lock_letters(session, letter_ids)
        items = {item.letter_id: item for item in repository.items(batch_id)}
        letters = repository.letters(letter_ids)
        for row in rows:
            item = items[row["letter_id"]]
            item.pages, item.sheets = row["pages"], row["sheets"]
            item.sha256, item.file_name = row["sha256"], row["file"]
            letter = letters.get(row["letter_id"])
            if letter is None:
                continue
            events.record(
                session,
                letter,
                vocabulary.HANDED_TO_PRINT,
                actor=actor,
                now=now,
                detail=f"Brevet är lämnat för utskrift och kuvertering ({batch.route}).",
                data={
                    "batch_id": batch_id,
                    "folder": target.name,
                    "file": row["file"],
                    "pages": row["pages"],
                    "sheets": row["sheets"],
                    "sha256": row["sha256"],
                    "part": item.part,
                },
                current=item.part == WHOLE_LETTER,
            )
        batch.state = HANDED_OVER
        batch.handed_over_at = now
        batch.folder = target.name
        batch.page_count = int(totals["pages"])
        batch.sheet_count = int(totals["sheets"])
        batch.manifest_sha256 = hashlib.sha256(manifest_json).hexdigest()
    logger.info("print batch %s handed over to %s (%d letters)", batch_id, target.name, len(rows))
    return HandoverOutcome(
        batch_id,
        target,
        len(rows),
        int(totals["pages"]),
        int(totals["sheets"]),
        already_done=False,
        location=location,
    )
