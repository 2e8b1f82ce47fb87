"""What a mailbox operator looks up for each request, kept for a short time.

Every delivery asks the same questions: which organisation the caller's certificate belongs
to, what FaR holds for the sender and the sealer (roles, registrations, certificates), and
whether the recipient's account is here and open (and how they want notices). The answers
are kept in a `TtlCache` for `UTSKICK_REFERENCE_LOOKUP_CACHE_SECONDS`; any change to them
written through the reference's sessions drops them at once (`cache.watch_changes`), in
this process and in the reference's other processes.

Only look-ups are kept. Each delivery's signatures are verified against the kept
certificates every time, and each delivery is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from sqlalchemy import select

from utskick.mm.verification import TrustStore
from utskick.reference.cache import TtlCache
from utskick.reference.context import ReferenceContext
from utskick.reference.far.parties import DeliveryParties
from utskick.reference.mailbox.notices import NO_NOTICES, MailboxNoticeSettings, NoticePlan, Notices
from utskick.reference.store import FarAccount, MailboxAccount
from utskick.reference.world import Organisation


@dataclass(frozen=True)
class Recipient:
    """A recipient as this operator sees them on delivery."""

    reachable: bool  # FaR holds an active account here, and the mailbox here is open
    notices: NoticePlan  # what a new message owes them


@dataclass(frozen=True)
class Parties:
    """A delivery's parties as FaR knows them, and the certificates to verify against."""

    parties: DeliveryParties
    trust: TrustStore  # the certificates FaR holds for exactly the sender and the sealer


class OperatorLookups:
    """One operator's look-ups in FaR and its own accounts, each answer kept a short time.

    Args:
        context: the reference context (FaR's register, sessions, the change stamp).
        operator: the operator asking.
        notices: the operator's notices, to plan them with the recipient; None plans none.
        cache: where answers are kept; default one of this operator's own with the time
            from the settings.
    """

    def __init__(
        self,
        context: ReferenceContext,
        operator: Organisation,
        notices: Notices | None = None,
        cache: TtlCache | None = None,
    ) -> None:
        self._registry = context.registry
        self._engine = context.engine
        self._operator_number = operator.number
        self._notices = notices
        self.cache = (
            cache
            if cache is not None
            else TtlCache(context.settings.lookup_cache_seconds, context.changes)
        )

    def caller(self, certificate: x509.Certificate) -> str | None:
        """The organisationsnummer the certificate is registered for in FaR, if any."""
        return self.cache.get(("caller", certificate), lambda: self._load_caller(certificate))

    def parties(
        self, sender_number: str, sealer_number: str | None, connecting_number: str | None
    ) -> Parties:
        """The sender and sealer in FaR, whether the connecting party may hand over, trust."""
        key = ("parties", sender_number, sealer_number, connecting_number)
        return self.cache.get(
            key, lambda: self._load_parties(sender_number, sealer_number, connecting_number)
        )

    def recipient(self, recipient_id: str) -> Recipient:
        """Whether the recipient can get mail here, and the notices a new message owes."""
        return self.cache.get(("recipient", recipient_id), lambda: self._load(recipient_id))

    def _load_caller(self, certificate: x509.Certificate) -> str | None:
        organisation = self._registry.organisation_of_certificate(certificate)
        return organisation.number if organisation is not None else None

    def _load_parties(
        self, sender_number: str, sealer_number: str | None, connecting_number: str | None
    ) -> Parties:
        parties = self._registry.delivery_parties(sender_number, sealer_number, connecting_number)
        return Parties(parties, TrustStore.of(parties.certificates))

    def _load(self, recipient_id: str) -> Recipient:
        # One statement, without the ORM: in a mass mailing nearly every recipient is new to
        # the cache. FaR's account is read from its table, as the operators read FaR's
        # register (store.py).
        statement = (
            select(
                FarAccount.operator_number,
                FarAccount.pending,
                MailboxAccount.active,
                MailboxAccount.kind,
                MailboxAccount.email,
                MailboxAccount.phone,
                MailboxAccount.notice_frequency,
            )
            .outerjoin(
                MailboxAccount,
                (MailboxAccount.operator_number == self._operator_number)
                & (MailboxAccount.owner_id == FarAccount.recipient_id),
            )
            .where(FarAccount.recipient_id == recipient_id)
        )
        with self._engine.connect() as connection:
            row = connection.execute(statement).one_or_none()
        if (
            row is None
            or (row.operator_number, row.pending) != (self._operator_number, False)
            or not row.active
        ):
            return Recipient(reachable=False, notices=NO_NOTICES)
        if self._notices is None:
            return Recipient(reachable=True, notices=NO_NOTICES)
        mailbox = MailboxNoticeSettings(
            recipient_id, row.kind, row.email, row.phone, row.notice_frequency
        )
        return Recipient(reachable=True, notices=self._notices.plan(mailbox))
