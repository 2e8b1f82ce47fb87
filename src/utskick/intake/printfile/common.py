"""What the parts of print-file intake share: the refusal, a letter as planned, a reading.

A print file is first planned (which pages make which letter, and whose it is) without
storing anything; only a plan without structural problems is split and handed to the letter
service. `PlannedLetter` is one letter of that plan; `Reading` is what a recipient reader
found: the number as written, or why there is none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

# The largest print file taken: a night's invoice run of some thousand letters is far below,
# and the whole file is held in memory while it is split.
MAX_PRINT_FILE_BYTES = 256 * 1024 * 1024
# The largest control file: a row per letter, a few hundred bytes each.
MAX_CONTROL_FILE_BYTES = 16 * 1024 * 1024


class PrintFileRefusedError(ValueError):
    """A print file that is not taken at all; nothing of it is stored.

    `message` says in Swedish what is wrong and what to do.
    """

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass(frozen=True)
class Reading:
    """A recipient as read from a print file: the number as written, or why there is none.

    `recipient` is set when a number was found (even one whose check digit is wrong, so that
    the receipt shows what was read); `problem` is set when the letter cannot be sent to it.
    """

    recipient: str | None
    problem: str | None = None


@dataclass(frozen=True)
class PlannedLetter:
    """One letter of a print file: its pages, its recipient and what the control file says.

    `problem` (Swedish) is set for a letter that is not handed to the letter service; its
    pages are still known, so that the caller can put them aside.
    """

    index: int  # from 1, in the order of the plan
    first_page: int  # from 1
    last_page: int  # inclusive
    recipient: str | None
    problem: str | None = None
    subject: str | None = None
    message_type: str | None = None
    case_number: str | None = None
    reference: str | None = None
    not_before: dt.datetime | None = None


def pages_text(first_page: int, last_page: int) -> str:
    """`sidan 3` or `sidorna 3–4`, as a reason names pages."""
    if first_page == last_page:
        return f"sidan {first_page}"
    return f"sidorna {first_page}–{last_page}"
