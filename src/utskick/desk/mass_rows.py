"""Which column of a mass mailing's table is what, and the check of every row before sending.

The officer says which column holds the recipient (and, if the file has them, the subject and
a postal address); `guess_mapping` proposes that from the header names a Swedish office uses.
`check_rows` then goes through the table row by row, as it is streamed, and says for each row
who the letter is for, what it will say, and what is wrong with it, in Swedish, so that the
officer can correct the file before anything is sent.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from utskick.desk.mass_input import Table
from utskick.desk.mass_template import Template
from utskick.identity import InvalidIdentityError, parse_identity
from utskick.letters.inputs import MAX_ADDRESS_LINE_LENGTH, MAX_ADDRESS_LINES
from utskick.letters.text_checks import refused_character
from utskick.mm.delivery import MAX_SUBJECT_LENGTH

# Header names as `_normalised` writes them; a trailing `*` also takes names that start so
# ("Personnummer (ÅÅÅÅMMDD-NNNN)"). A number at the end of a header is ignored ("Adress 2").
_RECIPIENT_NAMES = (
    "personnummer*", "pnr", "personnr", "persnr", "organisationsnummer*", "orgnr", "orgnummer",
    "organisationsnr", "samordningsnummer*", "identitetsnummer*", "identitetsbeteckning",
    "identitet", "idnummer", "idnr", "mottagare", "mottagarid", "personalidentitynumber",
    "recipient", "recipientid", "ssn",
)  # fmt: skip
_SUBJECT_NAMES = ("amne", "amnesrad", "rubrik", "subject")
_NAME_NAMES = (
    "namn", "mottagarensnamn", "mottagarnamn", "fullstandigtnamn", "namnpakuvert", "name",
    "fullname", "recipientname",
)  # fmt: skip
_ADDRESS_NAMES = (
    "co", "careof", "coadress", "adress", "adressrad*", "utdelningsadress*", "gatuadress*",
    "gata", "address", "addressline*", "street*",
)  # fmt: skip
_POSTAL_CODE_NAMES = ("postnummer*", "postnr", "zip", "zipcode", "postalcode", "postcode")
_CITY_NAMES = ("ort", "postort", "stad", "city", "town")
_COUNTRY_NAMES = ("land", "country")
# A 10-digit number born 2000-2009 typed into Excel as a number loses its leading zeros.
_ZEROS_LOST_DIGITS = 6
_TEN_DIGITS = 10
# Characters a letter's body cannot carry (XML 1.0 has no place for them).
_NOT_IN_BODY = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class MappingError(ValueError):
    """A mapping that names a column the table does not have; the message is Swedish."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class ColumnMapping:
    """Which column holds what; the address columns are optional (none: the register's)."""

    recipient: str
    subject: str | None = None
    name: str | None = None
    address_lines: tuple[str, ...] = ()
    postal_code: str | None = None
    city: str | None = None
    country: str | None = None

    @property
    def address_columns(self) -> tuple[str, ...]:
        """The columns that together make up a postal address, in the order given."""
        optional = (self.name, *self.address_lines, self.postal_code, self.city, self.country)
        return tuple(column for column in optional if column is not None)

    def check(self, columns: Sequence[str]) -> None:
        """Refuse a mapping that names a column not among `columns`.

        Raises:
            MappingError: naming the column and listing the table's columns.
        """
        for column in (self.recipient, self.subject, *self.address_columns):
            if column is not None and column not in columns:
                raise MappingError(
                    f"Kolumnen {column!r} finns inte i filen; välj en av {', '.join(columns)}"
                )


@dataclass(frozen=True, slots=True)
class RowCheck:
    """One row as it would be sent: to whom, what, and what is wrong (None: nothing)."""

    row_number: int
    recipient_display: str
    recipient_id: str | None
    problem: str | None
    subject: str
    body: str
    postal_address: dict[str, object] | None

    @property
    def ok(self) -> bool:
        """Whether the row can be sent as it is."""
        return self.problem is None


def guess_mapping(columns: Sequence[str]) -> ColumnMapping:
    """A proposed mapping from the header names, for the officer to confirm or change.

    Names are compared without regard to case, accents, spaces and punctuation. When no
    column looks like an identity number the first column is proposed as the recipient.
    """
    taken: set[str] = set()

    def best(names: tuple[str, ...]) -> str | None:
        found = _best_column(columns, names, taken)
        if found is not None:
            taken.add(found)
        return found

    recipient = best(_RECIPIENT_NAMES) or (columns[0] if columns else "")
    taken.add(recipient)
    subject, name = best(_SUBJECT_NAMES), best(_NAME_NAMES)
    postal_code, city, country = best(_POSTAL_CODE_NAMES), best(_CITY_NAMES), best(_COUNTRY_NAMES)
    address_lines = tuple(
        column
        for column in columns
        if column not in taken and _match_rank(column, _ADDRESS_NAMES) is not None
    )
    return ColumnMapping(
        recipient=recipient,
        subject=subject,
        name=name,
        address_lines=address_lines,
        postal_code=postal_code,
        city=city,
        country=country,
    )


