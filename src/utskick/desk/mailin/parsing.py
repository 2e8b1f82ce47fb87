"""An officer's e-mail read as a letter: recipient, subject, text and PDF attachments.

The recipient is the identity number in the address's local part (`191212121212@…`,
`19121212-1212@…`, `121212-1212@…`, a tag after it left out: `191212121212+beslut@…`); for an
address whose local part is no number (`brev@…`), the first identity number in the subject,
which is then taken out of the subject.

The e-mail is parsed with the standard library's `email` package (its default policy), which
decodes what Outlook and Thunderbird write: multipart/alternative inside multipart/mixed or
multipart/related, quoted-printable and base64, RFC 2047 encoded subjects and file names, and
RFC 2231 file names (`filename*=utf-8''…`, also split in pieces). The letter's text is the
text/plain part (Thunderbird's `format=flowed` joined back into paragraphs), or the text/html
part as text when there is no plain one.

What is refused, the whole e-mail, with a reason in Swedish (`MailRefusedError`):
- an e-mail in more parts than any mail program writes (`MAX_BOUNDARY_LINES`, told from its
  bytes before it is parsed, so that a "MIME bomb" costs nothing), or nested deeper
  (`MAX_DEPTH`);
- no identity number, or one that is not valid (the reason says what is wrong with it);
- no subject, or nothing left of it once the number is taken out;
- HTML that could run something (`html_text`), in any HTML part, used or not;
- any attachment that is not a PDF, judged by its content (`%PDF-`), not its name or type:
  programs, Word files, images, calendar invitations, attached e-mails, Outlook's RTF
  `winmail.dat`;
- images, except the one kind that is ignored: images with `Content-Disposition: inline` and
  a Content-ID that the HTML shows (`<img src="cid:…">`), as Outlook and Thunderbird attach
  a signature's logo. Any other image counts as an attachment and is refused.

Nothing of the e-mail is kept here; the caller stores the letter or refuses it.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import EmailMessage, Message

from utskick.desk.mailin.html_text import ActiveHtmlError, html_to_text
from utskick.identity import InvalidIdentityError, parse_identity
from utskick.letters.inputs import PDF_MAGIC, AttachmentInput

# A local part that is meant as an identity number: digits with a dash or plus before the
# last four (anything else, like `brev`, means "the number is in the subject").
NUMBER_LOCAL_PART = re.compile(r"[0-9][0-9 +-]*")
# A tag after the number (`191212121212+beslut@…`, for the officer's own mail rules): a `+`
# followed by anything but a digit (a `+` before four digits is a centenarian's sign).
_ADDRESS_TAG = re.compile(r"\+(?![0-9]).*", re.DOTALL)
# An identity number written in a subject: 10 or 12 digits, a dash, plus or space before the
# last four allowed, not part of a longer run of digits.
SUBJECT_NUMBER = re.compile(r"(?<![0-9])(?:[0-9]{8}|[0-9]{6})(?:[-+ ]?)[0-9]{4}(?![0-9])")
# What is left around a number taken out of a subject: separators and empty brackets.
_SUBJECT_LEFTOVERS = re.compile(r"\(\s*\)|\[\s*\]")
_SUBJECT_EDGES = " \t:;,.-–—/|"
_BLANK_LINES = re.compile(r"\n{3,}")
# Every MIME part starts at a line beginning with `--` (its boundary); an e-mail with more
# such lines than this is not read. Outlook's and Thunderbird's e-mails have a few dozen.
MAX_BOUNDARY_LINES = 1000
# Multiparts inside multiparts: mail programs nest three or four deep.
MAX_DEPTH = 20
_TOO_MANY_PARTS = (
    "e-brevet har för många delar (fler än ett e-postprogram skriver); skicka brevet som ett "
    "vanligt e-brev med texten och PDF-filerna som bilagor"
)
_TOO_DEEP = (
    "e-brevets delar ligger för djupt i varandra (fler nivåer än ett e-postprogram skriver); "
    "skicka brevet som ett vanligt e-brev med texten och PDF-filerna som bilagor"
)


class MailRefusedError(ValueError):
    """An e-mail that cannot be sent as a letter; `reason` says why in Swedish.

    `recipient` is the identity number as the officer typed it, when it was found (for the
    reply's subject).
    """

    def __init__(self, reason: str, recipient: str | None = None) -> None:
        self.reason = reason
        self.recipient = recipient
        super().__init__(reason)


@dataclass(frozen=True)
class MailLetter:
    """The letter an e-mail asks for: recipient as typed, subject, text, PDFs."""

    recipient: str
    subject: str
    body: str
    attachments: tuple[AttachmentInput, ...]


@dataclass
class _Parts:
    """An e-mail's leaves sorted: text, HTML, inline images, and everything else."""

    plain: list[EmailMessage] = field(default_factory=list)
    html: list[EmailMessage] = field(default_factory=list)
    inline_images: list[EmailMessage] = field(default_factory=list)
    files: list[Message] = field(default_factory=list)


def read_message(raw: bytes) -> EmailMessage:
    """The e-mail as the standard library reads it (default policy).

    Raises:
        MailRefusedError: the e-mail has far more parts than e-mail programs write, or they
            are nested too deep to be read.
    """
    if raw.count(b"\n--") + raw.startswith(b"--") > MAX_BOUNDARY_LINES:
        raise MailRefusedError(_TOO_MANY_PARTS)
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except RecursionError:
        raise MailRefusedError(_TOO_DEEP) from None
    if not isinstance(message, EmailMessage):  # pragma: no cover (the default policy's class)
        raise MailRefusedError("e-brevet kunde inte läsas")
    return message


def identity_in_address(address: str) -> str | None:
    """The identity number an address's local part holds, as typed; None for no number.

    Raises:
        MailRefusedError: the local part is meant as a number but is no valid one.
    """
    local_part = address.rpartition("@")[0].strip('"')
    untagged = _ADDRESS_TAG.sub("", local_part)
    if NUMBER_LOCAL_PART.fullmatch(untagged):
        local_part = untagged
    if not NUMBER_LOCAL_PART.fullmatch(local_part):
        return None
    try:
        parse_identity(local_part)
    except InvalidIdentityError as error:
        raise MailRefusedError(
            f"numret i adressen ({local_part}) är inget giltigt person-, samordnings- eller "
            f"organisationsnummer: {error.problem}. Rätta adressen, till exempel "
            "191212121212@…"
        ) from None
    return local_part


def identity_in_subject(subject: str) -> tuple[str, str]:
    """The first identity number in a subject, and the subject without it.

    Raises:
        MailRefusedError: no number in the subject, or the first one is not valid.
    """
    found = SUBJECT_NUMBER.search(subject)
    if found is None:
        raise MailRefusedError(
            "e-brevet säger inte vem brevet ska till: skriv mottagarens personnummer, "
            "samordningsnummer eller organisationsnummer som adress (till exempel "
            "191212121212@…) eller i ämnesraden"
        )
    typed = found.group()
    try:
        parse_identity(typed)
    except InvalidIdentityError as error:
        raise MailRefusedError(
            "numret i ämnesraden är inget giltigt person-, samordnings- eller "
            f"organisationsnummer: {error.problem}. Rätta numret och skicka e-brevet igen"
        ) from None
    rest = subject[: found.start()] + " " + subject[found.end() :]
    rest = _SUBJECT_LEFTOVERS.sub(" ", rest)
    return typed, " ".join(rest.split()).strip(_SUBJECT_EDGES)


def letter_from_mail(message: EmailMessage, recipient_address: str) -> MailLetter:
    """The letter an officer's e-mail to `recipient_address` asks for.

    Raises:
        MailRefusedError: the e-mail cannot be sent as a letter, with the reason.
    """
    subject = " ".join(_header(message, "subject").split())
    typed = identity_in_address(recipient_address)
    if typed is None:
        typed, subject = identity_in_subject(subject)
    if not subject:
        raise MailRefusedError(
            "e-brevet har ingen ämnesrad (utöver mottagarens nummer); skriv vad brevet gäller i "
            "ämnesraden, den blir brevets rubrik",
            typed,
        )
    parts = _Parts()
    try:
        _sort(message, parts)
        body, content_ids = _text(parts)
        attachments = _attachments(parts, content_ids)
    except MailRefusedError as error:
        raise MailRefusedError(error.reason, typed) from None
    return MailLetter(typed, subject, body, attachments)


def _header(message: EmailMessage, name: str) -> str:
    try:
        return str(message.get(name, "") or "")
    except (ValueError, IndexError, LookupError):
        return ""


def _sort(part: Message, parts: _Parts, depth: int = 0) -> None:
    """Sort the leaves of `part` into `parts`, depth first, in the e-mail's order."""
    maintype = part.get_content_maintype()
    if maintype == "message":
        raise MailRefusedError(
            "e-brevet har ett annat e-brev som bilaga; bara PDF-filer kan skickas som bilagor"
        )
    if part.is_multipart():
        if depth >= MAX_DEPTH:
            raise MailRefusedError(_TOO_DEEP)
        for child in part.get_payload():
            if isinstance(child, Message):
                _sort(child, parts, depth + 1)
        return
    disposition = part.get_content_disposition()
    content_type = part.get_content_type()
    named = part.get_filename() is not None
    if (
        isinstance(part, EmailMessage)
        and content_type in ("text/plain", "text/html")
        and disposition != "attachment"
        and not named
    ):
        (parts.plain if content_type == "text/plain" else parts.html).append(part)
    elif isinstance(part, EmailMessage) and maintype == "image" and disposition == "inline":
        parts.inline_images.append(part)
    else:
        parts.files.append(part)


def _text(parts: _Parts) -> tuple[str, set[str]]:
    """The letter's text, and the Content-IDs the HTML shows (every HTML part is checked).

    Raises:
        MailRefusedError: an HTML part could run something.
    """
    html_texts = []
    content_ids: set[str] = set()
    for part in parts.html:
        try:
            read = html_to_text(_decoded_text(part))
        except ActiveHtmlError as error:
            raise MailRefusedError(
                f"e-brevets HTML innehåller {error.finding}, som skulle kunna köra kod hos "
                "mottagaren; sådana e-brev tas inte emot. Skicka brevet som vanlig text, "
                "eller utan det innehållet"
            ) from None
        html_texts.append(read.text)
        content_ids |= read.content_ids
    texts = [_plain_text(part) for part in parts.plain] if parts.plain else html_texts
    body = "\n\n".join(text for text in texts if text.strip())
    return _BLANK_LINES.sub("\n\n", body).strip(), content_ids


def _decoded_text(part: EmailMessage) -> str:
    """A text part's content in its own charset (a wrong or unknown one: as UTF-8)."""
    try:
        content = part.get_content()
    except (LookupError, UnicodeDecodeError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
    text = str(content)
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _plain_text(part: EmailMessage) -> str:
    """A text/plain part's text, `format=flowed` (RFC 3676, Thunderbird) joined back."""
    text = _decoded_text(part)
    if str(part.get_param("format", "")).lower() != "flowed":
        return "\n".join(line.rstrip() for line in text.split("\n"))
    delete_space = str(part.get_param("delsp", "")).lower() == "yes"
    lines: list[str] = []
    pending = ""
    for raw in text.split("\n"):
        line = raw.removeprefix(" ")  # space-stuffing undone
        soft = line.endswith(" ") and line != "-- "  # "-- " starts a signature
        if soft:
            pending += line[:-1] if delete_space else line
            continue
        lines.append((pending + line).rstrip())
        pending = ""
    if pending:
        lines.append(pending.rstrip())
    return "\n".join(lines)


def _attachments(parts: _Parts, content_ids: set[str]) -> tuple[AttachmentInput, ...]:
    """The PDFs, in the e-mail's order; every other file refuses the e-mail.

    Raises:
        MailRefusedError: an attachment that is no PDF, or an image the text does not show.
    """
    for image in parts.inline_images:
        content_id = str(image.get("content-id", "")).strip().strip("<>")
        if not content_id or content_id not in content_ids:
            parts.files.append(image)
    attachments = []
    for number, part in enumerate(parts.files, start=1):
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        if not content.startswith(PDF_MAGIC):
            raise MailRefusedError(_not_a_pdf(number, part))
        name = " ".join((part.get_filename() or "").split()) or f"bilaga-{number}.pdf"
        if not name.lower().endswith(".pdf"):
            name += ".pdf"
        attachments.append(AttachmentInput(filename=name, content=content))
    return tuple(attachments)


def _not_a_pdf(number: int, part: Message) -> str:
    """Why an attachment is refused, naming its kind (never its name: it may say too much)."""
    content_type = part.get_content_type()
    if content_type == "application/ms-tnef":
        return (
            "Outlook skickade e-brevet i RTF-format (winmail.dat), som inte kan läsas; ställ in "
            "e-brevet på HTML eller oformaterad text och skicka det igen"
        )
    filename = part.get_filename() or ""
    suffix = filename.rpartition(".")[2].lower() if "." in filename else ""
    readable = suffix.isascii() and suffix.isalnum() and len(suffix) <= 5  # noqa: PLR2004
    kind = f".{suffix}-fil" if readable else content_type
    return (
        f"bilaga {number} ({kind}) är ingen PDF-fil; bara PDF-filer kan skickas som bilagor. "
        "Spara dokumentet som PDF, eller ta bort bilagan, och skicka e-brevet igen"
    )
