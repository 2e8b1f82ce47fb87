"""`utskick batch submit`: every letter of an NDJSON file, by the API's rules.

`batch_file` reads the file into the intake's batch service, as the API's `POST /batches`
does; this module waits for the letters' outcomes when asked to and counts them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from utskick.entrypoints.cli.common import (
    STATE_TEXTS,
    WAIT_POLL_SECONDS,
    HomeOption,
    Installation,
    fail,
    open_installation,
)
from utskick.entrypoints.worker import drain
from utskick.letters.repository import LetterRepository
from utskick.letters.vocabulary import OUTCOME_KNOWN_STATES, text_for

batch_app = typer.Typer(help="Massutskick från en NDJSON-fil.", no_args_is_help=True)


@batch_app.command(
    "submit",
    help="Lämna över alla brev i en NDJSON-fil; visa antalet godtagna och varje avvisad rad.",
)
def batch_submit(
    file: Annotated[Path, typer.Argument(help="NDJSON-fil: ett brev (JSON-objekt) per rad.")],
    home: HomeOption = None,
    sender: Annotated[
        str | None, typer.Option(help="Avsändare för rader som inte anger någon.")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Kör utskicket och vänta tills alla brev har ett slutligt utfall.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Längsta väntan med --wait, sekunder.")] = 3600.0,
) -> None:
    """Hand over every letter of an NDJSON file; report the accepted and each rejected line."""
    # A line is read with the API's letter schema, which brings FastAPI along.
    from utskick.entrypoints.cli.batch_file import (  # noqa: PLC0415 (+0.13 s on every run)
        print_outcome,
        submit_file,
    )

    if not file.is_file():
        raise fail(f"filen {file} finns inte (ange en NDJSON-fil med ett brev per rad)")
    installation = open_installation(home)
    try:
        intake = submit_file(installation, file, sender)
    finally:
        installation.adapters.close()
    print_outcome(intake)
    if wait and intake.accepted:
        _wait_for_batch(installation, intake.batch_id, timeout)
        _print_batch_outcomes(installation, intake.batch_id)


def _wait_for_batch(installation: Installation, batch_id: str, timeout: float) -> None:
    """Run the jobs due in this process until every letter of the batch has an outcome."""
    deadline = time.monotonic() + timeout
    while True:
        drain(installation.settings, installation.engine)
        with installation.session() as session:
            progress = LetterRepository(session).batch_progress(batch_id)
        open_letters = sum(
            count for state, count in progress.by_state.items() if state not in OUTCOME_KNOWN_STATES
        )
        if not open_letters:
            return
        if time.monotonic() > deadline:
            raise fail(f"{open_letters} brev har inget slutligt utfall efter {timeout:.0f} s", 1)
        time.sleep(WAIT_POLL_SECONDS)


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
