"""Which column of a table is what, told from the header names a Swedish office (or a system) uses.

Names are compared without regard to case, accents, spaces and punctuation ("Ämne", "AMNE" and
"ämne:" are one name), and a number at the end of a header is ignored ("Adress 2"). A name
list entry ending in `*` also takes headers that start so ("Personnummer (ÅÅÅÅMMDD-NNNN)").
An exact name wins over one that only starts alike, and an earlier name of a list over a later.

`ColumnMapping` says which column holds the recipient, the subject and the postal address; the
desk's mass mailing proposes one with `guess_mapping` for the officer to confirm, and the table
batches (`utskick.letters.tables.letter_rows`) start from the same guess.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass

# Header names as `normalised` writes them.
RECIPIENT_NAMES = (
    "personnummer*", "pnr", "personnr", "persnr", "organisationsnummer*", "orgnr", "orgnummer",
    "organisationsnr", "samordningsnummer*", "identitetsnummer*", "identitetsbeteckning",
    "identitet", "idnummer", "idnr", "mottagare", "mottagarid", "personalidentitynumber",
    "recipient", "recipientid", "ssn",
)  # fmt: skip
SUBJECT_NAMES = ("amne", "amnesrad", "rubrik", "subject")
NAME_NAMES = (
    "namn", "mottagarensnamn", "mottagarnamn", "fullstandigtnamn", "namnpakuvert", "name",
    "fullname", "recipientname",
)  # fmt: skip
ADDRESS_NAMES = (
    "co", "careof", "coadress", "adress", "adressrad*", "utdelningsadress*", "gatuadress*",
    "gata", "address", "addressline*", "street*",
)  # fmt: skip
POSTAL_CODE_NAMES = ("postnummer*", "postnr", "zip", "zipcode", "postalcode", "postcode")
CITY_NAMES = ("ort", "postort", "stad", "city", "town")
COUNTRY_NAMES = ("land", "country")


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


def guess_mapping(columns: Sequence[str]) -> ColumnMapping:
    """A proposed mapping from the header names, for the officer to confirm or change.

    When no column looks like an identity number the first column is proposed as the
    recipient (`header_matches(mapping.recipient, RECIPIENT_NAMES)` tells whether one did).
    """
    taken: set[str] = set()

    def best(names: tuple[str, ...]) -> str | None:
        found = best_column(columns, names, taken)
        if found is not None:
            taken.add(found)
        return found

    recipient = best(RECIPIENT_NAMES) or (columns[0] if columns else "")
    taken.add(recipient)
    subject, name = best(SUBJECT_NAMES), best(NAME_NAMES)
    postal_code, city, country = best(POSTAL_CODE_NAMES), best(CITY_NAMES), best(COUNTRY_NAMES)
    address_lines = tuple(
        column
        for column in columns
        if column not in taken and _match_rank(column, ADDRESS_NAMES) is not None
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


def best_column(
    columns: Sequence[str], names: tuple[str, ...], taken: Collection[str] = ()
) -> str | None:
    """The column not in `taken` whose header matches `names` best (None: none matches).

    Exact matches come before prefix matches (`*`), then the order of `names`, then the order
    of the columns.
    """
    ranked = [
        (rank, index, column)
        for index, column in enumerate(columns)
        if column not in taken and (rank := _match_rank(column, names)) is not None
    ]
    return min(ranked)[2] if ranked else None


def header_matches(column: str, names: tuple[str, ...]) -> bool:
    """Whether the header is one of `names` (as `best_column` compares them)."""
    return _match_rank(column, names) is not None


def _match_rank(column: str, names: tuple[str, ...]) -> tuple[int, int] | None:
    key = normalised(column)
    keys = {key, key.rstrip("0123456789")}
    for position, name in enumerate(names):
        if name.rstrip("*") in keys:
            return (0, position)
    for position, name in enumerate(names):
        if name.endswith("*") and key.startswith(name[:-1]):
            return (1, position)
    return None


def normalised(name: str) -> str:
    """Lower case, accents removed (å, ä → a; ö → o), only letters and digits kept."""
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    return "".join(char for char in decomposed if char.isalnum())
