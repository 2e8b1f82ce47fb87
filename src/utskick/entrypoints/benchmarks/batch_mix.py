"""The letters of `bench batch` and their recipients: which share ends how, and why.

Every twenty letters in a row hold the mix in whole letters, so each outcome's share is
exact for a multiple of twenty (and within one letter per kind otherwise):

- 12 (60 %) reachable: a FaR account (Secure, active) and a mailbox at Syd or Nord; policy
  digital-or-paper → `delivered/reachable`.
- 5 (25 %) paper: unknown to FaR, a name and address in the population register;
  digital-or-paper → addressed and in a print batch, `batched/not_registered`.
- 1 (5 %) pending: a FaR account at Syd not yet activated; digital-only →
  `not_reachable/pending`.
- 1 (5 %) opted out: a FaR account and mailbox at Syd or Nord, the owner has blocked
  Exempelkommun (does not accept it as a sender); digital-only →
  `not_reachable/sender_not_accepted`.
- 1 (5 %) deceased: unknown to FaR, deceased in the population register; digital-or-paper →
  `impossible/deceased`.

The last three are the 15 % that cannot be sent, each decided by the connector itself: the
first two by the digital-or-paper rule on FaR's answer (`switch.rule`: a pending account and a
sender the recipient does not accept both refuse digital delivery, and a digital-only notice
then goes nowhere), the third by the print service's addressing (`printing.addresses`: FaR
knows no mailbox, so paper; the register says deceased, so no letter). A protected identity
is left out on purpose: FaR refuses a whole call of up to 1,000 ids for one of them and the
connector finds it by halving, so at 5 % it would measure that search, not a real batch
(where such persons are a few in ten thousand).

Reachable persons get four letters each on average (the batch is spread over many mailboxes,
as in a real run); every other kind two.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from utskick.letters.vocabulary import DIGITAL_ONLY, DIGITAL_OR_PAPER
from utskick.reference.context import ReferenceContext
from utskick.reference.store import (
    FarAccount,
    FarSenderOptOut,
    MailboxAccount,
    PopulationPerson,
)
from utskick.reference.world import EXEMPELKOMMUN, NORD, SYD

REACHABLE = "reachable"
PAPER = "paper"
PENDING = "pending"
OPTED_OUT = "opted_out"
DECEASED = "deceased"


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of recipient: its letters in every twenty, policy, and persons' birth year."""

    name: str
    letters_in_twenty: int
    policy: str
    letters_per_person: int
    birth_year: int


MIX: tuple[Kind, ...] = (
    Kind(REACHABLE, 12, DIGITAL_OR_PAPER, 4, 1961),
    Kind(PAPER, 5, DIGITAL_OR_PAPER, 2, 1962),
    Kind(PENDING, 1, DIGITAL_ONLY, 2, 1963),
    Kind(OPTED_OUT, 1, DIGITAL_ONLY, 2, 1964),
    Kind(DECEASED, 1, DIGITAL_OR_PAPER, 2, 1965),
)
CYCLE = sum(kind.letters_in_twenty for kind in MIX)
_KIND_OF_SLOT = tuple(kind for kind in MIX for _ in range(kind.letters_in_twenty))
DECEASED_ON = dt.date(2025, 1, 15)


def _luhn_digit(nine: str) -> str:
    total = 0
    for index, char in enumerate(nine):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def synthetic_personnummer(start: int, count: int, *, year: int) -> Iterator[str]:
    """Valid 12-digit personnummer born in `year` (dates and check digits right), in order."""
    produced = 0
    day = dt.date(year, 1, 1)
    serial = start
    while produced < count:
        short = f"{day:%y%m%d}{serial % 1000:03d}"
        yield f"{day:%Y%m%d}{serial % 1000:03d}{_luhn_digit(short)}"
        produced += 1
        serial += 1
        if serial % 1000 == 0:
            day += dt.timedelta(days=1)


def kind_of_letter(number: int) -> Kind:
    """The kind of recipient letter `number` (from 0) goes to."""
    return _KIND_OF_SLOT[number % CYCLE]


def letters_of_kind(letters: int) -> dict[str, int]:
    """How many of `letters` letters go to each kind."""
    counts = {kind.name: 0 for kind in MIX}
    for number in range(letters):
        counts[kind_of_letter(number).name] += 1
    return counts


def register_reachable(context: ReferenceContext, ids: list[str]) -> None:
    """Give each id an active mailbox in FaR and at an operator (alternating Syd and Nord)."""
    with context.sessions.begin() as session:
        for index, recipient_id in enumerate(ids):
            operator = SYD if index % 2 == 0 else NORD
            session.add(
                FarAccount(
                    recipient_id=recipient_id,
                    operator_number=operator,
                    account_type="Secure",
                    pending=False,
                )
            )
            session.add(
                MailboxAccount(
                    operator_number=operator,
                    owner_id=recipient_id,
                    kind="person",
                    name=f"Testperson {index}",
                    active=True,
                )
            )


def register_addresses(
    context: ReferenceContext, ids: list[str], *, deceased_on: dt.date | None = None
) -> None:
    """Give each id a postal address in the reference population register."""
    with context.sessions.begin() as session:
        session.add_all(
            PopulationPerson(
                id=person_id,
                given_name="Testperson",
                surname=f"Nummer {index}",
                street=f"Storgatan {index % 200 + 1}",
                postal_code="12345",
                city="Exempelstad",
                deceased_on=deceased_on,
            )
            for index, person_id in enumerate(ids)
        )


def _register_pending(context: ReferenceContext, ids: list[str]) -> None:
    """A FaR account at Syd that the person has not yet activated."""
    with context.sessions.begin() as session:
        session.add_all(
            FarAccount(
                recipient_id=person, operator_number=SYD, account_type="Secure", pending=True
            )
            for person in ids
        )


def _register_opted_out(context: ReferenceContext, ids: list[str]) -> None:
    """An active mailbox whose owner does not accept mail from Exempelkommun."""
    register_reachable(context, ids)
    with context.sessions.begin() as session:
        session.add_all(
            FarSenderOptOut(recipient_id=person, sender_number=EXEMPELKOMMUN) for person in ids
        )


def register_recipients(context: ReferenceContext, letters: int) -> dict[str, list[str]]:
    """The persons of every kind, registered in the reference as the mix says."""
    counts = letters_of_kind(letters)
    persons = {
        kind.name: list(
            synthetic_personnummer(
                0, max(1, counts[kind.name] // kind.letters_per_person), year=kind.birth_year
            )
        )
        for kind in MIX
    }
    register_reachable(context, persons[REACHABLE])
    register_addresses(context, persons[PAPER])
    _register_pending(context, persons[PENDING])
    _register_opted_out(context, persons[OPTED_OUT])
    register_addresses(context, persons[DECEASED], deceased_on=DECEASED_ON)
    return persons


def write_letters(path: Path, letters: int, persons: dict[str, list[str]]) -> None:
    """Write the NDJSON batch: letter `n` to the next person of `kind_of_letter(n)`."""
    sent = dict.fromkeys(persons, 0)
    with path.open("w", encoding="utf-8") as file:
        for number in range(letters):
            kind = kind_of_letter(number)
            recipients = persons[kind.name]
            recipient = recipients[sent[kind.name] % len(recipients)]
            sent[kind.name] += 1
            line = {
                "recipient": recipient,
                "subject": f"Information nr {number}",
                "body": "Hej! Här kommer information från kommunen om din fastighetsavgift.",
                "protection_class": 1,
                "policy": kind.policy,
                "idempotency_key": f"bench-{number}",
            }
            file.write(json.dumps(line, ensure_ascii=False) + "\n")
