"""Archive export: a period's records of one organisation as E-ARK SIP packages.

`export_archive` takes the records of the organisation's letters that ended in the period
(local dates, the installation's time zone), in the order they ended, and writes them into
packages of at most `letters_per_package` letters each (`archive_package`): E-ARK CSIP 2.1
with the SIP profile, one folder per package (not a zip: an e-archive's ingest takes either,
and a folder can be checked and read without unpacking). Left out are letters that are no
records (rule "ingen allmän handling") and letters already archived: running the export for
a period again exports only what ended there since.

A package is built under `<target>/.utskick-tmp/` and renamed into place when it is whole,
so no one takes a half-written package; only then are its records marked archived
(`archived_at`, `archive_package`), in one transaction. A run that dies leaves the packages it
finished, with their records marked, and nothing else: the next run exports the rest. Content
kept "until archived" may be disposed of from then on (`retention`).

Memory does not grow with the number of letters: letters are read `LOAD_BATCH` at a time,
each is rendered and written before the next is read, and what a package keeps until it is
finished is a line per file. The export is logged in the access log when a person runs it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.jobs.queue import utc
from utskick.letters.address_screen import ProtectedIdentityLookup, ProtectionUnknownError
from utskick.letters.models import Letter
from utskick.records.archive_mets import MetsHeading
from utskick.records.archive_package import PackageBuilder, PackageSummary
from utskick.records.archive_premis import PremisAgents
from utskick.records.archive_records_xml import PackageHeading
from utskick.records.masking import is_person
from utskick.records.models import NO_RECORD, LetterRecord
from utskick.records.record_document import DEFAULT_TIME_ZONE, load_record_documents
from utskick.senders.models import SenderOrganisation
from utskick.web.access_log import EXPORT, log_access

LOAD_BATCH = 50  # letters read from the database at a time
MARK_BATCH = 500  # records marked archived per statement
STAGING = ".utskick-tmp"
CLI_ROLE = "cli"


class ArchiveError(ValueError):
    """An export that cannot be done, with a Swedish message saying what to do."""


@dataclasses.dataclass(frozen=True)
class ArchiveResult:
    """What an export produced."""

    packages: tuple[PackageSummary, ...]
    letters: int
    attachments: int
    bytes: int


@dataclasses.dataclass(frozen=True)
class _Export:
    """One run's fixed facts."""

    organisation_number: str
    organisation_name: str
    period_from: dt.date
    period_to: dt.date
    target: Path
    started: dt.datetime
    actor: str | None
    time_zone: str
    role: str = CLI_ROLE
    protection: Callable[[], ProtectedIdentityLookup | None] | None = None

    def package_name(self, number: int) -> str:
        return (
            f"utskick-{self.organisation_number}-{self.period_from:%Y%m%d}-"
            f"{self.period_to:%Y%m%d}-{self.started:%Y%m%dT%H%M%SZ}-{number:03d}"
        )


def export_archive(
    sessions: sessionmaker[Session],
    *,
    organisation_number: str,
    period_from: dt.date,
    period_to: dt.date,
    target: Path,
    clock: Callable[[], dt.datetime],
    actor: str | None,
    letters_per_package: int = 1000,
    actor_role: str = CLI_ROLE,
    time_zone: str = DEFAULT_TIME_ZONE,
    protection: Callable[[], ProtectedIdentityLookup | None] | None = None,
) -> ArchiveResult:
    """Export the organisation's records that ended in the period as E-ARK SIP packages.

    Args:
        sessions: the database.
        organisation_number: the sender organisation (10 digits, or as people type it).
        period_from: the first day (local date) whose letters are exported.
        period_to: the last day, inclusive.
        target: the folder the packages are written into (made if missing).
        clock: the current time (aware UTC).
        actor: the person running the export (logged in the access log), or None for the
            system itself.
        letters_per_package: at most this many letters per package.
        actor_role: the person's role, for the access log.
        time_zone: the installation's zone: the period's days and the PDFs' times.
        protection: the population register as the intake asks it, so that a recipient
            protected since the letter went out is masked too (None, or a provider giving
            None: the letters' own events are all there is to go on).

    Raises:
        ArchiveError: the period, the organisation or the target folder will not do, or
            the register does not answer (a package is never written with a number that
            might be a protected person's).
    """
    export = dataclasses.replace(
        _prepare(
            sessions, organisation_number, period_from, period_to, target, clock, actor, time_zone
        ),
        role=actor_role,
        protection=protection,
    )
    if letters_per_package < 1:
        raise ArchiveError("Ett arkivpaket måste rymma minst ett brev (--brev-per-paket).")
    packages: list[PackageSummary] = []
    try:
        after: tuple[dt.datetime, str] | None = None
        while True:
            chunk = _next_chunk(sessions, export, after, letters_per_package)
            if not chunk:
                break
            packages.append(_export_package(sessions, export, chunk, len(packages) + 1, clock))
            after = chunk[-1]
    finally:
        _log(sessions, export, packages, clock)
        _remove_staging(export.target)
    return ArchiveResult(
        packages=tuple(packages),
        letters=sum(package.letters for package in packages),
        attachments=sum(package.attachments for package in packages),
        bytes=sum(package.bytes for package in packages),
    )


