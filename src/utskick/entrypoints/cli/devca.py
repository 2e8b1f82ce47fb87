"""`utskick dev-ca`: a test certificate authority for development and the demo, never production."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from utskick.entrypoints.cli.common import errors, fail, passphrase
from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.mm.devca import (
    DevCertificateAuthority,
    write_certificate,
    write_pem_bundle,
    write_pkcs12,
)

ca_app = typer.Typer(
    help="Test-CA för utveckling och demo (aldrig för produktion).", no_args_is_help=True
)

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
    *,
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
        raise fail(str(error)) from None
    key_passphrase = passphrase(passphrase_env)
    authority = DevCertificateAuthority.load_or_create(ca_dir)
    issued = authority.issue_organisation(organisation.organisation_number, name, days=days)
    if out.suffix.lower() in (".p12", ".pfx"):
        if key_passphrase is None:
            raise fail("en PKCS#12-fil kräver lösenfras: ange --passphrase-env")
        write_pkcs12(out, issued, key_passphrase, name)
    else:
        write_pem_bundle(out, issued, key_passphrase)
    if certificate_out is not None:
        write_certificate(certificate_out, issued.certificate)
    errors.print(
        f"Utfärdade certifikat för {name} ({organisation.display}) till {out}; "
        f"CA: {ca_dir / 'ca.pem'}",
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
