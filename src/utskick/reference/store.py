"""Storage of the reference infrastructure: its own database, apart from the connector's.

Each party keeps its own tables (prefix `far_`, `mailbox_`, `population_`, `sink_`). They share
one database file only because they run in one process on a laptop; no table is read by a
party other than its owner, except where a module says so (the operators read FaR's sender
register directly, as a replicated copy of what FaR publishes through `getSenders`).
The schema is created with `create_all`: this is a test environment, reset by deleting it.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from utskick.mm.private_files import prepare_sqlite_file


def utc_now() -> dt.datetime:
    """Now, in UTC, as every table stores it."""
    return dt.datetime.now(dt.UTC)


class ReferenceBase(DeclarativeBase):
    """Declarative base of the reference infrastructure's tables."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_N_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


UtcDateTime = DateTime(timezone=True)


# --- FaR (Förmedlingsadressregistret) ------------------------------------------------------


class FarOrganisation(ReferenceBase):
    """A registered organisation: sender, intermediary, mailbox operator."""

    __tablename__ = "far_organisation"

    number: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    sender: Mapped[bool] = mapped_column(Boolean, default=False)
    intermediary: Mapped[bool] = mapped_column(Boolean, default=False)
    operator: Mapped[bool] = mapped_column(Boolean, default=False)
    # Mailbox operators only: where deliveries go, and the citizen's web address.
    service_address: Mapped[str | None] = mapped_column(String(512))
    ui_address: Mapped[str | None] = mapped_column(String(512))


class FarCertificate(ReferenceBase):
    """A certificate registered for an organisation (several during a key rollover)."""

    __tablename__ = "far_certificate"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256, hex
    organisation_number: Mapped[str] = mapped_column(
        ForeignKey("far_organisation.number", ondelete="CASCADE"), index=True
    )
    pem: Mapped[str] = mapped_column(Text)


class FarIntermediaryFor(ReferenceBase):
    """An intermediary registered to hand over deliveries sealed by another organisation.

    A mailbox operator accepts a delivery over a connection authenticated as the sealer
    itself, or as an intermediary registered here for that sealer.
    """

    __tablename__ = "far_intermediary_for"

    intermediary_number: Mapped[str] = mapped_column(
        ForeignKey("far_organisation.number", ondelete="CASCADE"), primary_key=True
    )
    principal_number: Mapped[str] = mapped_column(
        ForeignKey("far_organisation.number", ondelete="CASCADE"), primary_key=True
    )


class FarAccount(ReferenceBase):
    """A recipient's registration in FaR: which operator holds the mailbox, and its state."""

    __tablename__ = "far_account"

    recipient_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    operator_number: Mapped[str] = mapped_column(ForeignKey("far_organisation.number"))
    account_type: Mapped[str] = mapped_column(String(16), default="Secure")
    pending: Mapped[bool] = mapped_column(Boolean, default=False)
    registered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    last_sender_accept_change: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class FarSenderOptOut(ReferenceBase):
    """A sender the recipient does not accept mail from (all others are accepted)."""

    __tablename__ = "far_sender_opt_out"

    recipient_id: Mapped[str] = mapped_column(
        ForeignKey("far_account.recipient_id", ondelete="CASCADE"), primary_key=True
    )
    sender_number: Mapped[str] = mapped_column(
        ForeignKey("far_organisation.number"), primary_key=True
    )


class FarProtectedIdentity(ReferenceBase):
    """A person with skyddad identitet: FaR says nothing about them (fault 6006)."""

    __tablename__ = "far_protected_identity"

    recipient_id: Mapped[str] = mapped_column(String(12), primary_key=True)


# --- Mailbox operators ---------------------------------------------------------------------


class MailboxAccount(ReferenceBase):
    """A mailbox at one operator: a person's, or a company's administered by signatories."""

    __tablename__ = "mailbox_account"

    operator_number: Mapped[str] = mapped_column(String(10), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "person" | "company"
    name: Mapped[str] = mapped_column(String(256))
    email: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(32))
    notice_frequency: Mapped[str] = mapped_column(String(16), default="direkt")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    deactivated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class MailboxDelegation(ReferenceBase):
    """Medgivande: the delegate may read the owner's mailbox, not delete or change settings."""

    __tablename__ = "mailbox_delegation"

    operator_number: Mapped[str] = mapped_column(String(10), primary_key=True)
    owner_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    delegate_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    granted_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)


