"""All SQL of the print service: batches, items, and the letters they print."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from utskick.letters.models import Letter, LetterAttachment
from utskick.printing.models import CLOSED, OPEN, PrintBatch, PrintItem
from utskick.senders.models import SenderOrganisation

# The order of a batch's letters, by which they are numbered when it closes: the chunks in
# the order they were written, and in each the order the letters went to paper.
PRINT_ORDER = (PrintItem.created_at, PrintItem.sequence, PrintItem.letter_id)


@dataclass(frozen=True)
class OpenBatch:
    """An open batch as a chunk of letters joins it: its id and the letters already in it."""

    id: str
    letters: int


@dataclass(frozen=True)
class LetterToAddress:
    """What addressing needs of a letter, and whether it already has a print item."""

    id: str
    state: str
    recipient_id: str
    sending_system_id: str
    sender_number: str
    department: str | None
    postal_address: dict[str, object] | None
    item: str | None  # its print item's letter id: it has been addressed


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

    def lock_batch(self, batch_id: str) -> PrintBatch | None:
        """One batch, locked for a change of its state (to close it or mark it printed).

        On PostgreSQL `FOR UPDATE` waits for the chunks still adding letters to it (they hold
        a key-share lock) and keeps new ones out. On SQLite a no-op update first takes the
        database's write lock, so that the read and the change that follows see one state.
        """
        if self._dialect() == "sqlite":
            self.session.execute(
                update(PrintBatch)
                .where(PrintBatch.id == batch_id)
                .values(state=PrintBatch.state)
                .execution_options(synchronize_session=False)
            )
        return self.batch(batch_id, for_update=True)

    def open_batches(self, keys: Sequence[str]) -> dict[str, OpenBatch]:
        """The open batches with these open keys and how many letters each holds.

        Under a key-share lock on PostgreSQL: any number of chunks hold it at once, but the
        batch cannot close (`lock_batch`) until they have committed, so no letter joins a
        batch after it closed. A batch that closes while this waits is not returned.
        """
        if not keys:
            return {}
        letters = (
            select(func.count())
            .select_from(PrintItem)
            .where(PrintItem.batch_id == PrintBatch.id)
            .correlate(PrintBatch)
            .scalar_subquery()
        )
        rows = self.session.execute(
            select(PrintBatch.open_key, PrintBatch.id, letters)
            .where(PrintBatch.open_key.in_(list(keys)))
            .with_for_update(read=True, key_share=True)
        ).all()
        return {str(key): OpenBatch(batch_id, int(count)) for key, batch_id, count in rows}

    def create_open_batch(
        self,
        *,
        sender_number: str,
        route: str,
        local: bool,
        department: str,
        now: dt.datetime,
        closes_at: dt.datetime,
    ) -> str | None:
        """A new open batch; its id, or None when another transaction opened one first.

        The unique open key keeps one open batch per sender organisation, route and
        department; a worker opening it at the same time as another waits for the other's
        commit and then inserts nothing (the caller reads the other's batch).
        """
        values = {
            "id": str(uuid.uuid4()),
            "sender_number": sender_number,
            "route": route,
            "local": local,
            "department": department,
            "state": OPEN,
            "open_key": open_key(sender_number, route, department),
            "created_at": now,
            "closes_at": closes_at,
            "letter_count": 0,
        }
        dialect = postgresql if self._dialect() == "postgresql" else sqlite
        statement = (
            dialect.insert(PrintBatch)
            .values(values)
            .on_conflict_do_nothing(index_elements=[PrintBatch.open_key])
            .returning(PrintBatch.id)
        )
        created = self.session.execute(statement).scalar_one_or_none()
        return None if created is None else str(created)

    def close(self, batch: PrintBatch, *, reason: str, now: dt.datetime) -> None:
        """Close an open batch: no letter joins it any more (`number_items` first)."""
        batch.state = CLOSED
        batch.open_key = None
        batch.closed_at = now
        batch.close_reason = reason

    def number_items(self, batch_id: str) -> int:
        """Give a batch's items their positions 1..n in `PRINT_ORDER`; n.

        One statement for the whole batch; the caller holds the batch's lock, so no letter
        joins while it runs.
        """
        numbered = (
            select(
                PrintItem.letter_id,
                func.row_number().over(order_by=PRINT_ORDER).label("number"),
            )
            .where(PrintItem.batch_id == batch_id)
            .subquery()
        )
        result = self.session.execute(
            update(PrintItem)
            .where(PrintItem.letter_id == numbered.c.letter_id)
            .values(position=numbered.c.number)
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    def letter_count(self, batch: PrintBatch) -> int:
        """The letters in a batch: counted while it is open, else as counted at its close."""
        if batch.state != OPEN:
            return batch.letter_count
        return self.item_count(batch.id)

    def item_count(self, batch_id: str) -> int:
        """The items of a batch."""
        return (
            self.session.scalar(
                select(func.count()).select_from(PrintItem).where(PrintItem.batch_id == batch_id)
            )
            or 0
        )

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

    def add_items(self, rows: Sequence[dict[str, object]]) -> None:
        """Insert print items (one executemany; every row has the same keys)."""
        if rows:
            # With its NULLs rendered, no row is set apart for the keys it leaves None.
            self.session.execute(insert(PrintItem).execution_options(render_nulls=True), list(rows))

    def letters_to_address(self, letter_ids: Sequence[str]) -> dict[str, LetterToAddress]:
        """What addressing reads of these letters (one query), by id."""
        rows = self.session.execute(
            select(
                Letter.id,
                Letter.state,
                Letter.recipient_id,
                Letter.sending_system_id,
                Letter.sender_number,
                Letter.department,
                Letter.postal_address,
                PrintItem.letter_id.label("item"),
            )
            .outerjoin(PrintItem, PrintItem.letter_id == Letter.id)
            .where(Letter.id.in_(list(letter_ids)))
        )
        return {row.id: LetterToAddress(*row) for row in rows}

    def items_with_letters(
        self, batch_id: str, *, after_position: int | None = None, limit: int | None = None
    ) -> list[tuple[PrintItem, Letter]]:
        """A batch's items in print order, each with its letter (a page of them when asked).

        An open batch's items have no positions yet: they come in the order they will be
        numbered in (`after_position` pages only through a closed batch).
        """
        statement = (
            select(PrintItem, Letter)
            .join(Letter, Letter.id == PrintItem.letter_id)
            .where(PrintItem.batch_id == batch_id)
            .order_by(PrintItem.position.asc().nulls_last(), *PRINT_ORDER)
        )
        if after_position is not None:
            statement = statement.where(PrintItem.position > after_position)
        if limit is not None:
            statement = statement.limit(limit)
        return [(row[0], row[1]) for row in self.session.execute(statement).all()]

    def items(self, batch_id: str) -> list[PrintItem]:
        """A batch's items in print order."""
        return list(
            self.session.scalars(
                select(PrintItem)
                .where(PrintItem.batch_id == batch_id)
                .order_by(PrintItem.position.asc().nulls_last(), *PRINT_ORDER)
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

    def paper_attachments_of(self, letter_ids: Sequence[str]) -> dict[str, list[bytes]]:
        """The attachments that go on paper of many letters, in order (one query)."""
        found: dict[str, list[bytes]] = {letter_id: [] for letter_id in letter_ids}
        if not letter_ids:
            return found
        rows = self.session.execute(
            select(LetterAttachment.letter_id, LetterAttachment.content)
            .where(
                LetterAttachment.letter_id.in_(list(letter_ids)),
                LetterAttachment.channel.in_(("paper", "both")),
                LetterAttachment.content.is_not(None),
            )
            .order_by(LetterAttachment.letter_id, LetterAttachment.position)
        )
        for letter_id, content in rows:
            if content is not None:
                found[letter_id].append(bytes(content))
        return found

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

    def item_parts(self, batch_id: str) -> dict[str, str]:
        """The part (whole letter, or paper part) of each item of a batch, by letter id."""
        statement = select(PrintItem.letter_id, PrintItem.part).where(
            PrintItem.batch_id == batch_id
        )
        return {str(key): str(value) for key, value in self.session.execute(statement)}

    def sending_systems(self, letter_ids: Sequence[str]) -> dict[str, str]:
        """The sending system of each of these letters that exists, by letter id."""
        statement = select(Letter.id, Letter.sending_system_id).where(
            Letter.id.in_(list(letter_ids))
        )
        return {str(key): str(value) for key, value in self.session.execute(statement)}

    def record_renderings(self, rows: Sequence[dict[str, object]]) -> None:
        """Keep what was printed for many items (by `letter_id`): one executemany."""
        if rows:
            self.session.execute(update(PrintItem), list(rows))

    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name


def open_key(sender_number: str, route: str, department: str) -> str:
    """The key that keeps one batch open per sender organisation, route and department.

    With the organisation in it, two municipalities' departments of the same name never share
    a batch (nor an exception list).
    """
    return f"{sender_number}|{route}|{department}"
