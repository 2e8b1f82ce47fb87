"""Security headers on every answer, and what a TLS-terminating proxy may tell the app.

HSTS and Secure cookies only for a request that came over HTTPS: directly, or through a peer
listed in `trusted_proxies` that says so in X-Forwarded-Proto. The same header from any other
peer changes nothing.
"""

import datetime as dt

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.responses import JSONResponse

from functional.web_login import SESSION_COOKIE, csrf_token, log_in, set_cookies
from support.world import EXEMPELKOMMUN
from utskick.db.engine import create_database_engine
from utskick.entrypoints.app import create_app
from utskick.migrations import migrate
from utskick.settings import Settings
from utskick.web.proxy import ForwardedHeaders, TrustedProxies
from utskick.web.users import create_user

PASSWORD = "rätt-lösenord-1"
PROXY = "10.0.0.5"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HTTPS_FROM_PROXY = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = create_database_engine(f"sqlite:///{tmp_path_factory.mktemp('hdr') / 'u.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        create_user(session, username="ledning", password=PASSWORD, role="management",
                    organisation=EXEMPELKOMMUN, now=dt.datetime.now(dt.UTC))  # fmt: skip
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(engine, tmp_path_factory):
    settings = Settings(
        home=tmp_path_factory.mktemp("home"), trusted_proxies=[PROXY, "10.9.0.0/16"]
    )
    return create_app(settings, engine)


def client(app, peer="198.51.100.20", scheme="http"):
    return TestClient(app, base_url=f"{scheme}://utskick.example", client=(peer, 4711))


# Every kind of answer: pages, the login, the API (JSON, 200 and errors), static files, docs.
ANSWERS = [
    ("GET", "/"),
    ("GET", "/logga-in"),
    ("GET", "/nytta"),
    ("GET", "/docs"),
    ("GET", "/openapi.json"),
    ("GET", "/health"),
    ("GET", "/api/v1/nytta"),
    ("GET", "/api/v1/statistik"),  # 401
    ("GET", "/api/v1/letters/okand"),  # 401 (no API key)
    ("GET", "/static/css/utskick.css"),
    ("GET", "/finns-inte"),  # 404
    ("POST", "/api/v1/nytta"),
]


@pytest.mark.parametrize(("method", "path"), ANSWERS)
def test_every_answer_carries_the_security_headers(app, method, path):
    answer = client(app).request(method, path)
    assert answer.status_code < 500
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "strict-transport-security" not in answer.headers  # plain HTTP
    # Letters and addresses must not stay in a disk cache; the packaged assets may.
    if path.startswith("/static/"):
        assert answer.headers.get("cache-control") != "no-store"
    else:
        assert answer.headers["cache-control"] == "no-store"


def test_the_pages_have_no_inline_script_or_style(app):
    for path in ("/", "/logga-in", "/nytta", "/docs", "/redoc"):
        text = client(app).get(path).text
        assert "<style" not in text
        assert " style=" not in text
        for script in text.split("<script")[1:]:
            assert script.lstrip().startswith("src="), (path, script[:80])


def test_redoc_alone_may_style_inline_but_runs_no_inline_script(app):
    policy = client(app).get("/redoc").headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy


def test_hsts_over_https(app):
    answer = client(app, scheme="https").get("/")
    assert answer.headers["strict-transport-security"] == "max-age=31536000"


def test_hsts_and_secure_cookies_behind_the_trusted_proxy(app):
    browser = client(app, peer=PROXY)
    browser.headers.update(HTTPS_FROM_PROXY)
    page = browser.get("/logga-in")
    assert page.headers["strict-transport-security"] == "max-age=31536000"
    assert "Secure" in set_cookies(page)["utskick_csrf"]
    # The browser speaks HTTPS to the proxy, so it sends the Secure cookie back; the test
    # client speaks HTTP to the app and would not: hand it over as the proxy forwards it.
    csrf_cookie = set_cookies(page)["utskick_csrf"].split(";")[0]
    login = browser.post(
        "/logga-in",
        data={"username": "ledning", "password": PASSWORD, "csrf_token": csrf_token(page)},
        headers={"Cookie": csrf_cookie},
        follow_redirects=False,
    )
    assert login.status_code == 303
    cookies = set_cookies(login)
    for name in (SESSION_COOKIE, "utskick_csrf"):
        assert "Secure" in cookies[name]
        assert "HttpOnly" in cookies[name]
        assert "SameSite=lax" in cookies[name]


