"""Render paper letters as A4 PDF/A-2b with the address inside the envelope window.

The renderer is ReportLab's canvas: it is fast (a one-page letter in about 1 ms of CPU,
fonts subset and embedded, the subsets' font programs built once per process by
`utskick.pdfa`), writes extractable text with a ToUnicode map, and draws on the PDF/A-2b
canvas of `utskick.pdfa` (XMP identification, sRGB output intent). Rendering is
deterministic (the PDF's dates come from the letter, not the clock), so a batch written
again after a crash is byte for byte the batch written the first time.

Layout of the first page (millimetres from the top left of the sheet): the sender's name
and department top left, date and references top right, the address inside the configured
window, fold marks for A4 folded in three, then subject and body below the window, followed
by the link to the e-service and the letter's own support text; later pages repeat a
one-line header. The paper attachments follow the letter's pages. A word wider than a line
(a long link) is broken at the margin, so no text runs off the page.

A letter whose sender laid out the paper itself (`as_printed`: a print file's letter with
the address in the window) is its attachments' pages only, with no page of ours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pypdf import PdfReader, PdfWriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from utskick.pdfa import BOLD, REGULAR, pdfa_canvas, register_fonts

PAGE_WIDTH, PAGE_HEIGHT = A4

# Body text geometry.
MARGIN_LEFT = 20 * mm
MARGIN_RIGHT = 20 * mm
COLUMN_WIDTH = PAGE_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
BODY_SIZE = 10.5
BODY_LEADING = 14.0
FOOTER_TOP = PAGE_HEIGHT - 18 * mm  # body text stops above this line
CONTINUATION_TOP = 28 * mm
ADDRESS_PADDING = 3 * mm
ADDRESS_SIZES = (10.0, 9.0, 8.0, 7.0)  # tried in turn until the address fits the window


class WindowTooSmallError(ValueError):
    """The address does not fit the envelope window even in the smallest type."""


@dataclass(frozen=True)
class Window:
    """The envelope window on the A4 sheet, in millimetres from the sheet's top left."""

    left_mm: float
    top_mm: float
    width_mm: float
    height_mm: float

    def rectangle_points(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in PDF points, origin bottom left."""
        x0 = self.left_mm * mm
        x1 = (self.left_mm + self.width_mm) * mm
        y1 = PAGE_HEIGHT - self.top_mm * mm
        y0 = PAGE_HEIGHT - (self.top_mm + self.height_mm) * mm
        return x0, y0, x1, y1


@dataclass(frozen=True)
class PrintLetter:
    """Everything printed on one paper letter."""

    letter_id: str
    sender_name: str
    department: str | None
    letter_date: dt.date
    created_at: dt.datetime
    subject: str
    body: str  # plain text; paragraphs separated by blank lines
    address_lines: tuple[str, ...]  # inside the window, first line on top
    case_number: str | None = None
    reference: str | None = None
    footer_lines: tuple[str, ...] = ()  # the sender's contact details
    eservice_url: str | None = None  # printed after the text
    support_text: str | None = None  # the letter's own, printed after the text
    attachments: tuple[bytes, ...] = field(default=())  # PDFs printed after the letter
    # The attachments are printed as they are, without a page of ours: the first one's first
    # page carries the address in the envelope window (`Letter.paper_layout`). A letter
    # without attachments gets its page of ours all the same, so that it is never empty.
    as_printed: bool = False


@dataclass(frozen=True)
class RenderedLetter:
    """One letter as a PDF file."""

    letter_id: str
    pdf: bytes
    pages: int

    @property
    def sha256(self) -> str:
        """The file's SHA-256, hex."""
        return hashlib.sha256(self.pdf).hexdigest()


@dataclass(frozen=True)
class MergedPart:
    """Where one letter lies in a merged batch file."""

    letter_id: str
    first_page: int  # from 1
    pages: int


class LetterRenderer:
    """Lays out and draws letters for one envelope window."""

    def __init__(self, window: Window) -> None:
        self.window = window

    # --- public ----------------------------------------------------------------------------

    def render(self, letter: PrintLetter) -> RenderedLetter:
        """One letter (its paper attachments after it) as a PDF/A file."""
        buffer = io.BytesIO()
        canvas = pdfa_canvas(
            buffer, title=letter.subject, author=letter.sender_name, created=letter.created_at
        )
        own_pages = self._draw(canvas, letter)
        canvas.save()
        pdf = buffer.getvalue()
        attachments = _read_attachments(letter)
        if attachments:
            pdf = _insert_attachments(pdf, [(own_pages, attachments)])
        return RenderedLetter(letter.letter_id, pdf, own_pages + _pages_of(attachments))

    def render_merged(
        self, letters: Iterable[PrintLetter], *, title: str, author: str, created: dt.datetime
    ) -> tuple[bytes, list[MergedPart]]:
        """All letters in one PDF/A file, in order; where each lies in it."""
        buffer = io.BytesIO()
        canvas = pdfa_canvas(buffer, title=title, author=author, created=created)
        parts: list[MergedPart] = []
        insertions: list[tuple[int, list[PdfReader]]] = []
        drawn = 0  # pages drawn by us so far
        inserted = 0  # attachment pages that will be inserted before the current letter
        for letter in letters:
            own = self._draw(canvas, letter)
            drawn += own
            attachments = _read_attachments(letter)
            extra = _pages_of(attachments)
            parts.append(MergedPart(letter.letter_id, drawn - own + inserted + 1, own + extra))
            if attachments:
                insertions.append((drawn, attachments))
            inserted += extra
        canvas.save()
        pdf = buffer.getvalue()
        if insertions:
            pdf = _insert_attachments(pdf, insertions)
        return pdf, parts

    def address_layout(self, lines: Sequence[str]) -> tuple[float, list[tuple[str, float, float]]]:
        """The font size and (text, x, baseline y) of each address line inside the window.

        Raises:
            WindowTooSmallError: the lines do not fit even in the smallest type.
        """
        x0, y0, x1, y1 = self.window.rectangle_points()
        inner_width = x1 - x0 - 2 * ADDRESS_PADDING
        inner_height = y1 - y0 - 2 * ADDRESS_PADDING
        for size in ADDRESS_SIZES:
            leading = size * 1.2
            # The block's height: the first line's ascent, then a leading per further line,
            # then the last line's descent.
            height = size * 0.76 + leading * (len(lines) - 1) + size * 0.24
            widths = [pdfmetrics.stringWidth(line, REGULAR, size) for line in lines]
            if height <= inner_height and max(widths, default=0) <= inner_width:
                top = y1 - ADDRESS_PADDING - size * 0.76
                return size, [
                    (line, x0 + ADDRESS_PADDING, top - index * leading)
                    for index, line in enumerate(lines)
                ]
        raise WindowTooSmallError(
            "adressen får inte plats i kuvertfönstret ens med minsta stil; korta adressraderna "
            "eller ställ in ett större fönster för leverantören"
        )

    # --- drawing ---------------------------------------------------------------------------

    def _draw(self, canvas: Canvas, letter: PrintLetter) -> int:
        """Draw the letter's own pages; returns how many (none for a letter as printed)."""
        if letter.as_printed and letter.attachments:
            return 0
        register_fonts()
        pages = self._paginate(letter)
        total = len(pages)
        for number, lines in enumerate(pages, start=1):
            if number == 1:
                self._first_page_head(canvas, letter)
                top = self._body_top()
                canvas.setFont(BOLD, 12)
                canvas.drawString(MARGIN_LEFT, top, letter.subject)
                top -= BODY_LEADING * 1.6
            else:
                canvas.setFont(REGULAR, 8)
                canvas.drawString(
                    MARGIN_LEFT, PAGE_HEIGHT - 15 * mm, f"{letter.sender_name} – {letter.subject}"
                )
                top = PAGE_HEIGHT - CONTINUATION_TOP
            canvas.setFont(REGULAR, BODY_SIZE)
            text = canvas.beginText(MARGIN_LEFT, top)
            text.setFont(REGULAR, BODY_SIZE, BODY_LEADING)
            for line in lines:
                text.textLine(line)
            canvas.drawText(text)
            self._footer(canvas, letter, number, total)
            canvas.showPage()
        return total

    def _body_top(self) -> float:
        window_bottom = self.window.top_mm + self.window.height_mm
        return PAGE_HEIGHT - max(window_bottom + 14, 92) * mm

    def _paginate(self, letter: PrintLetter) -> list[list[str]]:
        lines = _text_lines(letter.body)
        closing = []
        if letter.eservice_url:
            # A link has no spaces: broken at the margin, it starts beside its label.
            closing.append(broken_at_margin(f"E-tjänst: {letter.eservice_url}", COLUMN_WIDTH))
        if letter.support_text:
            closing.append(_text_lines(letter.support_text))
        for block in closing:
            if lines and lines[-1]:
                lines.append("")
            lines.extend(block)
        bottom = PAGE_HEIGHT - FOOTER_TOP + 6 * mm
        first_capacity = int((self._body_top() - BODY_LEADING * 1.6 - bottom) // BODY_LEADING) + 1
        later_capacity = int((PAGE_HEIGHT - CONTINUATION_TOP - bottom) // BODY_LEADING) + 1
        pages = [lines[:first_capacity]]
        rest = lines[first_capacity:]
        while rest:
            pages.append(rest[:later_capacity])
            rest = rest[later_capacity:]
        return pages

    def _first_page_head(self, canvas: Canvas, letter: PrintLetter) -> None:
        canvas.setFont(BOLD, 13)
        canvas.drawString(15 * mm, PAGE_HEIGHT - 17 * mm, letter.sender_name)
        if letter.department:
            canvas.setFont(REGULAR, 10)
            canvas.drawString(15 * mm, PAGE_HEIGHT - 22.5 * mm, letter.department)
        details = [("Datum", letter.letter_date.isoformat())]
        if letter.case_number:
            details.append(("Diarienummer", letter.case_number))
        if letter.reference:
            details.append(("Referens", letter.reference))
        for index, (label, value) in enumerate(details):
            y = PAGE_HEIGHT - (17 + 4.5 * index) * mm
            canvas.setFont(REGULAR, 8)
            canvas.drawString(125 * mm, y, label)
            canvas.setFont(REGULAR, 10)
            canvas.drawString(150 * mm, y, value)
        size, placed = self.address_layout(letter.address_lines)
        canvas.setFont(REGULAR, size)
        for line, x, y in placed:
            canvas.drawString(x, y, line)
        # Fold marks for A4 folded in three (to an E65 or C5 envelope).
        canvas.setLineWidth(0.3)
        for fold_mm in (99, 198):
            y = PAGE_HEIGHT - fold_mm * mm
            canvas.line(3 * mm, y, 7 * mm, y)

    def _footer(self, canvas: Canvas, letter: PrintLetter, number: int, total: int) -> None:
        canvas.setLineWidth(0.3)
        canvas.line(
            MARGIN_LEFT,
            PAGE_HEIGHT - FOOTER_TOP,
            PAGE_WIDTH - MARGIN_RIGHT,
            PAGE_HEIGHT - FOOTER_TOP,
        )
        canvas.setFont(REGULAR, 7.5)
        for index, line in enumerate(letter.footer_lines[:2]):
            y = PAGE_HEIGHT - FOOTER_TOP - (4 + 3.5 * index) * mm
            canvas.drawString(MARGIN_LEFT, y, line)
        canvas.drawRightString(
            PAGE_WIDTH - MARGIN_RIGHT,
            PAGE_HEIGHT - FOOTER_TOP - 4 * mm,
            f"Sida {number} av {total}",
        )


def _text_lines(text: str) -> list[str]:
    """A plain text as the lines of the body's column; each newline starts a line."""
    lines: list[str] = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        if not paragraph.strip():
            lines.append("")
            continue
        for line in simpleSplit(paragraph, REGULAR, BODY_SIZE, COLUMN_WIDTH) or [""]:
            lines.extend(broken_at_margin(line, COLUMN_WIDTH))
    return lines


# Where a long link is best broken: after one of these, if that leaves the line half full
# (not after a hyphen or a dot, which a reader could take for the end of a word or sentence).
_LINK_BREAKS = "/?&=#"


def broken_at_margin(line: str, width: float, size: float = BODY_SIZE) -> list[str]:
    """A line too wide for `width` (one long word, such as a link) as lines that fit.

    Each piece ends after the last `/`, `?`, `&`, `=` or `#` in its second half, or else just
    before the margin; no hyphen is added, so a link reads the same when retyped.
    """
    pieces = []
    while pdfmetrics.stringWidth(line, REGULAR, size) > width:
        fits = 1
        while pdfmetrics.stringWidth(line[: fits + 1], REGULAR, size) <= width:
            fits += 1
        cut = max((line.rfind(c, fits // 2, fits) + 1 for c in _LINK_BREAKS), default=0)
        cut = cut if cut > fits // 2 else fits
        pieces.append(line[:cut])
        line = line[cut:]
    pieces.append(line)
    return pieces


def _read_attachments(letter: PrintLetter) -> list[PdfReader]:
    """The letter's paper attachments, each parsed once (for counting and for inserting)."""
    return [PdfReader(io.BytesIO(content)) for content in letter.attachments]


def _pages_of(attachments: list[PdfReader]) -> int:
    return sum(len(reader.pages) for reader in attachments)


def _insert_attachments(pdf: bytes, insertions: list[tuple[int, list[PdfReader]]]) -> bytes:
    """Insert attachment pages after the given page counts of our own pages."""
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    shift = 0
    for after, attachments in insertions:
        for reader in attachments:
            for offset, page in enumerate(reader.pages):
                writer.insert_page(page, after + shift + offset)
            shift += len(reader.pages)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sheets_for(pages: int, *, duplex: bool) -> int:
    """Sheets of paper for this many pages."""
    return math.ceil(pages / 2) if duplex else pages
