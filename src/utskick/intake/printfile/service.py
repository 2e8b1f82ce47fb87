"""Taking a print file: read and plan it, then split it and accept its letters chunk by chunk.

`take_print_file` is the one way a print file becomes letters, for the API, the command line
and the watched folders. It opens and checks the PDF and makes the plan (which pages are which
letter, whose, with what subject) before anything is stored: a file that is refused leaves
nothing behind. Then it records a batch and splits the file a chunk of letters at a time (at
most `CHUNK_LETTERS` letters or `CHUNK_BYTES` of parts), each chunk accepted by
`LetterService.accept_many` in one transaction, so that neither memory nor a transaction
grows with the file.

Each letter's idempotency key is `printfile:<file key>:<index>`, and the batch's id is
derived from the sending system and the file key: a file taken again (after a crash, or
handed in twice) gives back the letters stored the first time, under the same batch, and
creates only those that were not stored yet.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from pypdf.errors import PyPdfError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from utskick.intake.printfile.common import PlannedLetter, PrintFileRefusedError, pages_text
from utskick.intake.printfile.document import (
    PAGES_PER_RELEASE,
    PrintFile,
    open_print_file,
    part_pdf,
    release_read_objects,
)
from utskick.intake.printfile.numbers import without_leading_number
from utskick.intake.printfile.plan import plan_letters
from utskick.intake.printfile.receipt import PrintFileLetter, PrintFileReceipt
from utskick.intake.sources import Source
from utskick.letters.batch_store import STORED_REJECTIONS
from utskick.letters.bulk_accept import Accepted, AcceptOutcome
from utskick.letters.inputs import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
    AttachmentInput,
    IdempotencyConflictError,
    LetterInput,
)
from utskick.letters.models import Batch
from utskick.letters.service import LetterService, utc_now
from utskick.letters.text_checks import is_empty_name, refused_character
from utskick.senders.models import SendingSystem
from utskick.senders.repository import SendingSystemRepository
from utskick.settings import Settings

# A chunk of letters is committed at this many letters or this many bytes of parts, as a
# batch's lines are (`intake.batch`): a few statements per chunk, the write lock held briefly.
CHUNK_LETTERS = 500
CHUNK_BYTES = 16 * 1024 * 1024
# The batches of print files have ids derived from this namespace, the system and the file.
BATCH_NAMESPACE = uuid.UUID("5f0c8a4e-3b7d-4c62-9a51-0d2e7f9b6c18")
# A letter split out of a file of many is attached under this name; a file that is one
# letter keeps its own name.
SPLIT_LETTER_NAME = "brev.pdf"
_MAX_STEM = 100
# The field a rejected letter's reason is stored under in the batch when no check named one.
_RECIPIENT = "recipient"
# One letter waiting in a chunk: its plan, and the letter to accept (None: it has a problem).
_Waiting = tuple[PlannedLetter, LetterInput | None]


def take_print_file(
    *,
    sessions: Callable[[], Session],
    settings: Settings,
    system: SendingSystem,
    source: Source,
    pdf: Path,
    control: Path | None,
    file_key: str,
    actor: str,
) -> PrintFileReceipt:
    """Turn a print file (and its control file) into letters of `system`, by `source`'s rules.

    Args:
        sessions: new units of work; each chunk of letters is committed in one.
        settings: the installation's settings.
        system: the sending system the source belongs to (`system_for_source`).
        source: the source: its recipient rule and its letters' defaults.
        pdf: the print file; its name counts for the file-name rule.
        control: the control file, for the control-file rule.
        file_key: what makes this file this file (`print_file_key`): the same key again
            gives back the letters stored the first time.
        actor: who hands the file in, for the event log (`api:<system>`, `cli`, `folder:…`).

    Returns:
        Every letter of the file in order, accepted or rejected with the reason.

    Raises:
        PrintFileRefusedError: the file is not taken at all (not a PDF, damaged, encrypted,
            a control file that does not fit, no subject, no anchor); nothing was stored.
    """
    if len(idempotency_key(file_key, 10**6)) > MAX_IDEMPOTENCY_KEY_LENGTH:
        msg = f"file_key is too long for an idempotency key: {len(file_key)} characters"
        raise ValueError(msg)
    printed = open_print_file(pdf)
    planned = plan_letters(
        reader=printed.reader,
        source=source,
        file_name=printed.name,
        control=control,
        zone=settings.print_timezone,
        today=utc_now().date(),
    )
    letter_of = _LetterMaker(source, _sender(source, system), printed, file_key)
    _check_texts(source, planned)
    taking = _Taking(sessions, settings, system, actor, batch_id_for(system, file_key))
    taking.start()
    for chunk in _chunks(printed, planned, letter_of):
        taking.store(chunk)
    return taking.finish()


def idempotency_key(file_key: str, index: int) -> str:
    """The idempotency key of a print file's letter."""
    return f"printfile:{file_key}:{index}"


def batch_id_for(system: SendingSystem, file_key: str) -> str:
    """The id of the batch a print file's letters are recorded in (the same on every take)."""
    return str(uuid.uuid5(BATCH_NAMESPACE, f"{system.id}:{file_key}"))


