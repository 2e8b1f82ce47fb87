"""Every request gets a request id, answers with it, and writes one access-log line.

A caller's (or a proxy's) `X-Request-ID` is kept when it is a plain id and replaced when it is
not; the line names method, path (never the query string), status, duration, client and
size; a log line written while the request runs, and an unexpected error's, carry the id.
"""

import io
import json
import logging
import re

import pytest
from fastapi.testclient import TestClient

from support.api import api_app, migrated_api_engine
from utskick.entrypoints.app import create_app
from utskick.observability.context import current_request_id
from utskick.observability.logs import production_handler
from utskick.settings import Settings
from utskick.web.request_log import RequestLog, include_request_log

NEW_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    engine = migrated_api_engine(tmp_path_factory.mktemp("request-log") / "utskick.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(engine, tmp_path_factory):
    app = api_app(engine, tmp_path_factory.mktemp("home"))
    include_request_log(app)  # the app may have it already: a second call adds nothing

    @app.get("/test/request-id")
    def request_id_inside() -> dict[str, str | None]:
        logging.getLogger("utskick.test").info("inside the request")
        return {"request_id": current_request_id()}

    @app.get("/test/fails")
    def fails() -> None:
        raise RuntimeError("broken on purpose")

    return app


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture
def access_lines(caplog):
    caplog.set_level(logging.INFO, logger="utskick.access")
    return lambda: [r for r in caplog.records if r.name == "utskick.access"]


def test_the_middleware_is_added_once(app):
    include_request_log(app)
    assert [m.cls for m in app.user_middleware].count(RequestLog) == 1


def test_an_answer_carries_a_new_request_id(client):
    answer = client.get("/health")
    assert NEW_ID.fullmatch(answer.headers["x-request-id"])
    assert client.get("/health").headers["x-request-id"] != answer.headers["x-request-id"]


def test_a_valid_incoming_request_id_is_kept_and_in_force_inside(client):
    answer = client.get("/test/request-id", headers={"X-Request-ID": "kund-42.a_b"})
    assert answer.headers["x-request-id"] == "kund-42.a_b"
    assert answer.json() == {"request_id": "kund-42.a_b"}


@pytest.mark.parametrize(
    "offered", ["två ord", "x" * 65, 'a"}{"level":"ERROR', "19121212-1212 ", "a;b"]
)
def test_an_invalid_incoming_request_id_is_replaced(client, offered):
    answer = client.get("/test/request-id", headers={"X-Request-ID": offered.encode()})
    assert NEW_ID.fullmatch(answer.headers["x-request-id"])
    assert answer.json() == {"request_id": answer.headers["x-request-id"]}


@pytest.mark.parametrize("offered", ["19121212-1212", "191212121212", "1212121212", "k_1212121212"])
def test_an_identity_number_offered_as_request_id_is_replaced_inside_too(client, offered):
    # What runs inside the request (log lines, queued jobs, outgoing calls) has the new id.
    answer = client.get("/test/request-id", headers={"X-Request-ID": offered})
    assert NEW_ID.fullmatch(answer.headers["x-request-id"])
    assert answer.json() == {"request_id": answer.headers["x-request-id"]}


def test_one_access_line_per_request_without_the_query_string(client, access_lines):
    answer = client.get("/health?personnummer=19121212-1212&q=hemligt")
    [line] = access_lines()
    assert (line.method, line.path, line.status) == ("GET", "/health", 200)
    assert line.duration_ms >= 0
    assert line.bytes_sent == len(answer.content)
    assert line.client == "testclient"
    message = line.getMessage()
    assert message.startswith("GET /health 200 ")
    assert "personnummer" not in message
    assert "hemligt" not in message


def test_the_access_line_gives_the_status_of_a_refusal(client, access_lines):
    client.get("/api/v1/letters")
    client.get("/finns-inte")
    assert [line.status for line in access_lines()] == [401, 404]


def test_the_access_line_in_json_has_every_field_and_the_request_id(client, caplog):
    caplog.set_level(logging.INFO, logger="utskick.access")
    stream = io.StringIO()
    handler = production_handler(stream, "json")
    logging.getLogger("utskick.access").addHandler(handler)
    try:
        answer = client.get("/health", headers={"X-Request-ID": "spår-1".encode()})
    finally:
        logging.getLogger("utskick.access").removeHandler(handler)
    written = json.loads(stream.getvalue())
    assert written["request_id"] == answer.headers["x-request-id"] != "spår-1"
    assert written["logger"] == "utskick.access"
    assert {"method", "path", "status", "duration_ms", "client", "bytes_sent"} <= set(written)
    assert (written["path"], written["status"]) == ("/health", 200)


def test_an_unexpected_error_is_logged_with_the_request_id_and_a_500_line(client, caplog):
    caplog.set_level(logging.INFO)
    answer = client.get("/test/fails", headers={"X-Request-ID": "fel-1"})
    assert answer.status_code == 500
    [error] = [r for r in caplog.records if r.name == "utskick.web.protection"]
    assert error.request_id == "fel-1"
    [access] = [r for r in caplog.records if r.name == "utskick.access"]
    assert (access.status, access.path) == (500, "/test/fails")


def test_the_access_line_writes_control_characters_in_the_path_out(client, access_lines):
    # Whatever handler writes the record (not only Utskick's own), it is one printable line.
    client.get("/finns-inte%0D%0A2026-12-07 INFO forged%1B[2J%00")
    [line] = access_lines()
    assert line.path == "/finns-inte\\r\\n2026-12-07 INFO forged\\x1b[2J\\x00"
    assert line.getMessage().startswith(f"GET {line.path} 404 ")
    assert all(character.isprintable() for character in line.getMessage())


@pytest.mark.parametrize(
    ("headers", "client_address"),
    [
        ({"Forwarded": 'for="[2001:db8::17]:4711";proto=https'}, "2001:db8::17"),
        ({"X-Forwarded-For": "203.0.113.9"}, "203.0.113.9"),
        ({"X-Real-IP": "203.0.113.9"}, "unknown"),
        ({}, "127.0.0.1"),
    ],
)
def test_behind_a_trusted_proxy_the_access_line_names_the_client_it_vouches_for(
    engine, tmp_path, access_lines, headers, client_address
):
    settings = Settings(home=tmp_path, trusted_proxies=["127.0.0.1"])
    proxied = TestClient(create_app(settings, engine), client=("127.0.0.1", 50123))
    proxied.get("/health", headers=headers)
    [line] = access_lines()
    assert line.client == client_address
