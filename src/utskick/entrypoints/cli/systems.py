"""`utskick systems`: the sending systems (business systems) and their API keys."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from utskick.entrypoints.cli.common import HomeOption, errors, fail, now, open_installation
from utskick.senders import systems

systems_app = typer.Typer(help="Avsändande system och deras API-nycklar.", no_args_is_help=True)


@systems_app.command(
    "add",
    help="Lägg till ett avsändande system som får skicka för vissa avsändarorganisationer "
    "(och förvaltningar).",
)
def systems_add(
    *,
    name: Annotated[str, typer.Argument(help="Systemets namn (syns i händelseloggen).")],
    sender: Annotated[
        list[str], typer.Option(help="Avsändarorganisation det får skicka för (flera går).")
    ],
    home: HomeOption = None,
    department: Annotated[
        list[str] | None, typer.Option(help="Förvaltning det får skicka för (standard: alla).")
    ] = None,
    webhook: Annotated[
        str | None, typer.Option(help="Adress som får händelser (HMAC-signerade).")
    ] = None,
    keeps_records: Annotated[
        bool,
        typer.Option(
            "--keeps-records/--no-keeps-records",
            help="Systemet bevarar själv breven som allmänna handlingar, så innehållet tas bort "
            "här efter digital leverans; --no-keeps-records: Utskick bevarar innehållet.",
        ),
    ] = True,
) -> None:
    """Add a sending system scoped to sender organisations (and departments)."""
    installation = open_installation(home)
    with installation.session() as session:
        try:
            system = systems.create_sending_system(
                session,
                name=name,
                sender_numbers=sender,
                departments=department,
                webhook_url=webhook,
                keeps_records=keeps_records,
                now=now(),
            )
        except systems.SendingSystemError as error:
            raise fail(str(error)) from None
        session.commit()
        console = Console()
        keeper = "systemet självt" if system.keeps_records else "Utskick"
        console.print(
            f"Systemet {system.name} ({system.id}) får skicka för "
            f"{', '.join(system.sender_numbers)}; breven bevaras av {keeper}. Skapa en nyckel "
            f"med: utskick systems key {system.name}",
            highlight=False,
        )
        if system.webhook_secret:
            console.print(
                f"Webhook-hemlighet (HMAC, visas bara nu): {system.webhook_secret}",
                highlight=False,
            )


@systems_app.command(
    "key",
    help="Skapa en ny API-nyckel för ett avsändande system och skriv ut den (visas bara en gång).",
)
def systems_key(
    name: Annotated[str, typer.Argument(help="Systemets namn eller id.")],
    home: HomeOption = None,
) -> None:
    """Issue a new API key for a sending system and print it (shown once only)."""
    installation = open_installation(home)
    with installation.session() as session:
        try:
            system = systems.find_sending_system(session, name)
        except systems.SendingSystemError as error:
            raise fail(str(error)) from None
        issued = systems.issue_api_key(session, system, now=now())
        session.commit()
    errors.print(
        f"Ny API-nyckel för {issued.system_name} (visas bara nu; spara den säkert):",
        highlight=False,
    )
    print(issued.clear_key)
