"""The error body every JSON answer of the app shares: a Swedish summary and each wrong field.

The API's routes, the statistics and the print routes all answer errors in this shape, and the
app's validation handler turns every 422 into it, so it lives in the kit every area shares.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorItem(BaseModel):
    """One thing wrong with a request."""

    field: str | None = Field(description="The field it concerns (e.g. `attachments[0].content`).")
    message: str = Field(description="What is wrong and what to do, in Swedish.")


class ErrorResponse(BaseModel):
    """Every error answer: a Swedish summary and, for bad input, each field that is wrong."""

    detail: str = Field(examples=["mottagaren är inget giltigt identitetsnummer"])
    errors: list[ErrorItem] = Field(default_factory=list)
