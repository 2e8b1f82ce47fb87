"""The records tables: rules per message type, each sent letter's record, holds, disposal log.

Data flows from the letters into these tables, never back: a letter that reaches its end
(a terminal event) becomes a `LetterRecord` under the rule of its message type, and what the
records work does to a letter (its registration number, removing its content when the rule
says so) goes through the letters' own columns. The registration number is kept on the
letter itself (`letter.registration_number`), so the desk shows it without asking records.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from utskick.db.base import Base

UtcDateTime = DateTime(timezone=True)

# The records rules (arkivregler), stored as these words.
REGISTER = "register"  # diarieförs: registered in the organisation's diarium
KEPT_IN_ORDER = "kept_in_order"  # hålls ordnad: kept searchable here, not registered
JOURNAL = "journal"  # journalförs: sent to the department's own case system
NO_RECORD = "no_record"  # ingen allmän handling: a notice, not a record

RULES = (REGISTER, KEPT_IN_ORDER, JOURNAL, NO_RECORD)

# Who keeps a letter's content as the record.
KEPT_BY_SYSTEM = "system"  # the sending system: the content goes after digital delivery
KEPT_BY_UTSKICK = "utskick"  # Utskick: the content stays until archived or disposed of

KEEPERS = (KEPT_BY_SYSTEM, KEPT_BY_UTSKICK)

# Where a letter's registration stands (letter_record.registration).
REGISTRATION_NONE = "none"  # the rule registers nothing, or nothing was sent
REGISTRATION_PENDING = "pending"  # waiting for the case system's answer (or the next file)
REGISTRATION_DONE = "registered"  # the case system answered with a number
REGISTRATION_EXPORTED = "exported"  # written to the daily export file


class RecordsRule(Base):
    """How letters of one message type are kept, for one organisation or for all.

    `organisation_number` None is the installation's rule for the type; an organisation's own
    row wins over it. `message_type` "*" is the rule for letters without a known type.
    """

    __tablename__ = "records_rule"
    __table_args__ = (
        UniqueConstraint("organisation_number", "message_type"),
        CheckConstraint(
            "rule IN ('register', 'kept_in_order', 'journal', 'no_record')", name="rule_known"
        ),
        CheckConstraint("keeper IN ('system', 'utskick')", name="keeper_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_number: Mapped[str | None] = mapped_column(String(10))
    message_type: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(16))
    keeper: Mapped[str] = mapped_column(String(8))
    # How long the content (body, attachments) and the metadata (the letter row, its events)
    # are kept after the letter was sent, in months. None: content until archived, metadata
    # for ever (bevaras).
    content_months: Mapped[int | None] = mapped_column(Integer)
    metadata_months: Mapped[int | None] = mapped_column(Integer)
    # The disposal decision (gallringsbeslut) the periods rest on, e.g. "KS 2024/112 § 45".
    decision: Mapped[str | None] = mapped_column(String(500))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_by: Mapped[str] = mapped_column(String(200))


class LetterRecord(Base):
    """A letter as a record: its rule (copied when it ended), registration and retention."""

    __tablename__ = "letter_record"
    __table_args__ = (
        Index("ix_letter_record_registration", "registration"),
        Index("ix_letter_record_content_due", "content_due"),
        Index("ix_letter_record_metadata_due", "metadata_due"),
        Index("ix_letter_record_sender_sent", "sender_number", "sent_at"),
    )

    letter_id: Mapped[str] = mapped_column(
        ForeignKey("letter.id", ondelete="CASCADE"), primary_key=True
    )
    sender_number: Mapped[str] = mapped_column(String(10))
    message_type: Mapped[str] = mapped_column(String(64))
    rule: Mapped[str] = mapped_column(String(16))
    keeper: Mapped[str] = mapped_column(String(8))
    decision: Mapped[str | None] = mapped_column(String(500))
    # When the letter ended (its terminal event): retention counts from here.
    sent_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    registration: Mapped[str] = mapped_column(String(12))
    registration_attempts: Mapped[int] = mapped_column(Integer, default=0)
    registered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The day the content and the metadata may be disposed of; None: not by date.
    content_due: Mapped[dt.date | None] = mapped_column(Date)
    metadata_due: Mapped[dt.date | None] = mapped_column(Date)
    content_disposed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    # The archive package (E-ARK SIP) the record went into, and when.
    archived_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    archive_package: Mapped[str | None] = mapped_column(String(200))


class RecordHold(Base):
    """A hold (spärr): no disposal of one letter, or of every letter in one case."""

    __tablename__ = "records_hold"
    __table_args__ = (
        CheckConstraint("(letter_id IS NULL) <> (case_number IS NULL)", name="letter_or_case"),
        Index("ix_records_hold_case", "sender_number", "case_number"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sender_number: Mapped[str] = mapped_column(String(10))
    letter_id: Mapped[str | None] = mapped_column(String(36), index=True)
    case_number: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    released_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    released_by: Mapped[str | None] = mapped_column(String(200))


class DisposalLogEntry(Base):
    """One disposal (gallring): what kind, how many, which period, under which decision.

    Kept for ever: it is the municipality's proof of what was disposed of and why.
    """

    __tablename__ = "records_disposal"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    sender_number: Mapped[str | None] = mapped_column(String(10))
    message_type: Mapped[str] = mapped_column(String(64))
    # content (body and attachments) | metadata (the whole letter) | access_log
    what: Mapped[str] = mapped_column(String(16))
    count: Mapped[int] = mapped_column(Integer)
    oldest: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    newest: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    decision: Mapped[str | None] = mapped_column(String(500))
    detail: Mapped[str | None] = mapped_column(Text)