def test_a_peer_in_a_trusted_network_counts_as_the_proxy(app):
    browser = client(app, peer="10.9.3.4")
    answer = browser.get("/", headers=HTTPS_FROM_PROXY)
    assert "strict-transport-security" in answer.headers


@pytest.mark.parametrize("peer", ["198.51.100.20", "10.0.0.6", "testclient"])
def test_an_untrusted_peer_claiming_https_gets_no_hsts_and_no_secure_cookie(app, peer):
    browser = client(app, peer=peer)
    browser.headers.update(HTTPS_FROM_PROXY)
    page = browser.get("/logga-in")
    assert "strict-transport-security" not in page.headers
    assert "Secure" not in set_cookies(page)["utskick_csrf"]
    login = log_in(browser, "ledning", PASSWORD)
    assert "Secure" not in set_cookies(login)[SESSION_COOKIE]
    assert "HttpOnly" in set_cookies(login)[SESSION_COOKIE]


def test_without_trusted_proxies_no_peer_is_believed(engine, tmp_path):
    app = create_app(Settings(home=tmp_path), engine)
    answer = client(app, peer=PROXY).get("/", headers=HTTPS_FROM_PROXY)
    assert "strict-transport-security" not in answer.headers


def test_the_proxy_saying_http_means_no_hsts(app):
    answer = client(app, peer=PROXY).get("/", headers={"X-Forwarded-Proto": "http"})
    assert "strict-transport-security" not in answer.headers


# --- what the proxy middleware tells the app ---------------------------------------------


def seen_by_the_app(peer, headers, trusted=(PROXY, "10.1.0.0/16")):
    """The scheme and client address an app behind the middleware sees."""

    async def echo(scope, receive, send):
        await JSONResponse({"scheme": scope["scheme"], "client": scope["client"][0]})(
            scope, receive, send
        )

    wrapped = ForwardedHeaders(echo, TrustedProxies(trusted))
    return TestClient(wrapped, client=(peer, 1234)).get("/", headers=headers).json()


def test_the_trusted_proxy_names_the_browsers_address():
    seen = seen_by_the_app(PROXY, {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"})
    assert seen == {"scheme": "https", "client": "203.0.113.7"}


def test_an_address_the_browser_made_up_before_the_proxies_is_not_believed():
    # The browser sent "X-Forwarded-For: 1.2.3.4"; the proxies appended what they saw.
    seen = seen_by_the_app(PROXY, {"X-Forwarded-For": "1.2.3.4, 203.0.113.7, 10.1.2.3"})
    assert seen["client"] == "203.0.113.7"


def test_a_line_the_browser_sent_before_the_proxys_own_line_is_not_believed():
    # HAProxy adds its own X-Forwarded-For line instead of appending to the browser's; reading
    # only the first line believed the address the browser made up (and dodged the throttle).
    seen = seen_by_the_app(
        PROXY,
        [
            ("X-Forwarded-For", "1.2.3.4"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-For", "203.0.113.7"),
            ("X-Forwarded-Proto", "http"),
        ],
    )
    assert seen == {"scheme": "http", "client": "203.0.113.7"}


def test_an_untrusted_peer_cannot_change_its_address_or_scheme():
    seen = seen_by_the_app("198.51.100.20", {"X-Forwarded-For": "10.0.0.1",
                                              "X-Forwarded-Proto": "https"})  # fmt: skip
    assert seen == {"scheme": "http", "client": "198.51.100.20"}


def test_an_ipv4_proxy_seen_as_an_ipv6_mapped_address_is_trusted():
    seen = seen_by_the_app(f"::ffff:{PROXY}", {"X-Forwarded-Proto": "https"})
    assert seen["scheme"] == "https"


def test_a_wrong_trusted_proxy_setting_is_refused_in_swedish():
    with pytest.raises(ValidationError, match="ingen IP-adress eller nätverk"):
        Settings(trusted_proxies=["proxy.example"])


def test_an_unexpected_error_is_a_swedish_500_with_the_security_headers(engine, tmp_path):
    app = create_app(Settings(home=tmp_path), engine)

    @app.get("/api/v1/trasig")
    def broken():
        raise RuntimeError("internal detail that must not reach the caller")

    answer = TestClient(app, raise_server_exceptions=False).get("/api/v1/trasig")
    assert answer.status_code == 500
    assert "oväntat fel" in answer.json()["detail"]
    assert "internal detail" not in answer.text
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
