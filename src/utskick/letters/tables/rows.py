"""The checks of one row of a table that every use of a table shares, said in Swedish.

Each check says what is wrong with the row in a short phrase that names the value or the column
and what to do, so that a person can correct the file in Excel: the recipient's identity number
(with a hint when Excel ate a leading zero), the subject and text a row's letter will have, and
a postal address spread over several columns (a cell may hold several lines, typed with
Alt+Enter). A check that finds nothing wrong says None.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.letters.inputs import MAX_ADDRESS_LINE_LENGTH, MAX_ADDRESS_LINES
from utskick.letters.tables.columns import ColumnMapping
from utskick.letters.text_checks import refused_character
from utskick.mm.delivery import MAX_SUBJECT_LENGTH

# A 10-digit number born 2000-2009 typed into Excel as a number loses its leading zeros.
_ZEROS_LOST_DIGITS = 6
_TEN_DIGITS = 10
# Characters a letter's body cannot carry (XML 1.0 has no place for them).
_NOT_IN_BODY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(frozen=True, slots=True)
class RecipientCell:
    """A row's recipient: as shown (`19121212-1212`), its 12-digit id, or what is wrong."""

    display: str
    recipient_id: str | None
    problem: str | None


def recipient_of(row: Mapping[str, str], column: str, today: dt.date) -> RecipientCell:
    """The recipient in the row's `column`; a problem when it is missing or no identity number.

    `today` decides the century of a 10-digit personnummer.
    """
    typed = row.get(column, "")
    if not typed:
        return RecipientCell(
            "",
            None,
            f"mottagare saknas i kolumnen {column!r}; fyll i personnummer, samordningsnummer "
            "eller organisationsnummer",
        )
    try:
        identity = parse_identity(typed, today=today)
    except InvalidIdentityError as error:
        hint = ""
        digits = typed.replace(" ", "")
        if digits.isdigit() and _ZEROS_LOST_DIGITS <= len(digits) < _TEN_DIGITS:
            hint = (
                " (en inledande nolla kan ha försvunnit när Excel tog numret för ett tal; "
                "formatera kolumnen som text och skriv in numret igen)"
            )
        return RecipientCell(
            typed, None, f"{typed} är inget giltigt identitetsnummer: {error.problem}{hint}"
        )
    return RecipientCell(identity.display, identity.value, None)


def subject_problem(subject: str) -> str | None:
    """What is wrong with a row's subject line: empty, too long, or a sign it cannot carry."""
    if not subject:
        return "ämnesraden blir tom; skriv en ämnesrad eller fyll i ämnet på raden"
    if len(subject) > MAX_SUBJECT_LENGTH:
        return f"ämnesraden blir {len(subject)} tecken; korta den till högst {MAX_SUBJECT_LENGTH}"
    refused = refused_character(subject)
    if refused is not None:
        return f"ämnesraden innehåller {refused}; ta bort det ur filen eller mallen"
    return None


def body_problem(body: str) -> str | None:
    """What is wrong with a row's text: empty, or a control sign that cannot be sent."""
    if not body:
        return "brödtexten blir tom; skriv en brödtext eller fyll i raden"
    found = _NOT_IN_BODY.search(body)
    if found is not None:
        return (
            f"brödtexten innehåller styrtecknet U+{ord(found.group()):04X}, som inte kan "
            "skickas; ta bort det ur filen"
        )
    return None


def postal_address(
    row: Mapping[str, str], mapping: ColumnMapping
) -> tuple[dict[str, object] | None, str | None]:
    """The row's address in the letters' shape, and what is wrong with it.

    None (and no problem) when the row gives no address: the register's is used. A name alone
    is for the letter's text, not an address. A bad address is None with the problem.
    """

    def value(column: str | None) -> str:
        return row.get(column, "") if column is not None else ""

    name = " ".join(value(mapping.name).split())
    postal_code, city = value(mapping.postal_code), value(mapping.city)
    lines = [
        line.strip()
        for column in mapping.address_lines
        for line in value(column).splitlines()
        if line.strip()
    ]
    if not (lines or postal_code or city):
        return None, None
    problem = _address_problem(name, lines, postal_code, city)
    if problem is not None:
        return None, problem
    address: dict[str, object] = {
        "name": name,
        "lines": lines,
        "postal_code": postal_code,
        "city": city,
        "country": value(mapping.country) or None,
    }
    return address, None


def _address_problem(name: str, lines: list[str], postal_code: str, city: str) -> str | None:
    given = {"namn": bool(name), "utdelningsadress": bool(lines), "postnummer": bool(postal_code)}
    given["ort"] = bool(city)
    missing = [label for label, present in given.items() if not present]
    if missing:
        return (
            f"adressen saknar {', '.join(missing)}; fyll i namn, adress, postnummer och ort, "
            "eller lämna alla adressfälten tomma för att använda folkbokföringens adress"
        )
    if len(lines) > MAX_ADDRESS_LINES:
        return f"adressen har {len(lines)} rader; högst {MAX_ADDRESS_LINES} får plats"
    for text in (name, *lines, f"{postal_code} {city}"):
        if len(text) > MAX_ADDRESS_LINE_LENGTH:
            return (
                f"adressraden {text[:20]!r}… är längre än {MAX_ADDRESS_LINE_LENGTH} tecken och "
                "får inte plats i kuvertfönstret; korta den"
            )
        refused = refused_character(text)
        if refused is not None:
            return f"adressen innehåller {refused}; ta bort det ur filen"
    return None
