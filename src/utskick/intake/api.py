"""The REST API at `/api/v1`: hand letters over, follow them, ask which channel they would take.

Each request is its own unit of work: it opens a session, lets the letter service do its
checks, and commits. Endpoints that touch the database are plain `def` functions, so they run
in the thread pool; the batch endpoint streams its body in the event loop and hands each chunk
of lines to the thread pool. A sending system sees only its own letters: another system's
letter answers 404, exactly as a letter that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from utskick.db.engine import session_factory
from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.intake.schemas import (
    AttachmentOut,
    BatchOut,
    BatchProgressOut,
    BatchRejection,
    DecisionOut,
    EventOut,
    IdempotencyConflictOut,
    LetterIn,
    LetterOut,
    LetterPageOut,
    LetterSummary,
    PrecheckIn,
    PrecheckOut,
    State,
)
from utskick.letters import events
from utskick.letters.address_screen import ProtectedIdentityLookup, Screened, screen_addresses
from utskick.letters.models import Batch, Letter
from utskick.letters.repository import LetterRepository, LetterSearch
from utskick.letters.service import (
    AttachmentInput,
    IdempotencyConflictError,
    LetterInput,
    LetterNotCancellableError,
    LetterNotFoundError,
    LetterRejectedError,
    LetterService,
    utc_now,
)
from utskick.senders.api_keys import AuthenticationError, authenticate
from utskick.senders.models import SendingSystem
from utskick.settings import Settings
from utskick.switch.precheck import FarUnavailableError, Precheck
from utskick.web.errors import ErrorResponse, swedish_error, swedish_validation_error
from utskick.web.json_guard import DuplicateKeyError, StrictJsonBodies, loads_strict
from utskick.web.limits import MAX_JSON_BODY_BYTES, BodySizeLimit
from utskick.web.query_guard import SingleQueryValues

API_PREFIX = "/api/v1"
# A batch commits every so many lines, so that memory and transactions stay small ...
BATCH_COMMIT_LINES = 500
# ... or earlier, once the lines waiting hold this many bytes (attachments make lines big).
BATCH_COMMIT_BYTES = 16 * 1024 * 1024
# A line longer than this cannot be a letter of at most 2 MB on the wire.
MAX_BATCH_LINE_BYTES = 4 * 1024 * 1024
STORED_REJECTIONS = 1000
ANSWERED_REJECTIONS = 100

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Anropets innehåll kan inte läsas."},
    401: {"model": ErrorResponse, "description": "API-nyckel saknas, är okänd eller återkallad."},
    413: {"model": ErrorResponse, "description": "Anropet är större än 4 MB."},
    422: {"model": ErrorResponse, "description": "Felaktig indata; varje fel fält är namngivet."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Inget sådant brev för detta system."}
}

router = APIRouter(prefix=API_PREFIX, responses=_ERRORS)
_bearer = HTTPBearer(
    auto_error=False, description="`Authorization: Bearer uk_…` med systemets API-nyckel."
)
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Systemets API-nyckel (alternativ till Bearer)."
)


class ApiError(Exception):
    """An error answer with a Swedish message (and the fields it concerns, for bad input)."""

    def __init__(
        self,
        status_code: int,
        detail: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        letter_id: str | None = None,
    ) -> None:
        self.status_code = status_code
        self.detail = detail
        self.field = field
        self.headers = headers
        self.letter_id = letter_id
        self.errors: list[dict[str, str | None]] = (
            [{"field": field, "message": detail}] if field else []
        )
        super().__init__(detail)


def include_intake_api(
    app: FastAPI,
    *,
    precheck: Callable[[], Precheck],
    protection: Callable[[], ProtectedIdentityLookup | None],
) -> None:
    """Mount the API on an app whose `state` holds `engine` and `settings`.

    Args:
        app: the app.
        precheck: the process's precheck (its FaR client and cache are shared); raises
            `FarUnavailableError` when FaR cannot be asked.
        protection: the population register as the intake asks it, or None when no register
            can be asked (an address given is then refused rather than stored).
    """
    app.state.sessions = session_factory(app.state.engine)
    app.state.intake_precheck = precheck
    app.state.intake_protection = protection
    app.include_router(router)
    # Added first, so that it runs inside the size limit: it reads bodies already bounded.
    app.add_middleware(StrictJsonBodies, prefix=API_PREFIX, exempt=f"{API_PREFIX}/batches")
    app.add_middleware(
        BodySizeLimit,
        prefix=API_PREFIX,
        exempt=f"{API_PREFIX}/batches",
        limit=MAX_JSON_BODY_BYTES,
    )
    app.add_middleware(SingleQueryValues, prefix=API_PREFIX)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, swedish_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


# --- plumbing ------------------------------------------------------------------------------


def _sessions(request: Request) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def current_system(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> SendingSystem:
    """The sending system whose API key came with the request (401 otherwise)."""
    # A request must not leave it to us which of two credentials counts: a malformed
    # Authorization header, or two different keys, is refused even if one key would pass.
    if bearer is None and request.headers.get("authorization") is not None:
        raise ApiError(
            401,
            "huvudet Authorization ska ha formen 'Bearer <nyckel>'; rätta det eller ta bort "
            "det och skicka nyckeln i X-API-Key",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if bearer is not None and api_key is not None and bearer.credentials != api_key:
        raise ApiError(
            401,
            "anropet har två olika API-nycklar (Authorization och X-API-Key); skicka en av dem",
            headers={"WWW-Authenticate": "Bearer"},
        )
    presented = bearer.credentials if bearer is not None else api_key
    with _sessions(request)() as session:
        try:
            # The session closes here: the system is used detached, with its columns loaded.
            return authenticate(session, presented)
        except AuthenticationError as error:
            raise ApiError(401, str(error), headers={"WWW-Authenticate": "Bearer"}) from None


System = Annotated[SendingSystem, Depends(current_system)]

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


def _rfc3339(value: object) -> dt.datetime:
    """Only the RFC 3339 form the description promises (not numbers or bare dates)."""
    text = value.upper() if isinstance(value, str) else ""
    if not _RFC3339.fullmatch(text):
        raise ValueError("ska vara en tidpunkt med tidszon, t.ex. 2026-11-27T10:00:00Z")
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("tidpunkten finns inte i kalendern") from None


Rfc3339 = Annotated[dt.datetime, BeforeValidator(_rfc3339)]
LetterId = Annotated[str, PathParam(max_length=36, description="The letter's id.")]


def _actor(system: SendingSystem) -> str:
    return f"api:{system.name}"


async def _api_error(_request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    extra = {} if error.letter_id is None else {"letter_id": error.letter_id}
    return JSONResponse(
        {"detail": error.detail, "errors": error.errors, **extra},
        status_code=error.status_code,
        headers=error.headers,
    )


# FastAPI's own phrase when it cannot decode a body at all.
_UNPARSEABLE_BODY = "There was an error parsing the body"
_HTTP_MESSAGES = {
    400: "anropets innehåll kan inte läsas; skicka giltig JSON i UTF-8",
    404: "adressen finns inte i API:t; se /docs",
    405: "metoden stöds inte för denna adress; se /docs",
}


async def _http_error(request: Request, error: Exception) -> Response:
    """Errors raised by the framework itself, in Swedish on the API's paths."""
    assert isinstance(error, StarletteHTTPException)
    if not request.url.path.startswith(API_PREFIX):
        return await http_exception_handler(request, error)
    # Only the framework's own English phrase is replaced; a message an endpoint wrote stays.
    framework_phrase = error.detail in (HTTPStatus(error.status_code).phrase, _UNPARSEABLE_BODY)
    detail = (
        _HTTP_MESSAGES.get(error.status_code, str(error.detail))
        if framework_phrase
        else str(error.detail)
    )
    headers = dict(getattr(error, "headers", None) or {})
    if error.status_code == 405:  # noqa: PLR2004
        # Name every method of the path, not only those of the one route that matched.
        headers["Allow"] = ", ".join(_methods_of(request))
    return JSONResponse(
        {"detail": detail, "errors": []}, status_code=error.status_code, headers=headers
    )


