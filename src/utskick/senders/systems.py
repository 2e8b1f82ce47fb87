"""Sending systems, their API keys and webhooks: create, issue, revoke, rotate (admin commands).

Functions take the caller's session and never commit: the CLI command is the unit of work.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from sqlalchemy.orm import Session

from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.senders.api_keys import generate_api_key, hash_api_key, shown_prefix
from utskick.senders.models import ApiKey, SendingSystem
from utskick.senders.repository import SenderRepository, SendingSystemRepository
from utskick.senders.support import refused_character

MAX_NAME_LENGTH = 200
MAX_WEBHOOK_URL_LENGTH = 1024  # the column's length
# A webhook secret in the Standard Webhooks form: the prefix, then 32 random bytes in base64.
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)
WEBHOOK_SECRET_BYTES = 32
# How long an old webhook secret may go on signing beside the new one, at most.
MAX_SECRET_OVERLAP = dt.timedelta(days=30)


class SendingSystemError(ValueError):
    """A sending system or key that cannot be created or found; the message is Swedish."""


@dataclass(frozen=True)
class IssuedKey:
    """A newly issued API key: the clear key exists only here, shown once."""

    key_id: str
    system_id: str
    system_name: str
    prefix: str
    clear_key: str


def create_sending_system(
    session: Session,
    *,
    name: str,
    sender_numbers: Sequence[str],
    now: dt.datetime,
    departments: Sequence[str] | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    keeps_records: bool = True,
) -> SendingSystem:
    """Create a sending system scoped to sender organisations (and departments, if given).

    Args:
        session: the unit of work.
        name: a unique name (it appears in the event log as `api:<name>`).
        sender_numbers: organisationsnummer of configured senders it may send for.
        now: creation time.
        departments: the departments/functions it may send for; None: any.
        webhook_url: where status events are posted (see `checked_webhook_url`).
        webhook_secret: the signing secret; a new one (`new_webhook_secret`) when a webhook URL
            is given without.
        keeps_records: whether the system keeps its letters as records itself (then their
            content is removed here after digital delivery); False: Utskick keeps it.

    Raises:
        SendingSystemError: what is wrong, in Swedish.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise SendingSystemError(f"systemets namn ska ha 1–{MAX_NAME_LENGTH} tecken")
    systems = SendingSystemRepository(session)
    if systems.by_name(name) is not None:
        raise SendingSystemError(f"det finns redan ett system som heter {name}")
    if not sender_numbers:
        raise SendingSystemError("ange minst en avsändarorganisation som systemet får skicka för")
    numbers = [_configured_sender(session, typed) for typed in sender_numbers]
    if departments is not None:
        departments = [d.strip() for d in departments if d.strip()]
    if webhook_url is not None:
        # The same rule as `systems webhook`: a system made with an address nobody may set
        # afterwards would send its events unencrypted, or fail to store on PostgreSQL.
        webhook_url = checked_webhook_url(webhook_url)
        webhook_secret = webhook_secret or new_webhook_secret()
    system = SendingSystem(
        id=str(uuid.uuid4()),
        name=name,
        sender_numbers=list(dict.fromkeys(numbers)),
        departments=list(departments) if departments is not None else None,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret if webhook_url else None,
        keeps_records=keeps_records,
        created_at=now,
    )
    systems.add(system)
    session.flush()
    return system


def _configured_sender(session: Session, typed: str) -> str:
    try:
        number = parse_organisation(typed).organisation_number
    except InvalidIdentityError as error:
        raise SendingSystemError(f"ogiltigt organisationsnummer: {error}") from None
    if SenderRepository(session).get(number) is None:
        raise SendingSystemError(
            f"avsändaren {number} finns inte; lägg först till den med utskick senders add"
        )
    return number


def find_sending_system(session: Session, name_or_id: str) -> SendingSystem:
    """The sending system with this name or id.

    Raises:
        SendingSystemError: there is none.
    """
    systems = SendingSystemRepository(session)
    system = systems.by_name(name_or_id) or systems.get(name_or_id)
    if system is None:
        raise SendingSystemError(f"det finns inget system som heter {name_or_id}")
    return system


def issue_api_key(session: Session, system: SendingSystem, *, now: dt.datetime) -> IssuedKey:
    """Issue a new API key for a system; only its hash is stored (the caller commits)."""
    clear_key = generate_api_key()
    key = ApiKey(
        id=str(uuid.uuid4()),
        sending_system_id=system.id,
        prefix=shown_prefix(clear_key),
        key_hash=hash_api_key(clear_key),
        created_at=now,
        revoked_at=None,
    )
    SendingSystemRepository(session).add_key(key)
    session.flush()
    return IssuedKey(
        key_id=key.id,
        system_id=system.id,
        system_name=system.name,
        prefix=key.prefix,
        clear_key=clear_key,
    )


def revoke_api_key(session: Session, id_or_prefix: str, *, now: dt.datetime) -> ApiKey:
    """Revoke a key, named by its id or its shown prefix; it stops working at once.

    Raises:
        SendingSystemError: no such key, or the prefix names more than one.
    """
    keys = SendingSystemRepository(session).key_by_id_or_prefix(id_or_prefix)
    if not keys:
        raise SendingSystemError(f"det finns ingen API-nyckel {id_or_prefix}")
    if len(keys) > 1:
        raise SendingSystemError(f"{id_or_prefix} passar flera nycklar; ange nyckelns id i stället")
    key = keys[0]
    if key.revoked_at is None:
        key.revoked_at = now
    return key


