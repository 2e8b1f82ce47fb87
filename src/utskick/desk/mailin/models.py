"""The e-mails officers sent as letters, kept until the officer has had the reply.

A row is written with the letter, in the same transaction, and names who gets the reply. The
`mail_reply` job then waits for the letter's outcome and sends the reply. The row holds no
letter content, only the addresses and the outcome told.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from utskick.db.base import Base

UtcDateTime = DateTime(timezone=True)


class MailSubmission(Base):
    """One e-mail taken in as a letter, and the reply owed about it."""

    __tablename__ = "mail_submission"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # SHA-256 of the sending user and the e-mail's Message-ID: a client that sends the same
    # e-mail again (a lost connection after DATA) finds the first submission.
    submission_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("web_user.id", ondelete="SET NULL"), index=True
    )
    reply_to: Mapped[str] = mapped_column(String(254))
    # The e-mail's Message-ID, so that the reply threads under it in the officer's client.
    mail_message_id: Mapped[str | None] = mapped_column(String(998))
    letter_id: Mapped[str | None] = mapped_column(
        ForeignKey("letter.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(16))  # waiting | replied
    outcome: Mapped[str | None] = mapped_column(String(24))  # the letter's state told
    replied_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
