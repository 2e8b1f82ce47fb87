"""`utskick senders key`: install a sender organisation's renewed key, without a restart.

The new PKCS#12 (or PEM) file is checked first: it opens with its passphrase, its
certificate is the organisation's, it is valid now, and it chains to the trusted CA. Then a
copy goes into the installation's key folder (`<home>/keys`, mode 0600) and the sender
points at it. Running processes read a sender's key file again when it changes
(`senders.keys`), so they sign, seal and connect with the new key from their next letter.

A running process has the environment it started with: it knows the passphrase in the
sender's variable as it was then. So when the sender already has a passphrase variable and
the new file came with another passphrase (`--passphrase-env`), the copy is protected with
the passphrase the service already has; the command needs that variable set, as the
service has it.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from rich.console import Console

from utskick.entrypoints.cli.common import (
    HomeOption,
    fail,
    now,
    open_installation,
    passphrase,
    shown_time,
)
from utskick.entrypoints.cli.senders import _own_key, senders_app
from utskick.identity import InvalidIdentityError, RecipientId, parse_organisation
from utskick.mm.keys import (
    KeyLoadError,
    SigningIdentity,
    load_certificates,
    load_signing_identity,
    organisation_number_of,
)
from utskick.mm.private_files import private_folder, write_private_file
from utskick.senders.certificates import fingerprint_of
from utskick.senders.models import SenderOrganisation
from utskick.senders.repository import SenderRepository

KEY_FOLDER = "keys"
# Issuers followed from the certificate towards the trusted CA before giving up.
MAX_CHAIN = 8


@dataclass(frozen=True)
class InstalledKey:
    """What `senders key` did, as `--json` shows it."""

    organisation_number: str
    name: str
    key_path: str
    previous_key_path: str | None
    passphrase_env: str | None
    subject: str
    fingerprint: str
    not_after: str  # ISO 8601, UTC
    restart_needed: bool


@senders_app.command(
    "key",
    help="Byt en avsändarorganisations nyckel och certifikat (t.ex. ett förnyat PKCS#12). "
    "Tjänsten behöver inte startas om: den läser in den nya nyckeln vid nästa brev.",
)
def senders_key(
    *,
    org: Annotated[str, typer.Argument(help="Organisationsnummer.")],
    key: Annotated[
        Path, typer.Option(help="Den nya nyckeln med certifikat (.p12/.pfx eller .pem).")
    ],
    passphrase_env: Annotated[
        str | None,
        typer.Option(
            help="Miljövariabel med den nya filens lösenfras (standard: avsändarens variabel)."
        ),
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option(
            help="CA-certifikat (PEM) som certifikatet ska kedja till "
            "(standard: UTSKICK_TLS_CA_FILE om den är satt)."
        ),
    ] = None,
    home: HomeOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Skriv resultatet som JSON.")] = False,
) -> None:
    """Check a sender's new key and install it; running processes take it at the next letter."""
    organisation = _organisation(org)
    installation = open_installation(home)
    settings = installation.settings
    with installation.session() as session:
        sender = SenderRepository(session).get(organisation.organisation_number)
        if sender is None:
            raise fail(
                f"{organisation.display} finns inte som avsändare; lägg till den med "
                "utskick senders add"
            )
        source_env = passphrase_env or sender.passphrase_env
        identity, chain = _checked_key(key, organisation, source_env, ca or settings.tls_ca_file)
        installed = _install(
            sender,
            key,
            settings.home / KEY_FOLDER,
            identity=identity,
            chain=chain,
            source_env=source_env,
        )
        session.commit()
    if as_json:
        print(json.dumps(asdict(installed), ensure_ascii=False, indent=2))
        return
    _tell(installed, organisation, settings.print_timezone)


def _install(
    sender: SenderOrganisation,
    key: Path,
    folder: Path,
    *,
    identity: SigningIdentity,
    chain: list[x509.Certificate],
    source_env: str | None,
) -> InstalledKey:
    """Store the checked key and point the sender at it (the caller commits)."""
    stored, stored_env = _store(
        folder, key, sender, identity=identity, chain=chain, source_env=source_env
    )
    previous = sender.key_path
    restart_needed = stored_env is not None and stored_env != sender.passphrase_env
    sender.key_path = str(stored)
    sender.passphrase_env = stored_env
    return InstalledKey(
        organisation_number=sender.organisation_number,
        name=sender.name,
        key_path=str(stored),
        previous_key_path=previous,
        passphrase_env=stored_env,
        subject=identity.subject_name,
        fingerprint=fingerprint_of(identity.certificate),
        not_after=identity.certificate.not_valid_after_utc.isoformat(),
        restart_needed=restart_needed,
    )


def _organisation(org: str) -> RecipientId:
    try:
        return parse_organisation(org)
    except InvalidIdentityError as error:
        raise fail(str(error)) from None


