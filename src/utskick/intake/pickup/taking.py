"""Taking a file: kill-safe, never twice, never lost.

1. The file is renamed into `pågående/` (a print file's control file first, then the PDF).
2. Its SHA-256 is computed and, in one transaction, its `intake_file` row is made (state
   `taking`) or found by (source, SHA-256). A content taken before (`done`) is a duplicate:
   it goes to `fel/` with a text saying when it was taken, and nothing is sent again. A
   content refused before is taken again. What the rename moved in that is no regular file
   (the file was swapped for a link or a FIFO after the listing) goes to `fel/` unread.
3. Its letters are stored by its kind's taker under keys made from the SHA-256, and its
   receipt is written beside it in `pågående/`.
4. In its own transaction the row becomes `done` (batch, counts, the receipt's summary and
   the name it gets in `behandlade/`); then the receipt, the control file and last the file
   itself are moved to `behandlade/`. A file refused as a whole gets its row `refused` and
   goes to `fel/` with `<name>.fel.txt`.

Every poll first resumes what lies in `pågående/` (Utskick was killed mid-file): a file
whose row is `taking`, or has none, is taken again from the start (its letters' keys find
the letters stored before); a `done` or `refused` one only has its moves finished (a `done`
content whose receipt is gone and whose name in `behandlade/` is taken is a copy dropped
again, and a duplicate). Because
the file itself always moves last, a print file lying in `pågående/` without its control
file has had the control file moved already; a control file lying there without its PDF was
moved in just before Utskick stopped, and goes back to the inbox.

The content's SHA-256 is the file's own (a print file's control file does not count: the
same PDF again is the same letters, whatever its control file says), except under the
`filename` rule, where the file's name says the recipient and is counted after the bytes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import posixpath
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from utskick.intake.models import IntakeFile
from utskick.intake.pickup import repository
from utskick.intake.pickup.context import DUPLICATE, REFUSED, TAKEN, WAITING, FileOutcome, Poll
from utskick.intake.pickup.folders import DONE, IN_PROGRESS, NotAFileError
from utskick.intake.pickup.moves import done_name, finish_done, refuse_from
from utskick.intake.pickup.names import name_problem, safe_name
from utskick.intake.pickup.plan import (
    CONTROL,
    CONTROL_SUFFIXES,
    PDF,
    Take,
    kind_of,
    stem_key,
    suffix_of,
)
from utskick.intake.pickup.receipts import RECEIPT_SUFFIX
from utskick.intake.pickup.repository import Content
from utskick.intake.pickup.takers import FileRefusedError, Files, take

logger = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024


def take_new(poll: Poll, action: Take) -> FileOutcome:
    """Move a complete file (and its control file) from the inbox into `pågående/`, take it."""
    poll.system  # noqa: B018 (a source without its system stops here, before anything moves)
    names = [action.control, action.name] if action.control else [action.name]
    for name in names:
        if poll.folder.exists(_in_progress(name)):
            return FileOutcome(
                action.name,
                WAITING,
                action.kind,
                message=f"en fil som heter {name} tas emot just nu; filen tas när den är klar",
            )
    for name in names:  # the control file first: the PDF's arrival says the pair is whole
        poll.folder.rename(name, _in_progress(name))
    return process(poll, action.name, action.kind, action.control, resuming=False)


def resume(poll: Poll) -> list[FileOutcome]:
    """Finish or take again whatever lies in `pågående/` from a poll that was cut short."""
    names = {entry.name for entry in poll.folder.list_files(IN_PROGRESS)}
    outcomes: list[FileOutcome] = []
    for name in sorted(names):
        if name.endswith(".tmp"):
            poll.folder.remove(_in_progress(name))  # a receipt half written
            continue
        if name.endswith(RECEIPT_SUFFIX):
            continue  # goes with its file
        problem = name_problem(name)
        if problem is not None:  # moved in before names were checked: it would never pass
            refuse_from(poll, IN_PROGRESS, name, control=None, reason=problem, sha256=None)
            outcomes.append(FileOutcome(safe_name(name), REFUSED, message=problem))
            continue
        kind = kind_of(poll.source, name)
        if kind == CONTROL and _pdf_of(name, names) is not None:
            continue  # goes with its PDF
        if kind in (CONTROL, None):
            _put_back(poll, name)
            continue
        assert kind is not None
        control = _control_of(poll, name, names) if kind == PDF else None
        poll.system  # noqa: B018 (stop before anything is taken if the system is missing)
        outcomes.append(process(poll, name, kind, control, resuming=True))
    return outcomes


def process(
    poll: Poll, name: str, kind: str, control: str | None, *, resuming: bool
) -> FileOutcome:
    """Take a file lying in `pågående/`, or finish it by its row (see the module text)."""
    with ExitStack() as stack:
        try:
            path = stack.enter_context(poll.folder.fetched(_in_progress(name), poll.work))
            control_path = None
            if control:
                control_path = stack.enter_context(
                    poll.folder.fetched(_in_progress(control), poll.work)
                )
        except NotAFileError as error:
            refuse_from(poll, IN_PROGRESS, name, control=control, reason=error.message, sha256=None)
            return FileOutcome(name, REFUSED, kind, message=error.message)
        content = Content(name, kind, _digest(poll, path), path.stat().st_size)
        with poll.sessions() as session:
            found = repository.begin_taking(
                session, poll.source.name, content, poll.clock(), retake_refused=not resuming
            )
            row = _Row.of(found)
            session.commit()
        if row.state == repository.DONE:
            if resuming and _unfinished(poll, name, row):
                finish_done(poll, name, control, row.done_name or name)
                return FileOutcome(name, TAKEN, kind, row.accepted, row.rejected, row.batch_id)
            return _duplicate(poll, name, control, row)
        if row.state == repository.REFUSED:
            # Only when resuming: a content refused before and dropped again is taken again
            # (`retake_refused`); one lying here was refused and only has to be moved.
            refuse_from(
                poll, IN_PROGRESS, name, control=control, reason=row.reason or "", sha256=row.sha256
            )
            return FileOutcome(name, REFUSED, kind, message=row.reason)

        def remember(batch_id: str) -> None:
            with poll.sessions() as session:
                repository.set_batch(session, row.id, batch_id)
                session.commit()

        files = Files(
            name, kind, path, control_path, control, content.sha256, row.batch_id, remember
        )
        return _take(poll, row, files)
    raise AssertionError  # pragma: no cover (the block returns)


def _take(poll: Poll, row: _Row, files: Files) -> FileOutcome:
    """Store the file's letters; record the row done (or refused) and move the file."""
    try:
        taken = take(poll, files)
    except FileRefusedError as refused:
        with poll.sessions() as session:
            repository.mark_refused(session, row.id, refused.message, poll.clock())
            session.commit()
        refuse_from(
            poll,
            IN_PROGRESS,
            files.name,
            control=files.control_name,
            reason=refused.message,
            sha256=row.sha256,
        )
        return FileOutcome(files.name, REFUSED, files.kind, message=refused.message)
    poll.folder.put(taken.receipt, _in_progress(files.name + RECEIPT_SUFFIX))
    taken.receipt.unlink()
    target = done_name(poll, files.name, files.control_name)
    with poll.sessions() as session:
        repository.mark_done(
            session,
            row.id,
            batch_id=taken.batch_id,
            accepted=taken.accepted,
            rejected=taken.rejected,
            receipt=taken.summary(**{repository.DONE_NAME: target}),
            now=poll.clock(),
        )
        session.commit()
    finish_done(poll, files.name, files.control_name, target)
    return FileOutcome(
        files.name, TAKEN, files.kind, taken.accepted, taken.rejected, taken.batch_id
    )


