"""`utskick sources`: the sources that hand in files, one poll now, and what is wrong with them.

`list` shows each source of the sources file, where it picks up, its recipient rule and how
many files it has handed in; `poll NAME` looks in a source's folder once, now, and says
what became of each file; `check` reads the sources file and says what is wrong, in Swedish.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from utskick.entrypoints.cli.common import HomeOption, Installation, fail, now, open_installation
from utskick.intake.pickup import repository
from utskick.intake.pickup.checks import source_problems
from utskick.intake.pickup.context import RESULT_TEXTS, FileOutcome, PollReport
from utskick.intake.pickup.folders import PickupFolderError
from utskick.intake.sources import Source, SourcesError, load_sources, source_named, sources_path

sources_app = typer.Typer(
    help="Källor som lämnar filer: bevakade mappar och SFTP-hämtning.", no_args_is_help=True
)

# A first poll sees every file for the first time; it looks again after at most this long.
MAX_SECOND_LOOK_SECONDS = 60.0


@sources_app.command("list", help="Lista källorna: var de hämtar filer, regel och antal filer.")
def sources_list(home: HomeOption = None) -> None:
    """Each source, where it picks up, its recipient rule, and its files taken and refused."""
    installation = open_installation(home)
    sources = _sources(installation)
    with installation.session() as session:
        counts = repository.counts_by_source(session)
    table = Table(title=f"Källor i {sources_path(installation.settings)}", title_justify="left")
    for column in ("Källa", "System", "Hämtar från", "Regel", "Mottagna", "Avvisade"):
        table.add_column(column, justify="right" if column in ("Mottagna", "Avvisade") else "left")
    for source in sources:
        count = counts.get(source.name, {})
        table.add_row(
            source.name,
            source.system,
            _where(source),
            source.recipient.rule,
            str(count.get(repository.DONE, 0)),
            str(count.get(repository.REFUSED, 0)),
        )
    if not sources:
        Console().print("Inga källor är konfigurerade.")
        return
    Console().print(table)


@sources_app.command("poll", help="Titta i en källas mapp en gång nu och ta emot det som är klart.")
def sources_poll(
    name: Annotated[str, typer.Argument(help="Källans namn i källfilen.")],
    home: HomeOption = None,
) -> None:
    """Poll one source now; print what became of each file."""
    installation = open_installation(home)
    source = source_named(_sources(installation), name)
    if source is None:
        raise fail(f"det finns ingen källa som heter {name!r}; se utskick sources list")
    if not source.picks_up:
        raise fail(f"källan {name} har varken folder eller sftp_url: den hämtar inga filer")
    try:
        report = _poll(installation, source)
        if report.waiting and not report.busy and source.stable_seconds > 0:
            # A file seen for the first time is taken at the next look, once it is unchanged.
            time.sleep(min(source.stable_seconds, MAX_SECOND_LOOK_SECONDS))
            report.merge(_poll(installation, source))
    except PickupFolderError as error:
        raise fail(error.message, 1) from None
    finally:
        installation.adapters.close()
    _print_report(report)


@sources_app.command("check", help="Läs källfilen och säg vad som är fel i den.")
def sources_check(home: HomeOption = None) -> None:
    """Read the sources file and check each source against the installation."""
    installation = open_installation(home)
    sources = _sources(installation)
    path = sources_path(installation.settings)
    console = Console()
    if not sources:
        console.print(f"Källfilen {escape(str(path))} finns inte eller har inga källor.")
        return
    problems: list[str] = []
    with installation.session() as session:
        for source in sources:
            problems.extend(f"källan {source.name}: {p}" for p in source_problems(session, source))
    if problems:
        for problem in problems:
            console.print(f"[bold red]Fel:[/] {escape(problem)}", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"Källfilen {escape(str(path))}: {len(sources)} "
        + ("källa" if len(sources) == 1 else "källor")
        + ", inga fel.",
        highlight=False,
    )


def _sources(installation: Installation) -> list[Source]:
    try:
        return load_sources(installation.settings)
    except SourcesError as error:
        raise fail(error.message) from None


def _poll(installation: Installation, source: Source) -> PollReport:
    # The takers bring pypdf, openpyxl and the API's letter schema along.
    from utskick.intake.pickup.poll import poll_source  # noqa: PLC0415 (+0.37 s on every run)

    return poll_source(
        source,
        sessions=installation.session,
        settings=installation.settings,
        clock=now,
        protection=installation.adapters.protection,
    )


def _where(source: Source) -> str:
    if source.folder is not None:
        return str(source.folder)
    return source.sftp_url or "–"


def _print_report(report: PollReport) -> None:
    console = Console()
    if report.busy:
        console.print(
            f"Källan {report.source} hämtas redan av en annan process; försök snart igen."
        )
        return
    if not report.files and not report.waiting:
        console.print(f"Inga nya filer hos källan {report.source}.")
    for outcome in report.files:
        console.print(_line(outcome), highlight=False)
    for outcome in report.waiting:
        console.print(_line(outcome), highlight=False)
    for name in report.outcomes:
        console.print(f"{escape(name)}: utfallet skrivet till behandlade/", highlight=False)


def _line(outcome: FileOutcome) -> str:
    text = f"{escape(outcome.name)}: {RESULT_TEXTS.get(outcome.result, outcome.result)}"
    if outcome.accepted or outcome.rejected:
        text += f", {outcome.accepted} brev mottagna, {outcome.rejected} avvisade"
    if outcome.message:
        text += f" ({escape(outcome.message)})"
    return text
