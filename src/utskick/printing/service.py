"""The print service: address paper letters, gather them in batches, close and mark batches.

`print` jobs run in bulk (up to 1,000 letters, one register call): `address_jobs`
(`utskick.printing.addressing`) records them in chunks of a few statements each, every
letter into the open batch of its sender organisation, route and department (event
BATCHED), or IMPOSSIBLE with the reason. A batch closes at its scheduled time (`print_close`
job), when it is full, or on command (`utskick.printing.closing`): its letters are then
numbered; a closed vendor batch is handed over by a `print_handover` job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import ClaimedJob
from utskick.letters import events, vocabulary
from utskick.letters.repository import lock_letters
from utskick.printing.addressing import MAX_BATCH, RECORD_CHUNK, address_jobs
from utskick.printing.closing import (
    CLOSE_BY_COMMAND,
    CLOSE_BY_SCHEDULE,
    CLOSE_BY_SIZE,
    close_batch,
)
from utskick.printing.models import CLOSED, HANDED_OVER, OPEN, PRINTED, WHOLE_LETTER, PrintBatch
from utskick.printing.repository import PrintRepository

__all__ = [
    "CLOSE_BY_COMMAND",
    "CLOSE_BY_SCHEDULE",
    "CLOSE_BY_SIZE",
    "MAX_BATCH",
    "RECORD_CHUNK",
    "PrintBatchError",
    "address_jobs",
    "close_batch",
    "close_job",
    "close_on_command",
    "mark_printed",
]


class PrintBatchError(ValueError):
    """A batch command that cannot be carried out; the message says why (Swedish)."""


def close_on_command(session: Session, batch_id: str, *, now: dt.datetime) -> PrintBatch:
    """Close a batch now (an operator's command); closing a closed batch changes nothing.

    Raises:
        PrintBatchError: no such batch, or it is empty.
    """
    repository = PrintRepository(session)
    batch = repository.lock_batch(batch_id)
    if batch is None:
        raise PrintBatchError(f"det finns ingen utskriftsbatch {batch_id}")
    if batch.state != OPEN:
        return batch
    if repository.item_count(batch_id) == 0:
        raise PrintBatchError("batchen är tom; det finns inget att skriva ut")
    close_batch(session, batch, reason=CLOSE_BY_COMMAND, now=now)
    return batch


def close_job(
    job: ClaimedJob, *, sessions: sessionmaker[Session], clock: Callable[[], dt.datetime]
) -> None:
    """At a batch's scheduled time: close it if it is still open."""
    batch_id = str((job.payload or {}).get("batch_id", ""))
    now = clock()
    with sessions() as session, session.begin():
        batch = PrintRepository(session).lock_batch(batch_id)
        if batch is not None and batch.state == OPEN:
            close_batch(session, batch, reason=CLOSE_BY_SCHEDULE, now=now)


def mark_printed(
    session: Session,
    batch_id: str,
    letter_ids: Sequence[str] | None,
    *,
    now: dt.datetime,
    actor: str,
) -> int:
    """Mark letters of a closed or handed-over batch as printed (all when none are named).

    Marking a letter printed again changes nothing. Returns how many letters were marked.

    Raises:
        PrintBatchError: no such batch, it is still open, or a letter is not in it.
    """
    repository = PrintRepository(session)
    batch = repository.batch(batch_id, for_update=True)
    if batch is None:
        raise PrintBatchError(f"det finns ingen utskriftsbatch {batch_id}")
    if batch.state == OPEN:
        raise PrintBatchError(
            "batchen är fortfarande öppen; stäng den först (utskick print close) så att "
            "inga fler brev hamnar i den"
        )
    if batch.state not in (CLOSED, HANDED_OVER, PRINTED):
        raise PrintBatchError(f"batchen kan inte markeras som utskriven ({batch.state})")
    items = {item.letter_id: item for item in repository.items(batch_id)}
    wanted = list(items) if letter_ids is None else list(dict.fromkeys(letter_ids))
    missing = [letter_id for letter_id in wanted if letter_id not in items]
    if missing:
        raise PrintBatchError(
            f"{len(missing)} brev finns inte i batchen (t.ex. {missing[0]}); kontrollera listan"
        )
    lock_letters(session, wanted)
    letters = repository.letters(wanted)
    marked = 0
    for letter_id in wanted:
        item = items[letter_id]
        if item.printed_at is not None:
            continue
        item.printed_at = now
        letter = letters.get(letter_id)
        if letter is None:
            continue
        events.record(
            session,
            letter,
            vocabulary.PRINTED,
            actor=actor,
            now=now,
            detail="Brevet är utskrivet.",
            data={"batch_id": batch_id, "part": item.part},
            current=item.part == WHOLE_LETTER,
        )
        marked += 1
    if repository.unprinted_count(batch_id) == 0:
        batch.state = PRINTED
    return marked