def _methods_of(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(request.url.path):
            methods |= route.methods or set()
    return sorted(methods)


def letter_input(body: LetterIn, header_key: str | None = None) -> LetterInput:
    """The service's input from an API body; attachments are decoded from base64.

    Raises:
        LetterRejectedError: an attachment is not valid base64, or two different
            idempotency keys were given.
    """
    if header_key is not None and body.idempotency_key not in (None, header_key):
        raise LetterRejectedError(
            "idempotency_key",
            "huvudet Idempotency-Key och fältet idempotency_key har olika värden; ange ett av dem",
        )
    attachments = []
    for index, attachment in enumerate(body.attachments):
        try:
            content = base64.b64decode(attachment.content_base64, validate=True)
        except (binascii.Error, ValueError):
            raise LetterRejectedError(
                f"attachments[{index}].content_base64",
                f"bilagan {attachment.filename} är inte giltig base64; koda PDF-filen med "
                "standardalfabetet och utfyllnad (=)",
            ) from None
        attachments.append(
            AttachmentInput(
                filename=attachment.filename,
                content=content,
                channel=attachment.channel,
                content_type=attachment.content_type,
            )
        )
    return LetterInput(
        sender=body.sender,
        recipient=body.recipient,
        subject=body.subject,
        body=body.body,
        body_type=body.body_type,
        attachments=tuple(attachments),
        protection_class=body.protection_class,
        message_type=body.message_type,
        policy=body.policy,
        department=body.department,
        eservice_url=body.eservice_url,
        case_number=body.case_number,
        reference=body.reference,
        idempotency_key=header_key if header_key is not None else body.idempotency_key,
        postal_address=body.address.model_dump() if body.address is not None else None,
    )


def _rejected(error: LetterRejectedError) -> ApiError:
    return ApiError(422, error.message, field=error.field)


def _aware(moment: dt.datetime) -> dt.datetime:
    """A stored time with its zone: SQLite gives times back without one, and they are UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _maybe_aware(moment: dt.datetime | None) -> dt.datetime | None:
    return None if moment is None else _aware(moment)


def _summary(letter: Letter) -> LetterSummary:
    return LetterSummary.model_validate(_summary_fields(letter))


def _summary_fields(letter: Letter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "state": letter.state,
        "channel": letter.channel,
        "reason": letter.reason,
        "sender": letter.sender_number,
        "recipient": letter.recipient_id,
        "subject": letter.subject,
        "department": letter.department,
        "case_number": letter.case_number,
        "reference": letter.reference,
        "batch_id": letter.batch_id,
        "created_at": _aware(letter.created_at),
        "updated_at": _aware(letter.updated_at),
    }


def _letter_out(letter: Letter) -> LetterOut:
    return LetterOut.model_validate(
        _summary_fields(letter)
        | {
            "policy": letter.policy,
            "protection_class": letter.protection_class,
            "message_type": letter.message_type,
            "idempotency_key": letter.idempotency_key,
            "message_id": letter.message_id,
            "operator_number": letter.operator_number,
            "trans_id": letter.trans_id,
            "deliver_by": _maybe_aware(letter.deliver_by),
            "attachments": [
                AttachmentOut(
                    position=a.position,
                    filename=a.filename,
                    content_type=a.content_type,
                    channel=a.channel,
                    size=a.size,
                    sha256=a.sha256,
                )
                for a in letter.attachments
            ],
        }
    )


# --- letters -------------------------------------------------------------------------------


@router.post(
    "/letters",
    tags=["brev"],
    summary="Lämna ett brev",
    status_code=201,
    response_model=LetterOut,
    responses={
        200: {"model": LetterOut, "description": "Samma idempotensnyckel och innehåll som förut."},
        409: {
            "model": IdempotencyConflictOut,
            "description": "Idempotensnyckeln används redan för ett brev med annat innehåll.",
        },
        503: {
            "model": ErrorResponse,
            "description": "En adress angavs, men folkbokföringen kan inte frågas om skyddad "
            "identitet just nu; försök igen senare.",
        },
    },
)
def submit_letter(
    body: LetterIn,
    request: Request,
    response: Response,
    system: System,
    idempotency_key: Annotated[
        str | None,
        Header(alias="Idempotency-Key", max_length=200, description="The caller's key."),
    ] = None,
) -> LetterOut:
    """Hand over one letter: 201 when stored now, 200 with the stored letter for a known key.

    The letter is checked whole (identity, sender and department scope, protection class,
    PDF attachments, restricted HTML, 2 MB on the wire) and stored with its first job. A key
    used before with other content answers 409 with the id of the letter stored under it.
    """
    try:
        letter = letter_input(body, idempotency_key)
    except LetterRejectedError as error:
        raise _rejected(error) from None
    # Asked before any transaction: an address given for a protected person is never stored.
    screened = _screen(request, [letter])
    if screened.unavailable is not None:
        raise ApiError(503, screened.unavailable, field="address", headers={"Retry-After": "30"})
    letter = screened.letters[0]
    for attempt in range(2):
        with _sessions(request)() as session:
            try:
                stored, created = LetterService(session, _settings(request)).accept(
                    system, letter, actor=_actor(system)
                )
                answer = _letter_out(stored)
                session.commit()
            except IdempotencyConflictError as error:
                raise ApiError(
                    409, error.message, field=error.field, letter_id=error.letter_id
                ) from None
            except LetterRejectedError as error:
                raise _rejected(error) from None
            except IntegrityError:
                # Another request stored the same idempotency key first: answer with its letter.
                session.rollback()
                if attempt:
                    raise
                continue
        response.status_code = 201 if created else 200
        return answer
    raise AssertionError("unreachable")  # pragma: no cover


def _protection(request: Request) -> ProtectedIdentityLookup | None:
    """The population register as the intake asks it (None: none can be asked)."""
    provider: Callable[[], ProtectedIdentityLookup | None] = request.app.state.intake_protection
    return provider()


def _screen(request: Request, letters: list[LetterInput]) -> Screened:
    """The letters with every given address screened (the register asked only if needed)."""
    if all(letter.postal_address is None for letter in letters):
        return Screened(letters)
    return screen_addresses(letters, _protection(request))


@router.get(
    "/letters/{letter_id}",
    tags=["brev"],
    summary="Ett brevs status",
    response_model=LetterOut,
    responses=_NOT_FOUND,
)
def get_letter(letter_id: LetterId, request: Request, system: System) -> LetterOut:
    """A letter's state, channel, reason, operator and TransId, and its attachments' metadata."""
    with _sessions(request)() as session:
        letter = LetterRepository(session).get_for_system(system.id, letter_id)
        if letter is None:
            raise _letter_not_found(letter_id)
        return _letter_out(letter)


def _letter_not_found(letter_id: str) -> ApiError:
    return ApiError(404, f"brevet {letter_id} finns inte (eller tillhör ett annat system)")


@router.get(
    "/letters/{letter_id}/events",
    tags=["brev"],
    summary="Ett brevs händelser",
    response_model=list[EventOut],
    responses=_NOT_FOUND,
)
def letter_events(letter_id: LetterId, request: Request, system: System) -> list[EventOut]:
    """Every transition of the letter, oldest first: time, actor, state, reason and detail."""
    with _sessions(request)() as session:
        repository = LetterRepository(session)
        if repository.get_for_system(system.id, letter_id) is None:
            raise _letter_not_found(letter_id)
        return [
            EventOut(
                event_id=event.event_id,
                at=_aware(event.at),
                actor=event.actor,
                state=event.state,
                reason=event.reason,
                detail=event.detail,
                data=event.data,
            )
            for event in repository.events(letter_id)
        ]


@router.get(
    "/letters",
    tags=["brev"],
    summary="Sök brev",
    response_model=LetterPageOut,
)
def search_letters(  # noqa: PLR0917 (each query parameter is one search criterion)
    request: Request,
    system: System,
    recipient: Annotated[str | None, Query(max_length=20, description="Identity number.")] = None,
    reference: Annotated[str | None, Query(max_length=200)] = None,
    case_number: Annotated[str | None, Query(max_length=200)] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[State | None, Query()] = None,
    batch_id: Annotated[str | None, Query(max_length=36)] = None,
    created_from: Annotated[Rfc3339 | None, Query(description="Inclusive.")] = None,
    created_to: Annotated[Rfc3339 | None, Query(description="Exclusive.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> LetterPageOut:
    """The system's letters matching every criterion given, newest first, one page at a time."""
    recipient_id = None
    if recipient is not None:
        try:
            recipient_id = parse_identity(recipient).value
        except InvalidIdentityError as error:
            raise ApiError(
                422, f"mottagaren är inget giltigt identitetsnummer: {error}", field="recipient"
            ) from None
    criteria = LetterSearch(
        recipient_id=recipient_id,
        reference=reference,
        case_number=case_number,
        department=department,
        state=state,
        batch_id=batch_id,
        created_from=_utc(created_from, "created_from"),
        created_to=_utc(created_to, "created_to"),
    )
    with _sessions(request)() as session:
        page = LetterRepository(session).search(system.id, criteria, limit=limit, offset=offset)
        return LetterPageOut(
            total=page.total,
            limit=limit,
            offset=offset,
            letters=[_summary(letter) for letter in page.letters],
        )


def _utc(moment: dt.datetime | None, field_name: str) -> dt.datetime | None:
    """A time as UTC; a time without a zone is taken to be UTC."""
    if moment is None:
        return None
    try:
        if moment.tzinfo is None:
            return moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ApiError(
            422, "tidpunkten ligger utanför det som går att söka på", field=field_name
        ) from None


@router.post(
    "/letters/{letter_id}/cancel",
    tags=["brev"],
    summary="Makulera ett brev",
    response_model=LetterOut,
    responses=_NOT_FOUND
    | {409: {"model": ErrorResponse, "description": "Brevet har redan gått iväg."}},
)
def cancel_letter(letter_id: LetterId, request: Request, system: System) -> LetterOut:
    """Cancel a letter that has not gone out; 409 once it has, or once an attempt was made."""
    with _sessions(request)() as session:
        try:
            letter = LetterService(session, _settings(request)).cancel(
                system, letter_id, actor=_actor(system)
            )
        except LetterNotFoundError:
            raise _letter_not_found(letter_id) from None
        except LetterNotCancellableError as error:
            raise ApiError(409, str(error)) from None
        answer = _letter_out(letter)
        session.commit()
        return answer


# --- batches -------------------------------------------------------------------------------

_NDJSON_BODY = {
    "requestBody": {
        "required": True,
        "description": "One letter (the same JSON object as POST /letters) per line.",
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": '{"sender": "2021004748", "recipient": "191212121212", '
                '"subject": "Beslut", "body": "Hej!", "protection_class": 2}\n',
            }
        },
    }
}


