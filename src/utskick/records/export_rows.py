"""The rows of the daily registration file: read from the database, written as CSV and XML.

`read_rows` reads one chunk of letters with their attachments' names and checksums (never the
content). `RowWriters` writes each row to both files as it comes, so a file of any size
takes the memory of one row: the CSV through the standard library, the XML through lxml's
incremental writer. The columns and elements are described in docs/records.md and in
`schema/registrering.xsd`.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self
from zoneinfo import ZoneInfo

from lxml import etree
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.jobs.queue import utc
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterAttachment
from utskick.letters.tables.cells import spreadsheet_text
from utskick.mm.private_files import open_private_file
from utskick.records.models import REGISTRATION_PENDING, LetterRecord
from utskick.records.rules import RULE_TEXTS

NAMESPACE = "urn:utskick:registrering:1"
SCHEMA_VERSION = "1"
CSV_COLUMNS = (
    "Brev-id",
    "Meddelande-id",
    "Organisationsnummer",
    "Förvaltning",
    "Arkivregel",
    "Meddelandetyp",
    "Rubrik",
    "Ärendenummer",
    "Referens",
    "Mottagare",
    "Kanal",
    "Status",
    "Skickat",
    "Kontrollsumma (SHA-256)",
    "Bilagor",
    "Bilagornas SHA-256",
)


@dataclass(frozen=True)
class FileRow:
    """One letter in the file, as plain values."""

    letter_id: str
    waiting: bool  # pending registration (True) or marked for this day's file before
    message_id: str
    organisation_number: str
    department: str | None
    rule: str
    message_type: str
    subject: str
    case_number: str | None
    reference: str | None
    recipient_id: str
    channel: str | None
    state: str
    sent_at: dt.datetime
    delivered_digest: str | None
    attachments: tuple[tuple[str, str], ...]  # (name, SHA-256 hex), in the letter's order


def read_rows(
    session: Session, belongs: ColumnElement[bool], *, after: str, limit: int
) -> list[FileRow]:
    """Up to `limit` rows whose letter id comes after `after`, in id order."""
    found = session.execute(
        select(
            LetterRecord.letter_id,
            LetterRecord.registration,
            LetterRecord.rule,
            LetterRecord.message_type,
            LetterRecord.sent_at,
            Letter.message_id,
            Letter.sender_number,
            Letter.department,
            Letter.subject,
            Letter.case_number,
            Letter.reference,
            Letter.recipient_id,
            Letter.channel,
            Letter.state,
            Letter.delivered_digest,
        )
        .join(Letter, Letter.id == LetterRecord.letter_id)
        .where(belongs, LetterRecord.letter_id > after)
        .order_by(LetterRecord.letter_id)
        .limit(limit)
    ).all()
    attachments: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for letter_id, name, sha256 in session.execute(
        select(LetterAttachment.letter_id, LetterAttachment.filename, LetterAttachment.sha256)
        .where(LetterAttachment.letter_id.in_([row.letter_id for row in found]))
        .order_by(LetterAttachment.letter_id, LetterAttachment.position)
    ):
        attachments[letter_id].append((name, sha256))
    return [
        FileRow(
            letter_id=row.letter_id,
            waiting=row.registration == REGISTRATION_PENDING,
            message_id=row.message_id,
            organisation_number=row.sender_number,
            department=row.department,
            rule=row.rule,
            message_type=row.message_type,
            subject=row.subject,
            case_number=row.case_number,
            reference=row.reference,
            recipient_id=row.recipient_id,
            channel=row.channel,
            state=row.state,
            sent_at=utc(row.sent_at),
            delivered_digest=row.delivered_digest,
            attachments=tuple(attachments.get(row.letter_id, ())),
        )
        for row in found
    ]


class RowWriters:
    """The CSV and the XML of one file pair, written row by row (a context manager).

    Both files are new (created with mode 0600, never an existing file); the caller flushes
    them to disk and puts them in place once the block has ended without an error.
    """

    def __init__(
        self,
        csv_path: Path,
        xml_path: Path,
        organisation_number: str,
        day: dt.date,
        zone: ZoneInfo,
        *,
        written_at: dt.datetime,
    ) -> None:
        self.csv_path = csv_path
        self.xml_path = xml_path
        self.organisation_number = organisation_number
        self.day = day
        self.zone = zone
        self.written_at = written_at
        self._stack = contextlib.ExitStack()
        self._csv: Any = None
        self._xml: Any = None

    def __enter__(self) -> Self:
        stack = self._stack
        # utf-8-sig: the byte order mark tells Excel the file is UTF-8.
        text = stack.enter_context(
            os.fdopen(open_private_file(self.csv_path), "w", encoding="utf-8-sig", newline="")
        )
        self._csv = csv.writer(text, delimiter=";", lineterminator="\r\n")
        self._csv.writerow(CSV_COLUMNS)
        binary: IO[bytes] = stack.enter_context(os.fdopen(open_private_file(self.xml_path), "wb"))
        self._xml = stack.enter_context(etree.xmlfile(binary, encoding="utf-8"))
        self._xml.write_declaration()
        stack.enter_context(
            self._xml.element(
                _name("registrations"),
                nsmap={None: NAMESPACE},
                attrib={
                    "version": SCHEMA_VERSION,
                    "organisationNumber": self.organisation_number,
                    "day": self.day.isoformat(),
                    "writtenAt": _rfc3339(self.written_at),
                },
            )
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.__exit__(exc_type, exc, traceback)

    def write(self, row: FileRow) -> None:
        """Add one letter to both files."""
        self._csv.writerow(csv_cells(row, self.zone))
        self._xml.write(xml_element(row))


def csv_cells(row: FileRow, zone: ZoneInfo) -> list[str]:
    """A row's CSV cells, as a person reads them in a spreadsheet."""
    return [
        row.letter_id,
        row.message_id,
        _organisation_shown(row.organisation_number),
        spreadsheet_text(row.department),
        RULE_TEXTS.get(row.rule, row.rule),
        spreadsheet_text(row.message_type),
        spreadsheet_text(row.subject),
        spreadsheet_text(row.case_number),
        spreadsheet_text(row.reference),
        _identity_shown(row.recipient_id),
        vocabulary.CHANNEL_TEXTS.get(row.channel or "", row.channel or ""),
        vocabulary.state_text(row.state),
        row.sent_at.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
        row.delivered_digest or "",
        spreadsheet_text("\n".join(name for name, _ in row.attachments)),
        "\n".join(sha256 for _, sha256 in row.attachments),
    ]


