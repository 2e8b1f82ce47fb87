"""The `utskick` command: run the service, and tools for integrators.

`utskick mm seal` and `utskick mm verify` let an integrator produce and check exactly what
goes on the wire; `utskick dev-ca` issues test certificates; `utskick bench` measures.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
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
from utskick.mm.signing import SigningError, sign_and_seal
from utskick.mm.soap import MessageTooLargeError, deliver_secure_request
from utskick.mm.verification import (
    TrustStore,
    VerificationError,
    VerificationPolicy,
    verify_sealed_delivery,
)
from utskick.settings import load_settings

app = typer.Typer(help="Utskick: kommunens anslutning till Mina meddelanden.", no_args_is_help=True)
mm_app = typer.Typer(
    help="Mina meddelanden på tråden: försegla och verifiera leveranser.", no_args_is_help=True
)
ca_app = typer.Typer(
    help="Test-CA för utveckling och demo (aldrig för produktion).", no_args_is_help=True
)
db_app = typer.Typer(help="Databasen: migreringar.", no_args_is_help=True)
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


@app.command()
def serve(
    home: Annotated[
        Path | None, typer.Option(help="Mapp för databas och allt tillstånd (standard ./var).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Adress att lyssna på.")] = None,
    port: Annotated[int | None, typer.Option(help="Port att lyssna på.")] = None,
) -> None:
    """Start Utskick with the embedded reference infrastructure and print every URL."""
    import asyncio  # noqa: PLC0415 (only this command needs the servers)

    from rich.table import Table  # noqa: PLC0415

    from utskick.db import migrate  # noqa: PLC0415
    from utskick.db.engine import create_database_engine  # noqa: PLC0415
    from utskick.embedded import prepare_embedded_run  # noqa: PLC0415

    settings = load_settings(home=home, host=host, port=port)
    settings.home.mkdir(parents=True, exist_ok=True)
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


@app.command()
def worker(
    home: Annotated[
        Path | None, typer.Option(help="Installationens mapp (standard UTSKICK_HOME eller ./var).")
    ] = None,
) -> None:
    """Run a worker: claim jobs (classify, deliver, fall back, webhooks) until stopped."""
    from utskick.worker.runner import run_worker  # noqa: PLC0415

    run_worker(load_settings(home=home))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database (UTSKICK_DATABASE_URL, or SQLite in UTSKICK_HOME) to the newest version."""
    from utskick.db import migrate  # noqa: PLC0415
    from utskick.db.engine import create_database_engine  # noqa: PLC0415

    settings = load_settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = create_database_engine(settings.resolved_database_url())
    migrate.upgrade(engine)
    Console().print(f"Databasen är på version {migrate.current_revision(engine)}.")


# --- mm seal / verify ----------------------------------------------------------------------


@mm_app.command("seal")
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
        request = deliver_secure_request(sealed)
    except (DeliveryDocumentError, SigningError, MessageTooLargeError) as error:
        raise _fail(str(error)) from None
    out.write_bytes(request)
    Console(stderr=True).print(
        f"Skrev {out} ({len(request)} byte): {sender.display} → {recipient_id.display}",
        highlight=False,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(f"kan inte läsa {path} som UTF-8-text: {error}") from None


@mm_app.command("verify")
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


@ca_app.command("init")
def ca_init(ca_dir: Annotated[Path, typer.Option(help=_CA_DIR_HELP)] = Path("var/pki")) -> None:
    """Create the test CA (if it does not exist) and print where its certificate is."""
    DevCertificateAuthority.load_or_create(ca_dir)
    print(ca_dir / "ca.pem")


@ca_app.command("issue")
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


@ca_app.command("server")
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


@bench_app.command("sign")
def bench_sign(
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
    seconds: Annotated[float, typer.Option(help="Mättid per delmätning i sekunder.")] = 3.0,
) -> None:
    """Measure sign + seal and verification throughput against raw RSA signing (one core)."""
    from utskick.benchmarks.signing import run_signing_benchmark  # noqa: PLC0415

    _print_result(run_signing_benchmark(seconds=seconds), as_json)


def _print_result(result: Mapping[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(result))
        return
    for name, value in result.items():
        print(f"{name:40} {value}")


@bench_app.command("far")
def bench_far(
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
    seconds: Annotated[float, typer.Option(help="Mättid per delmätning i sekunder.")] = 3.0,
) -> None:
    """Measure the reference FaR's isReachable (1,000 ids per call, HTTPS + mutual TLS)."""
    from utskick.benchmarks.far import run_is_reachable_benchmark  # noqa: PLC0415

    _print_result(run_is_reachable_benchmark(seconds=seconds), as_json)


@bench_app.command("deliver")
def bench_deliver(
    as_json: Annotated[
        bool, typer.Option("--json", help="Skriv resultatet som ett JSON-objekt.")
    ] = False,
    seconds: Annotated[float, typer.Option(help="Mättid per delmätning i sekunder.")] = 3.0,
) -> None:
    """Measure a reference operator's deliverSecure acceptance (verify + store)."""
    from utskick.benchmarks.delivery import run_deliver_secure_benchmark  # noqa: PLC0415

    _print_result(run_deliver_secure_benchmark(seconds=seconds), as_json)