@dataclass
class _BatchIntake:
    """Reads a batch's lines in chunks; each chunk is checked, stored and committed at once."""

    sessions: sessionmaker[Session]
    settings: Settings
    system: SendingSystem
    # The population register, asked (outside the transaction) for lines with an address.
    protection: Callable[[], ProtectedIdentityLookup | None]
    batch_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    accepted: int = 0
    replayed: int = 0
    rejected: int = 0
    rejections: list[BatchRejection] = field(default_factory=list)

    def start(self) -> None:
        with self.sessions() as session:
            LetterRepository(session).add_batch(
                Batch(
                    id=self.batch_id,
                    sending_system_id=self.system.id,
                    created_at=utc_now(),
                    accepted=0,
                    rejected=0,
                    rejections=[],
                )
            )
            session.commit()

    def store(self, lines: list[tuple[int, bytes | None]]) -> None:
        """Check and store one chunk of lines in one transaction (retried once on a key race)."""
        parsed = self._parsed(lines)
        for attempt in range(2):
            try:
                self._store(parsed)
            except IntegrityError:
                if attempt:
                    raise
            else:
                return

    def _parsed(
        self, lines: list[tuple[int, bytes | None]]
    ) -> list[tuple[int, LetterInput | LetterRejectedError]]:
        """The chunk's lines as letters (or why not), their addresses screened in one call."""
        parsed: list[tuple[int, LetterInput | LetterRejectedError]] = []
        for number, raw in lines:
            try:
                parsed.append((number, _parse_line(raw)))
            except LetterRejectedError as error:
                parsed.append((number, error))
        letters = [item for _number, item in parsed if isinstance(item, LetterInput)]
        if all(letter.postal_address is None for letter in letters):
            return parsed
        # Unscreened letters (register unavailable) are refused by the service, with the reason.
        screened = iter(screen_addresses(letters, self.protection()).letters)
        return [
            (number, next(screened) if isinstance(item, LetterInput) else item)
            for number, item in parsed
        ]

    def _store(self, lines: list[tuple[int, LetterInput | LetterRejectedError]]) -> None:
        accepted = replayed = 0
        rejections: list[BatchRejection] = []
        with self.sessions() as session:
            service = LetterService(session, self.settings)
            for number, letter in lines:
                try:
                    if isinstance(letter, LetterRejectedError):
                        raise letter
                    _letter, created = service.accept(
                        self.system, letter, actor=_actor(self.system), batch_id=self.batch_id
                    )
                except LetterRejectedError as error:
                    rejections.append(
                        BatchRejection(line=number, field=error.field, message=error.message)
                    )
                    continue
                accepted += 1
                replayed += 0 if created else 1
            batch = session.get(Batch, self.batch_id)
            assert batch is not None
            batch.accepted += accepted
            batch.rejected += len(rejections)
            room = STORED_REJECTIONS - len(batch.rejections)
            if rejections and room > 0:
                # A new list, so that the JSON column sees the change.
                batch.rejections = [
                    *batch.rejections,
                    *(r.model_dump() for r in rejections[:room]),
                ]
            session.commit()
        self.accepted += accepted
        self.replayed += replayed
        self.rejected += len(rejections)
        self.rejections.extend(rejections[: max(0, ANSWERED_REJECTIONS - len(self.rejections))])

    def finish(self) -> None:
        """Mark the batch read to its end; a batch of which nothing was accepted is dropped."""
        with self.sessions() as session:
            batch = session.get(Batch, self.batch_id)
            assert batch is not None
            if self.accepted:
                batch.completed_at = utc_now()
            else:
                session.delete(batch)
            session.commit()