def print_file_key(source: Source, pdf: Path, control: Path | None = None) -> str:
    """A print file's key: the source's name and the SHA-256 of the PDF's bytes.

    Whichever way the file comes in (a watched folder, the API, the command line), the same
    PDF from the same source gives the same key, so its letters are sent once. The control
    file does not count: the same PDF with a corrected control file is the same letters, and
    a letter whose recipient the new control file changes is refused (its key was used for
    other content) rather than sent twice. For the file-name rule the file's name says who the
    letter is for, so it counts as well. The watched folders key files the same way.
    """
    del control
    digest = hashlib.sha256()
    with pdf.open("rb") as stream:
        for block in iter(lambda: stream.read(1024 * 1024), b""):
            digest.update(block)
    if source.recipient.rule == "filename":
        digest.update(f"\nname:{pdf.name}".encode())
    return f"{source.name}:{digest.hexdigest()}"


def system_for_source(session: Session, source: Source) -> SendingSystem:
    """The sending system a source's letters come from.

    Raises:
        PrintFileRefusedError: no system has that name.
    """
    system = SendingSystemRepository(session).by_name(source.system)
    if system is None:
        raise PrintFileRefusedError(
            f"källan {source.name} hör till systemet {source.system!r}, som inte finns i "
            "Utskick; lägg till det med utskick systems add, eller rätta system för källan i "
            "källfilen"
        )
    return system


# --- what each letter is made of -----------------------------------------------------------


def _sender(source: Source, system: SendingSystem) -> str:
    """The letters' sender: the source's, or the system's only one."""
    if source.sender:
        return source.sender
    if len(system.sender_numbers) == 1:
        return system.sender_numbers[0]
    allowed = ", ".join(system.sender_numbers) or "ingen"
    raise PrintFileRefusedError(
        f"källan {source.name} anger ingen avsändare och systemet {system.name} får skicka för "
        f"flera eller ingen ({allowed}); ange sender för källan i källfilen"
    )


def _check_texts(source: Source, planned: list[PlannedLetter]) -> None:
    """Refuse a file whose letters would have no subject or no message type."""
    for attribute, default, what, column, key in (
        ("subject", source.subject, "ämnesrad", "ämne", "subject"),
        ("message_type", source.message_type, "meddelandetyp", "meddelandetyp", "message_type"),
    ):
        if default:
            continue
        lacking = [letter for letter in planned if not getattr(letter, attribute)]
        if lacking:
            first = lacking[0]
            raise PrintFileRefusedError(
                f"{len(lacking)} brev i utskriften har ingen {what} (det första: "
                f"{pages_text(first.first_page, first.last_page)}), och källan {source.name} "
                f"anger ingen; ange {key} för källan i källfilen, eller kolumnen {column} i "
                "styrfilen"
            )


def attachment_name(file_name: str, *, whole_file: bool, rule: str) -> str:
    """The name a letter's PDF is attached under.

    A file that is one letter keeps its name (without a leading identity number, for the
    file-name rule); a letter split out of a file of many is `brev.pdf`.
    """
    if not whole_file:
        return SPLIT_LETTER_NAME
    stem = Path(file_name).stem
    if rule == "filename":
        stem = without_leading_number(stem)
    stem = re.sub(r"\s+", " ", stem).strip(" _-.")[:_MAX_STEM]
    if not stem or is_empty_name(stem) or refused_character(stem) is not None:
        return SPLIT_LETTER_NAME
    return f"{stem}.pdf"


@dataclasses.dataclass(frozen=True)
class _LetterMaker:
    """Builds each planned letter's `LetterInput` from its part and the source's defaults."""

    source: Source
    sender: str
    printed: PrintFile
    file_key: str

    def __call__(self, planned: PlannedLetter, content: bytes, *, whole_file: bool) -> LetterInput:
        source = self.source
        assert planned.recipient is not None  # a letter without one has a problem
        name = attachment_name(self.printed.name, whole_file=whole_file, rule=source.recipient.rule)
        return LetterInput(
            sender=self.sender,
            recipient=planned.recipient,
            subject=planned.subject or source.subject or "",
            body=source.body,
            attachments=(AttachmentInput(filename=name, content=content, channel="both"),),
            message_type=planned.message_type or source.message_type,
            policy=source.policy,
            department=source.department,
            case_number=planned.case_number,
            reference=planned.reference,
            idempotency_key=idempotency_key(self.file_key, planned.index),
            not_before=planned.not_before,
            paper_layout=source.paper_layout,
        )


