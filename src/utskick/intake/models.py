"""The files taken in from watched folders and SFTP pickups, one row per file taken.

A row is written before a file's letters are stored and says how far its taking got, so that
a file is never taken twice and a taking cut short (Utskick killed mid-file) is finished, not
started again: the letters' idempotency keys come from the file's SHA-256, and the row is
found again by it.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from utskick.db.base import Base

UtcDateTime = DateTime(timezone=True)


class IntakeFile(Base):
    """A file one source's folder handed in: which, when, and what became of it."""

    __tablename__ = "intake_file"
    # The same content from the same source is one file: dropped again, it is not taken again.
    __table_args__ = (UniqueConstraint("source", "sha256", name="uq_intake_file_content"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(255))  # as it lay in the folder
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # pdf | csv | xlsx | ndjson
    state: Mapped[str] = mapped_column(String(16))  # taking | done | refused
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("letter_batch.id"), index=True)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Why a refused file was refused, in Swedish (the text of its reason file).
    reason: Mapped[str | None] = mapped_column(Text)
    # The receipt's summary: counts by outcome and the first rejections.
    receipt: Mapped[dict[str, object] | None] = mapped_column(JSON)
