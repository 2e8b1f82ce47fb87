"""Who may read /metrics: a listed network without a token, anyone else only with the token,
and nobody through a proxy the installation has not said it trusts."""

import pytest
from pydantic import SecretStr

from utskick.entrypoints.metrics_access import MetricsAccess, forwarded, refusal_answer
from utskick.settings import Settings

TOKEN = "rätt-token-för-skrapning"
LOOPBACK_ONLY = ["127.0.0.1/32", "::1/128"]


def access(token=None, networks=LOOPBACK_ONLY):
    return MetricsAccess(SecretStr(token) if token is not None else None, networks)


class TestNetworks:
    @pytest.mark.parametrize("client", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "[::1]"])
    def test_loopback_in_any_spelling_reads_without_a_token(self, client):
        assert access().refusal(client, None) is None

    @pytest.mark.parametrize("client", ["10.1.2.3", "127.0.0.2", "testclient", "", None])
    def test_anything_else_is_refused_without_a_token(self, client):
        refusal = access().refusal(client, None)

        assert refusal is not None
        assert refusal.status == 403
        assert "UTSKICK_METRICS_NETWORKS" in refusal.message

    def test_a_listed_network_reads_and_loopback_then_needs_the_token(self):
        rule = access(TOKEN, ["10.0.0.0/8"])

        assert rule.refusal("10.200.0.9", None) is None
        assert rule.refusal("127.0.0.1", None).status == 401

    def test_the_settings_default_is_loopback_only(self, tmp_path):
        rule = MetricsAccess.from_settings(Settings(home=tmp_path))

        assert rule.refusal("127.0.0.1", None) is None
        assert rule.refusal("192.0.2.1", None).status == 403

    def test_a_request_an_untrusted_proxy_passed_on_gets_no_networks_leave(self):
        refusal = access().refusal("127.0.0.1", None, forwarded_by_unknown=True)

        assert refusal.status == 403
        assert "UTSKICK_TRUSTED_PROXIES" in refusal.message

    def test_through_an_untrusted_proxy_the_token_still_opens(self):
        rule = access(TOKEN)

        assert rule.refusal("127.0.0.1", f"Bearer {TOKEN}", forwarded_by_unknown=True) is None
        assert rule.refusal("127.0.0.1", None, forwarded_by_unknown=True).status == 401


class TestToken:
    def test_the_token_opens_from_anywhere(self):
        assert access(TOKEN).refusal("198.51.100.4", f"Bearer {TOKEN}") is None

    def test_the_scheme_is_read_in_any_case(self):
        assert access(TOKEN).refusal("198.51.100.4", f"bearer {TOKEN}") is None

    def test_no_token_is_asked_for_with_401(self):
        refusal = access(TOKEN).refusal("198.51.100.4", None)

        assert refusal.status == 401
        assert "Authorization: Bearer" in refusal.message

    @pytest.mark.parametrize(
        "authorization",
        [f"Bearer {TOKEN}!", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN, "Bearer", "Bearer  "],
    )
    def test_a_wrong_or_malformed_token_is_refused(self, authorization):
        assert access(TOKEN).refusal("198.51.100.4", authorization).status == 401

    def test_an_empty_token_setting_is_no_token(self):
        # Otherwise "Bearer " (nothing after it) would match an empty secret.
        refusal = access("").refusal("198.51.100.4", "Bearer ")

        assert refusal.status == 403


class TestAnswers:
    def test_a_401_asks_for_a_bearer_token_and_says_why_in_swedish(self):
        status, headers, body = refusal_answer(access(TOKEN).refusal("198.51.100.4", None))

        assert status == 401
        assert headers["WWW-Authenticate"] == 'Bearer realm="utskick-metrics"'
        assert "kräver en token".encode() in body

    def test_a_403_has_no_challenge(self):
        status, headers, _ = refusal_answer(access().refusal("198.51.100.4", None))

        assert status == 403
        assert "WWW-Authenticate" not in headers

    @pytest.mark.parametrize(
        ("names", "expected"),
        [
            (["Host", "X-Forwarded-For"], True),
            (["forwarded"], True),
            (["Host", "Authorization"], False),
        ],
    )
    def test_a_forwarded_request_is_known_by_its_headers_in_any_case(self, names, expected):
        assert forwarded(names) is expected
