"""`utskick serve` and `utskick worker`: run the service, or a worker beside it.

`utskick serve` also runs the SMTP submission service for letters by e-mail whenever
`UTSKICK_MAIL_IN_PORT` is set (the embedded default sets 2587) and lists where it listens.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from utskick.db.home import prepare_home
from utskick.entrypoints.cli.common import beside_serve, errors, fail, migrated_engine
from utskick.entrypoints.worker import run_worker
from utskick.settings import load_settings

# Commands of the root: `utskick serve`, `utskick worker`.
serve_commands = typer.Typer()


@serve_commands.command(
    help="Starta Utskick med den inbäddade referensinfrastrukturen och visa alla adresser."
)
def serve(
    home: Annotated[
        Path | None, typer.Option(help="Mapp för databas och allt tillstånd (standard ./var).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Adress att lyssna på.")] = None,
    port: Annotated[int | None, typer.Option(help="Port att lyssna på.")] = None,
) -> None:
    """Start Utskick with the embedded reference infrastructure and print every URL."""
    # The web app and the reference parties (uvicorn, FastAPI): only this command pays for them.
    from utskick.entrypoints.embedded import (  # noqa: PLC0415 (+0.9 s on every run)
        ignored_settings,
        prepare_embedded_run,
    )

    settings = load_settings(home=home, host=host, port=port)
    for warning in ignored_settings(settings):
        errors.print(f"[bold yellow]Varning:[/] {warning}", highlight=False)
    prepare_home(settings)
    engine = migrated_engine(settings.resolved_database_url())
    try:
        run = prepare_embedded_run(settings, engine)
    except RuntimeError as error:
        raise fail(str(error)) from None
    url = f"http://{settings.host}:{settings.port}/"

    def print_urls() -> None:
        table = Table(title="Utskick körs", show_header=True, title_justify="left")
        table.add_column("Vad")
        table.add_column("Adress", no_wrap=True)
        for listing in run.listings(url):
            table.add_row(listing.what, listing.url)
        console = Console()
        console.print(table)
        console.print(
            f"Hälsa: {url}health  ·  data och demo-PKI i {settings.home.resolve()}  ·  "
            "testidentiteter: docs/test-identities.md  ·  stoppa med Ctrl-C",
            highlight=False,
        )
        children = run.reference.process_ids() if run.reference is not None else {}
        if children:
            console.print(
                "Referensen körs i egna processer ("
                + ", ".join(f"{name} {pid}" for name, pid in children.items())
                + "); UTSKICK_REFERENCE_SEPARATE_PROCESSES=false kör den i denna process.",
                highlight=False,
            )

    try:
        asyncio.run(run.serve(on_ready=print_urls))
    except RuntimeError as error:
        raise fail(str(error)) from None


@serve_commands.command(
    help="Kör en worker som utför jobben (klassning, leverans, övergång till papper, webhooks) "
    "tills den stoppas."
)
def worker(
    home: Annotated[
        Path | None, typer.Option(help="Installationens mapp (standard UTSKICK_HOME eller ./var).")
    ] = None,
) -> None:
    """Run a worker: claim jobs (classify, deliver, fall back, webhooks) until stopped."""
    run_worker(beside_serve(load_settings(home=home)), on_ready=_say_ready)


def _say_ready(threads: int) -> None:
    # On stderr, so that a supervisor or a test can tell when a stop will be a clean one.
    print(f"Worker igång med {threads} trådar; stoppa med Ctrl-C eller SIGTERM.", file=sys.stderr)
