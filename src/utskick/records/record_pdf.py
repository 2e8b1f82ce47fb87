"""A letter's record as one PDF: for disclosure (utlämnande) and for the e-archive.

The document, in order: the facts of the letter as a record (organisation, department,
message type and records rule, subject, case number, reference, registration number,
recipient, protection class, when it was sent and delivered, channel and outcome), the body
text (or, where the content was minimised or disposed of, a plain statement saying so), the
list of attachments with their SHA-256; then the attachments' own pages; then the timeline,
every event with its local time, its state in Swedish and its detail. A `marking` ("Sekretess
kan gälla – pröva före utlämnande (OSL)") is printed in bold black at the head of every page,
the attachments' pages included; each page also says which letter it belongs to and its
number.

What holds for PDF/A: the pages drawn here are PDF/A-2b (`utskick.pdfa`: XMP identification,
sRGB output intent, every font embedded as a subset with a ToUnicode map, no encryption), and
the file as a whole keeps that identification. An attached PDF is appended as the sender
gave it (with the marking and page line drawn over it in our embedded font): when it is not
itself PDF/A (fonts not embedded, transparency, device colours without an intent, …) the
whole file does not conform, whatever its XMP says. Only a file without attachment pages is
PDF/A-2b throughout. Nothing here has been checked with veraPDF (not available); the tests
check the identification, the output intent and the embedding with pypdf.

Rendering is deterministic: the PDF's dates are the record's, so the same record with the
same marking gives the same bytes (an archive package can be made again and compared).
"""

from __future__ import annotations

import dataclasses
import io
import re
from collections.abc import Sequence
from html.parser import HTMLParser

from pypdf import PageObject, PdfReader, PdfWriter
from pypdf.errors import PyPdfError
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from utskick.letters import vocabulary
from utskick.pdfa import BOLD, REGULAR, pdfa_canvas, register_fonts
from utskick.records.record_document import (
    RecordAttachment,
    RecordDocument,
    load_record_document,
    local_time,
)

__all__ = ["RecordDocument", "load_record_document", "render_record_pdf"]

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 20 * mm
WIDTH = PAGE_WIDTH - 2 * MARGIN
CONTENT_TOP = PAGE_HEIGHT - 32 * mm  # below the page head
CONTENT_BOTTOM = 20 * mm  # above the page line
LABEL_WIDTH = 48 * mm
NONE = "–"
_WHITESPACE = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class _Run:
    x: float  # from the left margin
    text: str
    font: str
    size: float


@dataclasses.dataclass(frozen=True)
class _Row:
    """One line of the layout: its text runs and the height it takes."""

    runs: tuple[_Run, ...]
    height: float


@dataclasses.dataclass(frozen=True)
class _Attached:
    attachment: RecordAttachment
    reader: PdfReader | None
    problem: str | None  # why its pages are not appended, in Swedish

    @property
    def pages(self) -> int:
        return len(self.reader.pages) if self.reader is not None else 0


def render_record_pdf(record: RecordDocument, *, marking: str | None = None) -> bytes:
    """The record as one PDF (see the module text for what is PDF/A-2b in it)."""
    register_fonts()  # the layout measures text before the canvas exists
    attached = [_attach(attachment) for attachment in record.attachments]
    rows = _facts_rows(record) + _content_rows(record) + _attachment_rows(attached)
    inserted = sum(item.pages for item in attached)
    if inserted:
        # The timeline follows the attachments' pages, so it starts a page of its own.
        first, timeline = _paginate(rows), _paginate(_timeline_rows(record))
    else:
        first, timeline = _paginate([*rows, _Row((), 8), *_timeline_rows(record)]), []
    total = len(first) + inserted + len(timeline)
    buffer = io.BytesIO()
    canvas = pdfa_canvas(
        buffer,
        title=f"Allmän handling: {record.subject}",
        author=record.organisation_name,
        created=record.sent_at or record.created_at,
    )
    for number, rows in enumerate(first, start=1):
        _draw_page(canvas, record, rows, number=number, total=total, marking=marking)
    for offset, rows in enumerate(timeline, start=1):
        number = len(first) + inserted + offset
        _draw_page(canvas, record, rows, number=number, total=total, marking=marking)
    canvas.save()
    pdf = buffer.getvalue()
    if inserted:
        pdf = _with_attachments(
            pdf, record, attached, after=len(first), total=total, marking=marking
        )
    return pdf


