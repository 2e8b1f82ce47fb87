"""`utskick systems`: the sending systems (business systems), their API keys and webhooks.

A key or webhook secret is shown once, when it is made: on standard out alone (so that a
script can capture it), with what it is on standard error; with `--json` as a field of the
document on standard out. Lists never show a secret, only a key's first characters.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy.orm import Session

from utskick.entrypoints.cli.common import (
    HomeOption,
    errors,
    fail,
    now,
    open_installation,
    shown_time,
)
from utskick.entrypoints.cli.json_output import JsonFlag, iso_utc, print_json
from utskick.identity import parse_organisation
from utskick.senders import systems
from utskick.senders.models import ApiKey, SendingSystem
from utskick.senders.repository import SendingSystemRepository

systems_app = typer.Typer(
    help="Avsändande system, deras API-nycklar och webhookar.", no_args_is_help=True
)

NameArgument = Annotated[str, typer.Argument(help="Systemets namn eller id.")]
DEFAULT_OVERLAP_HOURS = 24.0


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
        str | None, typer.Option(help="Adress som får händelser (https://…, HMAC-signerade).")
    ] = None,
    keeps_records: Annotated[
        bool,
        typer.Option(
            "--keeps-records/--no-keeps-records",
            help="Systemet bevarar själv breven som allmänna handlingar, så innehållet tas bort "
            "här efter digital leverans; --no-keeps-records: Utskick bevarar innehållet.",
        ),
    ] = True,
    as_json: JsonFlag = False,
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
        if as_json:
            print_json({**_system_fields(system, []), "webhook_secret": system.webhook_secret})
            return
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
def systems_key(name: NameArgument, home: HomeOption = None, as_json: JsonFlag = False) -> None:
    """Issue a new API key for a sending system and print it (shown once only)."""
    installation = open_installation(home)
    with installation.session() as session:
        system = _system_or_fail(session, name)
        issued = systems.issue_api_key(session, system, now=now())
        session.commit()
    _show_issued(issued, revoked=[], as_json=as_json)


@systems_app.command("list", help="Lista de avsändande systemen med organisationer och nycklar.")
def systems_list(home: HomeOption = None, as_json: JsonFlag = False) -> None:
    """List the sending systems with their senders, webhook and number of working keys."""
    installation = open_installation(home)
    zone = installation.settings.print_timezone
    with installation.session() as session:
        listed = [
            (system, systems.api_keys_of(session, system))
            for system in SendingSystemRepository(session).all()
        ]
    if as_json:
        print_json([_system_fields(system, keys) for system, keys in listed])
        return
    if not listed:
        print("Inga avsändande system ännu; lägg till ett med utskick systems add.")
        return
    table = Table(
        "Namn",
        "Avsändare",
        "Förvaltningar",
        "Webhook",
        "Bevaras av",
        "Nycklar",
        Column("Skapat", no_wrap=True),
        "Id",
    )
    for system, keys in listed:
        table.add_row(
            system.name,
            ", ".join(parse_organisation(number).display for number in system.sender_numbers),
            ", ".join(system.departments) if system.departments is not None else "alla",
            system.webhook_url or "–",
            "systemet" if system.keeps_records else "Utskick",
            f"{_working(keys)} av {len(keys)}",
            shown_time(system.created_at, zone),
            system.id,
        )
    Console(width=200).print(table)


@systems_app.command(
    "keys", help="Lista ett systems API-nycklar: början, när de skapades och spärrades."
)
def systems_keys(name: NameArgument, home: HomeOption = None, as_json: JsonFlag = False) -> None:
    """List a system's API keys (their first characters only), oldest first."""
    installation = open_installation(home)
    zone = installation.settings.print_timezone
    with installation.session() as session:
        system = _system_or_fail(session, name)
        keys = systems.api_keys_of(session, system)
    if as_json:
        print_json([_key_fields(key) for key in keys])
        return
    if not keys:
        print(f"{system.name} har inga nycklar; skapa en med utskick systems key {system.name}.")
        return
    table = Table("Id", "Början", Column("Skapad", no_wrap=True), Column("Spärrad", no_wrap=True))
    for key in keys:
        table.add_row(
            key.id, key.prefix, shown_time(key.created_at, zone), shown_time(key.revoked_at, zone)
        )
    Console(width=160).print(table)


