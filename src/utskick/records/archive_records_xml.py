"""The package's descriptive metadata: every letter as a record, written as it is exported.

The file (`metadata/descriptive/arkiv.xml`, schema `schemas/arkiv.xsd`, namespace
`urn:utskick:arkiv:1`) is written incrementally with lxml's `xmlfile`: each letter's element
is written and flushed when the letter has been exported, so the file never waits in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

from lxml import etree

from utskick.records.record_document import RecordDocument

NAMESPACE = "urn:utskick:arkiv:1"
SCHEMA_FILE = "arkiv.xsd"
_N = f"{{{NAMESPACE}}}"


def utc_text(moment: dt.datetime) -> str:
    """An aware time as xs:dateTime in UTC with a "Z" (seconds)."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class LetterFile:
    """One file of a letter as the records file lists it."""

    role: str  # record | attachment
    size: int
    sha256: str
    href: str | None  # None: the content is not kept, so not in the package
    position: int | None = None
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class PackageHeading:
    """What the records file says about the package as a whole."""

    package: str
    organisation_number: str
    organisation_name: str
    period_from: dt.date
    period_to: dt.date
    created_at: dt.datetime


class RecordsXmlWriter:
    """Writes the records file letter by letter; use as a context manager."""

    def __init__(self, path: Path, heading: PackageHeading) -> None:
        self.path = path
        self.heading = heading
        self._stack = contextlib.ExitStack()
        self._writer: Any = None

    def __enter__(self) -> Self:
        file = self._stack.enter_context(self.path.open("wb"))
        writer = self._stack.enter_context(etree.xmlfile(file, encoding="utf-8"))
        writer.write_declaration()
        heading = self.heading
        self._stack.enter_context(
            writer.element(
                f"{_N}records",
                nsmap={None: NAMESPACE},
                attrib={
                    "version": "1",
                    "package": heading.package,
                    "organisationNumber": heading.organisation_number,
                    "organisationName": heading.organisation_name,
                    "periodFrom": heading.period_from.isoformat(),
                    "periodTo": heading.period_to.isoformat(),
                    "createdAt": utc_text(heading.created_at),
                },
            )
        )
        self._writer = writer
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stack.__exit__(*exc_info)  # type: ignore[arg-type]

    def write(self, record: RecordDocument, files: Sequence[LetterFile]) -> None:
        """Write one letter's element and flush it to the file."""
        self._writer.write(letter_element(record, files))
        self._writer.flush()


def _text(parent: etree._Element, name: str, value: str | None, **attrib: str) -> None:
    if value is None:
        return
    element = etree.SubElement(parent, f"{_N}{name}", attrib=attrib or None)
    element.text = value


def letter_element(record: RecordDocument, files: Sequence[LetterFile]) -> etree._Element:
    """One letter as a record (see `schemas/arkiv.xsd`)."""
    letter = etree.Element(f"{_N}letter", attrib={"id": record.letter_id})
    _text(letter, "subject", record.subject)
    _text(letter, "department", record.department)
    if record.message_type:
        _text(
            letter,
            "messageType",
            record.message_type_name or record.message_type,
            code=record.message_type,
        )
    _text(letter, "rule", record.rule)
    _text(letter, "keeper", record.keeper)
    _text(letter, "decision", record.decision)
    _text(letter, "caseNumber", record.case_number)
    _text(letter, "reference", record.reference)
    _text(letter, "registration", record.registration)
    _text(letter, "registrationNumber", record.registration_number)
    recipient = etree.SubElement(
        letter,
        f"{_N}recipient",
        attrib={"protectedIdentity": "true" if record.recipient_masked else "false"},
    )
    if not record.recipient_masked:
        recipient.text = record.recipient
    _text(letter, "protectionClass", str(record.protection_class))
    _text(letter, "createdAt", utc_text(record.created_at))
    _text(letter, "sentAt", utc_text(record.sent_at or record.created_at))
    _text(letter, "deliveredAt", utc_text(record.delivered_at) if record.delivered_at else None)
    _text(letter, "channel", record.channel)
    _text(letter, "state", record.state)
    _text(letter, "reason", record.reason)
    kept = record.content_note is None
    _text(letter, "content", record.content_note or "", kept="true" if kept else "false")
    _files(letter, files)
    events = etree.SubElement(letter, f"{_N}events")
    for event in record.events:
        attrib = {"at": utc_text(event.at), "state": event.state}
        if event.reason:
            attrib["reason"] = event.reason
        element = etree.SubElement(events, f"{_N}event", attrib=attrib)
        _text(element, "actor", event.actor)
        _text(element, "detail", event.detail)
    return letter


def _files(letter: etree._Element, files: Sequence[LetterFile]) -> None:
    listed = etree.SubElement(letter, f"{_N}files")
    for file in files:
        attrib = {"role": file.role}
        if file.position is not None:
            attrib["position"] = str(file.position)
        if file.name is not None:
            attrib["name"] = file.name
        if file.href is not None:
            attrib["href"] = file.href
        attrib["size"] = str(file.size)
        attrib["sha256"] = file.sha256
        etree.SubElement(listed, f"{_N}file", attrib=attrib)


@contextlib.contextmanager
def records_file(path: Path, heading: PackageHeading) -> Iterator[RecordsXmlWriter]:
    """The records file at `path`, open for letters until the block ends."""
    with RecordsXmlWriter(path, heading) as writer:
        yield writer
