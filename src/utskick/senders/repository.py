"""All queries on sender organisations. The caller's unit of work commits."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from utskick.identity import parse_organisation
from utskick.senders.models import SenderOrganisation


class DuplicateSenderError(ValueError):
    """The organisation is already configured as a sender."""


class SenderRepository:
    """Sender organisations in the database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self, organisation_number: str, name: str, *, key_path: str | None, now: dt.datetime
    ) -> SenderOrganisation:
        """Register a sender organisation; the number is validated and stored as 10 digits.

        Raises:
            InvalidIdentityError: the number is not a valid organisationsnummer.
            DuplicateSenderError: the organisation is already registered.
        """
        number = parse_organisation(organisation_number).organisation_number
        if self.get(number) is not None:
            raise DuplicateSenderError(f"organisationen {number} finns redan som avsändare")
        sender = SenderOrganisation(
            organisation_number=number, name=name.strip(), key_path=key_path, created_at=now
        )
        self.session.add(sender)
        self.session.flush()
        return sender

    def get(self, organisation_number: str) -> SenderOrganisation | None:
        """The sender with this organisationsnummer (10 digits), if registered."""
        return self.session.scalar(
            select(SenderOrganisation).where(
                SenderOrganisation.organisation_number == organisation_number
            )
        )

    def all(self) -> list[SenderOrganisation]:
        """Every sender, by name."""
        return list(
            self.session.scalars(select(SenderOrganisation).order_by(SenderOrganisation.name))
        )

    def intermediary(self) -> SenderOrganisation | None:
        """The organisation that seals and holds the mutual-TLS certificate, if one is set."""
        return self.session.scalar(
            select(SenderOrganisation)
            .where(SenderOrganisation.intermediary.is_(True))
            .order_by(SenderOrganisation.id)
            .limit(1)
        )
