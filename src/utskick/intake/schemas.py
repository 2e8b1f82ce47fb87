"""The REST API's request and response bodies (what the OpenAPI description shows).

`letter_input` reads a letter body into the letter service's input; the API's letters and
every line of a batch (from the API or the command line) are read by it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from utskick.letters import vocabulary
from utskick.letters.inputs import AttachmentInput, LetterInput, LetterRejectedError
from utskick.letters.schedule import parse_not_before
from utskick.web.errors import ErrorResponse

# The API's names for the letter's policies and states, whose values letters.vocabulary keeps.
Policy = vocabulary.Policy
AttachmentChannel = Literal["both", "digital", "paper"]
BodyType = Literal["text/plain", "text/html"]
State = vocabulary.State
PrecheckChannel = Literal["digital", "paper", "impossible"]

EXAMPLE_LETTER_ID = "6f1c2a3e-9b7d-4c1e-8f00-2b3c4d5e6f70"
_STRICT = ConfigDict(extra="forbid")


class IdempotencyConflictOut(ErrorResponse):
    """A key used before for a letter with other content: that letter's id."""

    letter_id: str = Field(
        description="The letter stored under the key the first time.",
        examples=[EXAMPLE_LETTER_ID],
    )


class AttachmentIn(BaseModel):
    """A PDF attachment, its content in base64."""

    model_config = _STRICT

    filename: str = Field(
        min_length=1,
        max_length=255,
        description="The file's name; a folder path in front of it is removed "
        "(`C:\\Ärenden\\beslut.pdf` is stored as `beslut.pdf`).",
        examples=["beslut.pdf"],
    )
    content_base64: str = Field(
        description="The PDF file in base64 (standard alphabet, with padding).",
        examples=["JVBERi0xLjQK"],
    )
    channel: AttachmentChannel = Field(
        default="both", description="Send it digitally, on paper, or both."
    )
    content_type: Literal["application/pdf"] = "application/pdf"


class AddressIn(BaseModel):
    """A postal address for paper, when the caller knows better than the population register."""

    model_config = _STRICT

    name: str = Field(min_length=1, max_length=60, examples=["Tolvan Tolvansson"])
    lines: list[str] = Field(
        min_length=1,
        max_length=4,
        description="Street, c/o or box lines.",
        examples=[["Tolvgatan 12"]],
    )
    postal_code: str = Field(min_length=1, max_length=12, examples=["123 45"])
    city: str = Field(min_length=1, max_length=48, examples=["Exempelstad"])
    country: str | None = Field(default=None, max_length=48, description="Only for abroad.")


class LetterIn(BaseModel):
    """A letter to one recipient from one sender organisation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "sender": "202100-4748",
                    "recipient": "19121212-1212",
                    "subject": "Beslut om bygglov",
                    "body": "Hej! Här kommer beslutet i ditt ärende.",
                    "protection_class": 2,
                    "case_number": "BN 2026/123",
                    "idempotency_key": "BN-2026-123-beslut-1",
                }
            ]
        },
    )

    sender: str = Field(
        max_length=20,
        description="The sender organisation's organisationsnummer (10 digits, a hyphen allowed).",
    )
    recipient: str = Field(
        max_length=20,
        description="Personnummer, samordningsnummer or organisationsnummer (10 or 12 digits).",
    )
    subject: str = Field(max_length=255)
    body: str = Field(
        default="", max_length=1_500_000, description="Text, or restricted HTML (`body_type`)."
    )
    body_type: BodyType = "text/plain"
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=50)
    protection_class: int | None = Field(
        default=None,
        description="Skyddsklass 1–3 (4 is refused); default: the message type's class.",
    )
    message_type: str | None = Field(default=None, max_length=64, examples=["beslut"])
    policy: Policy = Field(
        default="digital-or-paper",
        description="digital-or-paper: paper when not reachable; digital-only: a notice, never "
        "printed; paper-only: always paper.",
    )
    department: str | None = Field(
        default=None, max_length=200, description="Department or function (sent as Attention)."
    )
    eservice_url: str | None = Field(default=None, max_length=1024)
    support_text: str | None = Field(
        default=None,
        max_length=1024,
        description="Brevets egen supporttext, till exempel handläggarens namn och "
        "kontaktuppgifter: visas för mottagaren under ”Frågor om brevet” i stället för "
        "avsändarorganisationens supporttext, och skrivs ut efter texten på ett pappersbrev. "
        "1–1024 tecken; radbrytningar får finnas, styrtecken och riktningstecken inte. "
        "Utelämnad: avsändarorganisationens supporttext.",
        examples=["Har du frågor? Kontakta Anna Andersson, Bygglovsenheten, 0771-00 00 00."],
    )
    case_number: str | None = Field(default=None, max_length=200, description="Diarienummer.")
    reference: str | None = Field(default=None, max_length=200)
    address: AddressIn | None = Field(
        default=None,
        description="Postal address for paper; default: the population register's. For a "
        "person with protected identity it is never stored (the letter goes via Skatteverket); "
        "the population register is asked before the letter is accepted (503 if it cannot be).",
    )
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        description="The same key again with the same content returns the letter stored the "
        "first time; with other content it is refused with 409 "
        "(or use the Idempotency-Key header).",
    )
    not_before: str | None = Field(
        default=None,
        max_length=40,
        description="Send at a set time: the letter is stored now but not classified or sent "
        "before this time, and can be cancelled until then. ISO 8601 with an offset "
        "(`2026-12-08T06:00:00+01:00`, `…Z`) or local Swedish time without one "
        "(`2026-12-08 06:00`, `2026-12-08T06.00`, a date alone: its first minute). A time in "
        "the past: at once. At most a year ahead.",
        examples=["2026-12-08 06:00"],
    )
    paper_layout: Literal["address-in-window"] | None = Field(
        default=None,
        description="`address-in-window`: the first paper attachment's first page already "
        "carries the recipient's address in the envelope window, and the letter is printed "
        "as its attachments, without Utskick's address page. Default: Utskick's address page.",
    )


class AttachmentOut(BaseModel):
    """An attachment's metadata (its content is never returned)."""

    position: int
    filename: str
    content_type: str
    channel: str
    size: int = Field(description="Bytes.")
    sha256: str


