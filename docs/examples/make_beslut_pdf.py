# ruff: noqa: INP001 (a script beside the file it makes, not a package)
"""Write `beslut.pdf`, the example attachment the README's tour sends with `--attach`.

A one-page decision letter in A4, drawn with ReportLab (a dependency of Utskick) in its
invariant mode, so that running this again gives the same bytes. It passes the checks every
letter's PDF passes at intake (`utskick.letters.pdf_check`); it is not PDF/A, which a sender's
attachment need not be.

    .venv/bin/python docs/examples/make_beslut_pdf.py [OUT]   # default: beside this script
"""

from __future__ import annotations

import sys
from pathlib import Path

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

LINES = (
    ("Helvetica-Bold", 14, "Exempelkommun, Byggnadsnämnden"),
    ("Helvetica", 10, "Diarienummer BN 2026/123"),
    ("Helvetica", 10, ""),
    ("Helvetica-Bold", 18, "Beslut om bygglov"),
    ("Helvetica", 11, ""),
    ("Helvetica", 11, "Byggnadsnämnden beviljar bygglov för tillbyggnad av enbostadshus"),
    ("Helvetica", 11, "på fastigheten Exempel 1:2."),
    ("Helvetica", 11, ""),
    ("Helvetica", 11, "Bygglovet upphör att gälla om åtgärden inte har påbörjats inom två år"),
    ("Helvetica", 11, "och avslutats inom fem år från den dag beslutet vann laga kraft."),
    ("Helvetica", 11, ""),
    ("Helvetica-Oblique", 9, "Ett exempeldokument för Utskicks demo, inget verkligt beslut."),
)


def beslut_pdf() -> bytes:
    """The example decision letter as PDF bytes (the same bytes on every run)."""
    canvas = Canvas(None, pagesize=A4, invariant=1)
    canvas.setTitle("Beslut om bygglov")
    canvas.setAuthor("Exempelkommun")
    y = A4[1] - 30 * mm
    for font, size, text in LINES:
        canvas.setFont(font, size)
        canvas.drawString(25 * mm, y, text)
        y -= size * 1.6
    canvas.showPage()
    return bytes(canvas.getpdfdata())


def main() -> None:
    """Write the PDF to the path given, or to `beslut.pdf` beside this script."""
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("beslut.pdf")
    out.write_bytes(beslut_pdf())


if __name__ == "__main__":
    main()
