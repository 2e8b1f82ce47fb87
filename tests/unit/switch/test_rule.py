import datetime as dt

import pytest

from support.world import FILIP, SYD, TOLVAN
from utskick.letters import vocabulary
from utskick.mm.soap import ReachabilityStatus, ServiceSupplier
from utskick.switch.rule import RulePolicy, decide

TODAY = dt.date(2026, 11, 27)
ADULT = TOLVAN
CHILD = FILIP  # 14 on TODAY
SYD_ID = "16" + SYD
SYD_ADDRESS = "https://syd.test/service/v3"


def status(
    recipient=ADULT,
    *,
    type_="Secure",
    pending=False,
    accepted=True,
    supplier=True,
    address=SYD_ADDRESS,
):
    return ReachabilityStatus(
        recipient_id=recipient,
        account_type=type_,
        pending=pending,
        sender_accepted=accepted,
        service_supplier=ServiceSupplier(SYD_ID, "Brevlåda Syd AB", address, address)
        if supplier
        else None,
    )


RULE = RulePolicy(minimum_age=18)


@pytest.mark.parametrize(
    ("answer", "rule", "reason"),
    [
        (status(), RULE, vocabulary.REACHABLE),
        (status(type_="Not", supplier=False, accepted=False), RULE, vocabulary.NOT_REGISTERED),
        (status(type_="Anonymous"), RULE, vocabulary.NOT_REGISTERED),
        (status(accepted=False), RULE, vocabulary.SENDER_NOT_ACCEPTED),
        (status(pending=True), RULE, vocabulary.PENDING),
        (status(supplier=False), RULE, vocabulary.NO_OPERATOR),
        (status(address="   "), RULE, vocabulary.NO_OPERATOR),
        (status(CHILD), RULE, vocabulary.UNDER_AGE),
        (status(CHILD), RulePolicy(minimum_age=13), vocabulary.REACHABLE),
        (
            status(),
            RulePolicy(operator_allow_list=("5569990020",)),
            vocabulary.OPERATOR_NOT_ALLOWED,
        ),
        (status(), RulePolicy(operator_allow_list=("5569990012",)), vocabulary.REACHABLE),
    ],
)
def test_each_answer_of_far_gives_its_reason(answer, rule, reason):
    decision = decide(
        answer.recipient_id, answer, policy="digital-or-paper", rule=rule, today=TODAY
    )

    assert decision.reason == reason
    assert decision.channel == ("digital" if reason == vocabulary.REACHABLE else "paper")


def test_a_digital_decision_names_the_operator_and_its_service_address():
    decision = decide(ADULT, status(), policy="digital-or-paper", rule=RULE, today=TODAY)

    assert decision.operator_number == "5569990012"
    assert decision.operator_name == "Brevlåda Syd AB"
    assert decision.service_address == SYD_ADDRESS


def test_a_paper_decision_has_no_service_address_to_deliver_to():
    decision = decide(
        ADULT, status(accepted=False), policy="digital-or-paper", rule=RULE, today=TODAY
    )

    assert decision.service_address is None


def test_an_adult_on_the_birthday_is_old_enough():
    eighteen_today = "200811273457"  # born 2008-11-27
    decision = decide(
        eighteen_today, status(eighteen_today), policy="digital-or-paper", rule=RULE, today=TODAY
    )

    assert decision.reason == vocabulary.REACHABLE


def test_organisations_have_no_age():
    company = "165569990038"
    decision = decide(company, status(company), policy="digital-or-paper", rule=RULE, today=TODAY)

    assert decision.channel == "digital"


@pytest.mark.parametrize("failure", [vocabulary.PROTECTED_IDENTITY, vocabulary.FAR_ERROR])
def test_without_an_answer_from_far_the_letter_goes_on_paper_with_the_reason(failure):
    decision = decide(
        ADULT, None, policy="digital-or-paper", rule=RULE, today=TODAY, failure_reason=failure
    )

    assert (decision.channel, decision.reason) == ("paper", failure)


def test_paper_only_needs_no_answer_from_far():
    decision = decide(ADULT, None, policy="paper-only", rule=RULE, today=TODAY)

    assert (decision.channel, decision.reason) == ("paper", vocabulary.PAPER_ONLY_POLICY)


def test_paper_only_wins_even_when_the_recipient_is_reachable():
    decision = decide(ADULT, status(), policy="paper-only", rule=RULE, today=TODAY)

    assert decision.channel == "paper"


def test_a_notification_that_cannot_go_digitally_is_impossible():
    decision = decide(ADULT, status(accepted=False), policy="digital-only", rule=RULE, today=TODAY)

    assert (decision.channel, decision.reason) == ("impossible", vocabulary.SENDER_NOT_ACCEPTED)


def test_a_notification_to_a_reachable_recipient_goes_digitally():
    decision = decide(ADULT, status(), policy="digital-only", rule=RULE, today=TODAY)

    assert decision.channel == "digital"


def test_a_day_before_the_eighteenth_birthday_is_under_age():
    eighteen_tomorrow = "200811283456"  # born 2008-11-28
    decision = decide(
        eighteen_tomorrow,
        status(eighteen_tomorrow),
        policy="digital-or-paper",
        rule=RULE,
        today=TODAY,
    )

    assert decision.reason == vocabulary.UNDER_AGE
