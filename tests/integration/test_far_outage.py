"""FaR unreachable is visible: the waiting letter is told why, once, and /health says degraded.

The connector's FaR address points at a closed port (a real refused connection) and then at
a port that accepts but never answers (a real timeout); the worker retries the letter's
classification several times. The letter gets one "väntar på FaR" event per reason, seen in
`utskick status` and the API, and `/health` reports FaR degraded until FaR answers again.
Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from support.connector_world import (
    connector_settings,
    prepare_connector,
)
from support.postgres import postgres_schema_url
from support.world import (
    EXEMPELKOMMUN,
    TOLVAN,
    Clock,
    start_reference,
)
from utskick.db.engine import create_database_engine
from utskick.entrypoints.app import create_app
from utskick.entrypoints.cli import app as cli
from utskick.entrypoints.worker import Worker
from utskick.jobs.dependencies import DEGRADED, FAR, OK, dependency_state
from utskick.jobs.models import Job
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.reference.runner import free_loopback_ports
from utskick.senders import systems
from utskick.senders.models import SendingSystem
from utskick.settings import Settings
from utskick.switch import precheck

pytestmark = pytest.mark.storage

WAITING = "far_unavailable"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    context, infrastructure = start_reference(
        tmp_path_factory.mktemp("reference"), run_smtp_sink=False
    )
    yield context
    infrastructure.stop()


@contextmanager
def _database(kind: str, home) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{home / 'utskick.db'}"
        return
    with postgres_schema_url("utskick_far") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def connector(request, reference, tmp_path):
    """(settings with FaR at a closed port, engine, sending system id, API key)."""
    home = tmp_path / "var"
    [closed] = free_loopback_ports(1)
    with _database(request.param, home) as url:
        settings = connector_settings(
            home,
            reference,
            database_url=url,
            far_url=f"https://127.0.0.1:{closed}/far",
            far_timeout_seconds=0.5,
            retry_base_seconds=5.0,
            retry_max_seconds=10.0,
        )
        engine, system_id = prepare_connector(
            settings, reference, create_database_engine(settings.resolved_database_url())
        )
        with Session(engine) as session, session.begin():
            system = session.get(SendingSystem, system_id)
            key = systems.issue_api_key(session, system, now=dt.datetime.now(dt.UTC)).clear_key
        yield settings, engine, system_id, key
        engine.dispose()
        precheck._REGISTERS.clear()  # the process-wide FaR clients hold this engine


def accept_letter(settings: Settings, engine, system_id: str) -> str:
    with Session(engine) as session, session.begin():
        system = session.get(SendingSystem, system_id)
        letter, _ = LetterService(session, settings).accept(
            system,
            LetterInput(
                sender=EXEMPELKOMMUN,
                recipient=TOLVAN,
                subject="Kallelse till möte",
                body="Välkommen på möte.",
                protection_class=2,
                idempotency_key=str(uuid.uuid4()),
            ),
            actor="api:test",
        )
        return letter.id


def retry_rounds(settings: Settings, engine, clock: Clock, rounds: int) -> None:
    """Run the worker `rounds` times, letting the clock pass each retry's delay."""
    worker = Worker(settings, engine, clock=clock, worker_id=f"test-{uuid.uuid4().hex[:6]}")
    try:
        for _ in range(rounds):
            while worker.run_once():
                pass
            clock.now += dt.timedelta(seconds=settings.retry_max_seconds + 1)
    finally:
        worker.close()


def waiting_events(engine, letter_id: str) -> list[LetterEvent]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(LetterEvent)
                .where(LetterEvent.letter_id == letter_id, LetterEvent.reason == WAITING)
                .order_by(LetterEvent.id)
            )
        )


