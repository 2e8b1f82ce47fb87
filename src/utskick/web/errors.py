"""Errors in Swedish, in the one shape every JSON answer of the app shares.

`ErrorResponse` is a Swedish summary and each wrong field. The API's routes, the statistics and
the print routes answer errors in it, and `swedish_validation_error` turns every 422 into it:
whether the error came from a JSON body, a query parameter or a form, it names the field that
is wrong and says in Swedish what it should be.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

_NUMBER = "ska vara ett tal"
_TIME = "ska vara en tidpunkt, t.ex. 2026-11-27T10:00:00Z"
_MESSAGES = {
    "missing": "saknas",
    "string_type": "ska vara text",
    "string_unicode": "ska vara text i giltig UTF-8",
    "string_too_short": "ska ha minst {min_length} tecken",
    "string_too_long": "får ha högst {max_length} tecken",
    "string_pattern_mismatch": "har fel form",
    "too_short": "ska ha minst {min_length} element",
    "too_long": "får ha högst {max_length} element",
    "int_type": "ska vara ett heltal",
    "int_parsing": "ska vara ett heltal",
    "int_from_float": "ska vara ett heltal",
    "int_parsing_size": "är ett för stort heltal",
    "float_type": _NUMBER,
    "float_parsing": _NUMBER,
    "decimal_type": _NUMBER,
    "decimal_parsing": _NUMBER,
    "finite_number": "ska vara ett ändligt tal (inte NaN eller oändligheten)",
    "bool_type": "ska vara true eller false",
    "bool_parsing": "ska vara true eller false",
    "literal_error": "ska vara en av {expected}",
    "enum": "ska vara en av {expected}",
    "extra_forbidden": "är inget känt fält; ta bort det",
    "json_invalid": "är inte giltig JSON",
    "json_type": "är inte giltig JSON",
    "model_type": "ska vara ett JSON-objekt",
    "model_attributes_type": "ska vara ett JSON-objekt",
    "dict_type": "ska vara ett JSON-objekt",
    "list_type": "ska vara en lista",
    "greater_than": "ska vara större än {gt}",
    "greater_than_equal": "ska vara minst {ge}",
    "less_than": "ska vara mindre än {lt}",
    "less_than_equal": "får vara högst {le}",
    "value_error": "{error}",
    "datetime_type": _TIME,
    "datetime_parsing": _TIME,
    "datetime_from_date_parsing": _TIME,
    "uuid_type": "ska vara ett UUID",
    "uuid_parsing": "ska vara ett UUID",
}
_WHERE = ("body", "query", "path", "header", "cookie")
_FALLBACK = "har ett ogiltigt värde"


def swedish_error(error: dict[str, Any]) -> dict[str, str | None]:
    """A pydantic error as `{"field": "attachments[0].filename", "message": "<Swedish>"}`."""
    kind = str(error.get("type"))
    if kind == "json_invalid":
        return {"field": None, "message": _json_message(error)}
    location = [part for part in error.get("loc", ()) if part not in _WHERE]
    field_name = ""
    for part in location:
        field_name += f"[{part}]" if isinstance(part, int) else f".{part}"
    field = field_name.lstrip(".") or None
    if field is None and kind == "missing":
        return {"field": None, "message": "anropet saknar innehåll; skicka ett JSON-objekt"}
    template = _MESSAGES.get(kind, _FALLBACK)
    context = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
    try:
        message = template.format(**context)
    except (KeyError, IndexError):
        message = _FALLBACK
    return {"field": field, "message": message}


def _json_message(error: dict[str, Any]) -> str:
    """Where the JSON breaks: FastAPI puts the character position last in the location."""
    location = error.get("loc", ())
    position = location[-1] if location and isinstance(location[-1], int) else None
    where = f" (fel vid tecken {position + 1})" if position is not None else ""
    return (
        f"anropet är inte giltig JSON{where}; kontrollera citattecken, kommatecken och "
        "klammerparenteser"
    )


async def swedish_validation_error(_request: Request, error: Exception) -> JSONResponse:
    """422 naming each wrong field in Swedish, in the API's error format (`ErrorResponse`)."""
    assert isinstance(error, RequestValidationError)
    items = [swedish_error(dict(item)) for item in error.errors()]
    summary = "; ".join(
        f"{item['field']}: {item['message']}" if item["field"] else str(item["message"])
        for item in items
    )
    return JSONResponse(
        {"detail": f"felaktig indata — {summary}", "errors": jsonable_encoder(items)},
        status_code=422,
    )


class ErrorItem(BaseModel):
    """One thing wrong with a request."""

    field: str | None = Field(description="The field it concerns (e.g. `attachments[0].content`).")
    message: str = Field(description="What is wrong and what to do, in Swedish.")


class ErrorResponse(BaseModel):
    """Every error answer: a Swedish summary and, for bad input, each field that is wrong."""

    detail: str = Field(examples=["mottagaren är inget giltigt identitetsnummer"])
    errors: list[ErrorItem] = Field(default_factory=list)
