"""One letter's page `/brev/{id}`: its facts, its timeline, what was sent, and cancelling it.

The page, its live status (`/brev/{id}/status`, polled by `brev-status.js` until the letter
reaches a final state), the download of a kept attachment and the cancel action each look the
letter up within the person's scope first: a letter of another department or organisation
answers 404, exactly as a letter that does not exist. Registrators read but do not cancel.

Every opened letter and every downloaded attachment is written to the access log
(`utskick.web.access_log`) in a short transaction of its own before the answer is sent, so
an answer that fails afterwards still leaves its trace. A registrator never sees the
identity number of a recipient with a protected identity: which recipients are masked is
the records' rule, handed in as a port (`MaskRecipients`) by the app factory.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Protocol
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from utskick.desk.database import desk_sessions
from utskick.desk.letter_views import (
    POLICY_TEXTS,
    LocalTimes,
    attachment_views,
    body_text,
    identity_display,
    operator_of,
    status_json,
    timeline,
)
from utskick.letters.models import Letter
from utskick.letters.repository import LetterRepository
from utskick.letters.search import ScopedLetters
from utskick.letters.service import LetterNotCancellableError, LetterNotFoundError, LetterService
from utskick.senders.repository import SenderRepository, SendingSystemRepository
from utskick.settings import Settings
from utskick.web.access_log import OPEN, log_person_access
from utskick.web.auth import require_role
from utskick.web.csrf import issue_csrf_token
from utskick.web.menu import READING_ROLES, letter_scope
from utskick.web.pages import page_templates
from utskick.web.users import ADMIN, DEPARTMENT_ADMIN, OFFICER, RECORDS, WebUser

LETTERS_PATH = "/brev"
LETTER_PATH = LETTERS_PATH + "/{letter_id:uuid}"
# Who may cancel: those who send, and the installation's administrator; not a registrator.
CANCEL_ROLES = (OFFICER, DEPARTMENT_ADMIN, ADMIN)
# Who reads a letter as a record too: its page links to the record (the records' pages).
RECORD_ROLES = (RECORDS, ADMIN)
RECORD_PAGE = "/arkiv/brev/{letter_id}"
MAX_ATTACHMENTS = 1000
NOT_FOUND = (
    "Det finns inget brev med den adressen som du kan se. Det kan ha skickats av en annan "
    "förvaltning eller organisation; sök bland dina brev under Skickat."
)
CONTENT_REMOVED = (
    "Bilagans innehåll togs bort efter leveransen enligt reglerna för bevarande och gallring; "
    "bara namn, storlek och kontrollsumma finns kvar."
)
PROTECTED_RECIPIENT = "Skyddad identitet"
UNCHECKED_RECIPIENT = "Visas inte just nu: folkbokföringen svarar inte om skyddad identitet"
SENT_NOTICE = "Brevet är skickat."
CANCELLED_NOTICE = "Brevet är makulerat. Inget skickades till mottagaren."

TEMPLATES = page_templates(Path(__file__).with_name("templates"))

ReadingUser = Annotated[WebUser, Depends(require_role(*READING_ROLES))]
CancellingUser = Annotated[WebUser, Depends(require_role(*CANCEL_ROLES))]


class MaskedRecipients(Protocol):
    """The answer of `MaskRecipients`: which letters' recipients must not be shown, and why."""

    @property
    def letter_ids(self) -> frozenset[str]:
        """The letters whose recipient is masked."""
        ...

    @property
    def note(self) -> str | None:
        """A sentence for the page when every person is masked (the register is down)."""
        ...


# The records' rule of which recipients have a protected identity (records.masking).
MaskRecipients = Callable[[Session, Sequence[Letter]], MaskedRecipients]


def masked_recipients(
    request: Request, session: Session, user: WebUser, letters: Sequence[Letter]
) -> MaskedRecipients | None:
    """Which recipients a registrator may not see; None for the roles that see them all.

    Officers and department administrators sent the letters of their scope themselves, and
    the installation's administrator runs it; a registrator reads the whole organisation's
    letters without handling the cases, so protected identities are masked for them.
    """
    if user.role != RECORDS:
        return None
    mask: MaskRecipients = request.app.state.desk_mask_recipients
    return mask(session, letters)


