"""Webhooks to the Standard Webhooks spec, checked by a receiver that uses the standard's own
library (`standardwebhooks.Webhook.verify`) behind a real HTTP server on loopback."""

import base64
import datetime as dt
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx2
import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from support.world import NOW
from utskick.jobs.models import Job
from utskick.jobs.queue import WEBHOOK, ClaimedJob
from utskick.letters.models import LetterEvent
from utskick.letters.webhooks import (
    SigningSecrets,
    WebhookSecretError,
    event_body,
    event_document,
    signing_key,
    webhook_headers,
    webhook_job,
)
from utskick.settings import Settings

OLD_SECRET = "whsec_" + base64.b64encode(b"the-old-secret-of-thirty-two-by!").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"the-new-secret-of-thirty-two-by!").decode()
PLAIN_SECRET = "hemlig-nyckel-fran-en-aldre-installation"  # as `token_urlsafe` wrote them
TOLERANCE = dt.timedelta(minutes=5)  # the library's


def _now():
    return dt.datetime.now(dt.UTC)


# --- what a secret stands for, and what the headers say --------------------------------------


class TestSigningKey:
    def test_a_standard_secret_is_the_bytes_its_base64_encodes(self):
        assert signing_key(OLD_SECRET) == b"the-old-secret-of-thirty-two-by!"

    def test_a_plain_secret_of_an_older_installation_is_its_utf8_bytes(self):
        assert signing_key("nyckel-åäö") == "nyckel-åäö".encode()

    def test_a_standard_secret_that_is_not_base64_is_refused_with_what_to_do(self):
        with pytest.raises(WebhookSecretError, match=r"inte giltig base64.*webhook-secret"):
            signing_key("whsec_inte*base64!")

    def test_a_secret_without_bytes_is_refused(self):
        with pytest.raises(WebhookSecretError, match="tom"):
            signing_key("whsec_")


class TestHeaders:
    def test_the_signature_is_the_hmac_of_id_timestamp_and_body_as_the_spec_writes_it(self):
        # Computed here from the spec's text, not by the library our signer uses.
        body = b'{"type":"letter.delivered"}'
        now = dt.datetime(2026, 12, 7, 10, 0, 0, 900_000, tzinfo=dt.UTC)

        headers = webhook_headers("ev-1", body, SigningSecrets(OLD_SECRET), now)

        signed = b"ev-1.1796637600." + body
        digest = hmac.new(b"the-old-secret-of-thirty-two-by!", signed, hashlib.sha256).digest()
        assert headers["webhook-signature"] == "v1," + base64.b64encode(digest).decode()
        assert headers["webhook-timestamp"] == "1796637600"  # whole seconds, rounded down
        assert headers["webhook-id"] == "ev-1"
        assert headers["Content-Type"] == "application/json"

    def test_the_previous_secret_signs_beside_the_current_until_its_time_and_not_after(self):
        until = dt.datetime(2026, 12, 8, tzinfo=dt.UTC)
        secrets = SigningSecrets(NEW_SECRET, OLD_SECRET, until)

        during = webhook_headers("ev", b"{}", secrets, until - dt.timedelta(seconds=1))
        after = webhook_headers("ev", b"{}", secrets, until)

        def signature(secret, moment):
            return Webhook(secret).sign("ev", moment, b"{}")

        second_before = until - dt.timedelta(seconds=1)
        assert during["webhook-signature"].split(" ") == [
            signature(NEW_SECRET, second_before),
            signature(OLD_SECRET, second_before),
        ]
        assert after["webhook-signature"] == signature(NEW_SECRET, until)

    def test_the_deprecated_headers_still_come_signed_over_the_body(self):
        headers = webhook_headers("ev-1", b"{}", SigningSecrets(PLAIN_SECRET), _now())

        expected = hmac.new(PLAIN_SECRET.encode(), b"{}", hashlib.sha256).hexdigest()
        assert headers["X-Utskick-Signature"] == "sha256=" + expected
        assert headers["X-Utskick-Event-Id"] == "ev-1"

    def test_a_system_without_a_secret_is_told_how_to_get_one(self):
        with pytest.raises(WebhookSecretError, match="utskick systems webhook-secret"):
            webhook_headers("ev", b"{}", SigningSecrets(None), _now())


