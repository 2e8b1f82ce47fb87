"""The print tables: batches of paper letters, and each letter's place in one.

A paper letter gets a `PrintItem` once its address is known; the item joins the open batch
of its print route (a vendor, or the department's own printer) and department. Joining
writes only the item: nothing on the batch's row changes while it is open, so workers add
letters to one batch at the same time. Its letters are numbered (`position`, 1..n) and
counted (`letter_count`) when it closes. Rendered PDFs
are never stored here: rendering is deterministic, so a batch is rendered once, when it is
written to the vendor drop or downloaded as an exception list (R8: no needless storage).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from utskick.db.base import Base

UtcDateTime = DateTime(timezone=True)

# Batch states.
OPEN = "open"  # letters still join it
CLOSED = "closed"  # no more letters; being handed over (vendor) or ready to print (local)
HANDED_OVER = "handed_over"  # the folder is in the vendor drop (terminal)
PRINTED = "printed"  # every letter of a local exception list is printed (terminal)

# Item parts: the whole letter, or only the paper attachments of a letter delivered digitally.
WHOLE_LETTER = "letter"
PAPER_PART = "paper_part"


class PrintBatch(Base):
    """Paper letters for one print route and department, handed over together."""

    __tablename__ = "print_batch"
    __table_args__ = (Index("ix_print_batch_route_state", "route", "state"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    route: Mapped[str] = mapped_column(String(100))  # a vendor's name, or "lokal"
    local: Mapped[bool] = mapped_column(Boolean)  # an exception list printed by the department
    department: Mapped[str] = mapped_column(String(200))  # "" for letters without one
    # The sender organisation whose letters it holds: two municipalities never share a batch.
    sender_number: Mapped[str] = mapped_column(String(10), server_default="")
    state: Mapped[str] = mapped_column(String(16))
    # "sender|route|department" while open, else NULL: at most one open batch for each.
    open_key: Mapped[str | None] = mapped_column(String(310), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    closes_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)  # by schedule
    closed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    close_reason: Mapped[str | None] = mapped_column(String(16))  # schedule | size | command
    handed_over_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Set when the batch closes (0 while open: count its items, `PrintRepository.letter_count`).
    letter_count: Mapped[int] = mapped_column(Integer, default=0)
    page_count: Mapped[int | None] = mapped_column(Integer)
    sheet_count: Mapped[int | None] = mapped_column(Integer)
    folder: Mapped[str | None] = mapped_column(String(255))  # its name in the drop
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))


class PrintItem(Base):
    """One letter on its way to print (or found impossible to print)."""

    __tablename__ = "print_item"

    letter_id: Mapped[str] = mapped_column(
        ForeignKey("letter.id", ondelete="CASCADE"), primary_key=True
    )
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("print_batch.id"), index=True)
    part: Mapped[str] = mapped_column(String(16))  # letter | paper_part
    # Its place in the batch, 1..n without gaps, given when the batch closes (None until then
    # and for a letter that cannot be printed): by `created_at`, then `sequence`.
    position: Mapped[int | None] = mapped_column(Integer)
    # The letter's print job id: the order in which letters went to paper.
    sequence: Mapped[int | None] = mapped_column(Integer)
    # The envelope's address lines (name first). Protected identity: None, never stored;
    # the letter goes to Skatteverket's forwarding service instead.
    address: Mapped[list[str] | None] = mapped_column(JSON)
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    impossible_reason: Mapped[str | None] = mapped_column(String(32))
    pages: Mapped[int | None] = mapped_column(Integer)
    sheets: Mapped[int | None] = mapped_column(Integer)
    sha256: Mapped[str | None] = mapped_column(String(64))
    file_name: Mapped[str | None] = mapped_column(String(255))
    printed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
