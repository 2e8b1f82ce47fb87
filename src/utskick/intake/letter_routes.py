"""The API's letters: hand one over, follow it, find it, cancel it.

A sending system sees only its own letters: another system's letter answers 404, exactly as a
letter that does not exist. Each request is its own unit of work: it opens a session, lets the
letter service do its checks, and commits.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from fastapi import Header, Query, Request, Response
from fastapi import Path as PathParam
from pydantic import BeforeValidator
from sqlalchemy.exc import IntegrityError

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.intake.api_common import (
    ApiError,
    System,
    actor_of,
    api_router,
    aware,
    maybe_aware,
    protection_of,
    sessions_of,
    settings_of,
)
from utskick.intake.schemas import (
    AttachmentOut,
    EventOut,
    IdempotencyConflictOut,
    LetterIn,
    LetterOut,
    LetterPageOut,
    LetterSummary,
    State,
    letter_input,
)
from utskick.letters.address_screen import Screened, screen_addresses
from utskick.letters.inputs import IdempotencyConflictError, LetterInput, LetterRejectedError
from utskick.letters.models import Letter
from utskick.letters.repository import LetterRepository, LetterSearch
from utskick.letters.service import LetterNotCancellableError, LetterNotFoundError, LetterService
from utskick.web.errors import ErrorResponse

router = api_router()
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Inget sådant brev för detta system."}
}


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


def _rejected(error: LetterRejectedError) -> ApiError:
    return ApiError(422, error.message, field=error.field)


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
        "created_at": aware(letter.created_at),
        "updated_at": aware(letter.updated_at),
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
            "deliver_by": maybe_aware(letter.deliver_by),
            "not_before": maybe_aware(letter.not_before),
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
        letter = letter_input(body, idempotency_key, settings_of(request).print_timezone)
    except LetterRejectedError as error:
        raise _rejected(error) from None
    # Asked before any transaction: an address given for a protected person is never stored.
    screened = _screen(request, [letter])
    if screened.unavailable is not None:
        raise ApiError(503, screened.unavailable, field="address", headers={"Retry-After": "30"})
    letter = screened.letters[0]
    for attempt in range(2):
        with sessions_of(request)() as session:
            try:
                stored, created = LetterService(session, settings_of(request)).accept(
                    system, letter, actor=actor_of(system)
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


def _screen(request: Request, letters: list[LetterInput]) -> Screened:
    """The letters with every given address screened (the register asked only if needed)."""
    if all(letter.postal_address is None for letter in letters):
        return Screened(letters)
    return screen_addresses(letters, protection_of(request))


@router.get(
    "/letters/{letter_id}",
    tags=["brev"],
    summary="Ett brevs status",
    response_model=LetterOut,
    responses=_NOT_FOUND,
)
def get_letter(letter_id: LetterId, request: Request, system: System) -> LetterOut:
    """A letter's state, channel, reason, operator and TransId, and its attachments' metadata."""
    with sessions_of(request)() as session:
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
    with sessions_of(request)() as session:
        repository = LetterRepository(session)
        if repository.get_for_system(system.id, letter_id) is None:
            raise _letter_not_found(letter_id)
        return [
            EventOut(
                event_id=event.event_id,
                at=aware(event.at),
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
    with sessions_of(request)() as session:
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
    with sessions_of(request)() as session:
        try:
            letter = LetterService(session, settings_of(request)).cancel(
                system, letter_id, actor=actor_of(system)
            )
        except LetterNotFoundError:
            raise _letter_not_found(letter_id) from None
        except LetterNotCancellableError as error:
            raise ApiError(409, str(error)) from None
        answer = _letter_out(letter)
        session.commit()
        return answer
