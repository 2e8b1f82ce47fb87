# ruff: noqa: INP001 (a script beside the files it makes, not a package)
"""Write `fakturor.pdf` and `fakturor.csv`: a finance system's print file and its control file.

The README's tour drops them into the embedded default's watched folder
(`var/inkorg/ekonomisystem/`). Four invoices of two pages each, printed as a business system
prints them: the recipient's name and address inside the envelope window (15 mm from the
left, 44 mm from the top, as the demo's print vendor has it), so that on paper they go as
they are. The control file says which pages are whose: Tolvan takes digital mail, Bertil has
opted out of Exempelkommun's (paper), Hanna is deceased (impossible), and the fourth number
has a wrong check digit (refused; its pages are put aside in `fel/`). ReportLab's invariant
mode makes the same bytes on every run.

    .venv/bin/python docs/examples/make_fakturor.py [FOLDER]   # default: beside this script
"""

from __future__ import annotations

import sys
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

# (personnummer as the finance system writes it, name, address lines, amount in kronor)
INVOICES = (
    ("19121212-1212", "Tolvan Tolvansson", ("Tolvgatan 12", "123 45 Exempelstad"), "1 250,00"),
    ("19750101-2475", "Bertil Bertilsson", ("Bergsvägen 3", "123 47 Exempelstad"), "980,00"),
    ("19580718-3529", "Hanna Holm", ("Holmgatan 4", "123 50 Exempelstad"), "2 410,00"),
    ("19121212-1213", "Felaktig Kontrollsiffra", ("Okänd väg 1", "123 99 Exempelstad"), "100,00"),
)
Invoice = tuple[str, str, tuple[str, ...], str]
PAGES_PER_INVOICE = 2
TOP = A4[1]


def _text(canvas: Canvas, x_mm: float, y_mm: float, text: str, size: float = 10) -> None:
    canvas.setFont("Helvetica", size)
    canvas.drawString(x_mm * mm, TOP - y_mm * mm, text)


def _first_page(canvas: Canvas, number: int, invoice: Invoice) -> None:
    personnummer, name, lines, amount = invoice
    _text(canvas, 15, 20, "Exempelkommun, Ekonomienheten", 12)
    _text(canvas, 130, 20, f"Fakturanummer 2026-{number:05d}")
    _text(canvas, 130, 26, f"Personnummer: {personnummer}")
    # The address inside the envelope window (15 mm from the left, 44 mm from the top).
    for row, line in enumerate((name, *lines)):
        _text(canvas, 18, 50 + 5 * row, line, 11)
    _text(canvas, 15, 90, "Faktura för barnomsorg, november 2026", 14)
    _text(canvas, 15, 100, f"Att betala: {amount} kr senast 2026-12-31 till bankgiro 123-4567.")
    _text(canvas, 15, 106, f"Ange OCR-nummer 2026{number:05d}1 vid betalning.")
    _text(canvas, 15, 280, "Ett exempeldokument för Utskicks demo, ingen verklig faktura.", 8)


def _later_page(canvas: Canvas, page: int) -> None:
    _text(canvas, 15, 20, f"Specifikation, sida {page} av {PAGES_PER_INVOICE}", 12)
    _text(canvas, 15, 30, "Avgift enligt taxa för förskola och fritidshem.")


def fakturor_pdf() -> bytes:
    """The print file's bytes (the same on every run)."""
    canvas = Canvas(None, pagesize=A4, invariant=1)
    canvas.setTitle("Fakturor november 2026")
    canvas.setAuthor("Exempelkommun, Ekonomienheten")
    for number, invoice in enumerate(INVOICES, start=1):
        _first_page(canvas, number, invoice)
        canvas.showPage()
        for page in range(2, PAGES_PER_INVOICE + 1):
            _later_page(canvas, page)
            canvas.showPage()
    return bytes(canvas.getpdfdata())


def fakturor_csv() -> str:
    """The control file as Swedish Excel saves it: semicolons, a header row."""
    rows = ["sidor;personnummer;ämne"]
    for index, (personnummer, _name, _lines, _amount) in enumerate(INVOICES):
        first = index * PAGES_PER_INVOICE + 1
        rows.append(
            f"{first}-{first + PAGES_PER_INVOICE - 1};{personnummer};"
            f"Faktura 2026-{index + 1:05d} från Exempelkommun"
        )
    return "\r\n".join(rows) + "\r\n"


def main() -> None:
    """Write both files into the folder given (default: beside this script)."""
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fakturor.pdf").write_bytes(fakturor_pdf())
    (folder / "fakturor.csv").write_text(fakturor_csv(), encoding="utf-8")
    print(f"{folder / 'fakturor.pdf'}, {folder / 'fakturor.csv'}")  # noqa: T201


if __name__ == "__main__":
    main()
