"""API keys: how they look, how they are stored, and who presents them.

A key is `uk_` followed by 32 random bytes in URL-safe base64. Only its SHA-256 (hex) is
stored, so a copy of the database lets no one call the API; the first characters are kept
as a prefix to tell keys apart in lists. A key is presented as `Authorization: Bearer <key>`
or as `X-API-Key: <key>`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session

from utskick.senders.models import SendingSystem
from utskick.senders.repository import SendingSystemRepository

KEY_PREFIX = "uk_"
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 8
_LONGEST_KEY = 200


class AuthenticationError(Exception):
    """No usable API key; the message says in Swedish what to do."""


def generate_api_key() -> str:
    """A new secret API key (shown once, never stored in the clear)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The SHA-256 (hex) under which a key is stored."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def shown_prefix(key: str) -> str:
    """The first characters of a key, safe to show in lists."""
    return key[:SHOWN_PREFIX_LENGTH]


def authenticate(session: Session, presented: str | None) -> SendingSystem:
    """The sending system whose valid (not revoked) key this is.

    Raises:
        AuthenticationError: no key, an unknown key or a revoked key.
    """
    if not presented:
        raise AuthenticationError(
            "API-nyckel saknas; skicka den i huvudet Authorization: Bearer <nyckel> "
            "eller X-API-Key: <nyckel>"
        )
    presented = presented.strip()
    unknown = AuthenticationError(
        "API-nyckeln är okänd eller återkallad; kontrollera nyckeln eller be om en ny"
    )
    if not presented.startswith(KEY_PREFIX) or len(presented) > _LONGEST_KEY:
        raise unknown
    digest = hash_api_key(presented)
    repository = SendingSystemRepository(session)
    key = repository.key_by_hash(digest)
    # The lookup is by hash; the comparison is constant-time all the same.
    if key is None or not hmac.compare_digest(key.key_hash, digest) or key.revoked_at:
        raise unknown
    system = repository.get(key.sending_system_id)
    if system is None:
        raise unknown
    return system
