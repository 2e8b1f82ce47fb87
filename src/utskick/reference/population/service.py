"""The population register over HTTPS with mutual TLS: a small JSON API.

`GET /v1/records/{id}` answers one id; `POST /v1/lookup` with `{"ids": [...]}` answers up to
1,000 at once (a print batch asks for its addresses in one call). Only organisations
registered in FaR may ask: the caller is identified by its client certificate.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel, Field

from utskick.reference.context import ReferenceContext
from utskick.reference.population.register import (
    MAX_IDS_PER_LOOKUP,
    InvalidLookupError,
    PopulationRegister,
)
from utskick.reference.tls import client_certificate


class LookupRequest(BaseModel):
    """A batch of ids to look up."""

    ids: list[str] = Field(max_length=MAX_IDS_PER_LOOKUP)


def create_population_app(context: ReferenceContext) -> FastAPI:
    """The population register stand-in's web app."""
    app = FastAPI(title="Folkbokföringen (testversion)", docs_url=None, redoc_url=None)
    register = PopulationRegister(context.sessions)

    def _require_registered_caller(request: Request) -> None:
        certificate = client_certificate(request)
        organisation = (
            context.registry.organisation_of_certificate(certificate) if certificate else None
        )
        if organisation is None:
            raise HTTPException(
                403,
                "klientcertifikatet tillhör ingen organisation som är registrerad i FaR; "
                "använd organisationens registrerade certifikat",
            )

    def _lookup(ids: list[str]) -> list[dict[str, Any]]:
        try:
            return [record.as_json() for record in register.lookup(ids)]
        except InvalidLookupError as error:
            raise HTTPException(400, str(error)) from None

    @app.get("/v1/records/{record_id}")
    def one(record_id: str, request: Request) -> dict[str, Any]:
        """One person or organisation; 404 if the register does not know the id."""
        _require_registered_caller(request)
        record = _lookup([record_id])[0]
        if not record["found"]:
            raise HTTPException(404, f"{record['id']} finns inte i registret")
        return record

    @app.post("/v1/lookup")
    def many(lookup: LookupRequest, request: Request) -> dict[str, Any]:
        """Up to 1,000 ids in one call, answered in order (`found` false for unknown ids)."""
        _require_registered_caller(request)
        return {"records": _lookup(lookup.ids)}

    return app
