"""Logging in to the web app: the form, sessions, CSRF, throttling, roles and HTTP Basic."""

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from functional.browser.statistics_letters import add_users, statistics_app
from utskick.db.engine import create_database_engine
from utskick.migrations import migrate
from utskick.settings import Settings
from utskick.web.auth import LOCKOUT_SECONDS, LoginThrottle

PASSWORD = "rätt-lösenord-1"


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = create_database_engine(f"sqlite:///{tmp_path_factory.mktemp('auth') / 'utskick.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        add_users(session, PASSWORD)
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine, tmp_path):
    return statistics_app(Settings(home=tmp_path), engine)


@pytest.fixture
def client(app):
    return TestClient(app)


def csrf_token(page):
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


def log_in(client, username, password=PASSWORD, next_path="/statistik"):
    form = client.get("/logga-in")
    return client.post(
        "/logga-in",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_token(form),
            "next": next_path,
        },
        follow_redirects=False,
    )


HTML = {"Accept": "text/html"}


class TestLogin:
    def test_the_login_page_is_swedish_and_has_a_csrf_token(self, client):
        page = client.get("/logga-in")
        assert page.status_code == 200
        assert "Användarnamn" in page.text
        assert "Lösenord" in page.text
        assert csrf_token(page)

    def test_the_right_password_starts_a_session_and_returns_to_the_page_asked_for(self, client):
        answer = log_in(client, "ledning")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/statistik"
        cookie = next(
            c for c in answer.headers.get_list("set-cookie") if c.startswith("utskick_session=")
        )
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert client.get("/statistik", headers=HTML).status_code == 200

    def test_a_wrong_password_is_refused_without_a_session(self, client):
        answer = log_in(client, "ledning", "fel-lösenord-99")
        assert answer.status_code == 401
        assert "Fel användarnamn eller lösenord" in answer.text
        assert "utskick_session" not in answer.headers.get("set-cookie", "")

    def test_an_unknown_user_gets_the_same_answer_as_a_wrong_password(self, client):
        answer = log_in(client, "ingen-sadan")
        assert answer.status_code == 401
        assert "Fel användarnamn eller lösenord" in answer.text

    def test_a_login_without_the_csrf_token_is_refused(self, client):
        client.get("/logga-in")
        answer = client.post(
            "/logga-in", data={"username": "ledning", "password": PASSWORD}, follow_redirects=False
        )
        assert answer.status_code == 403
        assert "formuläret har gått ut" in answer.text.lower()
        assert "utskick_session" not in answer.headers.get("set-cookie", "")

    def test_a_login_with_another_browsers_csrf_token_is_refused(self, app, client):
        other = TestClient(app)
        token = csrf_token(other.get("/logga-in"))
        client.get("/logga-in")
        answer = client.post(
            "/logga-in",
            data={"username": "ledning", "password": PASSWORD, "csrf_token": token},
            follow_redirects=False,
        )
        assert answer.status_code == 403

    def test_a_return_address_on_another_site_is_not_followed(self, client):
        answer = log_in(client, "ledning", next_path="//angripare.example/stjal")
        assert answer.headers["location"] == "/"

    def test_logout_ends_the_session(self, client):
        log_in(client, "ledning")
        page = client.get("/statistik", headers=HTML)
        answer = client.post(
            "/logga-ut", data={"csrf_token": csrf_token(page)}, follow_redirects=False
        )
        assert answer.status_code == 303
        client.cookies.delete("utskick_session")  # as the browser does on the deleting cookie
        assert client.get("/statistik", headers=HTML, follow_redirects=False).status_code == 303

    def test_logout_without_the_csrf_token_is_refused(self, client):
        log_in(client, "ledning")
        answer = client.post("/logga-ut", data={}, follow_redirects=False)
        assert answer.status_code == 403
        assert client.get("/statistik", headers=HTML).status_code == 200

    def test_a_tampered_session_cookie_is_not_a_login(self, client):
        log_in(client, "ledning")
        value = client.cookies["utskick_session"]
        # Replace the cookie rather than add a second one beside it: which of two same-named
        # cookies the server reads depends on the order the client sends them in.
        client.cookies.delete("utskick_session")
        client.cookies.set("utskick_session", value[:-2] + ("AA" if value[-2:] != "AA" else "BB"))
        assert client.get("/api/v1/statistik").status_code == 401


class TestThrottling:
    def test_after_five_failures_even_the_right_password_must_wait(self, client):
        for _ in range(5):
            assert log_in(client, "byggadmin", "fel-lösenord-99").status_code == 401
        answer = log_in(client, "byggadmin")
        assert answer.status_code == 429
        assert "vänta" in answer.text
        assert int(answer.headers["retry-after"]) <= LOCKOUT_SECONDS

    def test_other_users_may_still_log_in_meanwhile(self, client):
        for _ in range(5):
            log_in(client, "byggadmin", "fel-lösenord-99")
        assert log_in(client, "ledning").status_code == 303

    def test_basic_credentials_are_throttled_too(self, client):
        for _ in range(5):
            client.get("/api/v1/statistik", auth=("byggadmin", "fel-lösenord-99"))
        answer = client.get("/api/v1/statistik", auth=("byggadmin", PASSWORD))
        assert answer.status_code == 429
        assert "Retry-After" in answer.headers

    def test_the_wait_ends_after_the_lockout(self):
        now = [1000.0]
        throttle = LoginThrottle(clock=lambda: now[0])
        keys = {"user:x": 3}
        for _ in range(3):
            throttle.failed(keys)
        assert throttle.wait_seconds(keys) == LOCKOUT_SECONDS
        now[0] += LOCKOUT_SECONDS + 1
        assert throttle.wait_seconds(keys) == 0


class TestRoles:
    def test_a_page_redirects_a_visitor_to_the_login(self, client):
        answer = client.get("/statistik?from=2026-01", headers=HTML, follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/logga-in?next=%2Fstatistik%3Ffrom%3D2026-01"

    def test_the_api_answers_401_with_a_basic_challenge(self, client):
        answer = client.get("/api/v1/statistik")
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")
        assert answer.json()["detail"] == "logga in för att fortsätta"

    def test_an_officer_is_told_the_role_is_missing(self, client):
        log_in(client, "handlaggare")
        page = client.get("/statistik", headers=HTML)
        assert page.status_code == 403
        assert "rollen handläggare" in page.text
        assert "verksamhetsadministratör, ledning eller administratör" not in page.text
        assert "verksamhetsadministratör eller ledning eller administratör" in page.text

    def test_an_officer_gets_403_from_the_api(self, client):
        answer = client.get("/api/v1/statistik", auth=("handlaggare", PASSWORD))
        assert answer.status_code == 403
        assert "handläggare" in answer.json()["detail"]

    def test_basic_credentials_open_the_api_for_a_script(self, client):
        assert client.get("/api/v1/statistik", auth=("ledning", PASSWORD)).status_code == 200

    def test_wrong_basic_credentials_answer_401(self, client):
        answer = client.get("/api/v1/statistik", auth=("ledning", "fel-lösenord-99"))
        assert answer.status_code == 401
        assert answer.json()["detail"] == "fel användarnamn eller lösenord"
