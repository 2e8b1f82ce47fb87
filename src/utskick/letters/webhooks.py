"""Webhooks: tell a sending system about each event of its letters, signed, at least once.

Webhooks follow Standard Webhooks (https://www.standardwebhooks.com, spec 1.0), so that a
receiving system can verify them with that project's library in its own language:

- `webhook-id`: the event's id, the same on every retry of it (the receiver drops repeats:
  a webhook may arrive more than once);
- `webhook-timestamp`: this attempt's time in whole seconds since 1970 (a receiver refuses one
  too far from its own clock, which stops a recorded webhook from being replayed later);
- `webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one for the
  system's current secret and, after a rotation, a second one (space-separated) for the
  previous secret until `webhook_secret_previous_until`, so that the receiver can change its
  secret without losing a webhook.

A secret is `whsec_<base64>` (the key is the decoded bytes), as the standard writes it. Older
installations have secrets that are plain random strings: their key is the string's UTF-8
bytes, which is the same key as `whsec_` + base64 of those bytes.

The older headers `X-Utskick-Event-Id` and `X-Utskick-Signature: sha256=<hex>` (HMAC-SHA256 of
the body alone, keyed with the current secret's UTF-8 bytes) are still sent, beside the new
ones, as the standard's migration advice says: receivers written for them keep working while
they move to the new headers. They are deprecated and are sent through 2027-06-30; the first
release after that date drops them.

The body is the event as JSON (`event_document`), with the standard's `type`
(`letter.<state>`) and `timestamp` (when the event happened) beside the fields it always had;
`GET /api/v1/events` lists the same documents for systems that poll. A webhook that fails is
retried with backoff and given up a day (setting) after its event.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

import httpx2
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from standardwebhooks import Webhook

from utskick.jobs.queue import ClaimedJob, Retry, backoff_seconds, utc
from utskick.letters.models import Letter, LetterEvent
from utskick.observability.logs import url_for_logs, urls_for_logs
from utskick.senders.models import SendingSystem
from utskick.settings import Settings

logger = logging.getLogger(__name__)

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# Deprecated, sent beside the standard's headers through 2027-06-30 (see the module text).
LEGACY_EVENT_ID_HEADER = "X-Utskick-Event-Id"
LEGACY_SIGNATURE_HEADER = "X-Utskick-Signature"
SECRET_PREFIX = "whsec_"  # noqa: S105 (the standard's marker of a secret, not a secret)
EVENT_TYPE_PREFIX = "letter."
_SUCCESS_MIN, _SUCCESS_MAX = 200, 299
_SECRET_COMMAND = "utskick systems webhook-secret"  # noqa: S105 (a command's name)


class WebhookSecretError(ValueError):
    """A webhook secret that cannot sign; the message is Swedish and says what to do."""


@dataclass(frozen=True)
class SigningSecrets:
    """The secrets a system's webhooks are signed with.

    The current one, and after a rotation the previous one until a set time.
    """

    current: str | None
    previous: str | None = None
    previous_until: dt.datetime | None = None

    def valid_at(self, now: dt.datetime) -> list[str]:
        """The secrets that sign at `now`, the current one first."""
        if not self.current:
            raise WebhookSecretError(
                f"systemet har ingen webhook-hemlighet; skapa en med {_SECRET_COMMAND}"
            )
        secrets = [self.current]
        until = self.previous_until
        if self.previous and until is not None and now < utc(until):
            secrets.append(self.previous)
        return secrets


def signing_key(secret: str) -> bytes:
    """The HMAC key a secret stands for.

    `whsec_<base64>` (the standard's form) is the decoded bytes; any other string (the plain
    random secrets of older installations) is its UTF-8 bytes.

    Raises:
        WebhookSecretError: a `whsec_` secret that is not base64, or a secret without bytes.
    """
    if secret.startswith(SECRET_PREFIX):
        encoded = secret.removeprefix(SECRET_PREFIX)
        try:
            # Strict: a receiver's library must derive the same key, so nothing is skipped.
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error:
            raise WebhookSecretError(
                f"webhook-hemligheten är inte giltig base64 efter {SECRET_PREFIX}; "
                f"skapa en ny med {_SECRET_COMMAND}"
            ) from None
    else:
        key = secret.encode()
    if not key:
        raise WebhookSecretError(f"webhook-hemligheten är tom; skapa en ny med {_SECRET_COMMAND}")
    return key


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>`: the standard's signature of one webhook with one secret."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return Webhook(signing_key(secret)).sign(msg_id, moment, body)


def legacy_signature(body: bytes, secret: str) -> str:
    """The deprecated `X-Utskick-Signature` value: `sha256=` and the body's HMAC in hex."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def webhook_headers(
    event_id: str, body: bytes, secrets: SigningSecrets, now: dt.datetime
) -> dict[str, str]:
    """The headers of one attempt at `now`: the standard's three and the deprecated two.

    Raises:
        WebhookSecretError: the system has no secret that can sign.
    """
    timestamp = math.floor(now.timestamp())
    signing = secrets.valid_at(now)
    signatures = " ".join(standard_signature(s, event_id, timestamp, body) for s in signing)
    return {
        "Content-Type": "application/json",
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signatures,
        LEGACY_EVENT_ID_HEADER: event_id,
        LEGACY_SIGNATURE_HEADER: legacy_signature(body, signing[0]),
    }


