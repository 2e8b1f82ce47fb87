"""Who sends: sender organisations, and the sending systems that hand letters over.

A sending system presents an API key, kept only as a hash.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, CheckConstraint, DateTime, ForeignKey, Integer, String, true
from sqlalchemy.orm import Mapped, mapped_column

from utskick.db.base import Base


class SenderOrganisation(Base):
    """An organisation that signs letters with its own certificate."""

    __tablename__ = "sender_organisation"
    __table_args__ = (
        CheckConstraint("length(organisation_number) = 10", name="organisation_number_length"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_number: Mapped[str] = mapped_column(String(10), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    key_path: Mapped[str | None] = mapped_column(String(1024))
    # Name of the environment variable holding the key file's passphrase (never the value).
    passphrase_env: Mapped[str | None] = mapped_column(String(128))
    # Whether this organisation also seals (acts as förmedlingstjänst) for the others.
    intermediary: Mapped[bool] = mapped_column(Boolean, default=False)
    # Supportinfo of every letter it sends (required on the wire: Text, optional the rest).
    support_text: Mapped[str] = mapped_column(String(1024), default="")
    support_url: Mapped[str | None] = mapped_column(String(1024))
    support_phone: Mapped[str | None] = mapped_column(String(64))
    support_email: Mapped[str | None] = mapped_column(String(256))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))


UtcDateTime = DateTime(timezone=True)


class SendingSystem(Base):
    """A system that hands letters over; it sees only its own letters."""

    __tablename__ = "sending_system"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Sender organisations (10 digits) and departments it may send for; None: any department.
    sender_numbers: Mapped[list[str]] = mapped_column(JSON)
    departments: Mapped[list[str] | None] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(String(1024))
    # The shared secret webhooks are HMAC-signed with (the receiver must know it too).
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    # After a rotation the old secret also signs (Standard Webhooks sends both signatures)
    # until this time, so that the receiver can change its secret without losing a webhook.
    webhook_secret_previous: Mapped[str | None] = mapped_column(String(128))
    webhook_secret_previous_until: Mapped[dt.datetime | None] = mapped_column(
        DateTime(timezone=True)
    )
    # Whether the system keeps its letters as records itself: then a delivered letter's
    # content is removed here (R8). False for the officer's desk, whose letters have no other
    # home: Utskick keeps their content.
    keeps_records: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ApiKey(Base):
    """An API key of a sending system, stored as a SHA-256 hash of a random secret."""

    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    sending_system_id: Mapped[str] = mapped_column(ForeignKey("sending_system.id"), index=True)
    # The first characters of the key, shown in lists to tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class CertificateNotice(Base):
    """A certificate expiry warning already e-mailed: one row per certificate and threshold.

    The certificate check runs every day; this row makes each warning (60, 30, 7 days …)
    arrive once, whichever process runs the check.
    """

    __tablename__ = "certificate_notice"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256, hex
    threshold_days: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject: Mapped[str] = mapped_column(String(512))
    not_after: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True))
