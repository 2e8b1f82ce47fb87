"""Webhooks (signed, retried, given up), the organisations' keys, and the worker pool."""

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from support.world import (
    EXEMPELKOMMUN,
    KARIN,
)
from utskick.entrypoints.worker import WorkerPool, drain
from utskick.jobs.models import Job
from utskick.jobs.queue import WEBHOOK, ClaimedJob
from utskick.letters.inputs import LetterInput
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.service import LetterService
from utskick.letters.webhooks import webhook_job
from utskick.senders.keys import SenderKeyError, client_tls_context, signing_identity
from utskick.senders.models import SenderOrganisation, SendingSystem

SECRET = "hemlig-nyckel-for-test"


@pytest.fixture
def webhook_letter(world, clean_jobs):
    """A letter of a system with a webhook; returns (letter id, its RECEIVED event's webhook job)."""
    _, settings, engine, _ = world
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as session, session.begin():
        system = SendingSystem(
            id=str(uuid.uuid4()),
            name=f"Webhooksystem {uuid.uuid4().hex[:6]}",
            sender_numbers=[EXEMPELKOMMUN],
            departments=None,
            webhook_url="https://system.test/hooks/utskick",
            webhook_secret=SECRET,
            created_at=now,
        )
        session.add(system)
        session.flush()
        letter, _ = LetterService(session, settings).accept(
            system,
            LetterInput(
                sender=EXEMPELKOMMUN,
                recipient=KARIN,
                subject="Kallelse",
                body="Välkommen!",
                protection_class=2,
            ),
            actor="api:Webhooksystem",
        )
        letter_id = letter.id
    with Session(engine) as session:
        job = session.scalars(
            select(Job).where(Job.letter_id == letter_id, Job.kind == WEBHOOK)
        ).one()
        claimed = ClaimedJob(job.id, job.kind, job.letter_id, job.payload, 1, now)
    return letter_id, claimed


def run(world, job, handler, now=None):
    _, settings, engine, _ = world
    from utskick.db.engine import session_factory

    client = httpx2.Client(transport=httpx2.MockTransport(handler))
    return webhook_job(
        job,
        sessions=session_factory(engine),
        client=client,
        settings=settings.model_copy(update={"retry_base_seconds": 2.0, "retry_max_seconds": 60.0}),
        clock=lambda: now or dt.datetime.now(dt.UTC),
    )


