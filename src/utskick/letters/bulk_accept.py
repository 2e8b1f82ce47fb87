"""Storing a chunk of letters in a few statements, with the guarantees of one at a time.

`LetterService.accept_many` decides about each letter of a chunk as `accept` would, in order;
this module makes that cheap. `KnownKeys` reads the letters already stored under the chunk's
idempotency keys in one statement and then remembers each letter the chunk creates, so that a
key repeated within the chunk finds the first letter, as it would had the letters come one
after the other. `NewLetters` collects the letters accepted, with their attachments, their
`received` event and their jobs (a webhook job where the system has a webhook, then
`classify`), and writes them with one executemany per table.

Nothing is written before `NewLetters.write`, so a refused letter leaves nothing behind, and
the caller's transaction holds the chunk whole or not at all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Collection, Iterable

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from utskick.jobs.queue import CLASSIFY
from utskick.letters import vocabulary
from utskick.letters.events import EventBatch
from utskick.letters.inputs import (
    AttachmentInput,
    IdempotencyConflictError,
    LetterInput,
    LetterRejectedError,
    checked_idempotency_key,
    same_request,
)
from utskick.letters.models import Letter, LetterAttachment

# Every row of an executemany names every column (None as NULL): rows that left different
# columns out would be split by the ORM into one statement per run of alike rows.
_ALL_COLUMNS = {"render_nulls": True}


@dataclasses.dataclass(frozen=True)
class Accepted:
    """A letter of a chunk that was accepted: its id, and whether it was created now."""

    letter_id: str
    created: bool


# What became of one letter of a chunk: accepted, or refused with the reason.
AcceptOutcome = Accepted | LetterRejectedError


@dataclasses.dataclass(frozen=True)
class _KnownLetter:
    letter_id: str
    # None: stored before fingerprints were kept (compared on what its row holds).
    fingerprint: str | None


class KnownKeys:
    """The letters a sending system has stored under the idempotency keys of one chunk."""

    def __init__(self, session: Session, system_id: str, letters: Iterable[LetterInput]) -> None:
        """Read the letters stored under the letters' keys (one statement; none for no keys)."""
        self.session = session
        self._known: dict[str, _KnownLetter] = {}
        wanted = sorted(set(_usable_keys(letters)))
        if wanted:
            rows = session.execute(
                select(Letter.idempotency_key, Letter.id, Letter.request_fingerprint).where(
                    Letter.sending_system_id == system_id, Letter.idempotency_key.in_(wanted)
                )
            )
            for key, letter_id, fingerprint in rows:
                self._known[key] = _KnownLetter(letter_id, fingerprint)

    def earlier(self, key: str, letter: LetterInput, fingerprint: str) -> Accepted | None:
        """The letter stored under `key` if this letter is the same request; None: key unused.

        Raises:
            IdempotencyConflictError: the key was used for a letter with other content.
        """
        known = self._known.get(key)
        if known is None:
            return None
        if known.fingerprint is not None:
            same = known.fingerprint == fingerprint
        else:
            # Rare (letters from before fingerprints): compared on the whole row, as `accept` does.
            stored = self.session.get(Letter, known.letter_id)
            same = stored is not None and same_request(stored, letter, fingerprint)
        if not same:
            raise IdempotencyConflictError(key, known.letter_id)
        return Accepted(known.letter_id, created=False)

    def remember(self, key: str, letter_id: str, fingerprint: str) -> None:
        """A letter of this chunk now holds `key`: a later letter with it finds this one."""
        self._known[key] = _KnownLetter(letter_id, fingerprint)


class NewLetters:
    """The letters a chunk creates, with everything `accept` stores with a letter."""

    def __init__(self, *, actor: str, now: dt.datetime, webhook_systems: Collection[str]) -> None:
        self._letters: list[dict[str, object]] = []
        self._attachments: list[dict[str, object]] = []
        self._events = EventBatch(actor=actor, now=now, webhook_systems=webhook_systems)

    def __len__(self) -> int:
        return len(self._letters)

    def add(self, letter: dict[str, object], attachments: Iterable[dict[str, object]]) -> None:
        """Add a letter's row and its attachments' rows (without `letter_id`)."""
        letter_id = str(letter["id"])
        self._letters.append(letter)
        self._attachments.extend({**row, "letter_id": letter_id} for row in attachments)
        self._events.add(
            letter_id, str(letter["sending_system_id"]), vocabulary.RECEIVED, update_letter=False
        )
        # A letter set for later is classified then (`letters.schedule`).
        not_before = letter.get("not_before")
        self._events.enqueue(
            CLASSIFY,
            letter_id=letter_id,
            run_at=not_before if isinstance(not_before, dt.datetime) else None,
        )

    def write(self, session: Session) -> None:
        """Insert the letters, attachments, events and jobs, in the caller's transaction."""
        if not self._letters:
            return
        # The letters first: attachments and events refer to them.
        session.execute(insert(Letter).execution_options(**_ALL_COLUMNS), self._letters)
        if self._attachments:
            session.execute(
                insert(LetterAttachment).execution_options(**_ALL_COLUMNS), self._attachments
            )
        self._events.write(session)
        self._letters, self._attachments = [], []


def attachment_rows(attachments: Iterable[AttachmentInput]) -> list[dict[str, object]]:
    """The columns of a new letter's checked attachments, in order (without the letter's id)."""
    return [
        {
            "position": position,
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "channel": attachment.channel,
            "size": len(attachment.content),
            "sha256": hashlib.sha256(attachment.content).hexdigest(),
            "content": attachment.content,
        }
        for position, attachment in enumerate(attachments, start=1)
    ]


def _usable_keys(letters: Iterable[LetterInput]) -> list[str]:
    """The idempotency keys of the letters that give a valid one (the others are refused)."""
    keys = []
    for letter in letters:
        try:
            key = checked_idempotency_key(letter.idempotency_key)
        except LetterRejectedError:
            continue
        if key is not None:
            keys.append(key)
    return keys
