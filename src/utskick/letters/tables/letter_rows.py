"""A table of letters: a row per letter, its columns named as an office or a system names them.

A business system or an officer exports a table with a row per letter: the recipient, the
subject, the text and, as needed, the message type or protection class, case number, reference,
sender, department, a postal address and the time the letter may be sent at the earliest.
`letter_columns` tells which column is what from the headers (`Personnummer`, `Ämne`, `Text`,
`Meddelandetyp`, `Diarienummer`, `Skickas tidigast`, or `recipient`, `subject`, `body`, ...),
and `letter_of_row` makes one row into a `LetterInput`, with the caller's defaults for what the
row leaves empty. What the letter service then refuses is named by the column it came from
(`LetterColumns.column_of`), so that the person can find it in Excel.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from utskick.letters import vocabulary
from utskick.letters.inputs import LetterInput, LetterRejectedError
from utskick.letters.schedule import parse_not_before
from utskick.letters.tables.columns import (
    RECIPIENT_NAMES,
    ColumnMapping,
    best_column,
    guess_mapping,
    header_matches,
    normalised,
)
from utskick.letters.tables.reading import TableRefusedError
from utskick.letters.tables.rows import postal_address, recipient_of

# Header names as `columns.normalised` writes them (the recipient, subject and address are
# `columns`' own).
BODY_NAMES = ("text", "brevtext", "meddelande", "meddelandetext", "brodtext", "body")
MESSAGE_TYPE_NAMES = ("meddelandetyp", "brevtyp", "messagetype")
PROTECTION_CLASS_NAMES = ("skyddsklass", "protectionclass")
CASE_NUMBER_NAMES = (
    "diarienummer", "diarienr", "dnr", "arendenummer", "arendenr", "casenumber",
)  # fmt: skip
REFERENCE_NAMES = ("referens", "varreferens", "reference")
SENDER_NAMES = ("avsandare", "avsandarorganisation", "sender")
DEPARTMENT_NAMES = ("avdelning", "forvaltning", "department")
NOT_BEFORE_NAMES = ("tidigast", "skickastidigast", "skickatidigast", "notbefore")
POLICY_NAMES = ("policy", "sandningspolicy")

# The header a refusal names for a letter field that no column holds: the column to add.
SUGGESTED_HEADERS = {
    "recipient": "Personnummer",
    "subject": "Ämne",
    "body": "Text",
    "message_type": "Meddelandetyp",
    "protection_class": "Skyddsklass",
    "case_number": "Diarienummer",
    "reference": "Referens",
    "sender": "Avsändare",
    "department": "Avdelning",
    "not_before": "Skickas tidigast",
    "policy": "Policy",
    "address": "Adress",
}
# A policy as an office may write it, besides the codes themselves.
_POLICY_WORDS = {
    "digitaltellerpapper": vocabulary.DIGITAL_OR_PAPER,
    "baradigitalt": vocabulary.DIGITAL_ONLY,
    "endastdigitalt": vocabulary.DIGITAL_ONLY,
    "barapapper": vocabulary.PAPER_ONLY,
    "endastpapper": vocabulary.PAPER_ONLY,
}
_PROTECTION_CLASS = re.compile(r"[1-4]")
_FIELD_ROOT = re.compile(r"[.\[]")
_RECIPIENT_HEADERS = "Personnummer, Organisationsnummer, Mottagare eller recipient"
_BODY_HEADERS = "Text, Brevtext, Meddelande eller body"


@dataclass(frozen=True)
class RowDefaults:
    """What a row's letter says where the row leaves a column empty (or the table has none)."""

    sender: str | None = None
    department: str | None = None
    subject: str | None = None
    message_type: str | None = None
    policy: str | None = None


@dataclass(frozen=True)
class LetterColumns:
    """Which column holds what of a letter; `mapping` has the recipient, subject and address."""

    mapping: ColumnMapping
    body: str
    message_type: str | None = None
    protection_class: str | None = None
    case_number: str | None = None
    reference: str | None = None
    sender: str | None = None
    department: str | None = None
    not_before: str | None = None
    policy: str | None = None

    def column_of(self, field: str) -> str:
        """The column a letter field comes from, or the header to add for it.

        `address.lines` and `attachments[0]` are named by their root; a field no table has
        (the idempotency key) keeps its name.
        """
        root = _FIELD_ROOT.split(field, maxsplit=1)[0]
        address = self.mapping.address_columns[0] if self.mapping.address_columns else None
        columns = {
            "recipient": self.mapping.recipient,
            "subject": self.mapping.subject,
            "body": self.body,
            "message_type": self.message_type,
            "protection_class": self.protection_class,
            "case_number": self.case_number,
            "reference": self.reference,
            "sender": self.sender,
            "department": self.department,
            "not_before": self.not_before,
            "policy": self.policy,
            "address": address,
        }
        return columns.get(root) or SUGGESTED_HEADERS.get(root, field)


