"""Records rules: how the letters of each message type are kept, and for how long.

A rule is looked up for a letter's organisation and message type: the organisation's own
rule for the type, else the installation's rule for the type, else the organisation's rule
for "*" (any type), else the installation's "*", else the built-in default: kept in order,
the record kept by the sending system (so a delivered letter's content goes, as R8 asks), and
nothing disposed of: no letter is ever disposed of without a decision someone configured.

Who keeps the record follows from the rule and from the sending system: a system that keeps
no records of its own (the desk's, and other ways in with no system behind them) leaves the
record to Utskick whatever the rule says.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from utskick.records.models import (
    JOURNAL,
    KEEPERS,
    KEPT_BY_SYSTEM,
    KEPT_BY_UTSKICK,
    KEPT_IN_ORDER,
    NO_RECORD,
    REGISTER,
    RULES,
    RecordsRule,
)

ANY_TYPE = "*"

# What a person reads for each rule and keeper (pages, CLI, docs).
RULE_TEXTS = {
    REGISTER: "diarieförs",
    KEPT_IN_ORDER: "hålls ordnad",
    JOURNAL: "journalförs",
    NO_RECORD: "ingen allmän handling",
}
KEEPER_TEXTS = {
    KEPT_BY_SYSTEM: "verksamhetssystemet",
    KEPT_BY_UTSKICK: "Utskick",
}
# The Swedish words a person may type for a rule (CLI), to the stored word.
RULE_WORDS = {
    **{text: rule for rule, text in RULE_TEXTS.items()},
    "diarieforing": REGISTER,
    "diarieförs": REGISTER,
    "ordnad": KEPT_IN_ORDER,
    "hålls-ordnad": KEPT_IN_ORDER,
    "journalförs": JOURNAL,
    "journal": JOURNAL,
    "ingen": NO_RECORD,
    **{rule: rule for rule in RULES},
}
# Rules under which a sent letter is registered somewhere (diarium or case system).
REGISTERED_RULES = frozenset({REGISTER, JOURNAL})


@dataclass(frozen=True)
class Rule:
    """A rule as it applies to a letter (a plain copy, usable after the session closes)."""

    message_type: str
    rule: str
    keeper: str
    content_months: int | None
    metadata_months: int | None
    decision: str | None
    organisation_number: str | None = None

    @property
    def registers(self) -> bool:
        """Whether letters under this rule are registered in a diarium or case system."""
        return self.rule in REGISTERED_RULES

    def keeper_for(self, *, system_keeps_records: bool) -> str:
        """Who keeps a letter's record: Utskick when its system keeps none of its own."""
        return self.keeper if system_keeps_records else KEPT_BY_UTSKICK

    def content_due(self, sent: dt.datetime) -> dt.date | None:
        """The day a letter's content may be disposed of (None: kept until archived)."""
        return None if self.content_months is None else add_months(sent, self.content_months)

    def metadata_due(self, sent: dt.datetime) -> dt.date | None:
        """The day a letter's metadata may be disposed of (None: kept for ever)."""
        return None if self.metadata_months is None else add_months(sent, self.metadata_months)


# Used when nothing is configured: kept in order, nothing disposed of.
DEFAULT_RULE = Rule(
    message_type=ANY_TYPE,
    rule=KEPT_IN_ORDER,
    keeper=KEPT_BY_SYSTEM,
    content_months=None,
    metadata_months=None,
    decision=None,
)

# The demo's message types: examples of each rule. The decisions are examples too, which a
# municipality replaces with its own (docs/records.md).
DEMO_RULES = (
    Rule("beslut", REGISTER, KEPT_BY_SYSTEM, None, None, None),
    Rule(
        "faktura",
        KEPT_IN_ORDER,
        KEPT_BY_SYSTEM,
        84,
        84,
        "Exempel: KS 2026/14 § 3, räkenskapsinformation gallras efter sju år",
    ),
    Rule(
        "information",
        NO_RECORD,
        KEPT_BY_SYSTEM,
        3,
        24,
        "Exempel: KS 2026/14 § 4, handlingar av tillfällig betydelse",
    ),
    Rule(
        "kallelse",
        JOURNAL,
        KEPT_BY_SYSTEM,
        12,
        60,
        "Exempel: SN 2026/7 § 2, kallelser gallras efter fem år",
    ),
    Rule(ANY_TYPE, KEPT_IN_ORDER, KEPT_BY_SYSTEM, None, None, None),
)


class RuleInputError(ValueError):
    """A rule that cannot be stored, with a Swedish message that says what to do."""


