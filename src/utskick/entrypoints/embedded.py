"""The embedded default: the connector and the reference infrastructure from one command.

`utskick serve` starts the reference services first (FaR, population register, both mailbox
operators, the notice sinks, the diarium stand-in), then the worker threads, and the
connector's web app last, so that the connector's `/health` answers only once everything it
talks to is listening. The reference runs in child processes of `utskick serve` (each mailbox
operator in its own, the rest in one more), which end with it; with
`UTSKICK_REFERENCE_SEPARATE_PROCESSES=false` it runs in the same event loop as the connector.
Production turns the reference off (`UTSKICK_EMBEDDED_REFERENCE=false`) and points the
connector at the real infrastructure.

With the reference on, the connector is pointed at it (FaR's URL, the demo CA, and the
diarium stand-in for registering sent letters unless a registration URL is set) and its
database is seeded once with the demo's sender organisations (keys from the demo PKI), message
types and a sending system "Demo" whose API key is written to `<home>/demo-api-key`.

Letters by e-mail: whenever `mail_in_port` is set, `utskick serve` starts the SMTP submission
service beside the workers. The embedded default sets it to 2587 (unless
`UTSKICK_MAIL_IN_PORT` says otherwise), gives it a STARTTLS certificate for localhost and
127.0.0.1 from the demo CA (`<home>/pki/mail-in.pem`, made when missing or about to expire),
and sends the replies to the reference's mail sink, where the notices page shows them. The
demo officers have addresses like handlaggare@exempelkommun.se. When port 2587 is taken (a
second demo on the machine), the demo runs without e-mail in and says so; a port the user
chose must be free.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utskick.db.engine import session_factory
from utskick.desk.mailin.server import SubmissionServer
from utskick.entrypoints.app import create_app
from utskick.entrypoints.bootstrap import Adapters
from utskick.entrypoints.cli.common import (
    DEMO_LOCAL_PRINT_DEPARTMENT,
    reference_settings_beside,
    registration_at_stand_in,
)
from utskick.entrypoints.embedded_mail import mail_in_server, mail_settings_for
from utskick.entrypoints.embedded_sources import seed_demo_source, source_listing
from utskick.entrypoints.worker import WorkerPool
from utskick.letters.models import MessageType
from utskick.letters.repository import LetterRepository
from utskick.mm.private_files import write_private_file
from utskick.records.rules import seed_demo_rules
from utskick.reference.context import ReferenceContext, build_context, endpoints_for
from utskick.reference.runner import Listing, ReferenceInfrastructure, listings
from utskick.reference.settings import ReferenceSettings
from utskick.reference.world import DEMO_WORLD, EXEMPELKOMMUN, GRANNKOMMUN
from utskick.senders import systems
from utskick.senders.api_keys import AuthenticationError, authenticate
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings
from utskick.web.users import (
    ADMIN,
    DEPARTMENT_ADMIN,
    MANAGEMENT,
    OFFICER,
    RECORDS,
    DemoUser,
    seed_demo_users,
)

DEMO_SYSTEM = "Demo"
DEMO_KEY_FILE = "demo-api-key"


@dataclass(frozen=True)
class DemoSender:
    """A sender organisation of the demo, signing with its certificate from the demo PKI."""

    number: str
    name: str
    intermediary: bool
    support_text: str
    support_phone: str
    support_email: str


DEMO_SENDERS = (
    DemoSender(
        EXEMPELKOMMUN,
        "Exempelkommun",
        intermediary=True,
        support_text="Har du frågor om brevet? Kontakta Exempelkommuns kontaktcenter, "
        "vardagar 8–17.",
        support_phone="0123-45 67 00",
        support_email="kontaktcenter@exempelkommun.test",
    ),
    DemoSender(
        GRANNKOMMUN,
        "Grannkommun",
        intermediary=False,
        support_text="Har du frågor om brevet? Kontakta Grannkommuns servicecenter, vardagar 8–16.",
        support_phone="0123-99 03 00",
        support_email="servicecenter@grannkommun.test",
    ),
)

# Code, Swedish name, default protection class (skyddsklass).
DEMO_MESSAGE_TYPES = (
    ("beslut", "Beslut", 2),
    ("faktura", "Faktura", 1),
    ("information", "Information", 1),
    ("kallelse", "Kallelse", 2),
)


# The people of the demo: one of each role at Exempelkommun, an officer of another
# department, an officer of Grannkommun (who sees none of Exempelkommun's letters), and the
# installation's administrator.
DEMO_USERS = (
    DemoUser("ledning", "Lena Ledning", MANAGEMENT, EXEMPELKOMMUN, "Exempelkommun"),
    DemoUser(
        "socialadmin",
        "Sara Socialadmin",
        DEPARTMENT_ADMIN,
        EXEMPELKOMMUN,
        "Exempelkommun",
        DEMO_LOCAL_PRINT_DEPARTMENT,
        email="socialadmin@exempelkommun.se",
    ),
    DemoUser(
        "handlaggare",
        "Hans Handläggare",
        OFFICER,
        EXEMPELKOMMUN,
        "Exempelkommun",
        DEMO_LOCAL_PRINT_DEPARTMENT,
        email="handlaggare@exempelkommun.se",
    ),
    DemoUser(
        "bygglov",
        "Berit Bygglov",
        OFFICER,
        EXEMPELKOMMUN,
        "Exempelkommun",
        "Samhällsbyggnad",
        email="bygglov@exempelkommun.se",
    ),
    DemoUser("registrator", "Rita Registrator", RECORDS, EXEMPELKOMMUN, "Exempelkommun"),
    DemoUser(
        "granne",
        "Greta Granne",
        OFFICER,
        GRANNKOMMUN,
        "Grannkommun",
        "Socialtjänsten",
        email="granne@grannkommun.se",
    ),
    DemoUser("admin", "Ada Administratör", ADMIN),
)


def connector_settings_for(settings: Settings, context: ReferenceContext) -> Settings:
    """The connector's settings pointed at the embedded reference: its FaR and its demo CA.

    Unless a registration URL of the user's own is set, sent letters are registered in the
    reference's diarium stand-in, signed with the key it shares with the connector.
    """
    update: dict[str, object] = {
        "far_url": context.endpoints.far_url,
        "population_url": context.endpoints.population_url,
        "tls_ca_file": context.pki.ca_certificate,
        **registration_at_stand_in(settings, context.settings),
    }
    if "print_local_departments" not in settings.model_fields_set:
        # The demo shows both ways to paper: Socialtjänsten prints its own exception list,
        # everything else goes to the print vendor's drop.
        update["print_local_departments"] = [DEMO_LOCAL_PRINT_DEPARTMENT]
    return settings.model_copy(update=update | mail_settings_for(settings, context))


def ignored_settings(settings: Settings) -> list[str]:
    """What the embedded default cannot honour: one Swedish warning per setting given.

    With the reference on, the connector talks to the reference's FaR and population
    register and trusts the demo CA, and the reference keeps its data in UTSKICK_HOME,
    whatever the settings say. Each warning names the setting, the value used instead, and
    how to have the setting honoured.
    """
    if not settings.embedded_reference:
        return []
    reference = ReferenceSettings()
    endpoints = endpoints_for(reference, DEMO_WORLD)
    off = "sätt UTSKICK_EMBEDDED_REFERENCE=false för att använda din egen"
    demo_ca = settings.home / "pki" / "ca.pem"
    overridden = (
        ("UTSKICK_FAR_URL", settings.far_url, endpoints.far_url, f"referensens FaR ({{}}); {off}"),
        (
            "UTSKICK_POPULATION_URL",
            settings.population_url,
            endpoints.population_url,
            f"referensens folkbokföring ({{}}); {off}",
        ),
        (
            "UTSKICK_TLS_CA_FILE",
            settings.tls_ca_file,
            demo_ca,
            f"demo-CA:n i {{}}; {off} CA-fil",
        ),
    )
    warnings = [
        f"{name}={given} används inte: utskick serve kör den inbyggda referensinfrastrukturen "
        f"och använder {instead.format(used)}"
        for name, given, used, instead in overridden
        if given is not None and str(given) != str(used)
    ]
    if "home" in reference.model_fields_set and reference.home.resolve() != settings.home.resolve():
        warnings.append(
            f"UTSKICK_REFERENCE_HOME={reference.home} används inte: utskick serve håller "
            f"referensinfrastrukturens data i UTSKICK_HOME ({settings.home}); ange samma mapp "
            "i båda eller ta bort UTSKICK_REFERENCE_HOME"
        )
    return warnings


def seed_demo_configuration(session: Session, pki_directory: Path, now: dt.datetime) -> None:
    """Add the demo's sender organisations and message types where missing (caller commits).

    Idempotent: what an earlier start (or an administrator) configured is left as it is.
    """
    senders = SenderRepository(session)
    for demo in DEMO_SENDERS:
        if senders.get(demo.number) is not None:
            continue
        key_path = (pki_directory / f"{demo.number}.pem").resolve()
        sender = senders.add(demo.number, demo.name, key_path=str(key_path), now=now)
        sender.intermediary = demo.intermediary
        sender.support_text = demo.support_text
        sender.support_phone = demo.support_phone
        sender.support_email = demo.support_email
    letters = LetterRepository(session)
    for code, name, protection_class in DEMO_MESSAGE_TYPES:
        if letters.message_type(code) is None:
            session.add(MessageType(code=code, name=name, protection_class=protection_class))
    session.flush()
    seed_demo_rules(session, now)


def ensure_demo_api_key(session: Session, home: Path, now: dt.datetime) -> Path:
    """Make sure the sending system "Demo" exists and `<home>/demo-api-key` holds a valid key.

    The key written on the first start is reused as long as it is still valid; otherwise
    (a new database, a revoked key) a new one replaces it. The file is readable by its owner
    only. The caller commits.

    Returns:
        The path of the key file.
    """
    path = home / DEMO_KEY_FILE
    try:
        system = systems.find_sending_system(session, DEMO_SYSTEM)
    except systems.SendingSystemError:
        system = systems.create_sending_system(
            session,
            name=DEMO_SYSTEM,
            sender_numbers=[sender.number for sender in DEMO_SENDERS],
            now=now,
        )
    if path.exists():
        try:
            if authenticate(session, path.read_text(encoding="utf-8")).id == system.id:
                return path
        except AuthenticationError:
            pass  # revoked, or from another database: issue a new one below
    write_secret(path, systems.issue_api_key(session, system, now=now).clear_key)
    return path


def write_secret(path: Path, secret: str) -> None:
    """Write a secret to a file only its owner may read (mode 0600 from the start)."""
    write_private_file(path, (secret + "\n").encode("utf-8"))


@dataclass
class EmbeddedRun:
    """What `utskick serve` runs: the connector, its workers and, by default, the reference."""

    connector: uvicorn.Server
    reference: ReferenceInfrastructure | None
    adapters: Adapters
    workers: WorkerPool | None = None
    demo_key_file: Path | None = None
    demo_users_file: Path | None = None
    mail_in: SubmissionServer | None = None
    # Whether the port is the embedded default's own choice: taken, the demo goes on without.
    mail_in_optional: bool = False
    mail_in_problem: str | None = None
    watched_folder: Path | None = None

    def listings(self, connector_url: str) -> list[Listing]:
        """Every URL to print, the connector first."""
        result = [
            Listing("Utskick (anslutningen)", connector_url),
            Listing("API-dokumentation (OpenAPI)", connector_url + "docs"),
        ]
        if self.demo_key_file is not None:
            result.append(Listing("API-nyckel (demo)", f"i {self.demo_key_file}"))
        if self.demo_users_file is not None:
            result.append(Listing("Demoanvändare och lösenord", f"i {self.demo_users_file}"))
        result += self._mail_in_listings()
        result += source_listing(self.watched_folder)
        if self.reference is not None:
            result += listings(self.reference.context)
        return result

    def _mail_in_listings(self) -> list[Listing]:
        if self.mail_in_problem is not None:
            return [Listing("E-post in (brev med e-post)", self.mail_in_problem)]
        if self.mail_in is None:
            return []
        security = "STARTTLS och inloggning" if self.mail_in.tls else "utan TLS: bara reläservrar"
        return [
            Listing(
                f"E-post in (brev med e-post, {security})",
                f"{self.mail_in.url} · till <personnummer>@{self.mail_in.domain}",
            )
        ]

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start the reference servers, wait until they listen, start the workers, then serve.

        The reference runs in child processes unless `UTSKICK_REFERENCE_SEPARATE_PROCESSES`
        is false, then in this event loop. Stopping the connector (Ctrl-C) stops everything.
        """
        reference_tasks = await self._start_reference()
        if self.workers is not None:
            self.workers.start()
        try:
            await asyncio.to_thread(self._start_mail_in)
        except RuntimeError:
            await _to_the_end(self._stop_the_rest(reference_tasks))
            raise
        if on_ready is not None:
            on_ready()
        try:
            await self.connector.serve()
        finally:
            # Ctrl-C cancels this task as soon as the connector has stopped (uvicorn hands the
            # signal back to asyncio): the rest is still stopped to the end, or the
            # reference's child processes would be left to notice by themselves.
            await _to_the_end(self._stop_the_rest(reference_tasks))

    def _start_mail_in(self) -> None:
        """Start the SMTP submission service, if there is one.

        Raises:
            RuntimeError: (Swedish) its port, set by the user, is taken.
        """
        if self.mail_in is None:
            return
        try:
            self.mail_in.start()
        except OSError as error:
            problem = f"startade inte: {self.mail_in.url} är upptagen eller går inte att använda"
            if not self.mail_in_optional:
                raise RuntimeError(
                    f"e-post in {problem} ({error.strerror or error}); välj en annan port med "
                    "UTSKICK_MAIL_IN_PORT"
                ) from None
            self.mail_in_problem = f"{problem}; välj en ledig port med UTSKICK_MAIL_IN_PORT"
            self.mail_in = None

    async def _stop_the_rest(self, reference_tasks: list[asyncio.Task[None]]) -> None:
        if self.mail_in is not None:
            await asyncio.to_thread(self.mail_in.stop)
        if self.workers is not None:
            await asyncio.to_thread(self.workers.stop)
        self.adapters.close()
        await self._stop_reference(reference_tasks)

    @property
    def reference_in_processes(self) -> bool:
        """Whether the reference runs in child processes (else in this event loop)."""
        return self.reference is not None and self.reference.context.settings.separate_processes

    async def _start_reference(self) -> list[asyncio.Task[None]]:
        """Start the reference; the tasks of its servers when they run in this event loop.

        Raises:
            RuntimeError: (Swedish) a reference server could not start.
        """
        if self.reference is None:
            return []
        if self.reference_in_processes:
            await asyncio.to_thread(self.reference.start_in_processes)
            return []
        self.reference.start_sink()
        servers = self.reference.servers.servers
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                self.reference.stop_sink()
                raise RuntimeError(
                    "referenstjänsterna kunde inte starta (är en port upptagen? "
                    "se UTSKICK_REFERENCE_*_PORT)"
                )
            await asyncio.sleep(0.05)
        return tasks

    async def _stop_reference(self, tasks: list[asyncio.Task[None]]) -> None:
        if self.reference is None:
            return
        if self.reference_in_processes:
            await asyncio.to_thread(self.reference.stop)
            return
        for server in self.reference.servers.servers:
            server.should_exit = True
        await asyncio.gather(*tasks, return_exceptions=True)
        self.reference.stop_sink()


