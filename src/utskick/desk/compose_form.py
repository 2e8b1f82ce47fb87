"""The compose page's form: its fields, reading a sent form, and where a refusal is shown.

The form is read by hand rather than by FastAPI's parameters so that a field that is too
long or a file that is too large becomes a Swedish message beside its field, with everything
else the officer typed kept, instead of a bare 422.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from utskick.desk.sending import DeskDraft
from utskick.letters.inputs import (
    ATTACHMENT_CHANNELS,
    MAX_ATTACHMENTS,
    MAX_WIRE_BYTES,
    AttachmentInput,
    LetterRejectedError,
)

# Each text field of the form: its name, the id of its input on the page, its longest value.
FIELDS: dict[str, tuple[str, int]] = {
    "recipient": ("mottagare", 40),
    "message_type": ("meddelandetyp", 64),
    "subject": ("amne", 400),
    "body": ("text", 1_000_000),
    "attachments": ("bilagor", 0),
    "eservice_url": ("etjanst", 2000),
    "case_number": ("diarienummer", 400),
    "reference": ("referens", 400),
    "contact_email": ("kontakt-epost", 400),
    "contact_phone": ("kontakt-telefon", 400),
    "address_name": ("adress-namn", 400),
    "address_lines": ("adress-rader", 1000),
    "address_postal_code": ("adress-postnummer", 40),
    "address_city": ("adress-ort", 200),
}
# Fields only the page itself fills in.
HIDDEN_FIELDS = ("idempotency_key",)
USE_CONTACT = "use_contact"
CHANNEL_FIELD = "attachment_channel"
FORM_LEVEL = "form"

# A letter is at most 2 MB on the wire, its attachments as base64; a form much larger than
# that cannot hold a letter that can be sent, and is refused before it is read.
MAX_FORM_BYTES = 3 * MAX_WIRE_BYTES
TOO_LARGE = (
    "bilagorna är för stora: ett brev får vara högst 2 MB i Mina meddelanden, inklusive "
    "bilagor; minska bilagorna eller dela upp brevet"
)
UNREADABLE = "formuläret kunde inte läsas; ladda om sidan och försök igen"

# Where the letter service's fields are shown on the page.
_SERVICE_FIELDS = {
    "protection_class": "message_type",
    "body_type": "body",
    # The letter's support text is the officer's contact paragraph, made from these fields.
    "support_text": "contact_email",
}
_ATTACHMENT_FIELD = re.compile(r"attachments(\[\d+\].*)?")
_ADDRESS_FIELD = re.compile(r"address(\..*)?")


@dataclass(frozen=True)
class FieldError:
    """A refusal as the page shows it: the field's input, and the message."""

    field: str
    message: str

    @property
    def input_id(self) -> str | None:
        """The id of the input the message belongs to (None: the whole form)."""
        entry = FIELDS.get(self.field)
        return entry[0] if entry else None


@dataclass(frozen=True)
class SubmittedForm:
    """A sent form: what was typed (to show again) and the draft made of it."""

    values: dict[str, str]
    draft: DeskDraft
    attachment_names: tuple[str, ...] = field(default=())


def field_error(error: LetterRejectedError) -> FieldError:
    """Where the page shows a refusal of the letter service (or of the form)."""
    name = _SERVICE_FIELDS.get(error.field, error.field)
    if _ATTACHMENT_FIELD.fullmatch(name):
        name = "attachments"
    elif _ADDRESS_FIELD.fullmatch(name):
        name = "address_name"
    message = error.message[:1].upper() + error.message[1:]
    return FieldError(name if name in FIELDS else FORM_LEVEL, message)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def _optional(value: str) -> str | None:
    return value.strip() or None


def _values(form: FormData) -> dict[str, str]:
    """Every text field as typed (the body as typed, the one-line fields trimmed).

    Raises:
        LetterRejectedError: a field longer than any letter could use.
    """
    values = {}
    for name, (_, longest) in FIELDS.items():
        if name == "attachments":
            continue
        value = _text(form, name)
        if len(value) > longest:
            raise LetterRejectedError(name, f"fältet är för långt ({len(value)} tecken)")
        values[name] = value if name in ("body", "address_lines") else value.strip()
    for name in HIDDEN_FIELDS:
        values[name] = _text(form, name).strip()[:300]
    values[USE_CONTACT] = "1" if _text(form, USE_CONTACT) else ""
    return values


def _postal_address(values: dict[str, str]) -> dict[str, object] | None:
    """The address given for paper, or None when none of its fields is filled in."""
    lines = [line.strip() for line in values["address_lines"].splitlines() if line.strip()]
    parts = (values["address_name"], values["address_postal_code"], values["address_city"])
    if not lines and not any(parts):
        return None
    return {"name": parts[0], "lines": lines, "postal_code": parts[1], "city": parts[2]}


async def _attachments(form: FormData) -> tuple[AttachmentInput, ...]:
    """The PDFs sent with the form, each with the channel chosen for it (default both).

    Raises:
        LetterRejectedError: too many, too large together, or an unknown channel.
    """
    uploads = [
        item
        for item in form.getlist("attachments")
        if isinstance(item, UploadFile) and (item.filename or item.size)
    ]
    if len(uploads) > MAX_ATTACHMENTS:
        raise LetterRejectedError(
            "attachments", f"brevet har {len(uploads)} bilagor; högst {MAX_ATTACHMENTS}"
        )
    channels = [value for value in form.getlist(CHANNEL_FIELD) if isinstance(value, str)]
    attachments = []
    total = 0
    for index, upload in enumerate(uploads):
        content = await upload.read(MAX_FORM_BYTES + 1 - total)
        total += len(content)
        if total > MAX_FORM_BYTES:
            raise LetterRejectedError("attachments", TOO_LARGE)
        channel = channels[index] if index < len(channels) else "both"
        if channel not in ATTACHMENT_CHANNELS:
            raise LetterRejectedError(
                f"attachments[{index}].channel",
                f"välj digitalt, papper eller båda för bilagan {upload.filename}",
            )
        # The browser's guess of the type is not trusted: the letter service checks that the
        # file is a PDF by its content.
        attachments.append(AttachmentInput(upload.filename or "bilaga.pdf", content, channel))
    return tuple(attachments)


async def read_compose_form(request: Request) -> SubmittedForm:
    """The compose form of this request.

    Raises:
        LetterRejectedError: a form too large or unreadable, a field too long, or attachments
            that cannot be a letter's; named by its field.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise LetterRejectedError("attachments", TOO_LARGE)
    try:
        async with request.form(max_files=MAX_ATTACHMENTS + 1, max_fields=100) as form:
            values = _values(form)
            attachments = await _attachments(form)
    except HTTPException:
        raise LetterRejectedError(FORM_LEVEL, UNREADABLE) from None
    draft = DeskDraft(
        recipient=values["recipient"],
        subject=values["subject"],
        body=values["body"].replace("\r\n", "\n"),
        message_type=_optional(values["message_type"]),
        attachments=attachments,
        eservice_url=_optional(values["eservice_url"]),
        case_number=_optional(values["case_number"]),
        reference=_optional(values["reference"]),
        postal_address=_postal_address(values),
        use_contact=bool(values[USE_CONTACT]),
        contact_email=_optional(values["contact_email"]),
        contact_phone=_optional(values["contact_phone"]),
        idempotency_key=_optional(values["idempotency_key"]),
    )
    return SubmittedForm(values, draft, tuple(a.filename for a in attachments))
