"""`utskick mm seal` and `utskick mm verify`: exactly what goes on the wire, for integrators.

An integrator produces a signed and sealed delivery with `seal`, and checks one (theirs or
ours) with `verify`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from utskick.entrypoints.cli.common import (
    BodyFileOption,
    BodyOption,
    HtmlOption,
    RecipientOption,
    SubjectOption,
    body_text,
    errors,
    fail,
    passphrase,
)
from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.mm.delivery import (
    Attachment,
    Delivery,
    DeliveryDocumentError,
    SecureMessage,
    SupportInfo,
)
from utskick.mm.keys import KeyLoadError, SigningIdentity, load_certificates, load_signing_identity
from utskick.mm.private_files import write_private_file
from utskick.mm.signing import SigningError, sign_and_seal
from utskick.mm.soap import MessageTooLargeError, WireForm, deliver_secure_request
from utskick.mm.verification import (
    TrustStore,
    VerificationError,
    VerificationPolicy,
    verify_sealed_delivery,
)

mm_app = typer.Typer(
    help="Mina meddelanden på tråden: försegla och verifiera leveranser.", no_args_is_help=True
)


@mm_app.command(
    "seal", help="Skriv ett SOAP-anrop (deliverSecure) med en signerad och förseglad leverans."
)
def mm_seal(
    *,
    key: Annotated[Path, typer.Option(help="Avsändarens nyckel och certifikat (.p12 eller .pem).")],
    sender_org: Annotated[str, typer.Option(help="Avsändarens organisationsnummer.")],
    sender_name: Annotated[str, typer.Option(help="Avsändarens namn.")],
    recipient: RecipientOption,
    subject: SubjectOption,
    out: Annotated[Path, typer.Option(help="Fil att skriva SOAP-anropet till.")],
    seal_key: Annotated[
        Path | None, typer.Option(help="Förmedlarens nyckel (standard: avsändarens).")
    ] = None,
    passphrase_env: Annotated[
        str | None, typer.Option(help="Miljövariabel med lösenfrasen till nycklarna.")
    ] = None,
    body: BodyOption = None,
    body_file: BodyFileOption = None,
    html: HtmlOption = False,
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
    text = body_text(body, body_file)
    try:
        sender = parse_organisation(sender_org)
        recipient_id = parse_identity(recipient)
    except InvalidIdentityError as error:
        raise fail(str(error)) from None
    sender_key, sealer_key = _signing_keys(key, seal_key, passphrase(passphrase_env))
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
    request = _sealed_request(delivery, sender_key, sealer_key, wire_form)
    # The request carries a letter and the recipient's personnummer: the owner's eyes only.
    write_private_file(out, request, make_folders=False)
    Console(stderr=True).print(
        f"Skrev {out} ({len(request)} byte, trådform {wire_form}): "
        f"{sender.display} → {recipient_id.display}",
        highlight=False,
    )


def _signing_keys(
    key: Path, seal_key: Path | None, key_passphrase: bytes | None
) -> tuple[SigningIdentity, SigningIdentity]:
    """The sender's key, and the sealer's (the sender's when no other is given)."""
    try:
        sender_key = load_signing_identity(key, key_passphrase)
        sealer_key = load_signing_identity(seal_key, key_passphrase) if seal_key else sender_key
    except KeyLoadError as error:
        raise fail(str(error)) from None
    return sender_key, sealer_key


def _pdf_attachment(path: Path) -> Attachment:
    try:
        content = path.read_bytes()
    except OSError as error:
        raise fail(f"kan inte läsa bilagan {path}: {error.strerror}") from None
    if not content.startswith(b"%PDF-"):
        raise fail(f"{path} är ingen PDF-fil; bilagor skickas som PDF")
    return Attachment(filename=path.name, content=content, content_type="application/pdf")


def _sealed_request(
    delivery: Delivery,
    sender_key: SigningIdentity,
    sealer_key: SigningIdentity,
    wire_form: WireForm,
) -> bytes:
    """The delivery signed, sealed and wrapped in a deliverSecure request."""
    try:
        sealed = sign_and_seal(
            delivery, sender_key, sealer_key, received_on=dt.datetime.now(dt.UTC).date()
        )
        return deliver_secure_request(sealed, wire_form)
    except (DeliveryDocumentError, SigningError, MessageTooLargeError) as error:
        raise fail(str(error)) from None


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
        list[Path],
        typer.Option(help="Betrott certifikat eller CA (PEM eller DER); kan anges flera gånger."),
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
        raise fail(str(error)) from None
    except ValueError:
        raise fail(
            f"--at {at!r} är ingen tidpunkt i ISO 8601 (t.ex. 2020-06-01T12:00:00Z)"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    try:
        document = file.read_bytes()
    except OSError as error:
        raise fail(f"kan inte läsa {file}: {error.strerror}") from None
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
