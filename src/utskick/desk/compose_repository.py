"""The queries of the compose page: the message types to choose from, and the sender's name."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from utskick.letters.models import MessageType
from utskick.senders.models import SenderOrganisation
from utskick.senders.repository import SenderRepository


@dataclass(frozen=True)
class MessageTypeChoice:
    """A message type as the page offers it, with the protection class that follows from it."""

    code: str
    name: str
    protection_class: int


class ComposeRepository:
    """Reads what the compose page shows; it writes nothing (sending goes through letters)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def message_types(self) -> list[MessageTypeChoice]:
        """Every message type, by name."""
        rows = self.session.scalars(
            select(MessageType).order_by(MessageType.name, MessageType.code)
        )
        return [MessageTypeChoice(row.code, row.name, row.protection_class) for row in rows]

    def sender(self, organisation_number: str) -> SenderOrganisation | None:
        """The sender organisation with this number (10 digits), if it is one."""
        return SenderRepository(self.session).get(organisation_number)