class MailboxCompanyAdministrator(ReferenceBase):
    """A signatory (firmatecknare) who administers a company's mailbox."""

    __tablename__ = "mailbox_company_administrator"

    operator_number: Mapped[str] = mapped_column(String(10), primary_key=True)
    company_id: Mapped[str] = mapped_column(String(12), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(12), primary_key=True)


class MailboxDelivery(ReferenceBase):
    """A sealed delivery as received, encrypted with the operator's storage key."""

    __tablename__ = "mailbox_delivery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operator_number: Mapped[str] = mapped_column(String(10), index=True)
    trans_id: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    nonce: Mapped[bytes] = mapped_column(LargeBinary(16))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class MailboxMessage(ReferenceBase):
    """One message in a recipient's inbox; its content lives in the encrypted delivery."""

    __tablename__ = "mailbox_message"
    __table_args__ = (
        # A repeated delivery (same sender, same message Id) is stored once.
        UniqueConstraint("operator_number", "recipient_id", "sender_number", "message_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operator_number: Mapped[str] = mapped_column(String(10))
    recipient_id: Mapped[str] = mapped_column(String(12), index=True)
    sender_number: Mapped[str] = mapped_column(String(10))
    sender_name: Mapped[str] = mapped_column(String(256))
    message_id: Mapped[str] = mapped_column(String(256))
    message_index: Mapped[int] = mapped_column(Integer, default=0)
    secure: Mapped[bool] = mapped_column(Boolean, default=True)  # False: a notify (class 1)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("mailbox_delivery.id"))
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class MailboxNotice(ReferenceBase):
    """A notice (avisering) owed to a recipient by e-mail or SMS; sent now or in a digest."""

    __tablename__ = "mailbox_notice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    operator_number: Mapped[str] = mapped_column(String(10))
    recipient_id: Mapped[str] = mapped_column(String(12), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("mailbox_message.id"))
    channel: Mapped[str] = mapped_column(String(8))  # "email" | "sms"
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)


# --- Population register (SPAR stand-in) ---------------------------------------------------


class PopulationPerson(ReferenceBase):
    """A person in the population register."""

    __tablename__ = "population_person"

    id: Mapped[str] = mapped_column(String(12), primary_key=True)
    given_name: Mapped[str] = mapped_column(String(128))
    surname: Mapped[str] = mapped_column(String(128))
    care_of: Mapped[str | None] = mapped_column(String(128))
    street: Mapped[str | None] = mapped_column(String(256))
    postal_code: Mapped[str | None] = mapped_column(String(8))
    city: Mapped[str | None] = mapped_column(String(128))
    protected: Mapped[bool] = mapped_column(Boolean, default=False)
    deceased_on: Mapped[dt.date | None] = mapped_column(Date)
    emigrated_on: Mapped[dt.date | None] = mapped_column(Date)


class PopulationCompany(ReferenceBase):
    """A company (organisation) with its postal address and signatories."""

    __tablename__ = "population_company"

    number: Mapped[str] = mapped_column(String(10), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    street: Mapped[str] = mapped_column(String(256))
    postal_code: Mapped[str] = mapped_column(String(8))
    city: Mapped[str] = mapped_column(String(128))
    signatories: Mapped[str] = mapped_column(String(512), default="")  # comma-separated ids


# --- Notice sinks ---------------------------------------------------------------------------


class SinkMail(ReferenceBase):
    """An e-mail the local SMTP sink received."""

    __tablename__ = "sink_mail"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    mail_from: Mapped[str] = mapped_column(String(512))
    recipients: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")


class SinkSms(ReferenceBase):
    """A text message the SMS sink logged."""

    __tablename__ = "sink_sms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    sent_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utc_now)
    sender: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)


# --- engine ---------------------------------------------------------------------------------


def create_reference_engine(url: str, **options: Any) -> Engine:
    """An engine for the reference database; SQLite gets WAL and a busy timeout."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if make_url(url).get_backend_name() == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            # Created 0600 before SQLite opens it; its -wal and -shm files follow its mode.
            prepare_sqlite_file(Path(database))
        engine = create_engine(url, connect_args={"check_same_thread": False}, **options)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_pre_ping=True, **options)


def _configure_sqlite(connection: sqlite3.Connection, _record: object) -> None:
    cursor = connection.cursor()
    # Several reference services write from their own threads: WAL and a busy timeout.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_schema(engine: Engine) -> None:
    """Create every reference table that does not exist yet."""
    ReferenceBase.metadata.create_all(engine)


def sessions(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)
