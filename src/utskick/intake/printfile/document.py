"""The print file as a PDF: opened and checked once, and cut into one PDF per letter.

A print file is checked like any attachment (`letters.pdf_check`: readable, not encrypted,
no scripts, actions or embedded files) before anything else is read from it, so that what is
refused says so about the file as a whole. Each letter's part is written by pypdf's writer
from that letter's pages only: the writer copies what those pages use (their content, fonts
and images), not the whole document's resources.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader, PdfWriter
from pypdf.errors import PyPdfError

from utskick.intake.printfile.common import MAX_PRINT_FILE_BYTES, PrintFileRefusedError
from utskick.letters.inputs import PDF_MAGIC
from utskick.letters.pdf_check import PdfRefusedError, check_pdf


@dataclass(frozen=True)
class PrintFile:
    """A print file that passed the checks: its name, its bytes and its reader."""

    name: str
    content: bytes
    reader: PdfReader

    @property
    def pages(self) -> int:
        """How many pages the file has."""
        return len(self.reader.pages)


def open_print_file(path: Path) -> PrintFile:
    """The print file, read and checked, with its pages ready to be read.

    Raises:
        PrintFileRefusedError: the file cannot be read, is too large, is no PDF, is damaged
            or encrypted, has no pages, or carries active or embedded content.
    """
    name = path.name
    try:
        size = path.stat().st_size
        if size > MAX_PRINT_FILE_BYTES:
            raise PrintFileRefusedError(
                f"utskriftsfilen {name} är {size // (1024 * 1024)} MB; högst "
                f"{MAX_PRINT_FILE_BYTES // (1024 * 1024)} MB tas emot. Dela upp utskriften i "
                "flera filer"
            )
        content = path.read_bytes()
    except OSError as error:
        raise PrintFileRefusedError(
            f"utskriftsfilen {name} kan inte läsas ({error.strerror or error}); kontrollera att "
            "filen finns och att Utskick får läsa den"
        ) from None
    if not content.startswith(PDF_MAGIC):
        raise PrintFileRefusedError(
            f"utskriftsfilen {name} är ingen PDF-fil (den börjar inte med %PDF-); skriv ut "
            "breven till PDF och försök igen"
        )
    try:
        check_pdf(name, content)
    except PdfRefusedError as error:
        problem = str(error).removeprefix(f"bilagan {name} ")
        raise PrintFileRefusedError(f"utskriftsfilen {name} {problem}") from None
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        pages = len(reader.pages)
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise PrintFileRefusedError(
            f"utskriftsfilen {name} kan inte läsas som PDF ({type(error).__name__}); skriv ut "
            "breven till PDF på nytt och försök igen"
        ) from None
    if pages < 1:
        raise PrintFileRefusedError(f"utskriftsfilen {name} har inga sidor")
    return PrintFile(name, content, reader)


# pypdf keeps every object it has read (`resolved_objects`); a read-only reader reads an
# object again from the file's bytes when it is needed after the cache is let go of. Letting
# go every so many pages keeps memory flat: reading the text of 10,000 pages otherwise grows
# the process by some 170 MB, splitting them by some 25 MB; after each 100 pages by 5 and 3.
PAGES_PER_RELEASE = 100


def release_read_objects(reader: PdfReader) -> None:
    """Let go of the objects the reader has read so far (they are read again when needed)."""
    reader.resolved_objects.clear()


def part_pdf(reader: PdfReader, first_page: int, last_page: int) -> bytes:
    """Pages `first_page` to `last_page` (from 1, inclusive) of the file as a PDF of their own."""
    writer = PdfWriter()
    for number in range(first_page - 1, last_page):
        writer.add_page(reader.pages[number])
    # No producer line naming the library: the part is the sender's document.
    writer.add_metadata({"/Producer": "Utskick"})
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def pages_pdf(pdf: Path, first_page: int, last_page: int) -> bytes:
    """Pages `first_page` to `last_page` (from 1, inclusive) of a print file as a PDF.

    For the caller that puts a rejected letter's pages aside, so that nothing is lost.

    Raises:
        PrintFileRefusedError: the file cannot be read as a PDF.
        ValueError: the pages are not in the file.
    """
    # The file was checked when it was taken; here it is only read again.
    try:
        reader = PdfReader(pdf, strict=False)
        pages = len(reader.pages)
    except (OSError, PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise PrintFileRefusedError(
            f"utskriftsfilen {pdf.name} kan inte läsas som PDF ({type(error).__name__})"
        ) from None
    if not 1 <= first_page <= last_page <= pages:
        msg = f"sidorna {first_page}–{last_page} finns inte i en fil med {pages} sidor"
        raise ValueError(msg)
    return part_pdf(reader, first_page, last_page)
