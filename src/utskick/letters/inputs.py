"""The letter as a sender hands it over, and the checks it must pass before it is stored.

Every check here looks only at the letter itself (identity numbers, texts, attachments, the
address, the size on the wire); the checks that need the database (the sender organisation,
the department, the message type's protection class) are `LetterService`'s. A refused letter
raises `LetterRejectedError` naming the field and saying in Swedish what to do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree

from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.letters import vocabulary
from utskick.letters.models import Letter
from utskick.letters.pdf_check import PdfRefusedError, check_pdf
from utskick.letters.text_checks import attachment_base_name, is_empty_name, refused_character
from utskick.mm import delivery as wire
from utskick.mm.html_body import HtmlBodyError, check_html_body
from utskick.senders.models import SenderOrganisation

ATTACHMENT_CHANNELS = ("both", "digital", "paper")


BODY_TYPES = ("text/plain", "text/html")


# Mina meddelanden takes at most 2 MB per message including attachments, and working
# implementations check the whole SOAP envelope. The unsigned delivery is measured exactly;
# the two signatures (each with its certificate), the seal and the envelope are allowed for.
MAX_WIRE_BYTES = 2 * 1024 * 1024


SIGNATURES_AND_ENVELOPE_BYTES = 10 * 1024


MAX_ATTACHMENTS = 50


MAX_FILENAME_LENGTH = 255


MAX_REFERENCE_LENGTH = 200


MAX_IDEMPOTENCY_KEY_LENGTH = 200


MAX_URL_LENGTH = 1024


PDF_MAGIC = b"%PDF-"


# Characters XML 1.0 cannot carry: such a letter could never be built for the wire.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


_NOT_XML_OR_NEWLINE = re.compile("[\x00-\x1f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class AttachmentInput:
    """A PDF handed over with a letter, sent digitally, on paper or both (`channel`)."""

    filename: str
    content: bytes
    channel: str = "both"
    content_type: str = "application/pdf"


@dataclass(frozen=True)
class LetterInput:
    """A letter as a sending system hands it over, before any check."""

    sender: str
    recipient: str
    subject: str
    body: str
    body_type: str = "text/plain"
    attachments: tuple[AttachmentInput, ...] = ()
    protection_class: int | None = None
    message_type: str | None = None
    policy: str = vocabulary.DIGITAL_OR_PAPER
    department: str | None = None
    eservice_url: str | None = None
    # The letter's own support text (e.g. the officer's contact details); None: the sender
    # organisation's.
    support_text: str | None = None
    case_number: str | None = None
    reference: str | None = None
    idempotency_key: str | None = None
    # For paper: {"name", "lines", "postal_code", "city", "country"}; None: the population
    # register's address is used.
    postal_address: Mapping[str, object] | None = None
    # Whether the population register was asked, before the transaction, that the recipient
    # has no protected identity (see `letters.address_screen`): only then is the address kept.
    address_screened: bool = False
    # Not classified or sent before this time (aware; see `letters.schedule`); None: at once.
    not_before: dt.datetime | None = None
    # None: our address page before the paper attachments; "address-in-window": the first
    # paper attachment's first page carries the address in the window (vocabulary).
    paper_layout: str | None = None


class LetterRejectedError(ValueError):
    """A letter Utskick will not take; `message` says in Swedish what is wrong and what to do."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class IdempotencyConflictError(LetterRejectedError):
    """The idempotency key was used before for a letter with other content (`letter_id`)."""

    def __init__(self, key: str, letter_id: str) -> None:
        self.letter_id = letter_id
        super().__init__(
            "idempotency_key",
            f"idempotensnyckeln {key!r} har redan använts för brevet {letter_id}, som har ett "
            "annat innehåll; ge det nya brevet en egen nyckel, eller skicka exakt samma brev "
            "igen för att få tillbaka det första",
        )


def checked_idempotency_key(key: str | None) -> str | None:
    """The caller's idempotency key as stored (None: none given).

    Raises:
        LetterRejectedError: blank, too long or with characters XML cannot carry.
    """
    if key is None:
        return None
    if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH or _NOT_XML_OR_NEWLINE.search(key):
        raise LetterRejectedError(
            "idempotency_key",
            f"idempotensnyckeln ska ha 1–{MAX_IDEMPOTENCY_KEY_LENGTH} tecken utan styrtecken, "
            "till exempel ärendets id och brevets löpnummer",
        )
    return key


