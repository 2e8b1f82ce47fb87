"""What the `utskick` commands share: errors, options, the installation a command acts on, times.

Help is Swedish, given as `help=`; docstrings stay English, for developers.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.markup import escape
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utskick.db.engine import session_factory
from utskick.db.home import prepare_home
from utskick.entrypoints.bootstrap import Adapters
from utskick.entrypoints.worker import drain
from utskick.letters import vocabulary
from utskick.letters.repository import LetterRepository
from utskick.reference.diarium.wire import REGISTRATION_PATH
from utskick.reference.settings import ReferenceSettings
from utskick.senders import systems
from utskick.senders.models import SendingSystem
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings, load_settings

errors = Console(stderr=True)

# The sending system letters from the command line come from, and who acts, for the event log.
CLI_SYSTEM = "cli"
CLI_ACTOR = "cli"
# How often a command that waits for letters runs the jobs due and looks again.
WAIT_POLL_SECONDS = 0.5

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Installationens mapp (standard UTSKICK_HOME eller ./var).",
        show_default=False,
    ),
]
RecipientOption = Annotated[
    str, typer.Option(help="Mottagarens person-, samordnings- eller organisationsnummer.")
]
SubjectOption = Annotated[str, typer.Option(help="Ämnesrad (högst 255 tecken).")]
BodyOption = Annotated[str | None, typer.Option(help="Brödtext.")]
BodyFileOption = Annotated[Path | None, typer.Option(help="Fil med brödtext (UTF-8).")]
HtmlOption = Annotated[bool, typer.Option(help="Brödtexten är begränsad HTML.")]

# The states as people read them: one wording for the CLI and the pages.
STATE_TEXTS = vocabulary.STATE_TEXTS

# The department that prints its own letters in the demo, as `utskick serve` configures it
# (`embedded.connector_settings_for`): a command's in-process worker must route paper the same way.
DEMO_LOCAL_PRINT_DEPARTMENT = "Socialtjänsten"


def fail(message: str, code: int = 2) -> typer.Exit:
    """Say what is wrong on standard error; raise the answer to end with `code`."""
    # The message may quote what was typed (a file name, a subject): never read it as markup.
    errors.print(f"[bold red]Fel:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def passphrase(variable: str | None) -> bytes | None:
    """The passphrase in the environment variable named (None when no variable is named)."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise fail(f"miljövariabeln {variable} (lösenfrasen) är inte satt")
    # The bytes as set, as the service reads them (a passphrase need not be UTF-8).
    return os.fsencode(value)


def body_text(body: str | None, body_file: Path | None) -> str:
    """A letter's body, given as text or as a file, and only one way."""
    if (body is None) == (body_file is None):
        raise fail("ange brödtexten med antingen --body eller --body-file")
    if body is not None:
        return body
    assert body_file is not None
    try:
        return body_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise fail(f"kan inte läsa {body_file} som UTF-8-text: {error}") from None


def now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def shown_time(moment: dt.datetime | None, zone: str, *, seconds: bool = False) -> str:
    """A stored time as people read it: local time in `zone` with the zone named.

    `zone` is the installation's `print_timezone` (Europe/Stockholm by default), so a time
    reads `2026-12-06 14:03 CET` in winter and `2026-06-06 14:03 CEST` in summer. The database
    keeps UTC (naive on SQLite); no time at all reads "–". JSON output keeps ISO 8601 in UTC.
    """
    if moment is None:
        return "–"
    try:
        local_zone = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(
            f"UTSKICK_PRINT_TIMEZONE={zone!r} är ingen känd tidszon; ange en som Europe/Stockholm"
        ) from None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    local = aware.astimezone(local_zone)
    return local.strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


@dataclass(frozen=True)
class Installation:
    """The settings, database and outside systems of the installation a command acts on."""

    settings: Settings
    engine: Engine
    adapters: Adapters

    def session(self) -> Session:
        """A new unit of work (the command commits)."""
        return session_factory(self.engine)()


def open_installation(home: Path | None) -> Installation:
    """Open the installation in `home` (or UTSKICK_HOME, or ./var), migrating its database."""
    settings = beside_serve(load_settings(home=home))
    prepare_home(settings)
    engine = migrated_engine(settings.resolved_database_url())
    return Installation(settings, engine, Adapters(settings, engine))


