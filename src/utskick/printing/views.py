"""What the CLI, the API and the web pages show of print batches, and the batch as one PDF.

A protected identity's address is never known here; such a letter is shown as
"skyddad identitet" and printed with Skatteverket's forwarding address.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, object_session

from utskick.jobs.queue import utc
from utskick.printing.documents import DocumentBuilder
from utskick.printing.handover import window_of
from utskick.printing.models import PrintBatch
from utskick.printing.render import LetterRenderer
from utskick.printing.repository import PrintRepository
from utskick.printing.routes import vendor_named
from utskick.settings import PrintVendor, Settings

PROTECTED_TEXT = "skyddad identitet (via Skatteverket)"
LOCAL_ROUTE_TEXT = "undantagslista"


def route_text(route: str, local: bool) -> str:
    """Where a batch is printed, for people: "undantagslista" or "tryckeriet (leverantör)".

    The route of a vendor batch is the vendor's configured name, which may itself be a word
    like "tryckeriet": it is shown as it is, with what it is after it.
    """
    return LOCAL_ROUTE_TEXT if local else f"{route} (leverantör)"


def batch_summary(batch: PrintBatch) -> dict[str, object]:
    """A batch's facts for lists (`sender`: the sender organisation's 10 digits).

    An open batch's letters are counted now (its row is not written while letters join it),
    in the session the batch was read in.
    """
    session = object_session(batch)
    letters = (
        PrintRepository(session).letter_count(batch) if session is not None else batch.letter_count
    )
    return {
        "id": batch.id,
        "sender": batch.sender_number or None,
        "route": batch.route,
        "local": batch.local,
        "department": batch.department or None,
        "state": batch.state,
        "letters": letters,
        "pages": batch.page_count,
        "sheets": batch.sheet_count,
        "created_at": utc(batch.created_at),
        "closes_at": _utc_or_none(batch.closes_at),
        "closed_at": _utc_or_none(batch.closed_at),
        "close_reason": batch.close_reason,
        "handed_over_at": _utc_or_none(batch.handed_over_at),
        "folder": batch.folder,
    }


def batch_letters(session: Session, batch: PrintBatch) -> list[dict[str, object]]:
    """The letters of a batch in print order, with to whom each goes (never a protected address).

    An open batch's letters are numbered as they would be if it closed now.
    """
    rows: list[dict[str, object]] = []
    pairs = PrintRepository(session).items_with_letters(batch.id)
    for number, (item, letter) in enumerate(pairs, start=1):
        if item.protected:
            recipient = PROTECTED_TEXT
        else:
            lines = item.address or []
            recipient = ", ".join(lines[:1] + lines[-1:]) if lines else "–"
        rows.append(
            {
                "position": item.position if item.position is not None else number,
                "letter_id": letter.id,
                "recipient": recipient,
                "subject": letter.subject,
                "case_number": letter.case_number,
                "part": item.part,
                "pages": item.pages,
                "sheets": item.sheets,
                "printed_at": _utc_or_none(item.printed_at),
            }
        )
    return rows


def batch_pdf(session: Session, batch: PrintBatch, settings: Settings) -> tuple[bytes, int]:
    """The whole batch as one PDF (rendered now; the same bytes every time); and its size."""
    vendor = vendor_named(batch.route, settings) or _local_printer(settings)
    builder = DocumentBuilder(session, settings)
    pairs = builder.repository.items_with_letters(batch.id)
    if not pairs:
        return b"", 0
    documents = [builder.build(item, letter) for item, letter in pairs]
    # A batch holds one organisation's letters: the author is that organisation.
    author = ", ".join(sorted({document.sender_name for document in documents}))
    day = batch_day(batch, settings.print_timezone)
    pdf, _parts = LetterRenderer(window_of(vendor)).render_merged(
        documents,
        title=f"Utskrift {author} {batch.department or batch.route} {day:%Y-%m-%d}",
        author=author,
        created=utc(batch.closed_at or batch.created_at),
    )
    return pdf, len(documents)


def batch_day(batch: PrintBatch, timezone: str) -> dt.date:
    """The local day the batch was opened (a list opened at 00:30 belongs to that day)."""
    return utc(batch.created_at).astimezone(ZoneInfo(timezone)).date()


def _utc_or_none(moment: dt.datetime | None) -> dt.datetime | None:
    return utc(moment) if moment is not None else None


def _local_printer(settings: Settings) -> PrintVendor:
    """Local printing uses the first vendor's window (the municipality's envelopes)."""
    return settings.print_vendors[0] if settings.print_vendors else PrintVendor()
