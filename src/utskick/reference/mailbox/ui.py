"""The citizen mailbox web UI of one mailbox operator (Swedish, plain HTML forms).

A person logs in with a simulated e-ID (test mode only), reads the mailboxes they may open
(their own, a company's they sign for, someone's who gave them medgivande), and, as owner or
signatory, deletes messages and changes the settings. What FaR must know (registration,
closing, accepted senders) is changed through FaR's SOAP service with the operator's own
certificate, as a real operator would; the operator's own tables are read directly.

Sessions are signed cookies with a secret drawn when the app is created, so a restart logs
everyone out. Every form carries the session's CSRF token, checked on every POST.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import secrets
import urllib.parse
import zoneinfo
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, cast

import httpx2
from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from utskick.mm.far import Sender
from utskick.mm.soap import SoapFault
from utskick.reference.context import ReferenceContext
from utskick.reference.far.client import FarClient, far_client_for
from utskick.reference.identity_check import IdentityNumberError, normalise_personnummer
from utskick.reference.mailbox.accounts import (
    NOTICE_FREQUENCIES,
    AccountError,
    AccountState,
    MailboxAccess,
    MailboxAccounts,
)
from utskick.reference.mailbox.storage import MessageContent, MessageStore
from utskick.reference.world import Organisation

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
STYLESHEET = Path(__file__).with_name("static") / "brevlada.css"
SESSION_MAX_AGE_SECONDS = 8 * 3600
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")
# Attachments shown in the browser; any other type is offered as a download only.
INLINE_ATTACHMENT_TYPES = frozenset({"application/pdf"})
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DELEGATE_REFUSAL = (
    "Som ombud kan du läsa brevlådan, men inte radera brev eller ändra inställningar. "
    "Be brevlådans ägare om det behövs."
)
FAR_UNAVAILABLE = (
    "Förmedlingsadressregistret (FaR) svarar inte just nu, så ändringen kunde inte göras. "
    "Försök igen om en stund."
)


class PageError(Exception):
    """A request the UI refuses; shown as a Swedish error page with this status."""

    def __init__(self, status_code: int, message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class RedirectError(Exception):
    """Go elsewhere first (log in, choose a mailbox)."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


@dataclass(frozen=True)
class Viewer:
    """The person logged in with the simulated e-ID."""

    person_id: str
    name: str


@dataclass
class MailboxUi:
    """What the pages of one operator's mailbox share."""

    context: ReferenceContext
    operator: Organisation
    accounts: MailboxAccounts
    store: MessageStore
    far: FarClient


