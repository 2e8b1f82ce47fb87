"""Address paper letters and put them in print batches, a chunk of letters at a time.

`print` jobs run in bulk: the worker claims up to `MAX_BATCH` and hands them over together.
The population register is asked once for all of them, outside any transaction; then the
letters are recorded in chunks of `RECORD_CHUNK`, each one transaction of a few statements:

1. lock the chunk's letters, and read them with their print items (one statement each);
2. read the open batch of each sender organisation, route and department the chunk needs,
   with how many letters it holds, under a key-share lock (one statement): any number of
   chunks hold it at once, but the batch cannot close while a chunk that read it as open
   is still being written;
3. insert the items, the events and the jobs these queue, update the letters and complete
   the chunk's print jobs: one statement each (executemany), so a letter's outcome and its
   job's end are committed together.

No row is written by every chunk of a department: the batch's row stays untouched while it
is open (its letters are numbered when it closes), so two workers address one department's
letters at the same time. Opening and closing a batch are short transactions of their own,
between chunks: a chunk never waits for another chunk to commit.

- A group of letters without an open batch waits for the next chunk; the batch is opened
  in between (`ON CONFLICT DO NOTHING` on its open key: two workers opening it share one).
- A vendor batch closes by size after the chunk that filled it commits, in a transaction
  that waits for the chunks still writing to it. A chunk fills a batch only up to its size
  by the count it read; its letters that do not fit wait for the next chunk, which comes
  after the close and goes into a new batch. So a batch goes over its size only when
  another worker's chunk read the count before the filling chunk committed, and only by
  that chunk: with two workers by at most `RECORD_CHUNK` letters (in general by one chunk
  per other worker writing to the batch at that moment).

A worker killed mid-chunk leaves that chunk uncommitted: its letters still wait and its
jobs are still leased; when the leases run out the jobs run again. Every chunk committed
before recorded its letters and completed their jobs in one.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import (
    PRINT_CLOSE,
    ClaimedJob,
    Retry,
    backoff_seconds,
    complete_in,
    enqueue,
    reschedule_in,
)
from utskick.letters import vocabulary
from utskick.letters.events import EventBatch, systems_with_webhooks
from utskick.letters.repository import lock_letters
from utskick.printing.addresses import (
    AddressSource,
    AddressSourceUnavailableError,
    Envelope,
    RegisterEntry,
    resolve,
)
from utskick.printing.closing import close_if_full
from utskick.printing.models import PAPER_PART, WHOLE_LETTER
from utskick.printing.repository import LetterToAddress, OpenBatch, PrintRepository, open_key
from utskick.printing.routes import Route, next_close, route_for
from utskick.settings import Settings

MAX_BATCH = 1000
RECORD_CHUNK = 100
# Chunks in a row that record, open and close nothing before the rest waits for a retry
# (its batch closed by other workers each time before a chunk got in: not seen in practice).
MAX_IDLE_CHUNKS = 3


@dataclass(frozen=True)
class _Waiting:
    letter_id: str
    recipient_id: str
    part: str
    sequence: int  # its print job's id: the order it went to paper


@dataclass
class _Group:
    """The letters of one chunk that go into one open batch."""

    route: Route
    sender_number: str
    department: str
    letters: list[tuple[_Waiting, LetterToAddress, Envelope]] = field(default_factory=list)


@dataclass(frozen=True)
class _Chunk:
    recorded: int
    deferred: list[_Waiting]
    full: set[str]  # vendor batches that reached their size
    unopened: dict[str, _Group]  # groups without an open batch, by open key


@dataclass(frozen=True)
class _Context:
    entries: dict[str, RegisterEntry]
    settings: Settings
    clock: Callable[[], dt.datetime]
    actor: str
    webhook_systems: Collection[str]


class _Settlement:
    """The jobs' outcomes; with an owner, jobs are completed in the transaction that ends them.

    Without an owner (the caller settles) every outcome is returned. With one, each job is
    completed in the chunk that recorded its letter (or found it no longer waiting), the jobs
    with nothing to do in the first transaction, and retries are rescheduled; only what is
    left unsettled is returned.
    """

    def __init__(
        self, jobs: Sequence[ClaimedJob], waiting: Collection[str], owner: str | None
    ) -> None:
        self.owner = owner
        self.outcomes: dict[int, Retry | None] = {job.id: None for job in jobs}
        self._attempts = {job.id: job.attempts for job in jobs}
        self._idle = [job.id for job in jobs if job.letter_id not in waiting]
        self._by_letter: dict[str, list[int]] = {}
        for job in jobs:
            if job.letter_id is not None and job.letter_id in waiting:
                self._by_letter.setdefault(job.letter_id, []).append(job.id)

    def complete_in(self, session: Session, letter_ids: Sequence[str]) -> None:
        """End the jobs of these letters (and those with nothing to do) in this transaction."""
        job_ids = self._idle + [
            job_id for letter_id in letter_ids for job_id in self._by_letter.pop(letter_id, [])
        ]
        self._idle = []
        if self.owner is not None and job_ids:
            complete_in(session, self.owner, job_ids)
            for job_id in job_ids:
                del self.outcomes[job_id]

    def retry_rest(
        self, sessions: sessionmaker[Session], error: str, at: Callable[[int], dt.datetime]
    ) -> None:
        """Run the jobs of the letters not yet recorded again at `at(attempts)`."""
        retries = {
            job_id: Retry(at(self._attempts[job_id]), error)
            for job_ids in self._by_letter.values()
            for job_id in job_ids
        }
        self._by_letter = {}
        if self.owner is None:
            self.outcomes.update(retries)
            return
        with sessions() as session, session.begin():
            self.complete_in(session, [])
            reschedule_in(session, self.owner, retries)
        for job_id in retries:
            del self.outcomes[job_id]

    def finish(self, sessions: sessionmaker[Session]) -> dict[int, Retry | None]:
        """Complete the jobs with nothing to do if no transaction did; what is not settled."""
        if self.owner is not None and self._idle:
            with sessions() as session, session.begin():
                self.complete_in(session, [])
        return self.outcomes


def address_jobs(
    jobs: Sequence[ClaimedJob],
    *,
    sessions: sessionmaker[Session],
    source: AddressSource,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    actor: str,
    owner: str | None = None,
) -> dict[int, Retry | None]:
    """Address the letters of these `print` jobs and batch them (see the module text).

    Args:
        jobs: claimed `print` jobs (payload `{"part": "paper_part"}` for the paper
            attachments of a letter delivered digitally).
        sessions: sessions of the connector's database.
        source: the population register.
        settings: print routes, batch size, close times, retry delays.
        clock: the time of the events.
        actor: who records the events (`worker:<id>`).
        owner: the worker holding the jobs' leases. Given, each job is completed (or
            rescheduled) in the transaction that records its letter's outcome; without
            it the caller settles the jobs from the returned outcomes.

    Returns:
        The outcome of every job not settled here (None: done; `Retry`: run it again); with
        an `owner`, normally empty.
    """
    jobs = sorted(jobs, key=lambda job: job.id)  # a claim returns them in no set order
    with sessions() as session:
        waiting = _waiting_letters(PrintRepository(session), jobs)
        webhook_systems = systems_with_webhooks(session) if waiting else frozenset()
    settlement = _Settlement(jobs, {letter.letter_id for letter in waiting}, owner)
    if not waiting:
        return settlement.finish(sessions)
    try:
        entries = source.lookup([letter.recipient_id for letter in waiting])
    except AddressSourceUnavailableError as error:
        settlement.retry_rest(sessions, str(error), _retry_at(settings, clock()))
        return settlement.finish(sessions)
    context = _Context(entries, settings, clock, actor, webhook_systems)
    if _record(sessions, waiting, context, settlement):
        reason = "utskriftsbatchen stängdes och öppnades om medan breven skrevs in; försöker igen"
        settlement.retry_rest(sessions, reason, _retry_at(settings, clock()))
    return settlement.finish(sessions)


def _retry_at(settings: Settings, now: dt.datetime) -> Callable[[int], dt.datetime]:
    def at(attempts: int) -> dt.datetime:
        delay = backoff_seconds(attempts, settings.retry_base_seconds, settings.retry_max_seconds)
        return now + dt.timedelta(seconds=delay)

    return at


def _waiting_letters(repository: PrintRepository, jobs: Sequence[ClaimedJob]) -> list[_Waiting]:
    """The jobs' letters that still wait for addressing, in the order they went to paper."""
    parts: dict[str, tuple[str, int]] = {}
    for job in jobs:
        if job.letter_id and job.letter_id not in parts:
            part = PAPER_PART if (job.payload or {}).get("part") == PAPER_PART else WHOLE_LETTER
            parts[job.letter_id] = (part, job.id)
    rows = repository.letters_to_address(list(parts))
    return [
        _Waiting(letter_id, rows[letter_id].recipient_id, part, sequence)
        for letter_id, (part, sequence) in parts.items()
        if letter_id in rows and _waits(rows[letter_id], part)
    ]


