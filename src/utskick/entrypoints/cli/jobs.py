"""`utskick jobs`: the work the workers do, and what an operator does when a job fails.

A job that runs out of attempts (`job_max_attempts`) is kept as failed: it is never run again
by itself, it is logged at ERROR, and its letter, if it has one, gets an event saying so.
`jobs list --failed` shows them; `jobs retry` runs them again with every attempt back;
`jobs cancel` removes a job no worker is running. Retrying and cancelling are told to the
letter too, with who did it (`cli:<login name>`).
"""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from utskick.entrypoints.cli.common import (
    CLI_ACTOR,
    HomeOption,
    errors,
    fail,
    now,
    open_installation,
    shown_time,
)
from utskick.entrypoints.cli.json_output import JsonFlag, iso_utc, print_json
from utskick.jobs.admin import STATE_TEXTS, JobAdminError, JobView, count_jobs, list_jobs
from utskick.jobs.queue import KINDS
from utskick.letters import job_failures

jobs_app = typer.Typer(
    help="Jobben som arbetarna kör: lista dem, kör om de som misslyckats, avbryt ett jobb.",
    no_args_is_help=True,
)

DEFAULT_SHOWN = 200
ERROR_SHOWN = 80  # characters of a job's last error in the table (--json has all of it)


def operator_actor() -> str:
    """Who runs the command, for the letter's history: `cli:<login name>` (or `cli`)."""
    try:
        return f"{CLI_ACTOR}:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in this environment
        return CLI_ACTOR


@jobs_app.command("list", help="Lista jobben, misslyckade först, sedan i den ordning de ska köras.")
def jobs_list(
    *,
    failed: Annotated[
        bool, typer.Option("--failed", "--misslyckade", help="Bara jobb som misslyckats.")
    ] = False,
    kind: Annotated[
        str | None,
        typer.Option("--kind", "--typ", help="Bara jobb av denna typ: " + ", ".join(KINDS) + "."),
    ] = None,
    count: Annotated[
        int, typer.Option("--antal", min=1, help="Visa högst så många jobb.")
    ] = DEFAULT_SHOWN,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List the jobs: failed ones first, then by when they are due."""
    if kind is not None and kind not in KINDS:
        raise fail(f"okänd jobbtyp {kind!r}; välj en av {', '.join(KINDS)}")
    installation = open_installation(home)
    with installation.session() as session:
        jobs = list_jobs(session, now=now(), failed_only=failed, kind=kind, limit=count)
        total = count_jobs(session, failed_only=failed, kind=kind)
    if total > len(jobs):
        errors.print(f"Visar {len(jobs)} av {total} jobb; ange --antal för fler.", highlight=False)
    if as_json:
        print_json([_job_fields(job) for job in jobs])
        return
    if not jobs:
        print("Inga misslyckade jobb." if failed else "Inga jobb väntar.")
        return
    _print_table(jobs, installation.settings.print_timezone)


@jobs_app.command(
    "retry", help="Kör misslyckade jobb igen nu, med alla försök kvar (flera id går)."
)
def jobs_retry(
    job_ids: Annotated[list[int], typer.Argument(help="Jobbens id (se utskick jobs list).")],
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Run failed jobs again now; if one is refused, none is retried."""
    installation = open_installation(home)
    actor = operator_actor()
    with installation.session() as session:
        try:
            retried = [
                job_failures.retry_job(session, job_id, now=now(), actor=actor)
                for job_id in dict.fromkeys(job_ids)
            ]
        except JobAdminError as error:
            raise fail(str(error)) from None
        session.commit()
    if as_json:
        print_json([_job_fields(job) for job in retried])
        return
    for job in retried:
        print(f"Jobb {job.id} ({job.kind}) körs igen nu{_of_letter(job)}.")


@jobs_app.command("cancel", help="Ta bort ett jobb som ingen arbetare kör just nu.")
def jobs_cancel(
    job_id: Annotated[int, typer.Argument(help="Jobbets id (se utskick jobs list).")],
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Remove a job that no worker is running."""
    installation = open_installation(home)
    with installation.session() as session:
        try:
            cancelled = job_failures.cancel_job(session, job_id, now=now(), actor=operator_actor())
        except JobAdminError as error:
            raise fail(str(error)) from None
        session.commit()
    if as_json:
        print_json(_job_fields(cancelled))
        return
    print(f"Jobb {cancelled.id} ({cancelled.kind}) är borttaget{_of_letter(cancelled)}.")
    if cancelled.letter_id is not None:
        errors.print(
            f"Brevet kommer inte längre vidare genom det jobbet; se var det står med "
            f"utskick status {cancelled.letter_id}.",
            highlight=False,
        )


def _print_table(jobs: list[JobView], zone: str) -> None:
    table = Table(
        "Id",
        "Typ",
        "Läge",
        "Försök",
        Column("Körs", no_wrap=True),
        Column("Misslyckades", no_wrap=True),
        "Brev",
        "Senaste fel",
    )
    for job in jobs:
        error = job.last_error or "–"
        table.add_row(
            str(job.id),
            job.kind,
            STATE_TEXTS[job.state],
            str(job.attempts),
            shown_time(job.run_at, zone),
            shown_time(job.failed_at, zone),
            job.letter_id or "–",
            error if len(error) <= ERROR_SHOWN else error[: ERROR_SHOWN - 1] + "…",
        )
    Console(width=220).print(table)


def _of_letter(job: JobView) -> str:
    return f" (brev {job.letter_id})" if job.letter_id else ""


def _job_fields(job: JobView) -> dict[str, object]:
    return {
        "id": job.id,
        "kind": job.kind,
        "state": job.state,
        "letter_id": job.letter_id,
        "attempts": job.attempts,
        "run_at": iso_utc(job.run_at),
        "failed_at": iso_utc(job.failed_at),
        "last_error": job.last_error,
        "lease_owner": job.lease_owner,
        "lease_expires": iso_utc(job.lease_expires),
        "created_at": iso_utc(job.created_at),
        "payload": job.payload,
    }
