"""The API's print files: a PDF of one letter or many, split and accepted by a source's rules.

`POST /api/v1/printfiles?source=<name>` takes the PDF (`file`) and, for a source that splits
by a control file, the control file (`control`) as multipart/form-data. The caller is
authenticated first and must be the source's sending system; only then is the body read (up
to `MAX_UPLOAD_BYTES`, counted as it streams, by `PrintFileBodyLimit`). The files are written
to a private temporary folder and taken by `utskick.intake.printfile.take_print_file` in the
thread pool; the folder is removed afterwards.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, BinaryIO

from fastapi import Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from utskick.intake.api_common import (
    API_PREFIX,
    ApiError,
    System,
    actor_of,
    api_router,
    sessions_of,
    settings_of,
)
from utskick.intake.printfile import (
    MAX_PRINT_FILE_BYTES,
    PrintFileReceipt,
    PrintFileRefusedError,
    print_file_key,
    take_print_file,
)
from utskick.intake.printfile.common import MAX_CONTROL_FILE_BYTES, pages_text
from utskick.intake.printfile.control import CONTROL_SUFFIXES
from utskick.intake.sources import Source, SourcesError, load_sources, source_named
from utskick.letters.text_checks import attachment_base_name, is_empty_name, refused_character
from utskick.senders.models import SendingSystem
from utskick.web.errors import ErrorResponse
from utskick.web.json_guard import answer_error

PRINTFILES_PATH = f"{API_PREFIX}/printfiles"
# The print file, its control file and the multipart framing around them.
MAX_UPLOAD_BYTES = MAX_PRINT_FILE_BYTES + MAX_CONTROL_FILE_BYTES + 64 * 1024
TOO_LARGE = (
    f"utskriftsfilen är för stor: högst {MAX_PRINT_FILE_BYTES // (1024 * 1024)} MB tas emot; "
    "dela upp utskriften i flera filer"
)
_FIELDS = ("file", "control")
_CONTROL_TYPES = {"text/csv": ".csv", "application/json": ".json"}

router = api_router()

_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The print file (PDF): one letter or many.",
                        },
                        "control": {
                            "type": "string",
                            "format": "binary",
                            "description": "The control file (CSV or JSON), for a source that "
                            "splits by one: each letter's pages, recipient and subject.",
                        },
                    },
                }
            }
        },
    }
}


class PrintFileLetterOut(BaseModel):
    """One letter of a print file and what became of it."""

    index: int = Field(description="The letter's number in the file, from 1.")
    first_page: int
    last_page: int
    recipient: str | None = Field(description="The identity number as read from the file.")
    letter_id: str | None = Field(description="The accepted letter; none when rejected.")
    created: bool = Field(description="False: accepted before from the same file, given back.")
    problem: str | None = Field(description="Why the letter was rejected (Swedish).")


class PrintFileOut(BaseModel):
    """What became of a print file: its batch and each of its letters."""

    batch_id: str | None = Field(description="The batch; see GET /batches/{id} for progress.")
    accepted: int = Field(description="Letters accepted (given back ones included).")
    replayed: int = Field(description="Of those, letters accepted before from the same file.")
    rejected: int
    letters: list[PrintFileLetterOut]


class PrintFileBodyLimit:
    """ASGI middleware: 413 for a print-file upload over `MAX_UPLOAD_BYTES`.

    A declared length over the limit is answered at once; a body without one is counted as
    it streams, and the request is ended with 413 once it passes the limit. The body is never
    held here: the multipart parser spools the files to disk.
    """

    def __init__(self, app: ASGIApp, *, limit: int = MAX_UPLOAD_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with its body counted, or answer 413."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await answer_error(send, 413, TOO_LARGE, [])
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Answered by the API's error handler, in the API's error shape.
                    raise StarletteHTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, send)


@router.post(
    "/printfiles",
    tags=["utskriftsfiler"],
    summary="Lämna en utskriftsfil (PDF) med ett eller flera brev",
    status_code=201,
    response_model=PrintFileOut,
    openapi_extra=_MULTIPART_BODY,
    responses={
        403: {
            "model": ErrorResponse,
            "description": "Källan finns inte eller hör till ett annat system.",
        },
        413: {"model": ErrorResponse, "description": "Utskriftsfilen är för stor."},
        422: {
            "model": ErrorResponse,
            "description": "Filen tas inte emot, eller inget av dess brev kunde tas emot; "
            "skälet står på svenska (per brev i errors).",
        },
        503: {"model": ErrorResponse, "description": "Källfilen kan inte läsas."},
    },
)
async def submit_print_file(
    request: Request,
    system: System,
    source: Annotated[
        str, Query(min_length=1, max_length=64, description="The source's name (sources.toml).")
    ],
) -> PrintFileOut:
    """Hand over a print file; it is split into letters by the source's recipient rule.

    The source (configured in `sources.toml`) says how each letter's recipient is found (a
    control file, a text anchor such as `Personnummer:`, a form field, metadata or the file's
    name) and what the letters say when the file does not. A file that cannot be taken at all
    is refused whole (422) and nothing is stored; otherwise each letter is accepted or
    rejected with the reason. The same file handed in again gives back the letters accepted
    the first time.
    """
    chosen = _source_for(request, system.name, source)
    form = await _form(request)
    try:
        pdf, control = _uploads(form)
        receipt = await run_in_threadpool(_take, request, system, chosen, pdf, control)
    finally:
        await form.close()
    if not receipt.accepted:
        raise _nothing_accepted(receipt)
    return _answer(receipt)


def _source_for(request: Request, system_name: str, name: str) -> Source:
    """The source of that name, if it is the calling system's (403 otherwise)."""
    try:
        sources = load_sources(settings_of(request))
    except SourcesError as error:
        raise ApiError(
            503,
            f"utskriftsfiler kan inte tas emot just nu: {error.message}; be förvaltningen "
            "rätta källfilen",
        ) from None
    found = source_named(sources, name)
    if found is None or found.system != system_name:
        raise ApiError(
            403,
            f"källan {name!r} finns inte eller hör inte till systemet {system_name}; ange en "
            "källa som förvaltningen har lagt upp för systemet",
            field="source",
        )
    return found


