"""CSRF: no state-changing request made with the session cookie works without the token.

The routes are read from the app itself, so a route added later is checked too: for every
route (and mount) that takes POST, PUT, PATCH or DELETE, a request with a logged-in
administrator's cookie but no token is refused with 403 in Swedish, and not one row of the
database changes. With the token, the same requests work; API keys and scripts' HTTP Basic
need none, and a request with an API key is never logged in by the cookie.
"""

import re

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from functional.print_letters import SOCIAL, VENDOR, new_database, seed_batches
from functional.web_login import HTML, SESSION_COOKIE, log_in, page_token
from support.api import new_api_key_headers
from utskick.db.base import Base
from utskick.entrypoints.app import create_app
from utskick.printing.models import PrintBatch
from utskick.settings import PrintVendor, Settings

PASSWORD = "rätt-lösenord-1"
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")
REFUSAL = "saknar en giltig CSRF-token"
# Routes every version of the app has; the enumeration must find them (it is not vacuous).
KNOWN_UNSAFE = {
    ("POST", "/logga-in"),
    ("POST", "/logga-ut"),
    ("POST", "/utskrift/{batch_id}"),
    ("POST", "/api/v1/print/batches/{batch_id}/close"),
    ("POST", "/api/v1/print/batches/{batch_id}/handover"),
    ("POST", "/api/v1/print/batches/{batch_id}/printed"),
    ("POST", "/api/v1/letters"),
    ("POST", "/api/v1/nytta"),
}


@pytest.fixture
def world(tmp_path):
    engine = new_database(tmp_path / "utskick.db", PASSWORD)
    settings = Settings(
        home=tmp_path,
        print_local_departments=[SOCIAL],
        print_vendors=[PrintVendor(name=VENDOR, drop=tmp_path / "drop")],
    )
    letters, batches = seed_batches(engine, settings)
    app = create_app(settings, engine)
    yield app, engine, letters, batches
    engine.dispose()


def logged_in(app, username="tryckrum"):
    client = TestClient(app)
    assert log_in(client, username, PASSWORD).status_code == 303
    assert SESSION_COOKIE in client.cookies
    return client


def snapshot(engine):
    """Every row of every table: what must not change when a request is refused."""
    with Session(engine) as session:
        return {
            table.name: sorted(map(repr, session.execute(select(table)).all()))
            for table in Base.metadata.sorted_tables
        }


def unsafe_routes(app):
    """(method, path) of every state-changing route and every mount, read from the app."""
    found = set()
    for route in iter_route_contexts(app.routes):
        methods = route.methods
        if methods is None:  # a mount (static files): try every unsafe method under it
            found |= {(method, f"{route.path}/x") for method in UNSAFE}
        else:
            found |= {(method, route.path) for method in methods if method in UNSAFE}
    return sorted(found)


def concrete(path, letters, batches):
    """The path with its parameters filled in with things that exist."""
    values = {"batch_id": batches[SOCIAL], "letter_id": letters["anna"]}
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m.group(1), "x"), path)


def test_the_app_has_the_state_changing_routes_this_test_expects(world):
    app, *_ = world
    assert set(unsafe_routes(app)) >= KNOWN_UNSAFE


def test_every_state_changing_route_refuses_the_cookie_without_the_token(world):
    app, engine, letters, batches = world
    client = logged_in(app)
    before = snapshot(engine)
    refused = []
    for method, path in unsafe_routes(app):
        url = concrete(path, letters, batches)
        for body in ({"json": {}}, {"data": {"action": "close"}},
                     {"data": {"action": "printed", "csrf_token": "fel-token"}}):  # fmt: skip
            answer = client.request(method, url, **body)
            assert answer.status_code == 403, (method, url, body, answer.status_code)
            assert REFUSAL in answer.json()["detail"], (method, url)
            refused.append((method, path))
    assert snapshot(engine) == before
    assert len(set(refused)) >= len(KNOWN_UNSAFE)
    # Still logged in: the refused logout ended nothing.
    assert client.get("/api/v1/print/batches").status_code == 200


