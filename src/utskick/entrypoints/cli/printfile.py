"""`utskick printfile submit`: a print file (PDF) of one letter or many, by a source's rules.

The file is taken by `utskick.intake.printfile.take_print_file`, as the API's
`POST /printfiles` and the watched folders take it: split into letters by the source's
recipient rule, each letter accepted or rejected with the reason. With `--wait` the jobs are
run in this process until every accepted letter has an outcome.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from utskick.entrypoints.cli.common import (
    CLI_ACTOR,
    STATE_TEXTS,
    HomeOption,
    Installation,
    fail,
    open_installation,
    wait_for_batch,
)
from utskick.intake.sources import Source, SourcesError, load_sources, source_named
from utskick.letters.repository import LetterRepository
from utskick.letters.vocabulary import text_for

if TYPE_CHECKING:  # imported where it is used: pypdf and the intake (+0.03 s on every run)
    from utskick.intake.printfile import PrintFileReceipt

printfile_app = typer.Typer(
    help="Utskriftsfiler: PDF-filer med ett eller flera brev från ett verksamhetssystem.",
    no_args_is_help=True,
)


@printfile_app.command(
    "submit",
    help="Lämna in en utskriftsfil (PDF). Den delas i brev efter källans regel (styrfil, "
    "textankare, formulärfält, metadata eller filnamn); visa vad varje brev blev.",
)
def printfile_submit(
    *,
    file: Annotated[Path, typer.Argument(help="Utskriftsfilen (PDF).")],
    source: Annotated[
        str, typer.Option("--source", help="Källans namn i källfilen (sources.toml).")
    ],
    control: Annotated[
        Path | None,
        typer.Option(
            "--control",
            help="Styrfil (CSV eller JSON); standard: filen med samma namn och .csv eller "
            ".json bredvid PDF-filen, för en källa med regeln control-file.",
        ),
    ] = None,
    home: HomeOption = None,
    wait: Annotated[
        bool, typer.Option(help="Kör breven och vänta tills alla har ett slutligt utfall.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Längsta väntan med --wait, sekunder.")] = 3600.0,
) -> None:
    """Hand over a print file by a source's rules; report each letter's outcome."""
    if not file.is_file():
        raise fail(f"filen {file} finns inte (ange utskriftsfilen, en PDF-fil)")
    if control is not None and not control.is_file():
        raise fail(f"styrfilen {control} finns inte")
    installation = open_installation(home)
    try:
        chosen = _source(installation, source)
        receipt = _take(installation, chosen, file, control)
    finally:
        installation.adapters.close()
    _print_receipt(file, chosen, receipt)
    if wait and receipt.batch_id is not None:
        wait_for_batch(installation, receipt.batch_id, timeout)
        _print_outcomes(installation, receipt.batch_id)
    if not receipt.accepted:
        raise typer.Exit(1)


def _source(installation: Installation, name: str) -> Source:
    try:
        sources = load_sources(installation.settings)
    except SourcesError as error:
        raise fail(error.message) from None
    chosen = source_named(sources, name)
    if chosen is None:
        known = ", ".join(source.name for source in sources) or "inga"
        raise fail(f"källan {name!r} finns inte i källfilen (källor: {known})")
    return chosen


def _take(
    installation: Installation, source: Source, file: Path, control: Path | None
) -> PrintFileReceipt:
    from utskick.intake.printfile import (  # noqa: PLC0415 (+0.03 s on every run)
        PrintFileRefusedError,
        control_file_beside,
        print_file_key,
        system_for_source,
        take_print_file,
    )

    try:
        if control is None and source.recipient.rule == "control-file":
            control = control_file_beside(file)
        with installation.session() as session:
            # The session closes here: the system is used detached, with its columns loaded.
            system = system_for_source(session, source)
        return take_print_file(
            sessions=installation.session,
            settings=installation.settings,
            system=system,
            source=source,
            pdf=file,
            control=control,
            file_key=print_file_key(source, file, control),
            actor=CLI_ACTOR,
        )
    except PrintFileRefusedError as error:
        raise fail(f"utskriftsfilen togs inte emot: {error.message}", 1) from None


def _print_receipt(file: Path, source: Source, receipt: PrintFileReceipt) -> None:
    console = Console()
    known = f" (varav {receipt.replayed} redan mottagna förut)" if receipt.replayed else ""
    batch = f" Utskick {receipt.batch_id}." if receipt.batch_id else ""
    console.print(
        f"Utskriftsfilen {file.name} från källan {source.name}: [bold]{receipt.accepted}[/] "
        f"brev mottagna{known}, [bold]{receipt.rejected}[/] avvisade.{batch}",
        highlight=False,
    )
    table = Table(title="Brev", title_justify="left")
    for column in ("Nr", "Sidor", "Mottagare", "Utfall"):
        table.add_column(column)
    for letter in receipt.letters:
        if letter.letter_id is None:
            outcome = f"avvisat: {letter.problem}"
        else:
            outcome = f"{'mottaget' if letter.created else 'mottaget förut'} ({letter.letter_id})"
        table.add_row(
            str(letter.index),
            _pages(letter.first_page, letter.last_page),
            letter.recipient or "–",
            outcome,
        )
    console.print(table)


def _pages(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}–{last}"


def _print_outcomes(installation: Installation, batch_id: str) -> None:
    with installation.session() as session:
        progress = LetterRepository(session).batch_progress(batch_id)
    table = Table(title="Utfall", title_justify="left")
    for column in ("Utfall", "Skäl", "Brev"):
        table.add_column(column)
    for state, count in sorted(progress.by_state.items(), key=lambda item: -item[1]):
        table.add_row(STATE_TEXTS.get(state, state), "", str(count))
    for reason, count in sorted(progress.by_reason.items(), key=lambda item: -item[1]):
        table.add_row("", text_for(reason), str(count))
    Console().print(table)