# --- the rows ---------------------------------------------------------------------------


def _wrapped(text: str, font: str, size: float, width: float) -> list[str]:
    """A paragraph as lines that fit `width`; a word wider than a line is cut at the margin."""
    lines: list[str] = []
    for split in simpleSplit(text, font, size, width) or [""]:
        rest = split
        while pdfmetrics.stringWidth(rest, font, size) > width:
            fits = 1
            while pdfmetrics.stringWidth(rest[: fits + 1], font, size) <= width:
                fits += 1
            lines.append(rest[:fits])
            rest = rest[fits:]
        lines.append(rest)
    return lines


def _heading(text: str) -> list[_Row]:
    return [_Row((), 4), _Row((_Run(0, text, BOLD, 11),), 16)]


def _fact(label: str, value: str) -> list[_Row]:
    size = 9.5
    lines = _wrapped(value or NONE, REGULAR, size, WIDTH - LABEL_WIDTH)
    rows = [_Row((_Run(0, label, BOLD, size), _Run(LABEL_WIDTH, lines[0], REGULAR, size)), 13)]
    rows.extend(_Row((_Run(LABEL_WIDTH, line, REGULAR, size),), 13) for line in lines[1:])
    return rows


def _paragraphs(text: str, size: float = 10, leading: float = 14) -> list[_Row]:
    rows = []
    for paragraph in text.replace("\r\n", "\n").split("\n"):
        if not paragraph.strip():
            rows.append(_Row((), leading))
            continue
        rows.extend(
            _Row((_Run(0, line, REGULAR, size),), leading)
            for line in _wrapped(paragraph, REGULAR, size, WIDTH)
        )
    return rows


def _facts_rows(record: RecordDocument) -> list[_Row]:
    zone = record.time_zone
    type_text = record.message_type or NONE
    if record.message_type_name:
        type_text = f"{record.message_type_name} ({record.message_type})"
    outcome = vocabulary.state_text(record.state)
    if record.reason and record.reason != record.state:
        outcome = f"{outcome}: {vocabulary.text_for(record.reason)}"
    facts = [
        ("Organisation", f"{record.organisation_name} ({_org_number(record)})"),
        ("Förvaltning", record.department or NONE),
        ("Meddelandetyp", type_text),
        ("Arkivregel", record.rule_text),
        ("Förvaras av", record.keeper_text),
        ("Gallringsbeslut", record.decision or NONE),
        ("Ämne", record.subject),
        ("Ärendets diarienummer", record.case_number or NONE),
        ("Referens", record.reference or NONE),
        ("Registreringsnummer", record.registration_number or NONE),
        ("Mottagare", record.recipient),
        ("Skyddsklass", str(record.protection_class)),
        ("Skapat", local_time(record.created_at, zone)),
        ("Skickat (avslutat)", local_time(record.sent_at, zone) if record.sent_at else NONE),
        ("Levererat", local_time(record.delivered_at, zone) if record.delivered_at else NONE),
        ("Kanal", vocabulary.channel_text(record.channel)),
        ("Utfall", outcome),
        ("Brevets id", record.letter_id),
    ]
    rows = [_Row((_Run(0, "Brev som allmän handling", BOLD, 14),), 20)]
    rows.extend(
        _Row((_Run(0, line, BOLD, 11),), 15) for line in _wrapped(record.subject, BOLD, 11, WIDTH)
    )
    rows.append(_Row((), 6))
    for label, value in facts:
        rows.extend(_fact(label, value))
    return rows


