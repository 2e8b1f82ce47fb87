"""The precheck of a mass mailing: every row's fate before anything is sent.

The rows are read from the stored table one at a time and checked (`check_rows`: the number,
duplicates, subject, text, address); the rows that pass are asked about in chunks, FaR through
the desk's precheck port (digital or paper, and why) and the population register through its
port (protected, deceased, emigrated, no address). Each row's outcome is written to the
mailing's precheck file as soon as its chunk is answered, and the counts to its state, so the
page can show the progress while it runs and memory stays the same for 50 rows or 50,000.

The precheck file is what the officer downloads: CSV in UTF-8 with a BOM and `;` between the
fields, as Excel opens it. Sending reads it again to know which rows to send.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from utskick.desk.compose_reachability import PROTECTED_LINE
from utskick.desk.mass_mailing import (
    CHECKED,
    PRECHECK_FILE,
    TABLE_FILE,
    UPLOADED,
    MailingStore,
    MassMailing,
    PrecheckCounts,
    WorkLock,
)
from utskick.desk.mass_rows import RowCheck, check_rows
from utskick.desk.mass_template import Template
from utskick.desk.ports import (
    DeskPorts,
    RecipientRegister,
    RegisterFacts,
    RegisterUnavailableError,
)
from utskick.letters import vocabulary
from utskick.letters.tables.cells import spreadsheet_text
from utskick.letters.tables.columns import MappingError
from utskick.letters.tables.reading import TableRefusedError, read_table
from utskick.mm.private_files import open_private_file
from utskick.switch.far import FarUnavailableError
from utskick.switch.rule import DIGITAL, Decision

PRECHECK_CHUNK = 500
FIRST_PROBLEMS = 50

# A row's outcome; the rows of the first three become letters.
DIGITAL_OUTCOME = "digital"
PAPER_OUTCOME = "paper"
UNKNOWN_OUTCOME = "unknown"
IMPOSSIBLE_OUTCOME = "impossible"
PROBLEM_OUTCOME = "problem"
SENDABLE_OUTCOMES = (DIGITAL_OUTCOME, PAPER_OUTCOME, UNKNOWN_OUTCOME)
OUTCOME_TEXTS = {
    DIGITAL_OUTCOME: "digitalt",
    PAPER_OUTCOME: "papper",
    UNKNOWN_OUTCOME: "avgörs vid sändning",
    IMPOSSIBLE_OUTCOME: "kan inte skickas",
    PROBLEM_OUTCOME: "fel i raden",
}
_OUTCOME_OF_TEXT = {text: outcome for outcome, text in OUTCOME_TEXTS.items()}
PRECHECK_HEADER = ("Rad", "Mottagare", "Utfall", "Orsak", "Ämne")

FAR_DOWN = "FaR svarar inte just nu; kanalen väljs när brevet skickas"
REGISTER_DOWN = "folkbokföringen svarar inte just nu; adressen slås upp vid utskrift"
GIVE_ADDRESS = "fyll i en postadress på raden för att skriva ut brevet till den"
STOPPED = (
    "Kontrollen avbröts av ett oväntat fel. Försök igen om en stund; kvarstår felet, kontakta "
    "driften med tiden då det hände."
)
# A cell Excel would read as a formula gets a leading apostrophe, which Excel does not show.

_log = logging.getLogger(__name__)


@runtime_checkable
class RegisterInBulk(Protocol):
    """A population register that answers for many recipients in one call.

    The desk's `RecipientRegister` asks about one recipient at a time, which is right for
    the compose page; an adapter that also has `facts_of` lets a precheck of thousands of
    rows ask once per chunk instead.
    """

    def facts_of(self, recipient_ids: Sequence[str]) -> Mapping[str, RegisterFacts]:
        """What the register says about each of these 12-digit ids.

        Raises:
            RegisterUnavailableError: the register cannot be asked now.
        """
        ...


@dataclass(frozen=True, slots=True)
class RowOutcome:
    """One row of the precheck: its number in Excel, the recipient, its outcome and why."""

    row_number: int
    recipient: str
    outcome: str
    reason: str
    subject: str = ""

    @property
    def sendable(self) -> bool:
        """Whether the row becomes a letter."""
        return self.outcome in SENDABLE_OUTCOMES


def excel_cell(text: str) -> str:
    """A text as a CSV cell that Excel shows as text, never runs as a formula."""
    return spreadsheet_text(text)


def csv_line(values: Iterable[object]) -> bytes:
    """One line of a download: `;` between the fields, quoted where needed, CRLF at the end."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";").writerow(values)
    return buffer.getvalue().encode("utf-8")