def _duplicate(poll: Poll, name: str, control: str | None, row: _Row) -> FileOutcome:
    """A content taken before: to `fel/` with whose duplicate it is; nothing sent again."""
    receipt = f" (kvittot ligger i {DONE}/{row.done_name}{RECEIPT_SUFFIX})" if row.done_name else ""
    message = (
        f"filen har samma innehåll som {row.name}, som togs emot "
        f"{poll.shown(row.finished_at or row.received_at)} med {row.accepted} brev{receipt}. "
        "Ingenting skickades igen; lägg bara in filer med nya brev."
    )
    refuse_from(poll, IN_PROGRESS, name, control=control, reason=message, sha256=row.sha256)
    return FileOutcome(name, DUPLICATE, row.kind, message=message)


def _unfinished(poll: Poll, name: str, row: _Row) -> bool:
    """Whether a done file in `pågående/` is that file, its moves cut short (not a new copy).

    Its receipt still lies beside it, or its name in `behandlade/` is still free: the file
    itself moves last.
    """
    if poll.folder.exists(_in_progress(name + RECEIPT_SUFFIX)):
        return True
    return not row.done_name or not poll.folder.exists(posixpath.join(DONE, row.done_name))


def _digest(poll: Poll, path: Path) -> str:
    """The content's SHA-256 (with the name under the `filename` rule, see the module)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(READ_CHUNK):
            digest.update(chunk)
    if poll.source.recipient.rule == "filename" and suffix_of(path.name) == ".pdf":
        digest.update(f"\nname:{path.name}".encode())
    return digest.hexdigest()


def _pdf_of(control: str, names: set[str]) -> str | None:
    stem = stem_key(control)
    return next((n for n in sorted(names) if suffix_of(n) == ".pdf" and stem_key(n) == stem), None)


def _control_of(poll: Poll, pdf: str, names: set[str]) -> str | None:
    if poll.source.recipient.rule != "control-file":
        return None
    stem = stem_key(pdf)
    controls = sorted(n for n in names if stem_key(n) == stem and suffix_of(n) in CONTROL_SUFFIXES)
    return controls[0] if controls else None


def _put_back(poll: Poll, name: str) -> None:
    """A file in `pågående/` that is not being taken: back to the inbox (or `fel/`)."""
    logger.warning("pickup %s: %s lay alone in %s/", poll.source.name, name, IN_PROGRESS)
    if not poll.folder.exists(name):
        poll.folder.rename(_in_progress(name), name)
        return
    refuse_from(
        poll,
        IN_PROGRESS,
        name,
        control=None,
        reason=(
            f"filen {name} låg ensam i {IN_PROGRESS}/ och en annan fil med samma namn ligger "
            "redan i mappen; lägg den i mappen igen om den ska tas emot."
        ),
        sha256=None,
    )


def _in_progress(name: str) -> str:
    return posixpath.join(IN_PROGRESS, name)


@dataclass(frozen=True)
class _Row:
    """An `intake_file` row as it was when the taking began (usable after its session)."""

    id: str
    state: str
    name: str
    kind: str
    sha256: str
    received_at: dt.datetime
    finished_at: dt.datetime | None
    batch_id: str | None
    accepted: int
    rejected: int
    reason: str | None
    done_name: str | None

    @classmethod
    def of(cls, row: IntakeFile) -> _Row:
        """The row's values."""
        done = (row.receipt or {}).get(repository.DONE_NAME)
        return cls(
            id=row.id,
            state=row.state,
            name=row.name,
            kind=row.kind,
            sha256=row.sha256,
            received_at=row.received_at,
            finished_at=row.finished_at,
            batch_id=row.batch_id,
            accepted=row.accepted,
            rejected=row.rejected,
            reason=row.reason,
            done_name=done if isinstance(done, str) else None,
        )
