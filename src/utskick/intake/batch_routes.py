"""The API's batches: many letters in one NDJSON body, and how far they have come.

The body is streamed in the event loop; each chunk of lines is handed to the thread pool,
where `utskick.intake.batch.BatchIntake` reads, checks and stores it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam
from fastapi import Request
from starlette.concurrency import run_in_threadpool

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
from utskick.intake.batch import BatchIntake, PendingLines, ndjson_lines
from utskick.intake.schemas import BatchOut, BatchProgressOut, BatchRejection
from utskick.letters.repository import LetterRepository
from utskick.letters.vocabulary import TERMINAL_STATES
from utskick.web.errors import ErrorResponse

# The answer names this many rejected lines; the count covers them all.
ANSWERED_REJECTIONS = 100

router = api_router()

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


def _nothing_accepted(intake: BatchIntake) -> ApiError:
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
    intake = BatchIntake(
        sessions_of(request),
        settings_of(request),
        system,
        protection=lambda: protection_of(request),
        actor=actor_of(system),
        kept_rejections=ANSWERED_REJECTIONS,
    )
    started = False
    waiting: PendingLines[bytes | None] = PendingLines()
    async for number, line in ndjson_lines(request.stream()):
        if not started:
            # The batch exists from its first line on: an empty body leaves nothing behind.
            await run_in_threadpool(intake.start)
            started = True
        waiting.add(number, line, len(line or b""))
        if waiting.full:
            await run_in_threadpool(intake.store_lines, waiting.take())
    if not started:
        raise ApiError(
            422, "utskicket är tomt; skicka ett brev (ett JSON-objekt) per rad", field="(kropp)"
        )
    if waiting:
        await run_in_threadpool(intake.store_lines, waiting.take())
    # A batch of which nothing was accepted is not kept.
    await run_in_threadpool(intake.finish if intake.accepted else intake.discard)
    if not intake.accepted:
        raise _nothing_accepted(intake)
    return BatchOut(
        id=intake.batch_id,
        accepted=intake.accepted,
        replayed=intake.replayed,
        rejected=intake.rejected,
        rejections=[
            BatchRejection(line=r.line, field=r.field, message=r.message) for r in intake.rejections
        ],
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
    with sessions_of(request)() as session:
        repository = LetterRepository(session)
        batch = repository.batch_for_system(system.id, batch_id)
        if batch is None:
            raise ApiError(404, f"utskicket {batch_id} finns inte (eller tillhör ett annat system)")
        progress = repository.batch_progress(batch_id)
        finished = sum(
            count for state, count in progress.by_state.items() if state in TERMINAL_STATES
        )
        return BatchProgressOut(
            id=batch.id,
            created_at=aware(batch.created_at),
            completed_at=maybe_aware(batch.completed_at),
            accepted=batch.accepted,
            rejected=batch.rejected,
            rejections=[BatchRejection.model_validate(r) for r in batch.rejections],
            states=progress.by_state,
            reasons=progress.by_reason,
            finished=finished,
            done=batch.completed_at is not None and finished == sum(progress.by_state.values()),
        )
