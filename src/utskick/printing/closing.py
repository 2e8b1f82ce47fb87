"""Close a print batch: number its letters, count them, and queue a vendor batch's hand-over.

While a batch is open its row is never written: letters join it by their items alone, so
that workers add letters to one batch at the same time. Closing is the one change of the
row; the caller holds the batch's lock (`PrintRepository.lock_batch`), which on PostgreSQL
waits for the chunks still adding letters and keeps new ones out, so the numbering sees every
letter the batch will ever hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import PRINT_HANDOVER, enqueue
from utskick.printing.models import OPEN, PrintBatch
from utskick.printing.repository import PrintRepository
from utskick.settings import Settings

CLOSE_BY_SCHEDULE = "schedule"
CLOSE_BY_SIZE = "size"
CLOSE_BY_COMMAND = "command"


def close_batch(session: Session, batch: PrintBatch, *, reason: str, now: dt.datetime) -> None:
    """Close an open batch locked by the caller (caller commits).

    Its letters get their positions 1..n (in the order they went to paper) and the batch
    its count; a vendor batch is then handed over by a job.
    """
    repository = PrintRepository(session)
    batch.letter_count = repository.number_items(batch.id)
    repository.close(batch, reason=reason, now=now)
    if not batch.local:
        enqueue(session, PRINT_HANDOVER, now=now, payload={"batch_id": batch.id})


def close_if_full(
    sessions: sessionmaker[Session],
    batch_id: str,
    *,
    settings: Settings,
    clock: Callable[[], dt.datetime],
) -> bool:
    """Close a vendor batch that holds its size or more, in a transaction of its own.

    Waits for the chunks still adding letters to it; when two workers both filled it, the
    second finds it closed. Returns whether this call closed it.
    """
    with sessions() as session, session.begin():
        repository = PrintRepository(session)
        batch = repository.lock_batch(batch_id)
        if batch is None or batch.state != OPEN or batch.local:
            return False
        if repository.item_count(batch_id) < settings.print_batch_max_letters:
            return False
        close_batch(session, batch, reason=CLOSE_BY_SIZE, now=clock())
        return True
