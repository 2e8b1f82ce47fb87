"""A file of letters handed to the intake's batch services, for `utskick batch submit`.

An NDJSON file is read and stored by `utskick.intake.batch`, as the API's `POST /batches`
stores an NDJSON body; a table (CSV or XLSX, told from the file's first bytes) by
`utskick.intake.table_batch`, as the API stores a table. The command line words a line that is
no letter in its own terms, and lists every rejected line or row.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from utskick.entrypoints.cli.common import CLI_ACTOR, Installation, cli_system
from utskick.intake.batch import (
    WHOLE_LINE,
    BatchIntake,
    LineProblem,
    PendingLines,
    UnreadableLineError,
    read_letter,
)
from utskick.intake.table_batch import SNIFF_BYTES, TableDefaults, is_table, take_table
from utskick.letters.batch_store import LineRejection, ReadLine
from utskick.letters.inputs import LetterRejectedError
from utskick.senders.models import SendingSystem

# Names that say a file is NDJSON even when its first line is no JSON object.
NDJSON_SUFFIXES = (".ndjson", ".jsonl", ".json")
_HASH_CHUNK_BYTES = 1024 * 1024


@dataclass
class Submitted:
    """What became of a file's letters: the batch (None: nothing kept), counts, refusals."""

    batch_id: str | None
    accepted: int
    replayed: int
    rejected: int
    rejections: list[LineRejection] = field(default_factory=list)
    table: bool = False


def submit(installation: Installation, file: Path, defaults: TableDefaults) -> Submitted:
    """Store the file's letters as one batch: an NDJSON file or a table, told from its bytes.

    Raises:
        TableRefusedError: the file is a table that no letter can come from.
    """
    with installation.session() as session:
        system = cli_system(session)
        session.commit()
    with file.open("rb") as stream:
        head = stream.read(SNIFF_BYTES)
        while len(head.lstrip()) < SNIFF_BYTES and (more := stream.read(SNIFF_BYTES)):
            head += more
    if is_table(head, declared_ndjson=file.suffix.lower() in NDJSON_SUFFIXES):
        return _submit_table(installation, system, file, defaults)
    intake = submit_file(installation, system, file, defaults)
    return Submitted(
        intake.batch_id, intake.accepted, intake.replayed, intake.rejected, intake.rejections
    )


def _submit_table(
    installation: Installation, system: SendingSystem, file: Path, defaults: TableDefaults
) -> Submitted:
    """Store every row of the table; the file's SHA-256 names it, so a rerun stores nothing new."""
    Console(stderr=True).print("[bold]Läser tabellen och lämnar in breven …[/]")
    receipt = take_table(
        sessions=installation.session,
        settings=installation.settings,
        system=system,
        source=None,
        path=file,
        file_key=_sha256(file),
        actor=CLI_ACTOR,
        defaults=defaults,
        protection=installation.adapters.protection,
    )
    return Submitted(
        receipt.batch_id,
        receipt.accepted,
        receipt.replayed,
        receipt.rejected,
        [LineRejection(*rejection) for rejection in receipt.rejections],
        table=True,
    )


def _sha256(file: Path) -> str:
    digest = hashlib.sha256()
    with file.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def submit_file(
    installation: Installation, system: SendingSystem, file: Path, defaults: TableDefaults
) -> BatchIntake:
    """Store an NDJSON file's letters as one batch, showing the progress on standard error."""
    fields = {name: value for name, value in dataclasses.asdict(defaults).items() if value}
    intake = BatchIntake(
        installation.session,
        installation.settings,
        system,
        protection=installation.adapters.protection,
        actor=CLI_ACTOR,
        defaults=fields,
    )
    intake.start()
    pending: PendingLines[ReadLine] = PendingLines()
    progress = _progress_bar()
    with progress, file.open("rb") as stream:
        task = progress.add_task("", total=file.stat().st_size, accepted=0, rejected=0)
        # Read line by line: a file of 500,000 letters never sits in memory.
        for number, raw_line in enumerate(stream, start=1):
            progress.advance(task, len(raw_line))
            line = _read_line(raw_line, fields, installation.settings.print_timezone)
            if line is None:
                continue
            pending.add(number, line, len(raw_line))
            if pending.full:
                intake.store(pending.take())
                progress.update(task, accepted=intake.accepted, rejected=intake.rejected)
        if pending:
            intake.store(pending.take())
        intake.finish()
        progress.update(task, accepted=intake.accepted, rejected=intake.rejected)
    return intake


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]Lämnar in brev[/]"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[accepted]} mottagna, {task.fields[rejected]} avvisade"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def _read_line(raw_line: bytes, defaults: dict[str, str], zone: str) -> ReadLine | None:
    """The line's letter, or why it is refused; None for a blank line."""
    try:
        line = raw_line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return LetterRejectedError(WHOLE_LINE, "raden är inte UTF-8")
    if not line:
        return None
    try:
        return read_letter(line, defaults=defaults, zone=zone)
    except UnreadableLineError as error:
        return LetterRejectedError(WHOLE_LINE, _unreadable(error))
    except LetterRejectedError as error:
        return error


_UNREADABLE = {
    LineProblem.NOT_UTF8: "raden är inte UTF-8",
    LineProblem.TOO_DEEP: "ingen giltig JSON (för djupt nästlad)",
    LineProblem.NOT_AN_OBJECT: "raden ska vara ett JSON-objekt med ett brev",
}


def _unreadable(error: UnreadableLineError) -> str:
    """What is wrong with a line that is no letter, in the command line's words."""
    if error.problem is LineProblem.REPEATED_KEY:
        return error.detail  # it names the key
    if error.problem is LineProblem.NOT_A_LETTER:
        return f"raden: {error.detail}"
    if error.problem is LineProblem.NOT_JSON:
        where = "" if error.position is None else f" (fel vid tecken {error.position + 1})"
        return f"ingen giltig JSON{where}"
    return _UNREADABLE.get(error.problem, error.message)


def _said(rejection: LineRejection) -> str:
    """A rejection as the command line prints it: the field first, unless it is the line."""
    if rejection.field == WHOLE_LINE:
        return rejection.message
    return f"{rejection.field}: {rejection.message}"


def print_outcome(submitted: Submitted) -> None:
    """How many letters were accepted, and each rejected line or row with the reason."""
    console = Console()
    name = f"Massutskick {submitted.batch_id}" if submitted.batch_id else "Massutskicket"
    console.print(
        f"{name}: [bold]{submitted.accepted}[/] brev "
        + ("mottaget" if submitted.accepted == 1 else "mottagna")
        + (f" (varav {submitted.replayed} redan kända)" if submitted.replayed else "")
        + f", [bold]{submitted.rejected}[/] "
        + ("rad avvisad." if submitted.rejected == 1 else "rader avvisade."),
        highlight=False,
    )
    for rejection in submitted.rejections:
        console.print(f"  rad {rejection.line}: {_said(rejection)}", highlight=False, markup=False)
    if len(submitted.rejections) < submitted.rejected:
        console.print(
            f"  (de första {len(submitted.rejections)} avvisade raderna visas)", highlight=False
        )
