"""The records role's search in the API: `GET /api/v1/arkiv/brev`, read only.

The rest of the API is for sending systems, with API keys, and shows each system its own
letters. This search is for people: a registrator logged in to the web app (session cookie,
HTTP Basic or single sign-on) searches every letter of their organisation, and the
installation's administrator every organisation's, each letter with its record (rule,
keeper, registration, retention). Each search is written to the access log, and a recipient
with a protected identity is masked (`recipient` null, `recipient_protected` true; see
`records.masking`).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.jobs.queue import utc
from utskick.letters import vocabulary
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.letters.models import Letter
from utskick.letters.search import LetterFilters, ScopedLetters
from utskick.records.masking import Masking
from utskick.records.models import LetterRecord
from utskick.records.record_views import records_of
from utskick.records.routes_common import (
    RecordsUser,
    log_reading,
    masking_of,
    records_sessions,
    share_records_state,
)
from utskick.settings import Settings
from utskick.web.access_log import SEARCH
from utskick.web.auth import USER_ERRORS
from utskick.web.errors import ErrorResponse
from utskick.web.menu import LetterScope, letter_scope
from utskick.web.users import WebUser

API_PATH = "/api/v1/arkiv/brev"
MAX_PER_PAGE = 200
MAX_PAGE = 100_000
Channel = Literal["digital", "paper", "none"]
Rule = Literal["register", "kept_in_order", "journal", "no_record"]
Keeper = Literal["system", "utskick"]
Registration = Literal["none", "pending", "registered", "exported"]


class RecordOut(BaseModel):
    """The letter as a record: kept by which rule and keeper, registered, due for disposal."""

    rule: Rule = Field(description="register, kept_in_order, journal or no_record.")
    keeper: Keeper = Field(description="Who keeps the record: the sending system or Utskick.")
    decision: str | None = Field(description="The disposal decision the periods rest on.")
    registration: Registration
    registered_at: dt.datetime | None
    content_due: dt.date | None = Field(
        description="The day the content may be disposed of; null: kept until archived."
    )
    metadata_due: dt.date | None = Field(
        description="The day the letter's metadata may be disposed of; null: kept for ever."
    )
    content_disposed_at: dt.datetime | None
    archived_at: dt.datetime | None


class RecordLetterOut(BaseModel):
    """A letter of the organisation, its recipient masked if protected."""

    id: str
    created_at: dt.datetime
    sender: str = Field(description="The sender organisation, 10 digits.")
    department: str | None
    recipient: str | None = Field(
        description="12 digits; null when the recipient has a protected identity."
    )
    recipient_protected: bool = Field(
        description="The recipient is masked: a protected identity, or the population "
        "register could not be asked (then `note` says so)."
    )
    subject: str
    case_number: str | None
    reference: str | None
    registration_number: str | None = Field(
        description="The number the case or records system registered the letter under."
    )
    message_type: str | None
    protection_class: int
    state: vocabulary.State
    channel: str | None = Field(description="digital, paper or none, once chosen.")
    record: RecordOut | None = Field(description="null until the letter has ended.")


class RecordSearchOut(BaseModel):
    """One page of matching letters, newest first."""

    total: int
    page: int
    per_page: int
    pages: int
    note: str | None = Field(description="Why every person is masked on this page, if they are.")
    letters: list[RecordLetterOut]


class SearchInputError(ValueError):
    """A criterion that cannot be used, with its field and a Swedish message."""

    def __init__(self, field: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.field = field
        self.status = status

    def answer(self) -> JSONResponse:
        """The error in the API's one shape."""
        body = {"detail": str(self), "errors": [{"field": self.field, "message": str(self)}]}
        return JSONResponse(body, status_code=self.status)


def _utc_or_none(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else utc(moment)


def _record_out(record: LetterRecord | None) -> RecordOut | None:
    if record is None:
        return None
    return RecordOut.model_validate(
        {
            "rule": record.rule,
            "keeper": record.keeper,
            "decision": record.decision,
            "registration": record.registration,
            "registered_at": _utc_or_none(record.registered_at),
            "content_due": record.content_due,
            "metadata_due": record.metadata_due,
            "content_disposed_at": _utc_or_none(record.content_disposed_at),
            "archived_at": _utc_or_none(record.archived_at),
        }
    )


def _letter_out(letter: Letter, record: LetterRecord | None, masking: Masking) -> RecordLetterOut:
    masked = masking.masks(letter)
    return RecordLetterOut.model_validate(
        {
            "id": letter.id,
            "created_at": utc(letter.created_at),
            "sender": letter.sender_number,
            "department": letter.department,
            "recipient": None if masked else letter.recipient_id,
            "recipient_protected": masked,
            "subject": letter.subject,
            "case_number": letter.case_number,
            "reference": letter.reference,
            "registration_number": letter.registration_number,
            "message_type": letter.message_type,
            "protection_class": letter.protection_class,
            "state": letter.state,
            "channel": letter.channel,
            "record": _record_out(record),
        }
    )


def _recipients(typed: str | None) -> tuple[str, ...]:
    if not typed:
        return ()
    try:
        return (parse_identity(typed).value,)
    except InvalidIdentityError as error:
        message = f"mottagaren är inget giltigt identitetsnummer: {error}"
        raise SearchInputError("recipient", message) from None


def _sender(typed: str | None, scope: LetterScope) -> str | None:
    """The organisation asked for; someone of one organisation may ask only for their own."""
    if not typed:
        return None
    try:
        number = parse_organisation(typed).organisation_number
    except InvalidIdentityError as error:
        raise SearchInputError(
            "sender", f"avsändaren är inget organisationsnummer: {error}"
        ) from None
    own = scope.organisation_number
    if own is not None and number != own:
        message = (
            f"du ser din egen organisations brev ({parse_organisation(own).display}) och kan "
            "inte söka bland en annan organisations"
        )
        raise SearchInputError("sender", message, status=403)
    return number


def _local_day_start(day: dt.date, zone: str) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)


