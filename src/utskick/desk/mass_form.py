"""The mass mailing's form: the columns, message type, templates and earliest sending time.

A form that cannot be used is answered field by field, in Swedish, beside the field that is
wrong, and nothing is changed; a usable one becomes the `MailingChoices` the precheck and the
sending work from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from utskick.desk.compose import CLASS_FOUR_REFUSAL
from utskick.desk.compose_repository import MessageTypeChoice
from utskick.desk.mass_mailing import MassMailing
from utskick.desk.mass_template import Template, TemplateError
from utskick.desk.sending import MESSAGE_TYPE_MISSING
from utskick.letters.inputs import MAX_REFERENCE_LENGTH, LetterRejectedError
from utskick.letters.schedule import MAX_DAYS_AHEAD, parse_not_before
from utskick.letters.service import REFUSED_PROTECTION_CLASS, utc_now
from utskick.letters.tables.columns import ColumnMapping, MappingError
from utskick.letters.text_checks import refused_character

ADDRESS_LINE_FIELDS = ("address_1", "address_2", "address_3", "address_4")
# Each column field of the form and what its column holds, for a refusal that names it.
COLUMN_FIELDS = {
    "recipient_column": "mottagaren",
    "subject_column": "ämnet",
    "name_column": "namnet",
    **dict.fromkeys(ADDRESS_LINE_FIELDS, "en adressrad"),
    "postal_code_column": "postnumret",
    "city_column": "orten",
    "country_column": "landet",
}
TEXT_FIELDS = ("message_type", "case_number", "not_before", "subject", "body")
FIELD_NAMES = (*COLUMN_FIELDS, *TEXT_FIELDS)
MAX_SUBJECT_TEMPLATE = 1_000
MAX_BODY_TEMPLATE = 100_000
# The zone of the time the form shows and reads, unless the installation names another.
LOCAL_ZONE = "Europe/Stockholm"

RECIPIENT_MISSING = (
    "välj kolumnen med mottagarnas personnummer, samordningsnummer eller organisationsnummer"
)
SUBJECT_MISSING = (
    "skriv en ämnesrad (med fält som {Namn} om du vill), eller välj kolumnen med varje rads ämne"
)
BODY_MISSING = "skriv brevets text; infoga kolumner som {Namn} där varje rad ska fyllas i"
NOT_BEFORE_PASSED = (
    "tiden har redan passerat; välj en tid framåt, eller lämna fältet tomt för att skicka "
    "breven direkt"
)
NOT_BEFORE_TOO_LATE = (
    "tiden ligger mer än ett år fram; kontrollera årtalet (breven kan vänta högst ett år)"
)


@dataclass(frozen=True)
class MailingChoices:
    """What the officer chose: the mapping, message type, case number and the templates."""

    mapping: ColumnMapping
    message_type: str
    case_number: str | None
    subject_template: str
    body_template: str
    # Not sent before this time (aware); None: at once.
    not_before: dt.datetime | None = None

    def apply_to(self, mailing: MassMailing) -> None:
        """Set the choices on the mailing (its precheck is then to be run again)."""
        mailing.mapping = self.mapping
        mailing.message_type = self.message_type
        mailing.case_number = self.case_number
        mailing.subject_template = self.subject_template
        mailing.body_template = self.body_template
        mailing.not_before = self.not_before.isoformat() if self.not_before else None


def form_values(form: Mapping[str, object]) -> dict[str, str]:
    """The form's fields as text (a field that is not text counts as empty)."""
    values = {}
    for name in FIELD_NAMES:
        value = form.get(name)
        values[name] = value.strip() if isinstance(value, str) and name != "body" else ""
        if name == "body" and isinstance(value, str):
            values[name] = value.replace("\r\n", "\n").strip()
    return values


def values_of(
    mailing: MassMailing, proposed: ColumnMapping, zone: str = LOCAL_ZONE
) -> dict[str, str]:
    """The form's fields as the mailing has them, or as proposed before the first choice.

    The time is shown in `zone`, as the form's date and time field takes it.
    """
    mapping = mailing.mapping or proposed
    lines = list(mapping.address_lines) + [""] * len(ADDRESS_LINE_FIELDS)
    return {
        "recipient_column": mapping.recipient,
        "subject_column": mapping.subject or "",
        "name_column": mapping.name or "",
        **dict(zip(ADDRESS_LINE_FIELDS, lines, strict=False)),
        "postal_code_column": mapping.postal_code or "",
        "city_column": mapping.city or "",
        "country_column": mapping.country or "",
        "message_type": mailing.message_type or "",
        "case_number": mailing.case_number or "",
        "not_before": local_field_value(mailing.not_before, zone),
        "subject": mailing.subject_template,
        "body": mailing.body_template,
    }


