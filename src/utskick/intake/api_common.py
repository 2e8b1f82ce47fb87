"""What every route of the REST API shares: its error answer, who is calling, and the app's state.

The routes are split by concern (`letter_routes`, `batch_routes`, `precheck_routes`); each
makes its router with `api_router()`, and `utskick.intake.api` mounts them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.senders.api_keys import AuthenticationError, authenticate
from utskick.senders.models import SendingSystem
from utskick.settings import Settings
from utskick.web.errors import ErrorResponse

API_PREFIX = "/api/v1"

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Anropets innehåll kan inte läsas."},
    401: {"model": ErrorResponse, "description": "API-nyckel saknas, är okänd eller återkallad."},
    413: {"model": ErrorResponse, "description": "Anropet är större än 4 MB."},
    422: {"model": ErrorResponse, "description": "Felaktig indata; varje fel fält är namngivet."},
}
_bearer = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer uk_…` med systemets API-nyckel."
)
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Systemets API-nyckel (alternativ till Bearer)."
)


def api_router() -> APIRouter:
    """A router for some of the API's routes: under `/api/v1`, with the errors all may answer."""
    return APIRouter(prefix=API_PREFIX, responses=_ERRORS)


class ApiError(Exception):
    """An error answer with a Swedish message (and the fields it concerns, for bad input)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        letter_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.detail = detail
        self.field = field
        self.headers = headers
        self.letter_id = letter_id
        self.errors: list[dict[str, str | None]] = (
            [{"field": field, "message": detail}] if field else []
        )
        super().__init__(detail)


def sessions_of(request: Request) -> sessionmaker[Session]:
    """The app's sessions (each request is its own unit of work)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def settings_of(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def protection_of(request: Request) -> ProtectedIdentityLookup | None:
    """The population register as the intake asks it (None: none can be asked)."""
    provider: Callable[[], ProtectedIdentityLookup | None] = request.app.state.intake_protection
    return provider()


def current_system(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> SendingSystem:
    """The sending system whose API key came with the request (401 otherwise)."""
    # A request must not leave it to us which of two credentials counts: a malformed
    # Authorization header, or two different keys, is refused even if one key would pass.
    if bearer is None and request.headers.get("authorization") is not None:
        raise ApiError(
            401,
            "huvudet Authorization ska ha formen 'Bearer <nyckel>'; rätta det eller ta bort "
            "det och skicka nyckeln i X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if bearer is not None and api_key is not None and bearer.credentials != api_key:
        raise ApiError(
            401,
            "anropet har två olika API-nycklar (Authorization och X-API-Key); skicka en av dem",
            headers={"WWW-Authenticate": "Bearer"},
        )
    presented = bearer.credentials if bearer is not None else api_key
    with sessions_of(request)() as session:
        try:
            # The session closes here: the system is used detached, with its columns loaded.
            return authenticate(session, presented)
        except AuthenticationError as error:
            raise ApiError(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from None


System = Annotated[SendingSystem, Depends(current_system)]


def actor_of(system: SendingSystem) -> str:
    """Who hands letters over through the API, for the event log."""
    return f"api:{system.name}"


def aware(moment: dt.datetime) -> dt.datetime:
    """A stored time with its zone: SQLite gives times back without one, and they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def maybe_aware(moment: dt.datetime | None) -> dt.datetime | None:
    """`aware`, for a time that may not be set."""
    return None if moment is None else aware(moment)
