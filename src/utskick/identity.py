"""Swedish identity numbers and the 12-digit RecipientId of Mina meddelanden.

People type personnummer, samordningsnummer and organisationsnummer in many ways
(`121212-1212`, `19121212 1212`, `191212121212`, `121212+1212` for someone aged 100
or more). Everything that enters Utskick goes through `parse_identity`, which checks the
date and the Luhn check digit and returns the canonical 12-digit form used on the wire:
personnummer and samordningsnummer with century (`YYYYMMDDNNNC`), organisationsnummer as
`16` + its 10 digits. A sole trader (enskild firma) has no organisationsnummer of its own
and is addressed by the owner's personnummer.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass

ORGANISATION_PREFIX = "16"
_SAMORDNING_DAY_OFFSET = 60
_ALLOWED = re.compile(r"[0-9+\- ]*")


class IdentityKind(enum.Enum):
    """What kind of identity number a RecipientId holds."""

    PERSONNUMMER = "personnummer"
    SAMORDNINGSNUMMER = "samordningsnummer"
    ORGANISATIONSNUMMER = "organisationsnummer"

    @property
    def is_person(self) -> bool:
        """True for the two kinds that identify a natural person."""
        return self is not IdentityKind.ORGANISATIONSNUMMER


class InvalidIdentityError(ValueError):
    """An identity number that cannot be used; the message says why, in Swedish."""

    def __init__(self, text: str, problem: str) -> None:
        self.text = text
        self.problem = problem
        super().__init__(f"{text.strip() or '(tomt)'}: {problem}")


@dataclass(frozen=True, slots=True)
class RecipientId:
    """A validated identity number in the 12-digit form used on the Mina meddelanden wire."""

    value: str
    kind: IdentityKind

    @property
    def is_person(self) -> bool:
        """True for personnummer and samordningsnummer."""
        return self.kind.is_person

    @property
    def organisation_number(self) -> str:
        """The 10-digit organisationsnummer (only for organisations)."""
        if self.is_person:
            raise ValueError(f"{self.display} är inget organisationsnummer")
        return self.value[2:]

    @property
    def display(self) -> str:
        """The form people read: `19121212-1212` or `202100-4748`."""
        if self.is_person:
            return f"{self.value[:8]}-{self.value[8:]}"
        return f"{self.value[2:8]}-{self.value[8:]}"

    @property
    def birth_date(self) -> dt.date | None:
        """A person's date of birth (a samordningsnummer's day less 60); None for organisations."""
        if not self.is_person:
            return None
        day = int(self.value[6:8])
        if self.kind is IdentityKind.SAMORDNINGSNUMMER:
            day -= _SAMORDNING_DAY_OFFSET
        return dt.date(int(self.value[:4]), int(self.value[4:6]), day)

    def age_at(self, on: dt.date) -> int | None:
        """Age in whole years on a given date; None for organisations."""
        born = self.birth_date
        if born is None:
            return None
        had_birthday = (on.month, on.day) >= (born.month, born.day)
        return on.year - born.year - (0 if had_birthday else 1)

    def __str__(self) -> str:
        return self.value


def luhn_check_digit(nine_digits: str) -> int:
    """The check digit that the Luhn algorithm gives for nine digits (weights 2, 1, 2, …)."""
    total = 0
    for position, char in enumerate(nine_digits):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product  # noqa: PLR2004 (digit sum of 10..18)
    return (10 - total % 10) % 10


def parse_identity(text: str, *, today: dt.date | None = None) -> RecipientId:
    """Parse a personnummer, samordningsnummer or organisationsnummer as people type it.

    Accepts 10 or 12 digits, spaces, a `-` before the last four digits, or a `+` there for a
    person aged 100 or more. `today` decides the century of a 10-digit personnummer.

    Raises:
        InvalidIdentityError: with a Swedish message that says what is wrong.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    compact = text.replace(" ", "")
    if not compact:
        raise InvalidIdentityError(text, "inget nummer angivet (ange 10 eller 12 siffror)")
    if not _ALLOWED.fullmatch(compact):
        raise InvalidIdentityError(
            text, "får bara innehålla siffror, mellanslag och ett bindestreck eller plustecken"
        )
    digits_only = compact.replace("-", "").replace("+", "")
    if len(digits_only) not in (10, 12):
        raise InvalidIdentityError(
            text, f"har fel längd: {len(digits_only)} siffror (ange 10 eller 12 siffror)"
        )
    digits, separator = _split_separator(text, compact)
    if len(digits) == 12 and digits.startswith(ORGANISATION_PREFIX):  # noqa: PLR2004
        return _organisation(text, digits[2:], separator)
    if len(digits) == 10 and int(digits[2]) >= 2:  # noqa: PLR2004 (the "month" of an org number is >= 20)
        return _organisation(text, digits, separator)
    if len(digits) == 12:  # noqa: PLR2004
        if separator == "+":
            raise InvalidIdentityError(
                text, "plustecken används bara med 10 siffror; med århundrade anges bindestreck"
            )
        return _person(text, digits, today)
    return _person(text, _with_century(text, digits, separator, today), today)


