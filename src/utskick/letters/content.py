"""Removing a letter's content: after digital delivery, or when its retention runs out.

The letter row, its digests and its events stay; what goes is what was written to the
recipient. Both are called by the records work, which decides when by the records rule.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import update
from sqlalchemy.orm import Session

from utskick.letters.models import Letter, LetterAttachment

# Attachments that go out digitally (the others are printed only).
DIGITAL_ATTACHMENT_CHANNELS = frozenset({"both", "digital"})


def remove_delivered_contents(session: Session, letter_ids: Sequence[str]) -> None:
    """Remove what was delivered digitally (R8) from these letters; paper-only parts stay.

    Two statements for any number of letters, nothing loaded.

    Letters and attachments the session already holds are updated too (the default
    synchronisation evaluates the criteria in Python), so a caller reads what is stored.
    """
    if not letter_ids:
        return
    ids = list(letter_ids)
    session.execute(update(Letter).where(Letter.id.in_(ids)).values(body=None))
    session.execute(
        update(LetterAttachment)
        .where(
            LetterAttachment.letter_id.in_(ids),
            LetterAttachment.channel.in_(DIGITAL_ATTACHMENT_CHANNELS),
        )
        .values(content=None)
    )


def remove_all_content(letter: Letter) -> None:
    """Remove the body and every attachment's content (disposal of the content)."""
    letter.body = None
    for attachment in letter.attachments:
        attachment.content = None


def has_content(letter: Letter) -> bool:
    """Whether anything of what was written is still stored."""
    return letter.body is not None or any(a.content is not None for a in letter.attachments)