def create_mailbox_ui_app(context: ReferenceContext, operator: Organisation) -> FastAPI:
    """The citizen mailbox of one operator (HTTP, root `/`).

    Args:
        context: the reference infrastructure's shared context.
        operator: the mailbox operator whose mailboxes these are.

    Returns:
        The app; it holds a FaR client that the app's shutdown closes.
    """
    key = operator.operator_key or ""
    ui = MailboxUi(
        context=context,
        operator=operator,
        accounts=MailboxAccounts(context.sessions, operator.number),
        store=MessageStore(context.sessions, operator.number, context.storage_keys[key]),
        far=far_client_for(context, operator.number),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        ui.far.close()

    app = FastAPI(
        title=f"{operator.name}: brevlådan",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.ui = ui
    app.include_router(router)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secrets.token_urlsafe(32),
        # Both operators run on the same host: cookies are per host, not per port.
        session_cookie=f"brevlada_{key}",
        max_age=SESSION_MAX_AGE_SECONDS,
        same_site="strict",
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_exception_handler(PageError, _page_error)
    app.add_exception_handler(RedirectError, _redirect)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    return app


class SecurityHeadersMiddleware:
    """Private mail: never cached, never framed, no scripts, no referrer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to every HTTP response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = {
                    b"cache-control": b"no-store",
                    b"x-content-type-options": b"nosniff",
                    b"referrer-policy": b"no-referrer",
                    b"x-frame-options": b"DENY",
                    b"content-security-policy": CONTENT_SECURITY_POLICY.encode(),
                }
                headers += [(name, value) for name, value in extra.items() if name not in names]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- dependencies ---------------------------------------------------------------------------


def _ui(request: Request) -> MailboxUi:
    return cast("MailboxUi", request.app.state.ui)


def _viewer(request: Request) -> Viewer:
    person_id = request.session.get("person_id")
    if not isinstance(person_id, str):
        raise RedirectError("/logga-in")
    return Viewer(person_id, str(request.session.get("name", "")))


def _current_mailbox(
    request: Request,
    ui: Annotated[MailboxUi, Depends(_ui)],
    viewer: Annotated[Viewer, Depends(_viewer)],
) -> MailboxAccess:
    owner_id = request.session.get("mailbox")
    access = ui.accounts.access(viewer.person_id, owner_id) if isinstance(owner_id, str) else None
    if access is None:
        # Not chosen yet, closed since, or a delegation taken back: choose again.
        request.session.pop("mailbox", None)
        raise RedirectError("/")
    return access


def _administered_mailbox(
    access: Annotated[MailboxAccess, Depends(_current_mailbox)],
) -> MailboxAccess:
    if not access.role.may_administer:
        raise PageError(403, DELEGATE_REFUSAL)
    return access


async def _check_csrf(request: Request) -> None:
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not (
        isinstance(sent, str)
        and isinstance(expected, str)
        and secrets.compare_digest(sent, expected)
    ):
        raise PageError(
            403,
            "Formuläret kunde inte tas emot: sidan var för gammal eller kom inte från "
            "brevlådan. Ladda om sidan och försök igen.",
        )


Ui = Annotated[MailboxUi, Depends(_ui)]
LoggedIn = Annotated[Viewer, Depends(_viewer)]
Current = Annotated[MailboxAccess, Depends(_current_mailbox)]
Administered = Annotated[MailboxAccess, Depends(_administered_mailbox)]
CSRF = [Depends(_check_csrf)]

router = APIRouter()


# --- login ----------------------------------------------------------------------------------


@router.get("/logga-in", response_class=HTMLResponse)
def login_page(request: Request, ui: Ui) -> Response:
    """The simulated e-ID: pick a demo person or type a personnummer."""
    return _render(request, ui, "login.html", persons=ui.context.world.persons)


@router.post("/logga-in", dependencies=CSRF)
def log_in(request: Request, ui: Ui, personnummer: Annotated[str, Form()] = "") -> Response:
    """Log in as the chosen test person (test mode only)."""
    if not ui.context.settings.test_login:
        raise PageError(
            403, "Inloggning med simulerad e-legitimation är avstängd i den här miljön."
        )
    try:
        person_id = normalise_personnummer(personnummer)
    except IdentityNumberError as error:
        return _render(
            request,
            ui,
            "login.html",
            status_code=400,
            error=str(error),
            persons=ui.context.world.persons,
            typed=personnummer,
        )
    known = next((p for p in ui.context.world.persons if p.id == person_id), None)
    request.session.clear()
    request.session.update(
        {
            "person_id": person_id,
            # The simulated e-ID knows the demo persons' names; anyone else is a test person.
            "name": known.name if known else f"Testperson {_formatted_id(person_id)}",
            "csrf": secrets.token_urlsafe(32),
        }
    )
    return _see_other("/")


@router.post("/logga-ut", dependencies=CSRF)
def log_out(request: Request) -> Response:
    """End the session."""
    request.session.clear()
    request.session["flash"] = "Du är utloggad."
    return _see_other("/logga-in")


# --- choosing a mailbox, registering one ----------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def start(request: Request, ui: Ui, viewer: LoggedIn) -> Response:
    """Open the chosen mailbox, else the person's own; otherwise say how to get one."""
    chosen = request.session.get("mailbox")
    if isinstance(chosen, str) and ui.accounts.access(viewer.person_id, chosen) is not None:
        return _see_other("/inkorg")
    if ui.accounts.access(viewer.person_id, viewer.person_id) is not None:
        request.session["mailbox"] = viewer.person_id
        return _see_other("/inkorg")
    own = ui.accounts.account(viewer.person_id)
    return _render(
        request,
        ui,
        "start.html",
        own_state=own.state.value if own else "none",
    )


@router.post("/brevlada", dependencies=CSRF)
def choose_mailbox(
    request: Request, ui: Ui, viewer: LoggedIn, owner: Annotated[str, Form()] = ""
) -> Response:
    """Switch to another mailbox the person may open."""
    if ui.accounts.access(viewer.person_id, owner) is None:
        raise PageError(403, "Du har inte behörighet att öppna den brevlådan.")
    request.session["mailbox"] = owner
    return _see_other("/inkorg")


@router.post("/registrera", dependencies=CSRF)
def register(
    request: Request, ui: Ui, viewer: LoggedIn, villkor: Annotated[str, Form()] = ""
) -> Response:
    """Open (or activate, or reopen) the person's own mailbox: FaR first, then here."""
    own = ui.accounts.account(viewer.person_id)
    own_state = own.state.value if own else "none"
    if villkor != "ja":
        return _render(
            request,
            ui,
            "start.html",
            status_code=400,
            own_state=own_state,
            error="Du behöver godkänna villkoren för att öppna brevlådan.",
        )
    try:
        ui.accounts.open_mailbox(viewer.person_id, viewer.name, ui.far)
    except (AccountError, SoapFault, httpx2.HTTPError) as error:
        return _render(
            request,
            ui,
            "start.html",
            status_code=_status_of(error),
            own_state=own_state,
            error=_refusal("Brevlådan kunde inte öppnas.", error),
        )
    request.session["mailbox"] = viewer.person_id
    request.session["flash"] = (
        "Din brevlåda är aktiverad."
        if own_state == AccountState.PENDING
        else "Din brevlåda är öppnad. Myndigheter kan nu skicka digital post till dig här."
    )
    return _see_other("/inkorg")


# --- reading --------------------------------------------------------------------------------


@router.get("/inkorg", response_class=HTMLResponse)
def inbox(request: Request, ui: Ui, current: Current) -> Response:
    """The messages of the chosen mailbox, newest first."""
    entries = ui.store.inbox(current.owner_id)
    unread = sum(1 for entry in entries if not entry.read)
    return _render(request, ui, "inbox.html", entries=entries, unread=unread)


@router.get("/meddelanden/{message_id}", response_class=HTMLResponse)
def read_message(request: Request, ui: Ui, current: Current, message_id: str) -> Response:
    """Show a message and mark it read."""
    message = _message(ui, current, message_id)
    ui.store.mark_read(current.owner_id, message.id)
    return _render(request, ui, "message.html", message=message)


@router.get("/meddelanden/{message_id}/bilagor/{index}")
def attachment(ui: Ui, current: Current, message_id: str, index: str) -> Response:
    """An attachment's bytes: a PDF opens in the browser, anything else downloads."""
    message = _message(ui, current, message_id)
    found = next((a for a in message.attachments if str(a.index) == index), None)
    if found is None:
        raise PageError(404, "Bilagan finns inte i meddelandet.")
    inline = found.content_type in INLINE_ATTACHMENT_TYPES
    return Response(
        content=found.data,
        media_type=found.content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": _content_disposition(
                "inline" if inline else "attachment", found.filename
            )
        },
    )


