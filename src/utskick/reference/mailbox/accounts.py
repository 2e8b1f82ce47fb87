"""A mailbox operator's accounts: who may open which mailbox, notices, delegation, closing.

These are the operator's own tables (`mailbox_account`, `mailbox_delegation`,
`mailbox_company_administrator`). What FaR knows (that the account exists, which senders it
accepts) changes only through FaR's SOAP service: `open_mailbox` and `deactivate` take the
operator's FaR client and call it before they change anything here, so that a refusal from
FaR leaves the operator's data as it was.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from utskick.mm.soap import SoapFault
from utskick.reference.identity_check import IdentityNumberError, normalise_personnummer
from utskick.reference.store import (
    MailboxAccount,
    MailboxCompanyAdministrator,
    MailboxDelegation,
    utc_now,
)

# FaR's ExceptionInformation code for "object not found".
FAR_NOT_FOUND = 5003

NOTICE_FREQUENCIES: dict[str, str] = {
    "direkt": "Direkt när ett brev kommer",
    "daglig": "En sammanfattning per dag",
    "veckovis": "En sammanfattning per vecka",
    "aldrig": "Aldrig",
}
MAX_EMAIL_LENGTH = 254
# Deliberately loose: one @, no spaces, a dot in the domain. The notice itself is the real test.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# Swedish mobile numbers: 070, 072, 073, 076 and 079, then seven digits.
_MOBILE = re.compile(r"07[02369]\d{7}")


class AccountError(ValueError):
    """A change the operator refuses; the message tells the citizen what to do (Swedish)."""


class Role(StrEnum):
    """How a logged-in person may use a mailbox."""

    OWNER = "owner"  # their own mailbox
    SIGNATORY = "signatory"  # a company's mailbox that they administer as firmatecknare
    DELEGATE = "delegate"  # medgivande: read only

    @property
    def may_administer(self) -> bool:
        """Whether the role may delete messages and change settings."""
        return self is not Role.DELEGATE

    @property
    def label(self) -> str:
        """The role as the citizen reads it."""
        return {
            Role.OWNER: "din egen brevlåda",
            Role.SIGNATORY: "företagets brevlåda, du är firmatecknare",
            Role.DELEGATE: "som ombud: du kan läsa men inte radera eller ändra",
        }[self]


class AccountState(StrEnum):
    """Where a mailbox is in its life."""

    ACTIVE = "active"
    PENDING = "pending"  # opened at FaR's request but not yet activated by its owner
    CLOSED = "closed"  # deactivated by its owner


@dataclass(frozen=True)
class Account:
    """A mailbox as the operator keeps it."""

    owner_id: str
    kind: str  # "person" | "company"
    name: str
    email: str | None
    phone: str | None
    notice_frequency: str
    active: bool
    deactivated_at: dt.datetime | None

    @property
    def state(self) -> AccountState:
        """Active, pending activation, or closed."""
        if self.active:
            return AccountState.ACTIVE
        return AccountState.CLOSED if self.deactivated_at is not None else AccountState.PENDING


@dataclass(frozen=True)
class MailboxAccess:
    """A mailbox a person may open, and in which role."""

    owner_id: str
    name: str
    kind: str
    role: Role


@dataclass(frozen=True)
class Delegation:
    """A person who may read the mailbox (medgivande)."""

    delegate_id: str
    granted_at: dt.datetime


@dataclass(frozen=True)
class NoticeSettings:
    """Where and how often notices of new messages go."""

    email: str | None
    phone: str | None
    frequency: str


class FarAccountPort(Protocol):
    """The part of the operator's FaR client that opens and closes accounts."""

    def register(self, recipient_id: str, user_identity: str) -> object:
        """Open the account in FaR, or activate a pending one."""
        ...

    def deregister(self, recipient_id: str, user_identity: str) -> object:
        """Close the account in FaR."""
        ...


def check_email(typed: str) -> str | None:
    """A typed e-mail address for notices, or None when the field is empty.

    Raises:
        AccountError: when it is not an e-mail address.
    """
    email = typed.strip()
    if not email:
        return None
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        raise AccountError(
            f"'{email}' är ingen e-postadress. Skriv den som namn@exempel.se, "
            "eller lämna fältet tomt för att inte få aviseringar med e-post."
        )
    return email