class LetterSummary(BaseModel):
    """A letter in a list."""

    id: str = Field(examples=[EXAMPLE_LETTER_ID])
    state: State
    channel: str | None = Field(description="digital, paper or none, once chosen.")
    reason: str | None = Field(description="Reason code of a non-digital outcome.")
    sender: str
    recipient: str = Field(description="12 digits.")
    subject: str
    department: str | None
    case_number: str | None
    reference: str | None
    batch_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class LetterOut(LetterSummary):
    """A letter's state and what was handed over (no content)."""

    policy: Policy
    protection_class: int
    message_type: str | None
    idempotency_key: str
    message_id: str = Field(description="The Message Id on the wire, the same on every retry.")
    operator_number: str | None
    trans_id: str | None = Field(description="The operator's TransId once delivered.")
    deliver_by: dt.datetime | None
    not_before: dt.datetime | None = Field(
        default=None, description="Not classified or sent before this time (UTC)."
    )
    attachments: list[AttachmentOut]


class LetterPageOut(BaseModel):
    """One page of search results, newest first."""

    total: int = Field(description="All matches, not just this page.")
    limit: int
    offset: int
    letters: list[LetterSummary]


class EventOut(BaseModel):
    """One transition in a letter's life."""

    event_id: str
    at: dt.datetime
    actor: str
    state: State
    reason: str | None
    detail: str | None
    data: dict[str, object] | None


class BatchRejection(BaseModel):
    """A line of a batch that was not accepted."""

    line: int = Field(
        description="Line number in the NDJSON body (from 1), or the row in Excel of a table."
    )
    field: str | None
    message: str


class BatchOut(BaseModel):
    """What became of a submitted batch."""

    id: str
    accepted: int = Field(description="Letters accepted (replays of known keys included).")
    replayed: int = Field(description="Of those, letters already known by their idempotency key.")
    rejected: int
    rejections: list[BatchRejection] = Field(description="The first rejected lines.")


class BatchProgressOut(BaseModel):
    """How far a batch's letters have come."""

    id: str
    created_at: dt.datetime
    completed_at: dt.datetime | None = Field(description="When the whole body was read.")
    accepted: int
    rejected: int
    rejections: list[BatchRejection]
    states: dict[str, int] = Field(description="Letters by state.")
    reasons: dict[str, int] = Field(description="Letters by reason code.")
    finished: int = Field(description="Letters in a terminal state.")
    done: bool = Field(description="Every accepted letter has reached a terminal state.")


class PrecheckIn(BaseModel):
    """Which channel letters to these recipients would take now."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"sender": "2021004748", "recipients": ["191212121212"]}]},
    )

    sender: str = Field(max_length=20, description="The sender organisation's number.")
    recipients: list[str] = Field(min_length=1, max_length=1000)
    policy: Policy = "digital-or-paper"


class DecisionOut(BaseModel):
    """The channel a letter to one recipient would take, and why."""

    recipient: str = Field(description="12 digits.")
    channel: PrecheckChannel
    reason: str
    operator: str | None = Field(description="The mailbox operator's name, for digital.")
    operator_number: str | None


class PrecheckOut(BaseModel):
    """One decision per recipient, in the order asked."""

    decisions: list[DecisionOut]


def letter_input(
    body: LetterIn, header_key: str | None = None, zone: str = "Europe/Stockholm"
) -> LetterInput:
    """The service's input from an API body; attachments are decoded from base64.

    `zone` is the local time zone of a `not_before` written without an offset.

    Raises:
        LetterRejectedError: an attachment is not valid base64, or two different
            idempotency keys were given.
    """
    if header_key is not None and body.idempotency_key not in (None, header_key):
        raise LetterRejectedError(
            "idempotency_key",
            "huvudet Idempotency-Key och fältet idempotency_key har olika värden; ange ett av dem",
        )
    attachments = []
    for index, attachment in enumerate(body.attachments):
        try:
            content = base64.b64decode(attachment.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise LetterRejectedError(
                f"attachments[{index}].content_base64",
                f"bilagan {attachment.filename} är inte giltig base64; koda PDF-filen med "
                "standardalfabetet och utfyllnad (=)",
            ) from None
        attachments.append(
            AttachmentInput(
                filename=attachment.filename,
                content=content,
                channel=attachment.channel,
                content_type=attachment.content_type,
            )
        )
    return LetterInput(
        sender=body.sender,
        recipient=body.recipient,
        subject=body.subject,
        body=body.body,
        body_type=body.body_type,
        attachments=tuple(attachments),
        protection_class=body.protection_class,
        message_type=body.message_type,
        policy=body.policy,
        department=body.department,
        eservice_url=body.eservice_url,
        support_text=body.support_text,
        case_number=body.case_number,
        reference=body.reference,
        idempotency_key=header_key if header_key is not None else body.idempotency_key,
        postal_address=body.address.model_dump() if body.address is not None else None,
        not_before=parse_not_before(body.not_before, zone),
        paper_layout=body.paper_layout,
    )