def local_field_value(stored: str | None, zone: str) -> str:
    """A stored time (ISO 8601) as a date and time field shows it: local, to the minute."""
    if not stored:
        return ""
    return dt.datetime.fromisoformat(stored).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def read_choices(
    values: Mapping[str, str],
    columns: Sequence[str],
    message_types: Mapping[str, MessageTypeChoice],
    *,
    now: dt.datetime | None = None,
    zone: str = LOCAL_ZONE,
) -> tuple[MailingChoices | None, dict[str, str]]:
    """The choices of a filled-in form, or the refusals by field (then None).

    A time to send at the earliest is local time in `zone`, and must lie after `now` (the
    clock's time when None) and at most a year ahead.
    """
    errors: dict[str, str] = {}
    mapping = _mapping(values, columns, errors)
    _check_message_type(values["message_type"], message_types, errors)
    case_number = values["case_number"] or None
    if case_number is not None and (
        len(case_number) > MAX_REFERENCE_LENGTH or refused_character(case_number) is not None
    ):
        errors["case_number"] = (
            f"diarienumret ska ha högst {MAX_REFERENCE_LENGTH} tecken på en rad, utan "
            "styrtecken (eller lämnas tomt)"
        )
    subject, body = values["subject"], values["body"]
    if not subject and not values["subject_column"]:
        errors["subject"] = SUBJECT_MISSING
    _check_template("subject", subject, MAX_SUBJECT_TEMPLATE, columns, errors)
    if not body:
        errors["body"] = BODY_MISSING
    _check_template("body", body, MAX_BODY_TEMPLATE, columns, errors)
    not_before = _not_before(values["not_before"], now or utc_now(), zone, errors)
    if errors or mapping is None:
        return None, errors
    choices = MailingChoices(
        mapping, values["message_type"], case_number, subject, body, not_before
    )
    return choices, {}


def _not_before(
    text: str, now: dt.datetime, zone: str, errors: dict[str, str]
) -> dt.datetime | None:
    """The time the letters may be sent at the earliest (None: at once); refused if not usable."""
    try:
        when = parse_not_before(text, zone)
    except LetterRejectedError as error:
        errors["not_before"] = error.message
        return None
    if when is None:
        return None
    if when <= now:
        errors["not_before"] = NOT_BEFORE_PASSED
    elif when - now > dt.timedelta(days=MAX_DAYS_AHEAD):
        errors["not_before"] = NOT_BEFORE_TOO_LATE
    return when


def _mapping(
    values: Mapping[str, str], columns: Sequence[str], errors: dict[str, str]
) -> ColumnMapping | None:
    """The column mapping; each field naming a column the table lacks is refused."""
    for name, holds in COLUMN_FIELDS.items():
        column = values[name]
        if not column:
            continue
        try:
            ColumnMapping(recipient=column).check(columns)
        except MappingError as error:
            errors[name] = f"{error.message} (för {holds})"
    if not values["recipient_column"]:
        errors["recipient_column"] = RECIPIENT_MISSING
    if errors:
        return None
    return ColumnMapping(
        recipient=values["recipient_column"],
        subject=values["subject_column"] or None,
        name=values["name_column"] or None,
        address_lines=tuple(values[name] for name in ADDRESS_LINE_FIELDS if values[name]),
        postal_code=values["postal_code_column"] or None,
        city=values["city_column"] or None,
        country=values["country_column"] or None,
    )


def _check_message_type(
    code: str, message_types: Mapping[str, MessageTypeChoice], errors: dict[str, str]
) -> None:
    chosen = message_types.get(code)
    if not code:
        errors["message_type"] = MESSAGE_TYPE_MISSING
    elif chosen is None:
        errors["message_type"] = f"meddelandetypen {code!r} finns inte; välj en av typerna i listan"
    elif chosen.protection_class == REFUSED_PROTECTION_CLASS:
        errors["message_type"] = CLASS_FOUR_REFUSAL


def _check_template(
    field: str, text: str, longest: int, columns: Sequence[str], errors: dict[str, str]
) -> None:
    if not text or field in errors:
        return
    if len(text) > longest:
        errors[field] = f"mallen har {len(text)} tecken; högst {longest} tas emot"
        return
    try:
        Template.parse(text, columns)
    except TemplateError as error:
        errors[field] = error.message