def read_precheck(lines: Iterable[bytes]) -> Iterator[RowOutcome]:
    """The rows of a precheck file (opened in binary), in order; the header skipped."""
    text = codecs.iterdecode(lines, "utf-8-sig")
    reader = csv.reader(text, delimiter=";")
    next(reader, None)
    for row_number, recipient, outcome_text, reason, subject in reader:
        yield RowOutcome(
            int(row_number),
            recipient.removeprefix("'"),
            _OUTCOME_OF_TEXT[outcome_text],
            reason,
            subject,
        )


class MassPrecheck:
    """Runs the precheck of one mailing, in the thread that holds its work lock."""

    def __init__(
        self,
        store: MailingStore,
        ports: DeskPorts,
        *,
        sender_name: str,
        today: dt.date,
    ) -> None:
        self.store = store
        self.ports = ports
        self.sender_name = sender_name
        self.today = today

    def run(self, mailing: MassMailing, lock: WorkLock) -> None:
        """Check every row; the mailing ends `checked`, or `uploaded` with the error."""
        try:
            self._check(mailing)
        except (TableRefusedError, MappingError) as error:
            self._stop(mailing, error.message)
        except Exception:  # noqa: BLE001 (a thread's failure is logged and shown, never lost)
            _log.exception("the precheck of mass mailing %s stopped", mailing.id)
            self._stop(mailing, STOPPED)
        finally:
            lock.release()

    def _stop(self, mailing: MassMailing, message: str) -> None:
        mailing.status = UPLOADED
        mailing.error = message
        mailing.precheck = PrecheckCounts()
        self.store.path(mailing.id, PRECHECK_FILE).unlink(missing_ok=True)
        self.store.save(mailing)

    def _check(self, mailing: MassMailing) -> None:
        assert mailing.mapping is not None
        table = read_table(self.store.path(mailing.id, TABLE_FILE))
        subject = Template.parse(mailing.subject_template, table.columns)
        rows = check_rows(
            table,
            mailing.mapping,
            subject if mailing.subject_template.strip() else None,
            Template.parse(mailing.body_template, table.columns),
            self.today,
        )
        counts = PrecheckCounts()
        path = self.store.path(mailing.id, PRECHECK_FILE)
        partial = path.with_name(path.name + ".del")
        partial.unlink(missing_ok=True)
        with _new_file(partial) as output:
            output.write(codecs.BOM_UTF8 + csv_line(PRECHECK_HEADER))
            for chunk in _chunks(rows, PRECHECK_CHUNK):
                for outcome in self.judge(mailing.organisation_number, chunk):
                    output.write(_precheck_line(outcome))
                    _count(counts, outcome)
                output.flush()
                mailing.precheck = counts
                self.store.save(mailing)
        partial.replace(path)
        counts.finished_at = dt.datetime.now(dt.UTC).isoformat()
        mailing.status = CHECKED
        mailing.error = None
        self.store.save(mailing)

    def judge(self, sender_number: str, chunk: Sequence[RowCheck]) -> list[RowOutcome]:
        """The outcome of each checked row: FaR and the register asked once for the chunk."""
        ids = list(dict.fromkeys(row.recipient_id for row in chunk if row.ok and row.recipient_id))
        decisions = self._decisions(sender_number, ids)
        register = self.ports.register()
        if isinstance(register, RegisterInBulk) or decisions is None:
            asked = ids
        else:
            # One call per recipient: only those who will not get the letter digitally.
            asked = [rid for rid in ids if decisions[rid].channel != DIGITAL]
        facts = _facts(register, asked)
        return [self._outcome(row, decisions, facts) for row in chunk]

    def _decisions(self, sender_number: str, ids: list[str]) -> dict[str, Decision] | None:
        """FaR's decision by id; None when FaR cannot be asked now."""
        if not ids:
            return {}
        try:
            answered = self.ports.precheck().check(sender_number, ids)
        except FarUnavailableError:
            return None
        return {decision.recipient_id: decision for decision in answered}

    def _outcome(  # noqa: PLR0911 (one return per outcome, in order of precedence)
        self,
        row: RowCheck,
        decisions: Mapping[str, Decision] | None,
        facts: Mapping[str, RegisterFacts] | None,
    ) -> RowOutcome:
        def outcome(kind: str, reason: str) -> RowOutcome:
            return RowOutcome(row.row_number, row.recipient_display, kind, reason, row.subject)

        if row.problem is not None or row.recipient_id is None:
            return outcome(PROBLEM_OUTCOME, _sentence(row.problem or ""))
        fact = facts.get(row.recipient_id) if facts is not None else None
        if fact is not None and fact.protected:
            return outcome(PAPER_OUTCOME, PROTECTED_LINE)
        if decisions is None:
            return outcome(UNKNOWN_OUTCOME, FAR_DOWN)
        decision = decisions[row.recipient_id]
        if decision.reason == vocabulary.PROTECTED_IDENTITY:
            return outcome(PAPER_OUTCOME, PROTECTED_LINE)
        if decision.channel == DIGITAL:
            operator = decision.operator_name or "mottagarens digitala brevlåda"
            return outcome(DIGITAL_OUTCOME, f"Går digitalt till {operator}")
        impossible = _impossible(fact, given_address=row.postal_address is not None)
        if impossible is not None:
            return outcome(IMPOSSIBLE_OUTCOME, impossible)
        if decision.reason == vocabulary.SENDER_NOT_ACCEPTED:
            line = f"Skrivs ut: mottagaren tar inte emot digital post från {self.sender_name}"
        else:
            line = f"Skrivs ut: {_clause(vocabulary.text_for(decision.reason))}"
        if facts is None:
            line = f"{line}; {REGISTER_DOWN}"
        return outcome(PAPER_OUTCOME, line)