def _parse_line(raw: bytes | None) -> LetterInput:
    if raw is None:
        raise LetterRejectedError(
            "(rad)",
            f"raden är längre än {MAX_BATCH_LINE_BYTES // 1024 // 1024} MB och kan inte vara ett "
            "brev på högst 2 MB; minska bilagorna",
        )
    try:
        data = loads_strict(raw)
    except DuplicateKeyError as error:
        raise LetterRejectedError(error.key, error.message) from None
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested beyond reason
        raise LetterRejectedError(
            "(rad)",
            "raden är inget brev i JSON (inte giltig JSON i UTF-8); skicka ett brev (ett "
            "JSON-objekt) per rad",
        ) from None
    try:
        body = LetterIn.model_validate(data)
    except ValidationError as error:
        first = swedish_error(dict(error.errors()[0]))
        if first["field"] is None:
            raise LetterRejectedError(
                "(rad)", f"raden är inget brev i JSON ({first['message']}); ett brev per rad"
            ) from None
        raise LetterRejectedError(first["field"], str(first["message"])) from None
    return letter_input(body)


async def _ndjson_lines(chunks: AsyncIterator[bytes]) -> AsyncIterator[tuple[int, bytes | None]]:
    """Non-blank lines with their numbers (from 1); None for a line too long to be a letter."""
    buffer = bytearray()
    number = 0
    overlong = False
    async for chunk in chunks:
        buffer += chunk
        while (end := buffer.find(b"\n")) >= 0:
            number += 1
            line = None if overlong else bytes(buffer[:end])
            del buffer[: end + 1]
            overlong = False
            if line is None or line.strip():
                yield number, line
        if len(buffer) > MAX_BATCH_LINE_BYTES:
            # Drop what we have of the line; the rest up to its newline is dropped too.
            overlong = True
            buffer.clear()
    if overlong or buffer.strip():
        yield number + 1, None if overlong else bytes(buffer)


