"""Where a letter to a recipient would go, in one line the officer reads while typing.

The precheck (FaR through the process's cache) says digital or paper with the reason; the
population register says whether the person is protected, deceased or emigrated, which
decides what paper means. Neither is a promise: the channel is decided again when the
letter is sent, so a FaR that does not answer now only means the page cannot say yet.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from utskick.desk.ports import DeskPorts, RegisterFacts, RegisterUnavailableError
from utskick.identity import InvalidIdentityError, RecipientId, parse_identity
from utskick.letters import vocabulary
from utskick.switch.far import FarUnavailableError
from utskick.switch.rule import DIGITAL, Decision

# The kinds of answer, one per line the page can show.
INVALID = "invalid"
DIGITAL_OUTCOME = "digital"
PAPER_OUTCOME = "paper"
IMPOSSIBLE_OUTCOME = "impossible"
PROTECTED_OUTCOME = "protected"
UNKNOWN_OUTCOME = "unknown"

PROTECTED_LINE = "Skyddad identitet: går via Skatteverket"
PROTECTED_NOTE = (
    "Brevet skrivs ut med Skatteverkets adress i fönstret och personnumret som referens; "
    "Skatteverket skickar det vidare. En adress du anger används inte."
)
FAR_DOWN_LINE = "Kan inte avgöras just nu: FaR (adressregistret) svarar inte"
FAR_DOWN_NOTE = (
    "Du kan skicka brevet ändå. Det väntar tills FaR svarar, och då avgörs om det går "
    "digitalt eller skrivs ut."
)
REGISTER_DOWN_NOTE = "Folkbokföringen svarar inte just nu; adressen slås upp när brevet skrivs ut."
GIVE_ADDRESS_NOTE = (
    "Ange en postadress under ”Adress för papperspost” så skrivs brevet ut till den."
)


@dataclass(frozen=True)
class Outlook:
    """What would happen to a letter to this recipient now, as the page shows it."""

    valid: bool
    outcome: str
    line: str
    display: str | None = None
    kind: str | None = None
    note: str | None = None

    def as_json(self) -> dict[str, object]:
        """The answer of the page's JSON endpoint."""
        return asdict(self)


def recipient_outlook(
    typed: str, *, sender_number: str, sender_name: str, ports: DeskPorts, today: dt.date
) -> Outlook:
    """The outlook for the recipient as typed, for letters from this sender organisation."""
    try:
        identity = parse_identity(typed, today=today)
    except InvalidIdentityError as error:
        return Outlook(valid=False, outcome=INVALID, line=f"Ogiltigt nummer: {error.problem}")
    facts = _register_facts(ports, identity.value)
    if facts is not None and facts.protected:
        return _outlook(identity, PROTECTED_OUTCOME, PROTECTED_LINE, PROTECTED_NOTE)
    decision = _decision(ports, sender_number, identity.value)
    if decision is None:
        return _outlook(identity, UNKNOWN_OUTCOME, FAR_DOWN_LINE, FAR_DOWN_NOTE)
    if decision.reason == vocabulary.PROTECTED_IDENTITY:
        return _outlook(identity, PROTECTED_OUTCOME, PROTECTED_LINE, PROTECTED_NOTE)
    if decision.channel == DIGITAL:
        operator = decision.operator_name or "mottagarens digitala brevlåda"
        return _outlook(identity, DIGITAL_OUTCOME, f"Går digitalt till {operator}")
    return _paper_outlook(identity, decision, facts, sender_name)


def _paper_outlook(
    identity: RecipientId, decision: Decision, facts: RegisterFacts | None, sender_name: str
) -> Outlook:
    """Paper: printed, unless the register says no letter can be printed."""
    impossible = _impossible_reason(facts)
    if impossible is not None:
        line = f"Kan inte skickas: {vocabulary.IMPOSSIBLE_REASONS[impossible]}"
        note = (
            GIVE_ADDRESS_NOTE
            if impossible in (vocabulary.NOT_FOUND, vocabulary.NO_ADDRESS)
            else None
        )
        return _outlook(identity, IMPOSSIBLE_OUTCOME, line, note)
    if decision.reason == vocabulary.SENDER_NOT_ACCEPTED:
        line = f"Skrivs ut: mottagaren tar inte emot digital post från {sender_name}"
    else:
        line = f"Skrivs ut: {_as_clause(vocabulary.text_for(decision.reason))}"
    return _outlook(identity, PAPER_OUTCOME, line, REGISTER_DOWN_NOTE if facts is None else None)


def _impossible_reason(facts: RegisterFacts | None) -> str | None:
    """Why the print service would print nothing (as it decides it), or None."""
    if facts is None:
        return None
    if facts.deceased:
        return vocabulary.DECEASED
    if facts.emigrated:
        return vocabulary.EMIGRATED
    if not facts.found:
        return vocabulary.NOT_FOUND
    if not facts.has_address:
        return vocabulary.NO_ADDRESS
    return None


def _register_facts(ports: DeskPorts, recipient_id: str) -> RegisterFacts | None:
    """The register's facts, or None when it cannot be asked now."""
    try:
        return ports.register().facts(recipient_id)
    except RegisterUnavailableError:
        return None


def _decision(ports: DeskPorts, sender_number: str, recipient_id: str) -> Decision | None:
    """The precheck's decision, or None when FaR cannot be asked now."""
    try:
        [decision] = ports.precheck().check(sender_number, [recipient_id])
    except FarUnavailableError:
        return None
    return decision


def _as_clause(sentence: str) -> str:
    """A reason's sentence as the end of a line: no full stop, lower-case unless a name."""
    text = sentence.strip().removesuffix(".")
    first_word = text.split(" ", 1)[0]
    if first_word[1:].islower():  # "Mottagaren …", but not "FaR …"
        text = text[0].lower() + text[1:]
    return text


def _outlook(identity: RecipientId, outcome: str, line: str, note: str | None = None) -> Outlook:
    return Outlook(
        valid=True,
        outcome=outcome,
        line=line,
        display=identity.display,
        kind=identity.kind.value,
        note=note,
    )