def _best_column(columns: Sequence[str], names: tuple[str, ...], taken: set[str]) -> str | None:
    """The free column whose header matches best: exact before prefix, then by `names` order."""
    ranked = [
        (rank, index, column)
        for index, column in enumerate(columns)
        if column not in taken and (rank := _match_rank(column, names)) is not None
    ]
    return min(ranked)[2] if ranked else None


def _match_rank(column: str, names: tuple[str, ...]) -> tuple[int, int] | None:
    key = _normalised(column)
    keys = {key, key.rstrip("0123456789")}
    for position, name in enumerate(names):
        if name.rstrip("*") in keys:
            return (0, position)
    for position, name in enumerate(names):
        if name.endswith("*") and key.startswith(name[:-1]):
            return (1, position)
    return None


def _normalised(name: str) -> str:
    """Lower case, accents removed (å, ä → a; ö → o), only letters and digits kept."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if char.isalnum())


def check_rows(
    table: Table,
    mapping: ColumnMapping,
    subject_template: Template | None,
    body_template: Template,
    today: dt.date,
) -> Iterator[RowCheck]:
    """Check every row of the table as it would be sent, one row at a time.

    The subject is `subject_template` filled in, or, without one, the mapping's subject
    column. A recipient seen on an earlier row (in any of the ways it can be typed) is a
    problem of the later row. Several problems of one row are joined by "; ".

    Raises:
        MappingError: the mapping names a column the table does not have.
        TableRefusedError: the table turns out unreadable further down (see `Table.rows`).
    """
    mapping.check(table.columns)
    first_row_of: dict[int, int] = {}
    for row_number, row in table.rows():
        problems: list[str] = []
        display, recipient_id = _recipient(row, mapping, today, problems)
        if recipient_id is not None:
            earlier = first_row_of.setdefault(int(recipient_id), row_number)
            if earlier != row_number:
                problems.append(f"samma mottagare som på rad {earlier}; ta bort den ena raden")
        subject = _subject(row, mapping, subject_template, problems)
        body = body_template.render(row).strip()
        body_problem = _body_problem(body)
        if body_problem is not None:
            problems.append(body_problem)
        address = _postal_address(row, mapping, problems)
        yield RowCheck(
            row_number=row_number,
            recipient_display=display,
            recipient_id=recipient_id,
            problem="; ".join(problems) or None,
            subject=subject,
            body=body,
            postal_address=address,
        )


def _recipient(
    row: Mapping[str, str], mapping: ColumnMapping, today: dt.date, problems: list[str]
) -> tuple[str, str | None]:
    typed = row.get(mapping.recipient, "")
    if not typed:
        problems.append(
            f"mottagare saknas i kolumnen {mapping.recipient!r}; fyll i personnummer, "
            "samordningsnummer eller organisationsnummer"
        )
        return "", None
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
        problems.append(f"{typed} är inget giltigt identitetsnummer: {error.problem}{hint}")
        return typed, None
    return identity.display, identity.value


def _subject(
    row: Mapping[str, str],
    mapping: ColumnMapping,
    template: Template | None,
    problems: list[str],
) -> str:
    if template is not None:
        subject = template.render(row).strip()
    elif mapping.subject is not None:
        subject = row.get(mapping.subject, "")
    else:
        subject = ""
    if not subject:
        problems.append("ämnesraden blir tom; skriv en ämnesrad eller fyll i ämnet på raden")
    elif len(subject) > MAX_SUBJECT_LENGTH:
        problems.append(
            f"ämnesraden blir {len(subject)} tecken; korta den till högst {MAX_SUBJECT_LENGTH}"
        )
    elif (refused := refused_character(subject)) is not None:
        problems.append(f"ämnesraden innehåller {refused}; ta bort det ur filen eller mallen")
    return subject


def _body_problem(body: str) -> str | None:
    if not body:
        return "brödtexten blir tom; skriv en brödtext eller fyll i raden"
    found = _NOT_IN_BODY.search(body)
    if found is not None:
        return (
            f"brödtexten innehåller styrtecknet U+{ord(found.group()):04X}, som inte kan "
            "skickas; ta bort det ur filen"
        )
    return None


def _postal_address(
    row: Mapping[str, str], mapping: ColumnMapping, problems: list[str]
) -> dict[str, object] | None:
    """The row's address in the letters' shape; None when it gives none (or a bad one).

    A cell may hold several address lines (Alt+Enter in Excel); each is a line of its own.
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
    # A name alone is for the letter's text: the register's address is used.
    if not (lines or postal_code or city):
        return None
    problem = _address_problem(name, lines, postal_code, city)
    if problem is not None:
        problems.append(problem)
        return None
    return {
        "name": name,
        "lines": lines,
        "postal_code": postal_code,
        "city": city,
        "country": value(mapping.country) or None,
    }


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