def parse_person(text: str, *, today: dt.date | None = None) -> RecipientId:
    """Parse an identity number that must belong to a person (personnummer or samordningsnummer)."""
    identity = parse_identity(text, today=today)
    if not identity.is_person:
        raise InvalidIdentityError(
            text, "är ett organisationsnummer, men här krävs ett person- eller samordningsnummer"
        )
    return identity


def parse_organisation(text: str) -> RecipientId:
    """Parse an identity number that must be an organisationsnummer."""
    identity = parse_identity(text)
    if identity.is_person:
        raise InvalidIdentityError(
            text,
            "är ett person- eller samordningsnummer, men här krävs ett organisationsnummer "
            "(en enskild firma har inget eget organisationsnummer)",
        )
    return identity


def _split_separator(text: str, compact: str) -> tuple[str, str | None]:
    separators = [c for c in compact if c in "+-"]
    if not separators:
        return compact, None
    if len(separators) > 1:
        raise InvalidIdentityError(text, "får ha högst ett bindestreck eller plustecken")
    position = len(compact) - 5
    if position < 0 or compact[position] not in "+-":
        raise InvalidIdentityError(
            text, "bindestrecket eller plustecknet ska stå före de fyra sista siffrorna"
        )
    return compact.replace(separators[0], ""), separators[0]


def _organisation(text: str, ten: str, separator: str | None) -> RecipientId:
    if separator == "+":
        raise InvalidIdentityError(
            text, "ett organisationsnummer skrivs med bindestreck, inte plus"
        )
    if int(ten[2]) < 2:  # noqa: PLR2004
        raise InvalidIdentityError(
            text, "är inget organisationsnummer (tredje siffran ska vara 2 eller större)"
        )
    if luhn_check_digit(ten[:9]) != int(ten[9]):
        raise InvalidIdentityError(text, "kontrollsiffran stämmer inte")
    return RecipientId(ORGANISATION_PREFIX + ten, IdentityKind.ORGANISATIONSNUMMER)


def _with_century(text: str, ten: str, separator: str | None, today: dt.date) -> str:
    """Choose the century of a 10-digit number: the latest that puts the birth in the past.

    A `+` means the person is 100 years or older, so one more century back.
    """
    yy = int(ten[:2])
    year = today.year - (today.year - yy) % 100
    month, day = int(ten[2:4]), int(ten[4:6]) % _SAMORDNING_DAY_OFFSET
    if (month, day) > (today.month, today.day) and year == today.year:
        year -= 100
    if separator == "+":
        year -= 100
    if year < 1800:  # noqa: PLR2004
        raise InvalidIdentityError(text, "datumet finns inte")
    return f"{year:04d}{ten}"[:2] + ten


def _person(text: str, twelve: str, today: dt.date) -> RecipientId:
    year, month, day = int(twelve[:4]), int(twelve[4:6]), int(twelve[6:8])
    kind = IdentityKind.PERSONNUMMER
    if day > _SAMORDNING_DAY_OFFSET:
        kind = IdentityKind.SAMORDNINGSNUMMER
        day -= _SAMORDNING_DAY_OFFSET
    try:
        born = dt.date(year, month, day)
    except ValueError:
        raise InvalidIdentityError(text, "datumet finns inte") from None
    if year < 1800:  # noqa: PLR2004 (the wire pattern admits 18xx, 19xx and 20xx)
        raise InvalidIdentityError(text, "datumet finns inte")
    if born > today:
        raise InvalidIdentityError(text, "datumet ligger i framtiden")
    if luhn_check_digit(twelve[2:11]) != int(twelve[11]):
        raise InvalidIdentityError(text, "kontrollsiffran stämmer inte")
    return RecipientId(twelve, kind)
