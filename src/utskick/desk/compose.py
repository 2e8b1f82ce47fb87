"""Nytt brev (`/brev/nytt`): the officer writes a letter, sees where it will go, and sends it.

Routes:
- `GET /brev/nytt`: the form, with a new idempotency key.
- `POST /brev/nytt`: send (multipart, for the attachments). A browser with the page's script
  asks for JSON (`Accept: application/json`) and gets the letter's address or the refusals
  by field; a plain form post gets a redirect to `/brev/{id}?skickat=1`, or the page again
  with the refusals beside their fields and everything typed kept.
- `POST /brev/nytt/mottagare` with `{"nummer": "…"}` (JSON, the CSRF token in the header
  `X-CSRF-Token`): where a letter to this recipient would go now (JSON). A POST, so that the
  identity number stays out of URLs and with that out of every access log.
- `POST /brev/nytt/forhandsvisning`: the printed letter as a PDF, rendered as the print
  service renders it (the page opens it in a new tab), or a page saying why none is printed.

Only officers and department administrators may open them; sender organisation and
department are always the person's own.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from utskick.desk.compose_form import FieldError, field_error, read_compose_form
from utskick.desk.compose_preview import paper_preview
from utskick.desk.compose_reachability import recipient_outlook
from utskick.desk.compose_repository import ComposeRepository
from utskick.desk.database import desk_sessions
from utskick.desk.ports import DeskPorts, PaperPreview
from utskick.desk.sending import (
    MESSAGE_TYPE_MISSING,
    DeskDraft,
    DeskSending,
    SentLetter,
    contact_who,
    letter_input_for,
    organisation_of,
    screened,
)
from utskick.letters.inputs import (
    MAX_WIRE_BYTES,
    SIGNATURES_AND_ENVELOPE_BYTES,
    IdempotencyConflictError,
    LetterRejectedError,
)
from utskick.settings import Settings
from utskick.web.auth import require_role
from utskick.web.csrf import issue_csrf_token
from utskick.web.menu import SENDING_ROLES, letter_scope
from utskick.web.pages import page_templates
from utskick.web.users import WebUser

PAGE_PATH = "/brev/nytt"
OUTLOOK_PATH = "/brev/nytt/mottagare"
PREVIEW_PATH = "/brev/nytt/forhandsvisning"

TEMPLATES = page_templates(Path(__file__).with_name("templates"))

# What the letter service answers for a message type of protection class 4 (shown at once
# when such a type is chosen; a unit test keeps the two the same).
CLASS_FOUR_REFUSAL = (
    "Skyddsklass 4 får inte skickas via Mina meddelanden; skicka informationen på ett annat "
    "sätt som klassningen tillåter"
)
# The signed delivery around a letter's text and attachments: header, support text, both
# signatures with their certificates and the seal (the page's estimate; the service measures).
WIRE_OVERHEAD_BYTES = SIGNATURES_AND_ENVELOPE_BYTES + 3 * 1024

SendingUser = Annotated[WebUser, Depends(require_role(*SENDING_ROLES))]


def _sessions(request: Request) -> sessionmaker[Session]:
    return desk_sessions(request.app)


def _ports(request: Request) -> DeskPorts:
    ports: DeskPorts = request.app.state.desk_ports
    return ports


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def new_idempotency_key() -> str:
    """The key a newly drawn form sends its letter with."""
    return f"brev-nytt-{secrets.token_urlsafe(18)}"


@dataclasses.dataclass(frozen=True)
class _Organisation:
    number: str
    name: str
    support_text: str


def _organisation(request: Request, user: WebUser) -> _Organisation:
    """The person's sender organisation (403 for a person who belongs to none)."""
    letter_scope(user)  # NoScopeError (403) for a person without organisation
    number = organisation_of(user)
    with _sessions(request)() as session:
        sender = ComposeRepository(session).sender(number)
        if sender is None:
            return _Organisation(number, f"{number[:6]}-{number[6:]}", "")
        return _Organisation(number, sender.name, sender.support_text)


def _page(
    request: Request,
    user: WebUser,
    *,
    values: dict[str, str] | None = None,
    errors: Sequence[FieldError] = (),
    lost_files: Sequence[str] = (),
    status: int = 200,
) -> HTMLResponse:
    organisation = _organisation(request, user)
    with _sessions(request)() as session:
        message_types = ComposeRepository(session).message_types()
    values = dict(values or {})
    key = values.get("idempotency_key") or new_idempotency_key()
    return TEMPLATES.TemplateResponse(
        request,
        "brev_nytt.html",
        {
            "user": user,
            "organisation": organisation,
            "message_types": message_types,
            "values": values,
            "errors": {error.field: error for error in errors},
            "error_list": list(errors),
            "idempotency_key": key,
            "csrf_token": issue_csrf_token(request),
            "contact_who": contact_who(user, organisation.name),
            "class_four_refusal": CLASS_FOUR_REFUSAL,
            "wire_limit": MAX_WIRE_BYTES,
            "wire_overhead": WIRE_OVERHEAD_BYTES,
            "lost_files": list(lost_files),
        },
        status_code=status,
    )


