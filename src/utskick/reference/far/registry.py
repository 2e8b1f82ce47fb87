"""FaR's register: organisations, recipients' accounts, accepted senders, protected identities.

This is the domain behind the FaR SOAP service (`far.service`). Every method takes and
returns plain values; the SOAP layer turns `FarError` into a fault with ExceptionInformation.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from utskick.reference.far.parties import (
    DeliveryParties,
    add_intermediary_for,
    is_intermediary_for,
)
from utskick.reference.identity_check import luhn_valid
from utskick.reference.store import (
    FarAccount,
    FarCertificate,
    FarOrganisation,
    FarProtectedIdentity,
    FarSenderOptOut,
    utc_now,
)

MAX_RECIPIENTS_PER_CALL = 1000
# The XSD's RecipientId: an organisation (16 + 10 digits) or a person/samordningsnummer.
_RECIPIENT_ID = re.compile(r"16\d{10}|(18|19|20)\d{2}(0[1-9]|1[0-2])\d{2}\d{4}")

# ExceptionInformation codes (shared/design/mina-meddelanden.md).
INVALID_INPUT = 5001
ACCESS_DENIED = 5002
NOT_FOUND = 5003
MAX_EXCEEDED = 5005
UNKNOWN_SENDER = 5014
DISPATCHER_NOT_APPROVED = 6005
PROTECTED_IDENTITY = 6006
IDENTITY_DOES_NOT_EXIST = 6007
SERVICE_PROVIDER_DOES_NOT_EXIST = 8004


class FarError(Exception):
    """A request FaR refuses; `code` is the ExceptionInformation ErrorCode."""

    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.description = description
        super().__init__(f"{code} {description}")


@dataclass(frozen=True)
class Operator:
    """A mailbox operator as FaR publishes it."""

    number: str
    name: str
    service_address: str
    ui_address: str | None


@dataclass(frozen=True)
class AccountState:
    """A recipient's account: `Type` Secure or Not, pending, and the operator if any."""

    recipient_id: str
    account_type: str
    pending: bool
    operator: Operator | None
    registered_at: dt.datetime | None


@dataclass(frozen=True)
class Reachability:
    """A recipient's account and whether it accepts mail from one sender."""

    account: AccountState
    sender_accepted: bool
    last_sender_accept_change: dt.datetime | None


@dataclass(frozen=True)
class Sender:
    """A registered sender (name for the recipient's accept list)."""

    number: str
    name: str


def check_recipient_id(value: str) -> str:
    """A 12-digit RecipientId as the XSD describes it, with a valid check digit.

    Raises:
        FarError: 5001 with what is wrong.
    """
    if not _RECIPIENT_ID.fullmatch(value):
        raise FarError(
            INVALID_INPUT,
            f"'{value}' är inget giltigt mottagar-id (12 siffror: personnummer med sekel, "
            "samordningsnummer eller 16 + organisationsnummer)",
        )
    if not luhn_valid(value[2:]):
        raise FarError(INVALID_INPUT, f"'{value}' har fel kontrollsiffra")
    return value


@functools.lru_cache(maxsize=512)
def _certificate(pem: str) -> x509.Certificate:
    """A registered certificate, parsed once per process (the PEM text is the cache key)."""
    return x509.load_pem_x509_certificate(pem.encode())


