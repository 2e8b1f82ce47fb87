"""The API's precheck: which channel a letter to each recipient would take now, and why."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.intake.api_common import ApiError, System, api_router
from utskick.intake.schemas import DecisionOut, PrecheckIn, PrecheckOut
from utskick.switch.precheck import FarUnavailableError, Precheck
from utskick.web.errors import ErrorResponse

router = api_router()


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
