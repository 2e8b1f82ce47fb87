"""The `utskick` command: run the service, and tools for integrators.

`utskick mm seal` and `utskick mm verify` let an integrator produce and check exactly what
goes on the wire; `utskick dev-ca` issues test certificates; `utskick bench` measures.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from cryptography.x509.oid import NameOID
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utskick.db.engine import session_factory
from utskick.entrypoints.cli.nytta import NYTTA_HELP, nytta
from utskick.entrypoints.cli.users import users_app
from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.letters.service import AttachmentInput, LetterInput, LetterService
from utskick.mm.delivery import (
    Attachment,
    Delivery,
    DeliveryDocumentError,
    SecureMessage,
    SupportInfo,
)
from utskick.mm.devca import (
    DevCertificateAuthority,
    write_certificate,
    write_pem_bundle,
    write_pkcs12,
)
from utskick.mm.keys import KeyLoadError, load_certificates, load_signing_identity
from utskick.mm.private_files import write_private_file
from utskick.mm.signing import SigningError, sign_and_seal
from utskick.mm.soap import MessageTooLargeError, WireForm, deliver_secure_request
from utskick.mm.verification import (
    TrustStore,
    VerificationError,
    VerificationPolicy,
    verify_sealed_delivery,
)
from utskick.settings import Settings, load_settings

if TYPE_CHECKING:
    from utskick.letters.address_screen import ProtectedIdentityLookup
    from utskick.letters.models import Batch
    from utskick.printing.models import PrintBatch
    from utskick.senders.models import SendingSystem

# Help is Swedish, given as `help=`; docstrings stay English, for developers. Shell completion
# is left out: an operator does not need it, and its two options' help is Typer's English.
app = typer.Typer(
    help="Utskick: kommunens anslutning till Mina meddelanden.",
    no_args_is_help=True,
    add_completion=False,
)
mm_app = typer.Typer(
    help="Mina meddelanden på tråden: försegla och verifiera leveranser.", no_args_is_help=True
)
ca_app = typer.Typer(
    help="Test-CA för utveckling och demo (aldrig för produktion).", no_args_is_help=True
)
db_app = typer.Typer(help="Databasen: migrera till senaste versionen.", no_args_is_help=True)
bench_app = typer.Typer(help="Prestandamätningar.", no_args_is_help=True)
app.add_typer(mm_app, name="mm")
app.add_typer(ca_app, name="dev-ca")
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")

errors = Console(stderr=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    errors.print(f"[bold red]Fel:[/] {message}", highlight=False)
    return typer.Exit(code)


def _passphrase(variable: str | None) -> bytes | None:
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise _fail(f"miljövariabeln {variable} (lösenfrasen) är inte satt")
    return value.encode()


def _pdf_attachment(path: Path) -> Attachment:
    try:
        content = path.read_bytes()
    except OSError as error:
        raise _fail(f"kan inte läsa bilagan {path}: {error.strerror}") from None
    if not content.startswith(b"%PDF-"):
        raise _fail(f"{path} är ingen PDF-fil; bilagor skickas som PDF")
    return Attachment(filename=path.name, content=content, content_type="application/pdf")


# --- serve and db --------------------------------------------------------------------------


@app.command(
    help="Starta Utskick med den inbäddade referensinfrastrukturen och visa alla adresser."
)
def serve(
    home: Annotated[
        Path | None, typer.Option(help="Mapp för databas och allt tillstånd (standard ./var).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Adress att lyssna på.")] = None,
    port: Annotated[int | None, typer.Option(help="Port att lyssna på.")] = None,
) -> None:
    """Start Utskick with the embedded reference infrastructure and print every URL."""
    import asyncio  # noqa: PLC0415 (only this command needs the servers)

    from utskick.db.engine import create_database_engine  # noqa: PLC0415
    from utskick.db.home import prepare_home  # noqa: PLC0415
    from utskick.entrypoints.embedded import ignored_settings, prepare_embedded_run  # noqa: PLC0415
    from utskick.migrations import migrate  # noqa: PLC0415

    settings = load_settings(home=home, host=host, port=port)
    for warning in ignored_settings(settings):
        errors.print(f"[bold yellow]Varning:[/] {warning}", highlight=False)
    prepare_home(settings)
    engine = create_database_engine(settings.resolved_database_url())
    migrate.upgrade(engine)
    run = prepare_embedded_run(settings, engine)
    url = f"http://{settings.host}:{settings.port}/"

    def print_urls() -> None:
        table = Table(title="Utskick körs", show_header=True, title_justify="left")
        table.add_column("Vad")
        table.add_column("Adress", no_wrap=True)
        for listing in run.listings(url):
            table.add_row(listing.what, listing.url)
        console = Console()
        console.print(table)
        console.print(
            f"Hälsa: {url}health  ·  data och demo-PKI i {settings.home.resolve()}  ·  "
            "testidentiteter: docs/test-identities.md  ·  stoppa med Ctrl-C",
            highlight=False,
        )

    try:
        asyncio.run(run.serve(on_ready=print_urls))
    except RuntimeError as error:
        raise _fail(str(error)) from None


@app.command(
    help="Kör en worker som utför jobben (klassning, leverans, övergång till papper, webhooks) "
    "tills den stoppas."
)
def worker(
    home: Annotated[
        Path | None, typer.Option(help="Installationens mapp (standard UTSKICK_HOME eller ./var).")
    ] = None,
) -> None:
    """Run a worker: claim jobs (classify, deliver, fall back, webhooks) until stopped."""
    from utskick.entrypoints.worker import run_worker  # noqa: PLC0415

    run_worker(_beside_serve(load_settings(home=home)))


@db_app.command(
    "upgrade",
    help="Migrera databasen (UTSKICK_DATABASE_URL, eller SQLite i UTSKICK_HOME) till senaste "
    "versionen.",
)
def db_upgrade() -> None:
    """Migrate the database (UTSKICK_DATABASE_URL, or SQLite in UTSKICK_HOME) to the newest version."""
    from utskick.db.engine import create_database_engine  # noqa: PLC0415
    from utskick.db.home import prepare_home  # noqa: PLC0415
    from utskick.migrations import migrate  # noqa: PLC0415

    settings = load_settings()
    prepare_home(settings)
    engine = create_database_engine(settings.resolved_database_url())
    migrate.upgrade(engine)
    Console().print(f"Databasen är på version {migrate.current_revision(engine)}.")


# --- mm seal / verify ----------------------------------------------------------------------


@mm_app.command(
    "seal", help="Skriv ett SOAP-anrop (deliverSecure) med en signerad och förseglad leverans."
)
def mm_seal(
    key: Annotated[Path, typer.Option(help="Avsändarens nyckel och certifikat (.p12 eller .pem).")],
    sender_org: Annotated[str, typer.Option(help="Avsändarens organisationsnummer.")],
    sender_name: Annotated[str, typer.Option(help="Avsändarens namn.")],
    recipient: Annotated[
        str, typer.Option(help="Mottagarens person-, samordnings- eller organisationsnummer.")
    ],
    subject: Annotated[str, typer.Option(help="Ämnesrad (högst 255 tecken).")],
    out: Annotated[Path, typer.Option(help="Fil att skriva SOAP-anropet till.")],
    seal_key: Annotated[
        Path | None, typer.Option(help="Förmedlarens nyckel (standard: avsändarens).")
    ] = None,
    passphrase_env: Annotated[
        str | None, typer.Option(help="Miljövariabel med lösenfrasen till nycklarna.")
    ] = None,
    body: Annotated[str | None, typer.Option(help="Brödtext.")] = None,
    body_file: Annotated[Path | None, typer.Option(help="Fil med brödtext (UTF-8).")] = None,
    html: Annotated[bool, typer.Option(help="Brödtexten är begränsad HTML.")] = False,
    attach: Annotated[
        list[Path] | None, typer.Option(help="PDF-bilaga (kan anges flera gånger).")
    ] = None,
    support_text: Annotated[
        str | None, typer.Option(help="Vart mottagaren vänder sig med frågor.")
    ] = None,
    message_id: Annotated[
        str | None, typer.Option(help="Meddelandets id (standard: ett nytt UUID).")
    ] = None,
    wire_form: Annotated[
        WireForm,
        typer.Option(
            help="Hur leveransen skrivs på tråden: prefixed (prefix på varje element, som "
            "Java/JAXB-avsändare skriver) eller default (standardnamnrymder, de signerade byten "
            "som de är). Signaturerna är desamma."
        ),
    ] = WireForm.PREFIXED,
) -> None:
    """Write a SOAP deliverSecure request carrying a signed and sealed delivery."""
    if (body is None) == (body_file is None):
        raise _fail("ange brödtexten med antingen --body eller --body-file")
    text = body if body is not None else _read_text(body_file)  # type: ignore[arg-type]
    try:
        sender = parse_organisation(sender_org)
        recipient_id = parse_identity(recipient)
    except InvalidIdentityError as error:
        raise _fail(str(error)) from None
    passphrase = _passphrase(passphrase_env)
    try:
        sender_key = load_signing_identity(key, passphrase)
        sealer_key = load_signing_identity(seal_key, passphrase) if seal_key else sender_key
    except KeyLoadError as error:
        raise _fail(str(error)) from None
    message = SecureMessage(
        id=message_id or str(uuid.uuid4()),
        subject=subject,
        support_info=SupportInfo(
            support_text or f"Frågor om meddelandet besvaras av {sender_name}."
        ),
        body=text.encode("utf-8"),
        body_content_type="text/html" if html else "text/plain",
        attachments=tuple(_pdf_attachment(p) for p in attach or []),
    )
    delivery = Delivery(
        sender_id=sender.value,
        sender_name=sender_name,
        recipient_id=recipient_id.value,
        messages=(message,),
    )
    try:
        sealed = sign_and_seal(
            delivery, sender_key, sealer_key, received_on=dt.datetime.now(dt.UTC).date()
        )
        request = deliver_secure_request(sealed, wire_form)
    except (DeliveryDocumentError, SigningError, MessageTooLargeError) as error:
        raise _fail(str(error)) from None
    # The request carries a letter and the recipient's personnummer: the owner's eyes only.
    write_private_file(out, request, make_folders=False)
    Console(stderr=True).print(
        f"Skrev {out} ({len(request)} byte, trådform {wire_form}): "
        f"{sender.display} → {recipient_id.display}",
        highlight=False,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(f"kan inte läsa {path} som UTF-8-text: {error}") from None


@mm_app.command(
    "verify",
    help="Verifiera förseglingen och avsändarens signatur; skriver OK, eller INVALID med skälet.",
)
def mm_verify(
    file: Annotated[
        Path,
        typer.Argument(help="SOAP-anrop med deliverSecure, eller ett SealedDelivery-dokument."),
    ],
    trust: Annotated[
        list[Path], typer.Option(help="Betrott certifikat eller CA (PEM); kan anges flera gånger.")
    ],
    at: Annotated[
        str | None, typer.Option(help="Verifiera som vid denna tidpunkt (ISO 8601); standard nu.")
    ] = None,
    sealer: Annotated[
        str | None, typer.Option(help="Kräv att förseglaren har detta organisationsnummer.")
    ] = None,
    allow_sha1: Annotated[
        bool, typer.Option(help="Godta SHA-1 (endast för gamla testdata).")
    ] = False,
) -> None:
    """Verify the seal and the sender signature; print OK or INVALID with the reason."""
    try:
        anchors = [c for path in trust for c in load_certificates(path)]
        expected_sealer = parse_organisation(sealer).organisation_number if sealer else None
        when = dt.datetime.fromisoformat(at) if at else dt.datetime.now(dt.UTC)
    except (KeyLoadError, InvalidIdentityError) as error:
        raise _fail(str(error)) from None
    except ValueError:
        raise _fail(
            f"--at {at!r} är ingen tidpunkt i ISO 8601 (t.ex. 2020-06-01T12:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        document = file.read_bytes()
    except OSError as error:
        raise _fail(f"kan inte läsa {file}: {error.strerror}") from None
    policy = VerificationPolicy(
        trust=TrustStore.of(anchors),
        at=when,
        expected_sealer=expected_sealer,
        allow_sha1=allow_sha1,
    )
    try:
        verified = verify_sealed_delivery(document, policy)
    except VerificationError as error:
        print(f"INVALID {error.reason}")
        raise typer.Exit(1) from None
    for warning in verified.warnings:
        errors.print(f"Varning: {warning}", highlight=False)
    sender = parse_organisation(verified.sender_organisation).display
    sealer_display = parse_organisation(verified.sealer_organisation).display
    print(f"OK sender={sender} sealer={sealer_display}")


# --- dev-ca --------------------------------------------------------------------------------

_CA_DIR_HELP = "Mapp för test-CA:ns nyckel och certifikat (skapas vid behov)."


@ca_app.command("init", help="Skapa test-CA:n (om den saknas) och visa var dess certifikat ligger.")
def ca_init(ca_dir: Annotated[Path, typer.Option(help=_CA_DIR_HELP)] = Path("var/pki")) -> None:
    """Create the test CA (if it does not exist) and print where its certificate is."""
    DevCertificateAuthority.load_or_create(ca_dir)
    print(ca_dir / "ca.pem")


@ca_app.command(
    "issue", help="Utfärda ett organisationscertifikat (serialNumber = 16 + organisationsnummer)."
)
def ca_issue(
    org: Annotated[str, typer.Option(help="Organisationsnummer.")],
    name: Annotated[str, typer.Option(help="Organisationens namn.")],
    out: Annotated[
        Path, typer.Option(help="Fil att skriva (PEM med nyckel och certifikat, eller .p12).")
    ],
    ca_dir: Annotated[Path, typer.Option(help=_CA_DIR_HELP)] = Path("var/pki"),
    days: Annotated[int, typer.Option(help="Giltighetstid i dagar.")] = 825,
    passphrase_env: Annotated[
        str | None, typer.Option(help="Miljövariabel med lösenfras (krävs för .p12).")
    ] = None,
    certificate_out: Annotated[
        Path | None, typer.Option(help="Skriv även certifikatet ensamt hit.")
    ] = None,
) -> None:
    """Issue an organisation certificate (serialNumber = 16 + organisationsnummer)."""
    try:
        organisation = parse_organisation(org)
    except InvalidIdentityError as error:
        raise _fail(str(error)) from None
    passphrase = _passphrase(passphrase_env)
    authority = DevCertificateAuthority.load_or_create(ca_dir)
    issued = authority.issue_organisation(organisation.organisation_number, name, days=days)
    if out.suffix.lower() in (".p12", ".pfx"):
        if passphrase is None:
            raise _fail("en PKCS#12-fil kräver lösenfras: ange --passphrase-env")
        write_pkcs12(out, issued, passphrase, name)
    else:
        write_pem_bundle(out, issued, passphrase)
    if certificate_out is not None:
        write_certificate(certificate_out, issued.certificate)
    errors.print(
        f"Utfärdade certifikat för {name} ({organisation.display}) till {out}; CA: {ca_dir / 'ca.pem'}",
        highlight=False,
    )


@ca_app.command(
    "server",
    help="Utfärda ett TLS-servercertifikat för loopback (standard localhost och 127.0.0.1).",
)
def ca_server(
    out: Annotated[Path, typer.Option(help="Fil att skriva (PEM med nyckel och certifikat).")],
    host: Annotated[
        list[str] | None, typer.Option(help="Värdnamn eller IP-adress (kan anges flera gånger).")
    ] = None,
    ca_dir: Annotated[Path, typer.Option(help=_CA_DIR_HELP)] = Path("var/pki"),
) -> None:
    """Issue a TLS server certificate for loopback (default localhost and 127.0.0.1)."""
    authority = DevCertificateAuthority.load_or_create(ca_dir)
    write_pem_bundle(out, authority.issue_tls_server(host or ["localhost", "127.0.0.1"]))
    errors.print(f"Skrev servercertifikat till {out}", highlight=False)


# --- bench ---------------------------------------------------------------------------------


@bench_app.command(
    "sign",
    help="Mät signering med försegling och verifiering, jämfört med ren RSA-signering (en kärna).",
)
def bench_sign(
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
    seconds: Annotated[float, typer.Option(help="Mättid per delmätning i sekunder.")] = 3.0,
) -> None:
    """Measure sign + seal and verification throughput against raw RSA signing (one core)."""
    from utskick.entrypoints.benchmarks.signing import run_signing_benchmark  # noqa: PLC0415

    _print_result(run_signing_benchmark(seconds=seconds), as_json)


def _print_result(result: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for name, value in result.items():
        print(f"{name:40} {value}")


@bench_app.command(
    "checks",
    help="Mät kontrollerna vid mottagning (HTML-brödtext, PDF-bilaga) mot enbart deras tolkare.",
)
def bench_checks(
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Små indata (64 kB) och korta mätningar, för en snabb kontroll."
        ),
    ] = False,
    seconds: Annotated[float, typer.Option(help="Mättid per delmätning i sekunder.")] = 0.2,
) -> None:
    """Measure the intake checks (HTML body, PDF attachment) against their parsers alone."""
    from utskick.entrypoints.benchmarks.checks import run_checks_benchmark  # noqa: PLC0415

    if seconds <= 0:
        raise _fail("--seconds ska vara större än 0")
    _print_result(run_checks_benchmark(quick=quick, seconds=0.05 if quick else seconds), as_json)


@bench_app.command(
    "far", help="Mät referens-FaR:ens isReachable (1 000 id per anrop, HTTPS med ömsesidig TLS)."
)
def bench_far(
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
    seconds: Annotated[float, typer.Option(help="Mättid per delmätning i sekunder.")] = 3.0,
) -> None:
    """Measure the reference FaR's isReachable (1,000 ids per call, HTTPS + mutual TLS)."""
    from utskick.entrypoints.benchmarks.far import run_is_reachable_benchmark  # noqa: PLC0415

    _print_result(run_is_reachable_benchmark(seconds=seconds), as_json)


