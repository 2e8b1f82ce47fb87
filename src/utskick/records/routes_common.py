"""What the records pages and the records API share.

Their paths, who may open them, the sessions, local time, the masking of protected
identities and the access log.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, Form, Request
from sqlalchemy.orm import Session, sessionmaker

from utskick.db.engine import session_factory
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.letters.models import Letter
from utskick.records.masking import Masking, masking_for
from utskick.records.record_views import LocalTimes
from utskick.settings import Settings
from utskick.web.access_log import log_person_access
from utskick.web.auth import require_role
from utskick.web.menu import RECORDS_ROLES
from utskick.web.pages import page_templates
from utskick.web.users import WebUser

ARCHIVE_PATH = "/arkiv"
HOLDS_PATH = ARCHIVE_PATH + "/sparrar"
RELEASE_PATH = HOLDS_PATH + "/{hold_id:int}/hav"
RECORD_PREFIX = ARCHIVE_PATH + "/brev/"
RECORD_PATH = RECORD_PREFIX + "{letter_id:uuid}"
LETTER_HOLDS_PATH = RECORD_PATH + "/sparrar"
DISCLOSURE_PATH = RECORD_PATH + "/utlamnande"
NOTICES = {
    "lagd": "Spärren är lagd. Det den gäller gallras inte förrän den hävs.",
    "havd": "Spärren är hävd. Gallringen tar det den gällde när det är dags.",
}

TEMPLATES = page_templates(Path(__file__).with_name("templates"))

RecordsUser = Annotated[WebUser, Depends(require_role(*RECORDS_ROLES))]
FormText = Annotated[str, Form(max_length=1000)]


def share_records_state(
    app: FastAPI, protection: Callable[[], ProtectedIdentityLookup | None]
) -> None:
    """Keep the sessions and the register port the records' routes use in the app's state."""
    if getattr(app.state, "records_sessions", None) is None:
        app.state.records_sessions = session_factory(app.state.engine)
    app.state.records_protection = protection


def records_sessions(request: Request) -> sessionmaker[Session]:
    """Sessions of the records pages (one per request: the request is the unit of work)."""
    sessions: sessionmaker[Session] = request.app.state.records_sessions
    return sessions


def masking_of(request: Request, session: Session, letters: Sequence[Letter]) -> Masking:
    """Which of these letters' recipients are masked (`records.masking`: for everyone here)."""
    protection: Callable[[], ProtectedIdentityLookup | None] = request.app.state.records_protection
    return masking_for(session, letters, protection)


def local_times(request: Request) -> LocalTimes:
    """The installation's local time (`print_timezone`, Europe/Stockholm by default)."""
    settings: Settings = request.app.state.settings
    return LocalTimes(settings.print_timezone)


def utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def actor_of(user: WebUser) -> str:
    """How a person is named in what they change (as the letters' events name them)."""
    return f"web:{user.username}"


def notice_of(request: Request) -> str | None:
    """The confirmation of what the person just did, from the address it sent them to."""
    return NOTICES.get(request.query_params.get("sparr", ""))


def log_reading(
    request: Request,
    user: WebUser,
    action: str,
    *,
    letter_id: str | None = None,
    detail: dict[str, object] | None = None,
    result_count: int | None = None,
) -> None:
    """Write one access to the log and commit it at once, before the answer is made.

    In a transaction of its own, so that an answer that fails afterwards still leaves its trace.
    """
    log_person_access(
        records_sessions(request),
        user,
        action,
        now=utc_now(),
        letter_id=letter_id,
        detail=detail,
        result_count=result_count,
    )
