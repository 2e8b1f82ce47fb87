"""Probes of the webhooks as a careless operator sets them up: credentials in the address.

A receiver that asks for HTTP basic authentication is often given as
`https://user:password@host/path`; the address is stored as given and httpx sends the
credentials. When such a webhook fails, what Utskick logs (and keeps as the job's last
error, logged again when the job runs out of attempts) must not carry the password.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from support.world import NOW
from utskick.jobs.models import Job
from utskick.jobs.queue import WEBHOOK, ClaimedJob
from utskick.letters.webhooks import webhook_job
from utskick.observability.logs import production_handler
from utskick.settings import Settings

WEBHOOK_PASSWORD = "mottagarens-hemliga-losenord"
SECRET = "whsec_dGhlLXNlY3JldC1vZi10aGlydHktdHdvLWJ5dGVzLSE="


class FailingReceiver:
    """A webhook endpoint on loopback that answers every POST with HTTP 500."""

    def __init__(self):
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver():
    running = FailingReceiver()
    yield running
    running.stop()


@pytest.mark.storage
@pytest.mark.parametrize("given_up", [False, True], ids=["retried", "given-up"])
def test_a_failing_webhook_with_credentials_in_its_address_never_logs_the_password(
    db_session, intake, a_letter, receiver, given_up
):
    service, system = intake
    system.webhook_url = f"http://utskick:{WEBHOOK_PASSWORD}@127.0.0.1:{receiver.port}/hooks"
    system.webhook_secret = SECRET
    letter, _ = service.accept(system, a_letter(), actor="api:Ärendesystemet")
    db_session.flush()
    job = db_session.scalars(
        select(Job).where(Job.letter_id == letter.id, Job.kind == WEBHOOK)
    ).one()
    settings = Settings(retry_base_seconds=2.0, retry_max_seconds=60.0)
    # Past the give-up time, the webhook is given up with a warning; before it, retried.
    moment = NOW + dt.timedelta(seconds=settings.webhook_give_up_seconds + 60 if given_up else 60)
    claimed = ClaimedJob(job.id, job.kind, job.letter_id, job.payload, 25, NOW)
    sessions = sessionmaker(bind=db_session.connection(), join_transaction_mode="create_savepoint")
    stream = io.StringIO()
    handler = production_handler(stream, "json")
    webhooks_logger = logging.getLogger("utskick.letters.webhooks")
    webhooks_logger.addHandler(handler)
    try:
        with httpx2.Client(timeout=5, trust_env=False) as client:
            outcome = webhook_job(
                claimed, sessions=sessions, client=client, settings=settings, clock=lambda: moment
            )
    finally:
        webhooks_logger.removeHandler(handler)

    if given_up:
        assert outcome is None
        assert "given up" in stream.getvalue()
    else:
        assert outcome is not None
        # The retry's reason becomes the job's last error, logged at ERROR at the limit.
        assert WEBHOOK_PASSWORD not in outcome.error
    assert WEBHOOK_PASSWORD not in stream.getvalue()
