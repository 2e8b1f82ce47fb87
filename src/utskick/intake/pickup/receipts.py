"""What Utskick writes beside the files it took or refused: receipts, reasons and outcomes.

- `<name>.kvitto.json` (in `behandlade/`): per letter of the file what became of it when it
  was taken: its letter id, its pages or its row or line, the recipient as the file gave it,
  and accepted or refused with the Swedish reason. JSON with English keys, as the API has;
  times in ISO 8601, UTC.
- `<name>.fel.txt` (in `fel/`): why a file was not taken at all and what to do, in Swedish.
- `<name>.utfall.csv` (in `behandlade/`, once every letter of the file has a known outcome):
  per letter its id, the recipient, its state and channel in Swedish, and the reason. CSV
  with `;`, UTF-8 with a byte order mark (Excel reads it right), as the records' files are;
  a cell that would start a formula gets a leading `'` (`letters.tables.cells`).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Self
from zoneinfo import ZoneInfo

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.intake.pickup.repository import LetterOutcome
from utskick.letters import vocabulary
from utskick.letters.tables.cells import spreadsheet_text

RECEIPT_SUFFIX = ".kvitto.json"
REASON_SUFFIX = ".fel.txt"
OUTCOME_SUFFIX = ".utfall.csv"
# How many refused letters the row's receipt summary names (the receipt file names all).
SUMMARY_REJECTIONS = 20
OUTCOME_COLUMNS = ("brev_id", "mottagare", "utfall", "kanal", "skäl")


@dataclass
class Taken:
    """What taking a file came to: its batch, its counts and the receipt written locally."""

    batch_id: str | None
    accepted: int
    rejected: int
    receipt: Path
    first_rejections: list[dict[str, object]] = field(default_factory=list)

    def summary(self, **extra: object) -> dict[str, object]:
        """The receipt's summary as the `intake_file` row keeps it."""
        return {
            "batch_id": self.batch_id,
            "accepted": self.accepted,
            "rejected": self.rejected,
            "first_rejections": self.first_rejections,
            **extra,
        }

    def note_rejection(self, entry: dict[str, object]) -> None:
        """Keep a refused letter for the summary, while there is room."""
        if len(self.first_rejections) < SUMMARY_REJECTIONS:
            self.first_rejections.append(entry)


class ReceiptWriter:
    """A receipt file written a letter at a time, so that a file of any size fits.

    The letters come first and the totals last (a JSON object's keys have no order): the
    totals are known only at the end.
    """

    def __init__(self, path: Path, header: dict[str, object]) -> None:
        self.path = path
        self._stream: IO[str] = path.open("w", encoding="utf-8")
        head = json.dumps(header, ensure_ascii=False, indent=2)[:-1].rstrip()
        self._stream.write(f'{head},\n  "letters": [')
        self._first = True

    def add(self, entry: dict[str, object]) -> None:
        """One letter's line of the receipt."""
        separator = "\n    " if self._first else ",\n    "
        self._stream.write(separator + json.dumps(entry, ensure_ascii=False))
        self._first = False

    def close(self, totals: dict[str, object]) -> None:
        """Write the totals and close the file."""
        self._stream.write("\n  ]")
        for key, value in totals.items():
            self._stream.write(f",\n  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}")
        self._stream.write("\n}\n")
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if not self._stream.closed:
            self._stream.close()


def write_receipt(path: Path, header: dict[str, object], body: dict[str, object]) -> None:
    """A whole receipt at once (a print file's or a table's, which their takers give whole)."""
    path.write_text(
        json.dumps({**header, **body}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )


def local_time(moment: dt.datetime, zone: str) -> str:
    """A time as people read it: local, with the zone named (`2026-12-07 10:15 CET`)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def stamp(moment: dt.datetime, zone: str) -> str:
    """A local time for a file name: `20261207-101500`."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(ZoneInfo(zone)).strftime("%Y%m%d-%H%M%S")


def reason_text(*, name: str, source: str, when: str, reason: str, sha256: str | None) -> str:
    """The text of a refused file's `.fel.txt`: what was refused, when, why, and what to do."""
    lines = [
        f"Utskick tog inte emot filen {name} från källan {source} ({when}).",
        "",
        reason,
        "",
        (
            "Inga brev i filen har skickats. Rätta filen och lägg den i mappen igen; en fil med "
            "samma innehåll som redan tagits emot skickas aldrig två gånger."
        ),
    ]
    if sha256:
        lines += ["", f"Filens SHA-256: {sha256}"]
    return "\n".join(lines) + "\n"


def shown_recipient(recipient_id: str) -> str:
    """A 12-digit recipient id as people type it (`19121212-1212`)."""
    try:
        return parse_identity(recipient_id).display
    except InvalidIdentityError:
        return recipient_id


def write_outcomes(path: Path, letters: Iterable[LetterOutcome]) -> int:
    """The outcome file of a file's letters; returns how many letters it lists."""
    count = 0
    with path.open("w", encoding="utf-8-sig", newline="") as stream:
        writer = csv.writer(stream, delimiter=";", lineterminator="\r\n")
        writer.writerow(OUTCOME_COLUMNS)
        for letter in letters:
            cells = (
                letter.letter_id,
                shown_recipient(letter.recipient_id),
                vocabulary.state_text(letter.state),
                vocabulary.channel_text(letter.channel),
                vocabulary.text_for(letter.reason) if letter.reason else "",
            )
            writer.writerow([spreadsheet_text(cell) for cell in cells])
            count += 1
    return count
