"""The daily registration file: for case systems that import files instead of taking calls.

When no registration URL is set, the letters waiting for registration are written once a day
(the `records_daily` run calls `write_registration_file`) to one file pair per organisation,
`registrering-<organisationsnummer>-<YYYY-MM-DD>.csv` and `.xml`, with the same rows:

- the CSV as Excel in Sweden opens it: UTF-8 with a byte order mark, `;` between fields,
  CRLF line ends, Swedish column names, identity numbers as people write them, times in
  local time; a text that would start a formula in a spreadsheet (`=`, `+`, `-`, `@`) gets a
  leading `'`;
- the XML in the namespace `urn:utskick:registrering:1`, described by
  `records/schema/registrering.xsd`, with the values as the JSON call carries them.

The files go to `records_export_folder` (default `<home>/records-export`), or, when
`records_export_sftp_url` is set, to that SFTP folder (the local folder then only holds them
while they are uploaded). They appear whole: each is written under a hidden temporary name,
flushed to disk and renamed. Only then are the letters marked `exported`, each with an event,
in one transaction. A crash before that leaves them waiting, and the next run writes the
day's file again with them in it: the file of a day is always replaced whole, and holds every
letter marked for that day, so a case system importing it again must go by the letter id
(`Brev-id`), which it gets for that purpose.

Memory stays flat: the letters are read in chunks of `CHUNK` and written as they come; the
ids to mark are kept in a temporary file, not in a list.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import secrets
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from utskick.letters import events, vocabulary
from utskick.letters.models import Letter
from utskick.letters.repository import lock_letters
from utskick.mm.private_files import create_private_folders
from utskick.records.export_rows import FileRow, RowWriters, read_rows
from utskick.records.export_sftp import ExportError, SftpUploader
from utskick.records.models import (
    REGISTRATION_EXPORTED,
    REGISTRATION_PENDING,
    LetterRecord,
)
from utskick.settings import Settings

logger = logging.getLogger(__name__)

CHUNK = 500
FILE_PREFIX = "registrering"
DEFAULT_FOLDER = "records-export"


@dataclass(frozen=True)
class ExportedFile:
    """One organisation's file pair of the day."""

    organisation_number: str
    name: str  # without extension: registrering-2021004748-2026-12-01
    csv_location: str
    xml_location: str
    rows: int  # letters in the file
    newly_exported: int  # of them, letters that were waiting and are marked now


@dataclass(frozen=True)
class ExportResult:
    """What a run wrote: a file pair per organisation with letters waiting."""

    day: dt.date
    files: tuple[ExportedFile, ...]

    @property
    def letters(self) -> int:
        """The letters marked exported by this run."""
        return sum(file.newly_exported for file in self.files)


class Destination(Protocol):
    """Where finished files go: a folder, or an SFTP server."""

    def location(self, name: str) -> str:
        """Where the file of this name ends up, for people to read."""
        ...

    def publish(self, files: Sequence[tuple[Path, str]]) -> None:
        """Put each finished local file in place under its name, whole or not at all."""
        ...


class FolderDestination:
    """A local or mounted folder the case system imports from."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def location(self, name: str) -> str:
        """The file's path."""
        return str(self.folder / name)

    def publish(self, files: Sequence[tuple[Path, str]]) -> None:
        """Rename each file into place (same folder: one step), then flush the folder."""
        for local, name in files:
            local.replace(self.folder / name)
        _sync_folder(self.folder)


def export_folder(settings: Settings) -> Path:
    """The folder the files are written in (the staging folder when they go to SFTP)."""
    return settings.records_export_folder or settings.home / DEFAULT_FOLDER


def file_name(organisation_number: str, day: dt.date) -> str:
    """`registrering-2021004748-2026-12-01`: the day's file of an organisation, no extension."""
    return f"{FILE_PREFIX}-{organisation_number}-{day.isoformat()}"


def write_registration_file(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    day: dt.date,
    clock: Callable[[], dt.datetime],
    actor: str,
) -> ExportResult | None:
    """Write the day's registration files and mark their letters exported (module text).

    Args:
        sessions: the database; each step is a transaction of its own.
        settings: the export folder or SFTP server; with a registration URL set, nothing is
            done (the letters are registered by calls instead).
        day: the local day the files are named for, normally the day of the run; a file of
            that day also holds the letters marked exported in it earlier that day.
        clock: the time of marking.
        actor: who marks, for the letters' events.

    Returns:
        The files written, or None when no letter was waiting (no file is written).

    Raises:
        ExportError: a file could not be written or handed over; nothing was marked.
        ExportUnavailableError: the SFTP server cannot be reached now; nothing was marked.
    """
    if settings.records_registration_url:
        return None
    organisations = _waiting_organisations(sessions)
    if not organisations:
        return None
    staging = export_folder(settings)
    try:
        create_private_folders(staging)
    except OSError as error:
        raise ExportError(
            f"mappen för registreringsfilen {staging} kan inte skapas ({error.strerror}); "
            "kontrollera UTSKICK_RECORDS_EXPORT_FOLDER och rättigheterna"
        ) from None
    destination: Destination = (
        SftpUploader(settings) if settings.records_export_sftp_url else FolderDestination(staging)
    )
    zone = ZoneInfo(settings.print_timezone)
    run = _Run(sessions, day, _local_day(day, zone), zone, staging, destination, clock, actor)
    return ExportResult(day, tuple(run.export(organisation) for organisation in organisations))


