"""Sending systems and their API keys: create, issue, revoke (the CLI's admin commands).

Functions take the caller's session and never commit: the CLI command is the unit of work.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.senders.api_keys import generate_api_key, hash_api_key, shown_prefix
from utskick.senders.models import ApiKey, SendingSystem
from utskick.senders.repository import SenderRepository, SendingSystemRepository

MAX_NAME_LENGTH = 200


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
        webhook_url: where status events are posted (http or https).
        webhook_secret: the HMAC secret; one is generated when a webhook URL is given without.
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
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SendingSystemError(
                f"webhook-adressen {webhook_url!r} ska börja med https:// (eller http://)"
            )
        webhook_secret = webhook_secret or secrets.token_urlsafe(32)
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
