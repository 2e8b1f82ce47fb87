"""A postal address given for a person with protected identity is never stored, not even briefly.

The population register knows who has a protected identity (skyddad identitet); a sending
system that gives an address with a letter may not. Such an address must never be written
anywhere, so the register is asked before the letter is accepted, outside any database
transaction: for a protected person the address is dropped before the letter is built, and
the letter goes on paper through Skatteverket's forwarding service as every letter to a
protected person does. When the register cannot be asked, the address cannot be judged, and
a letter with an address is refused with the reason (the sending system may try again, or
send without an address); a letter without one needs no answer and is accepted as before.

The letter service takes an address only from a letter screened here, so a way in that
forgets to ask refuses addresses instead of storing them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from utskick.identity import InvalidIdentityError, RecipientId, parse_identity
from utskick.letters.inputs import LetterInput

UNAVAILABLE = (
    "folkbokföringen kan inte frågas just nu om mottagaren har skyddad identitet, så den "
    "angivna adressen kan inte tas emot; försök igen om en stund, eller skicka brevet utan "
    "adress (då används folkbokföringens)"
)


class ProtectionUnknownError(RuntimeError):
    """The population register cannot say now whether recipients have a protected identity."""


class ProtectedIdentityLookup(Protocol):
    """Asks the population register which of these people have a protected identity."""

    def protected(self, recipient_ids: Sequence[str]) -> set[str]:
        """The 12-digit ids among these that have a protected identity.

        Raises:
            ProtectionUnknownError: the register cannot be asked now.
        """
        ...


@dataclasses.dataclass(frozen=True)
class Screened:
    """Letters ready for the letter service, and why some addresses could not be judged."""

    letters: list[LetterInput]
    # Set when letters with an address stay unscreened (the service then refuses them).
    unavailable: str | None = None


def screen_addresses(
    letters: Sequence[LetterInput], lookup: ProtectedIdentityLookup | None
) -> Screened:
    """Ask once, for every letter that has an address, whether its recipient is protected.

    A protected recipient's letter loses its address here, before anything is stored; the
    others are marked screened and keep theirs. Letters without an address, or whose recipient
    is not a valid person number (the service refuses those for that), pass unchanged.
    `lookup` None means no register is configured: addresses stay unscreened.
    """
    screened = list(letters)
    asked: dict[int, str] = {}
    for index, letter in enumerate(letters):
        if letter.postal_address is None or letter.address_screened:
            continue
        identity = _identity(letter.recipient)
        if identity is not None and identity.is_person:
            asked[index] = identity.value
        elif identity is not None:
            # An organisation has no protected identity to ask about.
            screened[index] = dataclasses.replace(letter, address_screened=True)
    if not asked:
        return Screened(screened)
    if lookup is None:
        return Screened(screened, unavailable=UNAVAILABLE)
    try:
        protected = lookup.protected(sorted(set(asked.values())))
    except ProtectionUnknownError:
        return Screened(screened, unavailable=UNAVAILABLE)
    for index, person in asked.items():
        letter = letters[index]
        screened[index] = dataclasses.replace(
            letter,
            postal_address=None if person in protected else letter.postal_address,
            address_screened=True,
        )
    return Screened(screened)


def _identity(typed: str) -> RecipientId | None:
    try:
        return parse_identity(typed)
    except InvalidIdentityError:
        return None
