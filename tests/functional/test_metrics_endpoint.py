"""GET /metrics on the web app and on the worker's own port, on SQLite and PostgreSQL.

The numbers are what the database holds (letters by state and channel, waiting and failed
jobs, how long the oldest due job has waited, print batches, certificates' days left), the
text parses as Prometheus exposition, and only a listed network or the token gets in: behind
a trusted proxy the client it names is judged, never the proxy.
"""

import datetime as dt
import uuid

import httpx2
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy.orm import Session

from functional.browser.statistics_letters import add_letter
from support.postgres import postgres_schema_url
from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.db.engine import create_database_engine
from utskick.entrypoints.app import create_app
from utskick.entrypoints.metrics import (
    DatabaseCollector,
    MetricsServerError,
    include_metrics,
    start_worker_metrics_server,
)
from utskick.jobs.models import Job
from utskick.migrations import migrate
from utskick.mm.devca import write_pem_bundle
from utskick.observability.metrics import observe_job, render
from utskick.printing.models import PrintBatch
from utskick.reference.runner import free_loopback_ports
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.settings import Settings

TOKEN = "skrapnyckel-med-minst-32-tecken-0123456789"
LOOPBACK = ("127.0.0.1", 41000)
OUTSIDE = ("192.0.2.10", 41000)
CERTIFICATE_DAYS = 20


def seed(engine, authority, home):
    """3 delivered digital letters, 2 batched paper ones, 1 received; jobs: 2 failed deliveries,
    1 delivery due 10 minutes ago, 1 classification whose lease ran out 5 minutes after it fell
    due (due 5 minutes ago), 1 held by a worker, 1 webhook due in an hour; print batches: 1 open,
    2 handed over; Exempelkommun (the intermediary) with a certificate good for 20 more days,
    Grannkommun without a key. Returns Exempelkommun's certificate."""
    now = dt.datetime.now(dt.UTC)
    issued = authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun", days=CERTIFICATE_DAYS)
    key_file = home / "exempelkommun.pem"
    write_pem_bundle(key_file, issued)
    with Session(engine) as session:
        session.add_all([
            SenderOrganisation(organisation_number=EXEMPELKOMMUN, name="Exempelkommun",
                               key_path=str(key_file), intermediary=True, created_at=now),
            SenderOrganisation(organisation_number=GRANNKOMMUN, name="Grannkommun", created_at=now),
        ])  # fmt: skip
        system = SendingSystem(id=str(uuid.uuid4()), name="metrics", created_at=now,
                               sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN])  # fmt: skip
        session.add(system)
        session.flush()
        for state in ["delivered"] * 3 + ["batched"] * 2 + ["received"]:
            letter = add_letter(session, system, created_at=now, state=state)
            letter.channel = "paper" if state == "batched" else letter.channel
        minutes = lambda n: now + dt.timedelta(minutes=n)  # noqa: E731
        session.add_all([
            job("deliver", minutes(-2880), failed_at=minutes(-60), attempts=25),
            job("deliver", minutes(-1440), failed_at=minutes(-30), attempts=25),
            job("deliver", minutes(-10)),
            job("classify", minutes(-5), lease_owner="död-worker", lease_expires=minutes(-1)),
            job("classify", minutes(-20), lease_owner="worker-1", lease_expires=minutes(4)),
            job("webhook", minutes(60)),
        ])  # fmt: skip
        for state in ("open", "handed_over", "handed_over"):
            session.add(PrintBatch(id=str(uuid.uuid4()), route="tryckeriet", local=False,
                                   department="", state=state, created_at=now))  # fmt: skip
        session.commit()
    return issued.certificate


def job(kind, run_at, **fields):
    return Job(kind=kind, run_at=run_at, attempts=fields.pop("attempts", 1), created_at=run_at,
               **fields)  # fmt: skip


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory, authority):
    """(engine, home, Exempelkommun's certificate) of a database seeded by `seed`."""
    home = tmp_path_factory.mktemp("metrics")
    if request.param == "sqlite":
        engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
        migrate.upgrade(engine)
        yield engine, home, seed(engine, authority, home)
        engine.dispose()
        return
    with postgres_schema_url("metrics") as url:
        engine = create_database_engine(url)
        migrate.upgrade(engine)
        yield engine, home, seed(engine, authority, home)
        engine.dispose()


def web_app(world, **settings):
    engine, home, _ = world
    configured = Settings(home=home, **settings)
    app = create_app(configured, engine)
    if "/metrics" not in {getattr(route, "path", None) for route in app.routes}:
        include_metrics(app, engine, configured)
    return app


@pytest.fixture(scope="module")
def default_app(world):
    return web_app(world)


