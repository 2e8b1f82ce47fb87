"""What a trusted proxy's X-Forwarded-For and RFC 7239 Forwarded make of the request's client.

The functional tests (test_web_headers.py) drive X-Forwarded-* through the whole app; these
drive the middleware alone with the headers a proxy really sends, and the ones a browser makes
up before it.
"""

import pytest
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from utskick.web.proxy import (
    UNKNOWN_CLIENT,
    ForwardedHeaders,
    TrustedProxies,
    forwarded_elements,
    node_address,
    passed_on_by_proxy,
)

PROXY = "10.0.0.5"
BROWSER = "203.0.113.9"


def seen_by_the_app(headers, peer=PROXY, trusted=(PROXY, "10.1.0.0/16")):
    """The scheme and client address an app behind the middleware sees."""

    async def echo(scope, receive, send):
        await JSONResponse({"scheme": scope["scheme"], "client": scope["client"][0]})(
            scope, receive, send
        )

    wrapped = ForwardedHeaders(echo, TrustedProxies(trusted))
    return TestClient(wrapped, client=(peer, 1234)).get("/", headers=headers).json()


class TestForwardedElements:
    def test_reads_elements_and_their_parameters(self):
        value = 'for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711"'
        assert forwarded_elements(value) == [
            {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"},
            {"for": "[2001:db8:cafe::17]:4711"},
        ]

    def test_a_quoted_value_may_hold_commas_and_escaped_quotes(self):
        assert forwarded_elements(r'for="_a,b\"c";proto=https') == [
            {"for": '_a,b"c', "proto": "https"}
        ]

    def test_an_unreadable_element_is_an_empty_one_and_the_next_is_read(self):
        # What a browser made up, then the element the proxy added.
        assert forwarded_elements(f'for="127.0.0.1, for=garbage garbage, for={BROWSER}') == [
            {},
            {},
            {"for": BROWSER},
        ]

    def test_a_parameter_given_twice_makes_the_element_unreadable(self):
        assert forwarded_elements(f"for=127.0.0.1;for={BROWSER}") == [{}]

    def test_empty_elements_are_skipped(self):
        assert forwarded_elements(f" , for={BROWSER} ,, ") == [{"for": BROWSER}]


class TestNodeAddress:
    @pytest.mark.parametrize(
        ("node", "address"),
        [
            ("192.0.2.60", "192.0.2.60"),
            ("192.0.2.60:8080", "192.0.2.60"),
            ("[2001:DB8::17]:4711", "2001:db8::17"),
            ("[2001:db8::17]", "2001:db8::17"),
            ("2001:db8::17", "2001:db8::17"),
            ("_hidden.7", "_hidden.7"),
        ],
    )
    def test_reads_the_address_without_port_or_brackets(self, node, address):
        assert node_address(node) == address

    @pytest.mark.parametrize("node", [None, "", "unknown", "[::1", "localhost", "127.0.0.1:a:b"])
    def test_anything_else_is_unknown(self, node):
        assert node_address(node) == UNKNOWN_CLIENT


class TestForwardedFromATrustedProxy:
    def test_names_the_browser_and_the_scheme(self):
        seen = seen_by_the_app({"Forwarded": f"for={BROWSER};proto=https"})
        assert seen == {"scheme": "https", "client": BROWSER}

    def test_an_ipv6_browser_in_quotes_with_a_port(self):
        seen = seen_by_the_app({"Forwarded": 'for="[2001:db8::17]:4711"'})
        assert seen["client"] == "2001:db8::17"

    def test_an_address_made_up_before_the_proxies_is_not_believed(self):
        headers = {"Forwarded": f"for=127.0.0.1, for={BROWSER}, for=10.1.2.3"}
        assert seen_by_the_app(headers)["client"] == BROWSER

    def test_a_line_the_browser_sent_before_the_proxys_own_line_is_not_believed(self):
        headers = [("Forwarded", "for=127.0.0.1"), ("Forwarded", f"for={BROWSER}")]
        assert seen_by_the_app(headers)["client"] == BROWSER

    @pytest.mark.parametrize("node", ["unknown", '"[::1"', ""])
    def test_a_client_that_is_no_address_is_unknown_not_the_proxy(self, node):
        assert seen_by_the_app({"Forwarded": f"for={node}"})["client"] == UNKNOWN_CLIENT

    def test_an_obfuscated_client_stays_a_name_and_no_address(self):
        assert seen_by_the_app({"Forwarded": "for=_k7Hx"})["client"] == "_k7Hx"

    def test_an_element_without_for_leaves_the_client_unknown(self):
        assert seen_by_the_app({"Forwarded": "proto=https;host=utskick.example"}) == {
            "scheme": "https",
            "client": UNKNOWN_CLIENT,
        }

    def test_x_forwarded_proto_is_the_word_on_the_scheme_when_both_are_sent(self):
        headers = {"Forwarded": f"for={BROWSER};proto=https", "X-Forwarded-Proto": "http"}
        assert seen_by_the_app(headers)["scheme"] == "http"


class TestBothHeadersAndOtherSigns:
    def test_both_headers_naming_the_same_browser_name_it(self):
        headers = {"Forwarded": f"for={BROWSER}", "X-Forwarded-For": f"{BROWSER}:5555"}
        assert seen_by_the_app(headers)["client"] == BROWSER

    def test_headers_that_disagree_leave_the_client_unknown(self):
        # One of them the browser made up and the proxy passed on untouched; which, only the
        # proxy's configuration knows.
        headers = {"Forwarded": "for=127.0.0.1", "X-Forwarded-For": BROWSER}
        assert seen_by_the_app(headers)["client"] == UNKNOWN_CLIENT

    @pytest.mark.parametrize(
        "headers",
        [{"X-Real-IP": BROWSER}, {"Via": "1.1 proxy.kommun.test"}, {"X-Forwarded-Proto": "https"}],
    )
    def test_a_request_passed_on_without_a_named_client_has_an_unknown_one(self, headers):
        assert seen_by_the_app(headers)["client"] == UNKNOWN_CLIENT

    def test_the_proxys_own_request_keeps_its_address(self):
        assert seen_by_the_app({"Accept": "*/*"})["client"] == PROXY

    def test_an_untrusted_peer_cannot_change_its_address_or_scheme(self):
        headers = {"Forwarded": "for=127.0.0.1;proto=https", "Via": "1.1 x"}
        seen = seen_by_the_app(headers, peer="198.51.100.20")
        assert seen == {"scheme": "http", "client": "198.51.100.20"}


class TestPassedOnByProxy:
    @pytest.mark.parametrize(
        "names",
        [
            ["Host", "X-Forwarded-For"],
            ["forwarded"],
            ["X-Real-IP"],
            ["via"],
            ["X-Forwarded-Host"],
            ["X-FORWARDED-PROTO"],
            ["True-Client-IP"],
        ],
    )
    def test_a_header_only_proxies_add_shows_a_proxy(self, names):
        assert passed_on_by_proxy(names)

    def test_a_browsers_own_headers_show_none(self):
        assert not passed_on_by_proxy(["Host", "Authorization", "Accept", "X-Request-ID"])