@bench_app.command(
    "deliver",
    help="Mät hur en referensoperatör för brevlådor tar emot deliverSecure (verifiera och lagra).",
)
def bench_deliver(
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
    seconds: Annotated[float, typer.Option(help="Mättid per delmätning i sekunder.")] = 3.0,
) -> None:
    """Measure a reference operator's deliverSecure acceptance (verify + store)."""
    from utskick.entrypoints.benchmarks.delivery import run_deliver_secure_benchmark  # noqa: PLC0415

    _print_result(run_deliver_secure_benchmark(seconds=seconds), as_json)


# --- the installation: letters, senders, sending systems -----------------------------------

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Installationens mapp (standard UTSKICK_HOME eller ./var).",
        show_default=False,
    ),
]
CLI_SYSTEM = "cli"
CLI_ACTOR = "cli"
BATCH_COMMIT_EVERY = 500
WAIT_POLL_SECONDS = 0.5
systems_app = typer.Typer(help="Avsändande system och deras API-nycklar.", no_args_is_help=True)
senders_app = typer.Typer(help="Avsändarorganisationer.", no_args_is_help=True)
batch_app = typer.Typer(help="Massutskick från en NDJSON-fil.", no_args_is_help=True)
app.add_typer(systems_app, name="systems")
app.add_typer(senders_app, name="senders")
app.add_typer(batch_app, name="batch")