def _org_number(record: RecordDocument) -> str:
    number = record.organisation_number
    return f"{number[:6]}-{number[6:]}" if len(number) == 10 else number  # noqa: PLR2004


def _content_rows(record: RecordDocument) -> list[_Row]:
    rows = _heading("Brevtext")
    if record.body is None:
        note = record.content_note or "Brevtexten finns inte kvar."
        return rows + _paragraphs(note)
    body = _html_text(record.body) if record.body_type == "text/html" else record.body
    rows += _paragraphs(body)
    if record.content_note:
        rows += [_Row((), 8), *_paragraphs(record.content_note, size=9, leading=12)]
    return rows


def _attachment_rows(attached: Sequence[_Attached]) -> list[_Row]:
    rows = _heading("Bilagor")
    if not attached:
        return rows + _paragraphs("Brevet har inga bilagor.")
    for item in attached:
        attachment = item.attachment
        if item.reader is not None:
            where = f"{item.pages} sidor, bifogade efter denna del"
        else:
            where = item.problem or ""
        rows += _paragraphs(f"{attachment.position}. {attachment.filename}", size=9.5, leading=13)
        rows += _paragraphs(
            f"{attachment.size} byte, SHA-256 {attachment.sha256}. {where}", size=8.5, leading=11
        )
        rows.append(_Row((), 4))
    return rows


def _timeline_rows(record: RecordDocument) -> list[_Row]:
    size = 8.5
    time_width, state_width = 44 * mm, 42 * mm
    detail_x = time_width + state_width
    rows = [_Row((_Run(0, "Händelser", BOLD, 11),), 16)]
    rows.append(
        _Row(
            (
                _Run(0, "Tid", BOLD, size),
                _Run(time_width, "Läge", BOLD, size),
                _Run(detail_x, "Uppgift", BOLD, size),
            ),
            12,
        )
    )
    for event in record.events:
        detail = (event.detail or "").strip()
        if not detail and event.reason:
            detail = vocabulary.text_for(event.reason)
        states = _wrapped(vocabulary.state_text(event.state), REGULAR, size, state_width - 3 * mm)
        details = _wrapped(detail or NONE, REGULAR, size, WIDTH - detail_x)
        for index in range(max(len(states), len(details))):
            runs = (
                [_Run(0, local_time(event.at, record.time_zone), REGULAR, size)]
                if not index
                else []
            )
            if index < len(states):
                runs.append(_Run(time_width, states[index], REGULAR, size))
            if index < len(details):
                runs.append(_Run(detail_x, details[index], REGULAR, size))
            rows.append(_Row(tuple(runs), 11))
        rows.append(_Row((), 3))
    if not record.events:
        rows += _paragraphs("Inga händelser finns kvar.")
    return rows


def _paginate(rows: Sequence[_Row]) -> list[list[_Row]]:
    """The rows in pages of the content area; a blank row never starts a page."""
    pages: list[list[_Row]] = [[]]
    room = CONTENT_TOP - CONTENT_BOTTOM
    used = 0.0
    for row in rows:
        if used + row.height > room:
            if not row.runs:
                continue
            pages.append([])
            used = 0.0
        pages[-1].append(row)
        used += row.height
    return pages


# --- drawing ----------------------------------------------------------------------------


def _page_head(canvas: Canvas, width: float, height: float, marking: str | None) -> None:
    """The marking, in bold black, at the head of a page of any size."""
    if not marking:
        return
    canvas.setFillColorRGB(0, 0, 0)
    canvas.setFont(BOLD, 10.5)
    lines = _wrapped(marking, BOLD, 10.5, width - 2 * MARGIN)
    for index, line in enumerate(lines[:2]):
        canvas.drawString(MARGIN, height - 12 * mm - index * 13, line)


def _page_line(canvas: Canvas, width: float, text: str, number: int, total: int) -> None:
    canvas.setFillColorRGB(0, 0, 0)
    canvas.setFont(REGULAR, 7.5)
    canvas.drawString(MARGIN, 10 * mm, _wrapped(text, REGULAR, 7.5, width - 2 * MARGIN - 80)[0])
    canvas.drawRightString(width - MARGIN, 10 * mm, f"Sida {number} av {total}")


