"""`utskick mail-in`: the SMTP submission service for letters by e-mail, in a process of its own.

In production the service runs beside the web app and the workers, on the port officers'
clients (or the municipality's mail server) send to: `UTSKICK_MAIL_IN_PORT`, with the
certificate and key for STARTTLS in `UTSKICK_MAIL_IN_TLS_CERT_FILE` and `_KEY_FILE`, the
domain in `UTSKICK_MAIL_IN_DOMAIN`, trusted relays in `UTSKICK_MAIL_IN_RELAY_HOSTS` and the
replies' server in `UTSKICK_MAIL_OUT_URL`. The replies about letters are sent by the workers
(the `mail_reply` job); this process sends only the replies that refuse an e-mail at once.
It stops on SIGTERM or SIGINT; a client whose e-mail was cut off sends it again later, and
the same Message-ID gives the same letter.
"""

from __future__ import annotations

import signal
import ssl
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from utskick.db.engine import session_factory
from utskick.db.home import prepare_home
from utskick.entrypoints.cli.common import errors, fail, migrated_engine
from utskick.settings import Settings, load_settings

# Commands of the root: `utskick mail-in`.
mail_in_commands = typer.Typer()


def mail_in_warnings(settings: Settings) -> list[str]:
    """What the service will not do with these settings, in Swedish (one line each)."""
    warnings = []
    if settings.mail_in_tls_cert_file is None:
        warnings.append(
            "UTSKICK_MAIL_IN_TLS_CERT_FILE är inte satt: ingen STARTTLS och ingen inloggning, "
            "bara reläservrarna i UTSKICK_MAIL_IN_RELAY_HOSTS kan skicka brev"
        )
    if settings.mail_in_tls_cert_file is None and not settings.mail_in_relay_hosts:
        warnings.append("ingen kan skicka brev: sätt ett TLS-certifikat eller reläservrar")
    if settings.mail_out_url is None:
        warnings.append(
            "UTSKICK_MAIL_OUT_URL är inte satt: handläggarna får inga svar med e-post, och "
            "e-brev som inte kan bli brev avvisas med felkod 554 i stället"
        )
    return warnings


@mail_in_commands.command(
    "mail-in",
    help="Kör e-post in: SMTP-tjänsten som tar emot brev som handläggare e-postar till "
    "<personnummer>@UTSKICK_MAIL_IN_DOMAIN, tills den stoppas.",
)
def mail_in(
    home: Annotated[
        Path | None, typer.Option(help="Installationens mapp (standard UTSKICK_HOME eller ./var).")
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Adress att lyssna på (standard UTSKICK_MAIL_IN_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port att lyssna på (standard UTSKICK_MAIL_IN_PORT).")
    ] = None,
) -> None:
    """Run the SMTP submission service until SIGTERM or SIGINT."""
    # aiosmtpd and the desk: only this command pays for them.
    from utskick.desk.mailin.server import SubmissionServer  # noqa: PLC0415 (+0.03 s on every run)

    settings = load_settings(home=home, mail_in_host=host, mail_in_port=port)
    if settings.mail_in_port is None:
        raise fail("ange vilken port e-post in ska lyssna på: UTSKICK_MAIL_IN_PORT eller --port")
    for warning in mail_in_warnings(settings):
        errors.print(f"[bold yellow]Varning:[/] {warning}", highlight=False)
    prepare_home(settings)
    engine = migrated_engine(settings.resolved_database_url())
    try:
        server = SubmissionServer(settings, session_factory(engine))
    except (OSError, ssl.SSLError) as error:
        raise fail(
            f"TLS-certifikatet {settings.mail_in_tls_cert_file} eller dess nyckel går inte att "
            f"läsa ({error})"
        ) from None
    try:
        server.start()
    except OSError as error:
        raise fail(
            f"kan inte lyssna på {server.url}: {error.strerror or error}; välj en annan port"
        ) from None
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    errors.print(
        f"E-post in lyssnar på {server.url} för brev till <personnummer>@{server.domain}; "
        "stoppa med Ctrl-C eller SIGTERM.",
        highlight=False,
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.stop()
        engine.dispose()