@dataclass(frozen=True)
class _Run:
    """One run's database, day, destination and clock, shared by its organisations' files."""

    sessions: sessionmaker[Session]
    day: dt.date
    window: tuple[dt.datetime, dt.datetime]  # the local day in UTC: first moment, next day's
    zone: ZoneInfo
    staging: Path
    destination: Destination
    clock: Callable[[], dt.datetime]
    actor: str

    def export(self, organisation: str) -> ExportedFile:
        """Write, hand over and mark one organisation's file pair of the day."""
        name = file_name(organisation, self.day)
        csv_name, xml_name = f"{name}.csv", f"{name}.xml"
        with _WorkFiles(self.staging, name) as work:
            try:
                rows = self._write(work, organisation)
                self.destination.publish([(work.csv, csv_name), (work.xml, xml_name)])
            except OSError as error:
                raise ExportError(
                    f"registreringsfilen {name} kunde inte skrivas i {self.staging} ({error}); "
                    "kontrollera utrymmet och rättigheterna i mappen, inget är markerat som "
                    "exporterat"
                ) from error
            work.ids.seek(0)
            marked = _mark_exported(
                self.sessions, work.ids, name, now=self.clock(), actor=self.actor
            )
        logger.info("registration file %s: %d letters, %d newly exported", name, rows, marked)
        return ExportedFile(
            organisation,
            name,
            self.destination.location(csv_name),
            self.destination.location(xml_name),
            rows,
            marked,
        )

    def _write(self, work: _WorkFiles, organisation: str) -> int:
        """Write the pair's rows to the work files, on disk when this returns; the count."""
        rows = 0
        with RowWriters(
            work.csv, work.xml, organisation, self.day, self.zone, written_at=self.clock()
        ) as writers:
            for row in _rows(self.sessions, organisation, self.window):
                writers.write(row)
                rows += 1
                if row.waiting:
                    work.ids.write(row.letter_id + "\n")
        work.finish()
        return rows


def _waiting_organisations(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as session:
        return list(
            session.scalars(
                select(LetterRecord.sender_number)
                .where(LetterRecord.registration == REGISTRATION_PENDING)
                .distinct()
                .order_by(LetterRecord.sender_number)
            )
        )


def _local_day(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The day's first moment and the next day's, in UTC."""
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _rows(
    sessions: sessionmaker[Session], organisation: str, window: tuple[dt.datetime, dt.datetime]
) -> Iterator[FileRow]:
    """The letters of the file in id order: waiting, or marked for this day's file before.

    Read in chunks, each in a short read of its own, so that nothing is held while the
    rows are written.
    """
    belongs = and_(
        LetterRecord.sender_number == organisation,
        or_(
            LetterRecord.registration == REGISTRATION_PENDING,
            and_(
                LetterRecord.registration == REGISTRATION_EXPORTED,
                LetterRecord.registered_at >= window[0],
                LetterRecord.registered_at < window[1],
            ),
        ),
    )
    after = ""
    while True:
        with sessions() as session:
            chunk = read_rows(session, belongs, after=after, limit=CHUNK)
        if not chunk:
            return
        yield from chunk
        after = chunk[-1].letter_id


def _mark_exported(
    sessions: sessionmaker[Session],
    ids: Iterator[str],
    name: str,
    *,
    now: dt.datetime,
    actor: str,
) -> int:
    """Mark the letters in the file exported, each with its event, in one transaction."""
    detail = (
        f"Med i dagens registreringsfil {name} (CSV och XML) som verksamhetens "
        "ärendesystem läser in och registrerar."
    )
    marked = 0
    with sessions() as session, session.begin():
        for chunk in _chunks(line.strip() for line in ids):
            lock_letters(session, chunk)
            records = session.scalars(
                select(LetterRecord).where(
                    LetterRecord.letter_id.in_(chunk),
                    LetterRecord.registration == REGISTRATION_PENDING,
                )
            ).all()
            letters = {
                letter.id: letter
                for letter in session.scalars(
                    select(Letter).where(Letter.id.in_([r.letter_id for r in records]))
                )
            }
            for record in records:
                record.registration = REGISTRATION_EXPORTED
                record.registered_at = now
                letter = letters[record.letter_id]
                events.record(
                    session,
                    letter,
                    letter.state,
                    current=False,
                    reason=vocabulary.REGISTRATION_FILE,
                    detail=detail,
                    data={"registration_file": name},
                    actor=actor,
                    now=now,
                )
            marked += len(records)
            # What is written stays in the transaction, not in the session's memory.
            session.flush()
            session.expunge_all()
    return marked


def _chunks(ids: Iterator[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for letter_id in ids:
        if letter_id:
            chunk.append(letter_id)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _WorkFiles:
    """The hidden files a file pair is written to, and the ids of the letters to mark.

    Removed when the block ends, whatever happened; the finished files are renamed away
    before that (a folder) or uploaded (SFTP).
    """

    def __init__(self, folder: Path, name: str) -> None:
        token = secrets.token_hex(6)
        self.csv = folder / f".{name}.csv.{token}.tmp"
        self.xml = folder / f".{name}.xml.{token}.tmp"
        self.ids = tempfile.TemporaryFile("w+", encoding="utf-8", dir=folder)  # noqa: SIM115

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.ids.close()
        self.csv.unlink(missing_ok=True)
        self.xml.unlink(missing_ok=True)

    def finish(self) -> None:
        """Make sure the written files are on disk before they are put in place."""
        for path in (self.csv, self.xml):
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)


def _sync_folder(path: Path) -> None:
    """Flush a folder's entries to disk, so that a rename in it survives a power cut."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
