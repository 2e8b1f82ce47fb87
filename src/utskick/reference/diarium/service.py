"""The diarium stand-in's web app: signed registration calls in, registration numbers out.

`POST /v1/registrations` takes one sent letter as JSON and answers
`{"registration_number": "KS 2026/123", "registered_at": "…"}`. Every call must be signed
with the key shared with the connector, in three headers:

- `Utskick-Id`: the call's own id (letters, digits, `-` and `_`, at most 100), never reused;
- `Utskick-Timestamp`: when the call was made, in whole seconds since 1970 (UTC);
- `Utskick-Signature`: `v1=` and the base64 of HMAC-SHA256 over `<id>.<timestamp>.<body>`
  (the body's exact bytes); several `v1=` values separated by commas are allowed while a key
  is being changed.

A call without the headers, with a signature that does not match, a timestamp more than five
minutes away from the stand-in's clock, or an id already used, is refused with 401 and
`{"error": "<what is wrong, in Swedish>"}`; a body that is not a letter with 400. A letter
registered before gets its earlier number again (idempotent by `letter_id`).

`GET /` lists the registered letters (Swedish, plain HTML, no outside assets) and
`GET /api/registreringar` the same as JSON.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from utskick.reference.diarium.series import DiariumSeries
from utskick.reference.diarium.store import DiariumStore, Registered
from utskick.reference.diarium.wire import (
    ID_HEADER,
    MAX_AGE_SECONDS,
    REGISTRATION_PATH,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
)

MAX_BODY_BYTES = 1024 * 1024
PAGE_LIMIT = 200
STOCKHOLM = zoneinfo.ZoneInfo("Europe/Stockholm")

_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,100}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SHA256_HEX = r"^[0-9a-f]{64}$"


class AttachmentFacts(BaseModel):
    """An attachment as the connector describes it: its name and SHA-256."""

    name: str = Field(min_length=1, max_length=255)
    sha256: str = Field(pattern=_SHA256_HEX)


class LetterFacts(BaseModel):
    """A sent letter as the registration call describes it (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore")

    version: Literal[1] = 1
    letter_id: str = Field(min_length=1, max_length=64)
    message_id: str | None = Field(default=None, max_length=64)
    organisation_number: str = Field(pattern=r"^[0-9]{10}$")
    department: str | None = Field(default=None, max_length=200)
    rule: Literal["register", "journal"]
    message_type: str | None = Field(default=None, max_length=64)
    subject: str = Field(max_length=255)
    case_number: str | None = Field(default=None, max_length=200)
    reference: str | None = Field(default=None, max_length=200)
    recipient_id: str = Field(pattern=r"^[0-9]{12}$")
    channel: str | None = Field(default=None, max_length=16)
    state: str = Field(max_length=24)
    sent_at: dt.datetime
    delivered_digest: str | None = Field(default=None, pattern=_SHA256_HEX)
    attachments: list[AttachmentFacts] = Field(default=[], max_length=100)


class CallRefusedError(Exception):
    """A call the stand-in will not take; the message says why, in Swedish."""


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def signature_problem(
    headers: Mapping[str, str], body: bytes, secret: bytes, *, now: int, max_age: int
) -> str | None:
    """Why a call's signature headers are not acceptable, in Swedish; None when they are."""
    call_id = headers.get(ID_HEADER) or ""
    timestamp = headers.get(TIMESTAMP_HEADER) or ""
    signature = headers.get(SIGNATURE_HEADER) or ""
    problem = _header_problem(call_id, timestamp, signature, now) or _age_problem(
        now - int(timestamp), max_age
    )
    if problem is not None:
        return problem
    offered = [part.strip()[3:] for part in signature.split(",") if part.strip().startswith("v1=")]
    if not offered:
        return f"{SIGNATURE_HEADER} ska vara v1=<base64 av HMAC-SHA256>"
    expected = hmac.new(secret, f"{call_id}.{timestamp}.".encode() + body, hashlib.sha256)
    if any(hmac.compare_digest(_decoded(value), expected.digest()) for value in offered):
        return None
    return (
        "signaturen stämmer inte med anropet; kontrollera att samma nyckel är inställd hos "
        "Utskick och diariet och att kroppen skickas exakt som den signerades"
    )


def _header_problem(call_id: str, timestamp: str, signature: str, now: int) -> str | None:
    """What is missing or malformed among the three headers (the timestamp checked last)."""
    missing = [
        name
        for name, value in (
            (ID_HEADER, call_id),
            (TIMESTAMP_HEADER, timestamp),
            (SIGNATURE_HEADER, signature),
        )
        if not value
    ]
    if missing:
        return (
            f"anropet saknar {', '.join(missing)}; signera varje anrop med nyckeln som "
            "delas med diariet"
        )
    if not _CALL_ID.fullmatch(call_id):
        return f"{ID_HEADER} får bara ha bokstäver a–z, siffror, - och _ (högst 100 tecken)"
    if not _TIMESTAMP.fullmatch(timestamp):
        return f"{TIMESTAMP_HEADER} ska vara hela sekunder sedan 1970 (UTC), t.ex. {now}"
    return None


def _age_problem(age: int, max_age: int) -> str | None:
    """Why a call made `age` seconds ago is not taken; None within `max_age` either way."""
    if age > max_age:
        return (
            f"anropets tidsstämpel är {age} sekunder gammal och högst {max_age} godtas; "
            "skicka anropet på nytt med en ny tidsstämpel och kontrollera att klockan går rätt"
        )
    if age < -max_age:
        return (
            f"anropets tidsstämpel ligger {-age} sekunder fram i tiden; kontrollera att "
            "avsändarens klocka går rätt"
        )
    return None


def _decoded(value: str) -> bytes:
    """A signature's bytes from base64; nothing (which matches no digest) if it is not."""
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return b""


def create_diarium_app(
    secret: bytes,
    series: DiariumSeries,
    folder: Path,
    *,
    clock: Callable[[], dt.datetime] = _utc_now,
    max_age_seconds: int = MAX_AGE_SECONDS,
) -> FastAPI:
    """The diarium stand-in's web app, keeping its register in `folder` (see the module text).

    Raises:
        ValueError: the shared key is empty.
    """
    if not secret:
        raise ValueError("diariet behöver en nyckel att kontrollera signaturerna med")
    app = FastAPI(title="Diariet (exempel)", docs_url=None, redoc_url=None, openapi_url=None)
    store = DiariumStore(folder)

    @app.post(REGISTRATION_PATH)
    async def register(request: Request) -> JSONResponse:
        try:
            body = await _bounded_body(request)
        except CallRefusedError as error:
            return _error(413, str(error))
        now = clock()
        problem = signature_problem(
            request.headers, body, secret, now=int(now.timestamp()), max_age=max_age_seconds
        )
        if problem is None and not await run_in_threadpool(
            store.first_use_of_call,
            request.headers[ID_HEADER],
            now=int(now.timestamp()),
            keep_seconds=max_age_seconds,
        ):
            problem = f"{ID_HEADER} har redan använts; varje anrop ska ha ett nytt id"
        if problem is not None:
            return _error(401, problem)
        try:
            facts = LetterFacts.model_validate_json(body)
        except ValidationError as error:
            return _error(400, _letter_problem(error))
        registered, _ = await run_in_threadpool(
            store.register,
            facts.model_dump(mode="json"),
            series=series.for_letter(facts.rule, facts.department),
            now=now,
        )
        return JSONResponse(
            {
                "registration_number": registered.number,
                "registered_at": _rfc3339(registered.registered_at),
            }
        )

    @app.get("/", response_class=HTMLResponse)
    def page() -> HTMLResponse:
        rows = store.newest(PAGE_LIMIT)
        return HTMLResponse(
            _PAGE.render(
                rows=rows,
                local=_local_time,
                organisation=_organisation_shown,
                identity=_identity_shown,
            ),
            headers={
                "Cache-Control": "no-store",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @app.get("/api/registreringar")
    def listing() -> JSONResponse:
        return JSONResponse([_as_json(row) for row in store.newest(PAGE_LIMIT)])

    return app


async def _bounded_body(request: Request) -> bytes:
    """The request's body, refused when larger than `MAX_BODY_BYTES`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise CallRefusedError(f"kroppen är större än {MAX_BODY_BYTES} byte")
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > MAX_BODY_BYTES:
            raise CallRefusedError(f"kroppen är större än {MAX_BODY_BYTES} byte")
    return bytes(chunks)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _letter_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "kroppen"
    return f"brevet kan inte registreras: {where} är fel ({first['msg']}); se avtalet för anropet"


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _local_time(moment: dt.datetime) -> str:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone(STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _organisation_shown(number: str) -> str:
    return f"{number[:6]}-{number[6:]}" if len(number) == 10 else number  # noqa: PLR2004


def _identity_shown(value: object) -> str:
    """`19121212-1212` for a person, `556999-0038` for an organisation (16 + its number)."""
    text = str(value or "")
    if len(text) != 12:  # noqa: PLR2004 (the wire's 12-digit id)
        return text
    return f"{text[2:8]}-{text[8:]}" if text.startswith("16") else f"{text[:8]}-{text[8:]}"


def _as_json(row: Registered) -> dict[str, Any]:
    letter = row.letter
    return {
        "registration_number": row.number,
        "registered_at": _rfc3339(row.registered_at),
        "letter_id": row.letter_id,
        "organisation_number": row.organisation_number,
        "department": letter.get("department"),
        "rule": letter.get("rule"),
        "message_type": letter.get("message_type"),
        "subject": letter.get("subject"),
        "case_number": letter.get("case_number"),
        "channel": letter.get("channel"),
    }


_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="sv">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Diariet (exempel) – referensmiljön</title>
  <style>
    body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 0 auto;
           padding: 0 1rem 2rem; line-height: 1.5; color: #1b1b1b; }
    .test-banner { background: #ffd84d; margin: 0 -1rem; padding: .5rem 1rem; text-align: center; }
    table { border-collapse: collapse; width: 100%; }
    caption { text-align: left; color: #444; }
    th, td { text-align: left; padding: .4rem .5rem; border-bottom: 1px solid #ddd;
             vertical-align: top; }
    td.number { white-space: nowrap; font-weight: 600; }
  </style>
</head>
<body>
  <p class="test-banner" role="note"><strong>TESTLÄGE</strong> – inga riktiga uppgifter</p>
  <h1>Diariet (exempel)</h1>
  <p>Brev som Utskick har registrerat här efter att de skickats: diarieförda brev i
  kommunens huvudserie, journalförda i förvaltningens egen serie. Det senaste först.
  Maskinläsbart: <a href="/api/registreringar">/api/registreringar</a>.</p>
  {% if rows %}
  <table>
    <caption>Registrerade brev ({{ rows|length }})</caption>
    <thead><tr><th scope="col">Diarienummer</th><th scope="col">Registrerat</th>
      <th scope="col">Organisation</th><th scope="col">Förvaltning</th>
      <th scope="col">Handlingstyp</th><th scope="col">Rubrik</th>
      <th scope="col">Ärende</th><th scope="col">Mottagare</th><th scope="col">Kanal</th></tr>
    </thead>
    <tbody>
    {% for row in rows %}
      <tr><td class="number">{{ row.number }}</td><td>{{ local(row.registered_at) }}</td>
        <td>{{ organisation(row.organisation_number) }}</td>
        <td>{{ row.letter.department or "–" }}</td><td>{{ row.letter.message_type or "–" }}</td>
        <td>{{ row.letter.subject }}</td><td>{{ row.letter.case_number or "–" }}</td>
        <td>{{ identity(row.letter.recipient_id) }}</td>
        <td>{{ {"digital": "digitalt", "paper": "papper"}.get(row.letter.channel, "–") }}</td></tr>
    {% endfor %}
    </tbody>
  </table>
  {% else %}<p>Inga brev registrerade ännu.</p>{% endif %}
</body>
</html>
"""
)