class TestEventDocument:
    def test_the_body_has_the_standards_type_and_timestamp_beside_every_earlier_field(self):
        event = LetterEvent(
            event_id="ev-1",
            letter_id="letter-1",
            at=dt.datetime(2026, 12, 7, 9, 15, 2, 123456, tzinfo=dt.UTC),
            actor="worker:1",
            state="delivered",
            reason=None,
            detail="Levererat till Kivra",
            data={"trans_id": "T-1"},
        )

        document = json.loads(event_body(event, idempotency_key="key-1", channel="digital"))

        assert document == {
            "type": "letter.delivered",
            "timestamp": "2026-12-07T09:15:02.123456Z",
            "event_id": "ev-1",
            "letter_id": "letter-1",
            "idempotency_key": "key-1",
            "state": "delivered",
            "reason": None,
            "detail": "Levererat till Kivra",
            "channel": "digital",
            "at": "2026-12-07T09:15:02.123456+00:00",
            "actor": "worker:1",
            "data": {"trans_id": "T-1"},
        }
        assert document == event_document(event, idempotency_key="key-1", channel="digital")


# --- a real receiver on loopback ------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A sending system's webhook endpoint: verifies with the standard's library, 204 or 401."""

    def __init__(self, verifier):
        self.verifier = verifier
        self.received: list[Received] = []
        self.refusals: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = dict(self.headers.items())
                receiver.received.append(Received(headers, body))
                try:
                    receiver.verifier.verify(body, headers)
                    status = 204
                except WebhookVerificationError as error:
                    receiver.refusals.append(str(error))
                    status = 401
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/utskick"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *_exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def receiver():
    with Receiver(Webhook(OLD_SECRET)) as running:
        yield running


@pytest.fixture
def send(db_session, intake, a_letter, receiver):
    """Hand a letter over for a system whose webhook is `receiver`, with the secrets given,
    and run its `received` webhook job at the time given; returns (job outcome, event id)."""
    service, system = intake
    sessions = sessionmaker(bind=db_session.connection(), join_transaction_mode="create_savepoint")
    client = httpx2.Client(timeout=5, trust_env=False)

    def run(secret=OLD_SECRET, *, previous=None, previous_until=None, at=None, letter=None):
        if letter is None:
            system.webhook_url = receiver.url
            system.webhook_secret = secret
            system.webhook_secret_previous = previous
            system.webhook_secret_previous_until = previous_until
            letter, _ = service.accept(system, a_letter(), actor="api:Ärendesystemet")
            db_session.flush()
        job = db_session.scalars(
            select(Job).where(Job.letter_id == letter.id, Job.kind == WEBHOOK)
        ).one()
        moment = at or _now()
        claimed = ClaimedJob(job.id, job.kind, job.letter_id, job.payload, 1, moment)
        outcome = webhook_job(
            claimed,
            sessions=sessions,
            client=client,
            settings=Settings(retry_base_seconds=2.0, retry_max_seconds=60.0),
            clock=lambda: moment,
        )
        return outcome, str(job.payload["event_id"]), letter

    yield run
    client.close()


