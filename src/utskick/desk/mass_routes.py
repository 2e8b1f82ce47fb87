"""Massutskick (`/massutskick`): one letter to each row of an uploaded CSV or Excel file.

Routes (officers and department administrators; every mailing is its organisation's and
department's, and any other answers 404 as one that does not exist):
- `GET /massutskick`: the upload form and the department's mailings.
- `POST /massutskick`: upload a table (multipart, field `fil`); the page's script sends the
  CSRF token in a header and asks for JSON, so a large file is never read as a form.
- `GET /massutskick/{id}`: the mailing: its columns, the form, the precheck, the sending.
- `POST /massutskick/{id}/kontroll`: choose columns, message type and templates; the precheck
  starts in the background.
- `POST /massutskick/{id}/skicka`: send the rows that passed (or continue an interrupted
  sending) in the background.
- `GET /massutskick/{id}/status`: the progress as JSON, polled by `massutskick.js`.
- `GET /massutskick/{id}/kontroll.csv` and `/utfall.csv`: the precheck and the outcome per
  row, as CSV that Excel opens.
- `POST /massutskick/{id}/ta-bort`: delete the uploaded file, the precheck and the outcome
  (the letters stay, as every letter does).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from utskick.desk.compose_repository import ComposeRepository
from utskick.desk.database import desk_sessions
from utskick.desk.letter_views import LocalTimes
from utskick.desk.mass_form import (
    ADDRESS_LINE_FIELDS,
    form_values,
    read_choices,
    values_of,
)
from utskick.desk.mass_mailing import (
    CHECKED,
    CHECKING,
    PRECHECK_FILE,
    SENDING,
    SENT,
    STATUS_TEXTS,
    UPLOADED,
    MailingStore,
    MassMailing,
    Owner,
    PrecheckCounts,
    WorkLock,
    upload_too_large,
)
from utskick.desk.mass_outcome import letter_progress, outcome_lines, status_json
from utskick.desk.mass_precheck import MassPrecheck
from utskick.desk.mass_sending import MassSending
from utskick.desk.ports import DeskPorts
from utskick.letters.tables.columns import guess_mapping
from utskick.letters.tables.reading import DEFAULT_MAX_BYTES, TableRefusedError
from utskick.observability.context import carrying_request_id
from utskick.settings import Settings
from utskick.web.auth import require_role
from utskick.web.csrf import issue_csrf_token
from utskick.web.menu import SENDING_ROLES
from utskick.web.pages import page_templates
from utskick.web.users import WebUser

PAGE_PATH = "/massutskick"
FILE_FIELD = "fil"
# Room for the multipart form around the file itself.
FORM_OVERHEAD_BYTES = 64 * 1024
NOT_FOUND = (
    "Det finns inget massutskick med den adressen som du kan se. Det kan höra till en annan "
    "förvaltning eller organisation; välj ett av dina utskick under Massutskick."
)
NO_FILE = "Välj en CSV- eller Excel-fil (.csv eller .xlsx) med en rad per mottagare"
UNREADABLE_FORM = "Filen kunde inte tas emot; ladda om sidan och försök igen"
CANNOT_CHANGE = (
    "Utskicket skickas eller är skickat, så mottagarna och texten kan inte ändras längre; "
    "ladda upp filen som ett nytt massutskick för att skicka igen"
)
CHECK_RUNNING = "Mottagarna kontrolleras redan; vänta tills kontrollen är klar"
CHECK_FIRST = "Kontrollera mottagarna innan utskicket skickas"
STILL_WORKING = (
    "Utskicket kontrolleras eller skickas just nu och kan inte tas bort; vänta tills det är klart"
)
REMOVED = (
    "Massutskicket är borttaget: filen, kontrollen och utfallet per rad. Breven som skickades "
    "finns kvar under Skickat."
)
NOTHING_TO_SEND = (
    "Ingen rad kan skickas: varje rad har ett fel eller en mottagare som inget brev kan nå. "
    "Rätta filen (se kontrollen per rad) och ladda upp den igen"
)
SHOWN_PROBLEMS = 20
LOCK_ATTEMPTS = 5
LOCK_WAIT_SECONDS = 0.02

TEMPLATES = page_templates(Path(__file__).with_name("templates"))


def _count_text(count: int) -> str:
    """A count as Swedish writes it: 10 000 (a non-breaking space between the thousands)."""
    return f"{count:,}".replace(",", "\u00a0")


TEMPLATES.env.filters["tal"] = _count_text

SendingUser = Annotated[WebUser, Depends(require_role(*SENDING_ROLES))]


def include_mass_mailing(app: FastAPI, ports: DeskPorts) -> None:
    """Add the mass mailing pages to an app with auth; `ports` reach FaR and the register.

    The app's `state` must hold `engine` and `settings`.
    """
    settings: Settings = app.state.settings
    pages = _Pages(MailingStore(settings.home), desk_sessions(app), settings, ports)

    @app.get(PAGE_PATH, response_class=HTMLResponse, include_in_schema=False)
    def mass_mailings(request: Request, user: SendingUser) -> HTMLResponse:
        return pages.list_page(request, user)

    @app.post(PAGE_PATH, include_in_schema=False)
    async def upload(request: Request, user: SendingUser) -> Response:
        return await pages.upload(request, user)

    @app.get(PAGE_PATH + "/{mailing_id:uuid}", response_class=HTMLResponse, include_in_schema=False)
    def mass_mailing(mailing_id: uuid.UUID, request: Request, user: SendingUser) -> HTMLResponse:
        mailing = pages.store.visible(user, str(mailing_id))
        if mailing is None:
            return pages.not_found(request, user)
        return pages.mailing_page(request, user, mailing)

    @app.post(PAGE_PATH + "/{mailing_id:uuid}/kontroll", include_in_schema=False)
    async def start_precheck(
        mailing_id: uuid.UUID, request: Request, user: SendingUser
    ) -> Response:
        form = await request.form()
        values = form_values(form)
        await form.close()
        return await run_in_threadpool(pages.start_precheck, request, user, mailing_id, values)

    @app.post(PAGE_PATH + "/{mailing_id:uuid}/skicka", include_in_schema=False)
    def start_sending(mailing_id: uuid.UUID, request: Request, user: SendingUser) -> Response:
        return pages.start_sending(request, user, mailing_id)

    @app.post(PAGE_PATH + "/{mailing_id:uuid}/ta-bort", include_in_schema=False)
    def remove(mailing_id: uuid.UUID, request: Request, user: SendingUser) -> Response:
        return pages.remove(request, user, mailing_id)

    _include_progress_and_downloads(app, pages)


def _include_progress_and_downloads(app: FastAPI, pages: _Pages) -> None:
    """The JSON the page polls, and the two CSV files."""

    @app.get(PAGE_PATH + "/{mailing_id:uuid}/status", include_in_schema=False)
    def progress(mailing_id: uuid.UUID, user: SendingUser) -> JSONResponse:
        return JSONResponse(pages.status(pages.visible(user, mailing_id)))

    @app.get(PAGE_PATH + "/{mailing_id:uuid}/kontroll.csv", include_in_schema=False)
    def precheck_file(mailing_id: uuid.UUID, user: SendingUser) -> Response:
        return pages.precheck_file(pages.visible(user, mailing_id))

    @app.get(PAGE_PATH + "/{mailing_id:uuid}/utfall.csv", include_in_schema=False)
    def outcome_file(mailing_id: uuid.UUID, user: SendingUser) -> Response:
        return pages.outcome_file(pages.visible(user, mailing_id))


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _download_name(prefix: str, mailing: MassMailing) -> dict[str, str]:
    """The header that names a download after the uploaded file (RFC 6266 for the real name)."""
    stem = mailing.file_name.rsplit(".", 1)[0] or "massutskick"
    name = f"{prefix}-{stem}.csv"
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "-" for c in name)
    return {
        "Content-Disposition": f"attachment; filename=\"{safe}\"; filename*=UTF-8''{quote(name)}"
    }


class _Pages:
    """The pages and actions, with the store, the database and the ports they share."""

    def __init__(
        self,
        store: MailingStore,
        sessions: sessionmaker[Session],
        settings: Settings,
        ports: DeskPorts,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.settings = settings
        self.ports = ports
        self.times = LocalTimes(settings.print_timezone)

    # --- looking up -------------------------------------------------------------------------

    def visible(self, user: WebUser, mailing_id: uuid.UUID) -> MassMailing:
        """The mailing, if it is the person's department's.

        Raises:
            HTTPException: 404, whether it does not exist or is someone else's.
        """
        mailing = self.store.visible(user, str(mailing_id))
        if mailing is None:
            raise HTTPException(404, NOT_FOUND)
        return mailing

    def _locked(
        self, user: WebUser, mailing_id: uuid.UUID
    ) -> tuple[MassMailing | None, WorkLock | None]:
        """The mailing as it is once its lock is taken (lock None: someone works on it)."""
        mailing = self.store.visible(user, str(mailing_id))
        if mailing is None:
            return None, None
        lock = self.store.take_lock(mailing.id)
        for _attempt in range(LOCK_ATTEMPTS):
            if lock is not None or mailing.status not in (UPLOADED, CHECKED):
                break
            # Nobody works on an uploaded or checked mailing: a page asking whether someone
            # does holds the lock for a moment.
            time.sleep(LOCK_WAIT_SECONDS)
            lock = self.store.take_lock(mailing.id)
        if lock is not None:
            # As it is now that nobody else changes it.
            mailing = self.store.visible(user, str(mailing_id)) or mailing
        return mailing, lock

    def not_found(self, request: Request, user: WebUser) -> HTMLResponse:
        """The answer for a mailing that does not exist or is not the person's to see."""
        return TEMPLATES.TemplateResponse(
            request,
            "massutskick_saknas.html",
            {"user": user, "message": NOT_FOUND},
            status_code=404,
        )

    # --- pages ------------------------------------------------------------------------------

    def list_page(
        self, request: Request, user: WebUser, *, error: str | None = None, status: int = 200
    ) -> HTMLResponse:
        """The upload form and the department's mailings, newest first."""
        owner = Owner.of(user)
        mailings = self.store.of_department(owner.organisation_number, owner.department)
        rows = [
            {
                "mailing": mailing,
                "created": self.times.minutes(dt.datetime.fromisoformat(mailing.created_at)),
                "status_text": STATUS_TEXTS[self.store.shown_status(mailing)],
            }
            for mailing in mailings
        ]
        return TEMPLATES.TemplateResponse(
            request,
            "massutskick.html",
            {
                "user": user,
                "rows": rows,
                "error": error,
                "notice": REMOVED if request.query_params.get("borttaget") else None,
                "csrf_token": issue_csrf_token(request),
                "max_megabytes": DEFAULT_MAX_BYTES // (1024 * 1024),
            },
            status_code=status,
        )

    def mailing_page(
        self,
        request: Request,
        user: WebUser,
        mailing: MassMailing,
        *,
        values: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> HTMLResponse:
        """The mailing's page: the form while it may change, then the precheck and sending."""
        mailing, shown = self.store.shown(mailing)
        with self.sessions() as session:
            message_types = ComposeRepository(session).message_types()
            letters = letter_progress(session, mailing.id) if mailing.sending.started_at else None
        proposed = guess_mapping(mailing.columns)
        context: dict[str, Any] = {
            "user": user,
            "mailing": mailing,
            "shown": shown,
            "status_text": STATUS_TEXTS[shown],
            "created": self.times.minutes(dt.datetime.fromisoformat(mailing.created_at)),
            # An interrupted precheck may be changed and run again; a sending may not.
            "editable": mailing.status not in (SENDING, SENT) and shown != CHECKING,
            "values": values or values_of(mailing, proposed, self.settings.print_timezone),
            "not_before": (
                self.times.minutes(dt.datetime.fromisoformat(mailing.not_before))
                if mailing.not_before
                else None
            ),
            "errors": errors or {},
            "message_types": message_types,
            "type_names": {choice.code: choice.name for choice in message_types},
            "address_fields": ADDRESS_LINE_FIELDS,
            "problems": mailing.precheck.first_problems[:SHOWN_PROBLEMS],
            "letters": letters,
            "csrf_token": issue_csrf_token(request),
            "base": f"{PAGE_PATH}/{mailing.id}",
        }
        return TEMPLATES.TemplateResponse(
            request, "massutskick_visa.html", context, status_code=status
        )

    def status(self, mailing: MassMailing) -> dict[str, Any]:
        """The progress the page polls."""
        mailing, shown = self.store.shown(mailing)
        letters = None
        if mailing.sending.started_at:
            with self.sessions() as session:
                letters = letter_progress(session, mailing.id)
        return status_json(mailing, shown, letters)

    # --- actions ----------------------------------------------------------------------------

    async def upload(self, request: Request, user: WebUser) -> Response:
        """Store an uploaded table and open its mailing; refused with the reason otherwise."""
        owner = Owner.of(user)
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > DEFAULT_MAX_BYTES + FORM_OVERHEAD_BYTES:
            return await run_in_threadpool(
                self._upload_refused, request, user, upload_too_large(DEFAULT_MAX_BYTES)
            )
        try:
            form = await request.form(max_files=1, max_fields=4)
        except StarletteHTTPException:
            return await run_in_threadpool(self._upload_refused, request, user, UNREADABLE_FORM)
        try:
            upload = form.get(FILE_FIELD)
            if not isinstance(upload, UploadFile) or not upload.filename:
                return await run_in_threadpool(self._upload_refused, request, user, NO_FILE)
            now = dt.datetime.now(dt.UTC)
            mailing = await run_in_threadpool(
                self.store.create, upload.file, upload.filename, owner, now
            )
        except TableRefusedError as error:
            return await run_in_threadpool(self._upload_refused, request, user, error.message)
        finally:
            await form.close()
        location = f"{PAGE_PATH}/{mailing.id}"
        if _wants_json(request):
            return JSONResponse({"location": location}, status_code=201)
        return RedirectResponse(location, status_code=303)

    def _upload_refused(self, request: Request, user: WebUser, message: str) -> Response:
        if _wants_json(request):
            return JSONResponse({"detail": message}, status_code=422)
        return self.list_page(request, user, error=message, status=422)

    def start_precheck(
        self, request: Request, user: WebUser, mailing_id: uuid.UUID, values: dict[str, str]
    ) -> Response:
        """Keep the officer's choices and check every row in the background."""
        mailing, lock = self._locked(user, mailing_id)
        if mailing is None:
            return self.not_found(request, user)
        refusal = None
        if mailing.status in (SENDING, SENT):
            refusal = CANNOT_CHANGE
        elif lock is None:
            refusal = CHECK_RUNNING
        if refusal is not None:
            if lock is not None:
                lock.release()
            return self.mailing_page(
                request, user, mailing, values=values, errors={"form": refusal}, status=409
            )
        assert lock is not None
        with self.sessions() as session:
            repository = ComposeRepository(session)
            types = {choice.code: choice for choice in repository.message_types()}
            sender = repository.sender(mailing.organisation_number)
        choices, errors = read_choices(
            values,
            mailing.columns,
            types,
            now=dt.datetime.now(dt.UTC),
            zone=self.settings.print_timezone,
        )
        if choices is None:
            lock.release()
            return self.mailing_page(
                request, user, mailing, values=values, errors=errors, status=422
            )
        choices.apply_to(mailing)
        mailing.status, mailing.error, mailing.precheck = CHECKING, None, PrecheckCounts()
        self.store.path(mailing.id, PRECHECK_FILE).unlink(missing_ok=True)
        self.store.save(mailing)
        precheck = MassPrecheck(
            self.store,
            self.ports,
            sender_name=sender.name if sender is not None else mailing.organisation_number,
            today=dt.datetime.now(dt.UTC).date(),
        )
        _in_background(f"massutskick-kontroll-{mailing.id[:8]}", precheck.run, mailing, lock)
        return RedirectResponse(f"{PAGE_PATH}/{mailing.id}", status_code=303)

    def start_sending(self, request: Request, user: WebUser, mailing_id: uuid.UUID) -> Response:
        """Send the rows that passed the precheck (or the rest of them) in the background."""
        mailing, lock = self._locked(user, mailing_id)
        if mailing is None:
            return self.not_found(request, user)
        if lock is None and mailing.status == SENDING:
            # Sent twice (a double click): the first is at work already.
            return RedirectResponse(f"{PAGE_PATH}/{mailing.id}", status_code=303)
        refusal = None
        if lock is None or mailing.status == CHECKING:
            refusal = CHECK_RUNNING
        elif mailing.status not in (CHECKED, SENDING):
            refusal = CHECK_FIRST if mailing.status != SENT else CANNOT_CHANGE
        elif mailing.precheck.to_send == 0:
            refusal = NOTHING_TO_SEND
        if refusal is not None:
            if lock is not None:
                lock.release()
            # Beside the send button where there is one, else at the top of the page.
            where = "send" if mailing.status == CHECKED else "form"
            return self.mailing_page(request, user, mailing, errors={where: refusal}, status=409)
        assert lock is not None
        mailing.sending.sent_by = mailing.sending.sent_by or user.username
        mailing.status = SENDING
        self.store.save(mailing)
        sending = MassSending(self.store, self.sessions, self.settings, self.ports.protection)
        actor = f"web:{user.username}"
        _in_background(f"massutskick-skicka-{mailing.id[:8]}", sending.run, mailing, actor, lock)
        return RedirectResponse(f"{PAGE_PATH}/{mailing.id}", status_code=303)

    def remove(self, request: Request, user: WebUser, mailing_id: uuid.UUID) -> Response:
        """Delete the mailing's files; its letters stay. Not while it is checked or sent."""
        mailing, lock = self._locked(user, mailing_id)
        if mailing is None:
            return self.not_found(request, user)
        if lock is None:
            return self.mailing_page(
                request, user, mailing, errors={"form": STILL_WORKING}, status=409
            )
        self.store.remove(mailing.id, lock)
        return RedirectResponse(f"{PAGE_PATH}?borttaget=1", status_code=303)

    # --- downloads --------------------------------------------------------------------------

    def precheck_file(self, mailing: MassMailing) -> Response:
        """The precheck per row, once it is done."""
        path = self.store.path(mailing.id, PRECHECK_FILE)
        if mailing.status not in (CHECKED, SENDING, SENT) or not path.exists():
            raise HTTPException(404, "mottagarna är inte kontrollerade än")
        return FileResponse(
            path,
            media_type="text/csv; charset=utf-8",
            headers=_download_name("kontroll", mailing),
        )

    def outcome_file(self, mailing: MassMailing) -> Response:
        """The outcome per row, made as it is sent."""
        if mailing.status not in (SENDING, SENT):
            raise HTTPException(404, "utskicket är inte skickat än")
        lines = outcome_lines(self.store, mailing, self.sessions, self.times)
        return StreamingResponse(
            lines,
            media_type="text/csv; charset=utf-8",
            headers=_download_name("utfall", mailing),
        )


def _in_background(name: str, work: Any, *arguments: object) -> None:
    """Run the work in a thread of its own; a daemon, so that it never holds up a stop.

    A stop half-way leaves the mailing interrupted, which its page offers to continue.
    """
    # The thread keeps the web request's id in its log lines and the jobs it queues.
    threading.Thread(
        target=carrying_request_id(work), args=arguments, name=name, daemon=True
    ).start()
