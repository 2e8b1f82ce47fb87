"""Protected identities (skyddad identitet) are never shown to someone reading records.

A letter's recipient counts as protected when either
1. the letter's own events say so: FaR refused the recipient as protected when the letter
   was classified (reason `protected_identity`), or the print service found the person
   protected when it batched the letter (a `batched` event with `protected` in its data); or
2. the population register says so now, asked once for all the persons on a page: a person
   may have been given a protected identity after the letter went out.

When a register is configured but does not answer, no one can tell who is protected, so every
person's identity on that page is masked (fail closed) and the page says why. When no register
is configured at all, the letters' events are all there is to go on.

Masked means that the identity number reads "Skyddad identitet" and no postal address is shown;
a record produced for disclosure is masked the same way. Organisations have no protected
identity and are never masked.

The records pages and API mask for everyone who opens them; the desk's Skickat pages ask the
same question (through the port `RecordsMasking` answers) for the records role.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.letters import vocabulary
from utskick.letters.address_screen import ProtectedIdentityLookup, ProtectionUnknownError
from utskick.letters.models import Letter, LetterEvent

PROTECTED_TEXT = "Skyddad identitet"
UNCHECKED_TEXT = "Visas inte just nu: folkbokföringen svarar inte om skyddad identitet"
ADDRESS_HIDDEN = "Visas inte: mottagaren har skyddad identitet."
REGISTER_UNAVAILABLE = (
    "Folkbokföringen kan inte frågas om skyddad identitet just nu, så inga personnummer visas "
    "på den här sidan. Ladda om sidan om en stund."
)


@dataclasses.dataclass(frozen=True)
class Masking:
    """Which letters' recipients are masked, and why all persons are when the register is down.

    Attributes:
        letter_ids: the letters whose recipient must not be shown.
        note: a Swedish sentence for the page when every person is masked, else None.
    """

    letter_ids: frozenset[str]
    note: str | None = None

    def masks(self, letter: Letter) -> bool:
        """Whether this letter's recipient is masked."""
        return letter.id in self.letter_ids

    def hidden_text(self, letter: Letter) -> str | None:
        """What is shown instead of the recipient's number; None: the number may be shown."""
        if not self.masks(letter):
            return None
        return PROTECTED_TEXT if self.note is None else UNCHECKED_TEXT


def is_person(recipient_id: str) -> bool:
    """Whether a stored recipient id is a person's (an unreadable one is taken to be)."""
    try:
        return parse_identity(recipient_id).is_person
    except InvalidIdentityError:
        return True


def protected_by_events(session: Session, letter_ids: Sequence[str]) -> set[str]:
    """The letters among these whose own events found the recipient protected."""
    if not letter_ids:
        return set()
    rows = session.execute(
        select(LetterEvent.letter_id, LetterEvent.reason, LetterEvent.data).where(
            LetterEvent.letter_id.in_(letter_ids),
            or_(
                LetterEvent.reason == vocabulary.PROTECTED_IDENTITY,
                LetterEvent.state == vocabulary.BATCHED,
            ),
        )
    )
    return {
        str(letter_id)
        for letter_id, reason, data in rows
        if reason == vocabulary.PROTECTED_IDENTITY or (data or {}).get("protected") is True
    }


def masking_for(
    session: Session,
    letters: Iterable[Letter],
    protection: Callable[[], ProtectedIdentityLookup | None],
) -> Masking:
    """Which of these letters' recipients must be masked (see the module's rule)."""
    persons = [letter for letter in letters if is_person(letter.recipient_id)]
    if not persons:
        return Masking(frozenset())
    masked = protected_by_events(session, [letter.id for letter in persons])
    lookup = protection()
    if lookup is not None:
        try:
            now_protected = lookup.protected(sorted({letter.recipient_id for letter in persons}))
        except ProtectionUnknownError:
            return Masking(frozenset(letter.id for letter in persons), REGISTER_UNAVAILABLE)
        masked |= {letter.id for letter in persons if letter.recipient_id in now_protected}
    return Masking(frozenset(masked))


class RecordsMasking:
    """The records' masking rule as a callable port for pages outside records (the desk's).

    Args:
        protection: the population register as the intake asks it (None: none configured).
    """

    def __init__(self, protection: Callable[[], ProtectedIdentityLookup | None]) -> None:
        self.protection = protection

    def __call__(self, session: Session, letters: Sequence[Letter]) -> Masking:
        """Which of these letters' recipients must be masked."""
        return masking_for(session, letters, self.protection)
