"""Single sign-on: the municipality's proxy names the person in a header, believed only from it.

Each test runs on SQLite and on PostgreSQL, each on a database of its own.
"""

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from functional.web_login import HTML
from utskick.entrypoints.app import create_app
from utskick.migrations import migrate
from utskick.settings import Settings
from utskick.web.users import create_user

pytestmark = pytest.mark.storage

PASSWORD = "rätt-lösenord-1"
PROXY = ("10.0.0.5", 40000)
HEADER = "X-Remote-User"
EXEMPELKOMMUN = "2021004748"


@pytest.fixture
def app(empty_engine, tmp_path):
    migrate.upgrade(empty_engine)
    now = dt.datetime.now(dt.UTC)
    with Session(empty_engine) as session:
        create_user(session, username="ledning", password=PASSWORD, role="management",
                    organisation=EXEMPELKOMMUN, display_name="Lena Ledning", now=now)  # fmt: skip
        create_user(session, username="hans", password=PASSWORD, role="officer",
                    organisation=EXEMPELKOMMUN, department="Socialtjänsten", now=now)  # fmt: skip
        session.commit()
    settings = Settings(home=tmp_path, sso_user_header=HEADER, trusted_proxies=["10.0.0.0/24"])
    return create_app(settings, empty_engine)


def meta_token(page):
    """The CSRF token every page of the layout carries for its scripts."""
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text).group(1)


def test_the_proxy_header_logs_the_person_in_without_a_password(app):
    page = TestClient(app, client=PROXY).get("/statistik", headers={**HTML, HEADER: "ledning"})
    assert page.status_code == 200
    assert "Lena Ledning" in page.text
    assert "Logga ut" not in page.text  # the proxy ends the login, not Utskick


def test_the_header_from_anyone_but_the_proxy_is_ignored(app):
    page = TestClient(app, client=("192.168.1.9", 40000)).get(
        "/statistik", headers={**HTML, HEADER: "ledning"}, follow_redirects=False
    )
    assert page.status_code == 303
    assert page.headers["location"].startswith("/logga-in")


def test_a_person_unknown_to_utskick_gets_a_swedish_explanation(app):
    page = TestClient(app, client=PROXY).get("/statistik", headers={**HTML, HEADER: "okand"})
    assert page.status_code == 403
    assert "ingen aktiv användare med det namnet i Utskick" in page.text


def test_the_role_still_decides_what_the_person_may_open(app):
    page = TestClient(app, client=PROXY).get("/statistik", headers={**HTML, HEADER: "hans"})
    assert page.status_code == 403
    assert "kräver rollen" in page.text


def test_two_different_names_in_the_header_log_in_no_one(app):
    client = TestClient(app, client=PROXY)
    answer = client.get("/api/v1/statistik", headers=[(HEADER, "ledning"), (HEADER, "hans")])
    assert answer.status_code == 401


def test_a_state_changing_request_needs_the_csrf_token_of_the_page(app):
    client = TestClient(app, client=PROXY)
    headers = {**HTML, HEADER: "ledning"}
    forged = client.post("/logga-ut", headers=headers, data={}, follow_redirects=False)
    assert forged.status_code == 403
    token = meta_token(client.get("/statistik", headers=headers))
    other = TestClient(app, client=PROXY).get("/statistik", headers={**HTML, HEADER: "hans"})
    assert token not in other.text  # bound to the person, not shared
    accepted = client.post(
        "/logga-ut", headers=headers, data={"csrf_token": token}, follow_redirects=False
    )
    assert accepted.status_code == 303


def test_without_the_setting_the_header_means_nothing(empty_engine, tmp_path):
    migrate.upgrade(empty_engine)
    with Session(empty_engine) as session:
        create_user(session, username="ledning", password=PASSWORD, role="management",
                    organisation=EXEMPELKOMMUN, now=dt.datetime.now(dt.UTC))  # fmt: skip
        session.commit()
    app = create_app(Settings(home=tmp_path, trusted_proxies=["10.0.0.0/24"]), empty_engine)
    answer = TestClient(app, client=PROXY).get("/api/v1/statistik", headers={HEADER: "ledning"})
    assert answer.status_code == 401
