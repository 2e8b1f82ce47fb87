"""API keys: how they look, that only their hash is kept, and who presents them (SQLite and
PostgreSQL): a missing, unknown, malformed or revoked key gets no sending system."""

import re

import pytest

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW
from utskick.senders.api_keys import (
    KEY_PREFIX,
    AuthenticationError,
    authenticate,
    generate_api_key,
    hash_api_key,
    shown_prefix,
)
from utskick.senders.systems import create_sending_system, issue_api_key, revoke_api_key

pytestmark = pytest.mark.storage

MISSING = "API-nyckel saknas"
UNKNOWN = "API-nyckeln är okänd eller återkallad; kontrollera nyckeln eller be om en ny"


def test_a_key_is_the_prefix_and_32_random_bytes_in_url_safe_base64():
    keys = {generate_api_key() for _ in range(20)}

    assert len(keys) == 20
    for key in keys:
        assert re.fullmatch(r"uk_[A-Za-z0-9_-]{43}", key), key


def test_a_key_is_stored_as_its_sha256_in_hex():
    assert hash_api_key("uk_test") == (
        "1a4e29eb7770e822cb28bd9f9f123e01b959a4ac5ed4b18a10d2100805d6cfa0"
    )


def test_the_shown_prefix_tells_keys_apart_without_giving_them_away():
    key = generate_api_key()

    assert shown_prefix(key) == key[:11]
    assert shown_prefix(key).startswith(KEY_PREFIX)


@pytest.fixture
def system_with_key(senders):
    """A sending system for Exempelkommun and the clear key issued to it."""
    system = create_sending_system(
        senders, name="Ärendesystemet", sender_numbers=[EXEMPELKOMMUN], now=NOW
    )
    return system, issue_api_key(senders, system, now=NOW).clear_key


def test_a_valid_key_is_its_systems_even_with_spaces_around_it(senders, system_with_key):
    system, key = system_with_key
    other = create_sending_system(senders, name="Annat", sender_numbers=[GRANNKOMMUN], now=NOW)
    issue_api_key(senders, other, now=NOW)

    assert authenticate(senders, key).id == system.id
    assert authenticate(senders, f"  {key}\n").id == system.id


@pytest.mark.parametrize("presented", [None, ""])
def test_no_key_is_refused_saying_how_to_send_one(senders, presented):
    with pytest.raises(AuthenticationError) as refused:
        authenticate(senders, presented)

    assert str(refused.value).startswith(MISSING)
    assert "Authorization: Bearer" in str(refused.value)
    assert "X-API-Key" in str(refused.value)


def test_an_unknown_key_is_refused(senders, system_with_key):
    with pytest.raises(AuthenticationError, match=UNKNOWN):
        authenticate(senders, generate_api_key())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda key: key[len(KEY_PREFIX) :], id="without-prefix"),
        pytest.param(lambda key: KEY_PREFIX + key[len(KEY_PREFIX) :].swapcase(), id="other-case"),
        pytest.param(lambda key: key + "x" * 200, id="too-long"),
    ],
)
def test_a_key_changed_in_any_way_is_refused(senders, system_with_key, change):
    _, key = system_with_key

    with pytest.raises(AuthenticationError, match=UNKNOWN):
        authenticate(senders, change(key))


def test_a_revoked_key_is_refused_at_once(senders, system_with_key):
    _, key = system_with_key
    revoke_api_key(senders, shown_prefix(key), now=NOW)

    with pytest.raises(AuthenticationError, match=UNKNOWN):
        authenticate(senders, key)
