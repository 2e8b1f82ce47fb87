"""Identity numbers as print files write them, found in text and checked.

A number is written as people type it: 10 or 12 digits, with a `-` (or for a person aged 100
or more a `+`) before the last four, sometimes with a space around the sign:
`19121212-1212`, `191212121212`, `121212-1212`, `121212+1212`, `212000-0142`. Whether it
is a valid personnummer, samordningsnummer or organisationsnummer (date, check digit) is
`utskick.identity`'s to say; here it is only found, and the reason worded for a print file.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.intake.printfile.common import Reading

# Six or eight digits, an optional sign, four digits; no digit right before or after.
NUMBER = r"(?<![0-9])[0-9]{6}(?:[0-9]{2})?[ \t]?[-+]?[ \t]?[0-9]{4}(?![0-9])"
_NUMBER = re.compile(NUMBER)
# What stands after a label, for saying what was found instead of a number.
_AFTER_LABEL = re.compile(r"\s*([^\r\n]{0,24})")


def written(number: str) -> str:
    """A number as found, with the spaces around its sign taken out (`121212 - 1212`)."""
    return re.sub(r"[ \t]", "", number)


def checked_reading(
    number: str, where: str, today: dt.date, *, fix_in: str = "PDF-filen"
) -> Reading:
    """The number as read, with the problem if it is no valid identity number.

    Args:
        number: the number as written.
        where: where it was read, for the reason (`sidan 3`, `formulärfältet "pnr"`).
        today: the day that decides the century of a 10-digit number.
        fix_in: where the sender corrects it (`PDF-filen`, `styrfilen`, `filnamnet`).
    """
    try:
        parse_identity(number, today=today)
    except InvalidIdentityError as error:
        return Reading(
            number,
            f"{where}: numret {number} är inget giltigt person-, samordnings- eller "
            f"organisationsnummer ({error.problem}); rätta numret i {fix_in} och lämna in "
            "brevet igen",
        )
    return Reading(number)


def whole_number(text: str) -> str | None:
    """The text as one number (spaces around it allowed), or None if it is not only that."""
    stripped = text.strip()
    match = _NUMBER.fullmatch(stripped)
    return written(match.group()) if match else None


def leading_number(text: str) -> str | None:
    """The number a text starts with (`19121212-1212_beslut.pdf`), or None."""
    match = _NUMBER.match(text)
    return written(match.group()) if match else None


def label_pattern(label: str) -> re.Pattern[str]:
    """The label as found in extracted text: any case, any whitespace between its characters.

    Text taken out of a PDF breaks words and spaces in many ways (`Person nummer :`), so the
    label's characters may stand with or without whitespace between them.
    """
    characters = [re.escape(character) for character in label if not character.isspace()]
    return re.compile(r"\s*".join(characters), re.IGNORECASE)


def numbers_after(label: re.Pattern[str], text: str) -> list[tuple[str | None, str]]:
    """Each occurrence of the label in the text, with the number right after it.

    Returns:
        Per occurrence: the number (None if there is none), and what stands after the label,
        for the reason.
    """
    found: list[tuple[str | None, str]] = []
    for occurrence in label.finditer(text):
        rest = text[occurrence.end() :]
        match = re.match(r"\s*(" + NUMBER + ")", rest)
        if match:
            found.append((written(match.group(1)), match.group(1)))
            continue
        after = _AFTER_LABEL.match(rest)
        found.append((None, after.group(1).strip() if after else ""))
    return found


def distinct_numbers(numbers: Iterable[str]) -> list[str]:
    """The numbers, each identity once (`19121212-1212` and `191212121212` are one)."""
    seen: dict[str, str] = {}
    for number in numbers:
        try:
            key = parse_identity(number).value
        except InvalidIdentityError:
            key = number
        seen.setdefault(key, number)
    return list(seen.values())


def without_leading_number(text: str) -> str:
    """The text with the number it starts with left out (`19121212-1212_beslut` → `_beslut`)."""
    match = _NUMBER.match(text)
    return text[match.end() :] if match else text
