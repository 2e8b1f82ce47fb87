"""The statistics in the web app and the API: `/statistik`, `/statistik.csv`, `/api/v1/statistik`.

Open to department administrators (their own organisation's department only), management
(their own organisation, every department) and administrators (every organisation). Every
answer takes the same filters: `from` and `to` (months, `YYYY-MM`), `department`, `sender`
(organisationsnummer; only an administrator chooses it) and `message_type`; empty means all.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from utskick.benefit.charts import inline_svg
from utskick.benefit.model import format_kr, format_number
from utskick.db.engine import session_factory
from utskick.identity import parse_organisation
from utskick.letters.vocabulary import IMPOSSIBLE_REASONS
from utskick.settings import Settings
from utskick.statistics import report as statistics
from utskick.statistics.charts import month_label, outcomes_chart, plan_chart
from utskick.statistics.report import (
    OTHER_REASON,
    OTHER_REASON_NAME,
    StatisticsFilterError,
    StatisticsReport,
)
from utskick.statistics.repository import LetterScope, StatisticsRepository
from utskick.web.auth import USER_ERRORS, require_role
from utskick.web.csrf import issue_csrf_token
from utskick.web.menu import STATISTICS_ROLES, letter_scope
from utskick.web.pages import page_templates, svg_for_strict_csp
from utskick.web.users import WebUser

PAGE_PATH = "/statistik"
CSV_PATH = "/statistik.csv"
API_PATH = "/api/v1/statistik"

TEMPLATES = page_templates(Path(__file__).with_name("templates"))

StatisticsUser = Annotated[WebUser, Depends(require_role(*STATISTICS_ROLES))]


class Filters:
    """The filters as typed in the form or the query string (empty: all)."""

    def __init__(
        self,
        first_month: Annotated[
            str, Query(alias="from", max_length=7, description="First month, YYYY-MM.")
        ] = "",
        last_month: Annotated[
            str, Query(alias="to", max_length=7, description="Last month, YYYY-MM.")
        ] = "",
        department: Annotated[str, Query(max_length=200, description="Department.")] = "",
        sender: Annotated[
            str, Query(max_length=20, description="Sender organisation (organisationsnummer).")
        ] = "",
        message_type: Annotated[str, Query(max_length=64, description="Message type code.")] = "",
    ) -> None:
        self.first_month = first_month.strip()
        self.last_month = last_month.strip()
        self.department = department.strip()
        self.sender = sender.strip()
        self.message_type = message_type.strip()


class DepartmentForbiddenError(StatisticsFilterError):
    """A department administrator asked for another department than their own."""


class OrganisationForbiddenError(StatisticsFilterError):
    """Someone who sees one organisation's letters asked for another organisation's."""


def scope_for(user: WebUser, filters: Filters) -> LetterScope:
    """The letters `user` may see under these filters.

    Management sees their own organisation, a department administrator their organisation's
    department, whether or not it is asked for; an administrator sees every organisation.

    Raises:
        StatisticsFilterError: a filter cannot be read.
        DepartmentForbiddenError: a department administrator asked for another department.
        OrganisationForbiddenError: someone of one organisation asked for another.
        NoScopeError: the person belongs to no organisation (answered 403).
    """
    allowed = letter_scope(user)
    department = filters.department or None
    if allowed.department is not None:
        if department is not None and department != allowed.department:
            raise DepartmentForbiddenError(
                f"du ser statistik för {allowed.department} och kan inte välja {department}"
            )
        department = allowed.department
    scope = statistics.scope_from_filters(
        first_month=filters.first_month,
        last_month=filters.last_month,
        department=department,
        sender=filters.sender,
        message_type=filters.message_type,
        today=statistics.current_month(),
    )
    own = allowed.organisation_number
    if own is None:
        return scope
    if scope.sender_number is not None and scope.sender_number != own:
        raise OrganisationForbiddenError(
            f"du ser statistik för din egen organisation ({parse_organisation(own).display}) "
            f"och kan inte välja {parse_organisation(scope.sender_number).display}"
        )
    return dataclasses.replace(scope, sender_number=own)


def _report(
    request: Request, user: WebUser, scope: LetterScope
) -> tuple[StatisticsReport, dict[str, Any]]:
    """The report and the choices of the filter form (departments, senders, message types).

    Someone of one organisation is offered only its departments, and no other organisation.
    """
    sessions: sessionmaker[Session] = request.app.state.statistics_sessions
    settings: Settings = request.app.state.settings
    own = letter_scope(user).organisation_number
    with sessions() as session:
        report = statistics.build_report(session, scope, settings)
        repository = StatisticsRepository(session)
        names = repository.sender_names()
        choices = {
            "departments": repository.departments(sender_number=own),
            "senders": sorted(
                ((number, name) for number, name in names.items() if own in {None, number}),
                key=lambda item: item[1],
            ),
            "message_types": sorted(repository.message_type_names().items()),
            "organisation": (
                None if own is None else names.get(own, parse_organisation(own).display)
            ),
        }
    return report, choices


def _error_status(error: StatisticsFilterError) -> int:
    forbidden = isinstance(error, DepartmentForbiddenError | OrganisationForbiddenError)
    return 403 if forbidden else 400


def _percent(part: int, whole: int) -> str:
    if whole == 0:
        return "–"
    return f"{format_number(Decimal(part * 100) / whole, 1)} %"


def _number(value: Decimal | int, decimals: int = 0) -> str:
    """A count or amount with spaces between thousands and a decimal comma."""
    return format_number(Decimal(value), decimals)


def include_statistics(app: FastAPI) -> None:
    """Add the statistics page, its CSV export and its JSON API to an app with auth included."""
    app.state.statistics_sessions = session_factory(app.state.engine)

    @app.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
    def statistics_page(
        request: Request, user: StatisticsUser, filters: Annotated[Filters, Depends()]
    ) -> HTMLResponse:
        context: dict[str, Any] = {
            "user": user,
            "csrf_token": issue_csrf_token(request),
            "filters": filters,
            "error": None,
            "report": None,
        }
        try:
            scope = scope_for(user, filters)
        except StatisticsFilterError as error:
            context["error"] = str(error)
            return TEMPLATES.TemplateResponse(
                request, "statistik.html", context, status_code=_error_status(error)
            )
        report, choices = _report(request, user, scope)
        context.update(choices)
        context.update(
            {
                "report": report,
                "outcomes_svg": svg_for_strict_csp(
                    inline_svg(outcomes_chart(report), "statistik-utfall")
                ),
                "plan_svg": svg_for_strict_csp(inline_svg(plan_chart(report), "statistik-plan")),
                "csv_query": request.url.query,
                "reasons": [*IMPOSSIBLE_REASONS.items(), (OTHER_REASON, OTHER_REASON_NAME)],
                "format_kr": format_kr,
                "format_number": _number,
                "duration": statistics.format_duration,
                "month_label": month_label,
                "percent": _percent,
            }
        )
        return TEMPLATES.TemplateResponse(request, "statistik.html", context)

    @app.get(CSV_PATH, include_in_schema=False)
    def statistics_csv(
        request: Request, user: StatisticsUser, filters: Annotated[Filters, Depends()]
    ) -> Response:
        try:
            scope = scope_for(user, filters)
        except StatisticsFilterError as error:
            return Response(
                f"Fel: {error}\n", status_code=_error_status(error), media_type="text/plain"
            )
        report, _ = _report(request, user, scope)
        name = f"utskick-statistik-{scope.first_month}-{scope.last_month}.csv"
        return Response(
            statistics.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get(
        API_PATH,
        tags=["statistik"],
        summary="Statistik över utskick och nytta",
        responses=USER_ERRORS,
    )
    def statistics_api(
        request: Request, user: StatisticsUser, filters: Annotated[Filters, Depends()]
    ) -> JSONResponse:
        """Letters by outcome per month, department, sender and message type.

        With delivery times, the saving realised and the plan beside it. Log in with HTTP
        Basic as a web user with the role department_admin, management or admin.
        """
        try:
            scope = scope_for(user, filters)
        except StatisticsFilterError as error:
            return JSONResponse(
                {"detail": str(error), "errors": []}, status_code=_error_status(error)
            )
        report, _ = _report(request, user, scope)
        return JSONResponse(statistics.to_json(report))
