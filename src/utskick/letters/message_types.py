"""Message types (beslut, faktura …): each with its default protection class (R6).

A letter may name its message type instead of a protection class; the type's class is then
the letter's. Class 4 is allowed on a type: its letters are refused, because class 4 must not
go through Mina meddelanden. A type's records rule lives with the records rules
(`records.rules`), keyed by the same code. The functions take the caller's session and never
commit.
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from utskick.letters.models import MessageType

PROTECTION_CLASSES = (1, 2, 3, 4)
MAX_CODE_LENGTH = 64
MAX_NAME_LENGTH = 256
# A code as sending systems type it: letters, digits and - _ . (no spaces).
CODE_PATTERN = re.compile(r"[\w.\-]+")
# The code the records rules use for "every other type": never a message type of its own.
RESERVED_CODE = "*"


class MessageTypeError(ValueError):
    """A message type that cannot be added, found or changed; the message is Swedish."""


def message_types(session: Session) -> list[MessageType]:
    """Every message type, by code."""
    return list(session.scalars(select(MessageType).order_by(MessageType.code)))


def find_message_type(session: Session, code: str) -> MessageType:
    """The message type with this code.

    Raises:
        MessageTypeError: there is none.
    """
    found = session.get(MessageType, code.strip())
    if found is None:
        message = f"det finns ingen meddelandetyp {code.strip()!r}; se utskick message-types list"
        raise MessageTypeError(message)
    return found


def add_message_type(session: Session, code: str, name: str, protection_class: int) -> MessageType:
    """Add a message type (the caller commits).

    Raises:
        MessageTypeError: the code is taken or malformed, the name empty, the class not 1–4.
    """
    code = _checked_code(code)
    if session.get(MessageType, code) is not None:
        message = f"meddelandetypen {code} finns redan; ändra den med utskick message-types change"
        raise MessageTypeError(message)
    added = MessageType(
        code=code, name=_checked_name(name), protection_class=_checked_class(protection_class)
    )
    session.add(added)
    session.flush()
    return added


def change_message_type(
    session: Session,
    code: str,
    *,
    name: str | None = None,
    protection_class: int | None = None,
) -> MessageType:
    """Change a message type's name or protection class (None: as it is; caller commits).

    Letters already accepted keep the class they were accepted with.

    Raises:
        MessageTypeError: no such type, or a value that cannot be used (nothing changed).
    """
    found = find_message_type(session, code)
    new_name = _checked_name(name) if name is not None else None
    new_class = _checked_class(protection_class) if protection_class is not None else None
    if new_name is not None:
        found.name = new_name
    if new_class is not None:
        found.protection_class = new_class
    session.flush()
    return found


def _checked_code(code: str) -> str:
    code = code.strip()
    if code == RESERVED_CODE or not CODE_PATTERN.fullmatch(code) or len(code) > MAX_CODE_LENGTH:
        message = (
            f"koden {code!r} går inte att använda; skriv 1–{MAX_CODE_LENGTH} bokstäver, "
            "siffror eller - _ . utan mellanslag, t.ex. bygglovsbeslut"
        )
        raise MessageTypeError(message)
    return code


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        message = f"namnet ska ha 1–{MAX_NAME_LENGTH} tecken, t.ex. Beslut om bygglov"
        raise MessageTypeError(message)
    return name


def _checked_class(protection_class: int) -> int:
    if protection_class not in PROTECTION_CLASSES:
        message = (
            f"skyddsklassen {protection_class} finns inte; ange 1, 2, 3 eller 4 (4: får inte "
            "skickas via Mina meddelanden)"
        )
        raise MessageTypeError(message)
    return protection_class
