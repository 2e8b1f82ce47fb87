"""A letter's record `/arkiv/brev/{id}`: the letter as a record, its holds, its disclosure.

The page shows the letter as an official record; from it a hold is placed on the letter, and
the record is produced for disclosure (utlämnande).

A letter outside the person's scope (another organisation's, for a registrator) answers 404,
exactly as one that does not exist. Opening the record and producing it for disclosure are
each written to the access log before the answer is sent.

The disclosure is a PDF of the letter, its attachments and its timeline
(`records.record_pdf`), with a protected recipient masked, and marked "Sekretess kan gälla –
pröva före utlämnande" when the letter's protection class is 2 or 3 or its recipient has a
protected identity (`record_facts.secrecy_may_apply`). Protection class 2 and 3 are what a
sending system chooses for content that may fall under secrecy, whatever the records rule:
a registered letter of class 2 needs the same trial as one kept in order, so the rule plays
no part in the marking. Only class 1 letters to people without protected identity go out
unmarked.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from utskick.letters.models import Letter
from utskick.letters.search import ScopedLetters
from utskick.records.holds import HoldInputError, holds_for_letter, place_hold
from utskick.records.record_facts import SECRECY_MARKING, record_facts, secrecy_may_apply
from utskick.records.record_pdf import load_record_document, render_record_pdf
from utskick.records.record_views import hold_views, organisation_names
from utskick.records.routes_common import (
    DISCLOSURE_PATH,
    LETTER_HOLDS_PATH,
    RECORD_PATH,
    RECORD_PREFIX,
    TEMPLATES,
    FormText,
    RecordsUser,
    actor_of,
    local_times,
    log_reading,
    masking_of,
    notice_of,
    records_sessions,
    utc_now,
)
from utskick.web.access_log import DISCLOSURE, OPEN
from utskick.web.csrf import issue_csrf_token
from utskick.web.menu import letter_scope
from utskick.web.users import WebUser

NOT_FOUND = (
    "Det finns inget brev med den adressen som du kan se. Det kan tillhöra en annan "
    "organisation, eller ha gallrats; sök bland breven under Skickat."
)


def not_found_page(request: Request, user: WebUser) -> HTMLResponse:
    """The page for a letter that does not exist or is outside the person's scope."""
    return TEMPLATES.TemplateResponse(
        request, "arkiv_saknas.html", {"user": user, "message": NOT_FOUND}, status_code=404
    )


def _scoped_letter(session: Session, user: WebUser, letter_id: str) -> Letter | None:
    return ScopedLetters(session, letter_scope(user)).letter(letter_id)


def record_page(
    request: Request,
    user: WebUser,
    letter_id: str,
    *,
    error: str | None = None,
    typed_reason: str = "",
) -> HTMLResponse:
    """The record page; with an error (400) when a hold could not be placed or released.

    Only a page shown without an error is an opened letter for the access log: the page
    after a refused form was opened, and logged, just before.
    """
    times = local_times(request)
    with records_sessions(request)() as session:
        letter = _scoped_letter(session, user, letter_id)
        if letter is None:
            return not_found_page(request, user)
        masking = masking_of(request, session, [letter])
        holds = holds_for_letter(session, letter)
        context: dict[str, Any] = {
            "user": user,
            "csrf_token": issue_csrf_token(request),
            "letter": letter,
            "facts": record_facts(
                session,
                letter,
                times,
                hidden_recipient=masking.hidden_text(letter),
                held=bool(holds),
            ),
            "holds": hold_views(holds, times, organisation_names(session)),
            "masking_note": masking.note,
            "marking": SECRECY_MARKING,
            "record_path": f"{RECORD_PREFIX}{letter.id}",
            "notice": None if error else notice_of(request),
            "error": error,
            "typed_reason": typed_reason,
        }
    if error is None:
        log_reading(request, user, OPEN, letter_id=letter_id, detail={"vy": "Arkiv"})
    status = 400 if error else 200
    return TEMPLATES.TemplateResponse(request, "arkiv_brev.html", context, status_code=status)


def _download_name(letter: Letter) -> str:
    return f'attachment; filename="utlamnande-{letter.id}.pdf"'


def disclosure(request: Request, user: WebUser, letter_id: str) -> Response:
    """The letter's record as a PDF for disclosure, masked and marked by the module's rule."""
    with records_sessions(request)() as session:
        letter = _scoped_letter(session, user, letter_id)
        if letter is None:
            return not_found_page(request, user)
        masked = masking_of(request, session, [letter]).masks(letter)
        marked = secrecy_may_apply(letter, recipient_protected=masked)
        document = load_record_document(
            session, letter_id, mask_identity=masked, time_zone=local_times(request).zone.key
        )
        if document is None:
            return not_found_page(request, user)
        headers = {"Content-Disposition": _download_name(letter), "Cache-Control": "no-store"}
    pdf = render_record_pdf(document, marking=SECRECY_MARKING if marked else None)
    log_reading(
        request,
        user,
        DISCLOSURE,
        letter_id=letter_id,
        detail={"markerat": marked, "skyddad_identitet_maskerad": masked, "byte": len(pdf)},
    )
    return Response(pdf, media_type="application/pdf", headers=headers)


def include_record_pages(app: FastAPI) -> None:
    """Add a letter's record, its holds and its disclosure to the app (`include_records_pages`)."""

    @app.get(RECORD_PATH, response_class=HTMLResponse, include_in_schema=False)
    def record(letter_id: uuid.UUID, request: Request, user: RecordsUser) -> HTMLResponse:
        return record_page(request, user, str(letter_id))

    @app.post(LETTER_HOLDS_PATH, include_in_schema=False)
    def place_letter_hold(
        letter_id: uuid.UUID, request: Request, user: RecordsUser, skal: FormText = ""
    ) -> Response:
        with records_sessions(request)() as session:
            letter = _scoped_letter(session, user, str(letter_id))
            if letter is None:
                return not_found_page(request, user)
            try:
                place_hold(
                    session,
                    sender_number=letter.sender_number,
                    reason=skal,
                    actor=actor_of(user),
                    now=utc_now(),
                    letter_id=letter.id,
                )
                session.commit()
            except HoldInputError as error:
                session.rollback()
                return record_page(
                    request, user, str(letter_id), error=str(error), typed_reason=skal
                )
        return RedirectResponse(f"{RECORD_PREFIX}{letter_id}?sparr=lagd", status_code=303)

    @app.post(DISCLOSURE_PATH, include_in_schema=False)
    def produce_disclosure(letter_id: uuid.UUID, request: Request, user: RecordsUser) -> Response:
        return disclosure(request, user, str(letter_id))
