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
import datetime as dt
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import unicodedata
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import utc
from utskick.letters import vocabulary
from utskick.letters.events import EventBatch, systems_with_webhooks
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
from utskick.printing.manifest import (
    MANIFEST_CSV,
    ManifestRow,
    manifest_csv,
    manifest_document,
    manifest_row,
)
from utskick.printing.models import CLOSED, HANDED_OVER, OPEN, WHOLE_LETTER, PrintBatch, PrintItem
from utskick.printing.render import LetterRenderer, PrintLetter, Window
from utskick.printing.repository import PrintRepository
from utskick.printing.routes import vendor_named
from utskick.settings import PrintVendor, Settings

logger = logging.getLogger(__name__)

LOCK_FOLDER = ".utskick-locks"
MERGED_FILE = "brev.pdf"
LETTER_FOLDER = "brev"
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
        manifest = manifest_document(batch, rows, settings, sender.name if sender else "")
    _write_durably(work / MANIFEST_CSV, manifest_csv(rows))
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
        attachments = builder.repository.paper_attachments_of([item.letter_id for item, _ in page])
        for item, letter in page:
            yield item, builder.build(item, letter, attachments[letter.id])
        position = page[-1][0].position or 0
        builder.repository.session.expunge_all()


def _write_letters(
    work: Path,
    builder: DocumentBuilder,
    renderer: LetterRenderer,
    vendor: PrintVendor,
    batch: PrintBatch,
) -> list[ManifestRow]:
    create_private_folders(work / LETTER_FOLDER)
    rows = []
    with _BackgroundSync() as syncing:
        for item, document in _letters_of(builder, batch):
            rendered = renderer.render(document)
            file_name = f"{LETTER_FOLDER}/{item.position:05d}_{item.letter_id}.pdf"
            syncing.write(work / file_name, rendered.pdf)
            rows.append(
                manifest_row(
                    item, document, batch, rendered.pages, vendor, file_name, 1, rendered.sha256
                )
            )
    return rows


class _BackgroundSync:
    """Writes files and flushes each to disk in threads while the next letter is rendered.

    One `fsync` after another waits for the disk each time (1-4 ms a file); in threads the
    file system commits many at once, and the renderer goes on meanwhile. Leaving the block
    waits until every file is on disk (raising the first error), so the folder is complete
    before it is shown to the vendor; at most `MAX_PENDING` files are open at a time.
    """

    THREADS = 8
    MAX_PENDING = 64

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="print-fsync")
        self._pending: deque[Future[None]] = deque()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *error: object) -> None:
        self._pool.shutdown(wait=True)  # every file flushed and closed, even after an error
        for future in self._pending:
            future.result()  # the first error, if any

    def write(self, path: Path, content: bytes) -> None:
        """A new file with mode 0600 (never an existing one), flushed in the background."""
        descriptor = open_private_file(path)
        try:
            _write_all(descriptor, content)
        except BaseException:
            os.close(descriptor)
            raise
        self._pending.append(self._pool.submit(_sync_and_close, descriptor))
        if len(self._pending) > self.MAX_PENDING:
            self._pending.popleft().result()


def _write_all(descriptor: int, content: bytes) -> None:
    view = memoryview(content)
    while view:
        view = view[os.write(descriptor, view) :]


def _sync_and_close(descriptor: int) -> None:
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_merged(
    work: Path,
    batch: PrintBatch,
    builder: DocumentBuilder,
    renderer: LetterRenderer,
    vendor: PrintVendor,
) -> list[ManifestRow]:
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
        manifest_row(
            item, document, batch, part.pages, vendor, MERGED_FILE, part.first_page, checksum
        )
        for (item, document), part in zip(pairs, parts, strict=True)
    ]


def _write_durably(path: Path, content: bytes) -> None:
    # A new file in a new working folder: created 0600, never an existing one.
    with os.fdopen(open_private_file(path), "wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def _record_letters(
    session: Session,
    batch: PrintBatch,
    rows: list[dict[str, object]],
    *,
    folder: str,
    now: dt.datetime,
    actor: str,
) -> None:
    """Each letter's files and its HANDED_TO_PRINT event: a few statements for the batch."""
    repository = PrintRepository(session)
    letter_ids = [str(row["letter_id"]) for row in rows]
    lock_letters(session, letter_ids)
    parts = repository.item_parts(batch.id)
    # A letter erased since (its item with it) was printed all the same: nothing to record.
    systems = repository.sending_systems(letter_ids)
    rows = [row for row in rows if row["letter_id"] in systems]
    repository.record_renderings(
        [
            {"letter_id": row["letter_id"], "pages": row["pages"], "sheets": row["sheets"],
             "sha256": row["sha256"], "file_name": row["file"]}
            for row in rows
        ]
    )  # fmt: skip
    batch_events = EventBatch(actor=actor, now=now, webhook_systems=systems_with_webhooks(session))
    detail = f"Brevet är lämnat för utskrift och kuvertering ({batch.route})."
    for row in rows:
        letter_id = str(row["letter_id"])
        part = parts[letter_id]
        data: dict[str, object] = {"batch_id": batch.id, "folder": folder, "part": part}
        data |= {key: row[key] for key in ("file", "pages", "sheets", "sha256")}
        batch_events.add(
            letter_id,
            systems[letter_id],
            vocabulary.HANDED_TO_PRINT,
            detail=detail,
            data=data,
            current=part == WHOLE_LETTER,
        )
    batch_events.write(session)


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
        _record_letters(session, batch, rows, folder=target.name, now=now, actor=actor)
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
