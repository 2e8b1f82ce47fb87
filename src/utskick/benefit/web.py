"""The benefit calculator on the web: the page `/nytta` and the JSON API `/api/v1/nytta`.

The calculator holds no personal data, so neither needs a login. Bad input changes nothing:
the page shows the Swedish error next to the field and the example municipality's result; the
API answers 422 in the project's error format (`ErrorResponse`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse

from utskick.benefit import charts, sensitivity
from utskick.benefit.model import (
    INPUT_SPECS,
    SPECS_BY_NAME,
    BenefitInputs,
    InputError,
    InvalidInputsError,
    View,
    compute,
    format_input,
    format_kr,
    format_number,
    format_share,
    format_value,
    format_years,
    inputs_with,
    parse_input,
    to_json,
)
from utskick.web.errors import ErrorItem, ErrorResponse
from utskick.web.json_guard import DuplicateKeyError, loads_strict
from utskick.web.pages import page_templates, svg_for_strict_csp

API_PATH = "/api/v1/nytta"
TEMPLATES = page_templates(Path(__file__).with_name("templates"))
TEMPLATES.env.filters["kr"] = format_kr
TEMPLATES.env.filters["share"] = format_share
TEMPLATES.env.filters["years"] = format_years
TEMPLATES.env.filters["number"] = format_number

_CHANGE = SPECS_BY_NAME["discount_rate"]  # a share like any other: "20%" or "0.20"
_INVALID: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorResponse, "description": "Felaktig indata; varje fel är namngivet."}
}

page_router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix=API_PATH, tags=["nytta"])


def include_benefit_calculator(app: FastAPI) -> None:
    """Add the calculator's page and its JSON API to `app`."""
    app.include_router(page_router)
    app.include_router(api_router)


# --- the page --------------------------------------------------------------------------------


@page_router.get("/nytta", response_class=HTMLResponse)
def calculator_page(request: Request) -> HTMLResponse:
    """The inputs as a form, the three views, the year-by-year tables, charts and sensitivity."""
    given = {name: text for name, text in request.query_params.items() if name in SPECS_BY_NAME}
    field_errors: dict[str, str] = {}
    try:
        inputs = inputs_with(given)
    except InvalidInputsError as error:
        field_errors = {item.field: item.message for item in error.errors}
        inputs = BenefitInputs()
    result = compute(inputs)
    analysis = sensitivity.analyse(inputs)
    fields = [
        {
            "spec": spec,
            "text": given.get(spec.name, format_input(spec, getattr(BenefitInputs(), spec.name))),
            "error": field_errors.get(spec.name),
        }
        for spec in INPUT_SPECS
    ]
    return TEMPLATES.TemplateResponse(
        request,
        "nytta.html",
        {
            "fields": fields,
            "has_errors": bool(field_errors),
            "result": result,
            "views": list(View),
            "analysis": analysis,
            # Inline SVG without style attributes: the page's CSP allows none.
            "model_svg": svg_for_strict_csp(
                charts.inline_svg(charts.model_chart(result), "nytta-modell")
            ),
            "tornado_svg": svg_for_strict_csp(
                charts.inline_svg(charts.tornado_chart(analysis.tornado), "nytta-tornado")
            ),
            "format_value": _format_bar_value,
            "api_path": API_PATH,
        },
        status_code=422 if field_errors else 200,
    )


def _format_bar_value(name: str, value: Decimal) -> str:
    return format_value(SPECS_BY_NAME[name], value)


# --- the JSON API ----------------------------------------------------------------------------

_INPUT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        spec.name: {
            "oneOf": [{"type": "number"}, {"type": "string"}],
            "description": spec.title
            + (' (andel: 0.10 eller "10%")' if spec.kind == "share" else ""),
        }
        for spec in INPUT_SPECS
    },
    "example": {"inhabitants": 50000, "usage_last": "90%"},
}


@api_router.get("", summary="Nyttomodellen med Exempelkommunens värden", responses=_INVALID)
def default_result(request: Request) -> JSONResponse:
    """The model's result; any input may be given as a query parameter (`?inhabitants=50000`)."""
    return _answer(dict(request.query_params), lambda inputs: to_json(compute(inputs)))


@api_router.post(
    "",
    summary="Nyttomodellen med egna indata",
    responses=_INVALID | {400: {"model": ErrorResponse, "description": "Kroppen är inte JSON."}},
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": _INPUT_SCHEMA}},
        }
    },
)
async def computed_result(request: Request) -> JSONResponse:
    """The model's result for a JSON object of inputs; those left out keep their defaults."""
    raw = await request.body()
    try:
        # Numbers are kept as written: `1e309` or a number of 5,000 digits is then refused by
        # the model's bounds with the text shown, never rounded to infinity or a crash.
        body = loads_strict(raw, numbers_as_text=True) if raw else {}
    except DuplicateKeyError as error:
        return _error(422, "felaktig indata", [InputError(error.key, error.message)])
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or beyond reason
        return _error(400, "anropets innehåll kan inte läsas; skicka ett JSON-objekt i UTF-8", [])
    if not isinstance(body, dict):
        return _error(
            422,
            "felaktig indata",
            [
                InputError(
                    "(kropp)", 'kroppen ska vara ett JSON-objekt, t.ex. {"inhabitants": 50000}'
                )
            ],
        )
    texts = {
        name: value if isinstance(value, str) else json.dumps(value) for name, value in body.items()
    }
    return _answer(texts, lambda inputs: to_json(compute(inputs)))


@api_router.get(
    "/kanslighet",
    summary="Känslighetsanalys: scenarier och tornado",
    responses=_INVALID,
)
def sensitivity_result(request: Request) -> JSONResponse:
    """Scenarios and tornado for the inputs given as query parameters.

    Two more parameters: `view`, the tornado's view (default `mailing_cost`), and `change`,
    the X % of the running costs and the tornado (default `20%`).
    """
    query = dict(request.query_params)
    view_text = query.pop("view", View.MAILING_COST.value)
    change_text = query.pop("change", None)
    errors = []
    if view_text not in {view.value for view in View}:
        names = ", ".join(view.value for view in View)
        errors.append(InputError("view", f"vyn '{view_text}' finns inte; välj en av {names}"))
    change = sensitivity.DEFAULT_CHANGE
    if change_text is not None:
        try:
            change = Decimal(parse_input(_CHANGE, change_text))
        except InvalidInputsError:
            errors.append(
                InputError(
                    "change",
                    f"ändringen (change) måste vara en andel mellan 0 % och 100 %, t.ex. 20% "
                    f"eller 0.20, fick '{change_text}'",
                )
            )
    if errors:
        return _error(422, "felaktig indata", errors)
    return _answer(
        query,
        lambda inputs: sensitivity.to_json(
            sensitivity.analyse(inputs, change=change, view=View(view_text))
        ),
    )


def _answer(
    texts: Mapping[str, str], build: Callable[[BenefitInputs], dict[str, Any]]
) -> JSONResponse:
    """`build`'s answer for the inputs in `texts`, or 422 naming every input that is wrong."""
    try:
        inputs = inputs_with(texts)
    except InvalidInputsError as error:
        return _error(422, "felaktig indata", list(error.errors))
    return JSONResponse(build(inputs))


def _error(status: int, summary: str, errors: list[InputError]) -> JSONResponse:
    detail = summary
    if errors:
        detail = f"{summary} — " + "; ".join(error.message for error in errors)
    body = ErrorResponse(
        detail=detail,
        errors=[ErrorItem(field=error.field, message=error.message) for error in errors],
    )
    return JSONResponse(body.model_dump(), status_code=status)