async def _form(request: Request) -> FormData:
    """The multipart body, with at most the two files and no other field."""
    content_type = request.headers.get("content-type", "")
    if not content_type.lower().startswith("multipart/form-data"):
        raise ApiError(
            422,
            "skicka utskriftsfilen som multipart/form-data, med PDF-filen i fältet file (och "
            "en styrfil i fältet control)",
            field="file",
        )
    try:
        return await request.form(max_files=len(_FIELDS), max_fields=len(_FIELDS))
    except StarletteHTTPException as error:
        if error.status_code != 400:  # noqa: PLR2004 (the parser's own refusal; 413 passes)
            raise
        raise ApiError(
            400,
            f"anropets innehåll kan inte läsas som multipart/form-data ({error.detail}); skicka "
            "PDF-filen i fältet file",
        ) from None


def _uploads(form: FormData) -> tuple[UploadFile, UploadFile | None]:
    unknown = sorted(set(form.keys()) - set(_FIELDS))
    if unknown:
        raise ApiError(
            422,
            f"fältet {unknown[0]!r} är inte känt; skicka PDF-filen i fältet file och en "
            "eventuell styrfil i fältet control",
            field=unknown[0],
        )
    pdf = form.get("file")
    control = form.get("control")
    if not isinstance(pdf, UploadFile):
        raise ApiError(422, "PDF-filen saknas; skicka den som en fil i fältet file", field="file")
    if control is not None and not isinstance(control, UploadFile):
        raise ApiError(
            422,
            "styrfilen ska skickas som en fil (CSV eller JSON) i fältet control",
            field="control",
        )
    return pdf, control


def _take(
    request: Request,
    system: SendingSystem,
    source: Source,
    pdf_upload: UploadFile,
    control_upload: UploadFile | None,
) -> PrintFileReceipt:
    """Write the uploads to a private folder and take them (in the thread pool)."""
    with tempfile.TemporaryDirectory(prefix="utskick-printfile-") as folder:
        pdf = _saved(Path(folder) / "pdf", pdf_upload, "utskrift.pdf", None)
        control = None
        if control_upload is not None:
            suffix = _CONTROL_TYPES.get((control_upload.content_type or "").lower())
            control = _saved(Path(folder) / "control", control_upload, "styrfil", suffix)
        try:
            return take_print_file(
                sessions=sessions_of(request),
                settings=settings_of(request),
                system=system,
                source=source,
                pdf=pdf,
                control=control,
                file_key=print_file_key(source, pdf, control),
                actor=actor_of(system),
            )
        except PrintFileRefusedError as error:
            raise ApiError(422, error.message, field="file") from None


MAX_NAME_BYTES = 255


def _saved(folder: Path, upload: UploadFile, fallback: str, suffix: str | None) -> Path:
    """The upload written under its own base name (or `fallback`) in a folder of its own."""
    name = attachment_base_name(upload.filename or "")
    too_long = len(name.encode("utf-8")) > MAX_NAME_BYTES  # a file system's limit is in bytes
    if is_empty_name(name) or refused_character(name) is not None or too_long:
        name = fallback
    if suffix is not None and Path(name).suffix.lower() not in CONTROL_SUFFIXES:
        name = f"{Path(name).stem or fallback}{suffix}"
    folder.mkdir(mode=0o700)
    path = folder / name
    with path.open("xb") as target:
        _copy(upload.file, target)
    return path


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    source.seek(0)
    shutil.copyfileobj(source, target, 1024 * 1024)


def _nothing_accepted(receipt: PrintFileReceipt) -> ApiError:
    error = ApiError(
        422,
        f"inget brev i utskriftsfilen kunde tas emot ({receipt.rejected} brev avvisades); rätta "
        "utskriften och lämna in den igen",
    )
    error.errors = [
        {
            "field": f"brev {letter.index} ({pages_text(letter.first_page, letter.last_page)})",
            "message": letter.problem or "",
        }
        for letter in receipt.letters
    ]
    return error


def _answer(receipt: PrintFileReceipt) -> PrintFileOut:
    return PrintFileOut(
        batch_id=receipt.batch_id,
        accepted=receipt.accepted,
        replayed=receipt.replayed,
        rejected=receipt.rejected,
        letters=[PrintFileLetterOut.model_validate(letter.as_json()) for letter in receipt.letters],
    )