def recipient_text(letter: Letter, masked: MaskedRecipients | None) -> str:
    """The recipient as the page shows it: as typed, or masked (and why, if unsure)."""
    if masked is not None and letter.id in masked.letter_ids:
        return PROTECTED_RECIPIENT if masked.note is None else UNCHECKED_RECIPIENT
    return identity_display(letter.recipient_id)


def log_reading(
    request: Request,
    user: WebUser,
    action: str,
    *,
    letter_id: str | None = None,
    detail: dict[str, object] | None = None,
    result_count: int | None = None,
) -> None:
    """Write one access to the log and commit it at once, before the answer is made."""
    log_person_access(
        sessions(request),
        user,
        action,
        now=utc_now(),
        letter_id=letter_id,
        detail=detail,
        result_count=result_count,
    )


def sessions(request: Request) -> sessionmaker[Session]:
    """Sessions on the app's database (one per request: the request is the unit of work)."""
    return desk_sessions(request.app)


def local_times(request: Request) -> LocalTimes:
    """The installation's local time (`print_timezone`, Europe/Stockholm by default)."""
    settings: Settings = request.app.state.settings
    return LocalTimes(settings.print_timezone)


def utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def not_found_page(request: Request, user: WebUser) -> HTMLResponse:
    """The page for a letter that does not exist or is outside the person's scope."""
    return TEMPLATES.TemplateResponse(
        request, "brev_saknas.html", {"user": user, "message": NOT_FOUND}, status_code=404
    )


def _letter_context(
    request: Request, session: Session, user: WebUser, letter: Letter
) -> dict[str, Any]:
    """Everything the letter's page shows."""
    times = local_times(request)
    letters = ScopedLetters(session, letter_scope(user))
    events = letters.events(letter)
    sender = SenderRepository(session).get(letter.sender_number)
    system = SendingSystemRepository(session).get(letter.sending_system_id)
    message_type = (
        LetterRepository(session).message_type(letter.message_type) if letter.message_type else None
    )
    cancellable = user.role in CANCEL_ROLES and letters.cancellable(letter, utc_now())
    masked = masked_recipients(request, session, user, [letter])
    return {
        "user": user,
        "letter": letter,
        "csrf_token": issue_csrf_token(request),
        "times": times,
        "sender": f"{sender.name} ({identity_display(letter.sender_number)})"
        if sender
        else identity_display(letter.sender_number),
        "recipient": recipient_text(letter, masked),
        "system_name": system.name if system else letter.sending_system_id,
        "message_type": f"{message_type.name} ({message_type.code})"
        if message_type
        else (letter.message_type or "–"),
        "policy": POLICY_TEXTS.get(letter.policy, letter.policy),
        "status": status_json(letter, events, times, cancellable=cancellable),
        "operator": operator_of(letter, events),
        "steps": timeline(events, times),
        "body": body_text(letter),
        "attachments": attachment_views(letter.attachments),
        "cancellable": cancellable,
        "record_url": RECORD_PAGE.format(letter_id=letter.id)
        if user.role in RECORD_ROLES
        else None,
        "notice": _notice(request),
        "error": None,
    }


def _notice(request: Request) -> str | None:
    if request.query_params.get("skickat") == "1":
        return SENT_NOTICE
    if request.query_params.get("makulerat") == "1":
        return CANCELLED_NOTICE
    return None


def _download_name(filename: str) -> str:
    """A Content-Disposition value: an ASCII name, and the real one as RFC 6266 asks."""
    ascii_name = "".join(
        character if character.isascii() and (character.isalnum() or character in "-_.") else "_"
        for character in filename
    )
    return (
        f"attachment; filename=\"{ascii_name or 'bilaga.pdf'}\"; filename*=UTF-8''{quote(filename)}"
    )