def _waits(row: LetterToAddress, part: str) -> bool:
    if row.item is not None:
        return False
    return bool(row.state == (vocabulary.DELIVERED if part == PAPER_PART else vocabulary.PAPER))


def _record(
    sessions: sessionmaker[Session],
    waiting: list[_Waiting],
    context: _Context,
    settlement: _Settlement,
) -> list[_Waiting]:
    """Record the letters chunk by chunk, opening and closing batches between; what is left."""
    queue = deque(waiting)
    idle_chunks = 0
    while queue and idle_chunks < MAX_IDLE_CHUNKS:
        chunk = [queue.popleft() for _ in range(min(RECORD_CHUNK, len(queue)))]
        with sessions() as session, session.begin():
            outcome = _record_chunk(session, chunk, context, settlement)
        closed = [
            close_if_full(sessions, batch_id, settings=context.settings, clock=context.clock)
            for batch_id in sorted(outcome.full)
        ]
        opened = _open_batches(sessions, outcome.unopened, context) if outcome.unopened else 0
        # Letters that did not fit go first in the next chunk, into the batch that follows.
        queue.extendleft(reversed(outcome.deferred))
        progress = outcome.recorded or any(closed) or opened
        idle_chunks = 0 if progress else idle_chunks + 1
    return list(queue)


