"""The print service: address paper letters, gather them in batches, close and mark batches.

`print` jobs run in bulk (up to 1,000 letters, one register call): the register is asked
outside any transaction, then each letter still waiting gets its envelope in short
transactions: an item in the open batch of its sender organisation, route and department
(event BATCHED), or IMPOSSIBLE with the reason. A batch closes at its scheduled time
(`print_close` job), when it is full, or on command; a closed vendor batch is handed over by
a `print_handover` job.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import (
    PRINT_CLOSE,
    PRINT_HANDOVER,
    ClaimedJob,
    Retry,
    backoff_seconds,
    enqueue,
)
from utskick.letters import events, vocabulary
from utskick.letters.models import Letter
from utskick.letters.repository import lock_letters
from utskick.printing.addresses import (
    AddressSource,
    AddressSourceUnavailableError,
    Envelope,
    RegisterEntry,
    resolve,
)
from utskick.printing.models import (
    CLOSED,
    HANDED_OVER,
    OPEN,
    PAPER_PART,
    PRINTED,
    WHOLE_LETTER,
    PrintBatch,
    PrintItem,
)
from utskick.printing.repository import PrintRepository
from utskick.printing.routes import next_close, route_for
from utskick.settings import Settings

MAX_BATCH = 1000
RECORD_CHUNK = 100

CLOSE_BY_SCHEDULE = "schedule"
CLOSE_BY_SIZE = "size"
CLOSE_BY_COMMAND = "command"


class PrintBatchError(ValueError):
    """A batch command that cannot be carried out; the message says why (Swedish)."""


@dataclass(frozen=True)
class _Waiting:
    letter_id: str
    recipient_id: str
    part: str


def address_jobs(
    jobs: Sequence[ClaimedJob],
    *,
    sessions: sessionmaker[Session],
    source: AddressSource,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    actor: str,
) -> dict[int, Retry | None]:
    """Address the letters of these `print` jobs and batch them; each job's outcome."""
    outcomes: dict[int, Retry | None] = {job.id: None for job in jobs}
    jobs = sorted(jobs, key=lambda job: job.id)  # a claim returns them in no set order
    parts = {
        job.letter_id: (
            PAPER_PART if (job.payload or {}).get("part") == PAPER_PART else WHOLE_LETTER
        )
        for job in jobs
        if job.letter_id
    }
    waiting = _waiting_letters(sessions, parts)
    if not waiting:
        return outcomes
    try:
        entries = source.lookup([letter.recipient_id for letter in waiting])
    except AddressSourceUnavailableError as error:
        now = clock()
        for job in jobs:
            delay = backoff_seconds(
                job.attempts, settings.retry_base_seconds, settings.retry_max_seconds
            )
            outcomes[job.id] = Retry(now + dt.timedelta(seconds=delay), str(error))
        return outcomes
    for first in range(0, len(waiting), RECORD_CHUNK):
        chunk = waiting[first : first + RECORD_CHUNK]
        with sessions() as session, session.begin():
            _batch_letters(session, chunk, entries, settings=settings, now=clock(), actor=actor)
    return outcomes


def _waiting_letters(sessions: sessionmaker[Session], parts: dict[str, str]) -> list[_Waiting]:
    with sessions() as session:
        rows = session.execute(
            select(Letter.id, Letter.recipient_id, Letter.state).where(Letter.id.in_(list(parts)))
        ).all()
        already = set(
            session.scalars(select(PrintItem.letter_id).where(PrintItem.letter_id.in_(list(parts))))
        )
    # In the jobs' order (the order the letters went to paper): that is their order in the batch.
    order = {letter_id: index for index, letter_id in enumerate(parts)}
    return [
        _Waiting(row.id, row.recipient_id, parts[row.id])
        for row in sorted(rows, key=lambda row: order[row.id])
        if row.id not in already and _waits(row.state, parts[row.id])
    ]


def _waits(state: str, part: str) -> bool:
    return state == (vocabulary.DELIVERED if part == PAPER_PART else vocabulary.PAPER)


