"""A finance system that prints its invoices to one PDF and drops it in a watched folder.

`invoice_run` decides who gets which invoice: the letters cycle through demo persons who read
digital mail (Tolvan, Ida, Karin at Brevlåda Syd, Anna at Nord) and persons who get paper
(David is not registered, Bertil has opted out of Exempelkommun), a few numbers have a wrong
check digit, and every fifth invoice has a second page. `print_file` draws them as a finance
system prints them, the recipient's name and address inside the envelope window (15 mm from
the left, 44 mm from the top); `control_file` is the CSV beside it as Swedish Excel saves it
("CSV (semikolonavgränsad)": `;`, CRLF, Windows-1252). `drop` puts a file in a folder the way
a business system does: written under a `.part` name, then renamed into place (or, as a
person copying it in does, under its own name from the first byte).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from support.world import ANNA, BERTIL, DAVID, IDA, KARIN, TOLVAN
from utskick.reference.world import DEMO_WORLD

DIGITAL = (TOLVAN, IDA, KARIN, ANNA)
PAPER = (BERTIL, DAVID)
# Who the invoices go to, in turn (a refused number takes its place where one is set).
CYCLE = (TOLVAN, DAVID, IDA, KARIN, BERTIL, ANNA)
# Invoices whose number has a wrong check digit (by position from 0), as typed in the system.
WRONG_CHECK_DIGIT = {
    17: "19121212-1213",
    250: "19800423-2389",
    333: "199302281466",
    512: "19981231-0001",
    871: "19810105-2383",
    998: "19750101-2476",
}
TOP = A4[1]


@dataclass(frozen=True)
class Invoice:
    """One invoice of the run: to whom (as typed and as an id), its pages and its subject."""

    number: int  # from 1
    written: str  # the personnummer as the finance system has it
    recipient_id: str | None  # the 12-digit id; None for a number with a wrong check digit
    name: str
    address: tuple[str, ...]
    pages: int
    first_page: int  # in the print file, from 1

    @property
    def last_page(self) -> int:
        """The invoice's last page in the print file."""
        return self.first_page + self.pages - 1

    @property
    def subject(self) -> str:
        """The subject line the control file gives it."""
        return f"Faktura 2026-{self.number:05d} för november"


def invoice_run(count: int) -> list[Invoice]:
    """`count` invoices: the people of `CYCLE` in turn, the refused numbers where set."""
    invoices = []
    first_page = 1
    for index in range(count):
        pages = 2 if index % 5 == 0 else 1
        if index in WRONG_CHECK_DIGIT:
            invoice = Invoice(
                index + 1,
                WRONG_CHECK_DIGIT[index],
                None,
                "Felaktig Kontrollsiffra",
                ("Okänd väg 1", "123 99 Exempelstad"),
                pages,
                first_page,
            )
        else:
            person = DEMO_WORLD.person(CYCLE[index % len(CYCLE)])
            assert person.address is not None
            # People type numbers both ways; the hyphen is how most registers print them.
            written = person.id if index % 7 == 0 else f"{person.id[:8]}-{person.id[8:]}"
            invoice = Invoice(
                index + 1,
                written,
                person.id,
                f"{person.given_name} {person.surname}",
                (
                    person.address.street,
                    f"{person.address.postal_code} {person.address.city}",
                ),
                pages,
                first_page,
            )
        invoices.append(invoice)
        first_page += pages
    return invoices


def _text(canvas: Canvas, x_mm: float, y_mm: float, text: str, size: float = 10) -> None:
    canvas.setFont("Helvetica", size)
    canvas.drawString(x_mm * mm, TOP - y_mm * mm, text)


def print_file(invoices: list[Invoice]) -> bytes:
    """The print file: each invoice's pages in turn, the address in the envelope window."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4, invariant=1)
    canvas.setTitle("Fakturor november 2026")
    canvas.setAuthor("Exempelkommun, Ekonomienheten")
    for invoice in invoices:
        _text(canvas, 15, 20, "Exempelkommun, Ekonomienheten", 12)
        _text(canvas, 130, 20, f"Fakturanummer 2026-{invoice.number:05d}")
        _text(canvas, 130, 26, f"Personnummer: {invoice.written}")
        for row, line in enumerate((invoice.name, *invoice.address)):
            _text(canvas, 18, 50 + 5 * row, line, 11)
        _text(canvas, 15, 90, "Faktura för barnomsorg, november 2026", 14)
        _text(canvas, 15, 100, f"Att betala: {100 + invoice.number},00 kr senast 2026-12-31.")
        canvas.showPage()
        for page in range(2, invoice.pages + 1):
            _text(
                canvas, 15, 20, f"Faktura 2026-{invoice.number:05d}, sida {page} av {invoice.pages}"
            )
            _text(canvas, 15, 30, "Specifikation: avgift enligt taxa för förskola.")
            canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def control_file(invoices: list[Invoice]) -> bytes:
    """The control file as Swedish Excel saves CSV: `;`, CRLF, Windows-1252."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["sidor", "personnummer", "ämne"])
    for invoice in invoices:
        pages = (
            str(invoice.first_page)
            if invoice.pages == 1
            else f"{invoice.first_page}-{invoice.last_page}"
        )
        writer.writerow([pages, invoice.written, invoice.subject])
    return buffer.getvalue().encode("cp1252")


def drop(folder: Path, name: str, content: bytes, *, in_place: bool = False) -> Path:
    """Write a file into the folder as a business system does: `<name>.part`, then renamed
    (or, `in_place`, under its own name from the first byte, as a person copying it does)."""
    target = folder / name
    written = target if in_place else folder / f"{name}.part"
    with written.open("wb") as stream:
        stream.write(content)
        stream.flush()
        os.fsync(stream.fileno())
    return target if in_place else written.rename(target)
