"""All queries on sender organisations, sending systems and API keys.

The caller's unit of work commits.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from utskick.identity import parse_organisation
from utskick.senders.models import ApiKey, SenderOrganisation, SendingSystem


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


class SendingSystemRepository:
    """Sending systems and API keys in the database."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, system: SendingSystem) -> None:
        """Add a new sending system to the unit of work."""
        self.session.add(system)

    def add_key(self, key: ApiKey) -> None:
        """Add a new API key to the unit of work."""
        self.session.add(key)

    def get(self, system_id: str) -> SendingSystem | None:
        """The sending system with this id, if any."""
        return self.session.get(SendingSystem, system_id)

    def by_name(self, name: str) -> SendingSystem | None:
        """The sending system with this name, if any."""
        return self.session.scalar(select(SendingSystem).where(SendingSystem.name == name))

    def all(self) -> list[SendingSystem]:
        """Every sending system, by name."""
        return list(self.session.scalars(select(SendingSystem).order_by(SendingSystem.name)))

    def key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The API key whose secret hashes to this, if any (revoked ones too)."""
        return self.session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))

    def key_by_id_or_prefix(self, id_or_prefix: str) -> list[ApiKey]:
        """Keys whose id or shown prefix is this (more than one: the prefix is ambiguous)."""
        return list(
            self.session.scalars(
                select(ApiKey).where(or_(ApiKey.id == id_or_prefix, ApiKey.prefix == id_or_prefix))
            )
        )

    def keys_of(self, system_id: str) -> list[ApiKey]:
        """A system's keys, oldest first."""
        return list(
            self.session.scalars(
                select(ApiKey)
                .where(ApiKey.sending_system_id == system_id)
                .order_by(ApiKey.created_at, ApiKey.id)
            )
        )
