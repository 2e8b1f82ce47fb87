"""The sender organisation table."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, DateTime, String
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