def _facts(register: RecipientRegister, ids: list[str]) -> dict[str, RegisterFacts] | None:
    """The register's facts by id; None when it cannot be asked now."""
    if not ids:
        return {}
    try:
        if isinstance(register, RegisterInBulk):
            return dict(register.facts_of(ids))
        return {rid: register.facts(rid) for rid in ids}
    except RegisterUnavailableError:
        return None


def _impossible(fact: RegisterFacts | None, *, given_address: bool) -> str | None:
    """Why no letter could be printed, as the print service would decide it; None: it can."""
    if fact is None:
        return None
    reason = None
    if fact.deceased:
        reason = vocabulary.DECEASED
    elif fact.emigrated:
        reason = vocabulary.EMIGRATED
    elif not given_address and not fact.found:
        reason = vocabulary.NOT_FOUND
    elif not given_address and not fact.has_address:
        reason = vocabulary.NO_ADDRESS
    if reason is None:
        return None
    line = f"Kan inte skickas: {vocabulary.IMPOSSIBLE_REASONS[reason]}"
    if reason in (vocabulary.NOT_FOUND, vocabulary.NO_ADDRESS):
        line = f"{line}; {GIVE_ADDRESS}"
    return line


def _clause(sentence: str) -> str:
    """A reason's sentence as the end of a line: no full stop, lower-case unless a name."""
    text = sentence.strip().removesuffix(".")
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return text


def _sentence(problem: str) -> str:
    """A row's problems as a sentence: capital first letter."""
    return problem[:1].upper() + problem[1:]


def _count(counts: PrecheckCounts, outcome: RowOutcome) -> None:
    counts.rows += 1
    setattr(counts, outcome.outcome, getattr(counts, outcome.outcome) + 1)
    if not outcome.sendable and len(counts.first_problems) < FIRST_PROBLEMS:
        counts.first_problems.append(
            {
                "row": outcome.row_number,
                "recipient": outcome.recipient,
                "outcome": OUTCOME_TEXTS[outcome.outcome],
                "reason": outcome.reason,
            }
        )


def _precheck_line(outcome: RowOutcome) -> bytes:
    return csv_line(
        (
            outcome.row_number,
            excel_cell(outcome.recipient),
            OUTCOME_TEXTS[outcome.outcome],
            excel_cell(outcome.reason),
            excel_cell(outcome.subject),
        )
    )


def _chunks(rows: Iterable[RowCheck], size: int) -> Iterator[list[RowCheck]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _new_file(path: Path) -> BinaryIO:
    """A new file, readable by the owner only, to write to."""
    return os.fdopen(open_private_file(path), "wb")