def request_fingerprint(letter: LetterInput) -> str:
    """SHA-256 (hex) of the letter's content as canonical JSON; the idempotency key left out.

    Identity numbers count in their canonical form (`19121212-1212` is `191212121212`) and
    attachments by name, channel and the SHA-256 of their bytes. The address counts as
    screened: for a protected person it is already gone, so no trace of it is kept here. A
    letter's own support text counts only when given, so that the fingerprints of letters
    without one stay what they were before letters could have one.
    """
    content = {
        "sender": _canonical(letter.sender, organisation=True),
        "recipient": _canonical(letter.recipient, organisation=False),
        "subject": letter.subject,
        "body": letter.body,
        "body_type": letter.body_type,
        "attachments": [
            {
                "filename": a.filename,
                "channel": a.channel,
                "content_type": a.content_type,
                "sha256": hashlib.sha256(a.content).hexdigest(),
            }
            for a in letter.attachments
        ],
        "protection_class": letter.protection_class,
        "message_type": letter.message_type,
        "policy": letter.policy,
        "department": letter.department,
        "eservice_url": letter.eservice_url,
        "case_number": letter.case_number,
        "reference": letter.reference,
        "postal_address": dict(letter.postal_address) if letter.postal_address else None,
    }
    if letter.support_text is not None:
        content["support_text"] = letter.support_text
    # Counted only when given, so that earlier letters' fingerprints stay what they were.
    if letter.not_before is not None:
        content["not_before"] = letter.not_before.astimezone(dt.UTC).isoformat()
    if letter.paper_layout is not None:
        content["paper_layout"] = letter.paper_layout
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()


def _canonical(typed: str, *, organisation: bool) -> str:
    try:
        if organisation:
            return parse_organisation(typed).organisation_number
        return parse_identity(typed).value
    except InvalidIdentityError:
        return typed


def same_request(earlier: Letter, letter: LetterInput, fingerprint: str) -> bool:
    """Whether a letter handed over again with a known key is the one stored under it.

    Letters stored before fingerprints were kept are compared on what their row still holds
    (the body may already be removed after delivery; then it is not compared).
    """
    if earlier.request_fingerprint is not None:
        return earlier.request_fingerprint == fingerprint
    stored_digests = [a.sha256 for a in earlier.attachments]
    given_digests = [hashlib.sha256(a.content).hexdigest() for a in letter.attachments]
    return (
        earlier.sender_number == _canonical(letter.sender, organisation=True)
        and earlier.recipient_id == _canonical(letter.recipient, organisation=False)
        and earlier.subject == letter.subject
        and earlier.body_type == letter.body_type
        and (earlier.body is None or earlier.body == letter.body)
        and stored_digests == given_digests
        and earlier.case_number == letter.case_number
        and earlier.reference == letter.reference
        and earlier.support_text == letter.support_text
    )


def recipient_id_for(typed: str, today: dt.date) -> str:
    """The 12-digit RecipientId of the recipient as typed.

    Raises:
        LetterRejectedError: not a valid identity number.
    """
    try:
        return parse_identity(typed, today=today).value
    except InvalidIdentityError as error:
        raise LetterRejectedError(
            "recipient",
            f"mottagaren är inget giltigt identitetsnummer ({error}); ange personnummer, "
            "samordningsnummer eller organisationsnummer med 10 eller 12 siffror",
        ) from None


MAX_ADDRESS_LINES = 4


MAX_ADDRESS_LINE_LENGTH = 60


ADDRESS_NOT_SCREENED = (
    "den angivna adressen kan inte tas emot eftersom folkbokföringen inte kunde frågas om "
    "mottagaren har skyddad identitet; försök igen om en stund, eller skicka brevet utan "
    "adress (då används folkbokföringens)"
)


