"""`utskick print`: the print service's batches, exception lists and hand-over to the vendor."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy.orm import Session

from utskick.db.engine import session_factory
from utskick.entrypoints.cli.common import (
    CLI_ACTOR,
    HomeOption,
    Installation,
    fail,
    open_installation,
    shown_time,
)
from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.letters.service import utc_now
from utskick.mm.private_files import write_private_file
from utskick.printing.drops import HandoverError
from utskick.printing.handover import handover_batch
from utskick.printing.models import PrintBatch
from utskick.printing.repository import BatchFilter, PrintRepository
from utskick.printing.service import PrintBatchError, close_on_command, mark_printed
from utskick.printing.views import batch_letters, batch_pdf, batch_summary

print_app = typer.Typer(
    help="Printtjänsten: utskriftsbatcher, undantagslistor och överlämning till tryckeriet.",
    no_args_is_help=True,
)

BATCH_STATE_TEXTS = {
    "open": "öppen",
    "closed": "stängd",
    "handed_over": "lämnad till tryckeriet",
    "printed": "utskriven",
}


def _print_batch_or_fail(session: Session, batch_id: str) -> PrintBatch:
    batch = PrintRepository(session).batch(batch_id)
    if batch is None:
        raise fail(f"det finns ingen utskriftsbatch {batch_id}; se utskick print batches")
    return batch


@print_app.command("batches", help="Lista utskriftsbatcher, nyaste först.")
def print_batches(
    *,
    home: HomeOption = None,
    state: Annotated[
        str | None, typer.Option(help="open, closed, handed_over eller printed.")
    ] = None,
    local: Annotated[
        bool | None, typer.Option("--local/--vendor", help="Bara undantagslistor / tryckerier.")
    ] = None,
    department: Annotated[str | None, typer.Option(help="Bara denna förvaltning.")] = None,
    org: Annotated[
        str | None,
        typer.Option("--org", help="Bara denna avsändarorganisation (organisationsnummer)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Skriv JSON.")] = False,
) -> None:
    """List print batches, newest first."""
    if state is not None and state not in BATCH_STATE_TEXTS:
        raise fail(f"okänt läge {state!r}; välj {', '.join(BATCH_STATE_TEXTS)}")
    sender_number = _organisation_or_fail(org) if org is not None else None
    installation = open_installation(home)
    with installation.session() as session:
        batches = PrintRepository(session).batches(
            BatchFilter(
                sender_number=sender_number,
                state=state,
                local=local,
                department=department,
                limit=200,
            )
        )
        summaries = [batch_summary(batch) for batch in batches]
    if json_out:
        print(json.dumps(summaries, ensure_ascii=False, indent=2, default=_iso_8601))
        return
    _print_batch_table(summaries, installation.settings.print_timezone)


def _print_batch_table(summaries: list[dict[str, object]], zone: str) -> None:
    """The batches as a table, times in local time with the zone named."""
    # The id is what `print close` and `print download` take: never cut it, even at 80 columns.
    table = Table(
        Column("batch", no_wrap=True, min_width=36),
        "organisation",
        "väg",
        "förvaltning",
        "läge",
        "brev",
        "sidor",
        "ark",
        "stängs/stängd",
    )
    for summary in summaries:
        table.add_row(
            str(summary["id"]),
            _shown_organisation(summary["sender"]),
            str(summary["route"]),
            str(summary["department"] or "–"),
            BATCH_STATE_TEXTS.get(str(summary["state"]), str(summary["state"])),
            str(summary["letters"]),
            str(summary["pages"] or "–"),
            str(summary["sheets"] or "–"),
            shown_time(_moment(summary["closed_at"] or summary["closes_at"]), zone),
        )
    Console().print(table)


def _organisation_or_fail(typed: str) -> str:
    try:
        return parse_organisation(typed).organisation_number
    except InvalidIdentityError as error:
        raise fail(f"--org ska vara ett organisationsnummer, t.ex. 202100-4748: {error}") from None


def _shown_organisation(number: object) -> str:
    """An organisation number as people write it (202100-4748); "–" for none."""
    if not isinstance(number, str) or not number:
        return "–"
    try:
        return parse_organisation(number).display
    except InvalidIdentityError:
        return number


def _moment(value: object) -> dt.datetime | None:
    return value if isinstance(value, dt.datetime) else None


def _iso_8601(value: object) -> str:
    """A time in JSON as ISO 8601 in UTC (2026-12-06T15:00:00+00:00), anything else as text."""
    return value.isoformat() if isinstance(value, dt.datetime) else str(value)


@print_app.command(
    "close",
    help="Stäng en batch nu; en tryckeribatch lämnas då genast till tryckeriets inlämningsplats.",
)
def print_close(
    batch_id: Annotated[str, typer.Argument(help="Batchens id.")],
    home: HomeOption = None,
) -> None:
    """Close a batch now; a vendor batch is then handed over to the vendor's drop at once."""
    installation = open_installation(home)
    with installation.session() as session:
        try:
            batch = close_on_command(session, batch_id, now=utc_now())
        except PrintBatchError as error:
            raise fail(str(error)) from None
        session.commit()
        local = batch.local
    if local:
        print(f"Undantagslistan {batch_id} är stängd och klar att skriva ut.")
        return
    _hand_over(installation, batch_id)