STATE_TEXTS = {
    "received": "mottaget",
    "classified": "kanal vald",
    "retrying": "försöker igen",
    "delivered": "levererat digitalt",
    "paper": "skickas på papper",
    "batched": "i utskriftsbatch",
    "handed_to_print": "lämnat till tryckeriet",
    "printed": "utskrivet",
    "impossible": "kan inte skickas på papper",
    "not_reachable": "inte nåbar (inget skickat)",
    "failed": "misslyckades",
    "cancelled": "makulerat",
}
CHANNEL_TEXTS = {
    "digital": "digitalt",
    "paper": "papper",
    "impossible": "omöjligt",
    "none": "ingen",
}


@dataclass(frozen=True)
class Installation:
    """The settings and database of the installation a command acts on."""

    settings: Settings
    engine: Engine

    def session(self) -> Session:
        """A new unit of work (the command commits)."""
        return session_factory(self.engine)()


def _installation(home: Path | None) -> Installation:
    """Open the installation in `home` (or UTSKICK_HOME, or ./var), migrating its database."""
    from utskick.db.home import prepare_home  # noqa: PLC0415
    from utskick.migrations import migrate  # noqa: PLC0415

    settings = _beside_serve(load_settings(home=home))
    prepare_home(settings)
    return Installation(settings, migrate.migrated_engine(settings.resolved_database_url()))