def checked_address(letter: LetterInput) -> dict[str, object] | None:
    """The caller's postal address, checked and trimmed (None when none was given).

    Only an address screened against the population register is kept: one that was not could
    belong to a person with protected identity, and must then never be written anywhere.
    """
    address = letter.postal_address
    if address is None:
        return None
    if not letter.address_screened:
        raise LetterRejectedError("address", ADDRESS_NOT_SCREENED)
    name = str(address.get("name") or "").strip()
    raw_lines = address.get("lines") or []
    lines = [str(line).strip() for line in raw_lines] if isinstance(raw_lines, list) else []
    postal_code = str(address.get("postal_code") or "").strip()
    city = str(address.get("city") or "").strip()
    country = str(address.get("country") or "").strip() or None
    if not name or not city or not postal_code:
        raise LetterRejectedError(
            "address",
            "en postadress behöver namn, postnummer och ort; utelämna adressen helt för att "
            "använda folkbokföringens",
        )
    if not lines or len(lines) > MAX_ADDRESS_LINES or not all(lines):
        raise LetterRejectedError(
            "address.lines",
            f"ange 1–{MAX_ADDRESS_LINES} adressrader (gata, c/o, box), inga tomma rader",
        )
    for value in (name, *lines, postal_code, city, country or ""):
        refused = refused_character(value)
        if refused is not None:
            raise LetterRejectedError(
                "address", f"adressen innehåller {refused}; ta bort det och skicka igen"
            )
    for value in (name, *lines, f"{postal_code} {city}"):
        if len(value) > MAX_ADDRESS_LINE_LENGTH:
            raise LetterRejectedError(
                "address",
                f"adressraden {value[:20]!r}… är längre än {MAX_ADDRESS_LINE_LENGTH} tecken och "
                "får inte plats i kuvertfönstret; korta den",
            )
    return {
        "name": name,
        "lines": lines,
        "postal_code": postal_code,
        "city": city,
        "country": country,
    }


def check_choice(field: str, value: str, choices: tuple[str, ...], what: str) -> None:
    """Refuse a value that is not one of `choices`, naming `what` it is in Swedish."""
    if value not in choices:
        raise LetterRejectedError(
            field, f"{what} {value!r} finns inte; ange en av {', '.join(choices)}"
        )


def check_text(letter: LetterInput) -> None:
    """Subject, body and the free-text references: present, short enough, XML-safe."""
    subject = letter.subject
    if not subject.strip():
        raise LetterRejectedError("subject", "ämnesraden är tom; skriv vad brevet gäller")
    if len(subject) > wire.MAX_SUBJECT_LENGTH:
        raise LetterRejectedError(
            "subject",
            f"ämnesraden har {len(subject)} tecken; korta den till högst {wire.MAX_SUBJECT_LENGTH}",
        )
    refused = refused_character(subject)
    if refused is not None:
        raise LetterRejectedError(
            "subject",
            f"ämnesraden innehåller {refused}; radbrytningar, styrtecken och riktningstecken "
            "får inte finnas i ämnesraden",
        )
    check_choice("body_type", letter.body_type, BODY_TYPES, "brödtextens typ")
    if not letter.body.strip() and not letter.attachments:
        raise LetterRejectedError("body", "brevet är tomt; skriv en brödtext eller bifoga en PDF")
    if _NOT_XML.search(letter.body):
        raise LetterRejectedError("body", "brödtexten innehåller styrtecken som inte kan skickas")
    if letter.body_type == "text/html":
        try:
            check_html_body(letter.body)
        except HtmlBodyError as error:
            raise LetterRejectedError(
                "body",
                f"{error}; använd bara enkel formatering (p, br, strong, em, listor, tabeller, "
                "rubriker och vanliga länkar)",
            ) from None
    for field, value in (
        ("case_number", letter.case_number),
        ("reference", letter.reference),
        ("message_type", letter.message_type),
    ):
        if value is not None and (
            not value.strip()
            or len(value) > MAX_REFERENCE_LENGTH
            or refused_character(value) is not None
        ):
            raise LetterRejectedError(
                field,
                f"fältet ska ha 1–{MAX_REFERENCE_LENGTH} tecken utan radbrytningar, styrtecken "
                "eller riktningstecken (eller utelämnas)",
            )