def wait_for_batch(installation: Installation, batch_id: str, timeout: float) -> None:
    """Run the jobs due in this process until every letter of the batch has an outcome.

    Raises:
        typer.Exit: (code 1, said on standard error) letters are still open after `timeout`
            seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        drain(installation.settings, installation.engine)
        with installation.session() as session:
            progress = LetterRepository(session).batch_progress(batch_id)
        open_letters = sum(
            count
            for state, count in progress.by_state.items()
            if state not in vocabulary.OUTCOME_KNOWN_STATES
        )
        if not open_letters:
            return
        if time.monotonic() > deadline:
            raise fail(f"{open_letters} brev har inget slutligt utfall efter {timeout:.0f} s", 1)
        time.sleep(WAIT_POLL_SECONDS)


def migrated_engine(url: str) -> Engine:
    """An engine for the database at `url`, migrated to the newest revision."""
    from utskick.migrations import migrate  # noqa: PLC0415 (alembic: +0.11 s on every run)

    return migrate.migrated_engine(url)


def beside_serve(settings: Settings) -> Settings:
    """Settings for a command run beside `utskick serve` on the embedded default.

    With the embedded reference on, a command acts as `utskick serve`'s connector does: with
    no FaR (or population register) address set, it talks to the FaR (and register) that the
    same home's `utskick serve` runs (ports from `UTSKICK_REFERENCE_*_PORT`), trusting the demo
    CA in `<home>/pki`; and unless `UTSKICK_PRINT_LOCAL_DEPARTMENTS` is set, Socialtjänsten
    prints its own letters, so that a letter the command's own worker routes (`send --wait`,
    `batch submit --wait`, `utskick worker`) lands where the server's workers would put it;
    with no registration URL set, sent letters are registered in the diarium stand-in that
    `utskick serve` runs, as its own workers register them; replies to e-mailed letters go to
    the reference's mail sink. Only the reference's settings
    are read here: a command should not pay for loading the reference services.
    """
    if not settings.embedded_reference:
        return settings
    update: dict[str, object] = {}
    if "print_local_departments" not in settings.model_fields_set:
        update["print_local_departments"] = [DEMO_LOCAL_PRINT_DEPARTMENT]
    reference = reference_settings_beside(settings)
    update |= registration_at_stand_in(settings, reference)
    if settings.mail_out_url is None:
        # Replies to e-mailed letters go where `utskick serve`'s workers send them: the sink.
        update["mail_out_url"] = f"smtp://{reference.smtp_host}:{reference.smtp_port}"
    if not (settings.far_url and settings.population_url):
        update["far_url"] = settings.far_url or f"https://{reference.host}:{reference.far_port}/far"
        update["population_url"] = (
            settings.population_url or f"https://{reference.host}:{reference.population_port}/"
        )
        update["tls_ca_file"] = settings.tls_ca_file or settings.home / "pki" / "ca.pem"
    return settings.model_copy(update=update)


def reference_settings_beside(settings: Settings) -> ReferenceSettings:
    """The embedded reference's settings for the connector's home.

    The diarium stand-in checks signatures with the key set for it
    (`UTSKICK_REFERENCE_DIARIUM_SECRET`); else with the connector's registration key when
    one is set without a registration URL of its own (the user chose the demo's key); else
    with the demo key generated once in the home.
    """
    reference = ReferenceSettings(home=settings.home)
    own_key = settings.records_registration_secret
    if reference.diarium_secret is None and own_key and not settings.records_registration_url:
        return reference.model_copy(update={"diarium_secret": own_key})
    return reference


def registration_at_stand_in(settings: Settings, reference: ReferenceSettings) -> dict[str, object]:
    """The settings that send registrations to the diarium stand-in, with its shared key.

    Nothing when a registration URL is set: the user's own case system is then used, with
    the user's key.
    """
    if settings.records_registration_url:
        return {}
    return {
        "records_registration_url": (
            f"http://{reference.host}:{reference.diarium_port}{REGISTRATION_PATH}"
        ),
        "records_registration_secret": SecretStr(reference.diarium_key().decode("utf-8")),
    }


def cli_system(session: Session) -> SendingSystem:
    """The sending system "cli", created on first use, scoped to every configured sender."""
    numbers = [sender.organisation_number for sender in SenderRepository(session).all()]
    if not numbers:
        raise fail(
            "inga avsändarorganisationer är konfigurerade; lägg till en med "
            "utskick senders add (eller starta utskick serve en gång för demot)"
        )
    try:
        system = systems.find_sending_system(session, CLI_SYSTEM)
    except systems.SendingSystemError:
        return systems.create_sending_system(
            session, name=CLI_SYSTEM, sender_numbers=numbers, now=now()
        )
    if sorted(system.sender_numbers) != sorted(numbers):
        # Senders added since: the command line may send for every configured organisation.
        system.sender_numbers = numbers
    return system
