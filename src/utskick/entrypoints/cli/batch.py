"""`utskick batch submit`: every letter of an NDJSON file or a table, by the API's rules.

`batch_file` reads the file into the intake's batch services, as the API's `POST /batches`
does (NDJSON line by line; a CSV or XLSX table row by row); this module waits for the
letters' outcomes when asked to and counts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from utskick.entrypoints.cli.common import (
    STATE_TEXTS,
    HomeOption,
    Installation,
    fail,
    open_installation,
    wait_for_batch,
)
from utskick.letters.repository import LetterRepository
from utskick.letters.vocabulary import text_for

batch_app = typer.Typer(
    help="Massutskick från en fil: NDJSON, CSV eller Excel (.xlsx).", no_args_is_help=True
)

_FILE_HELP = (
    "NDJSON-fil med ett brev (JSON-objekt) per rad, eller en tabell (CSV eller .xlsx) med en "
    "rubrikrad och ett brev per rad: Personnummer, Ämne, Text, Meddelandetyp eller "
    "Skyddsklass, och vid behov Diarienummer, Referens, Avsändare, Avdelning, Skickas "
    "tidigast, Namn, Adress, Postnummer och Ort. Vilket det är avgörs av filens innehåll."
)


@batch_app.command(
    "submit",
    help="Lämna över alla brev i en NDJSON-, CSV- eller Excel-fil; visa antalet godtagna och "
    "varje avvisad rad. En tabell som lämnas igen ger tillbaka samma brev, inga nya.",
)
def batch_submit(
    file: Annotated[Path, typer.Argument(help=_FILE_HELP, show_default=False)],
    *,
    home: HomeOption = None,
    sender: Annotated[
        str | None,
        typer.Option(help="Avsändare (organisationsnummer) för brev som inte anger någon."),
    ] = None,
    department: Annotated[
        str | None, typer.Option(help="Förvaltning eller funktion för brev som inte anger någon.")
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="Ämnesrad för brev som inte har någon.")
    ] = None,
    message_type: Annotated[
        str | None, typer.Option(help="Meddelandetyp för brev som inte anger någon.")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Kör utskicket och vänta tills alla brev har ett slutligt utfall.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Längsta väntan med --wait, sekunder.")] = 3600.0,
) -> None:
    """Hand over every letter of an NDJSON file or a table; report accepted and rejected."""
    # A line is read with the API's letter schema, which brings FastAPI along.
    from utskick.entrypoints.cli.batch_file import (  # noqa: PLC0415 (+0.13 s on every run)
        print_outcome,
        submit,
    )
    from utskick.intake.table_batch import (  # noqa: PLC0415 (as above)
        TableDefaults,
        TableRefusedError,
    )

    if not file.is_file():
        raise fail(f"filen {file} finns inte (ange en NDJSON-, CSV- eller Excel-fil med breven)")
    defaults = TableDefaults(sender, department, subject, message_type)
    installation = open_installation(home)
    try:
        submitted = submit(installation, file, defaults)
    except TableRefusedError as error:
        raise fail(error.message) from None
    finally:
        installation.adapters.close()
    print_outcome(submitted)
    if wait and submitted.batch_id is not None and submitted.accepted:
        wait_for_batch(installation, submitted.batch_id, timeout)
        _print_batch_outcomes(installation, submitted.batch_id)


def _print_batch_outcomes(installation: Installation, batch_id: str) -> None:
    with installation.session() as session:
        progress = LetterRepository(session).batch_progress(batch_id)
    console = Console()
    by_state = Table(title="Utfall", title_justify="left")
    by_state.add_column("Utfall")
    by_state.add_column("Brev", justify="right")
    for state, count in sorted(progress.by_state.items(), key=lambda item: -item[1]):
        by_state.add_row(STATE_TEXTS.get(state, state), str(count))
    console.print(by_state)
    by_reason = Table(title="Skäl", title_justify="left")
    by_reason.add_column("Skäl")
    by_reason.add_column("Kod")
    by_reason.add_column("Brev", justify="right")
    for reason, count in sorted(progress.by_reason.items(), key=lambda item: -item[1]):
        by_reason.add_row(text_for(reason), reason, str(count))
    console.print(by_reason)