async def _to_the_end(work: Coroutine[Any, Any, None]) -> None:
    """Await `work` to its end even when this task is cancelled meanwhile, then re-cancel."""
    task = asyncio.ensure_future(work)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


def prepare_embedded_run(settings: Settings, engine: Engine) -> EmbeddedRun:
    """Build the connector's server, its workers and, unless turned off, the reference.

    With the reference on, the connector's settings point at it and the demo configuration
    is seeded (once) in the connector's database.
    """
    reference = None
    demo_key_file = None
    demo_users_file = None
    watched_folder = None
    mail_in_optional = (
        settings.embedded_reference and "mail_in_port" not in settings.model_fields_set
    )
    if settings.embedded_reference:
        reference_settings = reference_settings_beside(settings)
        context = build_context(reference_settings)
        reference = ReferenceInfrastructure(context)
        settings = connector_settings_for(settings, context)
        now = dt.datetime.now(dt.UTC)
        with session_factory(engine).begin() as session:
            seed_demo_configuration(session, context.pki.directory, now)
            demo_key_file = ensure_demo_api_key(session, settings.home, now)
            demo_users_file = seed_demo_users(session, settings.home, DEMO_USERS)
            watched_folder = seed_demo_source(session, settings, now)
    # One set of adapters for the app and the worker threads: one FaR cache per process.
    adapters = Adapters(settings, engine)
    workers = (
        WorkerPool(settings, engine, settings.worker_threads, adapters)
        if settings.worker_threads > 0
        else None
    )
    config = uvicorn.Config(
        create_app(settings, engine, adapters),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        # uvicorn's errors go through the handler `utskick serve` set up (utskick.observability
        # .logs); its access log is replaced by ours (utskick.web.request_log).
        log_config=None,
        access_log=False,
        # X-Forwarded-* are believed from UTSKICK_TRUSTED_PROXIES only (utskick.web.proxy),
        # not from whatever uvicorn trusts by default (127.0.0.1).
        proxy_headers=False,
    )
    return EmbeddedRun(
        uvicorn.Server(config),
        reference,
        adapters,
        workers,
        demo_key_file,
        demo_users_file,
        mail_in=mail_in_server(settings, engine),
        mail_in_optional=mail_in_optional,
        watched_folder=watched_folder,
    )