@systems_app.command(
    "revoke",
    help="Spärra en API-nyckel, angiven med sitt id eller sin början; den slutar gälla nu.",
)
def systems_revoke(
    key: Annotated[str, typer.Argument(help="Nyckelns id eller början (t.ex. uk_AbCdEfGh).")],
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Revoke an API key by its id or shown prefix; it stops working at once."""
    installation = open_installation(home)
    moment = now()
    with installation.session() as session:
        try:
            revoked = systems.revoke_api_key(session, key.strip(), now=moment)
        except systems.SendingSystemError as error:
            raise fail(str(error)) from None
        system = SendingSystemRepository(session).get(revoked.sending_system_id)
        session.commit()
    system_name = system.name if system is not None else revoked.sending_system_id
    if as_json:
        print_json({**_key_fields(revoked), "system": system_name})
        return
    when = shown_time(revoked.revoked_at, installation.settings.print_timezone)
    already = "" if revoked.revoked_at == moment else " (den var redan spärrad)"
    print(f"Nyckeln {revoked.prefix} för {system_name} är spärrad sedan {when}{already}.")


@systems_app.command(
    "rotate",
    help="Skapa en ny API-nyckel för ett system (visas bara en gång); med --revoke-old spärras "
    "de gamla.",
)
def systems_rotate(
    name: NameArgument,
    revoke_old: Annotated[
        bool,
        typer.Option(
            "--revoke-old",
            "--sparra-gamla",
            help="Spärra systemets andra nycklar nu (utan: de gäller tills du spärrar dem).",
        ),
    ] = False,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Issue a new key for a system; with --revoke-old its other keys stop working now."""
    installation = open_installation(home)
    moment = now()
    with installation.session() as session:
        system = _system_or_fail(session, name)
        issued = systems.issue_api_key(session, system, now=moment)
        revoked = (
            systems.revoke_other_keys(session, system, keep=issued.key_id, now=moment)
            if revoke_old
            else []
        )
        session.commit()
    _show_issued(issued, revoked=revoked, as_json=as_json)


@systems_app.command(
    "webhook",
    help="Sätt adressen som får systemets händelser (https), eller ta bort den med --ta-bort.",
)
def systems_webhook(
    name: NameArgument,
    url: Annotated[
        str | None,
        typer.Option(
            help="Adressen, t.ex. https://system.kommun.se/utskick (http bara till den egna "
            "datorn)."
        ),
    ] = None,
    remove: Annotated[
        bool, typer.Option("--ta-bort", help="Ta bort webhooken: inga fler händelser skickas.")
    ] = False,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Set the address that gets the system's events, or remove it."""
    if (url is None) == (not remove):
        raise fail("ange antingen --url med en adress eller --ta-bort")
    installation = open_installation(home)
    with installation.session() as session:
        system = _system_or_fail(session, name)
        try:
            secret = systems.set_webhook_url(session, system, url)
        except systems.SendingSystemError as error:
            raise fail(str(error)) from None
        session.commit()
    if as_json:
        print_json({"system": system.name, "webhook_url": system.webhook_url, "secret": secret})
        return
    if system.webhook_url is None:
        print(f"{system.name} har ingen webhook längre; inga fler händelser skickas dit.")
        return
    print(f"Händelserna för {system.name} skickas nu till {system.webhook_url}.")
    if secret is not None:
        errors.print(
            "Webhook-hemlighet att signera med (visas bara nu; ge den till systemet):",
            highlight=False,
        )
        print(secret)


@systems_app.command(
    "webhook-secret",
    help="Byt systemets webhook-hemlighet; den gamla signerar också under en övergångstid.",
)
def systems_webhook_secret(
    name: NameArgument,
    overlap_hours: Annotated[
        float,
        typer.Option(
            "--overlap-hours",
            "--overlapp-timmar",
            help="Timmar som den gamla hemligheten också signerar, så att systemet hinner byta "
            "(0: slutar gälla nu).",
        ),
    ] = DEFAULT_OVERLAP_HOURS,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Give the system a new webhook secret; the old one also signs during the overlap."""
    installation = open_installation(home)
    with installation.session() as session:
        system = _system_or_fail(session, name)
        try:
            overlap = systems.secret_overlap(overlap_hours)
            secret = systems.rotate_webhook_secret(session, system, now=now(), overlap=overlap)
        except systems.SendingSystemError as error:
            raise fail(str(error)) from None
        session.commit()
    until = system.webhook_secret_previous_until
    if as_json:
        print_json(
            {"system": system.name, "secret": secret, "previous_valid_until": iso_utc(until)}
        )
        return
    old = (
        f"; den gamla signerar också till {shown_time(until, installation.settings.print_timezone)}"
        if until is not None and system.webhook_secret_previous
        else ""
    )
    errors.print(
        f"Ny webhook-hemlighet för {system.name} (visas bara nu; ge den till systemet){old}:",
        highlight=False,
    )
    print(secret)


def _system_or_fail(session: Session, name: str) -> SendingSystem:
    try:
        return systems.find_sending_system(session, name.strip())
    except systems.SendingSystemError as error:
        raise fail(str(error)) from None


def _show_issued(issued: systems.IssuedKey, *, revoked: list[ApiKey], as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "key_id": issued.key_id,
                "system": issued.system_name,
                "prefix": issued.prefix,
                "key": issued.clear_key,
                "revoked": [_key_fields(key) for key in revoked],
            }
        )
        return
    errors.print(
        f"Ny API-nyckel för {issued.system_name} (visas bara nu; spara den säkert):",
        highlight=False,
    )
    print(issued.clear_key)
    if revoked:
        errors.print(
            f"Spärrade nycklar: {', '.join(key.prefix for key in revoked)}", highlight=False
        )


def _working(keys: list[ApiKey]) -> int:
    return sum(1 for key in keys if key.revoked_at is None)


def _system_fields(system: SendingSystem, keys: list[ApiKey]) -> dict[str, object]:
    return {
        "id": system.id,
        "name": system.name,
        "sender_numbers": list(system.sender_numbers),
        "departments": system.departments,
        "webhook_url": system.webhook_url,
        "webhook_secret_previous_until": iso_utc(system.webhook_secret_previous_until),
        "keeps_records": system.keeps_records,
        "keys": len(keys),
        "working_keys": _working(keys),
        "created_at": iso_utc(system.created_at),
    }


def _key_fields(key: ApiKey) -> dict[str, object]:
    return {
        "id": key.id,
        "prefix": key.prefix,
        "created_at": iso_utc(key.created_at),
        "revoked_at": iso_utc(key.revoked_at),
    }
