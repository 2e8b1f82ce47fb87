"""Retention (gallring): dispose of what is due, in bounded batches, and log what went.

Each letter's record carries the days its content and its metadata may go (copied from its
message type's rule when it ended). `dispose_due` walks through what is due, a batch of
`records_disposal_batch` letters per transaction, in four steps:

1. content by date: the body and the attachments' content of records whose `content_due`
   has come; the letter, its digests and its events stay;
2. content kept until archived: for rules without a content period, the content goes once the
   record is in an archive package (`archived_at`): the e-archive keeps it from then on;
3. metadata: the whole letter (its row, attachments, events, print item, jobs, record) of
   records whose `metadata_due` has come; a letter that has not reached its end is left;
4. the access log's rows older than `access_log_months`.

A letter under an active hold (`holds`), on itself or on its case number, is skipped by every
step. Paper letters go by the same rules as digital ones: a rule is about the record, not the
channel.

The disposal log is written in the same transactions as the disposal, so the two never
disagree, also not when the run is killed between batches. Each run keeps one log entry per
organisation, message type and what (and per decision and step, where a type's letters ended
under different decisions, or some content went by date and some once archived), and adds
each batch's count and date range to it in the batch's own transaction; a run that is killed
leaves entries that count exactly what its committed batches disposed of, and the next run
writes entries of its own for the rest.

Memory stays flat whatever the number of letters: a batch is selected with a limit and walked
by its key (due day, letter id), each batch has its own session, and content is removed
without reading it (one UPDATE per table and batch). Two runs at once (a worker's
lease ran out during a long run) take different batches: PostgreSQL skips rows another
transaction holds, and on SQLite each batch takes the write lock before it reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    delete,
    exists,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.models import Job
from utskick.jobs.queue import utc
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterAttachment, LetterEvent
from utskick.records.disposal_log import (
    ACCESS_LOG,
    ACCESS_LOG_TYPE,
    CONTENT,
    METADATA,
    DisposalCount,
    DisposalSummary,
    Disposed,
    RunLog,
    in_order,
    tally,
)
from utskick.records.holds import under_active_hold
from utskick.records.models import LetterRecord
from utskick.records.rules import add_months
from utskick.settings import Settings
from utskick.web.access_log import AccessLogEntry

__all__ = [
    "ACCESS_LOG",
    "CONTENT",
    "METADATA",
    "DisposalCount",
    "DisposalSummary",
    "dispose_due",
    "due_for_disposal",
]

# What each step's log entry says was done (Swedish: the log is read by archivists).
CONTENT_DETAIL = (
    "Brevens innehåll (brödtext och bilagor) togs bort; uppgifterna om breven och deras "
    "händelser finns kvar."
)
ARCHIVED_DETAIL = (
    "Brevens innehåll togs bort ur Utskick sedan breven levererats till e-arkivet "
    "(regeln bevarar innehållet tills det arkiveras); uppgifterna om breven finns kvar."
)
METADATA_DETAIL = (
    "Breven togs bort helt: uppgifterna om dem, händelserna, bilagorna och utskriftsuppgifterna."
)


def access_log_detail(months: int) -> str:
    """The log's sentence for the access log's disposal."""
    return (
        f"Åtkomstloggens rader äldre än {months} månader togs bort "
        "(inställningen UTSKICK_ACCESS_LOG_MONTHS)."
    )


class _Candidate(NamedTuple):
    """One thing due: its key in the walk, what identifies it, and what the log needs."""

    cursor: tuple[Any, ...]
    ref: Any  # a letter's id, or an access log row's id
    item: Disposed


@dataclass(frozen=True)
class _Step:
    """One step of the disposal: what it selects, how it disposes of a batch, how it is logged."""

    what: str
    detail: str
    candidates: Callable[[Session, tuple[Any, ...] | None, int], list[_Candidate]]
    dispose: Callable[[Session, list[_Candidate], dt.datetime], list[_Candidate]]


def dispose_due(
    sessions: sessionmaker[Session],
    settings: Settings,
    *,
    today: dt.date,
    clock: Callable[[], dt.datetime],
    actor: str,
) -> DisposalSummary:
    """Dispose of every record due on `today` (and of the old access log), batch by batch.

    Each batch is its own transaction, holding at most `settings.records_disposal_batch`
    letters (or access log rows) and the log entries it adds to. Returns what was disposed
    of, by organisation, message type and what, and how many due letters a hold kept.
    """
    log = RunLog(actor=actor)
    for step in _steps(settings, today):
        _run_step(sessions, step, log, batch=settings.records_disposal_batch, clock=clock)
    with sessions() as session:
        held = count_held(session, today)
    return DisposalSummary(counts=log.counts(), held=held)


def _run_step(
    sessions: sessionmaker[Session],
    step: _Step,
    log: RunLog,
    *,
    batch: int,
    clock: Callable[[], dt.datetime],
) -> None:
    """Dispose of one step's due things, `batch` per transaction, until none is left."""
    after: tuple[Any, ...] | None = None
    while True:
        now = clock()
        with sessions() as session, session.begin():
            _take_write_lock(session)
            found = step.candidates(session, after, batch)
            if found:
                disposed = step.dispose(session, found, now)
                log.add(session, step.what, step.detail, [c.item for c in disposed], now=now)
        log.committed()
        if len(found) < batch:
            return
        after = found[-1].cursor