def test_a_browser_is_shown_the_refusal_as_a_swedish_page(world):
    app, engine, _, batches = world
    client = logged_in(app)
    before = snapshot(engine)
    answer = client.post(f"/utskrift/{batches[SOCIAL]}", data={"action": "close"}, headers=HTML)
    assert answer.status_code == 403
    assert "text/html" in answer.headers["content-type"]
    assert "Ladda om sidan och försök igen" in answer.text
    assert snapshot(engine) == before


def test_with_the_token_the_cookie_works_for_the_form_and_the_json_api(world):
    app, engine, _, batches = world
    client = logged_in(app)
    token = page_token(client, "/utskrift")
    closed = client.post(f"/api/v1/print/batches/{batches[SOCIAL]}/close",
                         headers={"X-CSRF-Token": token})  # fmt: skip
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed"
    marked = client.post(f"/utskrift/{batches[SOCIAL]}",
                         data={"action": "printed", "csrf_token": token}, follow_redirects=False)  # fmt: skip
    assert marked.status_code == 303
    with Session(engine) as session:
        assert session.get(PrintBatch, batches[SOCIAL]).state == "printed"


def test_another_sessions_token_or_the_token_from_before_login_is_refused(world):
    app, engine, _, batches = world
    client = logged_in(app)
    other = logged_in(app, "social")
    # The token a browser's pages carried before it logged in.
    before_login = TestClient(app)
    early_token = page_token(before_login)
    assert log_in(before_login, "tryckrum", PASSWORD).status_code == 303
    before = snapshot(engine)
    attempts = ((client, page_token(other)), (client, early_token), (before_login, early_token))
    for browser, token in attempts:
        answer = browser.post(f"/api/v1/print/batches/{batches[SOCIAL]}/close",
                              headers={"X-CSRF-Token": token})  # fmt: skip
        assert answer.status_code == 403
    assert snapshot(engine) == before


def test_a_form_too_large_to_check_is_refused(world):
    app, engine, _, batches = world
    client = logged_in(app)
    before = snapshot(engine)
    answer = client.post(f"/utskrift/{batches[SOCIAL]}",
                         data={"action": "close", "fyllnad": "x" * (1024 * 1024 + 1)})  # fmt: skip
    assert answer.status_code == 413
    assert "X-CSRF-Token" in answer.json()["detail"]
    assert snapshot(engine) == before


def test_an_api_key_needs_no_token_and_the_cookie_never_logs_it_in(world):
    app, engine, _, batches = world
    client = logged_in(app)
    headers = new_api_key_headers(engine)
    # The letters API checks the request itself (422), the CSRF guard lets it through.
    letters = client.post("/api/v1/letters", json={}, headers=headers)
    assert letters.status_code == 422
    before = snapshot(engine)
    # The print API is for people: with an API key, the cookie beside it does not count.
    for key_headers in (headers, {"X-API-Key": headers["Authorization"].split()[1]}):
        answer = client.post(f"/api/v1/print/batches/{batches[SOCIAL]}/close", headers=key_headers)
        assert answer.status_code == 401
    assert snapshot(engine) == before


def test_basic_credentials_from_another_site_are_refused(world):
    app, engine, _, batches = world
    script = TestClient(app)
    close = f"/api/v1/print/batches/{batches[SOCIAL]}/close"
    before = snapshot(engine)
    for foreign in ({"Sec-Fetch-Site": "cross-site"}, {"Sec-Fetch-Site": "same-site"},
                    {"Origin": "https://angripare.example"}, {"Origin": "null"}):  # fmt: skip
        answer = script.post(close, auth=("tryckrum", PASSWORD), headers=foreign)
        assert answer.status_code == 403
        assert "annan webbplats" in answer.json()["detail"]
    assert snapshot(engine) == before
    same_site = script.post(close, auth=("tryckrum", PASSWORD),
                            headers={"Sec-Fetch-Site": "same-origin"})  # fmt: skip
    assert same_site.status_code == 200
    assert same_site.json()["state"] == "closed"


def test_a_form_that_cannot_be_read_is_refused_not_an_error(world):
    app, engine, _, batches = world
    client = logged_in(app)
    before = snapshot(engine)
    answer = client.post(
        f"/utskrift/{batches[SOCIAL]}",
        content=b"csrf_token=x",
        headers={"Content-Type": "multipart/form-data"},  # no boundary: cannot be read
    )
    assert answer.status_code == 403
    assert snapshot(engine) == before