def _nothing_accepted(intake: _BatchIntake) -> ApiError:
    error = ApiError(
        422,
        f"inget brev i utskicket kunde tas emot ({intake.rejected} rader avvisades); rätta "
        "raderna och skicka igen",
    )
    error.errors = [
        {"field": f"rad {r.line}: {r.field}", "message": r.message} for r in intake.rejections
    ]
    return error


@router.post(
    "/batches",
    tags=["utskick i bulk"],
    summary="Lämna många brev (NDJSON)",
    status_code=201,
    response_model=BatchOut,
    openapi_extra=_NDJSON_BODY,
)
async def submit_batch(request: Request, system: System) -> BatchOut:
    """Hand over up to 500,000 letters, one JSON object per line, streamed.

    The body is read line by line and stored every 500 lines, so neither memory nor any
    transaction grows with the batch. Good lines are accepted whatever the bad ones hold;
    each bad line is reported by its number.
    """
    intake = _BatchIntake(
        _sessions(request), _settings(request), system, protection=lambda: _protection(request)
    )
    started = False
    waiting: list[tuple[int, bytes | None]] = []
    waiting_bytes = 0
    async for number, line in _ndjson_lines(request.stream()):
        if not started:
            # The batch exists from its first line on: an empty body leaves nothing behind.
            await run_in_threadpool(intake.start)
            started = True
        waiting.append((number, line))
        waiting_bytes += len(line or b"")
        if len(waiting) >= BATCH_COMMIT_LINES or waiting_bytes >= BATCH_COMMIT_BYTES:
            await run_in_threadpool(intake.store, waiting)
            waiting, waiting_bytes = [], 0
    if not started:
        raise ApiError(
            422, "utskicket är tomt; skicka ett brev (ett JSON-objekt) per rad", field="(kropp)"
        )
    if waiting:
        await run_in_threadpool(intake.store, waiting)
    await run_in_threadpool(intake.finish)
    if not intake.accepted:
        raise _nothing_accepted(intake)
    return BatchOut(
        id=intake.batch_id,
        accepted=intake.accepted,
        replayed=intake.replayed,
        rejected=intake.rejected,
        rejections=intake.rejections,
    )


