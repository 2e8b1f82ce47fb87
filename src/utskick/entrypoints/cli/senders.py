"""`utskick senders`: the sender organisations, each signing with its own key.

`list` and `support` take `--json` (`json_output`): the list as JSON, and the sender as it is
after the change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.table import Column, Table

from utskick.entrypoints.cli.common import (
    HomeOption,
    fail,
    now,
    open_installation,
    passphrase,
    shown_time,
)
from utskick.entrypoints.cli.json_output import JsonFlag, iso_utc, print_json
from utskick.identity import InvalidIdentityError, RecipientId, parse_organisation
from utskick.mm.keys import KeyLoadError, load_signing_identity
from utskick.senders.models import SenderOrganisation
from utskick.senders.repository import DuplicateSenderError, SenderRepository
from utskick.senders.support import SupportChange, SupportInfoError, change_support_info

senders_app = typer.Typer(help="Avsändarorganisationer.", no_args_is_help=True)


@senders_app.command(
    "add", help="Lägg till en avsändarorganisation som signerar med sin egen nyckel."
)
def senders_add(
    *,
    org: Annotated[str, typer.Argument(help="Organisationsnummer.")],
    name: Annotated[str, typer.Option(help="Organisationens namn.")],
    key: Annotated[Path, typer.Option(help="Organisationens nyckel och certifikat (.pem/.p12).")],
    home: HomeOption = None,
    intermediary: Annotated[
        bool, typer.Option(help="Organisationen förseglar även (förmedlare) för de andra.")
    ] = False,
    support_text: Annotated[
        str | None, typer.Option(help="Vart mottagaren vänder sig med frågor.")
    ] = None,
    passphrase_env: Annotated[
        str | None, typer.Option(help="Miljövariabel med nyckelfilens lösenfras.")
    ] = None,
) -> None:
    """Add a sender organisation that signs with its own key."""
    try:
        organisation = parse_organisation(org)
    except InvalidIdentityError as error:
        raise fail(str(error)) from None
    if not name.strip():
        raise fail("ange organisationens namn med --name")
    key_path = _own_key(key, organisation, passphrase_env)
    installation = open_installation(home)
    with installation.session() as session:
        senders = SenderRepository(session)
        if intermediary and senders.intermediary() is not None:
            raise fail("det finns redan en förmedlare; bara en organisation förseglar")
        try:
            added = senders.add(
                organisation.organisation_number, name, key_path=str(key_path), now=now()
            )
        except DuplicateSenderError as error:
            raise fail(str(error)) from None
        added.intermediary = intermediary
        added.passphrase_env = passphrase_env
        text = support_text or f"Frågor om brevet besvaras av {name.strip()}."
        try:
            # The same check as `senders support`: a text every letter can carry.
            change_support_info(added, SupportChange(text=text))
        except SupportInfoError as error:
            raise fail(str(error)) from None
        session.commit()
    Console().print(
        f"Avsändaren {name.strip()} ({organisation.display}) är tillagd"
        + (" som förmedlare." if intermediary else "."),
        highlight=False,
    )


def _own_key(key: Path, organisation: RecipientId, passphrase_env: str | None) -> Path:
    """The key file's full path, once it loads and its certificate is the organisation's."""
    key_path = key.resolve()
    try:
        identity = load_signing_identity(key_path, passphrase(passphrase_env))
    except KeyLoadError as error:
        raise fail(str(error)) from None
    serial = identity.certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    expected = "16" + organisation.organisation_number
    if serial and str(serial[0].value) not in (expected, organisation.organisation_number):
        raise fail(
            f"certifikatet i {key} tillhör {serial[0].value!s}, inte {organisation.display}; "
            "ange organisationens egen nyckel"
        )
    return key_path


@senders_app.command(
    "list", help="Lista avsändarorganisationerna med nyckel och supportinformation."
)
def senders_list(home: HomeOption = None, as_json: JsonFlag = False) -> None:
    """List the sender organisations with their key file and support information."""
    installation = open_installation(home)
    with installation.session() as session:
        senders = SenderRepository(session).all()
    if as_json:
        print_json([_sender_fields(sender) for sender in senders])
        return
    if not senders:
        print("Inga avsändarorganisationer ännu; lägg till en med utskick senders add.")
        return
    table = Table(
        Column("Organisationsnummer", no_wrap=True),
        "Namn",
        "Förmedlare",
        "Supporttext",
        "Webb",
        "Telefon",
        "E-post",
        "Nyckelfil",
        Column("Tillagd", no_wrap=True),
    )
    for sender in senders:
        table.add_row(
            parse_organisation(sender.organisation_number).display,
            sender.name,
            "ja" if sender.intermediary else "nej",
            sender.support_text or "–",
            sender.support_url or "–",
            sender.support_phone or "–",
            sender.support_email or "–",
            sender.key_path or "–",
            shown_time(sender.created_at, installation.settings.print_timezone),
        )
    Console(width=220).print(table)


@senders_app.command(
    "support",
    help="Ändra vart mottagarna vänder sig med frågor: text, webbadress, telefon och e-post "
    'som följer med varje brev ("" tar bort webb, telefon eller e-post).',
)
def senders_support(
    org: Annotated[str, typer.Argument(help="Organisationsnummer.")],
    *,
    text: Annotated[
        str | None, typer.Option("--text", help="Supporttexten (krävs på varje brev).")
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="Webbadress med mer hjälp (https://…).")
    ] = None,
    phone: Annotated[
        str | None, typer.Option("--telefon", help="Telefonnummer, t.ex. 0123-45 67 89.")
    ] = None,
    email: Annotated[
        str | None, typer.Option("--epost", help="E-postadress, t.ex. kontakt@kommun.se.")
    ] = None,
    home: HomeOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a sender's support information; refused input changes nothing."""
    change = SupportChange(text=text, url=url, phone=phone, email=email)
    if change == SupportChange():
        raise fail("ange minst en av --text, --url, --telefon och --epost")
    try:
        number = parse_organisation(org).organisation_number
    except InvalidIdentityError as error:
        raise fail(str(error)) from None
    installation = open_installation(home)
    with installation.session() as session:
        sender = SenderRepository(session).get(number)
        if sender is None:
            raise fail(f"avsändaren {org} finns inte; se utskick senders list")
        try:
            change_support_info(sender, change)
        except SupportInfoError as error:
            raise fail(str(error)) from None
        session.commit()
    if as_json:
        print_json(_sender_fields(sender))
        return
    print(
        f"Supportinformationen för {sender.name} är ändrad; den följer med brev som skickas "
        "från och med nu."
    )


def _sender_fields(sender: SenderOrganisation) -> dict[str, object]:
    return {
        "organisation_number": sender.organisation_number,
        "name": sender.name,
        "intermediary": sender.intermediary,
        "key_path": sender.key_path,
        "support_text": sender.support_text,
        "support_url": sender.support_url,
        "support_phone": sender.support_phone,
        "support_email": sender.support_email,
        "created_at": iso_utc(sender.created_at),
    }
