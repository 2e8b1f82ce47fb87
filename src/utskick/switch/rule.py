"""The digital-or-paper rule: FaR's answer for one recipient → a channel and a reason.

Pure: no I/O, no clock of its own. Digital only when every condition of
`mina-meddelanden.md` holds (SenderAccepted, Type Secure, not Pending, a ServiceSupplier
with a ServiceAdress), the recipient is old enough and the operator is allowed; every other
outcome carries its reason. The letter's policy then decides what a non-digital outcome
means: paper, or nothing at all for a notification (`digital-only`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.letters import vocabulary
from utskick.mm.far import organisation_number_of_id
from utskick.mm.soap import ReachabilityStatus

DIGITAL = "digital"
PAPER = "paper"
IMPOSSIBLE = "impossible"

SECURE_ACCOUNT = "Secure"


@dataclass(frozen=True)
class Decision:
    """The channel for one recipient, with the reason and, for digital, where it goes."""

    recipient_id: str
    channel: str  # digital | paper | impossible
    reason: str
    operator_number: str | None = None
    operator_name: str | None = None
    service_address: str | None = None


@dataclass(frozen=True)
class RulePolicy:
    """The parts of the rule an installation sets: minimum age and allowed operators."""

    minimum_age: int = 18
    operator_allow_list: Collection[str] = ()


def reachability_reason(
    status: ReachabilityStatus, rule: RulePolicy, today: dt.date
) -> tuple[str, str | None]:
    """Why FaR's answer allows or refuses digital delivery, and the operator's number.

    Returns:
        (`reachable` or the first reason that refuses it, the operator's 10-digit number).
    """
    supplier = status.service_supplier
    operator = _operator_number(supplier.id) if supplier is not None else None
    # In the order a person would explain it: no mailbox, then the mailbox's own state,
    # then the installation's rules.
    refusals = (
        (status.account_type != SECURE_ACCOUNT, vocabulary.NOT_REGISTERED),
        (status.pending, vocabulary.PENDING),
        (not status.sender_accepted, vocabulary.SENDER_NOT_ACCEPTED),
        (supplier is None or not supplier.service_address.strip(), vocabulary.NO_OPERATOR),
        (_under_age(status.recipient_id, rule.minimum_age, today), vocabulary.UNDER_AGE),
        (
            bool(rule.operator_allow_list) and operator not in set(rule.operator_allow_list),
            vocabulary.OPERATOR_NOT_ALLOWED,
        ),
    )
    for refused, reason in refusals:
        if refused:
            return reason, operator
    return vocabulary.REACHABLE, operator


def decide(
    recipient_id: str,
    status: ReachabilityStatus | None,
    *,
    policy: str,
    rule: RulePolicy,
    today: dt.date,
    failure_reason: str | None = None,
) -> Decision:
    """The decision for one recipient.

    Args:
        recipient_id: the 12-digit id.
        status: FaR's answer, or None when FaR gave none (then `failure_reason` says why:
            `protected_identity` or `far_error`); unused for policy `paper-only`.
        policy: `digital-or-paper`, `digital-only` or `paper-only`.
        rule: minimum age and operator allow-list.
        today: the date ages are counted on.
        failure_reason: the reason when there is no status.
    """
    if policy == vocabulary.PAPER_ONLY:
        return Decision(recipient_id, PAPER, vocabulary.PAPER_ONLY_POLICY)
    if status is None:
        reason = failure_reason or vocabulary.FAR_ERROR
        return Decision(recipient_id, _not_digital(policy), reason)
    reason, operator = reachability_reason(status, rule, today)
    supplier = status.service_supplier
    if reason == vocabulary.REACHABLE and supplier is not None:
        return Decision(
            recipient_id,
            DIGITAL,
            reason,
            operator_number=operator,
            operator_name=supplier.name,
            service_address=supplier.service_address.strip(),
        )
    return Decision(
        recipient_id,
        _not_digital(policy),
        reason,
        operator_number=operator,
        operator_name=supplier.name if supplier is not None else None,
    )


def _not_digital(policy: str) -> str:
    return IMPOSSIBLE if policy == vocabulary.DIGITAL_ONLY else PAPER


def _operator_number(supplier_id: str) -> str | None:
    text = supplier_id.strip()
    if not text:
        return None
    try:
        return organisation_number_of_id(text)
    except ValueError:
        return text


def _under_age(recipient_id: str, minimum_age: int, today: dt.date) -> bool:
    try:
        identity = parse_identity(recipient_id, today=today)
    except InvalidIdentityError:
        return False
    age = identity.age_at(today)
    return age is not None and age < minimum_age