def test_a_webhook_carries_the_event_signed_with_the_systems_secret(world, webhook_letter):
    letter_id, job = webhook_letter
    received = []

    def handler(request):
        received.append(request)
        return httpx2.Response(204)

    assert run(world, job, handler) is None

    [request] = received
    body = request.content
    assert request.url == "https://system.test/hooks/utskick"
    assert request.headers["X-Utskick-Event-Id"] == job.payload["event_id"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert request.headers["X-Utskick-Signature"] == expected
    document = json.loads(body)
    assert (document["letter_id"], document["state"], document["event_id"]) == (
        letter_id,
        "received",
        job.payload["event_id"],
    )


def test_a_failing_webhook_is_retried_with_backoff(world, webhook_letter):
    _, job = webhook_letter
    now = dt.datetime.now(dt.UTC)

    retry = run(world, job, lambda _request: httpx2.Response(503), now=now)

    assert retry is not None
    assert "503" in retry.error
    assert now + dt.timedelta(seconds=2) <= retry.at <= now + dt.timedelta(seconds=60)


def test_an_unreachable_webhook_is_retried(world, webhook_letter):
    _, job = webhook_letter

    def refuse(request):
        raise httpx2.ConnectError("connection refused", request=request)

    assert run(world, job, refuse) is not None


def test_a_webhook_failing_for_a_day_is_given_up(world, webhook_letter):
    _, job = webhook_letter

    assert (
        run(
            world,
            job,
            lambda _request: httpx2.Response(500),
            now=job.created_at + dt.timedelta(hours=25),
        )
        is None
    )


# --- keys ----------------------------------------------------------------------------------


def sender(context, **fields):
    values = {
        "organisation_number": EXEMPELKOMMUN,
        "name": "Exempelkommun",
        "key_path": str(context.pki.key_and_certificate(EXEMPELKOMMUN)),
    }
    values.update(fields)
    return SenderOrganisation(**values)


def test_a_sender_without_a_key_file_is_told_to_configure_one(world):
    context, _, _, _ = world
    with pytest.raises(SenderKeyError, match="har ingen nyckelfil"):
        signing_identity(sender(context, key_path=None))


def test_a_missing_key_file_is_named(world, tmp_path):
    context, _, _, _ = world
    missing = tmp_path / "saknas.p12"
    with pytest.raises(SenderKeyError, match=f"nyckelfilen {missing} .* finns inte"):
        signing_identity(sender(context, key_path=str(missing)))


def test_a_passphrase_variable_that_is_not_set_is_named(world, monkeypatch):
    context, _, _, _ = world
    monkeypatch.delenv("UTSKICK_TEST_PASSPHRASE", raising=False)
    with pytest.raises(SenderKeyError, match="UTSKICK_TEST_PASSPHRASE"):
        signing_identity(
            sender(
                context,
                key_path=str(context.pki.pkcs12(EXEMPELKOMMUN)),
                passphrase_env="UTSKICK_TEST_PASSPHRASE",
            )
        )


def test_the_key_is_loaded_once_and_signs_as_its_organisation(world):
    context, _, _, _ = world
    first = signing_identity(sender(context))
    again = signing_identity(sender(context))

    assert first is again
    assert first.organisation_number == EXEMPELKOMMUN


def test_an_unreadable_trust_file_is_named(world, tmp_path):
    context, _, _, _ = world
    bad = tmp_path / "ca.pem"
    bad.write_text("inget certifikat")
    with pytest.raises(SenderKeyError, match="UTSKICK_TLS_CA_FILE"):
        client_tls_context(sender(context), bad)


# --- the worker pool and drain ------------------------------------------------------------


def _accept(world, count):
    _, settings, engine, system_id = world
    with Session(engine) as session, session.begin():
        system = session.get(SendingSystem, system_id)
        service = LetterService(session, settings)
        return [
            service.accept(
                system,
                LetterInput(
                    sender=EXEMPELKOMMUN,
                    recipient=KARIN,
                    subject=f"Brev {i}",
                    body="Hej!",
                    protection_class=2,
                    idempotency_key=str(uuid.uuid4()),
                ),
                actor="cli",
            )[0].id
            for i in range(count)
        ]


def _states(world, ids):
    _, _, engine, _ = world
    with Session(engine) as session:
        return {
            letter.state for letter in session.scalars(select(Letter).where(Letter.id.in_(ids)))
        }


def test_drain_delivers_through_the_real_operator(world, clean_jobs):
    _, settings, engine, _ = world
    ids = _accept(world, 3)

    drain(settings, engine)

    assert _states(world, ids) == {"delivered"}
    with Session(engine) as session:
        actors = set(
            session.scalars(
                select(LetterEvent.actor).where(
                    LetterEvent.letter_id.in_(ids), LetterEvent.state == "delivered"
                )
            )
        )
    assert all(actor.startswith("worker:drain:") for actor in actors)


def test_the_worker_pool_runs_jobs_on_threads_until_stopped(world, clean_jobs):
    _, settings, engine, _ = world
    pool = WorkerPool(settings.model_copy(update={"worker_poll_seconds": 0.1}), engine, threads=2)
    pool.start()
    try:
        ids = _accept(world, 4)
        deadline = time.monotonic() + 30
        while _states(world, ids) != {"delivered"} and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        pool.stop(timeout=30)

    assert _states(world, ids) == {"delivered"}
    assert pool._threads == []