def _rfc3339(moment: dt.datetime) -> str:
    return utc(moment).astimezone(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def event_document(
    event: LetterEvent, *, idempotency_key: str, channel: str | None
) -> dict[str, object]:
    """One event as the webhook body and the event feed show it.

    `type` and `timestamp` are the standard's; the other fields are the event's (`data`: its
    extra facts such as TransId or operator) and the letter's (`channel`: the letter's channel
    when the document is made).
    """
    return {
        "type": EVENT_TYPE_PREFIX + event.state,
        "timestamp": _rfc3339(event.at),
        "event_id": event.event_id,
        "letter_id": event.letter_id,
        "idempotency_key": idempotency_key,
        "state": event.state,
        "reason": event.reason,
        "detail": event.detail,
        "channel": channel,
        "at": utc(event.at).isoformat(),
        "actor": event.actor,
        "data": event.data,
    }


def event_body(event: LetterEvent, *, idempotency_key: str, channel: str | None) -> bytes:
    """The webhook's JSON body for one event: `event_document`, compact, in UTF-8."""
    document = event_document(event, idempotency_key=idempotency_key, channel=channel)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class _Outgoing:
    url: str
    body: bytes
    secrets: SigningSecrets


def _outgoing(sessions: sessionmaker[Session], event_id: str) -> _Outgoing | None:
    """What to post for an event: None when the event, its letter or the webhook is gone."""
    with sessions() as session:
        event = session.scalar(select(LetterEvent).where(LetterEvent.event_id == event_id))
        if event is None:
            return None
        row = session.execute(
            select(
                Letter.idempotency_key,
                Letter.channel,
                SendingSystem.webhook_url,
                SendingSystem.webhook_secret,
                SendingSystem.webhook_secret_previous,
                SendingSystem.webhook_secret_previous_until,
            )
            .join(SendingSystem, SendingSystem.id == Letter.sending_system_id)
            .where(Letter.id == event.letter_id)
        ).one_or_none()
        if row is None or not row.webhook_url:
            return None
        body = event_body(event, idempotency_key=row.idempotency_key, channel=row.channel)
        secrets = SigningSecrets(
            row.webhook_secret, row.webhook_secret_previous, row.webhook_secret_previous_until
        )
        return _Outgoing(row.webhook_url, body, secrets)


def _post(
    client: httpx2.Client, outgoing: _Outgoing, event_id: str, now: dt.datetime
) -> str | None:
    """Post one attempt; None when it arrived, otherwise what went wrong (Swedish).

    What went wrong is logged and kept as the job's last error, so it names the address
    without its userinfo and query string (a receiver's password or token may be there).
    """
    try:
        headers = webhook_headers(event_id, outgoing.body, outgoing.secrets, now)
    except WebhookSecretError as error:
        return str(error)
    url = outgoing.url
    shown = url_for_logs(url)
    try:
        response = client.post(url, content=outgoing.body, headers=headers)
    except httpx2.HTTPError as error:
        # The error's own text may quote the address: shown the same way.
        said = urls_for_logs(str(error))
        return f"{shown} svarade inte: {type(error).__name__} {said}".rstrip()
    if _SUCCESS_MIN <= response.status_code <= _SUCCESS_MAX:
        return None
    return f"{shown} svarade HTTP {response.status_code}"


def webhook_job(
    job: ClaimedJob,
    *,
    sessions: sessionmaker[Session],
    client: httpx2.Client,
    settings: Settings,
    clock: Callable[[], dt.datetime],
) -> Retry | None:
    """Post one event to its sending system's webhook; a Retry when it did not arrive.

    Every attempt is signed anew with its own timestamp (a retry an hour later must still be
    within the receiver's tolerance); the id stays the event's. A system without a usable
    secret is retried as a failed post is, so the webhook goes out once a secret is set.
    """
    event_id = str((job.payload or {}).get("event_id", ""))
    outgoing = _outgoing(sessions, event_id)
    if outgoing is None:
        return None
    problem = _post(client, outgoing, event_id, clock())
    if problem is None:
        return None
    now = clock()
    if now - job.created_at > dt.timedelta(seconds=settings.webhook_give_up_seconds):
        logger.warning("webhook for event %s given up: %s", event_id, problem)
        return None
    delay = backoff_seconds(job.attempts, settings.retry_base_seconds, settings.retry_max_seconds)
    return Retry(now + dt.timedelta(seconds=delay), problem)
