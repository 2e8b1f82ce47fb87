"""Logins kept on the server, so that logging out ends them for good.

The session cookie carries a random token (signed, so a forged cookie costs no database
look-up); the database keeps the token's SHA-256 with the user, the login's end and a digest
of the password hash. A session is valid while its row exists, has not expired, its user is
active and the password is the one it began with. Logging out deletes the row: a copy of the
cookie taken before is worth nothing afterwards. A new password or a deactivated user ends
every session of that user.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable

from fastapi import Request
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from utskick.web.cookies import SESSION_COOKIE, SESSION_MAX_AGE_SECONDS, read_signed
from utskick.web.users import UserRepository, WebSession, WebUser


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(moment: dt.datetime) -> dt.datetime:
    """A time from the database as aware UTC (SQLite returns naive values)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def token_hash(token: str) -> str:
    """The SHA-256 (hex) under which a session token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def password_fingerprint(user: WebUser) -> str:
    """A digest of the password hash: a session remembers it, so a new password ends it."""
    return hashlib.sha256(user.password_hash.encode("ascii")).hexdigest()


def cookie_token(request: Request) -> str | None:
    """The session token of the request's cookie, if the cookie is ours and not too old.

    Says nothing about whether the session still exists; `SessionStore.user` does.
    """
    data = read_signed(request, SESSION_COOKIE, "session", SESSION_MAX_AGE_SECONDS)
    if not isinstance(data, dict):
        return None
    token = data.get("s")
    return token if isinstance(token, str) and token else None


class SessionStore:
    """Starts, finds and ends sessions in the database.

    Args:
        sessions: the database's session factory.
        clock: the current time (tests hand in their own).
    """

    def __init__(
        self, sessions: sessionmaker[Session], clock: Callable[[], dt.datetime] = _utcnow
    ) -> None:
        self._sessions = sessions
        self._clock = clock

    def start(self, user: WebUser) -> str:
        """Store a new session for `user`; returns the token for the cookie."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        with self._sessions.begin() as session:
            # Housekeeping: sessions that have run out are gone for good.
            session.execute(delete(WebSession).where(WebSession.expires_at <= now))
            session.add(
                WebSession(
                    token_hash=token_hash(token),
                    user_id=user.id,
                    password_fingerprint=password_fingerprint(user),
                    created_at=now,
                    expires_at=now + dt.timedelta(seconds=SESSION_MAX_AGE_SECONDS),
                )
            )
        return token

    def user(self, token: str) -> WebUser | None:
        """The active user whose live session this token names, or None."""
        with self._sessions() as session:
            row = session.get(WebSession, token_hash(token))
            if row is None or _aware(row.expires_at) <= self._clock():
                return None
            user = UserRepository(session).get(row.user_id)
            if user is None or not user.active:
                return None
            if not secrets.compare_digest(row.password_fingerprint, password_fingerprint(user)):
                return None
            return user

    def end(self, token: str) -> None:
        """End the session this token names (nothing happens if it has ended already)."""
        with self._sessions.begin() as session:
            session.execute(delete(WebSession).where(WebSession.token_hash == token_hash(token)))
