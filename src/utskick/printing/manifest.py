"""The manifest of a batch handed to a vendor: one row per letter, as JSON and as CSV.

The vendor reads which file holds which letter, where each envelope goes (a protected
identity's to Skatteverket's forwarding service, without a name) and the batch's totals.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from utskick.jobs.queue import utc
from utskick.printing.models import PrintBatch, PrintItem
from utskick.printing.render import PrintLetter, sheets_for
from utskick.settings import PrintVendor, Settings

MANIFEST_CSV = "manifest.csv"
MAX_ADDRESS_LINES = 6


@dataclass(frozen=True)
class ManifestRow:
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


def manifest_row(  # noqa: PLR0917 (one manifest row gathers all these facts)
    item: PrintItem,
    document: PrintLetter,
    batch: PrintBatch,
    pages: int,
    vendor: PrintVendor,
    file_name: str,
    first_page: int,
    checksum: str,
) -> ManifestRow:
    """A letter's row: its file (and first page in it), envelope, pages and sheets."""
    lines = document.address_lines
    return ManifestRow(
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


def manifest_document(
    batch: PrintBatch, rows: list[ManifestRow], settings: Settings, sender_name: str
) -> dict[str, object]:
    """The manifest as JSON data: the batch, its sender, each letter's row and the totals."""
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


def manifest_csv(rows: list[ManifestRow]) -> bytes:
    """The rows as CSV for spreadsheets: semicolons, CRLF, UTF-8 with a byte order mark."""
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