@pytest.mark.storage
class TestDeliveredToARealReceiver:
    def test_a_receiver_using_the_standards_library_accepts_our_webhook(self, send, receiver):
        outcome, event_id, letter = send()

        assert outcome is None
        assert receiver.refusals == []
        [request] = receiver.received
        document = Webhook(OLD_SECRET).verify(request.body, request.headers)
        assert request.headers["webhook-id"] == event_id
        assert (document["type"], document["letter_id"]) == ("letter.received", letter.id)

    def test_a_changed_body_is_refused(self, send, receiver):
        send()
        [request] = receiver.received

        changed = request.body.replace(b'"received"', b'"delivered"')
        assert changed != request.body
        with pytest.raises(WebhookVerificationError, match="No matching signature"):
            Webhook(OLD_SECRET).verify(changed, request.headers)

    def test_a_webhook_replayed_beyond_the_tolerance_is_refused(self, send, receiver):
        outcome, _, _ = send(at=_now() - TOLERANCE - dt.timedelta(minutes=1))

        assert receiver.refusals == ["Message timestamp too old"]
        assert outcome is not None  # refused: it is tried again, signed anew
        assert "HTTP 401" in outcome.error

    def test_a_receiver_with_another_secret_refuses_it(self, send, receiver):
        outcome, _, _ = send(NEW_SECRET)

        assert receiver.refusals == ["No matching signature found"]
        assert outcome is not None

    def test_during_a_rotation_both_the_old_and_the_new_secret_verify(self, send, receiver):
        until = _now() + dt.timedelta(days=1)
        first, _, letter = send(NEW_SECRET, previous=OLD_SECRET, previous_until=until)
        receiver.verifier = Webhook(NEW_SECRET)  # the receiving system changes its secret
        second, _, _ = send(letter=letter)

        assert (first, second) == (None, None)
        assert receiver.refusals == []
        signatures = receiver.received[0].headers["webhook-signature"].split(" ")
        assert len(signatures) == 2
        assert all(signature.startswith("v1,") for signature in signatures)

    def test_after_the_rotation_ends_only_the_new_secret_verifies(self, send, receiver):
        ended = _now() - dt.timedelta(seconds=1)
        refused, _, letter = send(NEW_SECRET, previous=OLD_SECRET, previous_until=ended)
        receiver.verifier = Webhook(NEW_SECRET)
        accepted, _, _ = send(letter=letter)

        assert receiver.refusals == ["No matching signature found"]
        assert refused is not None
        assert accepted is None
        assert " " not in receiver.received[1].headers["webhook-signature"]

    def test_a_plain_secret_of_an_older_installation_verifies_as_its_utf8_bytes(
        self, send, receiver
    ):
        receiver.verifier = Webhook(PLAIN_SECRET.encode())
        first, _, letter = send(PLAIN_SECRET)
        # The same key written the standard's way: for libraries that take only `whsec_`.
        receiver.verifier = Webhook("whsec_" + base64.b64encode(PLAIN_SECRET.encode()).decode())
        second, _, _ = send(letter=letter)

        assert (first, second) == (None, None)
        assert receiver.refusals == []

    def test_a_retry_keeps_the_id_and_signs_its_own_time(self, send, receiver):
        _, event_id, letter = send(at=_now() - dt.timedelta(seconds=90))
        send(letter=letter)

        first, second = receiver.received
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == event_id
        assert (
            int(second.headers["webhook-timestamp"]) >= int(first.headers["webhook-timestamp"]) + 89
        )
        assert first.body == second.body

    def test_a_system_without_a_secret_is_tried_again_and_told_what_to_do(self, send, receiver):
        outcome, _, _ = send(None)

        assert receiver.received == []  # nothing unsigned goes out
        assert outcome is not None
        assert "utskick systems webhook-secret" in outcome.error


@pytest.mark.storage
def test_the_body_sent_is_the_document_of_the_stored_event(send, receiver, db_session):
    _, event_id, letter = send()

    event = db_session.scalars(select(LetterEvent).where(LetterEvent.event_id == event_id)).one()
    [request] = receiver.received
    assert request.body == event_body(
        event, idempotency_key=letter.idempotency_key, channel=letter.channel
    )
    assert dt.datetime.fromisoformat(json.loads(request.body)["timestamp"]) == NOW