@pytest.fixture(scope="module")
def token_app(world):
    return web_app(world, metrics_token=SecretStr(TOKEN))


def scrape(app, client=LOOPBACK, **headers):
    return TestClient(app, client=client).get("/metrics", headers=headers)


def families(text):
    return {family.name: family for family in text_string_to_metric_families(text)}


# Each family's labels in the order the tests name them (the text sorts them by name).
LABELS = {
    "utskick_letters": ("state", "channel"),
    "utskick_certificate_days_left": ("organisation", "role"),
    "utskick_certificate_unreadable": ("organisation", "role"),
}


def samples(text, name):
    """{tuple of label values: value} of one family."""
    family = families(text)[name]
    order = LABELS.get(name)
    return {
        tuple(sample.labels[label] for label in order)
        if order
        else tuple(sample.labels.values()): sample.value
        for sample in family.samples
    }


class TestWhatTheDatabaseHolds:
    def test_letters_by_state_and_channel(self, default_app):
        answer = scrape(default_app)

        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert 'utskick_letters{channel="digital",state="delivered"} 3.0' in answer.text
        assert samples(answer.text, "utskick_letters") == {
            ("delivered", "digital"): 3,
            ("batched", "paper"): 2,
            ("received", "undecided"): 1,
        }

    def test_failed_jobs_are_counted_apart_from_the_waiting_ones(self, default_app):
        text = scrape(default_app).text

        assert 'utskick_jobs_failed{kind="deliver"} 2.0' in text
        queued = samples(text, "utskick_jobs_queued")
        assert (queued[("deliver",)], queued[("classify",)], queued[("webhook",)]) == (1, 2, 1)
        # Every kind is there, with 0 when none waits, so that an alert sees a number.
        assert queued[("records_daily",)] == 0
        assert samples(text, "utskick_jobs_failed")[("classify",)] == 0

    def test_the_oldest_due_job_that_no_worker_holds_sets_each_kinds_age(self, default_app):
        ages = samples(scrape(default_app).text, "utskick_job_oldest_due_age_seconds")

        # Deliver: 10 minutes (the failed ones, days old, do not count).
        assert 600 <= ages[("deliver",)] < 700
        # Classify: the one whose lease ran out, 5 minutes; the held one, 20 minutes, not.
        assert 300 <= ages[("classify",)] < 400
        assert ages[("webhook",)] == 0  # not due for an hour

    def test_print_batches_by_state(self, default_app):
        assert samples(scrape(default_app).text, "utskick_print_batches") == {
            ("open",): 1,
            ("handed_over",): 2,
        }

    def test_days_left_on_the_certificates_and_which_cannot_be_read(self, default_app, world):
        certificate = world[2]
        text = scrape(default_app).text

        [(labels, days)] = samples(text, "utskick_certificate_days_left").items()
        expected = (certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)) / dt.timedelta(
            days=1
        )
        assert labels == (EXEMPELKOMMUN, "intermediary")
        assert days == pytest.approx(expected, abs=0.01)
        assert CERTIFICATE_DAYS - 1 < days <= CERTIFICATE_DAYS
        assert samples(text, "utskick_certificate_unreadable") == {(GRANNKOMMUN, "sender"): 1}

    def test_the_database_is_up_and_the_process_metrics_are_there_too(self, default_app):
        observe_job("deliver", 0.4, "done")
        text = scrape(default_app).text

        assert "utskick_database_up 1.0" in text
        histogram = families(text)["utskick_job_duration_seconds"]
        count = [
            s
            for s in histogram.samples
            if s.name.endswith("_count") and s.labels == {"kind": "deliver", "outcome": "done"}
        ]
        assert count
        assert count[0].value >= 1
        assert "utskick_build_info" in families(text)

    def test_the_route_is_not_in_the_api_description(self, default_app):
        paths = TestClient(default_app).get("/openapi.json").json()["paths"]
        assert "/metrics" not in paths