def _checked_key(
    key: Path, organisation: RecipientId, passphrase_env: str | None, ca_file: Path | None
) -> tuple[SigningIdentity, list[x509.Certificate]]:
    """The new key and the other certificates in its file, once every check has passed."""
    key_path = _own_key(key, organisation, passphrase_env)
    secret = passphrase(passphrase_env)
    try:
        identity = load_signing_identity(key_path, secret)
    except KeyLoadError as error:
        raise fail(str(error)) from None
    certificate = identity.certificate
    if organisation_number_of(certificate) != organisation.organisation_number:
        raise fail(
            f"certifikatet i {key} har inte organisationsnummer {organisation.display} i "
            "ämnets serialNumber; ange organisationens eget certifikat"
        )
    moment = now()
    if certificate.not_valid_after_utc <= moment:
        raise fail(
            f"certifikatet i {key} gick ut {certificate.not_valid_after_utc:%Y-%m-%d}; "
            "beställ ett nytt hos certifikatutfärdaren"
        )
    if certificate.not_valid_before_utc > moment:
        raise fail(
            f"certifikatet i {key} gäller först från "
            f"{certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC; installera det då"
        )
    chain = _chain_in_file(key_path, secret, certificate)
    if ca_file is not None:
        _check_chain(certificate, chain, ca_file)
    return identity, chain


def _chain_in_file(
    path: Path, secret: bytes | None, certificate: x509.Certificate
) -> list[x509.Certificate]:
    """The certificates in the key file besides the organisation's own (its issuers)."""
    try:
        data = path.read_bytes()
        if b"-----BEGIN" in data:
            found = x509.load_pem_x509_certificates(data) if b"CERTIFICATE-----" in data else []
        else:
            _, _, found = pkcs12.load_key_and_certificates(data, secret)
    except (OSError, ValueError, TypeError, UnsupportedAlgorithm):
        # The file opened a moment ago: it was changed or damaged in between.
        raise fail(
            f"{path} ändrades eller blev oläslig medan den kontrollerades; kör kommandot igen"
        ) from None
    return [other for other in found if other != certificate]


def _check_chain(
    certificate: x509.Certificate, chain: list[x509.Certificate], ca_file: Path
) -> None:
    """The certificate is issued, through the file's own issuers, by a CA in `ca_file`."""
    try:
        anchors = load_certificates(ca_file)
    except KeyLoadError as error:
        raise fail(str(error)) from None
    current = certificate
    for _ in range(MAX_CHAIN):
        if any(_issued_by(current, anchor) for anchor in anchors):
            return
        issuer = next((c for c in chain if c != current and _issued_by(current, c)), None)
        if issuer is None:
            break
        current = issuer
    raise fail(
        f"certifikatet är inte utfärdat av någon CA i {ca_file}; ange utfärdarens "
        "CA-certifikat med --ca, eller kontrollera att det är rätt fil"
    )


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _store(
    folder: Path,
    key: Path,
    sender: SenderOrganisation,
    *,
    identity: SigningIdentity,
    chain: list[x509.Certificate],
    source_env: str | None,
) -> tuple[Path, str | None]:
    """Copy the key into the key folder (0600); the copy and its passphrase variable.

    When the sender already has a passphrase variable and the new file opened with
    another, the copy is protected with the sender's: the running service knows that one.
    """
    private_folder(folder)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target_env = sender.passphrase_env or source_env
    if target_env == source_env:
        target = folder / f"{sender.organisation_number}-{stamp}{key.suffix.lower() or '.p12'}"
        write_private_file(target, key.read_bytes())
        return target, target_env
    service_secret = _service_passphrase(target_env)
    protected = pkcs12.serialize_key_and_certificates(
        sender.name.encode(),
        identity.private_key,
        identity.certificate,
        chain or None,
        serialization.BestAvailableEncryption(service_secret),
    )
    target = folder / f"{sender.organisation_number}-{stamp}.p12"
    write_private_file(target, protected)
    return target, target_env


def _service_passphrase(variable: str | None) -> bytes:
    """The passphrase the service opens the sender's key with, from this environment."""
    value = passphrase(variable) if variable else None
    if not value:
        raise fail(
            f"miljövariabeln {variable} är inte satt (eller tom): det är lösenfrasen som "
            "tjänsten öppnar avsändarens nyckel med, och kopian skyddas med den. Kör "
            "kommandot med samma miljö som tjänsten"
        )
    return value


def _tell(installed: InstalledKey, organisation: RecipientId, zone: str) -> None:
    not_after = dt.datetime.fromisoformat(installed.not_after)
    console = Console(highlight=False)
    console.print(
        f"Den nya nyckeln för {installed.name} ({organisation.display}) är installerad: "
        f"{installed.key_path}\n"
        f"Certifikatet gäller till {shown_time(not_after, zone)} "
        f"(SHA-256 {installed.fingerprint[:16]}…)."
    )
    if installed.restart_needed:
        console.print(
            f"Nyckeln öppnas med lösenfrasen i {installed.passphrase_env}. Tjänstens processer "
            "läser sina miljövariabler när de startar: har de inte redan variabeln satt, "
            "starta om dem med den. Annars läser de in nyckeln vid nästa brev."
        )
        return
    console.print(
        "Tjänstens processer läser in den nya nyckeln vid nästa brev; ingen omstart behövs."
    )
    if installed.previous_key_path:
        console.print(
            f"Den gamla nyckelfilen finns kvar: {installed.previous_key_path} "
            "(ta bort den när det nya certifikatet har fungerat en tid)."
        )