def _beside_serve(settings: Settings) -> Settings:
    """Settings for a command run beside `utskick serve` on the embedded default.

    With the embedded reference on and no FaR (or population register) address set, the
    command talks to the FaR (and register) that the same home's `utskick serve` runs (ports
    from `UTSKICK_REFERENCE_*_PORT`), trusting the demo CA in `<home>/pki`. Only the reference's
    settings are read here: a command should not pay for loading the reference services.
    """
    if not settings.embedded_reference or (settings.far_url and settings.population_url):
        return settings
    from utskick.reference.settings import ReferenceSettings  # noqa: PLC0415

    reference = ReferenceSettings(home=settings.home)
    return settings.model_copy(
        update={
            "far_url": settings.far_url or f"https://{reference.host}:{reference.far_port}/far",
            "population_url": settings.population_url
            or f"https://{reference.host}:{reference.population_port}/",
            "tls_ca_file": settings.tls_ca_file or settings.home / "pki" / "ca.pem",
        }
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _cli_system(session: Session) -> SendingSystem:
    """The sending system "cli", created on first use, scoped to every configured sender."""
    from utskick.senders import systems  # noqa: PLC0415
    from utskick.senders.repository import SenderRepository  # noqa: PLC0415

    numbers = [sender.organisation_number for sender in SenderRepository(session).all()]
    if not numbers:
        raise _fail(
            "inga avsändarorganisationer är konfigurerade; lägg till en med "
            "utskick senders add (eller starta utskick serve en gång för demot)"
        )
    try:
        system = systems.find_sending_system(session, CLI_SYSTEM)
    except systems.SendingSystemError:
        return systems.create_sending_system(
            session, name=CLI_SYSTEM, sender_numbers=numbers, now=_now()
        )
    if sorted(system.sender_numbers) != sorted(numbers):
        # Senders added since: the command line may send for every configured organisation.
        system.sender_numbers = numbers
    return system


def _attachment_input(spec: str) -> AttachmentInput:
    """`FILE.pdf` or `FILE.pdf:digital|paper|both` as an attachment of a letter."""
    path_text, channel = spec, "both"
    head, separator, tail = spec.rpartition(":")
    if separator and tail in ("digital", "paper", "both"):
        path_text, channel = head, tail
    path = Path(path_text)
    try:
        content = path.read_bytes()
    except OSError as error:
        raise _fail(f"kan inte läsa bilagan {path}: {error.strerror}") from None
    return AttachmentInput(filename=path.name, content=content, channel=channel)


def _default_sender(session: Session, typed: str | None) -> str:
    """The sender given, or the only configured one, or the intermediary."""
    from utskick.senders.repository import SenderRepository  # noqa: PLC0415

    if typed is not None:
        return typed
    senders = SenderRepository(session)
    configured = senders.all()
    if len(configured) == 1:
        return configured[0].organisation_number
    intermediary = senders.intermediary()
    if intermediary is not None:
        return intermediary.organisation_number
    raise _fail("ange avsändarorganisationen med --sender (organisationsnummer)")


@app.command(
    help="Visa vilken kanal varje mottagare skulle få nu (digital, papper eller omöjlig) och "
    "varför."
)
def precheck(
    ids: Annotated[
        list[str], typer.Argument(help="Person-, samordnings- eller organisationsnummer.")
    ],
    home: HomeOption = None,
    sender: Annotated[
        str | None,
        typer.Option(help="Avsändarorganisation (standard: förmedlaren eller den enda)."),
    ] = None,
    policy: Annotated[
        str, typer.Option(help="digital-or-paper, digital-only eller paper-only.")
    ] = "digital-or-paper",
    as_json: Annotated[
        bool, typer.Option("--json", help="Ett JSON-objekt per mottagare och rad.")
    ] = False,
) -> None:
    """Show the channel each recipient would get now (digital, paper or impossible) and why."""
    from utskick.switch.precheck import FarUnavailableError, precheck_for  # noqa: PLC0415
    from utskick.switch.reasons import text_for  # noqa: PLC0415

    if policy not in ("digital-or-paper", "digital-only", "paper-only"):
        raise _fail(
            f"okänd policy {policy!r}; välj digital-or-paper, digital-only eller paper-only"
        )
    installation = _installation(home)
    with installation.session() as session:
        sender_number = _default_sender(session, sender)
    try:
        decisions = precheck_for(installation.settings, installation.engine).check(
            sender_number, ids, policy=policy
        )
    except InvalidIdentityError as error:
        raise _fail(str(error)) from None
    except FarUnavailableError as error:
        raise _fail(f"FaR kan inte frågas just nu: {error}. Försök igen om en stund.", 1) from None
    if as_json:
        for decision in decisions:
            print(
                json.dumps(
                    {
                        "recipient": decision.recipient_id,
                        "channel": decision.channel,
                        "reason": decision.reason,
                        "reason_text": text_for(decision.reason),
                        "operator": decision.operator_name,
                        "operator_number": decision.operator_number,
                        "service_address": decision.service_address,
                    },
                    ensure_ascii=False,
                )
            )
        return

    table = Table(title=f"Förhandskontroll för avsändare {sender_number}", title_justify="left")
    for column in ("Mottagare", "Kanal", "Skäl", "Operatör"):
        table.add_column(column)
    for decision in decisions:
        table.add_row(
            decision.recipient_id,
            CHANNEL_TEXTS.get(decision.channel, decision.channel),
            text_for(decision.reason),
            decision.operator_name or "–",
        )
    Console().print(table)


@app.command(help='Lämna över ett brev (som det avsändande systemet "cli") och skriv ut dess id.')
def send(
    sender: Annotated[str, typer.Option(help="Avsändarorganisationens organisationsnummer.")],
    recipient: Annotated[
        str, typer.Option(help="Mottagarens person-, samordnings- eller organisationsnummer.")
    ],
    subject: Annotated[str, typer.Option(help="Ämnesrad (högst 255 tecken).")],
    home: HomeOption = None,
    body: Annotated[str | None, typer.Option(help="Brödtext.")] = None,
    body_file: Annotated[Path | None, typer.Option(help="Fil med brödtext (UTF-8).")] = None,
    html: Annotated[bool, typer.Option(help="Brödtexten är begränsad HTML.")] = False,
    attach: Annotated[
        list[str] | None,
        typer.Option(help="PDF-bilaga, FIL.pdf[:digital|paper|both]; kan anges flera gånger."),
    ] = None,
    protection_class: Annotated[
        int | None, typer.Option("--class", help="Skyddsklass 1–3 (standard: meddelandetypens).")
    ] = None,
    message_type: Annotated[
        str | None, typer.Option("--type", help="Meddelandetyp (t.ex. beslut).")
    ] = None,
    policy: Annotated[
        str, typer.Option(help="digital-or-paper, digital-only eller paper-only.")
    ] = "digital-or-paper",
    department: Annotated[str | None, typer.Option(help="Förvaltning eller funktion.")] = None,
    case: Annotated[str | None, typer.Option(help="Diarienummer.")] = None,
    reference: Annotated[str | None, typer.Option(help="Egen referens.")] = None,
    eservice_url: Annotated[str | None, typer.Option(help="Länk till e-tjänst.")] = None,
    key: Annotated[
        str | None, typer.Option(help="Idempotensnyckel: samma nyckel igen ger samma brev.")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Kör utskicket och vänta tills brevet har ett slutligt utfall.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Längsta väntan med --wait, sekunder.")] = 300.0,
) -> None:
    """Hand over one letter (as the sending system "cli") and print its id."""
    from utskick.letters.service import LetterRejectedError, LetterService  # noqa: PLC0415

    if (body is None) == (body_file is None):
        raise _fail("ange brödtexten med antingen --body eller --body-file")
    text = body if body is not None else _read_text(body_file)  # type: ignore[arg-type]
    letter_input = LetterInput(
        sender=sender,
        recipient=recipient,
        subject=subject,
        body=text,
        body_type="text/html" if html else "text/plain",
        attachments=tuple(_attachment_input(spec) for spec in attach or []),
        protection_class=protection_class,
        message_type=message_type,
        policy=policy,
        department=department,
        eservice_url=eservice_url,
        case_number=case,
        reference=reference,
        idempotency_key=key,
    )
    installation = _installation(home)
    with installation.session() as session:
        system = _cli_system(session)
        try:
            letter, created = LetterService(session, installation.settings).accept(
                system, letter_input, actor=CLI_ACTOR
            )
        except LetterRejectedError as error:
            raise _fail(f"{error.field}: {error.message}") from None
        session.commit()
        letter_id = letter.id
    print(letter_id)
    if not created:
        errors.print(
            "Samma idempotensnyckel som tidigare: brevet fanns redan och lämnades oförändrat.",
            highlight=False,
        )
    if wait:
        _wait_for_letters(installation, [letter_id], timeout)
        _print_status(installation, letter_id)


def _wait_for_letters(
    installation: Installation, letter_ids: Sequence[str], timeout: float
) -> None:
    """Run the jobs due in this process until every letter has a terminal outcome."""
    from utskick.entrypoints.worker import drain  # noqa: PLC0415
    from utskick.letters.events import OUTCOME_KNOWN_STATES  # noqa: PLC0415
    from utskick.letters.models import Letter  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    remaining = list(letter_ids)
    while remaining:
        drain(installation.settings, installation.engine)
        with installation.session() as session:
            remaining = [
                letter_id
                for letter_id in remaining
                if (letter := session.get(Letter, letter_id)) is not None
                and letter.state not in OUTCOME_KNOWN_STATES
            ]
        if not remaining:
            return
        if time.monotonic() > deadline:
            raise _fail(
                f"{len(remaining)} brev har inget slutligt utfall efter {timeout:.0f} s; "
                "se utskick status",
                1,
            )
        time.sleep(WAIT_POLL_SECONDS)


def _print_status(installation: Installation, letter_id: str) -> None:

    from utskick.letters.models import Letter  # noqa: PLC0415
    from utskick.letters.repository import LetterRepository  # noqa: PLC0415
    from utskick.switch.reasons import text_for  # noqa: PLC0415

    with installation.session() as session:
        letter = session.get(Letter, letter_id)
        if letter is None:
            raise _fail(f"det finns inget brev med id {letter_id}")
        events = LetterRepository(session).events(letter_id)
    console = Console()
    console.print(
        f"Brev {letter.id}: [bold]{STATE_TEXTS.get(letter.state, letter.state)}[/]"
        f"  ·  kanal: {CHANNEL_TEXTS.get(letter.channel or '', letter.channel or '–')}"
        f"  ·  skäl: {text_for(letter.reason) if letter.reason else '–'}",
        highlight=False,
    )
    console.print(
        f"Mottagare {letter.recipient_id}  ·  avsändare {letter.sender_number}  ·  "
        f"ämne: {letter.subject}" + (f"  ·  TransId {letter.trans_id}" if letter.trans_id else ""),
        highlight=False,
    )
    table = Table(title="Händelser", title_justify="left")
    table.add_column("Tid", no_wrap=True)
    for column in ("Tillstånd", "Skäl", "Av", "Detalj"):
        table.add_column(column)
    for event in events:
        table.add_row(
            _local(event.at).strftime("%Y-%m-%d %H:%M:%S"),
            STATE_TEXTS.get(event.state, event.state),
            event.reason or "",
            event.actor,
            event.detail or "",
        )
    console.print(table)


@app.command(help="Visa ett brevs läge, kanal, skäl och alla händelser.")
def status(
    letter_id: Annotated[str, typer.Argument(help="Brevets id (från utskick send).")],
    home: HomeOption = None,
) -> None:
    """Show a letter's state, channel, reason and every event."""
    _print_status(_installation(home), letter_id.strip())


# --- batch submit ----------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    """What a batch submission did, line by line."""

    batch_id: str
    accepted: int = 0
    replayed: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


class BadLineError(Exception):
    """A batch line that is no letter; the message says in Swedish what is wrong."""


def _letter_from_line(line: str, default_sender: str | None) -> LetterInput:
    """One NDJSON line (the API's letter object) as a letter.

    Raises:
        BadLineError: a Swedish message saying what is wrong with the line.
    """
    from pydantic import ValidationError  # noqa: PLC0415

    from utskick.intake.api import letter_input  # noqa: PLC0415
    from utskick.intake.schemas import LetterIn  # noqa: PLC0415
    from utskick.letters.service import LetterRejectedError  # noqa: PLC0415
    from utskick.web.errors import swedish_error  # noqa: PLC0415
    from utskick.web.json_guard import DuplicateKeyError, loads_strict  # noqa: PLC0415

    try:
        raw = loads_strict(line)
    except DuplicateKeyError as error:
        raise BadLineError(error.message) from None
    except json.JSONDecodeError as error:
        raise BadLineError(f"ingen giltig JSON (fel vid tecken {error.pos + 1})") from None
    except RecursionError:
        raise BadLineError("ingen giltig JSON (för djupt nästlad)") from None
    if not isinstance(raw, dict):
        raise BadLineError("raden ska vara ett JSON-objekt med ett brev")
    if default_sender is not None:
        raw.setdefault("sender", default_sender)
    try:
        parsed = LetterIn.model_validate(raw)
    except ValidationError as error:
        first = swedish_error(dict(error.errors()[0]))
        raise BadLineError(f"{first['field'] or 'raden'}: {first['message']}") from None
    try:
        return letter_input(parsed)
    except LetterRejectedError as error:
        raise BadLineError(str(error)) from None


def _submit_lines(
    installation: Installation, file: Path, default_sender: str | None, batch_id: str
) -> BatchOutcome:
    from rich.progress import (  # noqa: PLC0415
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    from utskick.letters.models import Batch  # noqa: PLC0415
    from utskick.letters.repository import LetterRepository  # noqa: PLC0415

    outcome = BatchOutcome(batch_id)
    size = file.stat().st_size
    progress = Progress(
        TextColumn("[bold]Lämnar in brev[/]"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[accepted]} mottagna, {task.fields[rejected]} avvisade"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    session = installation.session()
    try:
        system = _cli_system(session)
        batch = Batch(
            id=batch_id,
            sending_system_id=system.id,
            created_at=_now(),
            accepted=0,
            rejected=0,
            rejections=[],
        )
        LetterRepository(session).add_batch(batch)
        session.commit()
        chunk = _BatchChunk(LetterService(session, installation.settings), system, batch_id)
        with progress, file.open("rb") as stream:
            task = progress.add_task("", total=size, accepted=0, rejected=0)
            # Read line by line: a file of 500,000 letters never sits in memory.
            for number, raw_line in enumerate(stream, start=1):
                progress.advance(task, len(raw_line))
                letter = _read_line(number, raw_line, default_sender, outcome)
                if letter is None:
                    continue
                chunk.letters.append((number, letter))
                if len(chunk.letters) >= BATCH_COMMIT_EVERY:
                    chunk.accept(installation, outcome)
                    _record_batch(batch, outcome)
                    session.commit()
                    progress.update(task, accepted=outcome.accepted, rejected=len(outcome.rejected))
            chunk.accept(installation, outcome)
            _record_batch(batch, outcome, completed=True)
            session.commit()
            progress.update(task, accepted=outcome.accepted, rejected=len(outcome.rejected))
    finally:
        session.close()
    return outcome


def _read_line(
    number: int, raw_line: bytes, default_sender: str | None, outcome: BatchOutcome
) -> LetterInput | None:
    """The line's letter; None for a blank line or one refused (recorded in `outcome`)."""
    try:
        line = raw_line.decode("utf-8").strip()
    except UnicodeDecodeError:
        outcome.rejected.append((number, "raden är inte UTF-8"))
        return None
    if not line:
        return None
    try:
        return _letter_from_line(line, default_sender)
    except BadLineError as error:
        outcome.rejected.append((number, str(error)))
        return None


@dataclass
class _BatchChunk:
    """Letters read since the last commit, accepted together once the register was asked."""

    service: LetterService
    system: SendingSystem
    batch_id: str
    letters: list[tuple[int, LetterInput]] = field(default_factory=list)
    protection: ProtectedIdentityLookup | None = None

    def accept(self, installation: Installation, outcome: BatchOutcome) -> None:
        """Screen the chunk's addresses (no transaction is open), then accept its letters."""
        from utskick.letters.address_screen import screen_addresses  # noqa: PLC0415
        from utskick.letters.service import LetterRejectedError  # noqa: PLC0415

        letters = [letter for _number, letter in self.letters]
        if any(letter.postal_address is not None for letter in letters):
            letters = screen_addresses(letters, self._protection(installation)).letters
        for (number, _given), letter in zip(self.letters, letters, strict=True):
            try:
                _, created = self.service.accept(
                    self.system, letter, actor=CLI_ACTOR, batch_id=self.batch_id
                )
            except LetterRejectedError as error:
                outcome.rejected.append((number, f"{error.field}: {error.message}"))
                continue
            outcome.accepted += 1
            outcome.replayed += not created
        self.letters = []

    def _protection(self, installation: Installation) -> ProtectedIdentityLookup | None:
        """The population register, built on first need (None: it cannot be asked)."""
        from utskick.printing.addresses import (  # noqa: PLC0415
            AddressSourceUnavailableError,
            RegisterProtection,
            population_register_for,
        )

        if self.protection is None:
            try:
                source = population_register_for(installation.settings, installation.engine)
            except AddressSourceUnavailableError:
                return None
            self.protection = RegisterProtection(source)
        return self.protection


MAX_STORED_REJECTIONS = 1000


def _record_batch(batch: Batch, outcome: BatchOutcome, *, completed: bool = False) -> None:
    batch.accepted = outcome.accepted
    batch.rejected = len(outcome.rejected)
    batch.rejections = [
        {"line": number, "message": message}
        for number, message in outcome.rejected[:MAX_STORED_REJECTIONS]
    ]
    if completed:
        batch.completed_at = _now()


@batch_app.command(
    "submit",
    help="Lämna över alla brev i en NDJSON-fil; visa antalet godtagna och varje avvisad rad.",
)
def batch_submit(
    file: Annotated[Path, typer.Argument(help="NDJSON-fil: ett brev (JSON-objekt) per rad.")],
    home: HomeOption = None,
    sender: Annotated[
        str | None, typer.Option(help="Avsändare för rader som inte anger någon.")
    ] = None,
    wait: Annotated[
        bool, typer.Option(help="Kör utskicket och vänta tills alla brev har ett slutligt utfall.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="Längsta väntan med --wait, sekunder.")] = 3600.0,
) -> None:
    """Hand over every letter of an NDJSON file; report the accepted and each rejected line."""
    if not file.is_file():
        raise _fail(f"filen {file} finns inte (ange en NDJSON-fil med ett brev per rad)")
    installation = _installation(home)
    outcome = _submit_lines(installation, file, sender, str(uuid.uuid4()))
    console = Console()
    console.print(
        f"Massutskick {outcome.batch_id}: [bold]{outcome.accepted}[/] brev "
        + ("mottaget" if outcome.accepted == 1 else "mottagna")
        + (f" (varav {outcome.replayed} redan kända)" if outcome.replayed else "")
        + f", [bold]{len(outcome.rejected)}[/] "
        + ("rad avvisad." if len(outcome.rejected) == 1 else "rader avvisade."),
        highlight=False,
    )
    for number, message in outcome.rejected:
        console.print(f"  rad {number}: {message}", highlight=False)
    if wait and outcome.accepted:
        _wait_for_batch(installation, outcome.batch_id, timeout)
        _print_batch_outcomes(installation, outcome.batch_id)


def _wait_for_batch(installation: Installation, batch_id: str, timeout: float) -> None:
    from utskick.entrypoints.worker import drain  # noqa: PLC0415
    from utskick.letters.events import OUTCOME_KNOWN_STATES  # noqa: PLC0415
    from utskick.letters.repository import LetterRepository  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    while True:
        drain(installation.settings, installation.engine)
        with installation.session() as session:
            progress = LetterRepository(session).batch_progress(batch_id)
        open_letters = sum(
            count for state, count in progress.by_state.items() if state not in OUTCOME_KNOWN_STATES
        )
        if not open_letters:
            return
        if time.monotonic() > deadline:
            raise _fail(f"{open_letters} brev har inget slutligt utfall efter {timeout:.0f} s", 1)
        time.sleep(WAIT_POLL_SECONDS)


def _print_batch_outcomes(installation: Installation, batch_id: str) -> None:

    from utskick.letters.repository import LetterRepository  # noqa: PLC0415
    from utskick.switch.reasons import text_for  # noqa: PLC0415

    with installation.session() as session:
        progress = LetterRepository(session).batch_progress(batch_id)
    console = Console()
    by_state = Table(title="Utfall", title_justify="left")
    by_state.add_column("Utfall")
    by_state.add_column("Brev", justify="right")
    for state, count in sorted(progress.by_state.items(), key=lambda item: -item[1]):
        by_state.add_row(STATE_TEXTS.get(state, state), str(count))
    console.print(by_state)
    by_reason = Table(title="Skäl", title_justify="left")
    by_reason.add_column("Skäl")
    by_reason.add_column("Kod")
    by_reason.add_column("Brev", justify="right")
    for reason, count in sorted(progress.by_reason.items(), key=lambda item: -item[1]):
        by_reason.add_row(text_for(reason), reason, str(count))
    console.print(by_reason)


# --- systems and senders ---------------------------------------------------------------------


@systems_app.command(
    "add",
    help="Lägg till ett avsändande system som får skicka för vissa avsändarorganisationer "
    "(och förvaltningar).",
)
def systems_add(
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
) -> None:
    """Add a sending system scoped to sender organisations (and departments)."""
    from utskick.senders import systems  # noqa: PLC0415

    installation = _installation(home)
    with installation.session() as session:
        try:
            system = systems.create_sending_system(
                session,
                name=name,
                sender_numbers=sender,
                departments=department,
                webhook_url=webhook,
                now=_now(),
            )
        except systems.SendingSystemError as error:
            raise _fail(str(error)) from None
        session.commit()
        console = Console()
        console.print(
            f"Systemet {system.name} ({system.id}) får skicka för "
            f"{', '.join(system.sender_numbers)}. Skapa en nyckel med: "
            f"utskick systems key {system.name}",
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
    from utskick.senders import systems  # noqa: PLC0415

    installation = _installation(home)
    with installation.session() as session:
        try:
            system = systems.find_sending_system(session, name)
        except systems.SendingSystemError as error:
            raise _fail(str(error)) from None
        issued = systems.issue_api_key(session, system, now=_now())
        session.commit()
    errors.print(
        f"Ny API-nyckel för {issued.system_name} (visas bara nu; spara den säkert):",
        highlight=False,
    )
    print(issued.clear_key)


@senders_app.command(
    "add", help="Lägg till en avsändarorganisation som signerar med sin egen nyckel."
)
def senders_add(
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
    from utskick.senders.repository import DuplicateSenderError, SenderRepository  # noqa: PLC0415

    try:
        organisation = parse_organisation(org)
    except InvalidIdentityError as error:
        raise _fail(str(error)) from None
    if not name.strip():
        raise _fail("ange organisationens namn med --name")
    key_path = key.resolve()
    try:
        identity = load_signing_identity(key_path, _passphrase(passphrase_env))
    except KeyLoadError as error:
        raise _fail(str(error)) from None
    serial = identity.certificate.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    expected = "16" + organisation.organisation_number
    if serial and str(serial[0].value) not in (expected, organisation.organisation_number):
        raise _fail(
            f"certifikatet i {key} tillhör {serial[0].value!s}, inte {organisation.display}; "
            "ange organisationens egen nyckel"
        )
    installation = _installation(home)
    with installation.session() as session:
        senders = SenderRepository(session)
        if intermediary and senders.intermediary() is not None:
            raise _fail("det finns redan en förmedlare; bara en organisation förseglar")
        try:
            added = senders.add(
                organisation.organisation_number, name, key_path=str(key_path), now=_now()
            )
        except DuplicateSenderError as error:
            raise _fail(str(error)) from None
        added.intermediary = intermediary
        added.passphrase_env = passphrase_env
        added.support_text = support_text or f"Frågor om brevet besvaras av {name.strip()}."
        session.commit()
    Console().print(
        f"Avsändaren {name.strip()} ({organisation.display}) är tillagd"
        + (" som förmedlare." if intermediary else "."),
        highlight=False,
    )


@bench_app.command(
    "batch",
    help="Mät ett massutskick från början till slut: utskick batch submit tills alla brev har "
    "ett slutligt utfall.",
)
def bench_batch(
    letters: Annotated[int, typer.Option(help="Antal brev i massutskicket.")] = 10_000,
    database: Annotated[str, typer.Option(help="sqlite eller postgresql.")] = "sqlite",
    worker_threads: Annotated[int, typer.Option(help="Trådar i worker-processen.")] = 4,
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
) -> None:
    """Measure a batch end to end: `utskick batch submit` until every letter is terminal."""
    from utskick.entrypoints.benchmarks.batch import run_batch_benchmark  # noqa: PLC0415

    if database not in ("sqlite", "postgresql"):
        raise _fail("--database ska vara sqlite eller postgresql")
    if letters < 1:
        raise _fail("--letters ska vara minst 1")
    _print_result(
        run_batch_benchmark(letters=letters, database=database, worker_threads=worker_threads),
        as_json,
    )


@bench_app.command(
    "precheck",
    help="Mät svarstiden (p50/p99) för förhandskontroll av en mottagare via API:t, med och "
    "utan cache.",
)
def bench_precheck(
    calls: Annotated[int, typer.Option(help="Mätta anrop per variant.")] = 1000,
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
) -> None:
    """Measure precheck latency (p50/p99) for one recipient through the API, cached and not."""
    from utskick.entrypoints.benchmarks.precheck import run_precheck_benchmark  # noqa: PLC0415

    if calls < 1:
        raise _fail("--calls ska vara minst 1")
    _print_result(run_precheck_benchmark(calls=calls), as_json)


@bench_app.command(
    "print",
    help="Mät rendering, adressering och överlämning till tryckeriet på en kärna, med "
    "minnesåtgång.",
)
def bench_print(
    batch: Annotated[
        list[int] | None,
        typer.Option(help="Brev per batch som lämnas över; kan anges flera gånger."),
    ] = None,
    render_letters: Annotated[int, typer.Option(help="Brev i renderingsmätningen.")] = 2_000,
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
) -> None:
    """Measure print rendering, addressing and hand-over on one core, with memory."""
    from utskick.entrypoints.benchmarks.printing import run_print_benchmark  # noqa: PLC0415

    sizes = batch or [1_000, 5_000, 20_000]
    if min(sizes) < 1 or render_letters < 1:
        raise _fail("--batch och --render-letters ska vara minst 1")
    _print_result(run_print_benchmark(batch_sizes=sizes, render_letters=render_letters), as_json)


# --- printing ------------------------------------------------------------------------------

print_app = typer.Typer(
    help="Printtjänsten: utskriftsbatcher, undantagslistor och överlämning till tryckeriet.",
    no_args_is_help=True,
)
app.add_typer(print_app, name="print")

BATCH_STATE_TEXTS = {
    "open": "öppen",
    "closed": "stängd",
    "handed_over": "lämnad till tryckeriet",
    "printed": "utskriven",
}


def _print_batch_or_fail(session: Session, batch_id: str) -> PrintBatch:
    from utskick.printing.repository import PrintRepository  # noqa: PLC0415

    batch = PrintRepository(session).batch(batch_id)
    if batch is None:
        raise _fail(f"det finns ingen utskriftsbatch {batch_id}; se utskick print batches")
    return batch


@print_app.command("batches", help="Lista utskriftsbatcher, nyaste först.")
def print_batches(
    home: HomeOption = None,
    state: Annotated[
        str | None, typer.Option(help="open, closed, handed_over eller printed.")
    ] = None,
    local: Annotated[
        bool | None, typer.Option("--local/--vendor", help="Bara undantagslistor / tryckerier.")
    ] = None,
    department: Annotated[str | None, typer.Option(help="Bara denna förvaltning.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Skriv JSON.")] = False,
) -> None:
    """List print batches, newest first."""
    from utskick.printing.repository import BatchFilter, PrintRepository  # noqa: PLC0415
    from utskick.printing.views import batch_summary  # noqa: PLC0415

    if state is not None and state not in BATCH_STATE_TEXTS:
        raise _fail(f"okänt läge {state!r}; välj {', '.join(BATCH_STATE_TEXTS)}")
    installation = _installation(home)
    with installation.session() as session:
        batches = PrintRepository(session).batches(
            BatchFilter(state=state, local=local, department=department, limit=200)
        )
        summaries = [batch_summary(batch) for batch in batches]
    if json_out:
        print(json.dumps(summaries, ensure_ascii=False, indent=2, default=str))
        return
    table = Table("batch", "väg", "förvaltning", "läge", "brev", "sidor", "ark", "stängs/stängd")
    for summary in summaries:
        table.add_row(
            str(summary["id"]),
            str(summary["route"]),
            str(summary["department"] or "–"),
            BATCH_STATE_TEXTS.get(str(summary["state"]), str(summary["state"])),
            str(summary["letters"]),
            str(summary["pages"] or "–"),
            str(summary["sheets"] or "–"),
            _minute(summary["closed_at"] or summary["closes_at"]),
        )
    Console().print(table)


def _minute(moment: object) -> str:
    return _local(moment).strftime("%Y-%m-%d %H:%M") if isinstance(moment, dt.datetime) else "–"


# People read times in Swedish local time; the database keeps UTC (naive on SQLite).
_SWEDISH_TIME = ZoneInfo("Europe/Stockholm")


def _local(moment: dt.datetime) -> dt.datetime:
    """A stored time as Swedish local time, for people to read."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(_SWEDISH_TIME)


@print_app.command(
    "close",
    help="Stäng en batch nu; en tryckeribatch lämnas då genast till tryckeriets inlämningsplats.",
)
def print_close(
    batch_id: Annotated[str, typer.Argument(help="Batchens id.")],
    home: HomeOption = None,
) -> None:
    """Close a batch now; a vendor batch is then handed over to the vendor's drop at once."""
    from utskick.entrypoints.bootstrap import utc_now  # noqa: PLC0415
    from utskick.printing.service import PrintBatchError, close_on_command  # noqa: PLC0415

    installation = _installation(home)
    with installation.session() as session:
        try:
            batch = close_on_command(session, batch_id, now=utc_now())
        except PrintBatchError as error:
            raise _fail(str(error)) from None
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
    _hand_over(_installation(home), batch_id)


def _hand_over(installation: Installation, batch_id: str) -> None:
    """Hand a closed batch to its vendor's drop and say where it went."""
    from utskick.entrypoints.bootstrap import utc_now  # noqa: PLC0415
    from utskick.printing.handover import HandoverError, handover_batch  # noqa: PLC0415

    try:
        outcome = handover_batch(
            batch_id,
            sessions=session_factory(installation.engine),
            settings=installation.settings,
            clock=utc_now,
            actor=CLI_ACTOR,
        )
    except HandoverError as error:
        raise _fail(str(error)) from None
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
    from utskick.printing.views import batch_pdf  # noqa: PLC0415

    installation = _installation(home)
    with installation.session() as session:
        batch = _print_batch_or_fail(session, batch_id)
        pdf, letters = batch_pdf(session, batch, installation.settings)
    if letters == 0:
        raise _fail("batchen har inga brev att skriva ut")
    try:
        # Names and addresses: the owner's eyes only.
        write_private_file(out, pdf, make_folders=False)
    except OSError as error:
        raise _fail(f"kan inte skriva {out}: {error.strerror}") from None
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
    from utskick.entrypoints.bootstrap import utc_now  # noqa: PLC0415
    from utskick.printing.service import PrintBatchError, mark_printed  # noqa: PLC0415

    installation = _installation(home)
    with installation.session() as session:
        try:
            marked = mark_printed(
                session, batch_id, letters or None, now=utc_now(), actor=CLI_ACTOR
            )
        except PrintBatchError as error:
            raise _fail(str(error)) from None
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
    from utskick.printing.views import batch_letters  # noqa: PLC0415

    installation = _installation(home)
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


# --- the benefit model and web users -------------------------------------------------------

app.command("nytta", help=NYTTA_HELP)(nytta)
app.add_typer(users_app, name="users")