def include_letter_page(app: FastAPI, *, mask_recipients: MaskRecipients) -> None:
    """Add the letter's page, its status, attachment downloads and cancelling to the app.

    `mask_recipients` says which recipients a registrator may not see (records.masking).
    """
    app.state.desk_mask_recipients = mask_recipients

    @app.get(LETTER_PATH, response_class=HTMLResponse, include_in_schema=False)
    def letter_page(letter_id: uuid.UUID, request: Request, user: ReadingUser) -> HTMLResponse:
        with sessions(request)() as session:
            letter = ScopedLetters(session, letter_scope(user)).letter(str(letter_id))
            if letter is None:
                return not_found_page(request, user)
            context = _letter_context(request, session, user, letter)
        log_reading(request, user, OPEN, letter_id=str(letter_id), detail={"vy": "Skickat"})
        return TEMPLATES.TemplateResponse(request, "brev_visa.html", context)

    @app.get(LETTER_PATH + "/status", include_in_schema=False)
    def letter_status(letter_id: uuid.UUID, request: Request, user: ReadingUser) -> JSONResponse:
        with sessions(request)() as session:
            letters = ScopedLetters(session, letter_scope(user))
            letter = letters.letter(str(letter_id))
            if letter is None:
                return JSONResponse({"detail": NOT_FOUND, "errors": []}, status_code=404)
            cancellable = user.role in CANCEL_ROLES and letters.cancellable(letter, utc_now())
            body = status_json(
                letter, letters.events(letter), local_times(request), cancellable=cancellable
            )
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get(LETTER_PATH + "/bilagor/{position:int}", include_in_schema=False)
    def attachment(
        letter_id: uuid.UUID, position: int, request: Request, user: ReadingUser
    ) -> Response:
        if position > MAX_ATTACHMENTS:  # a number no database column holds is no attachment
            return JSONResponse({"detail": NOT_FOUND, "errors": []}, status_code=404)
        with sessions(request)() as session:
            found = ScopedLetters(session, letter_scope(user)).attachment(str(letter_id), position)
            if found is None:
                return JSONResponse({"detail": NOT_FOUND, "errors": []}, status_code=404)
            if found.content is None:
                return JSONResponse({"detail": CONTENT_REMOVED, "errors": []}, status_code=410)
            content, content_type, filename = found.content, found.content_type, found.filename
        log_reading(
            request,
            user,
            OPEN,
            letter_id=str(letter_id),
            detail={"vy": "Skickat", "bilaga": filename},
        )
        return Response(
            content,
            media_type=content_type,
            headers={"Content-Disposition": _download_name(filename)},
        )

    @app.post(LETTER_PATH + "/makulera", response_class=HTMLResponse, include_in_schema=False)
    def cancel(letter_id: uuid.UUID, request: Request, user: CancellingUser) -> Response:
        return _cancel(request, user, str(letter_id))


def _cancel(request: Request, user: WebUser, letter_id: str) -> Response:
    """Cancel the letter and show it again; a letter that has gone out stays as it is."""
    settings: Settings = request.app.state.settings
    with sessions(request)() as session:
        letter = ScopedLetters(session, letter_scope(user)).letter(letter_id)
        if letter is None:
            return not_found_page(request, user)
        system = SendingSystemRepository(session).get(letter.sending_system_id)
        if system is None:
            return not_found_page(request, user)
        try:
            LetterService(session, settings).cancel(system, letter_id, actor=f"web:{user.username}")
            session.commit()
        except (LetterNotCancellableError, LetterNotFoundError) as error:
            session.rollback()
            context = _letter_context(request, session, user, letter)
            context["error"] = f"{str(error)[:1].upper()}{str(error)[1:]}."
            return TEMPLATES.TemplateResponse(request, "brev_visa.html", context, status_code=409)
    return RedirectResponse(f"{LETTERS_PATH}/{letter_id}?makulerat=1", status_code=303)