@print_app.command(
    "handover",
    help="Lämna en stängd batch till tryckeriets inlämningsplats; en redan lämnad batch "
    "lämnas orörd.",
)
def print_handover(
    batch_id: Annotated[str, typer.Argument(help="Batchens id.")],
    home: HomeOption = None,
) -> None:
    """Hand a closed batch to its vendor's drop; a handed-over batch is left as it is."""
    _hand_over(open_installation(home), batch_id)


def _hand_over(installation: Installation, batch_id: str) -> None:
    """Hand a closed batch to its vendor's drop and say where it went."""
    try:
        outcome = handover_batch(
            batch_id,
            sessions=session_factory(installation.engine),
            settings=installation.settings,
            clock=utc_now,
            actor=CLI_ACTOR,
        )
    except HandoverError as error:
        raise fail(str(error)) from None
    if outcome.already_done:
        print(f"Batchen var redan lämnad till tryckeriet ({outcome.location}); inget ändrades.")
    else:
        print(f"Batchen är lämnad till tryckeriet: {outcome.location} ({outcome.letters} brev).")


@print_app.command(
    "download",
    help="Skriv en batch (en undantagslista eller en tryckeribatch) som en PDF att skriva ut.",
)
def print_download(
    batch_id: Annotated[str, typer.Argument(help="Batchens id.")],
    out: Annotated[Path, typer.Option(help="PDF-fil att skriva (alla brev i en fil).")],
    home: HomeOption = None,
) -> None:
    """Write a batch (an exception list, or a vendor batch) as one PDF to print."""
    installation = open_installation(home)
    with installation.session() as session:
        batch = _print_batch_or_fail(session, batch_id)
        pdf, letters = batch_pdf(session, batch, installation.settings)
    if letters == 0:
        raise fail("batchen har inga brev att skriva ut")
    try:
        # Names and addresses: the owner's eyes only.
        write_private_file(out, pdf, make_folders=False)
    except OSError as error:
        raise fail(f"kan inte skriva {out}: {error.strerror}") from None
    print(f"{out}: {letters} brev.")


@print_app.command(
    "mark-printed", help="Markera brev i en stängd batch (standard: alla) som utskrivna."
)
def print_mark_printed(
    batch_id: Annotated[str, typer.Argument(help="Batchens id.")],
    letters: Annotated[
        list[str] | None, typer.Argument(help="Brevens id; inga: alla brev i batchen.")
    ] = None,
    home: HomeOption = None,
) -> None:
    """Mark letters of a closed batch (all of them by default) as printed."""
    installation = open_installation(home)
    with installation.session() as session:
        try:
            marked = mark_printed(
                session, batch_id, letters or None, now=utc_now(), actor=CLI_ACTOR
            )
        except PrintBatchError as error:
            raise fail(str(error)) from None
        session.commit()
    print(f"{marked} brev markerade som utskrivna.")


@print_app.command(
    "list",
    help="Visa breven i en batch: mottagare (aldrig en skyddad persons adress), sidor, utskrivet.",
)
def print_list(
    batch_id: Annotated[str, typer.Argument(help="Batchens id.")],
    home: HomeOption = None,
) -> None:
    """The letters of a batch: to whom (never a protected person's address), pages, printed."""
    installation = open_installation(home)
    with installation.session() as session:
        batch = _print_batch_or_fail(session, batch_id)
        rows = batch_letters(session, batch)
    table = Table("nr", "brev", "mottagare", "ämne", "sidor", "utskrivet")
    for row in rows:
        table.add_row(
            str(row["position"]),
            str(row["letter_id"]),
            str(row["recipient"]),
            str(row["subject"]),
            str(row["pages"] or "–"),
            "ja" if row["printed_at"] else "nej",
        )
    Console().print(table)
