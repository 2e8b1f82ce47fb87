"""The records pages: the overview `/arkiv` and holds placed and released from it.

For the records role (registrator: their organisation's records) and the installation's
administrator (every organisation's). The overview shows the rules in force, how
registration stands, the active holds with a form to place one on a case number and a button
to release each, and the latest disposals. Searching letters is the desk's Skickat page
(`/brev`), which a registrator searches across the organisation; a letter's record is
`routes_record`.

Every form posts with the CSRF token (checked for every route by `web.csrf`), and answers by
sending the browser on to the page it came from, so that reloading it posts nothing again.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.records import routes_record
from utskick.records.holds import (
    HoldInputError,
    active_holds,
    count_held_letters,
    place_hold,
    release_hold,
)
from utskick.records.record_views import (
    hold_views,
    latest_disposals,
    message_type_names,
    number_display,
    organisation_names,
    registration_counts,
    rule_views,
)
from utskick.records.routes_access_log import include_access_log_page
from utskick.records.routes_common import (
    ARCHIVE_PATH,
    HOLDS_PATH,
    RECORD_PREFIX,
    RELEASE_PATH,
    TEMPLATES,
    FormText,
    RecordsUser,
    actor_of,
    local_times,
    notice_of,
    records_sessions,
    share_records_state,
    utc_now,
)
from utskick.records.rules import RuleBook
from utskick.web.csrf import issue_csrf_token
from utskick.web.menu import letter_scope
from utskick.web.users import WebUser

# Where a released hold sends the browser back to: the overview or a letter's record.
_RETURN_PATH = re.compile(
    r"/arkiv(/brev/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})?"
)
CHOOSE_ORGANISATION = "Välj den organisation vars brev spärren gäller."


def include_records_pages(
    app: FastAPI, *, protection: Callable[[], ProtectedIdentityLookup | None]
) -> None:
    """Add the records pages and the access log's page to an app with auth included.

    Args:
        app: the app; its `state` holds `engine` and `settings`.
        protection: the population register as the intake asks it, or None when none is
            configured: who has a protected identity now (`records.masking`).
    """
    share_records_state(app, protection)

    @app.get(ARCHIVE_PATH, response_class=HTMLResponse, include_in_schema=False)
    def overview(request: Request, user: RecordsUser) -> HTMLResponse:
        return overview_page(request, user)

    @app.post(HOLDS_PATH, include_in_schema=False)
    def place_case_hold(
        request: Request,
        user: RecordsUser,
        diarienummer: FormText = "",
        skal: FormText = "",
        avsandare: FormText = "",
    ) -> Response:
        typed = {"case_number": diarienummer, "reason": skal, "sender": avsandare}
        return hold_case(request, user, typed)

    @app.post(RELEASE_PATH, include_in_schema=False)
    def release(
        request: Request, user: RecordsUser, hold_id: int, tillbaka: FormText = ""
    ) -> Response:
        back = tillbaka if _RETURN_PATH.fullmatch(tillbaka) else ARCHIVE_PATH
        return release_and_return(request, user, hold_id, back)

    routes_record.include_record_pages(app)
    include_access_log_page(app)


def hold_case(request: Request, user: WebUser, typed: dict[str, str]) -> Response:
    """Place a hold on a case number; a refused one shows the form again with the reason.

    A registrator's hold is on their own organisation's letters; an administrator chooses.
    """
    sender_number = letter_scope(user).organisation_number or typed["sender"].strip()
    if not sender_number:
        return overview_page(request, user, error=CHOOSE_ORGANISATION, typed=typed)
    with records_sessions(request)() as session:
        try:
            place_hold(
                session,
                sender_number=sender_number,
                reason=typed["reason"],
                actor=actor_of(user),
                now=utc_now(),
                case_number=typed["case_number"],
            )
            session.commit()
        except HoldInputError as error:
            session.rollback()
            return overview_page(request, user, error=str(error), typed=typed)
    return RedirectResponse(f"{ARCHIVE_PATH}?sparr=lagd", status_code=303)


def release_and_return(request: Request, user: WebUser, hold_id: int, back: str) -> Response:
    """Release a hold and return to the page it was released from (with the reason if not)."""
    with records_sessions(request)() as session:
        try:
            release_hold(
                session,
                hold_id,
                sender_number=letter_scope(user).organisation_number,
                actor=actor_of(user),
                now=utc_now(),
            )
            session.commit()
        except HoldInputError as error:
            session.rollback()
            if back.startswith(RECORD_PREFIX):
                letter_id = back.removeprefix(RECORD_PREFIX)
                return routes_record.record_page(request, user, letter_id, error=str(error))
            return overview_page(request, user, error=str(error))
    return RedirectResponse(f"{back}?sparr=havd", status_code=303)


def overview_page(
    request: Request,
    user: WebUser,
    *,
    error: str | None = None,
    typed: dict[str, str] | None = None,
) -> HTMLResponse:
    """The overview; with an error (400) and the form as typed when a hold was refused."""
    own = letter_scope(user).organisation_number
    times = local_times(request)
    with records_sessions(request)() as session:
        organisations = organisation_names(session)
        holds = active_holds(session, sender_number=own)
        counts = {hold.id: count_held_letters(session, hold) for hold in holds}
        context: dict[str, Any] = {
            "user": user,
            "csrf_token": issue_csrf_token(request),
            "organisation": organisations.get(own, number_display(own)) if own else None,
            "rules": rule_views(
                RuleBook.load(session),
                organisation_number=own,
                organisations=organisations,
                message_types=message_type_names(session),
            ),
            "counts": registration_counts(session, sender_number=own),
            "holds": hold_views(holds, times, organisations, counts),
            "disposals": latest_disposals(
                session, times, sender_number=own, organisations=organisations
            ),
            # An administrator chooses whose letters a hold is on; a registrator holds their own.
            "organisations": [] if own else sorted(organisations.items(), key=lambda item: item[1]),
            "notice": None if error else notice_of(request),
            "error": error,
            "typed": typed or {},
        }
    status = 400 if error else 200
    return TEMPLATES.TemplateResponse(request, "arkiv.html", context, status_code=status)
