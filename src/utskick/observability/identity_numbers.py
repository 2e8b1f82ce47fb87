"""Finding Swedish identity numbers in free text, so that they can be masked or refused.

One pattern for the whole system: the log redaction masks what it finds, and the request id
refuses a value in which it finds one. Kept apart from both (`logs` imports `context`), so that
neither holds a copy of the other's rule.
"""

from __future__ import annotations

import re

MASKED_IDENTITY = "[masked id number]"

# A personnummer or samordningsnummer (an organisationsnummer is found, then left as it is):
# 10 or 12 digits, optionally with
# -, + or a space before the last four, standing alone (not inside a longer number or a hex id).
_IDENTITY_NUMBER = re.compile(
    r"(?<![0-9A-Za-z])(?P<century>\d{2})?(?P<date>\d{6})[-+ ]?(?P<serial>\d{4})(?![0-9A-Za-z])"
)
# 16 marks an organisation number written with 12 digits; 18, 19 and 20 are centuries.
_TWELVE_DIGIT_PREFIXES = frozenset({"16", "18", "19", "20"})
_ORGANISATION_PREFIX = "16"
# An organisationsnummer has 20 or more where a person's number has its month (01-12).
_ORGANISATION_MONTH = 20


def luhn_valid(ten_digits: str) -> bool:
    """Whether the last of ten digits is the Luhn check digit of the nine before it."""
    total = 0
    for position, character in enumerate(ten_digits[:9]):
        product = int(character) * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product  # noqa: PLR2004 (digit sum of 10-18)
    return (10 - total % 10) % 10 == int(ten_digits[9])


def _mask_identity(found: re.Match[str]) -> str:
    century, date = found["century"], found["date"]
    if century is not None and century not in _TWELVE_DIGIT_PREFIXES:
        return found[0]  # twelve digits that are no identity number
    if century == _ORGANISATION_PREFIX or int(date[2:4]) >= _ORGANISATION_MONTH:
        return found[0]  # an organisation's number names no person: operators need it
    return MASKED_IDENTITY if luhn_valid(date + found["serial"]) else found[0]


def mask_identity_numbers(text: str) -> str:
    """`text` with every identity number (valid check digit, any written form) masked."""
    return _IDENTITY_NUMBER.sub(_mask_identity, text)


def holds_identity_number(text: str) -> bool:
    """Whether `text` holds something `mask_identity_numbers` would mask."""
    return mask_identity_numbers(text) != text