def _prepare(  # noqa: PLR0917 (the export's arguments, checked in one place)
    sessions: sessionmaker[Session],
    organisation_number: str,
    period_from: dt.date,
    period_to: dt.date,
    target: Path,
    clock: Callable[[], dt.datetime],
    actor: str | None,
    time_zone: str,
) -> _Export:
    try:
        number = parse_organisation(organisation_number).organisation_number
    except InvalidIdentityError as error:
        raise ArchiveError(
            f"{organisation_number!r} är inget organisationsnummer ({error}); ange det som "
            "202100-4748."
        ) from None
    if period_to < period_from:
        raise ArchiveError(
            f"Perioden slutar ({period_to}) före den börjar ({period_from}); ange --fran före "
            "--till."
        )
    with sessions() as session:
        name = session.scalar(
            select(SenderOrganisation.name).where(SenderOrganisation.organisation_number == number)
        )
    if name is None:
        raise ArchiveError(
            f"Organisationen {number[:6]}-{number[6:]} finns inte bland avsändarna; se "
            "utskick senders list."
        )
    try:
        (target / STAGING).mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ArchiveError(
            f"Mappen {target} kan inte skrivas ({error.strerror}); ange en mapp du får skriva i."
        ) from None
    return _Export(number, name, period_from, period_to, target, clock(), actor, time_zone)


def period_bounds(export: _Export) -> tuple[dt.datetime, dt.datetime]:
    """The period as UTC instants: from the first day's local midnight to the day after."""
    zone = ZoneInfo(export.time_zone)
    start = dt.datetime.combine(export.period_from, dt.time(), zone)
    end = dt.datetime.combine(export.period_to + dt.timedelta(days=1), dt.time(), zone)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _next_chunk(
    sessions: sessionmaker[Session],
    export: _Export,
    after: tuple[dt.datetime, str] | None,
    limit: int,
) -> list[tuple[dt.datetime, str]]:
    """The next package's letters: (ended, id), in the order they ended."""
    start, end = period_bounds(export)
    query = select(LetterRecord.sent_at, LetterRecord.letter_id).where(
        LetterRecord.sender_number == export.organisation_number,
        LetterRecord.sent_at >= start,
        LetterRecord.sent_at < end,
        LetterRecord.rule != NO_RECORD,
        LetterRecord.archived_at.is_(None),
    )
    if after is not None:
        last, last_id = after
        query = query.where(
            (LetterRecord.sent_at > last)
            | ((LetterRecord.sent_at == last) & (LetterRecord.letter_id > last_id))
        )
    query = query.order_by(LetterRecord.sent_at, LetterRecord.letter_id).limit(limit)
    with sessions() as session:
        return [(utc(sent), str(letter_id)) for sent, letter_id in session.execute(query)]


def _export_package(
    sessions: sessionmaker[Session],
    export: _Export,
    chunk: Sequence[tuple[dt.datetime, str]],
    number: int,
    clock: Callable[[], dt.datetime],
) -> PackageSummary:
    name = export.package_name(number)
    final = export.target / name
    if final.exists():
        raise ArchiveError(f"Det finns redan ett arkivpaket {final}; flytta det och försök igen.")
    staging = export.target / STAGING / name
    shutil.rmtree(staging, ignore_errors=True)
    now = clock()
    builder = PackageBuilder(
        staging,
        PackageHeading(
            name,
            export.organisation_number,
            export.organisation_name,
            export.period_from,
            export.period_to,
            now,
        ),
        MetsHeading(
            name,
            f"Utskick: {export.organisation_name}, brev {export.period_from}–{export.period_to}",
            export.organisation_number,
            export.organisation_name,
            now,
            software_version(),
        ),
        PremisAgents(
            software_version(),
            export.organisation_number,
            export.organisation_name,
            export.actor,
        ),
    )
    ids = [letter_id for _sent, letter_id in chunk]
    with builder:
        for first in range(0, len(ids), LOAD_BATCH):
            batch = ids[first : first + LOAD_BATCH]
            masked = _protected_now(sessions, batch, export.protection)
            with sessions() as session:
                documents = load_record_documents(
                    session, batch, masked_ids=masked, time_zone=export.time_zone
                )
            for document in documents:
                builder.add(document, clock())
            del documents  # one batch of letters in memory at a time
    summary = builder.finish(clock(), _documentation(export, name, chunk, builder.letters))
    _durable(staging)
    staging.rename(final)
    _durable(final.parent)
    _mark_archived(sessions, ids, name, clock())
    return dataclasses.replace(summary, path=final)


