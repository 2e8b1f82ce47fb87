"""Webhooks: tell a sending system about each event of its letters, signed, at least once.

The body is the event as JSON. `X-Utskick-Event-Id` lets the receiver drop repeats (a
webhook may arrive more than once); `X-Utskick-Signature: sha256=<hex>` is the HMAC-SHA256
of the exact body with the system's webhook secret. A webhook that fails is retried with
backoff and given up a day (setting) after its event.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from utskick.jobs.queue import ClaimedJob, Retry, backoff_seconds, utc
from utskick.letters.models import Letter, LetterEvent
from utskick.senders.models import SendingSystem
from utskick.settings import Settings

logger = logging.getLogger(__name__)

EVENT_ID_HEADER = "X-Utskick-Event-Id"
SIGNATURE_HEADER = "X-Utskick-Signature"
_SUCCESS_MIN, _SUCCESS_MAX = 200, 299


def signature(body: bytes, secret: str) -> str:
    """The signature header's value for a body: `sha256=` and the HMAC's hex digest."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(event: LetterEvent, letter: Letter) -> bytes:
    """The webhook's JSON body for one event."""
    document = {
        "event_id": event.event_id,
        "letter_id": letter.id,
        "idempotency_key": letter.idempotency_key,
        "state": event.state,
        "reason": event.reason,
        "detail": event.detail,
        "channel": letter.channel,
        "at": utc(event.at).isoformat(),
        "actor": event.actor,
        "data": event.data,
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def webhook_job(
    job: ClaimedJob,
    *,
    sessions: sessionmaker[Session],
    client: httpx.Client,
    settings: Settings,
    clock: Callable[[], dt.datetime],
) -> Retry | None:
    """Post one event to its sending system's webhook; a Retry when it did not arrive."""
    event_id = str((job.payload or {}).get("event_id", ""))
    with sessions() as session:
        event = session.scalar(select(LetterEvent).where(LetterEvent.event_id == event_id))
        letter = session.get(Letter, event.letter_id) if event else None
        system = session.get(SendingSystem, letter.sending_system_id) if letter else None
        if event is None or letter is None or system is None or not system.webhook_url:
            return None
        body = event_body(event, letter)
        url, secret = system.webhook_url, system.webhook_secret or ""
    headers = {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: event_id,
        SIGNATURE_HEADER: signature(body, secret),
    }
    try:
        response = client.post(url, content=body, headers=headers)
        if _SUCCESS_MIN <= response.status_code <= _SUCCESS_MAX:
            return None
        problem = f"{url} svarade HTTP {response.status_code}"
    except httpx.HTTPError as error:
        problem = f"{url} svarade inte: {type(error).__name__} {error}".rstrip()
    now = clock()
    if now - job.created_at > dt.timedelta(seconds=settings.webhook_give_up_seconds):
        logger.warning("webhook for event %s given up: %s", event_id, problem)
        return None
    delay = backoff_seconds(job.attempts, settings.retry_base_seconds, settings.retry_max_seconds)
    return Retry(now + dt.timedelta(seconds=delay), problem)
