"""`utskick users`: add and list the people who log in to the web app, set their passwords.

A person's e-mail address (`--email` on `add`, or `utskick users email` later) is how letters
they e-mail to Utskick are known and where the replies about them go.

A password is typed at a hidden prompt (twice) or read from standard input with
`--password-stdin`, so that it never appears in the shell's history or the process list.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Column, Table
from sqlalchemy.orm import Session

from utskick.db.engine import session_factory
from utskick.db.home import prepare_home
from utskick.entrypoints.cli.common import migrated_engine, shown_time
from utskick.identity import parse_organisation
from utskick.senders.repository import SenderRepository
from utskick.settings import load_settings
from utskick.web.users import (
    ROLE_NAMES,
    UserInputError,
    UserRepository,
    check_new_password,
    create_user,
    hash_password,
    set_email,
)

users_app = typer.Typer(
    help="Personer som loggar in i webbappen, deras roller och lösenord.", no_args_is_help=True
)
errors = Console(stderr=True, soft_wrap=True)

ROLE_HELP = "Roll: " + ", ".join(f"{code} ({name})" for code, name in ROLE_NAMES.items()) + "."

HomeOption = Annotated[
    Path | None, typer.Option(help="Mapp för databas och allt tillstånd (standard ./var).")
]
PasswordStdinOption = Annotated[
    bool, typer.Option("--password-stdin", help="Läs lösenordet från standard in (en rad).")
]


def _fail(message: str) -> typer.Exit:
    errors.print(f"[bold red]Fel:[/] {message}", highlight=False)
    return typer.Exit(2)


def _session(home: Path | None) -> Session:
    """A unit of work on the installation's database, migrated first (the command commits)."""
    settings = load_settings(home=home)
    prepare_home(settings)
    return session_factory(migrated_engine(settings.resolved_database_url()))()


def _password(from_stdin: bool) -> str:
    """The new password from standard input or from a hidden prompt typed twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Lösenord", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("add", help="Lägg till en person som loggar in i webbappen, med en roll.")
def users_add(
    *,
    username: Annotated[str, typer.Argument(help="Användarnamn (små bokstäver, siffror, . _ -).")],
    role: Annotated[str, typer.Option(help=ROLE_HELP)],
    org: Annotated[
        str | None,
        typer.Option(
            "--org",
            help="Avsändarorganisationens organisationsnummer (krävs för alla roller utom admin).",
        ),
    ] = None,
    department: Annotated[
        str | None,
        typer.Option(help="Förvaltning (krävs för officer och department_admin)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Namn som visas i appen.")] = None,
    email: Annotated[
        str | None,
        typer.Option(
            help="Personens e-postadress: brev som hen e-postar till Utskick känns igen på "
            "den, och svaren om dem går dit."
        ),
    ] = None,
    password_stdin: PasswordStdinOption = False,
    home: HomeOption = None,
) -> None:
    """Add a person who logs in to the web app, with a role (and an e-mail address)."""
    if role not in ROLE_NAMES:
        raise _fail(f"okänd roll {role!r}; välj en av {', '.join(ROLE_NAMES)}")
    password = _password(password_stdin)
    with _session(home) as session:
        try:
            user = create_user(
                session,
                username=username,
                password=password,
                role=role,
                organisation=org,
                department=department,
                display_name=name,
                email=email,
                now=dt.datetime.now(dt.UTC),
                known_organisations={
                    sender.organisation_number for sender in SenderRepository(session).all()
                },
            )
        except UserInputError as error:
            raise _fail(str(error)) from None
        session.commit()
        where = f", förvaltning {user.department}" if user.department else ""
        if user.organisation_number:
            where += f", organisation {parse_organisation(user.organisation_number).display}"
        if user.email:
            where += f", e-post {user.email}"
        Console(soft_wrap=True).print(
            f"Användaren {user.username} ({user.display_name}) är tillagd med rollen "
            f"{user.role_name}{where}. Logga in på /logga-in.",
            highlight=False,
        )


@users_app.command("list", help="Lista alla som får logga in, med roll och förvaltning.")
def users_list(home: HomeOption = None) -> None:
    """List every person who may log in, with role and department."""
    settings = load_settings(home=home)
    with _session(home) as session:
        users = UserRepository(session).all()
    if not users:
        Console(soft_wrap=True).print("Inga användare ännu; lägg till en med utskick users add.")
        return
    table = Table(
        "Användarnamn",
        "Namn",
        "Roll",
        "Organisation",
        "Förvaltning",
        "E-post",
        "Aktiv",
        Column("Skapad", no_wrap=True),
    )
    for user in users:
        table.add_row(
            user.username,
            user.display_name,
            user.role_name,
            parse_organisation(user.organisation_number).display
            if user.organisation_number
            else "alla",
            user.department or "–",
            user.email or "–",
            "ja" if user.active else "nej",
            shown_time(user.created_at, settings.print_timezone),
        )
    Console(width=160).print(table)


@users_app.command(
    "password", help="Sätt ett nytt lösenord för en person (personens öppna sessioner avslutas)."
)
def users_password(
    username: Annotated[str, typer.Argument(help="Användarnamn.")],
    password_stdin: PasswordStdinOption = False,
    home: HomeOption = None,
) -> None:
    """Set a new password for a person (their open sessions end)."""
    with _session(home) as session:
        user = UserRepository(session).by_username(username)
        if user is None:
            raise _fail(f"användaren {username} finns inte; se utskick users list")
        password = _password(password_stdin)
        try:
            check_new_password(password)
        except UserInputError as error:
            raise _fail(str(error)) from None
        user.password_hash = hash_password(password)
        # A session that began with the old password would be refused anyway; gone is tidier.
        UserRepository(session).end_sessions(user.id)
        session.commit()
    Console(soft_wrap=True).print(f"Nytt lösenord för {user.username} är satt.", highlight=False)


@users_app.command(
    "email",
    help="Sätt en persons e-postadress (brev som hen e-postar känns igen på den, svaren går "
    "dit), eller ta bort den med --ta-bort.",
)
def users_email(
    username: Annotated[str, typer.Argument(help="Användarnamn.")],
    address: Annotated[
        str | None, typer.Argument(help="E-postadressen, till exempel namn@kommun.se.")
    ] = None,
    remove: Annotated[
        bool, typer.Option("--ta-bort", help="Ta bort personens e-postadress.")
    ] = False,
    home: HomeOption = None,
) -> None:
    """Set a person's e-mail address, or remove it."""
    if (address is None) == (not remove):
        raise _fail("ange antingen en e-postadress eller --ta-bort")
    with _session(home) as session:
        user = UserRepository(session).by_username(username)
        if user is None:
            raise _fail(f"användaren {username} finns inte; se utskick users list")
        try:
            set_email(session, user, None if remove else address)
        except UserInputError as error:
            raise _fail(str(error)) from None
        session.commit()
        told = (
            f"E-postadressen för {user.username} är nu {user.email}."
            if user.email
            else f"{user.username} har ingen e-postadress längre; brev som hen e-postar via "
            "kommunens e-postserver känns inte längre igen."
        )
    Console(soft_wrap=True).print(told, highlight=False)
