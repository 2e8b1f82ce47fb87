"""A sending system's webhook address and secret, and its keys rotated (SQLite and PostgreSQL)."""

import base64
import datetime as dt

import pytest

from support.world import EXEMPELKOMMUN, NOW
from utskick.senders.systems import (
    SendingSystemError,
    api_keys_of,
    checked_webhook_url,
    create_sending_system,
    issue_api_key,
    revoke_other_keys,
    rotate_webhook_secret,
    set_webhook_url,
)

pytestmark = pytest.mark.storage


def a_system(session, webhook_url=None):
    return create_sending_system(
        session,
        name="Ärendesystemet",
        sender_numbers=[EXEMPELKOMMUN],
        webhook_url=webhook_url,
        now=NOW,
    )


class TestWebhookAddress:
    @pytest.mark.parametrize(
        "url",
        [
            "https://system.kommun.se/utskick",
            "http://localhost:8080/h",
            "http://127.0.0.1/h",
            "http://[::1]:9000/h",
        ],
    )
    def test_https_or_this_machine_is_accepted(self, url):
        assert checked_webhook_url(f"  {url} ") == url

    @pytest.mark.parametrize(
        ("url", "says"),
        [
            ("http://system.kommun.se/h", "använder http utan kryptering"),
            ("http://10.0.0.5/h", "använder http utan kryptering"),
            ("ftp://system.kommun.se/h", "går inte att använda"),
            ("system.kommun.se/h", "går inte att använda"),
            ("https://" + "a" * 1100, "för lång"),
        ],
    )
    def test_anything_else_is_refused_in_swedish(self, url, says):
        with pytest.raises(SendingSystemError, match=says):
            checked_webhook_url(url)

    def test_a_first_webhook_gets_a_secret_and_a_second_keeps_it(self, senders):
        system = a_system(senders)

        secret = set_webhook_url(senders, system, "https://a.kommun.se/h")
        again = set_webhook_url(senders, system, "https://b.kommun.se/h")

        assert secret is not None
        assert secret.startswith("whsec_")
        assert again is None
        assert (system.webhook_url, system.webhook_secret) == ("https://b.kommun.se/h", secret)

    def test_removing_the_webhook_keeps_the_secret_for_later(self, senders):
        system = a_system(senders, "https://a.kommun.se/h")
        secret = system.webhook_secret

        assert set_webhook_url(senders, system, None) is None
        assert (system.webhook_url, system.webhook_secret) == (None, secret)


class TestSecretRotation:
    def test_the_old_secret_signs_until_the_overlap_ends(self, senders):
        system = a_system(senders, "https://a.kommun.se/h")
        old = system.webhook_secret

        new = rotate_webhook_secret(senders, system, now=NOW, overlap=dt.timedelta(hours=24))

        assert system.webhook_secret == new != old
        assert len(base64.b64decode(new.removeprefix("whsec_"), validate=True)) == 32
        assert system.webhook_secret_previous == old
        assert system.webhook_secret_previous_until == NOW + dt.timedelta(hours=24)

    def test_two_rotations_keep_only_the_last_old_secret(self, senders):
        system = a_system(senders, "https://a.kommun.se/h")
        first = rotate_webhook_secret(senders, system, now=NOW, overlap=dt.timedelta(hours=1))

        rotate_webhook_secret(senders, system, now=NOW, overlap=dt.timedelta(hours=1))

        assert system.webhook_secret_previous == first

    @pytest.mark.parametrize(
        ("webhook_url", "overlap", "says"),
        [
            (None, dt.timedelta(hours=1), "har ingen webhook; sätt en först"),
            ("https://a.kommun.se/h", dt.timedelta(hours=-1), "mellan 0 och 720 timmar"),
            ("https://a.kommun.se/h", dt.timedelta(days=31), "mellan 0 och 720 timmar"),
        ],
    )
    def test_what_cannot_be_rotated_is_refused_and_kept(self, senders, webhook_url, overlap, says):
        system = a_system(senders, webhook_url)
        before = system.webhook_secret

        with pytest.raises(SendingSystemError, match=says):
            rotate_webhook_secret(senders, system, now=NOW, overlap=overlap)

        assert (system.webhook_secret, system.webhook_secret_previous) == (before, None)


def test_revoking_the_other_keys_keeps_the_new_one_and_earlier_revocations(senders):
    system = a_system(senders)
    revoked_before = issue_api_key(senders, system, now=NOW)
    working = issue_api_key(senders, system, now=NOW)
    new = issue_api_key(senders, system, now=NOW)
    yesterday, later = NOW - dt.timedelta(days=1), NOW + dt.timedelta(hours=1)
    [key] = [k for k in api_keys_of(senders, system) if k.id == revoked_before.key_id]
    key.revoked_at = yesterday

    revoked = revoke_other_keys(senders, system, keep=new.key_id, now=later)

    assert [(k.id, k.revoked_at) for k in revoked] == [(working.key_id, later)]
    dates = {k.id: k.revoked_at for k in api_keys_of(senders, system)}
    assert dates == {revoked_before.key_id: yesterday, working.key_id: later, new.key_id: None}