def api_keys_of(session: Session, system: SendingSystem) -> list[ApiKey]:
    """A system's keys (hashes and prefixes only), oldest first."""
    return SendingSystemRepository(session).keys_of(system.id)


def revoke_other_keys(
    session: Session, system: SendingSystem, *, keep: str, now: dt.datetime
) -> list[ApiKey]:
    """Revoke every key of the system but `keep` (a key id) that still works; those revoked."""
    revoked = []
    for key in SendingSystemRepository(session).keys_of(system.id):
        if key.id != keep and key.revoked_at is None:
            key.revoked_at = now
            revoked.append(key)
    return revoked


def new_webhook_secret() -> str:
    """A new webhook secret: `whsec_` and 32 random bytes in base64 (Standard Webhooks)."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(
        secrets.token_bytes(WEBHOOK_SECRET_BYTES)
    ).decode("ascii")


def checked_webhook_url(url: str) -> str:
    """A webhook address that may be used: https, or http to this machine only.

    Events name letters and their outcomes, so they travel encrypted; plain http is left
    for a receiver on the same machine (tests, a local relay), where nothing crosses a
    network.

    Raises:
        SendingSystemError: what is wrong with the address, in Swedish.
    """
    url = url.strip()
    if len(url) > MAX_WEBHOOK_URL_LENGTH:
        message = (
            f"webhook-adressen har {len(url)} tecken och är för lång (högst "
            f"{MAX_WEBHOOK_URL_LENGTH} tecken); ange en kortare adress"
        )
        raise SendingSystemError(message)
    refused = refused_character(url)
    if refused is not None or " " in url:
        message = (
            f"webhook-adressen innehåller {refused or 'ett mellanslag'}, kanske från en "
            "inklistring; skriv in adressen utan det och försök igen"
        )
        raise SendingSystemError(message)
    parts = _split(url)
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        message = (
            f"webhook-adressen {url!r} går inte att använda; ange en fullständig adress som "
            "börjar med https://, t.ex. https://system.kommun.se/utskick/handelser"
        )
        raise SendingSystemError(message)
    if parts.scheme == "http" and not _loopback(parts.hostname):
        message = (
            f"webhook-adressen {url!r} använder http utan kryptering; händelserna berättar om "
            "brev och mottagare, så ange en https://-adress (http går bara till den egna "
            "datorn: localhost, 127.0.0.1 eller ::1)"
        )
        raise SendingSystemError(message)
    return url


def _split(url: str) -> SplitResult | None:
    """The address's parts; None when it cannot be read (an unclosed `[` of an IPv6 host)."""
    try:
        return urlsplit(url)
    except ValueError:
        return None


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_webhook_url(session: Session, system: SendingSystem, url: str | None) -> str | None:
    """Set the system's webhook address, or remove it with None (the caller commits).

    A system that gets its first webhook also gets a secret to sign it with; a system whose
    webhook is removed keeps its secret, so that an address set again later signs as before.

    Returns:
        The new secret when one was made (shown once), else None.

    Raises:
        SendingSystemError: the address cannot be used.
    """
    if url is None:
        system.webhook_url = None
        session.flush()
        return None
    system.webhook_url = checked_webhook_url(url)
    made = None
    if not system.webhook_secret:
        made = system.webhook_secret = new_webhook_secret()
    session.flush()
    return made


def secret_overlap(hours: float) -> dt.timedelta:
    """The overlap an operator typed in hours, once it is a number of hours that may be used.

    Raises:
        SendingSystemError: not a finite number, or outside 0 to MAX_SECRET_OVERLAP.
    """
    longest = int(MAX_SECRET_OVERLAP.total_seconds() // 3600)
    # Checked before timedelta sees it: nan, inf and 1e300 make timedelta raise, not refuse.
    if not math.isfinite(hours) or not 0 <= hours <= longest:
        message = (
            f"överlappet ska vara mellan 0 och {longest} timmar (t.ex. 24 för ett dygn), "
            f"inte {hours}"
        )
        raise SendingSystemError(message)
    return dt.timedelta(hours=hours)


def rotate_webhook_secret(
    session: Session, system: SendingSystem, *, now: dt.datetime, overlap: dt.timedelta
) -> str:
    """Give the system a new webhook secret; the old one goes on signing until now + overlap.

    During the overlap each webhook carries a signature with each secret, so the receiver can
    switch to the new secret when it suits it without refusing a webhook (the caller commits).

    Returns:
        The new secret (shown once).

    Raises:
        SendingSystemError: the system has no webhook, or the overlap is out of range.
    """
    if not system.webhook_url:
        message = (
            f"systemet {system.name} har ingen webhook; sätt en först med "
            f"utskick systems webhook {system.name} --url https://…"
        )
        raise SendingSystemError(message)
    if overlap < dt.timedelta(0) or overlap > MAX_SECRET_OVERLAP:
        message = (
            "överlappet ska vara mellan 0 och "
            f"{int(MAX_SECRET_OVERLAP.total_seconds() // 3600)} timmar"
        )
        raise SendingSystemError(message)
    secret = new_webhook_secret()
    system.webhook_secret_previous = system.webhook_secret
    system.webhook_secret_previous_until = now + overlap if system.webhook_secret else None
    system.webhook_secret = secret
    session.flush()
    return secret