@router.post("/meddelanden/{message_id}/radera", dependencies=CSRF)
def delete_message(request: Request, ui: Ui, current: Administered, message_id: str) -> Response:
    """Delete a message (owner or signatory only)."""
    message = _message(ui, current, message_id)
    ui.store.delete(current.owner_id, message.id)
    request.session["flash"] = f"Meddelandet ”{message.subject}” är raderat."
    return _see_other("/inkorg")


# --- settings -------------------------------------------------------------------------------


@router.get("/installningar", response_class=HTMLResponse)
def settings_page(request: Request, ui: Ui, viewer: LoggedIn, current: Administered) -> Response:
    """Notices, accepted senders, delegation and closing (owner or signatory only)."""
    return _settings(request, ui, viewer, current)


@router.post("/installningar/avisering", dependencies=CSRF)
def save_notices(
    request: Request,
    ui: Ui,
    *,
    viewer: LoggedIn,
    current: Administered,
    epost: Annotated[str, Form()] = "",
    mobil: Annotated[str, Form()] = "",
    frekvens: Annotated[str, Form()] = "",
) -> Response:
    """Save where and how often notices go."""
    try:
        ui.accounts.update_notice_settings(
            current.owner_id, email=epost, phone=mobil, frequency=frekvens
        )
    except AccountError as error:
        return _settings(
            request,
            ui,
            viewer,
            current,
            status_code=400,
            notice_error=str(error),
            typed={"epost": epost, "mobil": mobil, "frekvens": frekvens},
        )
    request.session["flash"] = "Aviseringarna är sparade."
    return _see_other("/installningar")