def _draw_page(
    canvas: Canvas,
    record: RecordDocument,
    rows: Sequence[_Row],
    *,
    number: int,
    total: int,
    marking: str | None,
) -> None:
    _page_head(canvas, PAGE_WIDTH, PAGE_HEIGHT, marking)
    canvas.setFont(REGULAR, 8)
    canvas.drawString(
        MARGIN, PAGE_HEIGHT - 24 * mm, f"{record.organisation_name} – brev {record.letter_id}"
    )
    canvas.setLineWidth(0.3)
    canvas.line(MARGIN, PAGE_HEIGHT - 26 * mm, PAGE_WIDTH - MARGIN, PAGE_HEIGHT - 26 * mm)
    y = CONTENT_TOP
    for row in rows:
        y -= row.height
        for run in row.runs:
            canvas.setFont(run.font, run.size)
            canvas.drawString(MARGIN + run.x, y + 3, run.text)
    _page_line(canvas, PAGE_WIDTH, f"Allmän handling: {record.subject}", number, total)
    canvas.showPage()


# --- attachments ------------------------------------------------------------------------


def _attach(attachment: RecordAttachment) -> _Attached:
    if attachment.content is None:
        return _Attached(attachment, None, "Innehållet finns inte kvar.")
    try:
        reader = PdfReader(io.BytesIO(attachment.content))
        if not reader.pages:
            return _Attached(attachment, None, "Filen har inga sidor.")
    except (PyPdfError, ValueError, OSError):
        return _Attached(attachment, None, "Filen kan inte läsas som PDF och bifogas inte.")
    return _Attached(attachment, reader, None)


def _with_attachments(
    pdf: bytes,
    record: RecordDocument,
    attached: Sequence[_Attached],
    *,
    after: int,
    total: int,
    marking: str | None,
) -> bytes:
    """Insert the attachments' pages after page `after`, each stamped with head and page line."""
    pages = [(item, page) for item in attached if item.reader for page in item.reader.pages]
    overlay = PdfReader(io.BytesIO(_overlays(record, pages, after, total, marking)))
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf)))
    for offset, (_item, page) in enumerate(pages):
        inserted = writer.insert_page(page, after + offset)
        inserted.merge_page(overlay.pages[offset])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _overlays(
    record: RecordDocument,
    pages: Sequence[tuple[_Attached, PageObject]],
    after: int,
    total: int,
    marking: str | None,
) -> bytes:
    """One transparent page per attachment page: the marking and the page line, to size."""
    buffer = io.BytesIO()
    canvas = pdfa_canvas(
        buffer, title="Sidhuvud", author=record.organisation_name, created=record.created_at
    )
    for offset, (item, page) in enumerate(pages):
        box = page.mediabox
        width, height = float(box.width), float(box.height)
        canvas.setPageSize((width, height))
        canvas.translate(float(box.left), float(box.bottom))
        _page_head(canvas, width, height, marking)
        attachment = item.attachment
        text = f"Bilaga {attachment.position}: {attachment.filename} – brev {record.letter_id}"
        _page_line(canvas, width, text, after + offset + 1, total)
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


# --- HTML bodies ------------------------------------------------------------------------


class _TextOfHtml(HTMLParser):
    """The text of an HTML body, a line break for each block (the allow-list's elements)."""

    BLOCKS = frozenset({"p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr", "ul", "ol"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        del attrs
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("• ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        # Whitespace runs read as one space, as a browser shows them.
        self.parts.append(_WHITESPACE.sub(" ", data))


def _html_text(body: str) -> str:
    parser = _TextOfHtml()
    parser.feed(body)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    text = "\n".join(lines)
    while "\n\n\n" in text:
        text = text.replace("\n\n\n", "\n\n")
    return text.strip()