def _take_write_lock(session: Session) -> None:
    """On SQLite, take the database's write lock before reading (a no-op update).

    Two runs at once then take turns batch by batch, and each reads what the other
    committed. PostgreSQL locks the selected rows instead (`_locked`).
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(LetterRecord)
            .where(false())
            .values(letter_id=LetterRecord.letter_id)
            .execution_options(synchronize_session=False)
        )


def _locked(
    session: Session, query: Select[*tuple[Any, ...]], *of: Any
) -> Select[*tuple[Any, ...]]:
    """The query taking the rows it selects, leaving those another run holds (PostgreSQL)."""
    if session.get_bind().dialect.name == "postgresql":
        return query.with_for_update(of=list(of), skip_locked=True)
    return query


def _steps(settings: Settings, today: dt.date) -> list[_Step]:
    return [
        _Step(
            CONTENT,
            CONTENT_DETAIL,
            lambda s, after, limit: _content_by_date(s, today, after, limit),
            _remove_content,
        ),
        _Step(
            CONTENT,
            ARCHIVED_DETAIL,
            _content_archived,
            _remove_content,
        ),
        _Step(
            METADATA,
            METADATA_DETAIL,
            lambda s, after, limit: _metadata_due(s, today, after, limit),
            _remove_letters,
        ),
        _Step(
            ACCESS_LOG,
            access_log_detail(settings.access_log_months),
            lambda s, after, limit: _old_access_log(
                s, access_log_cutoff(settings, today), after, limit
            ),
            _remove_access_log,
        ),
    ]


# --- which records are due -----------------------------------------------------------------


def _free(*conditions: ColumnElement[bool]) -> list[ColumnElement[bool]]:
    """Conditions on a record joined to its letter: these, the letter ended, and no hold."""
    return [
        *conditions,
        Letter.state.in_(vocabulary.TERMINAL_STATES),
        ~under_active_hold(
            letter_id=LetterRecord.letter_id,
            sender_number=LetterRecord.sender_number,
            case_number=Letter.case_number,
        ),
    ]


def content_by_date_due(today: dt.date) -> ColumnElement[bool]:
    """Records whose content's day has come and whose content has not gone yet."""
    return and_(LetterRecord.content_due <= today, LetterRecord.content_disposed_at.is_(None))


def content_archived_due() -> ColumnElement[bool]:
    """Records kept until archived that are archived, with their content still here."""
    return and_(
        LetterRecord.content_due.is_(None),
        LetterRecord.archived_at.is_not(None),
        LetterRecord.content_disposed_at.is_(None),
    )


def metadata_due(today: dt.date) -> ColumnElement[bool]:
    """Records whose metadata's day has come."""
    return LetterRecord.metadata_due <= today


def _record_rows(*conditions: ColumnElement[bool]) -> Select[*tuple[Any, ...]]:
    return (
        select(
            LetterRecord.letter_id,
            LetterRecord.sender_number,
            LetterRecord.message_type,
            LetterRecord.decision,
            LetterRecord.sent_at,
            LetterRecord.content_due,
            LetterRecord.metadata_due,
        )
        .join(Letter, Letter.id == LetterRecord.letter_id)
        .where(*_free(*conditions))
    )