def letter_columns(columns: Sequence[str]) -> LetterColumns:
    """Which column is what, told from the headers.

    Raises:
        TableRefusedError: no column holds the recipient, or none the letter's text.
    """
    mapping = guess_mapping(columns)
    if not header_matches(mapping.recipient, RECIPIENT_NAMES):
        raise TableRefusedError(
            f"Filen har ingen kolumn med mottagaren (kolumnerna är {', '.join(columns)}); ge "
            f"kolumnen med personnummer eller organisationsnummer rubriken {_RECIPIENT_HEADERS}"
        )
    taken = {mapping.recipient, *mapping.address_columns}
    if mapping.subject is not None:
        taken.add(mapping.subject)

    def best(names: tuple[str, ...]) -> str | None:
        found = best_column(columns, names, taken)
        if found is not None:
            taken.add(found)
        return found

    body = best(BODY_NAMES)
    if body is None:
        raise TableRefusedError(
            f"Filen har ingen kolumn med brevens text (kolumnerna är {', '.join(columns)}); ge "
            f"kolumnen med texten rubriken {_BODY_HEADERS}"
        )
    return LetterColumns(
        mapping=mapping,
        body=body,
        message_type=best(MESSAGE_TYPE_NAMES),
        protection_class=best(PROTECTION_CLASS_NAMES),
        case_number=best(CASE_NUMBER_NAMES),
        reference=best(REFERENCE_NAMES),
        sender=best(SENDER_NAMES),
        department=best(DEPARTMENT_NAMES),
        not_before=best(NOT_BEFORE_NAMES),
        policy=best(POLICY_NAMES),
    )


def letter_of_row(
    row: Mapping[str, str],
    columns: LetterColumns,
    defaults: RowDefaults,
    *,
    key: str,
    zone: str,
    today: dt.date,
) -> LetterInput:
    """The row's letter, with `key` as its idempotency key.

    `zone` is the local time zone of a "send at the earliest" time without an offset, `today`
    decides the century of a 10-digit personnummer.

    Raises:
        LetterRejectedError: naming the letter's field (see `LetterColumns.column_of` for the
            column) and saying in Swedish what to correct on the row.
    """

    def cell(column: str | None) -> str | None:
        return (row.get(column) or None) if column is not None else None

    recipient = recipient_of(row, columns.mapping.recipient, today)
    if recipient.recipient_id is None:
        raise LetterRejectedError("recipient", recipient.problem or "mottagare saknas")
    address, problem = postal_address(row, columns.mapping)
    if problem is not None:
        raise LetterRejectedError("address", problem)
    sender = cell(columns.sender) or defaults.sender
    if sender is None:
        raise _missing("sender", "avsändarens organisationsnummer", columns)
    subject = cell(columns.mapping.subject) or defaults.subject
    if subject is None:
        raise _missing("subject", "ämnesraden", columns)
    body = (cell(columns.body) or "").replace("\r\n", "\n")
    if not body:
        raise _missing("body", "brevets text", columns)
    return LetterInput(
        sender=sender,
        recipient=recipient.recipient_id,
        subject=subject,
        body=body,
        protection_class=_protection_class(cell(columns.protection_class)),
        message_type=cell(columns.message_type) or defaults.message_type,
        policy=_policy(cell(columns.policy) or defaults.policy),
        department=cell(columns.department) or defaults.department,
        case_number=cell(columns.case_number),
        reference=cell(columns.reference),
        idempotency_key=key,
        postal_address=address,
        not_before=parse_not_before(cell(columns.not_before), zone),
    )


def _missing(field: str, what: str, columns: LetterColumns) -> LetterRejectedError:
    return LetterRejectedError(
        field, f"{what} saknas; fyll i kolumnen {columns.column_of(field)!r} på raden"
    )


def _protection_class(text: str | None) -> int | None:
    if text is None:
        return None
    if not _PROTECTION_CLASS.fullmatch(text):
        raise LetterRejectedError(
            "protection_class",
            f"skyddsklassen {text!r} går inte att läsa; skriv 1, 2 eller 3, eller lämna rutan "
            "tom så att meddelandetypen avgör",
        )
    return int(text)


def _policy(text: str | None) -> str:
    if text is None:
        return vocabulary.DIGITAL_OR_PAPER
    return _POLICY_WORDS.get(normalised(text), text)
