"""One E-ARK SIP package, built letter by letter in a staging folder.

The package's folder (its name is its METS `@OBJID`):

    METS.xml                                  the package's root METS
    metadata/descriptive/arkiv.xml            every letter as a record (schemas/arkiv.xsd)
    metadata/preservation/premis.xml          PREMIS 3: fixity, events, agents
    representations/rep1/METS.xml             the representation's METS: every data file
    representations/rep1/data/<letter id>/brev.pdf                 the record as PDF/A-2b
    representations/rep1/data/<letter id>/bilagor/<n>-<name>        the original attachments
    schemas/                                  the XSDs: METS, XLink, the CSIP extension, arkiv.xsd
    documentation/om-paketet.txt              what the package holds, in Swedish

A letter is rendered, written and hashed as it is added; what stays in memory until the
package is finished is one small `PackageFile` per file (path, size, SHA-256), so a package of
a thousand letters costs the same memory whatever the total number of letters exported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from pathlib import Path
from types import TracebackType
from typing import Self

from utskick.records.archive_files import (
    PDF,
    TEXT,
    XML,
    PackageFile,
    describe_file,
    safe_name,
    write_file,
)
from utskick.records.archive_mets import (
    REPRESENTATION,
    MetsHeading,
    representation_mets,
    root_mets,
    schema_files,
)
from utskick.records.archive_premis import PremisAgents, write_premis
from utskick.records.archive_records_xml import (
    LetterFile,
    PackageHeading,
    RecordsXmlWriter,
)
from utskick.records.record_document import RecordDocument
from utskick.records.record_facts import SECRECY_MARKING, SECRECY_PROTECTION_CLASS
from utskick.records.record_pdf import render_record_pdf

DESCRIPTIVE = "metadata/descriptive/arkiv.xml"
PRESERVATION = "metadata/preservation/premis.xml"
DOCUMENTATION = "documentation/om-paketet.txt"
DATA = f"representations/{REPRESENTATION}/data"


def marking_for(record: RecordDocument) -> str | None:
    """The secrecy marking of a record's PDF: the disclosure's rule (`record_facts`)."""
    if record.protection_class >= SECRECY_PROTECTION_CLASS or record.recipient_masked:
        return SECRECY_MARKING
    return None


@dataclasses.dataclass(frozen=True)
class PackageSummary:
    """A finished package: its name, folder and what it holds."""

    name: str
    path: Path
    letters: int
    attachments: int
    files: int
    bytes: int


class PackageBuilder:
    """Builds one package in `folder`; add letters, then `finish`. A context manager."""

    def __init__(
        self,
        folder: Path,
        heading: PackageHeading,
        mets: MetsHeading,
        agents: PremisAgents,
    ) -> None:
        self.folder = folder
        self.heading = heading
        self.mets = mets
        self.agents = agents
        self.data: list[PackageFile] = []
        self.record_pdfs: set[str] = set()
        self.letters = 0
        self.attachments = 0
        self._records: RecordsXmlWriter | None = None
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Self:
        (self.folder / "metadata" / "descriptive").mkdir(parents=True)
        (self.folder / "metadata" / "preservation").mkdir(parents=True)
        (self.folder / DATA).mkdir(parents=True)
        records = RecordsXmlWriter(self.folder / DESCRIPTIVE, self.heading)
        self._records = self._stack.enter_context(records)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.__exit__(kind, error, traceback)

    def add(self, record: RecordDocument, now: dt.datetime) -> None:
        """Render the letter's record, write it and its attachments, and describe them."""
        assert self._records is not None, "add letters inside the `with` block"
        folder = f"{DATA}/{record.letter_id}"
        pdf = write_file(
            self.folder,
            f"{folder}/brev.pdf",
            render_record_pdf(record, marking=marking_for(record)),
            mimetype=PDF,
            created=now,
            letter_id=record.letter_id,
        )
        self.data.append(pdf)
        self.record_pdfs.add(pdf.path)
        listed = [LetterFile("record", pdf.size, pdf.sha256, pdf.path)]
        for attachment in record.attachments:
            href = None
            if attachment.content is not None:
                name = f"{attachment.position}-{safe_name(attachment.filename)}"
                written = write_file(
                    self.folder,
                    f"{folder}/bilagor/{name}",
                    attachment.content,
                    mimetype=attachment.content_type or PDF,
                    created=now,
                    letter_id=record.letter_id,
                )
                self.data.append(written)
                self.attachments += 1
                href = written.path
            listed.append(
                LetterFile(
                    "attachment",
                    attachment.size,
                    attachment.sha256,
                    href,
                    attachment.position,
                    attachment.filename,
                )
            )
        self._records.write(record, listed)
        self.letters += 1

    def finish(self, now: dt.datetime, documentation: str) -> PackageSummary:
        """Close the records file; write PREMIS, the METS files, schemas and documentation."""
        self._stack.close()
        self._records = None
        root = self.folder
        descriptive = describe_file(root, DESCRIPTIVE, mimetype=XML, created=now)
        premis_files = [*self.data, descriptive]
        write_premis(
            root / PRESERVATION,
            files=premis_files,
            record_pdfs=frozenset(self.record_pdfs),
            agents=self.agents,
            created=now,
        )
        preservation = describe_file(root, PRESERVATION, mimetype=XML, created=now)
        rep_mets = write_file(
            root,
            f"representations/{REPRESENTATION}/METS.xml",
            representation_mets(self.mets, self.data),
            mimetype=XML,
            created=now,
        )
        schemas = [
            write_file(root, f"schemas/{path.name}", path.read_bytes(), mimetype=XML, created=now)
            for path in schema_files()
        ]
        readme = write_file(root, DOCUMENTATION, documentation.encode(), mimetype=TEXT, created=now)
        mets = root_mets(
            self.mets,
            descriptive=descriptive,
            preservation=preservation,
            documentation=[readme],
            schemas=schemas,
            representation_mets=rep_mets,
        )
        write_file(root, "METS.xml", mets, mimetype=XML, created=now)
        total = sum(path.stat().st_size for path in root.rglob("*") if path.is_file())
        return PackageSummary(
            name=self.mets.objid,
            path=root,
            letters=self.letters,
            attachments=self.attachments,
            files=sum(1 for path in root.rglob("*") if path.is_file()),
            bytes=total,
        )