class TestWhoMayRead:
    def test_loopback_reads_without_a_token(self, default_app):
        assert scrape(default_app, client=("::1", 41000)).status_code == 200

    def test_another_network_is_refused_when_no_token_is_set(self, default_app):
        answer = scrape(default_app, client=OUTSIDE)

        assert answer.status_code == 403
        assert "192.0.2.10" in answer.json()["detail"]
        assert "UTSKICK_METRICS_NETWORKS" in answer.json()["detail"]
        assert "utskick_letters" not in answer.text

    def test_another_network_reads_with_the_token(self, token_app):
        answer = scrape(token_app, client=OUTSIDE, Authorization=f"Bearer {TOKEN}")

        assert answer.status_code == 200
        assert "utskick_letters" in families(answer.text)

    def test_without_the_token_the_answer_asks_for_it(self, token_app):
        answer = scrape(token_app, client=OUTSIDE)

        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in answer.json()["detail"]

    @pytest.mark.parametrize(
        "authorization",
        [f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", "Bearer ", TOKEN],
    )
    def test_a_wrong_token_is_refused(self, token_app, authorization):
        answer = scrape(token_app, client=OUTSIDE, Authorization=authorization)

        assert answer.status_code == 401
        assert "utskick_letters" not in answer.text

    def test_a_network_listed_in_the_settings_reads_without_a_token(self, world):
        app = web_app(world, metrics_networks=["192.0.2.0/24"], metrics_token=SecretStr(TOKEN))

        assert scrape(app, client=OUTSIDE).status_code == 200
        assert scrape(app, client=LOOPBACK).status_code == 401  # loopback is no longer listed

    def test_behind_a_trusted_proxy_the_client_it_names_is_judged(self, world):
        app = web_app(world, trusted_proxies=["127.0.0.1"])

        outside = scrape(app, client=LOOPBACK, **{"X-Forwarded-For": "198.51.100.7"})
        inside = scrape(app, client=LOOPBACK, **{"X-Forwarded-For": "127.0.0.1"})

        assert outside.status_code == 403
        assert "198.51.100.7" in outside.json()["detail"]
        assert inside.status_code == 200

    def test_a_request_an_untrusted_proxy_passed_on_gets_no_networks_leave(self, default_app):
        # A proxy on this machine that is not in UTSKICK_TRUSTED_PROXIES: the peer is loopback,
        # but the request came from wherever the proxy got it.
        answer = scrape(default_app, client=LOOPBACK, **{"X-Forwarded-For": "127.0.0.1"})

        assert answer.status_code == 403


class TestWorkerPort:
    def test_the_worker_serves_the_same_metrics_and_stops(self, world):
        engine, home, _ = world
        [port] = free_loopback_ports(1)
        stop = start_worker_metrics_server(Settings(home=home, worker_metrics_port=port), engine)
        try:
            answer = httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
            elsewhere = httpx2.get(f"http://127.0.0.1:{port}/", timeout=10)
        finally:
            stop()

        assert answer.status_code == 200
        assert answer.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert 'utskick_jobs_failed{kind="deliver"} 2.0' in answer.text
        assert samples(answer.text, "utskick_print_batches")[("handed_over",)] == 2
        assert elsewhere.status_code == 404
        with pytest.raises(httpx2.ConnectError):
            httpx2.get(f"http://127.0.0.1:{port}/metrics", timeout=2)

    def test_the_worker_asks_for_the_token_as_the_app_does(self, world):
        engine, home, _ = world
        [port] = free_loopback_ports(1)
        settings = Settings(home=home, worker_metrics_port=port, metrics_networks=[],
                            metrics_token=SecretStr(TOKEN))  # fmt: skip
        stop = start_worker_metrics_server(settings, engine)
        url = f"http://127.0.0.1:{port}/metrics"
        try:
            without = httpx2.get(url, timeout=10)
            wrong = httpx2.get(url, headers={"Authorization": "Bearer fel"}, timeout=10)
            right = httpx2.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        finally:
            stop()

        assert (without.status_code, wrong.status_code, right.status_code) == (401, 401, 200)
        assert without.headers["www-authenticate"].startswith("Bearer")
        assert "UTSKICK_METRICS_TOKEN" in without.json()["detail"]
        assert "utskick_letters" in families(right.text)

    def test_a_port_already_taken_is_said_in_swedish(self, world):
        engine, home, _ = world
        [port] = free_loopback_ports(1)
        settings = Settings(home=home, worker_metrics_port=port)
        stop = start_worker_metrics_server(settings, engine)
        try:
            with pytest.raises(MetricsServerError, match=f"kan inte lyssna på 127.0.0.1:{port}"):
                start_worker_metrics_server(settings, engine)
        finally:
            stop()

    def test_without_a_port_nothing_listens(self, world):
        engine, home, _ = world
        stop = start_worker_metrics_server(Settings(home=home), engine)
        stop()  # a no-op, and safe to call


def test_a_database_that_cannot_be_read_is_reported_and_the_rest_still_served(empty_engine):
    # Not migrated: no tables to count.
    body, _ = render([DatabaseCollector(empty_engine)])

    text = body.decode()
    assert "utskick_database_up 0.0" in text
    assert "utskick_letters" not in families(text)
    assert "utskick_job_duration_seconds" in families(text)