def check_mobile_number(typed: str) -> str | None:
    """A typed Swedish mobile number as ten digits (07XXXXXXXX), or None when empty.

    Spaces and hyphens are ignored; +46 and 0046 are read as a leading 0.

    Raises:
        AccountError: when it is not a Swedish mobile number.
    """
    number = re.sub(r"[\s-]", "", typed)
    if not number:
        return None
    for country_code in ("+46", "0046"):
        if number.startswith(country_code):
            number = "0" + number.removeprefix(country_code)
    if not _MOBILE.fullmatch(number):
        raise AccountError(
            f"'{typed.strip()}' är inget svenskt mobilnummer. Skriv det som 070-123 45 67 "
            "eller +46 70 123 45 67, eller lämna fältet tomt för att inte få sms."
        )
    return number


class MailboxAccounts:
    """One operator's accounts; each method is its own unit of work."""

    def __init__(self, sessions: sessionmaker[Session], operator_number: str) -> None:
        self._sessions = sessions
        self._operator = operator_number

    # --- reading ---------------------------------------------------------------------------

    def account(self, owner_id: str) -> Account | None:
        """The mailbox of this owner (person id or 16 + organisationsnummer), if any."""
        with self._sessions() as session:
            row = session.get(MailboxAccount, (self._operator, owner_id))
            return _account(row) if row is not None else None

    def mailboxes_for(self, person_id: str) -> list[MailboxAccess]:
        """Every open mailbox the person may open: their own, companies, delegations."""
        with self._sessions() as session:
            result = []
            own = session.get(MailboxAccount, (self._operator, person_id))
            if own is not None and own.active:
                result.append(MailboxAccess(own.owner_id, own.name, own.kind, Role.OWNER))
            companies = session.scalars(
                select(MailboxAccount)
                .join(
                    MailboxCompanyAdministrator,
                    (MailboxCompanyAdministrator.operator_number == MailboxAccount.operator_number)
                    & (MailboxCompanyAdministrator.company_id == MailboxAccount.owner_id),
                )
                .where(
                    MailboxAccount.operator_number == self._operator,
                    MailboxCompanyAdministrator.person_id == person_id,
                    MailboxAccount.active.is_(True),
                )
                .order_by(MailboxAccount.name)
            )
            result += [
                MailboxAccess(row.owner_id, row.name, row.kind, Role.SIGNATORY) for row in companies
            ]
            delegated = session.scalars(
                select(MailboxAccount)
                .join(
                    MailboxDelegation,
                    (MailboxDelegation.operator_number == MailboxAccount.operator_number)
                    & (MailboxDelegation.owner_id == MailboxAccount.owner_id),
                )
                .where(
                    MailboxAccount.operator_number == self._operator,
                    MailboxDelegation.delegate_id == person_id,
                    MailboxAccount.active.is_(True),
                )
                .order_by(MailboxAccount.name)
            )
            result += [
                MailboxAccess(row.owner_id, row.name, row.kind, Role.DELEGATE) for row in delegated
            ]
            return result

    def access(self, person_id: str, owner_id: str) -> MailboxAccess | None:
        """How the person may use this mailbox, or None if they may not open it."""
        return next((m for m in self.mailboxes_for(person_id) if m.owner_id == owner_id), None)

    def delegations(self, owner_id: str) -> list[Delegation]:
        """Who has been given the right to read this mailbox, oldest first."""
        with self._sessions() as session:
            rows = session.scalars(
                select(MailboxDelegation)
                .where(
                    MailboxDelegation.operator_number == self._operator,
                    MailboxDelegation.owner_id == owner_id,
                )
                .order_by(MailboxDelegation.granted_at, MailboxDelegation.delegate_id)
            )
            return [Delegation(row.delegate_id, row.granted_at) for row in rows]

    # --- changing --------------------------------------------------------------------------

    def update_notice_settings(
        self, owner_id: str, *, email: str, phone: str, frequency: str
    ) -> NoticeSettings:
        """Check and save where and how often notices go.

        Args:
            owner_id: the mailbox.
            email: the typed e-mail address, empty for none.
            phone: the typed mobile number, empty for none.
            frequency: one of `NOTICE_FREQUENCIES`.

        Raises:
            AccountError: for an invalid address, number or frequency, or no address with a
                frequency other than "aldrig".
        """
        if frequency not in NOTICE_FREQUENCIES:
            raise AccountError(
                f"'{frequency}' är inget val för aviseringar; välj något av: "
                + ", ".join(NOTICE_FREQUENCIES.values())
                + "."
            )
        settings = NoticeSettings(check_email(email), check_mobile_number(phone), frequency)
        if frequency != "aldrig" and settings.email is None and settings.phone is None:
            raise AccountError(
                "Fyll i en e-postadress eller ett mobilnummer för aviseringarna, "
                "eller välj Aldrig om du inte vill ha några."
            )
        with self._sessions.begin() as session:
            account = self._active_account(session, owner_id)
            account.email = settings.email
            account.phone = settings.phone
            account.notice_frequency = settings.frequency
        return settings

    def grant_delegation(self, owner_id: str, typed_delegate: str) -> str:
        """Let another person read this mailbox (not delete or change settings).

        Returns:
            The delegate's 12-digit id.

        Raises:
            AccountError: for an invalid personnummer, the owner themselves, or a delegate
                who already has the right.
        """
        try:
            delegate_id = normalise_personnummer(typed_delegate)
        except IdentityNumberError as error:
            raise AccountError(str(error)) from error
        if delegate_id == owner_id:
            raise AccountError("Du kan inte ge dig själv medgivande till din egen brevlåda.")
        with self._sessions.begin() as session:
            self._active_account(session, owner_id)
            key = (self._operator, owner_id, delegate_id)
            if session.get(MailboxDelegation, key) is not None:
                raise AccountError(f"{delegate_id} har redan medgivande att läsa brevlådan.")
            session.add(
                MailboxDelegation(
                    operator_number=self._operator,
                    owner_id=owner_id,
                    delegate_id=delegate_id,
                    granted_at=utc_now(),
                )
            )
        return delegate_id

    def revoke_delegation(self, owner_id: str, delegate_id: str) -> bool:
        """Take back a delegate's right to read; False if they had none."""
        with self._sessions.begin() as session:
            row = session.get(MailboxDelegation, (self._operator, owner_id, delegate_id))
            if row is None:
                return False
            session.delete(row)
            return True

    def open_mailbox(self, person_id: str, name: str, far: FarAccountPort) -> Account:
        """Register a new mailbox for a person, or activate their pending or closed one.

        FaR is asked first; if it refuses (for example because the person has a mailbox at
        another operator), nothing changes here.

        Raises:
            AccountError: if the person already has an active mailbox here.
            SoapFault: FaR's refusal, whose description is written for the citizen.
        """
        existing = self.account(person_id)
        if existing is not None and existing.active:
            raise AccountError("Du har redan en öppen brevlåda här.")
        far.register(person_id, person_id)
        with self._sessions.begin() as session:
            row = session.get(MailboxAccount, (self._operator, person_id))
            if row is None:
                row = MailboxAccount(
                    operator_number=self._operator,
                    owner_id=person_id,
                    kind="person",
                    name=name,
                    notice_frequency="aldrig",
                    created_at=utc_now(),
                )
                session.add(row)
            row.active = True
            row.deactivated_at = None
            session.flush()
            return _account(row)

    def deactivate(self, owner_id: str, acting_id: str, far: FarAccountPort) -> None:
        """Close the mailbox: FaR forgets the account, delegations end, the owner may reopen.

        Args:
            owner_id: the mailbox.
            acting_id: who closes it (the owner, or a company's signatory).
            far: the operator's FaR client.

        Raises:
            AccountError: if the mailbox is not open.
            SoapFault: FaR's refusal (other than "no such account", which is already closed
                as far as FaR is concerned).
        """
        existing = self.account(owner_id)
        if existing is None or not existing.active:
            raise AccountError("Brevlådan är redan stängd.")
        try:
            far.deregister(owner_id, acting_id)
        except SoapFault as fault:
            if fault.error_code != FAR_NOT_FOUND:
                raise
        with self._sessions.begin() as session:
            account = self._active_account(session, owner_id)
            account.active = False
            account.deactivated_at = utc_now()
            session.execute(
                delete(MailboxDelegation).where(
                    MailboxDelegation.operator_number == self._operator,
                    MailboxDelegation.owner_id == owner_id,
                )
            )

    def _active_account(self, session: Session, owner_id: str) -> MailboxAccount:
        account = session.get(MailboxAccount, (self._operator, owner_id))
        if account is None or not account.active:
            raise AccountError("Brevlådan är stängd; öppna den igen för att ändra den.")
        return account


def _account(row: MailboxAccount) -> Account:
    return Account(
        owner_id=row.owner_id,
        kind=row.kind,
        name=row.name,
        email=row.email,
        phone=row.phone,
        notice_frequency=row.notice_frequency,
        active=row.active,
        deactivated_at=row.deactivated_at,
    )
