"""Accepting and cancelling letters: the checks that need the database, then the store.

A letter is accepted only whole: every check runs before anything is added to the session,
so a refused letter leaves nothing behind. An accepted letter is stored with its
attachments, its first event (`received`) and its first job (`classify`) in the caller's
transaction; the caller commits, and only then does the letter count as accepted.

`accept` takes one letter (the unit of work, a few statements per letter); `accept_many`
takes a chunk of a batch, decides about each letter as `accept` would and writes the chunk
in a few statements (`utskick.letters.bulk_accept`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.jobs.models import Job
from utskick.jobs.queue import CLASSIFY
from utskick.letters import events, vocabulary
from utskick.letters.bulk_accept import (
    Accepted,
    AcceptOutcome,
    KnownKeys,
    NewLetters,
    attachment_rows,
)
from utskick.letters.inputs import (
    MAX_REFERENCE_LENGTH,
    AttachmentInput,
    IdempotencyConflictError,
    LetterInput,
    LetterRejectedError,
    check_choice,
    check_text,
    check_wire_size,
    checked_address,
    checked_attachments,
    checked_eservice_url,
    checked_idempotency_key,
    checked_support_text,
    recipient_id_for,
    request_fingerprint,
    same_request,
)
from utskick.letters.models import Letter, LetterAttachment, MessageType
from utskick.letters.repository import LetterRepository
from utskick.letters.schedule import checked_not_before
from utskick.letters.text_checks import refused_character
from utskick.mm import delivery as wire
from utskick.observability.context import with_request_id
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings

SENDABLE_PROTECTION_CLASSES = (1, 2, 3)


REFUSED_PROTECTION_CLASS = 4


def utc_now() -> dt.datetime:
    """The current time in UTC (the default clock)."""
    return dt.datetime.now(dt.UTC)


class LetterNotFoundError(LookupError):
    """No such letter for this sending system (another system's letters do not exist for it)."""

    def __init__(self, letter_id: str) -> None:
        self.letter_id = letter_id
        super().__init__(f"brevet {letter_id} finns inte")


class LetterNotCancellableError(ValueError):
    """The letter has gone out, or may have, so it can no longer be cancelled."""


@dataclasses.dataclass(frozen=True)
class _CheckedLetter:
    """What the checks of a letter found or normalised, ready to store."""

    sender_number: str
    department: str | None
    recipient: str
    protection_class: int
    attachments: tuple[AttachmentInput, ...]
    eservice_url: str | None
    support_text: str | None
    postal_address: dict[str, object] | None
    not_before: dt.datetime | None  # None: due at once


class LetterService:
    """Accepts letters from sending systems and cancels them while nothing has gone out."""

    def __init__(
        self,
        session: Session,
        settings: Settings,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.session = session
        self.settings = settings
        self.clock = clock
        self.letters = LetterRepository(session)
        self.senders = SenderRepository(session)
        # Sender organisations and message types looked up once per service (a batch accepts
        # thousands of letters from the same few; each lookup would also flush the letters
        # before it).
        self._sender_cache: dict[str, SenderOrganisation | None] = {}
        self._message_type_cache: dict[str, MessageType | None] = {}

    def accept(
        self,
        system: SendingSystem,
        letter: LetterInput,
        *,
        actor: str,
        batch_id: str | None = None,
    ) -> tuple[Letter, bool]:
        """Check a letter and store it with its first event and job (the caller commits).

        A letter with an idempotency key the system has used before is not checked or stored
        again: the letter stored the first time is returned, if this one has the same content
        (the same request fingerprint); a letter with other content is refused.

        Args:
            system: the sending system handing the letter over.
            letter: the letter as handed over.
            actor: who hands it over, for the event log (`api:<system>`, `cli`).
            batch_id: the batch the letter arrived in, if any.

        Returns:
            The letter and whether it was created now (False: a replay of an earlier one).

        Raises:
            IdempotencyConflictError: the key was used for a letter with other content.
            LetterRejectedError: naming the field and saying, in Swedish, what to do.
        """
        key = checked_idempotency_key(letter.idempotency_key)
        fingerprint = request_fingerprint(letter)
        if key is not None:
            earlier = self.letters.find_by_idempotency_key(system.id, key)
            if earlier is not None:
                if not same_request(earlier, letter, fingerprint):
                    raise IdempotencyConflictError(key, earlier.id)
                return earlier, False
        now = self.clock()
        checked = self._checked(system, letter, now)
        row = self._letter_row(
            system, letter, checked, now, key=key, fingerprint=fingerprint, batch_id=batch_id
        )
        stored = Letter(
            **row,
            attachments=[
                LetterAttachment(**values) for values in attachment_rows(checked.attachments)
            ],
        )
        self.letters.add(stored)
        events.record(self.session, stored, vocabulary.RECEIVED, actor=actor, now=now)
        self.session.add(
            Job(
                kind=CLASSIFY,
                letter_id=stored.id,
                payload=with_request_id(None),
                run_at=checked.not_before or now,
                attempts=0,
                created_at=now,
            )
        )
        return stored, True

    def accept_many(
        self,
        system: SendingSystem,
        letters: Sequence[LetterInput],
        *,
        actor: str,
        batch_id: str | None = None,
    ) -> list[AcceptOutcome]:
        """Check a chunk of letters and store the good ones in a few statements (caller commits).

        Each letter is decided as `accept` decides it, in the chunk's order: a key stored
        before, or by an earlier letter of the chunk, gives that letter back if the content is
        the same and is refused if not; a refused letter leaves nothing behind. What is stored
        per letter is what `accept` stores. The statements do not grow with the chunk: the
        keys are read in one, each table is written with one executemany. The chunk's letters
        share one time of receipt.

        Returns:
            Per letter, in order: `Accepted` (its id, and whether it was created now), or the
            `LetterRejectedError` (an `IdempotencyConflictError` for a key used with other
            content) that refused it.

        Raises:
            sqlalchemy.exc.IntegrityError: another submitter stored one of the keys meanwhile;
                the caller rolls back and tries the chunk again (the key is then found).
        """
        if not letters:
            return []
        now = self.clock()
        known = KnownKeys(self.session, system.id, letters)
        new = NewLetters(
            actor=actor, now=now, webhook_systems=events.systems_with_webhooks(self.session)
        )
        outcomes: list[AcceptOutcome] = []
        for letter in letters:
            try:
                outcomes.append(
                    self._accept_into(new, known, system, letter, now=now, batch_id=batch_id)
                )
            except LetterRejectedError as error:
                outcomes.append(error)
        new.write(self.session)
        return outcomes

    def _accept_into(
        self,
        new: NewLetters,
        known: KnownKeys,
        system: SendingSystem,
        letter: LetterInput,
        *,
        now: dt.datetime,
        batch_id: str | None,
    ) -> Accepted:
        """One letter of a chunk, as `accept` decides it; a new one joins `new`."""
        key = checked_idempotency_key(letter.idempotency_key)
        fingerprint = request_fingerprint(letter)
        if key is not None:
            earlier = known.earlier(key, letter, fingerprint)
            if earlier is not None:
                return earlier
        checked = self._checked(system, letter, now)
        row = self._letter_row(
            system, letter, checked, now, key=key, fingerprint=fingerprint, batch_id=batch_id
        )
        new.add(row, attachment_rows(checked.attachments))
        letter_id = str(row["id"])
        known.remember(str(row["idempotency_key"]), letter_id, fingerprint)
        return Accepted(letter_id, created=True)

    def _checked(
        self, system: SendingSystem, letter: LetterInput, now: dt.datetime
    ) -> _CheckedLetter:
        """Every check of a letter, in the order a sender fixes them; nothing is stored.

        Raises:
            LetterRejectedError: naming the field and saying, in Swedish, what to do.
        """
        sender = self._sender(system, letter.sender)
        department = self._department(system, letter.department)
        recipient = recipient_id_for(letter.recipient, now.date())
        protection_class = self._protection_class(letter)
        check_choice("policy", letter.policy, vocabulary.POLICIES, "sändningspolicyn")
        check_text(letter)
        attachments = checked_attachments(letter.attachments)
        eservice_url = checked_eservice_url(letter.eservice_url)
        support_text = checked_support_text(letter.support_text)
        postal_address = checked_address(letter)
        not_before = checked_not_before(letter.not_before, now)
        if letter.paper_layout is not None:
            check_choice(
                "paper_layout", letter.paper_layout, vocabulary.PAPER_LAYOUTS, "utskriftslayouten"
            )
        check_wire_size(
            sender, recipient, dataclasses.replace(letter, attachments=attachments), department
        )
        return _CheckedLetter(
            sender_number=sender.organisation_number,
            department=department,
            recipient=recipient,
            protection_class=protection_class,
            attachments=attachments,
            eservice_url=eservice_url,
            support_text=support_text,
            postal_address=postal_address,
            not_before=not_before,
        )

    def _letter_row(
        self,
        system: SendingSystem,
        letter: LetterInput,
        checked: _CheckedLetter,
        now: dt.datetime,
        *,
        key: str | None,
        fingerprint: str,
        batch_id: str | None,
    ) -> dict[str, object]:
        """The new letter's columns, as checked; received now (one shape for both ways in)."""
        letter_id = str(uuid.uuid4())
        # A letter set for later counts its time to paper from when it may first be sent.
        starts = checked.not_before or now
        return {
            "id": letter_id,
            "sending_system_id": system.id,
            # A letter without a key of its own is its own key: its id.
            "idempotency_key": key or letter_id,
            "batch_id": batch_id,
            "request_fingerprint": fingerprint,
            "sender_number": checked.sender_number,
            "department": checked.department,
            "recipient_id": checked.recipient,
            "subject": letter.subject,
            "body_type": letter.body_type,
            "body": letter.body,
            "protection_class": checked.protection_class,
            "message_type": letter.message_type,
            "policy": letter.policy,
            "eservice_url": checked.eservice_url,
            "support_text": checked.support_text,
            "case_number": letter.case_number,
            "reference": letter.reference,
            "postal_address": checked.postal_address,
            "message_id": uuid.uuid4().hex,
            "created_at": now,
            "deliver_by": (
                starts + dt.timedelta(seconds=self.settings.fallback_after_seconds)
                if letter.policy == vocabulary.DIGITAL_OR_PAPER
                else None
            ),
            "not_before": checked.not_before,
            "paper_layout": letter.paper_layout,
            "state": vocabulary.RECEIVED,
            "updated_at": now,
        }

    def cancel(self, system: SendingSystem, letter_id: str, *, actor: str) -> Letter:
        """Cancel a letter before anything went out; its pending work is dropped (caller commits).

        Raises:
            LetterNotFoundError: no such letter for this system.
            LetterNotCancellableError: the letter has gone out, or a delivery may have reached
                its operator (an attempt is under way or was made), so cancelling could lie.
        """
        letter = self.letters.get_for_system(system.id, letter_id, for_update=True)
        if letter is None:
            raise LetterNotFoundError(letter_id)
        now = self.clock()
        if letter.state in vocabulary.TERMINAL_STATES:
            raise LetterNotCancellableError(
                "brevet kan inte makuleras: det är redan avslutat "
                f"({vocabulary.state_text(letter.state)})"
            )
        if letter.state == vocabulary.BATCHED:
            raise LetterNotCancellableError(
                "brevet kan inte makuleras: det ligger redan i en utskriftsbatch; kontakta "
                "utskriftsrummet om batchen ännu inte är skickad till tryckeriet"
            )
        if letter.state == vocabulary.RETRYING or self.letters.delivery_started(letter.id, now):
            raise LetterNotCancellableError(
                "brevet kan inte makuleras: ett leveransförsök har redan gjorts och brevet kan ha "
                "nått mottagarens brevlåda; följ brevets händelser för att se hur det gick"
            )
        if self.letters.work_in_flight(letter.id, now):
            raise LetterNotCancellableError(
                "brevet kan inte makuleras just nu: det behandlas i detta ögonblick; "
                "försök igen om en stund"
            )
        self.letters.delete_pending_work(letter.id)
        events.record(
            self.session,
            letter,
            vocabulary.CANCELLED,
            actor=actor,
            now=now,
            reason=vocabulary.CANCELLED,
            detail="Brevet makulerades av avsändaren innan det skickades.",
            channel="none",
        )
        return letter

    # --- checks --------------------------------------------------------------------------

    def _sender(self, system: SendingSystem, typed: str) -> SenderOrganisation:
        try:
            number = parse_organisation(typed).organisation_number
        except InvalidIdentityError as error:
            raise LetterRejectedError(
                "sender",
                f"avsändaren ska vara ett organisationsnummer ({error}); "
                "ange avsändarorganisationens tio siffror, till exempel 202100-4748",
            ) from None
        if number not in self._sender_cache:
            self._sender_cache[number] = self.senders.get(number)
        sender = self._sender_cache[number]
        if sender is None:
            raise LetterRejectedError(
                "sender",
                f"avsändarorganisationen {number} finns inte i Utskick; ange en av de "
                "avsändare som är upplagda, eller be förvaltningen lägga till den",
            )
        if number not in system.sender_numbers:
            raise LetterRejectedError(
                "sender",
                f"systemet {system.name} får inte skicka för avsändaren {number}; "
                f"det får skicka för {', '.join(system.sender_numbers) or 'ingen avsändare'}",
            )
        if (
            not sender.support_text.strip()
            or len(sender.support_text) > wire.MAX_SUPPORT_TEXT_LENGTH
        ):
            raise LetterRejectedError(
                "sender",
                f"avsändaren {number} saknar en giltig supporttext (1–"
                f"{wire.MAX_SUPPORT_TEXT_LENGTH} tecken), som varje brev i Mina meddelanden "
                "måste ha; be förvaltningen lägga in den för avsändaren",
            )
        refused = refused_character(sender.support_text, multiline=True)
        if refused is not None:
            raise LetterRejectedError(
                "sender",
                f"avsändaren {number} har en supporttext med {refused}; be förvaltningen "
                "rätta supporttexten för avsändaren",
            )
        return sender

    @staticmethod
    def _department(system: SendingSystem, department: str | None) -> str | None:
        if department is not None:
            department = department.strip() or None
        if department is not None and (
            len(department) > MAX_REFERENCE_LENGTH or refused_character(department) is not None
        ):
            raise LetterRejectedError(
                "department",
                f"förvaltningen/funktionen får ha högst {MAX_REFERENCE_LENGTH} tecken "
                "och inga styrtecken eller riktningstecken",
            )
        if system.departments is None:
            return department
        allowed = ", ".join(system.departments) or "ingen"
        if department is None:
            raise LetterRejectedError(
                "department",
                f"ange förvaltning eller funktion; systemet {system.name} får skicka för: "
                f"{allowed}",
            )
        if department not in system.departments:
            raise LetterRejectedError(
                "department",
                f"systemet {system.name} får inte skicka för {department!r}; "
                f"det får skicka för: {allowed}",
            )
        return department

    def _protection_class(self, letter: LetterInput) -> int:
        chosen = letter.protection_class
        if letter.message_type is not None:
            code = letter.message_type
            if code not in self._message_type_cache:
                self._message_type_cache[code] = self.letters.message_type(code)
            message_type = self._message_type_cache[code]
            if message_type is None:
                raise LetterRejectedError(
                    "message_type",
                    f"meddelandetypen {letter.message_type!r} finns inte; ange en upplagd "
                    "meddelandetyp eller utelämna fältet och ange skyddsklass",
                )
            if chosen is None:
                chosen = message_type.protection_class
        if chosen is None:
            raise LetterRejectedError(
                "protection_class",
                "ange skyddsklass (1, 2 eller 3), eller en meddelandetyp som har en",
            )
        if chosen == REFUSED_PROTECTION_CLASS:
            raise LetterRejectedError(
                "protection_class",
                "skyddsklass 4 får inte skickas via Mina meddelanden; skicka informationen "
                "på ett annat sätt som klassningen tillåter",
            )
        if chosen not in SENDABLE_PROTECTION_CLASSES:
            raise LetterRejectedError(
                "protection_class", f"skyddsklassen {chosen} finns inte; ange 1, 2 eller 3"
            )
        return chosen