@router.post("/installningar/avsandare", dependencies=CSRF)
def save_senders(
    request: Request,
    ui: Ui,
    viewer: LoggedIn,
    current: Administered,
    accepted: Annotated[list[str] | None, Form(alias="avsandare")] = None,
) -> Response:
    """Accept exactly the ticked senders; FaR stores the choice."""
    chosen = sorted(set(accepted or []))
    try:
        known = {sender.number for sender in ui.far.get_senders()}
        unknown = [number for number in chosen if number not in known]
        if unknown:
            raise PageError(
                400,
                "Okänd avsändare i formuläret: "
                + ", ".join(unknown)
                + ". Ladda om sidan och välj bland avsändarna i listan.",
            )
        ui.far.store_account_preferences(current.owner_id, viewer.person_id, chosen)
    except (SoapFault, httpx2.HTTPError) as error:
        return _settings(
            request,
            ui,
            viewer,
            current,
            status_code=_status_of(error),
            senders_error=_refusal("Valet av avsändare kunde inte sparas.", error),
        )
    request.session["flash"] = "Valet av avsändare är sparat."
    return _see_other("/installningar")


@router.post("/installningar/ombud", dependencies=CSRF)
def grant_delegation(
    request: Request,
    ui: Ui,
    viewer: LoggedIn,
    current: Administered,
    personnummer: Annotated[str, Form()] = "",
) -> Response:
    """Let another person read this mailbox (medgivande)."""
    try:
        delegate = ui.accounts.grant_delegation(current.owner_id, personnummer)
    except AccountError as error:
        return _settings(
            request,
            ui,
            viewer,
            current,
            status_code=400,
            delegation_error=str(error),
            typed={"ombud": personnummer},
        )
    request.session["flash"] = (
        f"{_formatted_id(delegate)} kan nu läsa brevlådan, men inte radera eller ändra något."
    )
    return _see_other("/installningar")


@router.post("/installningar/ombud/aterkalla", dependencies=CSRF)
def revoke_delegation(
    request: Request, ui: Ui, current: Administered, ombud: Annotated[str, Form()] = ""
) -> Response:
    """Take back a delegate's right to read."""
    if not ui.accounts.revoke_delegation(current.owner_id, ombud):
        raise PageError(404, "Det finns inget sådant medgivande att återkalla.")
    request.session["flash"] = f"Medgivandet för {_formatted_id(ombud)} är återkallat."
    return _see_other("/installningar")


@router.get(
    "/installningar/avsluta",
    response_class=HTMLResponse,
    dependencies=[Depends(_administered_mailbox)],
)
def deactivation_page(request: Request, ui: Ui) -> Response:
    """Ask for confirmation before closing the mailbox."""
    return _render(request, ui, "deactivate.html")


@router.post("/installningar/avsluta", dependencies=CSRF)
def deactivate(
    request: Request,
    ui: Ui,
    viewer: LoggedIn,
    current: Administered,
    bekrafta: Annotated[str, Form()] = "",
) -> Response:
    """Close the mailbox: FaR forgets it, then the operator marks it closed."""
    if bekrafta != "ja":
        return _render(
            request,
            ui,
            "deactivate.html",
            status_code=400,
            error="Kryssa i rutan för att bekräfta att brevlådan ska stängas.",
        )
    try:
        ui.accounts.deactivate(current.owner_id, viewer.person_id, ui.far)
    except (AccountError, SoapFault, httpx2.HTTPError) as error:
        return _render(
            request,
            ui,
            "deactivate.html",
            status_code=_status_of(error),
            error=_refusal("Brevlådan kunde inte stängas.", error),
        )
    request.session.pop("mailbox", None)
    request.session["flash"] = f"Brevlådan för {current.name} är stängd."
    return _see_other("/")


@router.get("/static/brevlada.css")
def stylesheet() -> Response:
    """The one stylesheet."""
    return FileResponse(STYLESHEET, media_type="text/css")


# --- helpers --------------------------------------------------------------------------------


def _settings(
    request: Request,
    ui: MailboxUi,
    viewer: Viewer,
    current: MailboxAccess,
    *,
    status_code: int = 200,
    **values: Any,
) -> Response:
    account = ui.accounts.account(current.owner_id)
    senders: list[Sender] = []
    accepted: set[str] = set()
    try:
        senders = ui.far.get_senders()
        accepted = {
            s.number for s in ui.far.get_account_preferences(current.owner_id, viewer.person_id)
        }
    except (SoapFault, httpx2.HTTPError) as error:
        values.setdefault("senders_error", _refusal("Avsändarna kunde inte hämtas.", error))
    return _render(
        request,
        ui,
        "settings.html",
        status_code=status_code,
        account=account,
        senders=senders,
        accepted=accepted,
        delegations=ui.accounts.delegations(current.owner_id),
        frequencies=NOTICE_FREQUENCIES,
        **values,
    )


