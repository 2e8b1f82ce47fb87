"""FaR's register on SQLite and on PostgreSQL: what isReachable and the operators rely on."""

import pytest

from support.world import BERTIL, DAVID, EVA, TOLVAN
from utskick.reference.far.registry import FarError, FarRegistry
from utskick.reference.world import EXEMPELKOMMUN, GRANNKOMMUN, NORD, SYD


@pytest.fixture
def registry(reference_sessions):
    registry = FarRegistry(reference_sessions)
    registry.add_organisation(EXEMPELKOMMUN, "Exempelkommun", sender=True, intermediary=True)
    registry.add_organisation(GRANNKOMMUN, "Grannkommun", sender=True)
    registry.add_organisation(
        SYD, "Brevlåda Syd AB", operator=True, service_address="https://syd.test/service/v3"
    )
    registry.add_organisation(
        NORD, "Brevlåda Nord AB", operator=True, service_address="https://nord.test/service/v3"
    )
    registry.register(SYD, TOLVAN)
    registry.register(SYD, BERTIL)
    registry.store_accepted_senders(SYD, BERTIL, [GRANNKOMMUN])
    registry.mark_protected(EVA)
    return registry


pytestmark = pytest.mark.storage


class TestReachability:
    def test_a_registered_recipient_is_reachable_at_the_operators_service_address(self, registry):
        (answer,) = registry.reachability(EXEMPELKOMMUN, [TOLVAN])
        assert answer.account.account_type == "Secure"
        assert answer.account.operator.service_address == "https://syd.test/service/v3"
        assert answer.sender_accepted is True

    def test_an_opted_out_sender_is_not_accepted_and_the_change_is_dated(self, registry):
        refused, accepted = (
            registry.reachability(EXEMPELKOMMUN, [BERTIL])[0],
            registry.reachability(GRANNKOMMUN, [BERTIL])[0],
        )
        assert (refused.sender_accepted, accepted.sender_accepted) == (False, True)
        assert refused.last_sender_accept_change is not None

    def test_an_unregistered_recipient_is_type_not_and_not_accepted(self, registry):
        (answer,) = registry.reachability(EXEMPELKOMMUN, [DAVID])
        assert (answer.account.account_type, answer.sender_accepted) == ("Not", False)
        assert answer.account.operator is None

    def test_a_protected_identity_is_refused_with_6006_and_named(self, registry):
        with pytest.raises(FarError) as caught:
            registry.reachability(EXEMPELKOMMUN, [TOLVAN, EVA])
        assert caught.value.code == 6006
        assert EVA in caught.value.description

    def test_more_than_a_thousand_ids_is_5005(self, registry):
        with pytest.raises(FarError) as caught:
            registry.reachability(EXEMPELKOMMUN, [TOLVAN] * 1001)
        assert caught.value.code == 5005


class TestOperatorSide:
    def test_moving_an_account_changes_where_deliveries_go(self, registry):
        registry.change_service_supplier(TOLVAN, NORD)
        (answer,) = registry.reachability(EXEMPELKOMMUN, [TOLVAN])
        assert answer.account.operator.number == NORD

    def test_deregistering_makes_the_recipient_unreachable(self, registry):
        registry.deregister(SYD, BERTIL)
        (answer,) = registry.reachability(GRANNKOMMUN, [BERTIL])
        assert answer.account.account_type == "Not"

    def test_another_operator_may_not_deregister_an_account(self, registry):
        with pytest.raises(FarError) as caught:
            registry.deregister(NORD, TOLVAN)
        assert caught.value.code == 5003
        assert registry.reachability(EXEMPELKOMMUN, [TOLVAN])[0].account.account_type == "Secure"

    def test_accepting_every_sender_again_clears_the_opt_out(self, registry):
        registry.store_accepted_senders(SYD, BERTIL, [EXEMPELKOMMUN, GRANNKOMMUN])
        assert registry.reachability(EXEMPELKOMMUN, [BERTIL])[0].sender_accepted is True
        assert [s.number for s in registry.accepted_senders(SYD, BERTIL)] == [
            EXEMPELKOMMUN,
            GRANNKOMMUN,
        ]