def checked_attachments(attachments: tuple[AttachmentInput, ...]) -> tuple[AttachmentInput, ...]:
    """The attachments checked, each under its base name (any folder path removed)."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise LetterRejectedError(
            "attachments", f"brevet har {len(attachments)} bilagor; högst {MAX_ATTACHMENTS}"
        )
    checked = []
    for index, attachment in enumerate(attachments):
        field = f"attachments[{index}]"
        name = _attachment_name(f"{field}.filename", attachment.filename)
        check_choice(f"{field}.channel", attachment.channel, ATTACHMENT_CHANNELS, "kanalen")
        if attachment.content_type != "application/pdf":
            raise LetterRejectedError(
                f"{field}.content_type",
                f"bilagan {name} har typen {attachment.content_type!r}; bara PDF "
                "(application/pdf) kan skickas",
            )
        if not attachment.content.startswith(PDF_MAGIC):
            raise LetterRejectedError(
                f"{field}.content",
                f"bilagan {name} är ingen PDF-fil (den börjar inte med %PDF-); "
                "spara dokumentet som PDF och försök igen",
            )
        try:
            check_pdf(name, attachment.content)
        except PdfRefusedError as error:
            raise LetterRejectedError(f"{field}.content", str(error)) from None
        checked.append(dataclasses.replace(attachment, filename=name))
    return tuple(checked)


def _attachment_name(field: str, filename: str) -> str:
    """The file's base name: a path the sender's system put in front of it is removed."""
    if len(filename) > MAX_FILENAME_LENGTH:
        raise LetterRejectedError(
            field, f"bilagans filnamn har {len(filename)} tecken; högst {MAX_FILENAME_LENGTH}"
        )
    refused = refused_character(filename)
    if refused is not None:
        raise LetterRejectedError(
            field, f"bilagans filnamn innehåller {refused}; ta bort det och skicka igen"
        )
    name = attachment_base_name(filename)
    if is_empty_name(name):
        raise LetterRejectedError(
            field,
            f"bilagans filnamn {filename!r} har inget namn när mappar tagits bort; ange ett "
            "filnamn som beslut.pdf",
        )
    return name


def checked_eservice_url(url: str | None) -> str | None:
    """The e-service link as stored (None: none given).

    Raises:
        LetterRejectedError: not an absolute http(s) URL, or too long.
    """
    if url is None:
        return None
    parts = urlsplit(url.strip())
    if (
        parts.scheme not in ("https", "http")
        or not parts.hostname
        or len(url) > MAX_URL_LENGTH
        or _NOT_XML_OR_NEWLINE.search(url)
        or " " in url.strip()
    ):
        raise LetterRejectedError(
            "eservice_url",
            "länken till e-tjänsten ska vara en fullständig webbadress som börjar med "
            f"https:// (högst {MAX_URL_LENGTH} tecken)",
        )
    return url.strip()


def checked_support_text(text: str | None) -> str | None:
    """The letter's own support text as stored (None: the sender organisation's is used).

    Raises:
        LetterRejectedError: blank, longer than Mina meddelanden takes, or with a character
            that may not stand in it.
    """
    if text is None:
        return None
    if not text.strip():
        raise LetterRejectedError(
            "support_text",
            "supporttexten är tom; skriv vart mottagaren vänder sig med frågor, eller utelämna "
            "fältet för att använda avsändarens supporttext",
        )
    if len(text) > wire.MAX_SUPPORT_TEXT_LENGTH:
        raise LetterRejectedError(
            "support_text",
            f"supporttexten har {len(text)} tecken; korta den till högst "
            f"{wire.MAX_SUPPORT_TEXT_LENGTH}",
        )
    refused = refused_character(text, multiline=True)
    if refused is not None:
        raise LetterRejectedError(
            "support_text", f"supporttexten innehåller {refused}; ta bort det och skicka igen"
        )
    return text


def check_wire_size(
    sender: SenderOrganisation, recipient: str, letter: LetterInput, department: str | None
) -> None:
    """Refuse a letter that would exceed 2 MB as a signed and sealed SOAP request.

    The unsigned delivery is built without the attachments' content and measured; each
    attachment adds its base64 length; the signatures, seal and envelope add a fixed allowance.
    """
    unsized = wire.SecureMessage(
        id=uuid.uuid4().hex,
        subject=letter.subject,
        support_info=wire.SupportInfo(
            text=letter.support_text or sender.support_text,
            url=sender.support_url,
            phone_number=sender.support_phone,
            email_address=sender.support_email,
        ),
        body=letter.body.encode("utf-8"),
        body_content_type=letter.body_type,
        attachments=tuple(
            wire.Attachment(a.filename, b"", a.content_type) for a in letter.attachments
        ),
    )
    delivery = wire.Delivery(
        sender_id=f"16{sender.organisation_number}",
        sender_name=sender.name,
        recipient_id=recipient,
        messages=(unsized,),
        attention=department,
        reference=letter.case_number,
    )
    try:
        skeleton = len(etree.tostring(wire.build_delivery(delivery)))
    except (wire.DeliveryDocumentError, ValueError) as error:
        raise LetterRejectedError(
            "body", f"brevet kan inte byggas för Mina meddelanden: {error}"
        ) from None
    attachments = sum(_base64_length(len(a.content)) for a in letter.attachments)
    total = skeleton + attachments + SIGNATURES_AND_ENVELOPE_BYTES
    if total > MAX_WIRE_BYTES:
        raise LetterRejectedError(
            "attachments" if letter.attachments else "body",
            f"brevet blir {-(-total // 1024)} kB när det skickas; Mina meddelanden tar högst "
            f"{MAX_WIRE_BYTES // 1024} kB (2 MB) inklusive bilagor. Minska bilagorna eller dela "
            "upp brevet",
        )


def _base64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)