@router.get(
    "/batches/{batch_id}",
    tags=["utskick i bulk"],
    summary="Hur långt ett utskick har kommit",
    response_model=BatchProgressOut,
    responses={404: {"model": ErrorResponse, "description": "Inget sådant utskick."}},
)
def batch_progress(
    batch_id: Annotated[str, PathParam(max_length=36)], request: Request, system: System
) -> BatchProgressOut:
    """The batch's letters counted by state and by reason; done when all are terminal."""
    with _sessions(request)() as session:
        repository = LetterRepository(session)
        batch = repository.batch_for_system(system.id, batch_id)
        if batch is None:
            raise ApiError(404, f"utskicket {batch_id} finns inte (eller tillhör ett annat system)")
        progress = repository.batch_progress(batch_id)
        finished = sum(
            count for state, count in progress.by_state.items() if state in events.TERMINAL_STATES
        )
        return BatchProgressOut(
            id=batch.id,
            created_at=_aware(batch.created_at),
            completed_at=_maybe_aware(batch.completed_at),
            accepted=batch.accepted,
            rejected=batch.rejected,
            rejections=[BatchRejection.model_validate(r) for r in batch.rejections],
            states=progress.by_state,
            reasons=progress.by_reason,
            finished=finished,
            done=batch.completed_at is not None and finished == sum(progress.by_state.values()),
        )


