"""Inputs for `utskick bench checks`: letter bodies in HTML and PDF attachments of given sizes.

Everything is built here from code, deterministically, so that two runs measure the same bytes.
"""

from __future__ import annotations

import io
import random

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from utskick.entrypoints.benchmarks.signing import assemble_pdf

_PARAGRAPH = (
    "<p>Hej! Vi har fattat <strong>beslut</strong> i ditt ärende om bygglov för en "
    "komplementbyggnad på fastigheten Exempel 1:23. Beslutet gäller från den dag det "
    "meddelades.</p>"
)
_LIST = (
    "<ul><li>Startbesked: du får inte börja bygga innan du har fått det.</li>"
    "<li>Avgift: <strong>4 850 kronor</strong>, faktura kommer separat.</li>"
    '<li>Överklagande: inom tre veckor, se <a href="https://exempel.se/overklaga">så '
    "överklagar du</a>.</li></ul>"
)
_CONTACT = (
    '<p>Frågor? Skriv till <a href="mailto:bygglov@exempel.se">bygglov@exempel.se</a> '
    'eller läs mer på <a href="https://exempel.se/bygglov">exempel.se/bygglov</a>.</p>'
)
_BLOCK = _PARAGRAPH + _LIST + _CONTACT


def html_body(size: int) -> str:
    """A letter body of p, strong, ul and a, repeated to about `size` bytes of UTF-8."""
    block_bytes = len(_BLOCK.encode())
    return _BLOCK * max(1, round(size / block_bytes))


def letter_pdf() -> bytes:
    """A one-page letter as an office program writes it: compressed text, a standard font."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=A4)
    canvas.setFont("Helvetica-Bold", 14)
    canvas.drawString(72, 770, "Beslut om bygglov")
    canvas.setFont("Helvetica", 11)
    for line in range(40):
        canvas.drawString(72, 740 - 16 * line, f"Rad {line + 1}: " + "text i beslutet " * 5)
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def many_objects_pdf(size: int, *, javascript: bool = False) -> bytes:
    """About `size` bytes of small pages, each its own page object and content stream.

    With `javascript`, the first page has a link whose action is JavaScript: the name then
    sends the file to the exact walk over every object, which meets that page last.
    """
    page_bytes = 300
    pages = max(1, size // page_bytes)
    font, first_page = 3, 4 if not javascript else 5
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, once the pages' numbers are known
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if javascript:
        objects.append(
            b"<< /Type /Annot /Subtype /Link /Rect [72 700 200 720] "
            b"/A << /S /JavaScript /JS (app.alert\\(1\\)) >> >>"
        )
    kids = []
    for page in range(pages):
        number = first_page + 2 * page
        kids.append(f"{number} 0 R".encode())
        annotations = b" /Annots [4 0 R]" if javascript and page == 0 else b""
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents "
            + f"{number + 1} 0 R".encode()
            + f" /Resources << /Font << /F1 {font} 0 R >> >>".encode()
            + annotations
            + b" >>"
        )
        text = f"BT /F1 11 Tf 72 720 Td (Sida {page + 1}: beslut i ärendet) Tj ET".encode("latin-1")
        objects.append(
            b"<< /Length " + str(len(text)).encode() + b" >>\nstream\n" + text + b"\nendstream"
        )
    objects[1] = b"<< /Type /Pages /Kids [" + b" ".join(kids) + f"] /Count {pages} >>".encode()
    return _pdf(objects)


def image_pdf(size: int) -> bytes:
    """One page showing one image whose stream is about `size` bytes (seeded random data)."""
    # Not a secret: the same incompressible bytes in every run, like a photo's JPEG data.
    data = random.Random(20261206).randbytes(max(1, size - 800))  # noqa: S311
    side = 1024
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
            b"/Resources << /XObject << /Im1 5 0 R >> >> >>"
        ),
        b"<< /Length 35 >>\nstream\nq 451 0 0 451 72 300 cm /Im1 Do Q\nendstream",
        b"<< /Type /XObject /Subtype /Image /Width "
        + f"{side} /Height {side}".encode()
        + b" /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode /Length "
        + str(len(data)).encode()
        + b" >>\nstream\n"
        + data
        + b"\nendstream",
    ]
    return _pdf(objects)


def _pdf(objects: list[bytes]) -> bytes:
    # The binary comment line marks the file as binary, as PDF writers do.
    return assemble_pdf(objects, header=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
