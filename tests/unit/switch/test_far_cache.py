from support.world import Clock, FakeFar
from utskick.switch.far import CachedAddressRegister, FarUnavailableError


def test_an_answer_is_reused_within_the_time_to_live_and_asked_again_after():
    register, clock = FakeFar(), Clock(1000.0)
    cache = CachedAddressRegister(register, ttl_seconds=60, clock=clock)

    cache.is_reachable("2021004748", ["191212121212"])
    clock.now += 59
    cache.is_reachable("2021004748", ["191212121212"])
    assert len(register.asked) == 1

    clock.now += 2
    cache.is_reachable("2021004748", ["191212121212"])
    assert len(register.asked) == 2


def test_the_cache_is_per_sender_because_acceptance_differs_per_sender():
    register = FakeFar()
    cache = CachedAddressRegister(register, ttl_seconds=60, clock=Clock(1000.0))

    cache.is_reachable("2021004748", ["197501012475"])
    cache.is_reachable("2021009903", ["197501012475"])

    assert [sender for sender, _ in register.asked] == ["2021004748", "2021009903"]


def test_only_the_missing_ids_are_asked():
    register = FakeFar()
    cache = CachedAddressRegister(register, ttl_seconds=60, clock=Clock(1000.0))

    cache.is_reachable("2021004748", ["191212121212"])
    answers = cache.is_reachable("2021004748", ["191212121212", "198004232388"])

    assert register.asked[-1] == ("2021004748", ["198004232388"])
    assert set(answers) == {"191212121212", "198004232388"}


def test_errors_are_asked_again_but_protected_identities_are_remembered():
    register = FakeFar()
    cache = CachedAddressRegister(register, ttl_seconds=60, clock=Clock(1000.0))

    cache.is_reachable("2021004748", ["198512304166", "196611090827"])
    cache.is_reachable("2021004748", ["198512304166", "196611090827"])

    assert register.asked[-1] == ("2021004748", ["196611090827"])


def test_far_down_is_passed_on_and_nothing_is_cached():
    register = FakeFar()
    register.down = True
    cache = CachedAddressRegister(register, ttl_seconds=60, clock=Clock(1000.0))

    try:
        cache.is_reachable("2021004748", ["191212121212"])
    except FarUnavailableError:
        pass
    else:
        raise AssertionError("FaR down must raise")
    register.down = False
    cache.is_reachable("2021004748", ["191212121212"])
    assert register.asked == [("2021004748", ["191212121212"])]
