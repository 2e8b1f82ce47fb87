"""What the CLI, the API and the web pages show of print batches, and the batch as one PDF.

A protected identity's address is never known here; such a letter is shown as
"skyddad identitet" and printed with Skatteverket's forwarding address.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from utskick.jobs.queue import utc
from utskick.printing.documents import DocumentBuilder
from utskick.printing.handover import window_of
from utskick.printing.models import PrintBatch
from utskick.printing.render import LetterRenderer
from utskick.printing.repository import PrintRepository
from utskick.printing.routes import vendor_named
from utskick.settings import PrintVendor, Settings

PROTECTED_TEXT = "skyddad identitet (via Skatteverket)"


def batch_summary(batch: PrintBatch) -> dict[str, object]:
    """A batch's facts for lists."""
    return {
        "id": batch.id,
        "route": batch.route,
        "local": batch.local,
        "department": batch.department or None,
        "state": batch.state,
        "letters": batch.letter_count,
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
    """The letters of a batch in print order, with to whom each goes (never a protected address)."""
    rows: list[dict[str, object]] = []
    for item, letter in PrintRepository(session).items_with_letters(batch.id):
        if item.protected:
            recipient = PROTECTED_TEXT
        else:
            lines = item.address or []
            recipient = ", ".join(lines[:1] + lines[-1:]) if lines else "–"
        rows.append(
            {
                "position": item.position,
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
    pdf, _parts = LetterRenderer(window_of(vendor)).render_merged(
        documents,
        title=f"Utskrift {batch.department or batch.route} {batch.created_at:%Y-%m-%d}",
        author=", ".join(sorted({document.sender_name for document in documents})),
        created=utc(batch.closed_at or batch.created_at),
    )
    return pdf, len(documents)


def _utc_or_none(moment: dt.datetime | None) -> dt.datetime | None:
    return utc(moment) if moment is not None else None


def _local_printer(settings: Settings) -> PrintVendor:
    """Local printing uses the first vendor's window (the municipality's envelopes)."""
    return settings.print_vendors[0] if settings.print_vendors else PrintVendor()
