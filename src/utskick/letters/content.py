"""Removing a letter's content: after digital delivery, or when its retention runs out.

The letter row, its digests and its events stay; what goes is what was written to the
recipient. Both are called by the records work, which decides when by the records rule.
"""

from __future__ import annotations

from utskick.letters.models import Letter

# Attachments that go out digitally (the others are printed only).
DIGITAL_ATTACHMENT_CHANNELS = frozenset({"both", "digital"})


def remove_delivered_content(letter: Letter) -> None:
    """Remove what was delivered digitally (R8); parts that go only on paper stay."""
    letter.body = None
    for attachment in letter.attachments:
        if attachment.channel in DIGITAL_ATTACHMENT_CHANNELS:
            attachment.content = None


def remove_all_content(letter: Letter) -> None:
    """Remove the body and every attachment's content (disposal of the content)."""
    letter.body = None
    for attachment in letter.attachments:
        attachment.content = None


def has_content(letter: Letter) -> bool:
    """Whether anything of what was written is still stored."""
    return letter.body is not None or any(a.content is not None for a in letter.attachments)