def _chunks(
    printed: PrintFile, planned: list[PlannedLetter], letter_of: _LetterMaker
) -> Iterator[list[_Waiting]]:
    """The letters a chunk at a time, each split out of the file only when its chunk is due."""
    waiting: list[_Waiting] = []
    size = split_pages = 0
    for letter in planned:
        item: LetterInput | None = None
        if letter.problem is None:
            whole_file = letter.first_page == 1 and letter.last_page == printed.pages
            try:
                content = (
                    printed.content
                    if whole_file
                    else part_pdf(printed.reader, letter.first_page, letter.last_page)
                )
            except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as error:
                letter = dataclasses.replace(  # noqa: PLW2901 (the letter, now with its problem)
                    letter,
                    problem=f"{pages_text(letter.first_page, letter.last_page)} kan inte skrivas "
                    f"som en egen PDF ({type(error).__name__}); skriv ut breven på nytt",
                )
            else:
                item = letter_of(letter, content, whole_file=whole_file)
                size += len(content)
                split_pages += letter.last_page - letter.first_page + 1
                if split_pages >= PAGES_PER_RELEASE:
                    release_read_objects(printed.reader)
                    split_pages = 0
        waiting.append((letter, item))
        if len(waiting) >= CHUNK_LETTERS or size >= CHUNK_BYTES:
            yield waiting
            waiting, size = [], 0
    if waiting:
        yield waiting


# --- storing ----------------------------------------------------------------------------


@dataclasses.dataclass
class _Taking:
    """The batch of one take of a print file: started, stored a chunk at a time, finished."""

    sessions: Callable[[], Session]
    settings: Settings
    system: SendingSystem
    actor: str
    batch_id: str
    # Whether this take created the batch (else the file was taken before).
    new: bool = False
    letters: list[PrintFileLetter] = dataclasses.field(default_factory=list)

    def start(self) -> None:
        """Record the batch, or take up the one of an earlier take of the same file."""
        with self.sessions() as session:
            batch = session.get(Batch, self.batch_id)
            if batch is None:
                session.add(
                    Batch(
                        id=self.batch_id,
                        sending_system_id=self.system.id,
                        created_at=utc_now(),
                        accepted=0,
                        rejected=0,
                        rejections=[],
                    )
                )
                self.new = True
            else:
                # Every letter is decided again: the rejections are counted afresh.
                batch.rejected = 0
                batch.rejections = []
                batch.completed_at = None
            try:
                session.commit()
            except IntegrityError:  # the same file is being taken at this moment too
                session.rollback()
                self.new = False

    def store(self, chunk: list[_Waiting]) -> None:
        """Accept one chunk's letters in one transaction (tried again once on a key race)."""
        for attempt in range(2):
            try:
                results = self._store(chunk)
            except IntegrityError:
                if attempt:
                    raise
            else:
                self.letters.extend(letter for letter, _field in results)
                return

    def finish(self) -> PrintFileReceipt:
        """Mark the batch done; a new batch of which nothing was accepted is not kept."""
        accepted = any(letter.letter_id is not None for letter in self.letters)
        batch_id: str | None = self.batch_id
        with self.sessions() as session:
            batch = session.get(Batch, self.batch_id)
            if batch is not None and self.new and not accepted:
                session.delete(batch)
                batch_id = None
            elif batch is not None:
                batch.completed_at = utc_now()
            session.commit()
        return PrintFileReceipt(batch_id, self.letters)

    def _store(self, chunk: list[_Waiting]) -> list[tuple[PrintFileLetter, str]]:
        letters = [item for _planned, item in chunk if item is not None]
        with self.sessions() as session:
            outcomes = iter(
                LetterService(session, self.settings).accept_many(
                    self.system, letters, actor=self.actor, batch_id=self.batch_id
                )
            )
            results = [
                _result(planned, None if item is None else next(outcomes))
                for planned, item in chunk
            ]
            batch = session.get(Batch, self.batch_id)
            if batch is not None:
                _count(batch, results)
            session.commit()
        return results


def _result(planned: PlannedLetter, outcome: AcceptOutcome | None) -> tuple[PrintFileLetter, str]:
    """The letter as the receipt gives it, and the field its rejection concerns."""
    letter = PrintFileLetter(
        index=planned.index,
        first_page=planned.first_page,
        last_page=planned.last_page,
        recipient=planned.recipient,
        letter_id=None,
        created=False,
        problem=planned.problem,
    )
    if outcome is None:
        return letter, _RECIPIENT
    if isinstance(outcome, Accepted):
        return dataclasses.replace(
            letter, letter_id=outcome.letter_id, created=outcome.created
        ), _RECIPIENT
    problem = outcome.message
    if isinstance(outcome, IdempotencyConflictError):
        problem = (
            f"brevet togs emot förut ur samma utskriftsfil (brevet {outcome.letter_id}), men "
            "med annat innehåll (källans inställningar eller styrfilen har ändrats), och "
            "skickas inte igen; lämna in en ny utskriftsfil om brevet ska skickas"
        )
    return dataclasses.replace(letter, problem=problem), outcome.field


def _count(batch: Batch, results: list[tuple[PrintFileLetter, str]]) -> None:
    """Add a chunk's letters to the batch's counts (only letters created now count)."""
    batch.accepted += sum(1 for letter, _field in results if letter.created)
    rejected = [(letter, field) for letter, field in results if letter.letter_id is None]
    batch.rejected += len(rejected)
    room = STORED_REJECTIONS - len(batch.rejections)
    if rejected and room > 0:
        # A new list, so that the JSON column sees the change.
        batch.rejections = [
            *batch.rejections,
            *(
                {"line": letter.index, "field": field, "message": letter.problem or ""}
                for letter, field in rejected[:room]
            ),
        ]