def _period(
    first: dt.date | None, last: dt.date | None, zone: str
) -> tuple[dt.datetime | None, dt.datetime | None]:
    if first is not None and last is not None and last < first:
        message = f"created_to ({last}) ligger före created_from ({first}); byt plats på dem"
        raise SearchInputError("created_to", message)
    try:
        start = _local_day_start(first, zone) if first is not None else None
        end = _local_day_start(last + dt.timedelta(days=1), zone) if last is not None else None
    except OverflowError:
        raise SearchInputError(
            "created_to", "datumet ligger utanför det som går att söka på"
        ) from None
    return start, end


class SearchCriteria:
    """The search's query parameters (FastAPI reads them from this signature)."""

    def __init__(  # noqa: PLR0917 (each query parameter is one criterion)
        self,
        recipient: Annotated[
            str | None, Query(max_length=20, description="Identity number.")
        ] = None,
        subject: Annotated[
            str | None, Query(max_length=200, description="Text the subject contains.")
        ] = None,
        case_number: Annotated[
            str | None, Query(max_length=200, description="Case number or its beginning.")
        ] = None,
        department: Annotated[str | None, Query(max_length=200)] = None,
        sender: Annotated[
            str | None,
            Query(max_length=20, description="Organisationsnummer; a registrator's own only."),
        ] = None,
        state: Annotated[vocabulary.State | None, Query()] = None,
        channel: Annotated[Channel | None, Query()] = None,
        created_from: Annotated[
            dt.date | None, Query(description="First local day, inclusive.")
        ] = None,
        created_to: Annotated[
            dt.date | None, Query(description="Last local day, inclusive.")
        ] = None,
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        per_page: Annotated[int, Query(ge=1, le=MAX_PER_PAGE)] = 50,
    ) -> None:
        self.recipient = recipient
        self.subject = subject
        self.case_number = case_number
        self.department = department
        self.sender = sender
        self.state = state
        self.channel = channel
        self.created_from = created_from
        self.created_to = created_to
        self.page = page
        self.per_page = per_page

    def asked(self) -> dict[str, object]:
        """The criteria given, as the access log keeps them."""
        names = ("recipient", "subject", "case_number", "department", "sender", "state",
                 "channel", "created_from", "created_to")  # fmt: skip
        return {
            name: str(getattr(self, name))
            for name in names
            if getattr(self, name) not in {None, ""}
        }

    def filters(self, scope: LetterScope, zone: str) -> LetterFilters:
        """The search within the scope.

        Raises:
            SearchInputError: a criterion cannot be used (or is another organisation).
        """
        start, end = _period(self.created_from, self.created_to, zone)
        return LetterFilters(
            recipient_ids=_recipients(self.recipient),
            subject=self.subject or None,
            case_number=self.case_number or None,
            created_from=start,
            created_before=end,
            state=self.state,
            channel=self.channel,
            department=self.department,
            sender_number=_sender(self.sender, scope),
        )


def include_records_api(
    app: FastAPI, *, protection: Callable[[], ProtectedIdentityLookup | None]
) -> None:
    """Add the records search to the API of an app with auth included."""
    share_records_state(app, protection)

    @app.get(
        API_PATH,
        tags=["arkiv"],
        summary="Sök bland organisationens brev som allmänna handlingar",
        response_model=RecordSearchOut,
        responses=USER_ERRORS
        | {403: {"model": ErrorResponse, "description": USER_ERRORS[403]["description"]}},
    )
    def search_records(
        request: Request, user: RecordsUser, criteria: Annotated[SearchCriteria, Depends()]
    ) -> Any:
        """Every letter of the registrator's organisation (an administrator: of every one).

        Newest first, with its record. Log in as a web user with the role records or admin
        (HTTP Basic, or the web app's session). Protected identities are masked; each search
        is written to the access log.
        """
        settings: Settings = request.app.state.settings
        scope = letter_scope(user)
        try:
            filters = criteria.filters(scope, settings.print_timezone)
        except SearchInputError as error:
            return error.answer()
        return _search(request, user, scope, filters, criteria)


def _search(
    request: Request,
    user: WebUser,
    scope: LetterScope,
    filters: LetterFilters,
    criteria: SearchCriteria,
) -> RecordSearchOut:
    page, per_page = criteria.page, criteria.per_page
    with records_sessions(request)() as session:
        found = ScopedLetters(session, scope).search(filters, page=page, per_page=per_page)
        masking = masking_of(request, session, found.letters)
        records = records_of(session, [letter.id for letter in found.letters])
        answer = RecordSearchOut(
            total=found.total,
            page=found.page,
            per_page=per_page,
            pages=max(1, math.ceil(found.total / per_page)),
            note=masking.note,
            letters=[
                _letter_out(letter, records.get(letter.id), masking) for letter in found.letters
            ],
        )
    detail = {
        "via": "API",
        **criteria.asked(),
        "sida": found.page,
    }
    log_reading(request, user, SEARCH, detail=detail, result_count=found.total)
    return answer