def _after(column: Any, after: tuple[Any, ...] | None) -> list[ColumnElement[bool]]:
    """Keyset paging on (column, letter id): only what comes after the last batch's last row."""
    if after is None:
        return []
    last, last_id = after
    return [column >= last, or_(column > last, LetterRecord.letter_id > last_id)]


def _as_candidates(
    rows: Sequence[Any], cursor: Callable[[Any], tuple[Any, ...]]
) -> list[_Candidate]:
    return [
        _Candidate(
            cursor(row),
            row.letter_id,
            Disposed(row.sender_number, row.message_type, row.decision, utc(row.sent_at)),
        )
        for row in rows
    ]


def _content_by_date(
    session: Session, today: dt.date, after: tuple[Any, ...] | None, limit: int
) -> list[_Candidate]:
    query = (
        _record_rows(content_by_date_due(today), *_after(LetterRecord.content_due, after))
        .order_by(LetterRecord.content_due, LetterRecord.letter_id)
        .limit(limit)
    )
    rows = session.execute(_locked(session, query, LetterRecord)).all()
    return _as_candidates(rows, lambda row: (row.content_due, row.letter_id))


def _content_archived(
    session: Session, after: tuple[Any, ...] | None, limit: int
) -> list[_Candidate]:
    conditions = [content_archived_due()]
    if after is not None:
        conditions.append(LetterRecord.letter_id > after[0])
    query = _record_rows(*conditions).order_by(LetterRecord.letter_id).limit(limit)
    rows = session.execute(_locked(session, query, LetterRecord)).all()
    return _as_candidates(rows, lambda row: (row.letter_id,))


def _metadata_due(
    session: Session, today: dt.date, after: tuple[Any, ...] | None, limit: int
) -> list[_Candidate]:
    query = (
        _record_rows(metadata_due(today), *_after(LetterRecord.metadata_due, after))
        .order_by(LetterRecord.metadata_due, LetterRecord.letter_id)
        .limit(limit)
    )
    rows = session.execute(_locked(session, query, LetterRecord)).all()
    return _as_candidates(rows, lambda row: (row.metadata_due, row.letter_id))


def has_content() -> ColumnElement[bool]:
    """Letters with a body or an attachment's content still stored."""
    return or_(
        Letter.body.is_not(None),
        exists(
            select(LetterAttachment.id).where(
                LetterAttachment.letter_id == Letter.id, LetterAttachment.content.is_not(None)
            )
        ),
    )


# --- disposing of a batch ------------------------------------------------------------------


def _remove_content(
    session: Session, batch: list[_Candidate], now: dt.datetime
) -> list[_Candidate]:
    """Remove the batch's content; returns the letters that still had some (those are logged).

    What goes is what `letters.content.remove_all_content` removes from one letter, the body
    and every attachment's content, here in two statements for the whole batch: neither is
    read first, and the unit of work's row-by-row updates would cost more than the disposal.
    A letter whose content went at delivery (its sending system keeps the record) is only
    marked, so that it is not looked at again: nothing of it was disposed of here.
    """
    ids = [candidate.ref for candidate in batch]
    with_content = set(session.scalars(select(Letter.id).where(Letter.id.in_(ids), has_content())))
    if with_content:
        held_ids = sorted(with_content)
        for statement in (
            update(Letter).where(Letter.id.in_(held_ids)).values(body=None),
            update(LetterAttachment)
            .where(LetterAttachment.letter_id.in_(held_ids), LetterAttachment.content.is_not(None))
            .values(content=None),
        ):
            session.execute(statement.execution_options(synchronize_session=False))
    session.execute(
        update(LetterRecord)
        .where(LetterRecord.letter_id.in_(ids), LetterRecord.content_disposed_at.is_(None))
        .values(content_disposed_at=now)
        .execution_options(synchronize_session=False)
    )
    return [candidate for candidate in batch if candidate.ref in with_content]