def add_months(moment: dt.datetime | dt.date, months: int) -> dt.date:
    """The day `months` months after `moment`'s day (the month's last day where it is short)."""
    day = moment.date() if isinstance(moment, dt.datetime) else moment
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return dt.date(year, month, min(day.day, last))
        except ValueError:
            continue
    raise AssertionError  # pragma: no cover (a month has at least 28 days)


def _plain(row: RecordsRule) -> Rule:
    return Rule(
        message_type=row.message_type,
        rule=row.rule,
        keeper=row.keeper,
        content_months=row.content_months,
        metadata_months=row.metadata_months,
        decision=row.decision,
        organisation_number=row.organisation_number,
    )


class RuleBook:
    """Every configured rule, read once, answering for any number of letters."""

    def __init__(self, rows: Iterable[RecordsRule]) -> None:
        self._rules = {(row.organisation_number, row.message_type): _plain(row) for row in rows}

    @classmethod
    def load(cls, session: Session) -> RuleBook:
        """All rules from the database."""
        return cls(session.scalars(select(RecordsRule)))

    def rule_for(self, organisation_number: str, message_type: str | None) -> Rule:
        """The rule that applies to a letter of this organisation and type."""
        code = message_type or ANY_TYPE
        for key in (
            (organisation_number, code),
            (None, code),
            (organisation_number, ANY_TYPE),
            (None, ANY_TYPE),
        ):
            found = self._rules.get(key)
            if found is not None:
                return found
        return DEFAULT_RULE

    def all(self) -> list[Rule]:
        """Every configured rule, the installation's first, then by organisation and type."""
        return sorted(
            self._rules.values(),
            key=lambda rule: (rule.organisation_number or "", rule.message_type),
        )


def set_rule(
    session: Session,
    *,
    message_type: str,
    rule: str,
    keeper: str,
    content_months: int | None,
    metadata_months: int | None,
    decision: str | None,
    actor: str,
    now: dt.datetime,
    organisation_number: str | None = None,
) -> RecordsRule:
    """Add or change a rule (caller commits); refuses what cannot be a rule, in Swedish.

    A rule that disposes of anything must name the decision it rests on.
    """
    if rule not in RULES:
        words = ", ".join(RULE_TEXTS.values())
        message = f"Okänd arkivregel {rule!r}. Ange en av: {words}."
        raise RuleInputError(message)
    if keeper not in KEEPERS:
        message = f"Okänd förvarare {keeper!r}. Ange system eller utskick."
        raise RuleInputError(message)
    for months, what in ((content_months, "innehållet"), (metadata_months, "uppgifterna")):
        if months is not None and months < 0:
            message = f"Tiden som {what} sparas kan inte vara negativ ({months} månader)."
            raise RuleInputError(message)
    if (content_months is not None or metadata_months is not None) and not (decision or "").strip():
        message = (
            "En regel som gallrar måste ange gallringsbeslutet den vilar på "
            '(till exempel --beslut "KS 2026/14 § 3").'
        )
        raise RuleInputError(message)
    if (
        content_months is not None
        and metadata_months is not None
        and metadata_months < content_months
    ):
        message = (
            "Uppgifterna om brevet kan inte gallras före innehållet: ange minst lika många "
            "månader för uppgifterna som för innehållet."
        )
        raise RuleInputError(message)
    row = session.scalar(
        select(RecordsRule).where(
            RecordsRule.message_type == message_type,
            RecordsRule.organisation_number.is_(None)
            if organisation_number is None
            else RecordsRule.organisation_number == organisation_number,
        )
    )
    if row is None:
        row = RecordsRule(organisation_number=organisation_number, message_type=message_type)
        session.add(row)
    row.rule = rule
    row.keeper = keeper
    row.content_months = content_months
    row.metadata_months = metadata_months
    row.decision = (decision or "").strip() or None
    row.updated_at = now
    row.updated_by = actor
    session.flush()
    return row


def seed_demo_rules(session: Session, now: dt.datetime) -> None:
    """Add the demo's rules where the installation has none for the type (caller commits)."""
    existing = {
        row.message_type
        for row in session.scalars(
            select(RecordsRule).where(RecordsRule.organisation_number.is_(None))
        )
    }
    for demo in DEMO_RULES:
        if demo.message_type in existing:
            continue
        set_rule(
            session,
            message_type=demo.message_type,
            rule=demo.rule,
            keeper=demo.keeper,
            content_months=demo.content_months,
            metadata_months=demo.metadata_months,
            decision=demo.decision,
            actor="demo",
            now=now,
        )