def classify_job(engine, letter_id: str) -> Job:
    with Session(engine) as session:
        return session.scalars(
            select(Job).where(Job.letter_id == letter_id, Job.kind == "classify")
        ).one()


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port that takes connections and never says a word (FaR hanging)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_letter_waiting_for_far_is_told_why_once_through_many_retries(connector):
    settings, engine, system_id, key = connector
    letter_id = accept_letter(settings, engine, system_id)
    clock = Clock()

    retry_rounds(settings, engine, clock, rounds=4)

    assert classify_job(engine, letter_id).attempts == 4
    [event] = waiting_events(engine, letter_id)
    assert event.state == "received"
    assert event.detail == "väntar på FaR: anslutningen nekades"
    assert event.data["far_reason"] == "anslutningen nekades"
    with Session(engine) as session:
        letter = session.get(Letter, letter_id)
        assert (letter.state, letter.reason, letter.channel) == ("received", WAITING, None)

    status = CliRunner().invoke(
        cli,
        ["status", letter_id, "--home", str(settings.home)],
        env={
            "UTSKICK_DATABASE_URL": settings.resolved_database_url(),
            "UTSKICK_EMBEDDED_REFERENCE": "false",
            "COLUMNS": "300",
        },
    )
    assert status.exit_code == 0, status.output
    assert status.output.count("väntar på FaR: anslutningen nekades") == 1

    with TestClient(create_app(settings, engine)) as client:
        answer = client.get(
            f"/api/v1/letters/{letter_id}/events", headers={"Authorization": f"Bearer {key}"}
        )
    assert answer.status_code == 200, answer.text
    told = [e for e in answer.json() if e["reason"] == WAITING]
    assert [(e["state"], e["detail"]) for e in told] == [
        ("received", "väntar på FaR: anslutningen nekades")
    ]


def test_a_new_reason_is_a_new_event_and_far_back_ends_the_wait(connector, reference):
    settings, engine, system_id, _ = connector
    letter_id = accept_letter(settings, engine, system_id)
    clock = Clock()
    retry_rounds(settings, engine, clock, rounds=2)

    with silent_listener() as port:
        hanging = settings.model_copy(update={"far_url": f"https://127.0.0.1:{port}/far"})
        retry_rounds(hanging, engine, clock, rounds=3)

    assert [e.detail for e in waiting_events(engine, letter_id)] == [
        "väntar på FaR: anslutningen nekades",
        "väntar på FaR: tidsgräns (0.5 s)",
    ]
    assert dependency_state(engine, FAR).reason == "tidsgräns (0.5 s)"

    back = settings.model_copy(update={"far_url": reference.endpoints.far_url})
    retry_rounds(back, engine, clock, rounds=2)

    with Session(engine) as session:
        letter = session.get(Letter, letter_id)
        assert (letter.state, letter.reason) == ("delivered", "reachable")
    assert len(waiting_events(engine, letter_id)) == 2
    assert dependency_state(engine, FAR).status == OK


def test_health_reports_far_degraded_with_the_reason_and_ok_once_far_answers(connector, reference):
    settings, engine, system_id, _ = connector
    client = TestClient(create_app(settings, engine))
    assert client.get("/health").json()["far"] == {"status": "unknown"}

    accept_letter(settings, engine, system_id)
    clock = Clock()
    retry_rounds(settings, engine, clock, rounds=3)

    answer = client.get("/health")
    assert answer.status_code == 200
    health = answer.json()
    assert health["status"] == DEGRADED
    assert health["database"]["ok"] is True
    far = health["far"]
    assert (far["status"], far["reason"]) == (DEGRADED, "anslutningen nekades")
    since = dt.datetime.fromisoformat(far["since"])
    assert dt.timedelta(0) <= dt.datetime.now(dt.UTC) - since < dt.timedelta(minutes=5)

    retry_rounds(
        settings.model_copy(update={"far_url": reference.endpoints.far_url}),
        engine,
        clock,
        rounds=1,
    )

    health = client.get("/health").json()
    assert health["status"] == "ok"
    assert health["far"]["status"] == OK
    assert "reason" not in health["far"]


def test_a_far_without_an_address_is_a_wait_with_that_reason_not_a_crash(connector):
    settings, engine, system_id, _ = connector
    letter_id = accept_letter(settings, engine, system_id)
    unset = settings.model_copy(update={"far_url": None})

    retry_rounds(unset, engine, Clock(), rounds=3)

    assert classify_job(engine, letter_id).attempts == 3
    assert [e.detail for e in waiting_events(engine, letter_id)] == [
        "väntar på FaR: FaR:s adress är inte inställd (UTSKICK_FAR_URL)"
    ]
    state = dependency_state(engine, FAR)
    assert (state.status, state.reason) == (
        DEGRADED,
        "FaR:s adress är inte inställd (UTSKICK_FAR_URL)",
    )
