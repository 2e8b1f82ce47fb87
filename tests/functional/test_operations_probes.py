"""Probes of the operations features as an attacker or a careless operator would try them.

The request id and the access log take whatever a caller sends (headers, a path) and must
never let it reach the log as given: no identity number, no line of its own, no terminal
control characters. /metrics must not take a request a proxy passed on for one from this
machine. /health and /metrics must report a sender whose key file is damaged as unreadable
rather than fail as a whole.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from support.api import api_app, migrated_api_engine
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.entrypoints.app import create_app
from utskick.migrations import migrate
from utskick.mm.devca import write_pem_bundle
from utskick.observability.logs import production_handler
from utskick.senders.models import SenderOrganisation
from utskick.settings import Settings

LOOPBACK_PEER = ("127.0.0.1", 50123)
OUTSIDE_CLIENT = "203.0.113.9"
NEW_ID = re.compile(r"[0-9a-f]{32}")
# A certificate block whose base64 is fine but whose content is no certificate (a half-copied
# PEM, a file cut off by a full disk): the kind of damage an operator causes by hand.
DAMAGED_PEM = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    engine = migrated_api_engine(tmp_path_factory.mktemp("ops-probes") / "utskick.db")
    yield api_app(engine, tmp_path_factory.mktemp("home"))
    engine.dispose()


@pytest.fixture(scope="module")
def client(api):
    return TestClient(api, raise_server_exceptions=False)


def access_log_of(request, log_format):
    """Run `request()` and return what the production handler wrote for `utskick.access`."""
    stream = io.StringIO()
    handler = production_handler(stream, log_format)
    access = logging.getLogger("utskick.access")
    access.addHandler(handler)
    try:
        request()
    finally:
        access.removeHandler(handler)
    return stream.getvalue()


# --- the request id -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offered",
    ["19121212-1212", "191212121212", "1212121212"],
    ids=["twelve-digits-with-dash", "twelve-digits", "ten-digits"],
)
def test_an_identity_number_offered_as_request_id_is_replaced_and_never_logged(
    client, caplog, offered
):
    # A business system that uses the recipient's personnummer as its correlation id: the id
    # is written into every log line, job payload and outgoing call, so it must not be kept.
    caplog.set_level(logging.INFO, logger="utskick.access")
    answers = []

    written = access_log_of(
        lambda: answers.append(client.get("/health", headers={"X-Request-ID": offered})), "json"
    )

    assert NEW_ID.fullmatch(answers[0].headers["x-request-id"]), answers[0].headers
    assert json.loads(written)["request_id"] != offered
    assert offered not in written


# --- the access log -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/finns-inte%0D%0A2026-12-07 14:03:12.345 INFO    utskick.access [abc] GET /admin 200",
        "/finns-inte%1B]0;hackad%07%1B[2J",
        "/finns-inte%00efter-nul",
    ],
    ids=["crlf-and-a-forged-line", "terminal-escapes", "nul"],
)
def test_a_text_access_line_stays_one_line_of_printable_text_whatever_the_path(
    client, caplog, path
):
    # Text is the format for a person at a terminal (and for journald when an operator sets
    # UTSKICK_LOG_FORMAT=text): a path must not forge a line of its own or send escapes.
    caplog.set_level(logging.INFO, logger="utskick.access")

    written = access_log_of(lambda: client.get(path), "text")

    assert written.count("\n") == 1, written
    assert not [c for c in written.rstrip("\n") if ord(c) < 0x20 or ord(c) == 0x7F], repr(written)


def test_a_json_access_line_is_one_object_for_a_hostile_path(client, caplog):
    caplog.set_level(logging.INFO, logger="utskick.access")

    written = access_log_of(lambda: client.get('/a"b\\c%0D%0A%00%1B/121212-1212'), "json")

    [line] = written.splitlines()
    document = json.loads(line)
    assert document["status"] == 404
    assert "121212-1212" not in line


# --- who may read /metrics ------------------------------------------------------------------


@pytest.fixture(scope="module")
def metrics_home(tmp_path_factory):
    return tmp_path_factory.mktemp("metrics-probes")


@pytest.fixture(scope="module")
def metrics_engine(metrics_home):
    engine = migrated_api_engine(metrics_home / "utskick.db")
    yield engine
    engine.dispose()


def test_a_trusted_proxy_naming_an_outside_client_in_forwarded_gives_no_loopback_leave(
    metrics_engine, metrics_home
):
    # The proxy on this machine is trusted and says, in RFC 7239's header, that it passes on
    # a request from the Internet: the client is the Internet, not the proxy's loopback.
    settings = Settings(home=metrics_home, trusted_proxies=["127.0.0.1"])
    proxied = TestClient(create_app(settings, metrics_engine), client=LOOPBACK_PEER)

    answer = proxied.get("/metrics", headers={"Forwarded": f"for={OUTSIDE_CLIENT};proto=https"})

    assert answer.status_code == 403, answer.text[:200]


@pytest.mark.parametrize(
    "headers",
    [{"X-Real-IP": OUTSIDE_CLIENT}, {"Via": "1.1 proxy.kommun.test"}],
    ids=["x-real-ip", "via"],
)
def test_a_request_an_untrusted_local_proxy_passed_on_gets_no_loopback_leave(
    metrics_engine, metrics_home, headers
):
    # nginx's usual `proxy_set_header X-Real-IP $remote_addr;` (and any proxy adding Via, as
    # RFC 9110 asks) on the same machine: every outside request arrives from 127.0.0.1.
    local = TestClient(
        create_app(Settings(home=metrics_home), metrics_engine), client=LOOPBACK_PEER
    )

    answer = local.get("/metrics", headers=headers)

    assert answer.status_code == 403, answer.text[:200]


# --- a damaged key file on /health and /metrics ---------------------------------------------


@pytest.fixture
def damaged_sender_engine(empty_engine, authority, tmp_path):
    """Exempelkommun with a good key, Grannkommun with a damaged PEM file."""
    migrate.upgrade(empty_engine)
    good = tmp_path / "exempelkommun.pem"
    write_pem_bundle(good, authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))
    damaged = tmp_path / "grannkommun.pem"
    damaged.write_text(DAMAGED_PEM)
    now = dt.datetime.now(dt.UTC)
    with Session(empty_engine) as session, session.begin():
        for number, name, path in (
            (EXEMPELKOMMUN, "Exempelkommun", good),
            (GRANNKOMMUN, "Grannkommun", damaged),
        ):
            session.add(
                SenderOrganisation(
                    organisation_number=number,
                    name=name,
                    key_path=str(path),
                    intermediary=number == EXEMPELKOMMUN,
                    support_text="Frågor besvaras av kommunen.",
                    created_at=now,
                )
            )
    return empty_engine


@pytest.mark.storage
def test_a_damaged_key_file_shows_on_health_as_unreadable_without_a_500(
    damaged_sender_engine, tmp_path
):
    app = create_app(Settings(home=tmp_path / "home"), damaged_sender_engine)
    client = TestClient(app, raise_server_exceptions=False, client=LOOPBACK_PEER)

    answer = client.get("/health")

    assert answer.status_code == 200, answer.text[:300]
    statuses = {c["organisation_number"]: c["status"] for c in answer.json()["certificates"]}
    assert statuses[GRANNKOMMUN] == "unreadable"
    assert statuses[EXEMPELKOMMUN] == "ok"


@pytest.mark.storage
def test_a_damaged_key_file_shows_on_metrics_as_unreadable_and_the_rest_is_served(
    damaged_sender_engine, tmp_path
):
    app = create_app(Settings(home=tmp_path / "home"), damaged_sender_engine)
    client = TestClient(app, raise_server_exceptions=False, client=LOOPBACK_PEER)

    answer = client.get("/metrics")

    assert answer.status_code == 200, answer.text[:300]
    samples = {
        (sample.name, sample.labels.get("organisation")): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }
    assert samples[("utskick_certificate_unreadable", GRANNKOMMUN)] == 1
    assert ("utskick_certificate_days_left", EXEMPELKOMMUN) in samples