def xml_element(row: FileRow) -> etree._Element:
    """A row as the `<letter>` element of the XML file, the values as the JSON call has them."""
    letter = etree.Element(_name("letter"))
    values = (
        ("letterId", row.letter_id),
        ("messageId", row.message_id),
        ("organisationNumber", row.organisation_number),
        ("department", row.department),
        ("rule", row.rule),
        ("messageType", row.message_type),
        ("subject", row.subject),
        ("caseNumber", row.case_number),
        ("reference", row.reference),
        ("recipientId", row.recipient_id),
        ("channel", row.channel),
        ("state", row.state),
        ("sentAt", _rfc3339(row.sent_at)),
        ("deliveredDigest", row.delivered_digest),
    )
    for tag, value in values:
        if value is not None:
            etree.SubElement(letter, _name(tag)).text = value
    if row.attachments:
        attachments = etree.SubElement(letter, _name("attachments"))
        for name, sha256 in row.attachments:
            attachment = etree.SubElement(attachments, _name("attachment"))
            etree.SubElement(attachment, _name("name")).text = name
            etree.SubElement(attachment, _name("sha256")).text = sha256
    return letter


def _name(tag: str) -> str:
    return f"{{{NAMESPACE}}}{tag}"


def _rfc3339(moment: dt.datetime) -> str:
    return utc(moment).astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _organisation_shown(number: str) -> str:
    return f"{number[:6]}-{number[6:]}" if len(number) == 10 else number  # noqa: PLR2004


def _identity_shown(recipient_id: str) -> str:
    try:
        return parse_identity(recipient_id).display
    except InvalidIdentityError:
        return recipient_id