def _record_chunk(
    session: Session, chunk: list[_Waiting], context: _Context, settlement: _Settlement
) -> _Chunk:
    """One chunk in the caller's transaction (see the module text)."""
    repository = PrintRepository(session)
    lock_letters(session, [letter.letter_id for letter in chunk])
    rows = repository.letters_to_address([letter.letter_id for letter in chunk])
    now = context.clock()
    events = EventBatch(actor=context.actor, now=now, webhook_systems=context.webhook_systems)
    items: list[dict[str, object]] = []
    decided: list[str] = []  # letters whose jobs end with this chunk
    groups: dict[str, _Group] = {}
    for waiting in chunk:
        row = rows.get(waiting.letter_id)
        if row is None or not _waits(row, waiting.part):
            decided.append(waiting.letter_id)  # cancelled, or another worker came first
            continue
        envelope = resolve(context.entries.get(row.recipient_id), row.postal_address)
        if envelope.impossible_reason is not None:
            _impossible(items, events, waiting, row, envelope.impossible_reason)
            decided.append(waiting.letter_id)
            continue
        route = route_for(row.department, context.settings)
        department = row.department or ""
        key = open_key(row.sender_number, route.name, department)
        group = groups.setdefault(key, _Group(route, row.sender_number, department))
        group.letters.append((waiting, row, envelope))
    batches = repository.open_batches(sorted(groups))
    deferred: list[_Waiting] = []
    full: set[str] = set()
    for key, group in groups.items():
        batch = batches.get(key)  # None: opened after this chunk, for the next
        fitting = 0 if batch is None else _room(group, batch, context.settings)
        for letter in group.letters[:fitting]:
            assert batch is not None
            _batched(items, events, letter, group.route, batch.id)
            decided.append(letter[0].letter_id)
        deferred.extend(waiting for waiting, _row, _envelope in group.letters[fitting:])
        if batch is not None and _full(group, batch, fitting, context.settings):
            full.add(batch.id)
    repository.add_items(items)
    events.write(session)
    settlement.complete_in(session, decided)
    order = {letter.letter_id: index for index, letter in enumerate(chunk)}
    deferred.sort(key=lambda letter: order[letter.letter_id])
    unopened = {key: group for key, group in groups.items() if key not in batches}
    return _Chunk(len(items), deferred, full, unopened)


