"""Accepting and cancelling letters: every check a letter must pass before Utskick takes it.

A letter is accepted only whole: every check runs before anything is added to the session,
so a refused letter leaves nothing behind. An accepted letter is stored with its
attachments, its first event (`received`) and its first job (`classify`) in the caller's
transaction; the caller commits, and only then does the letter count as accepted.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from lxml import etree
from sqlalchemy.orm import Session

from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.jobs.models import Job
from utskick.jobs.queue import CLASSIFY
from utskick.letters import events, vocabulary
from utskick.letters.models import Letter, LetterAttachment
from utskick.letters.pdf_check import PdfRefusedError, check_pdf
from utskick.letters.repository import LetterRepository
from utskick.letters.text_checks import attachment_base_name, is_empty_name, refused_character
from utskick.mm import delivery as wire
from utskick.mm.html_body import HtmlBodyError, check_html_body
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings

ATTACHMENT_CHANNELS = ("both", "digital", "paper")
BODY_TYPES = ("text/plain", "text/html")
SENDABLE_PROTECTION_CLASSES = (1, 2, 3)
REFUSED_PROTECTION_CLASS = 4

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


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


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
    case_number: str | None = None
    reference: str | None = None
    idempotency_key: str | None = None
    # For paper: {"name", "lines", "postal_code", "city", "country"}; None: the population
    # register's address is used.
    postal_address: Mapping[str, object] | None = None
    # Whether the population register was asked, before the transaction, that the recipient
    # has no protected identity (see `letters.address_screen`): only then is the address kept.
    address_screened: bool = False


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


class LetterNotFoundError(LookupError):
    """No such letter for this sending system (another system's letters do not exist for it)."""

    def __init__(self, letter_id: str) -> None:
        self.letter_id = letter_id
        super().__init__(f"brevet {letter_id} finns inte")


class LetterNotCancellableError(ValueError):
    """The letter has gone out, or may have, so it can no longer be cancelled."""


@dataclasses.dataclass(frozen=True)
class _CheckedLetter:
    """What the checks of a letter found or normalised, ready to store."""

    sender_number: str
    department: str | None
    recipient: str
    protection_class: int
    attachments: tuple[AttachmentInput, ...]
    eservice_url: str | None
    postal_address: dict[str, object] | None


class LetterService:
    """Accepts letters from sending systems and cancels them while nothing has gone out."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.session = session
        self.settings = settings
        self.clock = clock
        self.letters = LetterRepository(session)
        self.senders = SenderRepository(session)
        # Sender organisations looked up once per service (a batch accepts thousands of
        # letters from the same one; each lookup would also flush the letters before it).
        self._sender_cache: dict[str, SenderOrganisation | None] = {}

    def accept(
        self,
        system: SendingSystem,
        letter: LetterInput,
        *,
        actor: str,
        batch_id: str | None = None,
    ) -> tuple[Letter, bool]:
        """Check a letter and store it with its first event and job (the caller commits).

        A letter with an idempotency key the system has used before is not checked or stored
        again: the letter stored the first time is returned, if this one has the same content
        (the same request fingerprint); a letter with other content is refused.

        Args:
            system: the sending system handing the letter over.
            letter: the letter as handed over.
            actor: who hands it over, for the event log (`api:<system>`, `cli`).
            batch_id: the batch the letter arrived in, if any.

        Returns:
            The letter and whether it was created now (False: a replay of an earlier one).

        Raises:
            IdempotencyConflictError: the key was used for a letter with other content.
            LetterRejectedError: naming the field and saying, in Swedish, what to do.
        """
        key = _idempotency_key(letter.idempotency_key)
        fingerprint = request_fingerprint(letter)
        if key is not None:
            earlier = self.letters.find_by_idempotency_key(system.id, key)
            if earlier is not None:
                if not _same_request(earlier, letter, fingerprint):
                    raise IdempotencyConflictError(key, earlier.id)
                return earlier, False
        now = self.clock()
        checked = self._checked(system, letter, now)
        stored = self._new_letter(system, letter, checked, now)
        stored.idempotency_key = key or stored.id
        stored.batch_id = batch_id
        stored.request_fingerprint = fingerprint
        self.letters.add(stored)
        events.record(self.session, stored, vocabulary.RECEIVED, actor=actor, now=now)
        self.session.add(
            Job(kind=CLASSIFY, letter_id=stored.id, run_at=now, attempts=0, created_at=now)
        )
        return stored, True

    def _checked(
        self, system: SendingSystem, letter: LetterInput, now: dt.datetime
    ) -> _CheckedLetter:
        """Every check of a letter, in the order a sender fixes them; nothing is stored.

        Raises:
            LetterRejectedError: naming the field and saying, in Swedish, what to do.
        """
        sender = self._sender(system, letter.sender)
        department = self._department(system, letter.department)
        recipient = _recipient(letter.recipient, now.date())
        protection_class = self._protection_class(letter)
        _check_choice("policy", letter.policy, vocabulary.POLICIES, "sändningspolicyn")
        _check_text(letter)
        attachments = _attachments(letter.attachments)
        eservice_url = _eservice_url(letter.eservice_url)
        postal_address = _checked_address(letter)
        _check_wire_size(
            sender, recipient, dataclasses.replace(letter, attachments=attachments), department
        )
        return _CheckedLetter(
            sender_number=sender.organisation_number,
            department=department,
            recipient=recipient,
            protection_class=protection_class,
            attachments=attachments,
            eservice_url=eservice_url,
            postal_address=postal_address,
        )

    def _new_letter(
        self,
        system: SendingSystem,
        letter: LetterInput,
        checked: _CheckedLetter,
        now: dt.datetime,
    ) -> Letter:
        """The letter row with its attachments, as checked; received now."""
        letter_id = str(uuid.uuid4())
        return Letter(
            id=letter_id,
            sending_system_id=system.id,
            sender_number=checked.sender_number,
            department=checked.department,
            recipient_id=checked.recipient,
            subject=letter.subject,
            body_type=letter.body_type,
            body=letter.body,
            protection_class=checked.protection_class,
            message_type=letter.message_type,
            policy=letter.policy,
            eservice_url=checked.eservice_url,
            case_number=letter.case_number,
            reference=letter.reference,
            postal_address=checked.postal_address,
            message_id=uuid.uuid4().hex,
            created_at=now,
            deliver_by=(
                now + dt.timedelta(seconds=self.settings.fallback_after_seconds)
                if letter.policy == vocabulary.DIGITAL_OR_PAPER
                else None
            ),
            state=vocabulary.RECEIVED,
            updated_at=now,
            attachments=[
                LetterAttachment(
                    position=position,
                    filename=attachment.filename,
                    content_type=attachment.content_type,
                    channel=attachment.channel,
                    size=len(attachment.content),
                    sha256=hashlib.sha256(attachment.content).hexdigest(),
                    content=attachment.content,
                )
                for position, attachment in enumerate(checked.attachments, start=1)
            ],
        )

    def cancel(self, system: SendingSystem, letter_id: str, *, actor: str) -> Letter:
        """Cancel a letter before anything went out; its pending work is dropped (caller commits).

        Raises:
            LetterNotFoundError: no such letter for this system.
            LetterNotCancellableError: the letter has gone out, or a delivery may have reached
                its operator (an attempt is under way or was made), so cancelling could lie.
        """
        letter = self.letters.get_for_system(system.id, letter_id, for_update=True)
        if letter is None:
            raise LetterNotFoundError(letter_id)
        now = self.clock()
        if letter.state in vocabulary.TERMINAL_STATES:
            raise LetterNotCancellableError(
                f"brevet kan inte makuleras: det är redan avslutat ({letter.state})"
            )
        if letter.state == vocabulary.BATCHED:
            raise LetterNotCancellableError(
                "brevet kan inte makuleras: det ligger redan i en utskriftsbatch; kontakta "
                "utskriftsrummet om batchen ännu inte är skickad till tryckeriet"
            )
        if letter.state == vocabulary.RETRYING or self.letters.delivery_started(letter.id, now):
            raise LetterNotCancellableError(
                "brevet kan inte makuleras: ett leveransförsök har redan gjorts och brevet kan ha "
                "nått mottagarens brevlåda; följ brevets händelser för att se hur det gick"
            )
        if self.letters.work_in_flight(letter.id, now):
            raise LetterNotCancellableError(
                "brevet kan inte makuleras just nu: det behandlas i detta ögonblick; "
                "försök igen om en stund"
            )
        self.letters.delete_pending_work(letter.id)
        events.record(
            self.session,
            letter,
            vocabulary.CANCELLED,
            actor=actor,
            now=now,
            reason=vocabulary.CANCELLED,
            detail="Brevet makulerades av avsändaren innan det skickades.",
            channel="none",
        )
        return letter

    # --- checks --------------------------------------------------------------------------

    def _sender(self, system: SendingSystem, typed: str) -> SenderOrganisation:
        try:
            number = parse_organisation(typed).organisation_number
        except InvalidIdentityError as error:
            raise LetterRejectedError(
                "sender",
                f"avsändaren ska vara ett organisationsnummer ({error}); "
                "ange avsändarorganisationens tio siffror, till exempel 202100-4748",
            ) from None
        if number not in self._sender_cache:
            self._sender_cache[number] = self.senders.get(number)
        sender = self._sender_cache[number]
        if sender is None:
            raise LetterRejectedError(
                "sender",
                f"avsändarorganisationen {number} finns inte i Utskick; ange en av de "
                "avsändare som är upplagda, eller be förvaltningen lägga till den",
            )
        if number not in system.sender_numbers:
            raise LetterRejectedError(
                "sender",
                f"systemet {system.name} får inte skicka för avsändaren {number}; "
                f"det får skicka för {', '.join(system.sender_numbers) or 'ingen avsändare'}",
            )
        if (
            not sender.support_text.strip()
            or len(sender.support_text) > wire.MAX_SUPPORT_TEXT_LENGTH
        ):
            raise LetterRejectedError(
                "sender",
                f"avsändaren {number} saknar en giltig supporttext (1–"
                f"{wire.MAX_SUPPORT_TEXT_LENGTH} tecken), som varje brev i Mina meddelanden "
                "måste ha; be förvaltningen lägga in den för avsändaren",
            )
        refused = refused_character(sender.support_text, multiline=True)
        if refused is not None:
            raise LetterRejectedError(
                "sender",
                f"avsändaren {number} har en supporttext med {refused}; be förvaltningen "
                "rätta supporttexten för avsändaren",
            )
        return sender

    @staticmethod
    def _department(system: SendingSystem, department: str | None) -> str | None:
        if department is not None:
            department = department.strip() or None
        if department is not None and (
            len(department) > MAX_REFERENCE_LENGTH or refused_character(department) is not None
        ):
            raise LetterRejectedError(
                "department",
                f"förvaltningen/funktionen får ha högst {MAX_REFERENCE_LENGTH} tecken "
                "och inga styrtecken eller riktningstecken",
            )
        if system.departments is None:
            return department
        allowed = ", ".join(system.departments) or "ingen"
        if department is None:
            raise LetterRejectedError(
                "department",
                f"ange förvaltning eller funktion; systemet {system.name} får skicka för: "
                f"{allowed}",
            )
        if department not in system.departments:
            raise LetterRejectedError(
                "department",
                f"systemet {system.name} får inte skicka för {department!r}; "
                f"det får skicka för: {allowed}",
            )
        return department

    def _protection_class(self, letter: LetterInput) -> int:
        chosen = letter.protection_class
        if letter.message_type is not None:
            message_type = self.letters.message_type(letter.message_type)
            if message_type is None:
                raise LetterRejectedError(
                    "message_type",
                    f"meddelandetypen {letter.message_type!r} finns inte; ange en upplagd "
                    "meddelandetyp eller utelämna fältet och ange skyddsklass",
                )
            if chosen is None:
                chosen = message_type.protection_class
        if chosen is None:
            raise LetterRejectedError(
                "protection_class",
                "ange skyddsklass (1, 2 eller 3), eller en meddelandetyp som har en",
            )
        if chosen == REFUSED_PROTECTION_CLASS:
            raise LetterRejectedError(
                "protection_class",
                "skyddsklass 4 får inte skickas via Mina meddelanden; skicka informationen "
                "på ett annat sätt som klassningen tillåter",
            )
        if chosen not in SENDABLE_PROTECTION_CLASSES:
            raise LetterRejectedError(
                "protection_class", f"skyddsklassen {chosen} finns inte; ange 1, 2 eller 3"
            )
        return chosen


def _idempotency_key(key: str | None) -> str | None:
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
    screened: for a protected person it is already gone, so no trace of it is kept here.
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
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", errors="surrogatepass")).hexdigest()


def _canonical(typed: str, *, organisation: bool) -> str:
    try:
        if organisation:
            return parse_organisation(typed).organisation_number
        return parse_identity(typed).value
    except InvalidIdentityError:
        return typed


def _same_request(earlier: Letter, letter: LetterInput, fingerprint: str) -> bool:
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
    )


def _recipient(typed: str, today: dt.date) -> str:
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


def _checked_address(letter: LetterInput) -> dict[str, object] | None:
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


def _check_choice(field: str, value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise LetterRejectedError(
            field, f"{what} {value!r} finns inte; ange en av {', '.join(choices)}"
        )


def _check_text(letter: LetterInput) -> None:
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
    _check_choice("body_type", letter.body_type, BODY_TYPES, "brödtextens typ")
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


def _attachments(attachments: tuple[AttachmentInput, ...]) -> tuple[AttachmentInput, ...]:
    """The attachments checked, each under its base name (any folder path removed)."""
    if len(attachments) > MAX_ATTACHMENTS:
        raise LetterRejectedError(
            "attachments", f"brevet har {len(attachments)} bilagor; högst {MAX_ATTACHMENTS}"
        )
    checked = []
    for index, attachment in enumerate(attachments):
        field = f"attachments[{index}]"
        name = _attachment_name(f"{field}.filename", attachment.filename)
        _check_choice(f"{field}.channel", attachment.channel, ATTACHMENT_CHANNELS, "kanalen")
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


def _eservice_url(url: str | None) -> str | None:
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


def _check_wire_size(
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
            text=sender.support_text,
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
