"""The letter tables: letters, their attachments, their events, batches and message types.

A letter's state is derived from its append-only event log; `Letter.state` is a copy of the
newest event's state, written in the same transaction, so that lists and searches need no
aggregate over the log.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from utskick.db.base import Base, GrowingId

UtcDateTime = DateTime(timezone=True)


class MessageType(Base):
    """A kind of letter (beslut, faktura …) with its default protection class (R6)."""

    __tablename__ = "message_type"
    __table_args__ = (CheckConstraint("protection_class BETWEEN 1 AND 4", name="class_range"),)

    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    protection_class: Mapped[int] = mapped_column(Integer)


class Batch(Base):
    """A batch submitted as one NDJSON stream; its progress is counted from its letters."""

    __tablename__ = "letter_batch"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sending_system_id: Mapped[str] = mapped_column(ForeignKey("sending_system.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    accepted: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # The first few rejected lines with their reasons (line number → message).
    rejections: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)


class Letter(Base):
    """One letter to one recipient, from one sender organisation."""

    __tablename__ = "letter"
    __table_args__ = (
        UniqueConstraint("sending_system_id", "idempotency_key"),
        CheckConstraint("protection_class BETWEEN 1 AND 3", name="class_sendable"),
        Index("ix_letter_system_created", "sending_system_id", "created_at"),
        Index("ix_letter_state", "state"),
        # The desk's search: a department's or an organisation's letters, newest first.
        Index("ix_letter_sender_department_created", "sender_number", "department", "created_at"),
        Index("ix_letter_sender_created", "sender_number", "created_at"),
        Index("ix_letter_created", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sending_system_id: Mapped[str] = mapped_column(ForeignKey("sending_system.id"))
    idempotency_key: Mapped[str] = mapped_column(String(200))
    batch_id: Mapped[str | None] = mapped_column(ForeignKey("letter_batch.id"), index=True)
    sender_number: Mapped[str] = mapped_column(String(10))
    department: Mapped[str | None] = mapped_column(String(200))
    recipient_id: Mapped[str] = mapped_column(String(12), index=True)
    subject: Mapped[str] = mapped_column(String(255))
    body_type: Mapped[str] = mapped_column(String(16))  # text/plain | text/html
    # Removed after digital delivery unless a records rule keeps it (R8); the digest stays.
    body: Mapped[str | None] = mapped_column(Text)
    protection_class: Mapped[int] = mapped_column(Integer)
    message_type: Mapped[str | None] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(24))  # digital-or-paper | digital-only | paper-only
    eservice_url: Mapped[str | None] = mapped_column(String(1024))
    # The letter's own support text (e.g. the officer's contact details); None: the sender
    # organisation's, as most letters have.
    support_text: Mapped[str | None] = mapped_column(String(1024))
    case_number: Mapped[str | None] = mapped_column(String(200), index=True)
    reference: Mapped[str | None] = mapped_column(String(200), index=True)
    # The postal address the caller gave (name, lines, postal code, city, country), used for
    # paper unless the population register says the person is protected, dead or emigrated.
    postal_address: Mapped[dict[str, object] | None] = mapped_column(JSON)
    # SHA-256 of the request's content (letters.service.request_fingerprint): a key used again
    # with other content is refused. None for letters stored before it was kept.
    request_fingerprint: Mapped[str | None] = mapped_column(String(64))
    # The Message Id on the wire: the same on every retry, so the operator stores it once.
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    # Fall back to paper if not delivered digitally by then (policy digital-or-paper).
    deliver_by: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # Sent at a set time: not classified or sent before this (None: at once). The letter may
    # be cancelled until then.
    not_before: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # How the letter goes on paper: None, our address page before its attachments; or
    # "address-in-window", its first paper attachment's first page already carries the
    # address in the envelope window (a print file from a business system), printed as is.
    paper_layout: Mapped[str | None] = mapped_column(String(24))
    # Copies of the newest event, for lists and searches.
    state: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str | None] = mapped_column(String(16))  # digital | paper | none
    reason: Mapped[str | None] = mapped_column(String(64))
    operator_number: Mapped[str | None] = mapped_column(String(10))
    service_address: Mapped[str | None] = mapped_column(String(1024))
    trans_id: Mapped[str | None] = mapped_column(String(64))
    # SHA-256 (hex) of the signed and sealed request as delivered: kept after minimisation.
    delivered_digest: Mapped[str | None] = mapped_column(String(64))
    # The number the case or records system registered the letter under (diarienummer),
    # written by the records work once the system has answered.
    registration_number: Mapped[str | None] = mapped_column(String(100), index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    attachments: Mapped[list[LetterAttachment]] = relationship(
        back_populates="letter", order_by="LetterAttachment.position", cascade="all"
    )


class LetterAttachment(Base):
    """A PDF with the letter, sent digitally, on paper, or both."""

    __tablename__ = "letter_attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    letter_id: Mapped[str] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(8))  # both | digital | paper
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # None once minimised

    letter: Mapped[Letter] = relationship(back_populates="attachments")


class LetterEvent(Base):
    """One transition in a letter's life: append-only, never changed."""

    __tablename__ = "letter_event"

    id: Mapped[int] = mapped_column(GrowingId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # for webhooks
    letter_id: Mapped[str] = mapped_column(ForeignKey("letter.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)  # Swedish, for the user
    data: Mapped[dict[str, object] | None] = mapped_column(JSON)
