"""`utskick serve` and `utskick worker`: run the service, or a worker beside it.

`utskick serve` also runs the SMTP submission service for letters by e-mail whenever
`UTSKICK_MAIL_IN_PORT` is set (the embedded default sets 2587) and lists where it listens.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from utskick.db.engine import create_database_engine
from utskick.db.home import prepare_home
from utskick.entrypoints.cli.common import beside_serve, errors, fail, migrated_engine
from utskick.entrypoints.metrics import MetricsServerError, start_worker_metrics_server
from utskick.entrypoints.worker import WorkerPool
from utskick.observability.logs import configure_logging
from utskick.settings import Settings, load_settings

logger = logging.getLogger(__name__)

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
    configure_logging(level=settings.log_level, log_format=settings.log_format)
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
        # A log file or a pipe gets the whole table, not one cut to 80 columns.
        console = Console(width=None if sys.stdout.isatty() else 160)
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

    terminated = _stop_on_sigterm_as_on_ctrl_c()
    try:
        asyncio.run(run.serve(on_ready=print_urls))
    except KeyboardInterrupt:
        if not terminated.is_set():
            raise
        # Stopped by SIGTERM (systemd, a container runtime): everything stopped in order.
    except RuntimeError as error:
        raise fail(str(error)) from None


def _stop_on_sigterm_as_on_ctrl_c() -> threading.Event:
    """Make SIGTERM stop `serve` the way Ctrl-C does: requests in hand finish, then the rest.

    uvicorn shuts down gracefully on SIGTERM and then raises the signal again; with the default
    handler that would kill the process (a supervisor sees "killed by SIGTERM", not a clean
    exit). Handed on as SIGINT, asyncio cancels the serving task and everything is stopped in
    order, as after Ctrl-C; the returned event tells the two apart.
    """
    terminated = threading.Event()

    def as_ctrl_c(_signum: int, _frame: FrameType | None) -> None:
        terminated.set()
        signal.raise_signal(signal.SIGINT)

    signal.signal(signal.SIGTERM, as_ctrl_c)
    return terminated


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
    settings = beside_serve(load_settings(home=home))
    configure_logging(level=settings.log_level, log_format=settings.log_format)
    _refuse_an_unmigrated_database(settings)
    try:
        run_worker(settings, on_ready=_say_ready)
    except MetricsServerError as error:
        raise fail(str(error)) from None


def _refuse_an_unmigrated_database(settings: Settings) -> None:
    """A worker on a database older (or newer) than this code would fail on every claim."""
    from utskick.migrations import migrate  # noqa: PLC0415 (alembic: only this command)

    engine = create_database_engine(settings.resolved_database_url())
    try:
        current, expected = migrate.current_revision(engine), migrate.head_revision()
    except SQLAlchemyError as error:
        raise fail(f"databasen svarar inte: {type(error).__name__}") from None
    finally:
        engine.dispose()
    if current != expected:
        raise fail(
            f"databasen är på version {current or 'ingen'}, den här versionen av Utskick "
            f"väntar {expected}; kör utskick db upgrade först (systemd: utskick-migrate.service)"
        )


def _say_ready(threads: int) -> None:
    # On stderr, so that a supervisor or a test can tell when a stop will be a clean one.
    print(f"Worker igång med {threads} trådar; stoppa med Ctrl-C eller SIGTERM.", file=sys.stderr)


def run_worker(settings: Settings, on_ready: Callable[[int], None] | None = None) -> None:
    """A worker process: `worker_threads` threads (at least one) until SIGTERM or SIGINT.

    `on_ready` is called with the number of threads once SIGTERM and SIGINT stop it cleanly
    (before that, a signal ends the process the default way: nothing has been claimed yet).
    """
    prepare_home(settings)
    engine = create_database_engine(settings.resolved_database_url())
    stop_metrics = start_worker_metrics_server(settings, engine)
    pool = WorkerPool(settings, engine, max(1, settings.worker_threads))
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("worker: signal %s, finishing the current jobs", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    pool.start()
    if on_ready is not None:
        on_ready(pool.count)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        pool.stop()
        stop_metrics()
        engine.dispose()
