"""`utskick senders`: the sender organisations, each signing with its own key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from cryptography.x509.oid import NameOID
from rich.console import Console

from utskick.entrypoints.cli.common import HomeOption, fail, now, open_installation, passphrase
from utskick.identity import InvalidIdentityError, RecipientId, parse_organisation
from utskick.mm.keys import KeyLoadError, load_signing_identity
from utskick.senders.repository import DuplicateSenderError, SenderRepository

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
        added.support_text = support_text or f"Frågor om brevet besvaras av {name.strip()}."
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
