"""The parties of one delivery as FaR knows them, and who may hand over what another sealed.

A mailbox operator must know who hands it a letter: the organisation that sealed a delivery
may hand it over itself, and another organisation only when FaR registers it as an
intermediary (förmedlare) for that sealer. This module holds that register's rows and the
operator's view of one delivery's parties; `registry.FarRegistry` is its public face.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from sqlalchemy.orm import Session

from utskick.reference.store import FarIntermediaryFor, FarOrganisation


@dataclass(frozen=True)
class DeliveryParties:
    """A delivery's sender and sealer as FaR knows them, with their certificates."""

    sender_number: str
    sender: FarOrganisation | None
    sealer_number: str | None
    sealer: FarOrganisation | None
    certificates: tuple[x509.Certificate, ...]  # registered for the sender and the sealer
    # The organisation that connected, when it is another than the sealer, and whether FaR
    # registers it as an intermediary for the sealer.
    connecting_number: str | None = None
    connecting_registered_for_sealer: bool = False

    @property
    def sender_registered(self) -> bool:
        """Whether the sender is a registered sender."""
        return self.sender is not None and self.sender.sender

    @property
    def sealer_may_dispatch(self) -> bool:
        """Whether the sealer is the sender itself or an approved intermediary."""
        if self.sealer_number == self.sender_number:
            return True
        return self.sealer is not None and self.sealer.intermediary

    @property
    def connecting_may_hand_over(self) -> bool:
        """Whether the connecting party may hand over what the sealer sealed.

        The sealer itself may; another organisation only as an intermediary that FaR
        registers for that sealer.
        """
        if self.connecting_number is None or self.connecting_number == self.sealer_number:
            return True
        return self.connecting_registered_for_sealer


def is_intermediary_for(session: Session, intermediary_number: str, principal_number: str) -> bool:
    """Whether FaR registers the first organisation as an intermediary for the second."""
    # The role is checked too: an organisation that stops being an intermediary loses every
    # registration at once.
    intermediary = session.get(FarOrganisation, intermediary_number)
    return (
        intermediary is not None
        and intermediary.intermediary
        and session.get(FarIntermediaryFor, (intermediary_number, principal_number)) is not None
    )


def add_intermediary_for(
    session: Session, intermediary_number: str, principal_number: str
) -> Literal["unknown", "not_intermediary"] | None:
    """Register the intermediary for the principal; say why not if it cannot be."""
    intermediary = session.get(FarOrganisation, intermediary_number)
    if intermediary is None or session.get(FarOrganisation, principal_number) is None:
        return "unknown"
    if not intermediary.intermediary:
        return "not_intermediary"
    if session.get(FarIntermediaryFor, (intermediary_number, principal_number)) is None:
        session.add(
            FarIntermediaryFor(
                intermediary_number=intermediary_number, principal_number=principal_number
            )
        )
    return None