# --- precheck ------------------------------------------------------------------------------


def _precheck(request: Request) -> Precheck:
    """The process's precheck (its FaR client and cache are shared)."""
    provider: Callable[[], Precheck] = request.app.state.intake_precheck
    return provider()


@router.post(
    "/precheck",
    tags=["kanalval"],
    summary="Förhandsbesked: digitalt eller papper",
    response_model=PrecheckOut,
    responses={
        503: {"model": ErrorResponse, "description": "FaR svarar inte; försök igen senare."}
    },
)
def precheck(body: PrecheckIn, request: Request, system: System) -> PrecheckOut:
    """Which channel a letter to each recipient would take now, with the reason (asks FaR)."""
    try:
        sender = parse_organisation(body.sender).organisation_number
    except InvalidIdentityError as error:
        raise ApiError(
            422, f"avsändaren ska vara ett organisationsnummer: {error}", field="sender"
        ) from None
    if sender not in system.sender_numbers:
        raise ApiError(
            422, f"systemet {system.name} får inte skicka för avsändaren {sender}", field="sender"
        )
    recipients = []
    for index, typed in enumerate(body.recipients):
        try:
            recipients.append(parse_identity(typed).value)
        except InvalidIdentityError as error:
            raise ApiError(
                422,
                f"mottagaren är inget giltigt identitetsnummer: {error}",
                field=f"recipients[{index}]",
            ) from None
    try:
        decisions = _precheck(request).check(sender, recipients, policy=body.policy)
    except FarUnavailableError as error:
        raise ApiError(
            503,
            "Adressregistret för Mina meddelanden (FaR) svarar inte just nu, så det går inte att "
            "avgöra om mottagaren kan få digital post. Försök igen om en stund, eller skriv ut "
            f"brevet och skicka det på papper. ({error})",
            headers={"Retry-After": "30"},
        ) from None
    return PrecheckOut(
        decisions=[
            DecisionOut(
                recipient=decision.recipient_id,
                channel=decision.channel,
                reason=decision.reason,
                operator=decision.operator_name,
                operator_number=decision.operator_number,
            )
            for decision in decisions
        ]
    )