def _remove_letters(
    session: Session, batch: list[_Candidate], _now: dt.datetime
) -> list[_Candidate]:
    """Delete the batch's letters and everything that hangs on them.

    Attachments, events, jobs and records are deleted here; the print item (the print
    service's table, which records may not import) goes by its foreign key's ON DELETE
    CASCADE, which SQLite applies too (`db.engine` turns foreign keys on).
    """
    ids = [candidate.ref for candidate in batch]
    for statement in (
        delete(LetterAttachment).where(LetterAttachment.letter_id.in_(ids)),
        delete(LetterEvent).where(LetterEvent.letter_id.in_(ids)),
        delete(Job).where(Job.letter_id.in_(ids)),
        delete(LetterRecord).where(LetterRecord.letter_id.in_(ids)),
        delete(Letter).where(Letter.id.in_(ids)),
    ):
        session.execute(statement.execution_options(synchronize_session=False))
    return batch


# --- the access log ------------------------------------------------------------------------


def access_log_cutoff(settings: Settings, today: dt.date) -> dt.datetime:
    """The moment before which access log rows go: local midnight, `access_log_months` ago."""
    day = add_months(today, -settings.access_log_months)
    midnight = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(settings.print_timezone))
    return midnight.astimezone(dt.UTC)


def _old_access_log(
    session: Session, cutoff: dt.datetime, after: tuple[Any, ...] | None, limit: int
) -> list[_Candidate]:
    query = select(AccessLogEntry.id, AccessLogEntry.organisation_number, AccessLogEntry.at).where(
        AccessLogEntry.at < cutoff
    )
    if after is not None:
        query = query.where(AccessLogEntry.id > after[0])
    query = query.order_by(AccessLogEntry.id).limit(limit)
    rows = session.execute(_locked(session, query, AccessLogEntry)).all()
    return [
        _Candidate(
            (row.id,), row.id, Disposed(row.organisation_number, ACCESS_LOG_TYPE, None, utc(row.at))
        )
        for row in rows
    ]


def _remove_access_log(
    session: Session, batch: list[_Candidate], _now: dt.datetime
) -> list[_Candidate]:
    ids = [candidate.ref for candidate in batch]
    session.execute(
        delete(AccessLogEntry)
        .where(AccessLogEntry.id.in_(ids))
        .execution_options(synchronize_session=False)
    )
    return batch


# --- what would go (dry run) and what a hold keeps -----------------------------------------


def due_for_disposal(session: Session, settings: Settings, *, today: dt.date) -> DisposalSummary:
    """What `dispose_due` would dispose of on `today`, counted in the database; changes nothing."""
    counts: list[DisposalCount] = []
    record_steps = (
        (CONTENT, CONTENT_DETAIL, [content_by_date_due(today), has_content()]),
        (CONTENT, ARCHIVED_DETAIL, [content_archived_due(), has_content()]),
        (METADATA, METADATA_DETAIL, [metadata_due(today)]),
    )
    for what, detail, conditions in record_steps:
        query = (
            select(
                LetterRecord.sender_number,
                LetterRecord.message_type,
                LetterRecord.decision,
                LetterRecord.sent_at,
            )
            .join(Letter, Letter.id == LetterRecord.letter_id)
            .where(*_free(*conditions))
        )
        counts.extend(tally(session, query, what=what, detail=detail))
    access_log = select(
        AccessLogEntry.organisation_number.label("sender_number"),
        AccessLogEntry.at.label("sent_at"),
    ).where(AccessLogEntry.at < access_log_cutoff(settings, today))
    counts.extend(
        tally(
            session,
            access_log,
            what=ACCESS_LOG,
            detail=access_log_detail(settings.access_log_months),
            message_type=ACCESS_LOG_TYPE,
        )
    )
    return DisposalSummary(counts=in_order(counts), held=count_held(session, today))


def count_held(session: Session, today: dt.date) -> int:
    """How many letters are due for some disposal but kept by an active hold."""
    due = or_(content_by_date_due(today), content_archived_due(), metadata_due(today))
    held = under_active_hold(
        letter_id=LetterRecord.letter_id,
        sender_number=LetterRecord.sender_number,
        case_number=Letter.case_number,
    )
    query = (
        select(LetterRecord.letter_id)
        .join(Letter, Letter.id == LetterRecord.letter_id)
        .where(due, held)
    )
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
