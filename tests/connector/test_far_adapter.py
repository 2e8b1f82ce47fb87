"""The FaR adapter and the precheck against the reference FaR over mutual TLS."""

import pytest

from support.world import (
    ANNA,
    BERTIL,
    CECILIA,
    DAVID,
    EVA,
    EXEMPELBOLAGET,
    EXEMPELKOMMUN,
    FILIP,
    GRANNKOMMUN,
    GUSTAV,
    NORD,
    SYD,
    TOLVAN,
    UTAN_BREVLADA,
)
from utskick.identity import InvalidIdentityError
from utskick.senders.keys import client_tls_context
from utskick.senders.models import SenderOrganisation
from utskick.switch.far import FarUnavailableError, HttpAddressRegister
from utskick.switch.precheck import Precheck, precheck_for


def _intermediary(context):
    return SenderOrganisation(
        organisation_number=EXEMPELKOMMUN,
        name="Exempelkommun",
        key_path=str(context.pki.key_and_certificate(EXEMPELKOMMUN)),
    )


@pytest.fixture(scope="module")
def far(world):
    context, settings, _, _ = world
    register = HttpAddressRegister(
        settings.far_url, client_tls_context(_intermediary(context), settings.tls_ca_file)
    )
    yield register
    register.close()


@pytest.mark.parametrize(
    ("recipient", "channel", "reason", "operator"),
    [
        (TOLVAN, "digital", "reachable", SYD),
        (ANNA, "digital", "reachable", NORD),
        (GUSTAV, "digital", "reachable", NORD),
        (EXEMPELBOLAGET, "digital", "reachable", NORD),
        (BERTIL, "paper", "sender_not_accepted", SYD),
        (CECILIA, "paper", "pending", SYD),
        (DAVID, "paper", "not_registered", None),
        (UTAN_BREVLADA, "paper", "not_registered", None),
        (EVA, "paper", "protected_identity", None),
        (FILIP, "paper", "under_age", SYD),
    ],
)
def test_each_demo_identity_gets_its_channel_and_reason(
    world, far, recipient, channel, reason, operator
):
    _, settings, _, _ = world
    [decision] = Precheck(far, settings).check(EXEMPELKOMMUN, [recipient])

    assert (decision.channel, decision.reason, decision.operator_number) == (
        channel,
        reason,
        operator,
    )


def test_a_digital_decision_routes_to_the_operators_own_service_address(world, far):
    context, settings, _, _ = world
    tolvan, anna = Precheck(far, settings).check(EXEMPELKOMMUN, [TOLVAN, ANNA])

    assert tolvan.service_address == context.endpoints.operators["syd"].service_url
    assert anna.service_address == context.endpoints.operators["nord"].service_url


def test_acceptance_is_per_sender(world, far):
    _, settings, _, _ = world
    [decision] = Precheck(far, settings).check(GRANNKOMMUN, [BERTIL])

    assert decision.channel == "digital"


def test_a_protected_identity_among_many_is_found_without_spoiling_the_others(world, far):
    _, settings, _, _ = world
    crowd = [TOLVAN, ANNA, BERTIL, DAVID] * 300 + [EVA]  # 1,201 ids, duplicates, two calls
    answers = far.is_reachable(EXEMPELKOMMUN, crowd)

    assert answers[EVA].status is None
    assert answers[EVA].failure_reason == "protected_identity"
    assert answers[TOLVAN].status.sender_accepted
    assert answers[BERTIL].status.sender_accepted is False
    assert len(Precheck(far, settings).check(EXEMPELKOMMUN, crowd)) == len(crowd)


def test_digital_only_and_not_reachable_is_impossible(world, far):
    _, settings, _, _ = world
    [decision] = Precheck(far, settings).check(EXEMPELKOMMUN, [DAVID], policy="digital-only")

    assert (decision.channel, decision.reason) == ("impossible", "not_registered")


def test_identities_are_taken_as_people_type_them(world, far):
    _, settings, _, _ = world
    [decision] = Precheck(far, settings).check("202100-4748", ["19121212-1212"])

    assert decision.recipient_id == TOLVAN


def test_an_invalid_identity_is_refused_with_a_swedish_message(world, far):
    _, settings, _, _ = world
    with pytest.raises(InvalidIdentityError, match=r"kontrollsiffr|datum|siffr"):
        Precheck(far, settings).check(EXEMPELKOMMUN, ["19121212-1213"])


def test_an_unknown_sender_is_a_far_error_for_every_recipient(world, far):
    _, settings, _, _ = world
    unknown_sender = "2120000142"  # a valid organisationsnummer FaR does not know
    decisions = Precheck(far, settings).check(unknown_sender, [TOLVAN, ANNA])

    assert [d.reason for d in decisions] == ["far_error", "far_error"]


def test_far_down_raises_far_unavailable(world):
    context, settings, _, _ = world
    register = HttpAddressRegister(
        "https://127.0.0.1:9/far",
        client_tls_context(_intermediary(context), settings.tls_ca_file),
        timeout_seconds=2,
    )
    with pytest.raises(FarUnavailableError, match="svarar inte"):
        Precheck(register, settings).check(EXEMPELKOMMUN, [TOLVAN])


def test_precheck_for_uses_the_intermediary_from_the_database(world):
    _, settings, _, _ = world
    [decision] = precheck_for(settings).check(EXEMPELKOMMUN, [ANNA])

    assert decision.channel == "digital"


def test_precheck_without_a_far_address_says_what_to_set(world):
    _, settings, _, _ = world
    with pytest.raises(FarUnavailableError, match="UTSKICK_FAR_URL"):
        precheck_for(settings.model_copy(update={"far_url": None}))
