"""An NDJSON file of letters handed to the intake's batch service, for `utskick batch submit`.

The lines are read and stored by `utskick.intake.batch`, as the API's `POST /batches` stores
them; the command line words a line that is no letter in its own terms, and lists every
rejected line.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from utskick.entrypoints.cli.common import CLI_ACTOR, Installation, cli_system
from utskick.intake.batch import (
    WHOLE_LINE,
    BatchIntake,
    LineProblem,
    LineRejection,
    PendingLines,
    ReadLine,
    UnreadableLineError,
    read_letter,
)
from utskick.letters.inputs import LetterRejectedError


def submit_file(installation: Installation, file: Path, sender: str | None) -> BatchIntake:
    """Store the file's letters as one batch, showing the progress on standard error."""
    with installation.session() as session:
        system = cli_system(session)
        session.commit()
    intake = BatchIntake(
        installation.session,
        installation.settings,
        system,
        protection=installation.adapters.protection,
        actor=CLI_ACTOR,
    )
    intake.start()
    pending: PendingLines[ReadLine] = PendingLines()
    progress = _progress_bar()
    with progress, file.open("rb") as stream:
        task = progress.add_task("", total=file.stat().st_size, accepted=0, rejected=0)
        # Read line by line: a file of 500,000 letters never sits in memory.
        for number, raw_line in enumerate(stream, start=1):
            progress.advance(task, len(raw_line))
            line = _read_line(raw_line, sender)
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


def _read_line(raw_line: bytes, default_sender: str | None) -> ReadLine | None:
    """The line's letter, or why it is refused; None for a blank line."""
    try:
        line = raw_line.decode("utf-8").strip()
    except UnicodeDecodeError:
        return LetterRejectedError(WHOLE_LINE, "raden är inte UTF-8")
    if not line:
        return None
    try:
        return read_letter(line, default_sender=default_sender)
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


def print_outcome(intake: BatchIntake) -> None:
    """How many letters were accepted, and each rejected line with the reason."""
    console = Console()
    console.print(
        f"Massutskick {intake.batch_id}: [bold]{intake.accepted}[/] brev "
        + ("mottaget" if intake.accepted == 1 else "mottagna")
        + (f" (varav {intake.replayed} redan kända)" if intake.replayed else "")
        + f", [bold]{intake.rejected}[/] "
        + ("rad avvisad." if intake.rejected == 1 else "rader avvisade."),
        highlight=False,
    )
    for rejection in intake.rejections:
        console.print(f"  rad {rejection.line}: {_said(rejection)}", highlight=False)
