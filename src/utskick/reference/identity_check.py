"""Checks of a personnummer or samordningsnummer typed by a citizen in the mailbox web UI.

The reference infrastructure is another party than the connector, so it keeps its own small
check instead of importing the connector's identity module.
"""

from __future__ import annotations

import datetime as dt
import re

# Twelve digits, optionally with a hyphen between the date and the serial number.
_TYPED_NUMBER = re.compile(r"((?:18|19|20)\d{6})-?(\d{4})")
SAMORDNINGSNUMMER_DAY_OFFSET = 60


class IdentityNumberError(ValueError):
    """A typed personnummer that is not valid; the message says what is wrong (Swedish)."""


def normalise_personnummer(typed: str) -> str:
    """The 12-digit form of a typed personnummer or samordningsnummer.

    Accepts `ÅÅÅÅMMDDNNNN` with an optional `-` before the last four digits and
    spaces anywhere. The date must exist (samordningsnummer: day + 60) and the check digit
    must be right.

    Args:
        typed: what the person wrote.

    Returns:
        Twelve digits, `YYYYMMDDNNNC`.

    Raises:
        IdentityNumberError: naming what is wrong and how to write it.
    """
    compact = "".join(typed.split())
    if not compact:
        raise IdentityNumberError("Skriv ett personnummer med tolv siffror, t.ex. 19121212-1212.")
    match = _TYPED_NUMBER.fullmatch(compact)
    if match is None:
        raise IdentityNumberError(
            f"'{typed.strip()}' är inget personnummer: skriv tolv siffror med sekel, "
            "t.ex. 19121212-1212."
        )
    number = match.group(1) + match.group(2)
    born = _birth_date(number)
    if born is None or born > dt.datetime.now(dt.UTC).date():
        raise IdentityNumberError(
            f"'{typed.strip()}' är inget personnummer: {number[:8]} är inget giltigt födelsedatum."
        )
    if not luhn_valid(number[2:]):
        raise IdentityNumberError(
            f"'{typed.strip()}' är inget personnummer: kontrollsiffran stämmer inte."
        )
    return number


def luhn_valid(ten_digits: str) -> bool:
    """Whether the last of ten digits is the Luhn check digit of the nine before it."""
    total = 0
    for position, char in enumerate(ten_digits):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product  # noqa: PLR2004 (digit sum)
    return total % 10 == 0


def _birth_date(number: str) -> dt.date | None:
    year, month, day = int(number[:4]), int(number[4:6]), int(number[6:8])
    if day > SAMORDNINGSNUMMER_DAY_OFFSET:
        day -= SAMORDNINGSNUMMER_DAY_OFFSET
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None