def _refusal(error: LetterRejectedError) -> FieldError:
    """A refusal as the page shows it; a form sent again with other content says so plainly."""
    if isinstance(error, IdempotencyConflictError):
        return FieldError(
            "form",
            f"Det här formuläret har redan skickats som brevet {error.letter_id}. Öppna Nytt "
            "brev på nytt för att skriva ett nytt brev.",
        )
    return field_error(error)


def _refused(
    request: Request,
    user: WebUser,
    error: LetterRejectedError,
    *,
    values: dict[str, str] | None,
    lost_files: Sequence[str] = (),
) -> Response:
    shown = _refusal(error)
    if _wants_json(request):
        body: dict[str, object] = {
            "detail": shown.message,
            "errors": [{"field": shown.field, "input": shown.input_id, "message": shown.message}],
        }
        if isinstance(error, IdempotencyConflictError):
            body["letter_id"] = error.letter_id
        return JSONResponse(body, status_code=422)
    return _page(request, user, values=values, errors=[shown], lost_files=lost_files, status=422)


def _send(request: Request, user: WebUser, draft: DeskDraft) -> SentLetter:
    """Check, screen and store the letter (run in a worker thread: it waits for the database)."""
    if not draft.message_type:
        raise LetterRejectedError("message_type", MESSAGE_TYPE_MISSING)
    organisation = _organisation(request, user)
    letter = letter_input_for(user, organisation.name, draft)
    letter = screened(letter, _ports(request).protection())
    return DeskSending(_sessions(request), _settings(request)).send(user, letter)


async def send_letter(request: Request, user: SendingUser) -> Response:
    """`POST /brev/nytt`: send the letter; its page, or the refusal beside its field."""
    try:
        submitted = await read_compose_form(request)
    except LetterRejectedError as error:
        return await run_in_threadpool(_refused, request, user, error, values=None)
    try:
        sent = await run_in_threadpool(_send, request, user, submitted.draft)
    except LetterRejectedError as error:
        return await run_in_threadpool(
            _refused,
            request,
            user,
            error,
            values=submitted.values,
            lost_files=submitted.attachment_names,
        )
    location = f"/brev/{sent.letter_id}?skickat=1"
    if _wants_json(request):
        return JSONResponse(
            {"letter_id": sent.letter_id, "location": location, "created": sent.created},
            status_code=201 if sent.created else 200,
        )
    return RedirectResponse(location, status_code=303)


def compose_page(request: Request, user: SendingUser) -> HTMLResponse:
    """`GET /brev/nytt`: an empty form with an idempotency key of its own."""
    return _page(request, user)


class OutlookQuestion(BaseModel):
    """The body of `POST /brev/nytt/mottagare`: the number as typed."""

    model_config = ConfigDict(extra="forbid")

    nummer: str = Field(default="", max_length=40)


def recipient_outlook_answer(
    request: Request, user: SendingUser, question: OutlookQuestion
) -> JSONResponse:
    """`POST /brev/nytt/mottagare`: where a letter to this recipient would go now."""
    organisation = _organisation(request, user)
    outlook = recipient_outlook(
        question.nummer,
        sender_number=organisation.number,
        sender_name=organisation.name,
        ports=_ports(request),
        today=dt.datetime.now(dt.UTC).date(),
    )
    return JSONResponse(outlook.as_json())


async def paper_preview_answer(request: Request, user: SendingUser) -> Response:
    """`POST /brev/nytt/forhandsvisning`: the printed letter, or why none would be printed."""
    try:
        submitted = await read_compose_form(request)
    except LetterRejectedError as error:
        return await run_in_threadpool(_not_printed, request, user, field_error(error).message)
    result = await run_in_threadpool(_paper, request, user, submitted.draft)
    if result.pdf is None:
        return await run_in_threadpool(_not_printed, request, user, result.not_printed or "")
    return Response(
        result.pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": 'inline; filename="forhandsvisning.pdf"'},
    )


def _paper(request: Request, user: WebUser, draft: DeskDraft) -> PaperPreview:
    """The printed letter, or why none is printed (run in a worker thread)."""
    organisation = _organisation(request, user)
    return paper_preview(
        user,
        organisation.name,
        draft,
        _ports(request).paper,
        now=dt.datetime.now(dt.UTC),
    )


def _not_printed(request: Request, user: WebUser, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"detail": message, "errors": []}, status_code=422)
    return TEMPLATES.TemplateResponse(
        request,
        "brev_forhandsvisning.html",
        {"user": user, "message": message},
        status_code=422,
    )


def include_compose(app: FastAPI, ports: DeskPorts) -> None:
    """Add the compose page and its endpoints; `ports` reach the outside systems.

    The app's `state` must hold `engine` and `settings`, and auth must be included. Add it
    before any route that takes `/brev/{something}`, or guard that one's parameter (as the
    letter's page does with `{letter_id:uuid}`).
    """
    app.state.desk_ports = ports
    desk_sessions(app)
    hidden: dict[str, Any] = {"include_in_schema": False}
    app.add_api_route(
        PAGE_PATH, compose_page, methods=["GET"], response_class=HTMLResponse, **hidden
    )
    app.add_api_route(PAGE_PATH, send_letter, methods=["POST"], **hidden)
    app.add_api_route(OUTLOOK_PATH, recipient_outlook_answer, methods=["POST"], **hidden)
    app.add_api_route(PREVIEW_PATH, paper_preview_answer, methods=["POST"], **hidden)
