"""Print batches in the web app and the API: `/utskrift` and `/api/v1/print/batches`.

Officers and department administrators see their own organisation's department's batches
(the daily exception lists they print themselves, and their letters at the vendor);
administrators (the print room) see every batch and may close and hand over vendor batches.
A batch outside the person's scope answers 404, as an unknown one does, so that no one
learns that another municipality's or department's batch exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Form, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session, sessionmaker

from utskick.db.engine import session_factory
from utskick.identity import InvalidIdentityError, parse_organisation
from utskick.printing.drops import DropUnavailableError, HandoverError
from utskick.printing.handover import ascii_name, handover_batch
from utskick.printing.models import PrintBatch
from utskick.printing.repository import BatchFilter, PrintRepository
from utskick.printing.service import PrintBatchError, close_on_command, mark_printed
from utskick.printing.views import (
    batch_day,
    batch_letters,
    batch_pdf,
    batch_summary,
    route_text,
)
from utskick.settings import Settings
from utskick.web.auth import USER_ERRORS, require_role
from utskick.web.csrf import csrf_valid, issue_csrf_token
from utskick.web.errors import ErrorResponse
from utskick.web.menu import PRINTING_ROLES, LetterScope, letter_scope
from utskick.web.pages import page_templates
from utskick.web.users import ADMIN, WebUser

PAGE_PATH = "/utskrift"
API_PATH = "/api/v1/print/batches"

TEMPLATES = page_templates(Path(__file__).with_name("templates"))

_BATCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **USER_ERRORS,
    400: {"model": ErrorResponse, "description": "Anropets innehåll kan inte läsas."},
    404: {"description": "Ingen sådan batch som du kan se, eller den har inga brev."},
    409: {"description": "Batchen är i fel läge för åtgärden; svaret säger varför."},
    503: {"description": "Tryckeriets mapp eller SFTP-server svarar inte; försök igen senare."},
    422: {"model": ErrorResponse, "description": "Felaktig indata; varje fel fält är namngivet."},
}

PrintUser = Annotated[WebUser, Depends(require_role(*PRINTING_ROLES))]
LIST_LIMIT = 200


class MarkPrintedIn(BaseModel):
    """Which letters were printed; none named: every letter of the batch."""

    letter_ids: list[str] | None = Field(default=None, max_length=5000)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sessions(request: Request) -> sessionmaker[Session]:
    return session_factory(request.app.state.engine)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _actor(user: WebUser) -> str:
    return f"web:{user.username}"


def _filter_for(scope: LetterScope) -> BatchFilter:
    """The batches of this scope: one organisation's department's, or every batch."""
    return BatchFilter(
        sender_number=scope.organisation_number, department=scope.department, limit=LIST_LIMIT
    )


def _scoped_batch(session: Session, scope: LetterScope, batch_id: str) -> PrintBatch | None:
    """The batch, if it exists and is in scope (else None: the two are not told apart)."""
    batch = PrintRepository(session).batch(batch_id)
    if batch is None or not scope.covers(batch.sender_number, batch.department):
        return None
    return batch


def _not_found(batch_id: str) -> str:
    return (
        f"det finns ingen utskriftsbatch {batch_id} som du kan se; välj en batch i listan på "
        f"{PAGE_PATH}"
    )


def _visible_batch(session: Session, user: WebUser, batch_id: str) -> PrintBatch:
    """The batch if the person may see it.

    Raises:
        HTTPException: 404 whether the batch does not exist or is another organisation's or
            department's.
        NoScopeError: the person belongs to no organisation (answered 403).
    """
    batch = _scoped_batch(session, letter_scope(user), batch_id)
    if batch is None:
        raise HTTPException(404, _not_found(batch_id))
    return batch


def _check_may_close(user: WebUser, batch: PrintBatch) -> None:
    if not batch.local and user.role != ADMIN:
        raise HTTPException(
            403, "bara utskriftsrummet (administratör) stänger och lämnar över tryckeriets batcher"
        )


def _close(request: Request, user: WebUser, batch_id: str) -> dict[str, Any]:
    sessions = _sessions(request)
    with sessions() as session, session.begin():
        batch = _visible_batch(session, user, batch_id)
        _check_may_close(user, batch)
        try:
            close_on_command(session, batch_id, now=_now())
        except PrintBatchError as error:
            raise HTTPException(409, str(error)) from None
        local = batch.local
    if not local:
        _handover(request, batch_id, user)
    with sessions() as session:
        return batch_summary(_visible_batch(session, user, batch_id))


def _handover(request: Request, batch_id: str, user: WebUser) -> None:
    try:
        handover_batch(
            batch_id,
            sessions=_sessions(request),
            settings=_settings(request),
            clock=_now,
            actor=_actor(user),
        )
    except DropUnavailableError as error:
        # The batch is closed and its hand-over job will try again; the caller may too.
        raise HTTPException(503, f"{error} (batchen lämnas över automatiskt senare)") from None
    except HandoverError as error:
        raise HTTPException(409, str(error)) from None


def _mark(request: Request, user: WebUser, batch_id: str, letter_ids: list[str] | None) -> int:
    with _sessions(request)() as session, session.begin():
        _visible_batch(session, user, batch_id)
        try:
            return mark_printed(session, batch_id, letter_ids, now=_now(), actor=_actor(user))
        except PrintBatchError as error:
            raise HTTPException(409, str(error)) from None


def _pdf_response(request: Request, user: WebUser, batch_id: str) -> Response:
    with _sessions(request)() as session:
        batch = _visible_batch(session, user, batch_id)
        settings = _settings(request)
        pdf, letters = batch_pdf(session, batch, settings)
        day = batch_day(batch, settings.print_timezone)
        name = f"utskrift-{batch.department or batch.route}-{day:%Y%m%d}-{batch.id[:8]}"
    if letters == 0:
        raise HTTPException(404, "batchen har inga brev att skriva ut")
    # Header values travel as Latin-1: an ASCII file name, and the real one as RFC 6266 asks.
    safe = "".join(
        c if (c.isascii() and c.isalnum()) or c in "-_" else "-" for c in ascii_name(name)
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{safe}.pdf"; '
            f"filename*=UTF-8''{quote(name)}.pdf"
        },
    )


def include_printing(app: FastAPI) -> None:
    """Add the print pages and the print API to the app."""
    _include_api(app)
    _include_page(app)


def _include_api(app: FastAPI) -> None:

    @app.get(API_PATH, tags=["utskrift"], summary="Utskriftsbatcher", responses=_BATCH_ERRORS)
    def list_batches(request: Request, user: PrintUser) -> JSONResponse:
        """The batches the caller may see (their organisation's department's), newest first."""
        query = _filter_for(letter_scope(user))
        with _sessions(request)() as session:
            body = [batch_summary(batch) for batch in PrintRepository(session).batches(query)]
        return JSONResponse(jsonable_encoder(body))

    @app.get(
        API_PATH + "/{batch_id}",
        tags=["utskrift"],
        summary="En utskriftsbatch",
        responses=_BATCH_ERRORS,
    )
    def get_batch(batch_id: str, request: Request, user: PrintUser) -> JSONResponse:
        """A batch with its letters (a protected identity's address is never shown)."""
        with _sessions(request)() as session:
            batch = _visible_batch(session, user, batch_id)
            body = {**batch_summary(batch), "letters": batch_letters(session, batch)}
        return JSONResponse(jsonable_encoder(body))

    @app.get(
        API_PATH + "/{batch_id}/pdf",
        tags=["utskrift"],
        summary="Batchen som en PDF",
        responses=_BATCH_ERRORS,
    )
    def download(batch_id: str, request: Request, user: PrintUser) -> Response:
        """Every letter of the batch in one PDF, to print."""
        return _pdf_response(request, user, batch_id)

    @app.post(
        API_PATH + "/{batch_id}/close",
        tags=["utskrift"],
        summary="Stäng batchen",
        responses=_BATCH_ERRORS,
    )
    def close(batch_id: str, request: Request, user: PrintUser) -> JSONResponse:
        """Close the batch; a vendor batch is handed over to the vendor's drop at once."""
        return JSONResponse(jsonable_encoder(_close(request, user, batch_id)))

    @app.post(
        API_PATH + "/{batch_id}/handover",
        tags=["utskrift"],
        summary="Lämna över",
        responses=_BATCH_ERRORS,
    )
    def handover(batch_id: str, request: Request, user: PrintUser) -> JSONResponse:
        """Hand a closed vendor batch to the drop again; a handed-over batch is left as it is."""
        with _sessions(request)() as session:
            _check_may_close(user, _visible_batch(session, user, batch_id))
        _handover(request, batch_id, user)
        with _sessions(request)() as session:
            return JSONResponse(
                jsonable_encoder(batch_summary(_visible_batch(session, user, batch_id)))
            )

    @app.post(
        API_PATH + "/{batch_id}/printed",
        tags=["utskrift"],
        summary="Markera utskrivna",
        responses=_BATCH_ERRORS,
    )
    def printed(
        batch_id: str, body: MarkPrintedIn, request: Request, user: PrintUser
    ) -> JSONResponse:
        """Mark letters (all, when none are named) as printed."""
        return JSONResponse({"marked": _mark(request, user, batch_id, body.letter_ids)})


def _include_page(app: FastAPI) -> None:
    @app.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
    def page(
        request: Request, user: PrintUser, batch: Annotated[str | None, Query(max_length=64)] = None
    ) -> HTMLResponse:
        scope = letter_scope(user)
        with _sessions(request)() as session:
            repository = PrintRepository(session)
            batches = repository.batches(_filter_for(scope))
            chosen = _scoped_batch(session, scope, batch) if batch else None
            letters = batch_letters(session, chosen) if chosen else []
            context = {
                "user": user,
                "csrf_token": issue_csrf_token(request),
                "batches": [batch_summary(b) for b in batches],
                "chosen": batch_summary(chosen) if chosen else None,
                "letters": letters,
                "message": request.query_params.get("meddelande"),
                "error": _not_found(batch) if batch and chosen is None else None,
                "is_admin": user.role == ADMIN,
                "organisations": _organisation_names(
                    repository, [*batches, chosen] if chosen else batches
                ),
                "local_time": _local_time(_settings(request)),
                "route_text": route_text,
            }
        return TEMPLATES.TemplateResponse(
            request, "utskrift.html", context, status_code=404 if context["error"] else 200
        )

    @app.post(PAGE_PATH + "/{batch_id}", include_in_schema=False)
    def page_action(
        batch_id: str,
        request: Request,
        user: PrintUser,
        action: Annotated[str, Form(max_length=20)],
        csrf_token: Annotated[str, Form(max_length=200)] = "",
    ) -> RedirectResponse:
        if not csrf_valid(request, csrf_token):
            raise HTTPException(403, "formuläret har gått ut; ladda om sidan och försök igen")
        if action == "close":
            _close(request, user, batch_id)
            message = "Batchen är stängd."
        elif action == "printed":
            marked = _mark(request, user, batch_id, None)
            message = f"{marked} brev markerade som utskrivna."
        else:
            raise HTTPException(400, f"okänd åtgärd {action!r}")
        return RedirectResponse(
            f"{PAGE_PATH}?batch={batch_id}&meddelande={message}", status_code=303
        )


def _organisation_names(repository: PrintRepository, batches: list[PrintBatch]) -> dict[str, str]:
    """Each batch's organisation by name (or its number as people write it, if unknown)."""
    numbers = {batch.sender_number for batch in batches if batch.sender_number}
    senders = repository.senders(list(numbers))
    return {
        number: senders[number].name if number in senders else _shown_number(number)
        for number in numbers
    }


def _shown_number(number: str) -> str:
    try:
        return parse_organisation(number).display
    except InvalidIdentityError:
        return number


def _local_time(settings: Settings) -> Callable[[dt.datetime | None], str]:
    """Times on the page in the print time zone (the close times are set in it)."""
    zone = ZoneInfo(settings.print_timezone)

    def show(moment: dt.datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "–"

    return show
