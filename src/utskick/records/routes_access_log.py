"""The access log's page `/admin/atkomstlogg`: who searched, opened or disclosed letters.

Only the installation's administrator reads it (`web.menu.ACCESS_LOG_ROLES`): the log records
the reading of registrators and officers, so none of them reviews it, and it keeps identity
numbers as people typed them in their searches. Times are local; the filters stand in the
query string, so a search can be paged through and sent on to a colleague.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from utskick.records.access_log_search import (
    PER_PAGE,
    LogForm,
    LogPage,
    page_number,
    read_log_form,
    search_log,
)
from utskick.records.record_views import number_display
from utskick.records.routes_common import TEMPLATES, local_times, records_sessions
from utskick.settings import Settings
from utskick.web.access_log import ACTION_TEXTS, ACTIONS, AccessLogEntry
from utskick.web.auth import require_role
from utskick.web.csrf import issue_csrf_token
from utskick.web.menu import ACCESS_LOG_ROLES
from utskick.web.users import ROLE_NAMES, WebUser

ACCESS_LOG_PATH = "/admin/atkomstlogg"
# The query string's names of the filters.
FIELDS = {
    "username": "anvandare",
    "letter_id": "brev",
    "action": "handling",
    "date_from": "fran",
    "date_to": "till",
}
PAGE_FIELD = "sida"

AdminUser = Annotated[WebUser, Depends(require_role(*ACCESS_LOG_ROLES))]


def _form(request: Request) -> LogForm:
    typed = {field: request.query_params.get(name, "").strip() for field, name in FIELDS.items()}
    return LogForm(**typed)


def _query(form: LogForm, **changes: str) -> str:
    values = {name: getattr(form, field) for field, name in FIELDS.items()}
    values.update(changes)
    return urlencode({name: value for name, value in values.items() if value})


def detail_text(detail: dict[str, object] | None) -> str:
    """A row's detail as one line: `amne: beslut, sida: 1`."""
    if not detail:
        return ""
    return ", ".join(f"{name}: {value}" for name, value in detail.items())


def _rows(entries: list[AccessLogEntry], request: Request) -> list[dict[str, Any]]:
    times = local_times(request)
    return [
        {
            "at": times.seconds(entry.at),
            "username": entry.username,
            "role": ROLE_NAMES.get(entry.role, entry.role),
            "organisation": number_display(entry.organisation_number)
            if entry.organisation_number
            else "–",
            "action": ACTION_TEXTS.get(entry.action, entry.action),
            "letter_id": entry.letter_id,
            "detail": detail_text(entry.detail),
            "result_count": "–" if entry.result_count is None else entry.result_count,
        }
        for entry in entries
    ]


def include_access_log_page(app: FastAPI) -> None:
    """Add the access log's page to an app with auth and the records' state included."""

    @app.get(ACCESS_LOG_PATH, response_class=HTMLResponse, include_in_schema=False)
    def access_log(request: Request, user: AdminUser) -> HTMLResponse:
        settings: Settings = request.app.state.settings
        form = _form(request)
        filters, errors = read_log_form(form, zone=settings.print_timezone)
        page: LogPage | None = None
        rows: list[dict[str, Any]] = []
        if filters is not None:
            with records_sessions(request)() as session:
                page = search_log(
                    session, filters, page=page_number(request.query_params.get(PAGE_FIELD))
                )
                rows = _rows(page.entries, request)
        context = {
            "user": user,
            "csrf_token": issue_csrf_token(request),
            "form": form,
            "errors": errors,
            "actions": [(action, ACTION_TEXTS[action]) for action in ACTIONS],
            # Not "page": the layout uses that name for its header.
            "log_page": page,
            "rows": rows,
            "per_page": PER_PAGE,
            "previous_url": f"{ACCESS_LOG_PATH}?{_query(form, sida=str(page.page - 1))}"
            if page and page.page > 1
            else None,
            "next_url": f"{ACCESS_LOG_PATH}?{_query(form, sida=str(page.page + 1))}"
            if page and page.page < page.pages
            else None,
        }
        status = 400 if errors else 200
        return TEMPLATES.TemplateResponse(request, "atkomstlogg.html", context, status_code=status)
