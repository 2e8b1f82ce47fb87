"""Skickat (`/brev`): search the letters the person's role lets them see, newest first.

Officers and department administrators see their department's letters, registrators every
letter of their organisation, administrators every letter of the installation; management
has no access. Every letter counts, whichever way it came in (the API, a batch, the CLI or
the web). A filter that cannot be read is named next to its field, and nothing is searched.

The search form is posted (`POST /brev`) and sent on to `GET /brev?...` with the recipient's
number sealed, so that no identity number stands in a URL or a web server's log.

Every list shown is a search of letters, the first page without filters too: each is written
to the access log (`utskick.web.access_log`) with its filters as typed and the number of
letters found. A registrator sees a protected recipient masked (`letter_page.recipient_text`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from utskick.desk.letter_page import (
    LETTERS_PATH,
    TEMPLATES,
    MaskedRecipients,
    MaskRecipients,
    ReadingUser,
    include_letter_page,
    local_times,
    log_reading,
    masked_recipients,
    recipient_text,
    sessions,
)
from utskick.desk.letter_views import LetterRow, identity_display, letter_row
from utskick.desk.sent_filters import (
    FIELDS,
    PAGE_FIELD,
    RecipientSeal,
    SearchForm,
    page_number,
    read_form,
)
from utskick.letters import vocabulary
from utskick.letters.search import ScopedLetters, SearchPage
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings
from utskick.web.access_log import SEARCH
from utskick.web.csrf import issue_csrf_token
from utskick.web.menu import LetterScope, letter_scope
from utskick.web.users import WebUser


@dataclasses.dataclass(frozen=True)
class Results:
    """One page of results, its rows and the links to the pages beside it."""

    page: SearchPage
    rows: list[LetterRow]
    previous_url: str | None
    next_url: str | None


def _seal(request: Request) -> RecipientSeal:
    secret: str = request.app.state.session_secret
    return RecipientSeal(secret)


def include_sent_letters(app: FastAPI, *, mask_recipients: MaskRecipients) -> None:
    """Add Skickat (`/brev`) and each letter's page to an app with auth included.

    `mask_recipients` says which recipients a registrator may not see (records.masking).
    """

    @app.post(LETTERS_PATH, include_in_schema=False)
    async def search_letters(request: Request, user: ReadingUser) -> RedirectResponse:
        """The posted search form, sent on to its results with the recipient sealed."""
        letter_scope(user)  # NoScopeError (403) for a person without scope
        async with request.form(max_files=0, max_fields=len(FIELDS) + 5) as posted:
            typed = {name: value for name, value in posted.items() if isinstance(value, str)}
        form = SearchForm.from_query(typed, _seal(request))
        return RedirectResponse(
            f"{LETTERS_PATH}?{urlencode(form.query(_seal(request)))}", status_code=303
        )

    @app.get(LETTERS_PATH, response_class=HTMLResponse, include_in_schema=False)
    def sent_letters(request: Request, user: ReadingUser) -> HTMLResponse:
        scope = letter_scope(user)
        form = SearchForm.from_query(request.query_params, _seal(request))
        settings: Settings = request.app.state.settings
        today = dt.datetime.now(ZoneInfo(settings.print_timezone)).date()
        read = read_form(form, zone=settings.print_timezone, today=today)
        with sessions(request)() as session:
            context = _choices(session, scope)
            results = None
            if read.filters is not None:
                page = ScopedLetters(session, scope).search(
                    read.filters, page=page_number(request.query_params.get(PAGE_FIELD))
                )
                masked = masked_recipients(request, session, user, page.letters)
                results = _results(request, form, page, masked)
        if results is not None:
            log_reading(
                request,
                user,
                SEARCH,
                detail=_search_detail(form, results.page),
                result_count=results.page.total,
            )
        context.update(
            {
                "user": user,
                "form": form,
                "csrf_token": issue_csrf_token(request),
                # The list's value is the ten digits, however the query wrote the number.
                "selected_sender": read.filters.sender_number if read.filters else form.sender,
                "errors": read.errors,
                "hints": read.hints,
                "results": results,
                "scope_text": _scope_text(user, scope),
                "states": [(state, vocabulary.state_text(state)) for state in vocabulary.STATES],
                "channels": list(vocabulary.CHANNEL_TEXTS.items()),
            }
        )
        status = 400 if read.errors else 200
        return TEMPLATES.TemplateResponse(request, "brev.html", context, status_code=status)

    include_letter_page(app, mask_recipients=mask_recipients)


def _choices(session: Session, scope: LetterScope) -> dict[str, Any]:
    """The choices of the form's lists: only what is in the person's scope."""
    letters = ScopedLetters(session, scope)
    organisations = []
    if scope.everything:
        organisations = [
            (
                sender.organisation_number,
                f"{sender.name} ({identity_display(sender.organisation_number)})",
            )
            for sender in SenderRepository(session).all()
        ]
    return {
        "systems": letters.sending_systems(),
        "departments": letters.departments() if scope.department is None else [],
        "organisations": organisations,
        "show_department_choice": scope.department is None,
    }


def _search_detail(form: SearchForm, page: SearchPage) -> dict[str, object]:
    """The search as the access log keeps it: the filters by their Swedish names, as typed."""
    typed: dict[str, object] = {
        name: getattr(form, field) for field, name in FIELDS.items() if getattr(form, field)
    }
    typed[PAGE_FIELD] = page.page
    return typed


def _results(
    request: Request, form: SearchForm, page: SearchPage, masked: MaskedRecipients | None
) -> Results:
    times = local_times(request)
    seal = _seal(request)

    def page_url(number: int) -> str:
        return f"{LETTERS_PATH}?{urlencode(form.query(seal, **{PAGE_FIELD: str(number)}))}"

    return Results(
        page=page,
        rows=[
            dataclasses.replace(letter_row(letter, times), recipient=recipient_text(letter, masked))
            for letter in page.letters
        ],
        previous_url=page_url(page.page - 1) if page.page > 1 else None,
        next_url=page_url(page.page + 1) if page.page < page.pages else None,
    )


def _scope_text(user: WebUser, scope: LetterScope) -> str:
    """Whose letters the person sees, in a sentence."""
    if scope.everything:
        return "Du ser alla organisationers brev."
    if scope.department is None:
        return "Du ser alla brev från din organisation, oavsett förvaltning."
    if scope.department == "":
        return "Du ser de brev från din organisation som inte hör till någon förvaltning."
    return f"Du ser brev från {user.department}."