def fingerprint(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint FaR files certificates under (hex)."""
    return certificate.fingerprint(hashes.SHA256()).hex()


class FarRegistry:
    """Reads and changes FaR's register; each method is its own unit of work."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    # --- organisations and certificates ---------------------------------------------------

    def add_organisation(
        self,
        number: str,
        name: str,
        *,
        sender: bool = False,
        intermediary: bool = False,
        operator: bool = False,
        service_address: str | None = None,
        ui_address: str | None = None,
    ) -> None:
        """Register (or update) an organisation and its roles."""
        with self._sessions.begin() as session:
            organisation = session.get(FarOrganisation, number) or FarOrganisation(number=number)
            organisation.name = name
            organisation.sender = sender
            organisation.intermediary = intermediary
            organisation.operator = operator
            organisation.service_address = service_address
            organisation.ui_address = ui_address
            session.add(organisation)

    def add_certificate(self, number: str, certificate: x509.Certificate) -> None:
        """Register a certificate for an organisation (kept beside earlier ones)."""
        pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
        with self._sessions.begin() as session:
            if session.get(FarCertificate, fingerprint(certificate)) is None:
                session.add(
                    FarCertificate(
                        fingerprint=fingerprint(certificate), organisation_number=number, pem=pem
                    )
                )

    def organisation_of_certificate(self, certificate: x509.Certificate) -> FarOrganisation | None:
        """The registered organisation a client or signing certificate belongs to, if any."""
        with self._sessions() as session:
            registered = session.get(FarCertificate, fingerprint(certificate))
            if registered is None:
                return None
            return session.get(FarOrganisation, registered.organisation_number)

    def organisation(self, number: str) -> FarOrganisation | None:
        """A registered organisation by its 10-digit number."""
        with self._sessions() as session:
            return session.get(FarOrganisation, number)

    def certificates_of(self, number: str) -> list[x509.Certificate]:
        """Every certificate registered for an organisation."""
        with self._sessions() as session:
            pems = session.scalars(
                select(FarCertificate.pem).where(FarCertificate.organisation_number == number)
            )
            return [_certificate(pem) for pem in pems]

    def delivery_parties(
        self,
        sender_number: str,
        sealer_number: str | None,
        connecting_number: str | None = None,
    ) -> DeliveryParties:
        """The sender and sealer of one delivery with their certificates, read in one go.

        With `connecting_number` (the organisation of the TLS connection), also whether it
        may hand over what the sealer sealed. An operator asks this once per delivery
        (sessions, not signatures, were the larger part of accepting one).
        """
        numbers = {sender_number} | ({sealer_number} if sealer_number else set())
        with self._sessions() as session:
            registered_for_sealer = (
                connecting_number is not None
                and sealer_number is not None
                and connecting_number != sealer_number
                and is_intermediary_for(session, connecting_number, sealer_number)
            )
            organisations = {
                row.number: row
                for row in session.scalars(
                    select(FarOrganisation).where(FarOrganisation.number.in_(numbers))
                )
            }
            pems = session.scalars(
                select(FarCertificate.pem).where(FarCertificate.organisation_number.in_(numbers))
            )
            certificates = tuple(_certificate(pem) for pem in pems)
        return DeliveryParties(
            sender_number=sender_number,
            sender=organisations.get(sender_number),
            sealer_number=sealer_number,
            sealer=organisations.get(sealer_number) if sealer_number else None,
            certificates=certificates,
            connecting_number=connecting_number,
            connecting_registered_for_sealer=registered_for_sealer,
        )

    def register_intermediary_for(self, intermediary_number: str, principal_number: str) -> None:
        """Register an intermediary to hand over deliveries sealed by `principal_number`.

        Raises:
            FarError: 5003 if either organisation is unknown, 6005 if the first is not an
                intermediary.
        """
        with self._sessions.begin() as session:
            problem = add_intermediary_for(session, intermediary_number, principal_number)
        if problem == "unknown":
            raise FarError(
                NOT_FOUND, f"16{intermediary_number} eller 16{principal_number} finns inte i FaR"
            )
        if problem == "not_intermediary":
            raise FarError(
                DISPATCHER_NOT_APPROVED,
                f"16{intermediary_number} är inte registrerad som förmedlare i FaR",
            )

    def account_holder(self, recipient_id: str) -> tuple[str, bool] | None:
        """The operator holding the recipient's account and whether it is pending, if any.

        For the operator's own check on delivery: unlike `isReachable` it does not refuse a
        protected identity, since the operator already holds that person's mailbox.
        """
        with self._sessions() as session:
            account = session.get(FarAccount, recipient_id)
            return None if account is None else (account.operator_number, account.pending)

    def senders(self) -> list[Sender]:
        """Every registered sender (Authority `getSenders`)."""
        with self._sessions() as session:
            rows = session.scalars(
                select(FarOrganisation)
                .where(FarOrganisation.sender.is_(True))
                .order_by(FarOrganisation.name)
            )
            return [Sender(row.number, row.name) for row in rows]

    def is_registered_sender(self, number: str) -> bool:
        """Whether the organisation is a registered sender (Authority `isSenderAccepted`)."""
        organisation = self.organisation(number)
        return organisation is not None and organisation.sender

    # --- recipients -----------------------------------------------------------------------

    def mark_protected(self, recipient_id: str) -> None:
        """Record a protected identity (from the population register)."""
        with self._sessions.begin() as session:
            if session.get(FarProtectedIdentity, recipient_id) is None:
                session.add(FarProtectedIdentity(recipient_id=recipient_id))

    def reachability(self, sender_number: str, recipient_ids: list[str]) -> list[Reachability]:
        """`isReachable`: each recipient's account and whether it accepts this sender.

        Raises:
            FarError: 5005 over 1,000 ids, 5001 a malformed id, 5014 an unknown sender,
                6006 if a recipient has a protected identity.
        """
        self._check_batch(recipient_ids)
        if not self.is_registered_sender(sender_number):
            raise FarError(
                UNKNOWN_SENDER,
                f"avsändaren 16{sender_number} är inte registrerad som myndighet i FaR",
            )
        with self._sessions() as session:
            self._refuse_protected(session, recipient_ids)
            accounts = self._accounts(session, recipient_ids)
            opted_out = set(
                session.scalars(
                    select(FarSenderOptOut.recipient_id).where(
                        FarSenderOptOut.sender_number == sender_number,
                        FarSenderOptOut.recipient_id.in_(recipient_ids),
                    )
                )
            )
            operators = self._operators(session)
            result = []
            for recipient_id in recipient_ids:
                account = accounts.get(recipient_id)
                state = _state(recipient_id, account, operators)
                accepted = account is not None and recipient_id not in opted_out
                change = account.last_sender_accept_change if account is not None else None
                result.append(Reachability(state, accepted, change))
            return result

    def account_states(self, recipient_ids: list[str]) -> list[AccountState]:
        """`isRegistered`: each recipient's account (Type Not when there is none).

        Raises:
            FarError: 5005, 5001 or 6006 as for `reachability`.
        """
        self._check_batch(recipient_ids)
        with self._sessions() as session:
            self._refuse_protected(session, recipient_ids)
            accounts = self._accounts(session, recipient_ids)
            operators = self._operators(session)
            return [_state(r, accounts.get(r), operators) for r in recipient_ids]

    def accepted_senders(self, operator_number: str, recipient_id: str) -> list[Sender]:
        """`getAccountPreferences`: the senders this recipient accepts (all but opted out).

        Raises:
            FarError: 5003 if the recipient has no account at this operator.
        """
        with self._sessions() as session:
            self._own_account(session, operator_number, recipient_id)
            opted_out = set(
                session.scalars(
                    select(FarSenderOptOut.sender_number).where(
                        FarSenderOptOut.recipient_id == recipient_id
                    )
                )
            )
        return [s for s in self.senders() if s.number not in opted_out]

    def store_accepted_senders(
        self, operator_number: str, recipient_id: str, accepted: Iterable[str]
    ) -> None:
        """`storeAccountPreferences`: accept exactly these senders; all others are opted out.

        Raises:
            FarError: 5003 no account at this operator, 5014 an accepted sender is unknown.
        """
        accepted_numbers = set(accepted)
        known = {s.number for s in self.senders()}
        unknown = accepted_numbers - known
        if unknown:
            raise FarError(
                UNKNOWN_SENDER,
                "okänd avsändare i listan: " + ", ".join("16" + n for n in sorted(unknown)),
            )
        with self._sessions.begin() as session:
            account = self._own_account(session, operator_number, recipient_id)
            session.execute(
                delete(FarSenderOptOut).where(FarSenderOptOut.recipient_id == recipient_id)
            )
            for number in sorted(known - accepted_numbers):
                session.add(FarSenderOptOut(recipient_id=recipient_id, sender_number=number))
            account.last_sender_accept_change = utc_now()

    def register(
        self, operator_number: str, recipient_id: str, *, pending: bool = False
    ) -> AccountState:
        """`register`: open (or activate) the recipient's account at this operator.

        Raises:
            FarError: 5001 malformed id, 6006 protected identity, 5002 the account is held
                by another operator (use changeServiceSupplier).
        """
        check_recipient_id(recipient_id)
        with self._sessions.begin() as session:
            self._refuse_protected(session, [recipient_id])
            account = session.get(FarAccount, recipient_id)
            if account is not None and account.operator_number != operator_number:
                raise FarError(
                    ACCESS_DENIED,
                    f"{recipient_id} har redan en brevlåda hos en annan operatör; "
                    "byt operatör med changeServiceSupplier",
                )
            if account is None:
                account = FarAccount(
                    recipient_id=recipient_id,
                    operator_number=operator_number,
                    account_type="Secure",
                    registered_at=utc_now(),
                )
                session.add(account)
            account.pending = pending
            session.flush()
            return _state(recipient_id, account, self._operators(session))

    def deregister(self, operator_number: str, recipient_id: str) -> None:
        """`deregister`: close the recipient's account at this operator.

        Raises:
            FarError: 5003 if there is no account at this operator.
        """
        with self._sessions.begin() as session:
            account = self._own_account(session, operator_number, recipient_id)
            session.delete(account)

    def change_service_supplier(self, recipient_id: str, new_operator_number: str) -> None:
        """`changeServiceSupplier`: move the recipient's account to another operator.

        Raises:
            FarError: 8004 unknown operator, 5003 no account to move.
        """
        with self._sessions.begin() as session:
            target = session.get(FarOrganisation, new_operator_number)
            if target is None or not target.operator:
                raise FarError(
                    SERVICE_PROVIDER_DOES_NOT_EXIST,
                    f"operatören 16{new_operator_number} finns inte i FaR",
                )
            account = session.get(FarAccount, recipient_id)
            if account is None:
                raise FarError(NOT_FOUND, f"{recipient_id} har ingen brevlåda att flytta")
            account.operator_number = new_operator_number

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _check_batch(recipient_ids: list[str]) -> None:
        if len(recipient_ids) > MAX_RECIPIENTS_PER_CALL:
            raise FarError(
                MAX_EXCEEDED,
                f"{len(recipient_ids)} mottagare i ett anrop; högst {MAX_RECIPIENTS_PER_CALL} "
                "tas emot (dela upp frågan)",
            )
        for recipient_id in recipient_ids:
            check_recipient_id(recipient_id)

    @staticmethod
    def _refuse_protected(session: Session, recipient_ids: list[str]) -> None:
        protected = sorted(
            session.scalars(
                select(FarProtectedIdentity.recipient_id).where(
                    FarProtectedIdentity.recipient_id.in_(recipient_ids)
                )
            )
        )
        if protected:
            raise FarError(
                PROTECTED_IDENTITY,
                "skyddad identitet: FaR lämnar inga uppgifter om "
                + ", ".join(protected)
                + " (fråga utan dessa; skicka till dem enligt rutinen för skyddade personer)",
            )

    @staticmethod
    def _accounts(session: Session, recipient_ids: list[str]) -> dict[str, FarAccount]:
        rows = session.scalars(select(FarAccount).where(FarAccount.recipient_id.in_(recipient_ids)))
        return {row.recipient_id: row for row in rows}

    @staticmethod
    def _operators(session: Session) -> dict[str, Operator]:
        rows = session.scalars(select(FarOrganisation).where(FarOrganisation.operator.is_(True)))
        return {
            row.number: Operator(row.number, row.name, row.service_address or "", row.ui_address)
            for row in rows
        }

    @staticmethod
    def _own_account(session: Session, operator_number: str, recipient_id: str) -> FarAccount:
        account = session.get(FarAccount, recipient_id)
        if account is None or account.operator_number != operator_number:
            raise FarError(NOT_FOUND, f"{recipient_id} har ingen brevlåda hos denna operatör")
        return account


def _state(
    recipient_id: str, account: FarAccount | None, operators: dict[str, Operator]
) -> AccountState:
    if account is None:
        return AccountState(recipient_id, "Not", pending=False, operator=None, registered_at=None)
    return AccountState(
        recipient_id,
        account.account_type,
        pending=account.pending,
        operator=operators.get(account.operator_number),
        registered_at=account.registered_at,
    )
