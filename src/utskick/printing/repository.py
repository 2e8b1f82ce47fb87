"""All SQL of the print service: batches, items, and the letters they print."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from utskick.letters.models import Letter, LetterAttachment
from utskick.printing.models import CLOSED, OPEN, PrintBatch, PrintItem
from utskick.senders.models import SenderOrganisation


@dataclass(frozen=True)
class BatchFilter:
    """Which batches to list (None: any).

    `sender_number` is the sender organisation (10 digits); `department` "" means the
    batches of letters that have no department.
    """

    sender_number: str | None = None
    route: str | None = None
    department: str | None = None
    state: str | None = None
    local: bool | None = None
    limit: int = 50


class PrintRepository:
    """Queries for print batches and items, in the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- batches ---------------------------------------------------------------------------

    def batch(self, batch_id: str, *, for_update: bool = False) -> PrintBatch | None:
        """One batch by id (locked for update on PostgreSQL when asked)."""
        statement = select(PrintBatch).where(PrintBatch.id == batch_id)
        if for_update:
            statement = statement.with_for_update()
        return self.session.scalars(statement).first()

    def open_batch(self, sender_number: str, route: str, department: str) -> PrintBatch | None:
        """The open batch of a sender organisation, route and department, locked for update."""
        return self.session.scalars(
            select(PrintBatch)
            .where(PrintBatch.open_key == open_key(sender_number, route, department))
            .with_for_update()
        ).first()

    def create_batch(
        self,
        *,
        sender_number: str,
        route: str,
        local: bool,
        department: str,
        now: dt.datetime,
        closes_at: dt.datetime,
    ) -> PrintBatch:
        """A new open batch (the unique open key keeps it the only open one)."""
        batch = PrintBatch(
            id=str(uuid.uuid4()),
            sender_number=sender_number,
            route=route,
            local=local,
            department=department,
            state=OPEN,
            open_key=open_key(sender_number, route, department),
            created_at=now,
            closes_at=closes_at,
            letter_count=0,
        )
        self.session.add(batch)
        self.session.flush()
        return batch

    def close(self, batch: PrintBatch, *, reason: str, now: dt.datetime) -> None:
        """Close an open batch: no letter joins it any more."""
        batch.state = CLOSED
        batch.open_key = None
        batch.closed_at = now
        batch.close_reason = reason

    def batches(self, query: BatchFilter) -> list[PrintBatch]:
        """Batches matching the filter, newest first."""
        statement = select(PrintBatch).order_by(PrintBatch.created_at.desc()).limit(query.limit)
        if query.sender_number is not None:
            statement = statement.where(PrintBatch.sender_number == query.sender_number)
        if query.route is not None:
            statement = statement.where(PrintBatch.route == query.route)
        if query.department is not None:
            statement = statement.where(PrintBatch.department == query.department)
        if query.state is not None:
            statement = statement.where(PrintBatch.state == query.state)
        if query.local is not None:
            statement = statement.where(PrintBatch.local == query.local)
        return list(self.session.scalars(statement))

    # --- items -----------------------------------------------------------------------------

    def item(self, letter_id: str) -> PrintItem | None:
        """The print item of a letter."""
        return self.session.get(PrintItem, letter_id)

    def items_with_letters(
        self, batch_id: str, *, after_position: int = 0, limit: int | None = None
    ) -> list[tuple[PrintItem, Letter]]:
        """A batch's items in print order, each with its letter (a page of them when asked)."""
        statement = (
            select(PrintItem, Letter)
            .join(Letter, Letter.id == PrintItem.letter_id)
            .where(PrintItem.batch_id == batch_id, PrintItem.position > after_position)
            .order_by(PrintItem.position)
        )
        if limit is not None:
            statement = statement.limit(limit)
        return [(row[0], row[1]) for row in self.session.execute(statement).all()]

    def items(self, batch_id: str) -> list[PrintItem]:
        """A batch's items in print order."""
        return list(
            self.session.scalars(
                select(PrintItem).where(PrintItem.batch_id == batch_id).order_by(PrintItem.position)
            )
        )

    def unprinted_count(self, batch_id: str) -> int:
        """Items of the batch not yet marked printed."""
        return (
            self.session.scalar(
                select(func.count())
                .select_from(PrintItem)
                .where(PrintItem.batch_id == batch_id, PrintItem.printed_at.is_(None))
            )
            or 0
        )

    def letters(self, letter_ids: Sequence[str]) -> dict[str, Letter]:
        """Letters by id, in one query."""
        return {
            letter.id: letter
            for letter in self.session.scalars(
                select(Letter).where(Letter.id.in_(list(letter_ids)))
            )
        }

    def paper_attachments(self, letter_id: str) -> list[bytes]:
        """The contents of a letter's attachments that go on paper, in order."""
        rows = self.session.scalars(
            select(LetterAttachment.content)
            .where(
                LetterAttachment.letter_id == letter_id,
                LetterAttachment.channel.in_(("paper", "both")),
                LetterAttachment.content.is_not(None),
            )
            .order_by(LetterAttachment.position)
        )
        return [bytes(content) for content in rows if content is not None]

    def senders(self, numbers: Sequence[str]) -> dict[str, SenderOrganisation]:
        """Sender organisations by organisationsnummer."""
        return {
            sender.organisation_number: sender
            for sender in self.session.scalars(
                select(SenderOrganisation).where(
                    SenderOrganisation.organisation_number.in_(list(set(numbers)))
                )
            )
        }

    def record_rendering(
        self, letter_id: str, *, pages: int, sheets: int, sha256: str, file_name: str
    ) -> None:
        """Keep what was printed for a letter (its pages, sheets, file and checksum)."""
        self.session.execute(
            update(PrintItem)
            .where(PrintItem.letter_id == letter_id)
            .values(pages=pages, sheets=sheets, sha256=sha256, file_name=file_name)
            .execution_options(synchronize_session=False)
        )


def open_key(sender_number: str, route: str, department: str) -> str:
    """The key that keeps one batch open per sender organisation, route and department.

    With the organisation in it, two municipalities' departments of the same name never share
    a batch (nor an exception list).
    """
    return f"{sender_number}|{route}|{department}"
