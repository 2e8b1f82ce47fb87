"""What became of a mass mailing: its progress for the page, and its outcome per row as CSV.

The progress is the mailing's counts (rows checked, rows handed over) and, once letters
exist, its batch's letters counted by state and channel from the database. The outcome file
is made as it is downloaded, a block of rows at a time: the precheck and the sending record
are read side by side and each block's letters are looked up in one query, so the answer
streams and memory does not grow with the mailing.
"""

from __future__ import annotations

import codecs
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from utskick.desk.letter_views import LocalTimes
from utskick.desk.mass_mailing import (
    PRECHECK_FILE,
    SENDING_FILE,
    STATUS_TEXTS,
    MailingStore,
    MassMailing,
)
from utskick.desk.mass_precheck import RowOutcome, csv_line, excel_cell, read_precheck
from utskick.desk.mass_sending import LetterFacts, MassLetters, SentRow, read_sending
from utskick.letters import vocabulary

OUTCOME_HEADER = ("Rad", "Mottagare", "Brev-id", "Kanal", "Läge", "Orsak", "Tid")
OUTCOME_BLOCK = 500
NOT_SENT = "skickades inte"
NOT_YET = "inte skickat än"
REFUSED = "togs inte emot"


@dataclass(frozen=True)
class LetterCount:
    """How many of the mailing's letters are in one state on one channel."""

    state: str
    channel: str
    count: int


@dataclass(frozen=True)
class LetterProgress:
    """The mailing's letters: how many, how many have an outcome, and by state and channel."""

    total: int
    known: int
    counts: list[LetterCount]

    def as_json(self) -> dict[str, Any]:
        """For the page's polling."""
        return {
            "total": self.total,
            "known": self.known,
            "final": self.total > 0 and self.known == self.total,
            "counts": [count.__dict__ for count in self.counts],
        }


def letter_progress(session: Session, batch_id: str) -> LetterProgress:
    """The batch's letters counted by state and channel, in the states' order."""
    counted = MassLetters(session).counts(batch_id)
    order: dict[str, int] = {state: index for index, state in enumerate(vocabulary.STATES)}
    rows = sorted(counted.items(), key=lambda item: (order.get(item[0][0], 99), item[0][1] or ""))
    return LetterProgress(
        total=sum(counted.values()),
        known=sum(
            count
            for (state, _channel), count in counted.items()
            if state in vocabulary.OUTCOME_KNOWN_STATES
        ),
        counts=[
            LetterCount(vocabulary.state_text(state), vocabulary.channel_text(channel), count)
            for (state, channel), count in rows
        ],
    )


def status_json(
    mailing: MassMailing, shown_status: str, letters: LetterProgress | None
) -> dict[str, Any]:
    """What the mailing's page updates while it is checked and sent (`massutskick.js`)."""
    precheck, sending = mailing.precheck, mailing.sending
    return {
        "status": shown_status,
        "status_text": STATUS_TEXTS[shown_status],
        "error": mailing.error,
        "precheck": {
            "rows": precheck.rows,
            "digital": precheck.digital,
            "paper": precheck.paper,
            "impossible": precheck.impossible,
            "problem": precheck.problem,
            "unknown": precheck.unknown,
            "to_send": precheck.to_send,
        },
        "sending": {
            "to_send": sending.to_send or precheck.to_send,
            "accepted": sending.accepted,
            "refused": sending.refused,
            "handed_over": sending.handed_over,
        },
        "letters": letters.as_json() if letters is not None else None,
    }


def outcome_lines(
    store: MailingStore,
    mailing: MassMailing,
    sessions: sessionmaker[Session],
    times: LocalTimes,
) -> Iterator[bytes]:
    """The outcome of every row as CSV lines (UTF-8 with a BOM, `;`), made as they are read."""
    yield codecs.BOM_UTF8 + csv_line(OUTCOME_HEADER)
    sent_rows = read_sending(store.path(mailing.id, SENDING_FILE))
    waiting: SentRow | None = next(sent_rows, None)
    with store.path(mailing.id, PRECHECK_FILE).open("rb") as stream:
        checked = read_precheck(stream)
        while block := list(itertools.islice(checked, OUTCOME_BLOCK)):
            last = block[-1].row_number
            handed: dict[int, SentRow] = {}
            while waiting is not None and waiting.row_number <= last:
                handed[waiting.row_number] = waiting
                waiting = next(sent_rows, None)
            ids = [row.letter_id for row in handed.values() if row.letter_id is not None]
            with sessions() as session:
                facts = MassLetters(session).facts(mailing.id, ids) if ids else {}
            for row in block:
                yield csv_line(_outcome_row(row, handed.get(row.row_number), facts, times))


def _outcome_row(
    row: RowOutcome,
    handed: SentRow | None,
    facts: dict[str, LetterFacts],
    times: LocalTimes,
) -> tuple[object, ...]:
    start = (row.row_number, excel_cell(row.recipient))
    if not row.sendable:
        return (*start, "", "", NOT_SENT, excel_cell(row.reason), "")
    if handed is None:
        return (*start, "", "", NOT_YET, "", "")
    if handed.letter_id is None:
        return (*start, "", "", REFUSED, excel_cell(handed.refusal or ""), "")
    letter = facts.get(handed.letter_id)
    if letter is None:  # every letter of the record is the batch's; shown by its id regardless
        return (*start, handed.letter_id, "", "", "", "")
    return (
        *start,
        letter.letter_id,
        vocabulary.channel_text(letter.channel),
        vocabulary.state_text(letter.state),
        vocabulary.text_for(letter.reason) if letter.reason else "",
        times.minutes(letter.updated_at),
    )