def _batch_letters(
    session: Session,
    chunk: list[_Waiting],
    entries: dict[str, RegisterEntry],
    *,
    settings: Settings,
    now: dt.datetime,
    actor: str,
) -> None:
    repository = PrintRepository(session)
    lock_letters(session, [letter.letter_id for letter in chunk])
    for waiting in chunk:
        letter = session.get(Letter, waiting.letter_id)
        if letter is None or not _waits(letter.state, waiting.part):
            continue  # cancelled, or another worker came first
        if repository.item(letter.id) is not None:
            continue
        envelope = resolve(entries.get(letter.recipient_id), letter.postal_address)
        if envelope.protected and letter.postal_address is not None:
            # The intake never stores an address given for a protected person (see
            # letters.address_screen); one stored for a person protected since then is erased
            # here, and never printed.
            letter.postal_address = None
        if envelope.impossible_reason is not None:
            _record_impossible(session, letter, waiting.part, envelope, now=now, actor=actor)
            continue
        _add_to_batch(session, repository, letter, waiting.part, envelope, settings, now, actor)


def _record_impossible(
    session: Session,
    letter: Letter,
    part: str,
    envelope: Envelope,
    *,
    now: dt.datetime,
    actor: str,
) -> None:
    reason = envelope.impossible_reason or ""
    session.add(
        PrintItem(
            letter_id=letter.id,
            part=part,
            protected=False,
            impossible_reason=reason,
            created_at=now,
        )
    )
    events.record(
        session,
        letter,
        vocabulary.IMPOSSIBLE,
        actor=actor,
        now=now,
        reason=reason,
        detail=vocabulary.REASON_TEXTS[reason],
        data={"part": part},
        channel="none",
        current=part == WHOLE_LETTER,
    )


def _add_to_batch(  # noqa: PLR0917 (the batching step's facts, in order)
    session: Session,
    repository: PrintRepository,
    letter: Letter,
    part: str,
    envelope: Envelope,
    settings: Settings,
    now: dt.datetime,
    actor: str,
) -> None:
    route = route_for(letter.department, settings)
    department = letter.department or ""
    # One batch per organisation too: two municipalities' "Socialtjänsten" never share a list.
    batch = repository.open_batch(letter.sender_number, route.name, department)
    if batch is None:
        closes_at = next_close(now, settings, local=route.local)
        batch = repository.create_batch(
            sender_number=letter.sender_number,
            route=route.name,
            local=route.local,
            department=department,
            now=now,
            closes_at=closes_at,
        )
        enqueue(session, PRINT_CLOSE, now=now, run_at=closes_at, payload={"batch_id": batch.id})
    batch.letter_count += 1
    session.add(
        PrintItem(
            letter_id=letter.id,
            batch_id=batch.id,
            part=part,
            position=batch.letter_count,
            address=None if envelope.protected else list(envelope.lines),
            protected=envelope.protected,
            created_at=now,
        )
    )
    where = "utskrift på enheten (undantagslista)" if route.local else route.name
    detail = f"Brevet ligger i en utskriftsbatch för {where}."
    if envelope.protected:
        detail += " Skyddad identitet: kuvertet går till Skatteverkets förmedling."
    events.record(
        session,
        letter,
        vocabulary.BATCHED,
        actor=actor,
        now=now,
        detail=detail,
        data={
            "batch_id": batch.id,
            "route": route.name,
            "position": batch.letter_count,
            "protected": envelope.protected,
            "part": part,
        },
        current=part == WHOLE_LETTER,
    )
    if not route.local and batch.letter_count >= settings.print_batch_max_letters:
        close_batch(session, batch, reason=CLOSE_BY_SIZE, now=now)


def close_batch(session: Session, batch: PrintBatch, *, reason: str, now: dt.datetime) -> None:
    """Close an open batch; a vendor batch is then handed over by a job (caller commits)."""
    PrintRepository(session).close(batch, reason=reason, now=now)
    if not batch.local:
        enqueue(session, PRINT_HANDOVER, now=now, payload={"batch_id": batch.id})


def close_on_command(session: Session, batch_id: str, *, now: dt.datetime) -> PrintBatch:
    """Close a batch now (an operator's command); closing a closed batch changes nothing.

    Raises:
        PrintBatchError: no such batch, or it is empty.
    """
    batch = PrintRepository(session).batch(batch_id, for_update=True)
    if batch is None:
        raise PrintBatchError(f"det finns ingen utskriftsbatch {batch_id}")
    if batch.state != OPEN:
        return batch
    if batch.letter_count == 0:
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
        batch = PrintRepository(session).batch(batch_id, for_update=True)
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
