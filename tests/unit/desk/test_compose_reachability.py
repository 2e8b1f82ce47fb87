"""The one line the compose page shows for a recipient: from the precheck's decision and the
population register's facts, with FaR or the register down."""

import datetime as dt

import pytest

from support.world import BERTIL, EVA, TOLVAN
from utskick.desk.compose_reachability import recipient_outlook
from utskick.desk.ports import DeskPorts, RegisterFacts, RegisterUnavailableError
from utskick.switch.far import FarUnavailableError
from utskick.switch.rule import Decision

TODAY = dt.date(2026, 11, 27)
ADDRESS = RegisterFacts(found=True, has_address=True)


class Precheck:
    def __init__(self, decision=None, *, down=False):
        self.decision = decision
        self.down = down
        self.asked = []

    def check(self, sender_number, recipient_ids, *, policy="digital-or-paper"):
        self.asked.append((sender_number, list(recipient_ids), policy))
        if self.down:
            raise FarUnavailableError("FaR svarar inte")
        return [self.decision]


class Register:
    def __init__(self, facts=ADDRESS, *, down=False):
        self.known = facts
        self.down = down

    def facts(self, _recipient_id):
        if self.down:
            raise RegisterUnavailableError("folkbokföringen svarar inte")
        return self.known


def outlook(typed, precheck, register=None):
    ports = DeskPorts(precheck=lambda: precheck, register=lambda: register or Register(),
                      paper=lambda: None, protection=lambda: None)  # fmt: skip
    return recipient_outlook(typed, sender_number="2021004748", sender_name="Exempelkommun",
                             ports=ports, today=TODAY)  # fmt: skip


def paper(reason, recipient=BERTIL):
    return Decision(recipient, "paper", reason)


def test_digital_names_the_mailbox_operator():
    decision = Decision(
        TOLVAN, "digital", "reachable", "5569990012", "Brevlåda Syd AB", "https://syd"
    )
    precheck = Precheck(decision)
    result = outlook("19121212-1212", precheck)
    assert (result.outcome, result.line) == ("digital", "Går digitalt till Brevlåda Syd AB")
    assert (result.display, result.kind) == ("19121212-1212", "personnummer")
    assert precheck.asked == [("2021004748", [TOLVAN], "digital-or-paper")]


def test_a_recipient_who_opted_out_gets_paper_from_the_sender_named():
    result = outlook("19750101-2475", Precheck(paper("sender_not_accepted")))
    assert result.line == "Skrivs ut: mottagaren tar inte emot digital post från Exempelkommun"


@pytest.mark.parametrize(("reason", "line"), [
    ("not_registered", "Skrivs ut: mottagaren har ingen digital brevlåda"),
    ("pending", "Skrivs ut: mottagarens digitala brevlåda är inte aktiverad ännu"),
    ("far_error", "Skrivs ut: FaR svarade med ett fel för mottagaren"),
])  # fmt: skip
def test_other_paper_reasons_use_the_vocabularys_text(reason, line):
    assert outlook("19750101-2475", Precheck(paper(reason))).line == line


@pytest.mark.parametrize(("facts", "line"), [
    (RegisterFacts(found=True, deceased=True, has_address=True), "Kan inte skickas: avliden"),
    (RegisterFacts(found=True, emigrated=True, has_address=True), "Kan inte skickas: utvandrad"),
    (RegisterFacts(found=False), "Kan inte skickas: finns inte i folkbokföringen"),
    (RegisterFacts(found=True), "Kan inte skickas: adress saknas"),
])  # fmt: skip
def test_paper_that_the_print_service_would_not_print_cannot_be_sent(facts, line):
    result = outlook("19750101-2475", Precheck(paper("not_registered")), Register(facts))
    assert (result.outcome, result.line) == ("impossible", line)


def test_a_protected_identity_in_the_register_goes_via_skatteverket_without_asking_far():
    precheck = Precheck(down=True)
    result = outlook("19851230-4166", precheck, Register(RegisterFacts(found=True, protected=True)))
    assert (result.outcome, result.line) == ("protected", "Skyddad identitet: går via Skatteverket")
    assert precheck.asked == []


def test_fars_protected_answer_is_shown_the_same_way():
    result = outlook(
        "19851230-4166", Precheck(paper("protected_identity", EVA)), Register(down=True)
    )
    assert result.line == "Skyddad identitet: går via Skatteverket"


def test_far_down_means_the_channel_is_decided_when_sent():
    result = outlook("19121212-1212", Precheck(down=True))
    assert result.outcome == "unknown"
    assert result.line == "Kan inte avgöras just nu: FaR (adressregistret) svarar inte"
    assert "väntar tills FaR svarar" in result.note


def test_far_that_cannot_even_be_built_counts_as_down():
    def no_far():
        raise FarUnavailableError("ingen förmedlare")

    ports = DeskPorts(
        precheck=no_far, register=Register, paper=lambda: None, protection=lambda: None
    )
    result = recipient_outlook("19121212-1212", sender_number="2021004748",
                               sender_name="Exempelkommun", ports=ports, today=TODAY)  # fmt: skip
    assert result.outcome == "unknown"


def test_the_register_down_still_tells_paper_and_says_the_address_comes_later():
    result = outlook("19750101-2475", Precheck(paper("not_registered")), Register(down=True))
    assert result.outcome == "paper"
    assert "adressen slås upp när brevet skrivs ut" in result.note


@pytest.mark.parametrize(("typed", "problem"), [
    ("19121212-1213", "kontrollsiffran stämmer inte"),
    ("1912121212121", "har fel längd: 13 siffror (ange 10 eller 12 siffror)"),
    ("19121212-12a2", "får bara innehålla siffror, mellanslag och ett bindestreck eller plustecken"),
])  # fmt: skip
def test_an_invalid_number_says_why_and_nobody_is_asked(typed, problem):
    precheck = Precheck(down=True)
    result = outlook(typed, precheck)
    assert (result.valid, result.outcome, result.line) == (
        False,
        "invalid",
        f"Ogiltigt nummer: {problem}",
    )
    assert precheck.asked == []


def test_the_answer_as_json_has_every_field():
    result = outlook("19121212-1212", Precheck(down=True)).as_json()
    assert set(result) == {"valid", "outcome", "line", "display", "kind", "note"}
