"""The API's batches: many letters in one body (NDJSON, CSV or XLSX), and how far they have come.

An NDJSON body is streamed in the event loop; each chunk of lines is handed to the thread pool,
where `utskick.intake.batch.BatchIntake` reads, checks and stores it. A table (CSV or XLSX) is
spooled to a private temporary file, with its SHA-256, and handed whole to
`utskick.intake.table_batch.take_table` in the thread pool. Which of the two a body is, is
told from its bytes (as the desk tells its uploads), the declared type deciding only what the
bytes leave open.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi import Path as PathParam
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
from utskick.intake.schemas import BatchOut, BatchProgressOut, BatchRejection, Policy
from utskick.intake.table_batch import (
    MAX_TABLE_BYTES,
    SNIFF_BYTES,
    TableDefaults,
    TableRefusedError,
    is_table,
    take_table,
)
from utskick.letters.batch_store import LineRejection
from utskick.letters.repository import LetterRepository
from utskick.letters.vocabulary import TERMINAL_STATES
from utskick.senders.models import SendingSystem
from utskick.web.errors import ErrorResponse

# The answer names this many rejected lines; the count covers them all.
ANSWERED_REJECTIONS = 100

router = api_router()

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
NDJSON_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/json"}
)
# The caller's Idempotency-Key leaves room for the row in each letter's key.
MAX_FILE_KEY_LENGTH = 150

_BATCH_BODY = {
    "requestBody": {
        "required": True,
        "description": "One letter (the same JSON object as POST /letters) per line; or a "
        "table, CSV (`;`, `,` or tab; UTF-8 or Windows-1252) or XLSX (its first sheet), with a "
        "header row and one letter per row. A table's columns are named as an office or a "
        "system names them: Personnummer/recipient, Ämne/subject, Text/Brevtext/Meddelande/body, "
        "Meddelandetyp/message_type, Skyddsklass/protection_class, Diarienummer/case_number, "
        "Referens/reference, Avsändare/sender, Avdelning/Förvaltning/department, "
        "Skickas tidigast/not_before, Policy, and for paper Namn, Adress, Postnummer, Ort. "
        "The body's bytes tell which it is.",
        "content": {
            "application/x-ndjson": {
                "schema": {"type": "string"},
                "example": '{"sender": "2021004748", "recipient": "191212121212", '
                '"subject": "Beslut", "body": "Hej!", "protection_class": 2}\n',
            },
            "text/csv": {
                "schema": {"type": "string"},
                "example": "Personnummer;Ämne;Text;Skyddsklass\n"
                "19121212-1212;Beslut;Hej! Här kommer beslutet.;2\n",
            },
            XLSX_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@dataclass(frozen=True)
class _BatchDefaults:
    """The query parameters: what every letter says where its line or row does not."""

    sender: str | None = None
    department: str | None = None
    subject: str | None = None
    message_type: str | None = None
    policy: str | None = None

    def as_table_defaults(self) -> TableDefaults:
        return TableDefaults(**dataclasses.asdict(self))

    def as_fields(self) -> dict[str, str]:
        return {name: value for name, value in dataclasses.asdict(self).items() if value}


def _defaults(
    sender: Annotated[
        str | None,
        Query(max_length=20, description="Avsändare för brev som inte anger någon."),
    ] = None,
    department: Annotated[
        str | None,
        Query(max_length=200, description="Förvaltning eller funktion för brev som saknar den."),
    ] = None,
    subject: Annotated[
        str | None, Query(max_length=255, description="Ämnesrad för brev som saknar en.")
    ] = None,
    message_type: Annotated[
        str | None, Query(max_length=64, description="Meddelandetyp för brev som saknar en.")
    ] = None,
    policy: Annotated[
        Policy | None, Query(description="Sändningspolicy för brev som inte anger någon.")
    ] = None,
) -> _BatchDefaults:
    return _BatchDefaults(sender, department, subject, message_type, policy)


BatchDefaults = Annotated[_BatchDefaults, Depends(_defaults)]


def _nothing_accepted(rejected: int, rejections: Sequence[LineRejection]) -> ApiError:
    error = ApiError(
        422,
        f"inget brev i utskicket kunde tas emot ({rejected} rader avvisades); rätta "
        "raderna och skicka igen",
    )
    error.errors = [{"field": f"rad {r.line}: {r.field}", "message": r.message} for r in rejections]
    return error


@router.post(
    "/batches",
    tags=["utskick i bulk"],
    summary="Lämna många brev (NDJSON, CSV eller XLSX)",
    status_code=201,
    response_model=BatchOut,
    openapi_extra=_BATCH_BODY,
)
async def submit_batch(
    request: Request,
    system: System,
    defaults: BatchDefaults,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=MAX_FILE_KEY_LENGTH,
            description="For a table: names the file in its letters' keys, so that the same "
            "file sent again gives its letters back (default: the body's SHA-256).",
        ),
    ] = None,
) -> BatchOut:
    """Hand over up to 500,000 letters: NDJSON streamed, or a CSV or XLSX table.

    NDJSON is read line by line and stored every 500 lines, so neither memory nor any
    transaction grows with the batch. A table (at most 20 MB) is read whole before any row is
    stored, then stored every 500 rows; each row's letter has the key `table:<key>:<row>`, so
    the same file sent again gives its letters back instead of new ones. Good lines or rows
    are accepted whatever the bad ones hold; each bad one is reported by its number (a table's
    by its row in Excel, the column named). The query parameters fill in what a line or a row
    leaves out.
    """
    head, body = await _head_and_rest(request.stream())
    media_type = request.headers.get("content-type", "").split(";", maxsplit=1)[0]
    if is_table(head, declared_ndjson=media_type.strip().lower() in NDJSON_TYPES):
        return await _submit_table(request, system, body, defaults, idempotency_key)
    return await _submit_ndjson(request, system, body, defaults)


async def _submit_ndjson(
    request: Request, system: SendingSystem, body: AsyncIterator[bytes], defaults: _BatchDefaults
) -> BatchOut:
    """Stream the NDJSON body into the batch store, a chunk of lines at a time."""
    intake = BatchIntake(
        sessions_of(request),
        settings_of(request),
        system,
        protection=lambda: protection_of(request),
        actor=actor_of(system),
        kept_rejections=ANSWERED_REJECTIONS,
        defaults=defaults.as_fields(),
    )
    started = False
    waiting: PendingLines[bytes | None] = PendingLines()
    async for number, line in ndjson_lines(body):
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
        raise _nothing_accepted(intake.rejected, intake.rejections)
    return BatchOut(
        id=intake.batch_id,
        accepted=intake.accepted,
        replayed=intake.replayed,
        rejected=intake.rejected,
        rejections=[
            BatchRejection(line=r.line, field=r.field, message=r.message) for r in intake.rejections
        ],
    )


async def _submit_table(
    request: Request,
    system: SendingSystem,
    body: AsyncIterator[bytes],
    defaults: _BatchDefaults,
    file_key: str | None,
) -> BatchOut:
    """Spool the table to a private file, then store its rows (`take_table`)."""
    if file_key is not None and (not file_key.strip() or not file_key.isprintable()):
        raise ApiError(
            422,
            f"Idempotency-Key ska ha 1–{MAX_FILE_KEY_LENGTH} synliga tecken, till exempel "
            "filens namn och datum",
            field="Idempotency-Key",
        )
    with tempfile.TemporaryDirectory(prefix="utskick-tabell-") as folder:
        path = Path(folder) / "tabell"
        digest = await _spooled(body, path)
        try:
            receipt = await run_in_threadpool(
                functools.partial(
                    take_table,
                    sessions=sessions_of(request),
                    settings=settings_of(request),
                    system=system,
                    source=None,
                    path=path,
                    file_key=file_key or digest,
                    actor=actor_of(system),
                    defaults=defaults.as_table_defaults(),
                    protection=lambda: protection_of(request),
                )
            )
        except TableRefusedError as error:
            raise ApiError(422, error.message, field="(kropp)") from None
    rejections = [LineRejection(*rejection) for rejection in receipt.rejections]
    if receipt.batch_id is None:
        raise _nothing_accepted(receipt.rejected, rejections[:ANSWERED_REJECTIONS])
    return BatchOut(
        id=receipt.batch_id,
        accepted=receipt.accepted,
        replayed=receipt.replayed,
        rejected=receipt.rejected,
        rejections=[
            BatchRejection(line=r.line, field=r.field, message=r.message)
            for r in rejections[:ANSWERED_REJECTIONS]
        ],
    )


async def _head_and_rest(
    chunks: AsyncIterator[bytes],
) -> tuple[bytes, AsyncIterator[bytes]]:
    """The body's first bytes (enough to tell what it is), and the whole body as it streams."""
    iterator = aiter(chunks)
    head = bytearray()
    while len(head.lstrip()) < SNIFF_BYTES:
        chunk = await anext(iterator, None)
        if chunk is None:
            break
        head += chunk

    async def whole() -> AsyncIterator[bytes]:
        if head:
            yield bytes(head)
        async for chunk in iterator:
            yield chunk

    return bytes(head), whole()


async def _spooled(body: AsyncIterator[bytes], path: Path) -> str:
    """Write the body to a new private file; its SHA-256 (hex).

    Raises:
        ApiError: 413 when the body is larger than a table may be.
    """
    digest = hashlib.sha256()
    size = 0
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        async for chunk in body:
            size += len(chunk)
            if size > MAX_TABLE_BYTES:
                raise ApiError(
                    413,
                    f"tabellen är större än {MAX_TABLE_BYTES // (1024 * 1024)} MB; dela upp "
                    "den i flera filer, eller skicka breven som NDJSON",
                )
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest()


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
