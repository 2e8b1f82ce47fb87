"""What became of a print file: each letter's pages, recipient and outcome."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PrintFileLetter:
    """One letter of a print file and what became of it.

    `letter_id` is set for an accepted letter (`created` False: it was accepted before, from
    the same file, and is given back); `problem` (Swedish) says why a letter was rejected.
    """

    index: int  # from 1
    first_page: int  # from 1
    last_page: int  # inclusive
    recipient: str | None  # as read from the file
    letter_id: str | None
    created: bool
    problem: str | None

    def as_json(self) -> dict[str, object]:
        """The letter as a receipt file writes it."""
        return {
            "index": self.index,
            "first_page": self.first_page,
            "last_page": self.last_page,
            "recipient": self.recipient,
            "letter_id": self.letter_id,
            "created": self.created,
            "problem": self.problem,
        }


@dataclass
class PrintFileReceipt:
    """The outcome of taking a print file: its batch and every letter in order.

    `batch_id` is None when no letter was accepted (the batch is then not kept).
    """

    batch_id: str | None
    letters: list[PrintFileLetter] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Letters accepted now or before (replayed)."""
        return sum(1 for letter in self.letters if letter.letter_id is not None)

    @property
    def replayed(self) -> int:
        """Letters accepted before from the same file and given back, not created again."""
        return sum(1 for letter in self.letters if letter.letter_id and not letter.created)

    @property
    def rejected(self) -> int:
        """Letters not accepted; each has its problem."""
        return sum(1 for letter in self.letters if letter.letter_id is None)

    def as_json(self) -> dict[str, object]:
        """The receipt as JSON-ready data (for a receipt file or an answer)."""
        return {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "replayed": self.replayed,
            "rejected": self.rejected,
            "letters": [letter.as_json() for letter in self.letters],
        }