def _protected_now(
    sessions: sessionmaker[Session],
    letter_ids: Sequence[str],
    protection: Callable[[], ProtectedIdentityLookup | None] | None,
) -> set[str]:
    """The letters whose recipient the population register says is protected now.

    Asked outside any transaction (a remote call); refused when the register does not answer.
    """
    lookup = protection() if protection is not None else None
    if lookup is None:
        return set()
    with sessions() as session:
        recipients = {
            str(letter_id): str(recipient)
            for letter_id, recipient in session.execute(
                select(Letter.id, Letter.recipient_id).where(Letter.id.in_(letter_ids))
            )
            if is_person(str(recipient))
        }
    if not recipients:
        return set()
    try:
        protected = lookup.protected(sorted(set(recipients.values())))
    except ProtectionUnknownError:
        raise ArchiveError(
            "Folkbokföringen svarar inte på om mottagarna har skyddad identitet, så inget "
            "arkivpaket skrevs färdigt (ett paket får aldrig visa en skyddad persons "
            "personnummer). Försök igen när folkbokföringen svarar."
        ) from None
    return {letter_id for letter_id, person in recipients.items() if person in protected}


def _durable(folder: Path) -> None:
    """Flush what was written to the disk before the next step relies on it.

    One `sync` per package rather than one `fsync` per file: a package is a thousand letters,
    and its records are marked archived only after this, so a crash never leaves a record
    marked archived whose package is not on the disk.
    """
    os.sync()
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _mark_archived(
    sessions: sessionmaker[Session], ids: Sequence[str], package: str, now: dt.datetime
) -> None:
    with sessions() as session, session.begin():
        for first in range(0, len(ids), MARK_BATCH):
            session.execute(
                update(LetterRecord)
                .where(
                    LetterRecord.letter_id.in_(ids[first : first + MARK_BATCH]),
                    LetterRecord.archived_at.is_(None),
                )
                .values(archived_at=now, archive_package=package)
                .execution_options(synchronize_session=False)
            )


def _log(
    sessions: sessionmaker[Session],
    export: _Export,
    packages: Sequence[PackageSummary],
    clock: Callable[[], dt.datetime],
) -> None:
    """One access-log row for the run (a person's run only), also when it stopped half-way."""
    if export.actor is None:
        return
    with sessions() as session, session.begin():
        log_access(
            session,
            username=export.actor,
            role=export.role,
            organisation_number=export.organisation_number,
            action=EXPORT,
            now=clock(),
            detail={
                "vad": "arkivexport (E-ARK SIP)",
                "från": export.period_from.isoformat(),
                "till": export.period_to.isoformat(),
                "mapp": str(export.target),
                "paket": [package.name for package in packages],
            },
            result_count=sum(package.letters for package in packages),
        )


def _remove_staging(target: Path) -> None:
    staging = target / STAGING
    shutil.rmtree(staging, ignore_errors=True)


def software_version() -> str:
    """Utskick's version, as the packages name it."""
    try:
        return importlib.metadata.version("utskick")
    except importlib.metadata.PackageNotFoundError:
        return "okänd"


def _documentation(
    export: _Export, name: str, chunk: Sequence[tuple[dt.datetime, str]], letters: int
) -> str:
    zone = ZoneInfo(export.time_zone)
    first, last = (chunk[0][0].astimezone(zone), chunk[-1][0].astimezone(zone))
    return f"""Arkivpaket {name}

Innehåll: {letters} brev från {export.organisation_name} \
({export.organisation_number[:6]}-{export.organisation_number[6:]}) som allmänna handlingar,
avslutade {first:%Y-%m-%d %H:%M} – {last:%Y-%m-%d %H:%M} ({export.time_zone}), ur perioden \
{export.period_from} – {export.period_to}.
Skapat av Utskick {software_version()} {export.started:%Y-%m-%d %H:%M} UTC.

Paketet följer E-ARK CSIP 2.1 med SIP-profilen (METS.xml i roten).

metadata/descriptive/arkiv.xml     varje brev: ämne, meddelandetyp, arkivregel, gallringsbeslut,
                                   diarienummer, registreringsnummer, mottagare, händelser och
                                   brevets filer med SHA-256 (schema: schemas/arkiv.xsd)
metadata/preservation/premis.xml   PREMIS 3: filernas SHA-256, händelser och agenter
representations/rep1/data/<brevets id>/brev.pdf
                                   brevet som allmän handling i PDF/A-2b: uppgifterna,
                                   brevtexten, bilagornas sidor och händelserna
representations/rep1/data/<brevets id>/bilagor/
                                   bilagorna som de skickades (om innehållet finns kvar)

Mottagare med skyddad identitet står utan personnummer, i både arkiv.xml och PDF-filerna.
Brev vars innehåll gallrats eller minimerats har bara uppgifterna och händelserna kvar; det
står i brev.pdf och i arkiv.xml (content kept="false").
En bilaga som inte själv är PDF/A gör att brev.pdf inte är PDF/A-2b i sin helhet; bilagan finns
också som egen fil.
"""
