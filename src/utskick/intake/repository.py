"""All queries on sending systems and their API keys. The caller's unit of work commits."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from utskick.intake.models import ApiKey, SendingSystem


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