def _render(
    request: Request, ui: MailboxUi, template: str, *, status_code: int = 200, **values: Any
) -> Response:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    person_id = request.session.get("person_id")
    viewer = Viewer(person_id, str(request.session.get("name", ""))) if person_id else None
    mailboxes: list[tuple[MailboxAccess, int]] = []
    current = None
    if viewer is not None:
        for access in ui.accounts.mailboxes_for(viewer.person_id):
            mailboxes.append((access, ui.store.unread_count(access.owner_id)))
            if access.owner_id == request.session.get("mailbox"):
                current = access
    context = {
        "operator": ui.operator,
        "test_mode": ui.context.settings.test_login,
        "viewer": viewer,
        "csrf_token": request.session["csrf"],
        "flash": request.session.pop("flash", None),
        "mailboxes": mailboxes,
        "current": current,
        "format_id": _formatted_id,
        "local_time": _local_time,
        **values,
    }
    return TEMPLATES.TemplateResponse(request, template, context, status_code=status_code)


def _message(ui: MailboxUi, current: MailboxAccess, message_id: str) -> MessageContent:
    # Another mailbox's message is "not found", never "forbidden": that would confirm it exists.
    message = ui.store.message(current.owner_id, int(message_id)) if message_id.isdigit() else None
    if message is None:
        raise PageError(404, "Meddelandet finns inte i den här brevlådan.")
    return message


def _refusal(what: str, error: Exception) -> str:
    if isinstance(error, SoapFault):
        return f"{what} Förmedlingsadressregistret (FaR) svarade: {error.description}"
    if isinstance(error, httpx2.HTTPError):
        return f"{what} {FAR_UNAVAILABLE}"
    return f"{what} {error}"


def _status_of(error: Exception) -> int:
    return 502 if isinstance(error, httpx2.HTTPError) else 400


def _formatted_id(identity: str) -> str:
    """A 12-digit id as people write it: 19121212-1212, or 556999-0038 for a company."""
    if identity.startswith("16") and len(identity) == 12:  # noqa: PLR2004 (16 + orgnr)
        return f"{identity[2:8]}-{identity[8:]}"
    if len(identity) == 12:  # noqa: PLR2004 (personnummer with century)
        return f"{identity[:8]}-{identity[8:]}"
    return identity


def _local_time(moment: dt.datetime) -> str:
    # SQLite hands timestamps back without a zone; they are stored in UTC.
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _content_disposition(kind: str, filename: str) -> str:
    cleaned = re.sub(r"[\x00-\x1f\x7f/\\\"]", "_", filename).strip() or "bilaga"
    ascii_name = cleaned.encode("ascii", "replace").decode().replace("?", "_")
    quoted = urllib.parse.quote(cleaned, safe="")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quoted}"


def _see_other(location: str) -> Response:
    return RedirectResponse(location, status_code=303)


# --- error pages ----------------------------------------------------------------------------
# Sync handlers: Starlette runs them in its thread pool, so their database reads (the mailbox
# switcher) never block the event loop that FaR and the operators share.

ERROR_HEADINGS = {
    400: "Det gick inte",
    403: "Du har inte behörighet",
    404: "Hittades inte",
    502: "En tjänst svarar inte",
}


def _error_page(request: Request, status_code: int, message: str) -> Response:
    return _render(
        request,
        _ui(request),
        "error.html",
        status_code=status_code,
        message=message,
        heading=ERROR_HEADINGS.get(status_code, "Något gick fel"),
    )


def _page_error(request: Request, error: Exception) -> Response:
    page_error = cast("PageError", error)
    return _error_page(request, page_error.status_code, page_error.message)


def _redirect(_request: Request, error: Exception) -> Response:
    return _see_other(cast("RedirectError", error).location)


def _http_error(request: Request, error: Exception) -> Response:
    status_code = cast("StarletteHTTPException", error).status_code
    messages = {
        404: "Sidan finns inte.",
        405: "Sidan går inte att använda på det sättet.",
    }
    return _error_page(
        request, status_code, messages.get(status_code, "Något gick fel. Försök igen.")
    )


def _invalid_request(request: Request, _error: Exception) -> Response:
    return _error_page(
        request, 400, "Formuläret var inte ifyllt som väntat. Ladda om sidan och försök igen."
    )