def _full(group: _Group, batch: OpenBatch, added: int, settings: Settings) -> bool:
    """Whether a vendor batch holds its size with this chunk's letters."""
    return not group.route.local and batch.letters + added >= settings.print_batch_max_letters


def _room(group: _Group, batch: OpenBatch, settings: Settings) -> int:
    """How many of the group's letters go into its batch now (up to its size, as read)."""
    if group.route.local:  # an exception list closes by schedule or command only
        return len(group.letters)
    return max(0, min(len(group.letters), settings.print_batch_max_letters - batch.letters))


def _open_batches(
    sessions: sessionmaker[Session], groups: dict[str, _Group], context: _Context
) -> int:
    """Open a batch for each group, in a transaction of its own; how many are open now.

    Not in a chunk's transaction: a worker opening the same batch at the same moment waits
    only for this short transaction, never for a whole chunk. Opened in key order, so that
    two workers opening several never wait for each other in a circle; one another worker
    opened first is used as it is.
    """
    with sessions() as session, session.begin():
        repository = PrintRepository(session)
        now = context.clock()
        for key in sorted(groups):
            group = groups[key]
            closes_at = next_close(now, context.settings, local=group.route.local)
            created = repository.create_open_batch(
                sender_number=group.sender_number,
                route=group.route.name,
                local=group.route.local,
                department=group.department,
                now=now,
                closes_at=closes_at,
            )
            if created is not None:
                enqueue(
                    session, PRINT_CLOSE, now=now, run_at=closes_at, payload={"batch_id": created}
                )
        return len(repository.open_batches(sorted(groups)))


def _impossible(
    items: list[dict[str, object]],
    events: EventBatch,
    waiting: _Waiting,
    row: LetterToAddress,
    reason: str,
) -> None:
    items.append(_item(waiting, events.now, impossible_reason=reason))
    events.add(
        waiting.letter_id,
        row.sending_system_id,
        vocabulary.IMPOSSIBLE,
        reason=reason,
        detail=vocabulary.REASON_TEXTS[reason],
        data={"part": waiting.part},
        channel="none",
        current=waiting.part == WHOLE_LETTER,
    )


def _batched(
    items: list[dict[str, object]],
    events: EventBatch,
    letter: tuple[_Waiting, LetterToAddress, Envelope],
    route: Route,
    batch_id: str,
) -> None:
    waiting, row, envelope = letter
    if envelope.protected and row.postal_address is not None:
        # The intake never stores an address given for a protected person (see
        # letters.address_screen); one stored for a person protected since then is erased
        # here, and never printed.
        events.change(waiting.letter_id, postal_address=None)
    items.append(
        _item(
            waiting,
            events.now,
            batch_id=batch_id,
            address=None if envelope.protected else list(envelope.lines),
            protected=envelope.protected,
        )
    )
    where = "utskrift på enheten (undantagslista)" if route.local else route.name
    detail = f"Brevet ligger i en utskriftsbatch för {where}."
    if envelope.protected:
        detail += " Skyddad identitet: kuvertet går till Skatteverkets förmedling."
    events.add(
        waiting.letter_id,
        row.sending_system_id,
        vocabulary.BATCHED,
        detail=detail,
        data={
            "batch_id": batch_id,
            "route": route.name,
            "protected": envelope.protected,
            "part": waiting.part,
        },
        current=waiting.part == WHOLE_LETTER,
    )


def _item(
    waiting: _Waiting,
    now: dt.datetime,
    *,
    batch_id: str | None = None,
    address: list[str] | None = None,
    protected: bool = False,
    impossible_reason: str | None = None,
) -> dict[str, object]:
    """A print item's row; every row has the same keys, so that one executemany takes all."""
    return {
        "letter_id": waiting.letter_id,
        "batch_id": batch_id,
        "part": waiting.part,
        "sequence": waiting.sequence,
        "address": address,
        "protected": protected,
        "impossible_reason": impossible_reason,
        "created_at": now,
    }
