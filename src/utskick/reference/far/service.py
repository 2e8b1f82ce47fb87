"""FaR's SOAP service: Recipient (v3, v2) and Authority at `POST /far`, the WSDL at `GET /far?wsdl`.

Every request takes the same steps, and every refusal is a SOAP fault (HTTP 500) with
ExceptionInformation, never an error inside a 200:

1. size: at most 2 MB, as Mina meddelanden accepts (5001);
2. the hardened parser (no DTD, no entities, no network, bounded depth) and one body
   element (5001);
3. the caller: the organisation whose registered certificate the client presented over
   mutual TLS (5002 without one, or for a certificate FaR does not know);
4. the operation, by the body element's name (5001 for one FaR does not offer);
5. for isReachable and isRegistered, at most 1,000 recipients (5005), checked before the
   schema so that the caller learns the real reason;
6. the contract's XSD (5001 with the schema's message);
7. who may ask: isReachable for a sender only by that sender or a registered intermediary,
   the account operations only by mailbox operators and only on accounts they hold (5002,
   5003); then the register itself (`FarRegistry`), whose `FarError` becomes the fault.

Test mode: register, deregister, storeAccountPreferences and changeServiceSupplier carry the
citizen's e-ID signature (SignatureData). The schema requires it, but the reference FaR does
not verify it: the reference mailbox signs with a simulated e-ID (`far.client`).

The Authority operations (getSenders, isSenderAccepted) are answered at the same address;
`mm.far` describes their wire form. `GET /schema/…` serves the contract's XSDs, so that the
WSDL's relative imports resolve for a client that reads it from here.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from cryptography import x509
from fastapi import FastAPI, Request, Response
from lxml import etree
from starlette.concurrency import run_in_threadpool

from utskick.mm import far, schemas
from utskick.mm.keys import format_subject
from utskick.mm.schemas import SCHEMA_DIR, SchemaValidationError
from utskick.mm.soap import (
    MAX_MESSAGE_BYTES,
    MAX_RECIPIENTS_PER_CALL,
    SOAP_CONTENT_TYPE,
    AccountStatus,
    ReachabilityStatus,
    ServiceSupplier,
    SoapError,
    SoapFault,
    body_element,
    fault_response,
    is_reachable_response,
    read_is_reachable_request,
)
from utskick.mm.xml import UnsafeXMLError, XMLLimits
from utskick.reference.context import ReferenceContext
from utskick.reference.far.registry import (
    ACCESS_DENIED,
    INVALID_INPUT,
    MAX_EXCEEDED,
    NOT_FOUND,
    SERVICE_PROVIDER_DOES_NOT_EXIST,
    AccountState,
    FarError,
    FarRegistry,
    Operator,
)
from utskick.reference.store import FarOrganisation, utc_now
from utskick.reference.tls import client_certificate

_log = logging.getLogger(__name__)

_LIMITS = XMLLimits(max_bytes=MAX_MESSAGE_BYTES)
_ORGANISATION_ID = re.compile(r"(16)?(\d{10})")
_WSDL_ADDRESS = 'location="http://minameddelanden.gov.se/Recipient/v3"'
_TEST_MODE_NOTE = "Testläge: e-legitimationens underskrift har inte kontrollerats."


@dataclass(frozen=True)
class _Operation:
    """How FaR answers one operation: its schema, who may call it, and the handler."""

    name: str
    schema: Callable[[], etree.XMLSchema]
    handle: Callable[[FarOrganisation, etree._Element], bytes]
    operators_only: bool = False
    recipient_list: str | None = None  # the repeated recipient element, counted before the XSD


class FarSoapService:
    """Answers FaR's SOAP requests: who is calling, what they ask, and the register's answer."""

    def __init__(self, context: ReferenceContext) -> None:
        self._context = context
        self._registry: FarRegistry = context.registry
        operations = [
            _Operation(
                "isReachable",
                schemas.recipient_v3,
                self._is_reachable,
                recipient_list="recipientId",
            ),
            _Operation(
                "isRegistered",
                schemas.recipient_v3,
                self._is_registered,
                recipient_list="recipientId",
            ),
            _Operation(
                "getAccountPreferences",
                schemas.recipient_v3,
                self._get_account_preferences,
                operators_only=True,
            ),
            _Operation("register", schemas.recipient_v3, self._register, operators_only=True),
            _Operation("deregister", schemas.recipient_v3, self._deregister, operators_only=True),
            _Operation(
                "storeAccountPreferences",
                schemas.recipient_v2,
                self._store_account_preferences,
                operators_only=True,
            ),
            _Operation(
                "changeServiceSupplier",
                schemas.recipient_v2,
                self._change_service_supplier,
                operators_only=True,
            ),
            _Operation("getSenders", schemas.authority_service, self._get_senders),
            _Operation("isSenderAccepted", schemas.authority_service, self._is_sender_accepted),
        ]
        tags = {
            "isReachable": far.IS_REACHABLE,
            "isRegistered": far.IS_REGISTERED,
            "getAccountPreferences": far.GET_ACCOUNT_PREFERENCES,
            "register": far.REGISTER,
            "deregister": far.DEREGISTER,
            "storeAccountPreferences": far.STORE_ACCOUNT_PREFERENCES,
            "changeServiceSupplier": far.CHANGE_SERVICE_SUPPLIER,
            "getSenders": far.GET_SENDERS,
            "isSenderAccepted": far.IS_SENDER_ACCEPTED,
        }
        self._operations = {tags[operation.name]: operation for operation in operations}

    def answer(self, document: bytes, certificate: x509.Certificate | None) -> tuple[int, bytes]:
        """The HTTP status and SOAP envelope answering one request (a fault is status 500)."""
        call_id = uuid.uuid4().hex
        try:
            return 200, self._answer(document, certificate)
        except FarError as error:
            # The code only: the description may name the person asked about.
            _log.info("FaR answers with fault %s (CallId %s)", error.code, call_id)
            return 500, fault_response(SoapFault(error.code, error.description, call_id))

    def _answer(self, document: bytes, certificate: x509.Certificate | None) -> bytes:
        if len(document) > MAX_MESSAGE_BYTES:
            raise FarError(
                INVALID_INPUT,
                f"förfrågan är större än {MAX_MESSAGE_BYTES // 1_048_576} MB, gränsen för "
                "Mina meddelanden (dela upp den)",
            )
        try:
            content = body_element(document, _LIMITS)
        except (UnsafeXMLError, SoapError) as error:
            raise FarError(INVALID_INPUT, f"förfrågan kan inte läsas: {error}") from None
        except SoapFault:
            raise FarError(
                INVALID_INPUT, "förfrågan är en SOAP-fault; skicka en FaR-operation"
            ) from None
        caller = self._caller(certificate)
        operation = self._operations.get(content.tag)
        if operation is None:
            offered = ", ".join(o.name for o in self._operations.values())
            raise FarError(
                INVALID_INPUT,
                f"FaR har ingen operation {content.tag}; referens-FaR tar emot {offered}",
            )
        if operation.recipient_list is not None:
            _check_recipient_count(content, operation.recipient_list)
        try:
            schemas.validate(content, operation.schema())
        except SchemaValidationError as error:
            raise FarError(INVALID_INPUT, f"{operation.name}: förfrågan {error}") from None
        if operation.operators_only and not caller.operator:
            raise FarError(
                ACCESS_DENIED,
                f"{caller.name} är ingen brevlådeoperatör; bara operatörer får anropa "
                f"{operation.name}",
            )
        try:
            return operation.handle(caller, content)
        except SoapError as error:
            raise FarError(INVALID_INPUT, f"{operation.name}: {error}") from None

    def _caller(self, certificate: x509.Certificate | None) -> FarOrganisation:
        if certificate is None:
            raise FarError(
                ACCESS_DENIED,
                "anropet saknar klientcertifikat; FaR tar bara emot anrop över ömsesidig TLS "
                "med organisationens certifikat",
            )
        organisation = self._registry.organisation_of_certificate(certificate)
        if organisation is None:
            raise FarError(
                ACCESS_DENIED,
                f"klientcertifikatet ({format_subject(certificate.subject)}) tillhör ingen "
                "organisation som är registrerad i FaR; använd organisationens registrerade "
                "certifikat",
            )
        return organisation

    # --- sender side ------------------------------------------------------------------------

    def _is_reachable(self, caller: FarOrganisation, content: etree._Element) -> bytes:
        sender_id, recipient_ids = read_is_reachable_request(content)
        sender_number = far.organisation_number_of_id(sender_id)
        if sender_number != caller.number and not caller.intermediary:
            raise FarError(
                ACCESS_DENIED,
                f"{caller.name} får inte fråga för avsändaren {sender_id}: bara avsändaren själv "
                "eller en registrerad förmedlare får det",
            )
        answers = self._registry.reachability(sender_number, recipient_ids)
        return is_reachable_response(
            [
                ReachabilityStatus(
                    recipient_id=answer.account.recipient_id,
                    account_type=answer.account.account_type,
                    pending=answer.account.pending,
                    sender_accepted=answer.sender_accepted,
                    service_supplier=_service_supplier(answer.account.operator),
                    last_registration=_utc(answer.account.registered_at),
                    last_sender_accept_change=_utc(answer.last_sender_accept_change),
                )
                for answer in answers
            ]
        )

    def _is_registered(self, _caller: FarOrganisation, content: etree._Element) -> bytes:
        states = self._registry.account_states(far.read_is_registered_request(content))
        return far.is_registered_response([_account_status(state) for state in states])

    def _get_senders(self, _caller: FarOrganisation, content: etree._Element) -> bytes:
        far.read_get_senders_request(content)
        return far.get_senders_response(
            [far.Sender(sender.number, sender.name) for sender in self._registry.senders()]
        )

    def _is_sender_accepted(self, _caller: FarOrganisation, content: etree._Element) -> bytes:
        number = far.read_is_sender_accepted_request(content)
        return far.is_sender_accepted_response(self._registry.is_registered_sender(number))

    # --- operator side ----------------------------------------------------------------------

    def _get_account_preferences(self, caller: FarOrganisation, content: etree._Element) -> bytes:
        query = far.read_get_account_preferences_request(content)
        senders = self._registry.accepted_senders(caller.number, query.recipient_id)
        return far.get_account_preferences_response(
            far.AccountPreferences(
                query.recipient_id, tuple(far.Sender(s.number, s.name) for s in senders)
            )
        )

    def _register(self, caller: FarOrganisation, content: etree._Element) -> bytes:
        request = far.read_register_request(content)
        account_request = request.account_request
        if account_request.request_type != "Create":
            raise FarError(
                INVALID_INPUT,
                "register tar emot accountRequest med Type Create; avsluta en brevlåda med "
                "deregister",
            )
        if request.account_type != "Secure":
            raise FarError(
                INVALID_INPUT,
                f"referens-FaR öppnar bara brevlådor av typen Secure (fick {request.account_type})",
            )
        # Opens the account, or activates it when it was waiting for activation.
        self._registry.register(caller.number, account_request.recipient_id, pending=False)
        return far.register_response(_completed(account_request.recipient_id))

    def _deregister(self, caller: FarOrganisation, content: etree._Element) -> bytes:
        request = far.read_deregister_request(content)
        account_request = request.account_request
        if account_request.request_type != "Delete":
            raise FarError(
                INVALID_INPUT,
                "deregister tar emot deregisterAccount med Type Delete; öppna en brevlåda med "
                "register",
            )
        self._registry.deregister(caller.number, account_request.recipient_id)
        return far.deregister_response(_completed(account_request.recipient_id))

    def _store_account_preferences(self, caller: FarOrganisation, content: etree._Element) -> bytes:
        request = far.read_store_account_preferences_request(content)
        if request.preferences.recipient_id != request.recipient_id:
            raise FarError(
                INVALID_INPUT,
                f"preferences gäller {request.preferences.recipient_id} men anropet gäller "
                f"{request.recipient_id}; de ska vara samma mottagare",
            )
        accepted = [sender.number for sender in request.preferences.accepted_senders]
        self._registry.store_accepted_senders(caller.number, request.recipient_id, accepted)
        return far.store_account_preferences_response(_completed(request.recipient_id))

    def _change_service_supplier(self, caller: FarOrganisation, content: etree._Element) -> bytes:
        request = far.read_change_service_supplier_request(content)
        target = self._operator_named(request.service_supplier)
        state = self._registry.account_states([request.recipient_id])[0]
        current = state.operator.number if state.operator is not None else None
        # Either operator may carry the citizen's signed wish: the one the account leaves
        # or the one it moves to.
        if state.account_type == "Not" or caller.number not in {current, target}:
            raise FarError(
                NOT_FOUND,
                f"{request.recipient_id} har ingen brevlåda hos {caller.name} och flyttas inte "
                f"dit; bara den nuvarande eller den nya operatören får flytta brevlådan",
            )
        self._registry.change_service_supplier(request.recipient_id, target)
        return far.change_service_supplier_response(_completed(request.recipient_id))

    def _operator_named(self, name: str) -> str:
        """The organisationsnummer of the operator a changeServiceSupplier names.

        The contract names the operator by its internet domain; on loopback the operators
        differ only by port, so the host and port of its ServiceAdress or UIAdress name it,
        as does its organisationsnummer (with or without 16).
        """
        number = _ORGANISATION_ID.fullmatch(name)
        location = _location(name)
        for candidate in self._context.world.operators:
            organisation = self._registry.organisation(candidate.number)
            if organisation is None or not organisation.operator:
                continue
            if number is not None and number.group(2) == organisation.number:
                return organisation.number
            addresses = {
                _location(organisation.service_address),
                _location(organisation.ui_address),
            }
            if location is not None and location in addresses:
                return organisation.number
        raise FarError(
            SERVICE_PROVIDER_DOES_NOT_EXIST,
            f"operatören '{name}' finns inte i FaR; ange operatörens organisationsnummer eller "
            "värd och port i dess ServiceAdress",
        )


def _check_recipient_count(content: etree._Element, name: str) -> None:
    count = sum(1 for child in content if etree.QName(child).localname == name)
    if count > MAX_RECIPIENTS_PER_CALL:
        raise FarError(
            MAX_EXCEEDED,
            f"{count} mottagare i ett anrop; högst {MAX_RECIPIENTS_PER_CALL} tas emot "
            "(dela upp frågan)",
        )


def _location(address: str | None) -> str | None:
    """Host and port of a URL or of `host:port`, lower case; None when there is none."""
    if not address:
        return None
    text = address.strip()
    netloc = urlsplit(text if "//" in text else "//" + text).netloc.lower()
    return netloc or None


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; the register stores UTC.
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _service_supplier(operator: Operator | None) -> ServiceSupplier | None:
    if operator is None:
        return None
    return ServiceSupplier(
        id=far.ORGANISATION_PREFIX + operator.number,
        name=operator.name,
        service_address=operator.service_address,
        # The reference operators have one address; FaR's InternalServiceAdress is the same.
        internal_service_address=operator.service_address,
        ui_address=operator.ui_address,
    )


def _account_status(state: AccountState) -> AccountStatus:
    return AccountStatus(
        recipient_id=state.recipient_id,
        account_type=state.account_type,
        pending=state.pending,
        service_supplier=_service_supplier(state.operator),
        last_registration=_utc(state.registered_at),
    )


def _completed(recipient_id: str) -> far.SignatureAuthorizationResult:
    return far.SignatureAuthorizationResult(
        recipient_id=recipient_id,
        status="Complete",
        timestamp=utc_now().replace(microsecond=0),
        text=_TEST_MODE_NOTE,
    )


async def _read_limited(request: Request, limit: int) -> bytes:
    """The request body, read no further than one byte past `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"\0" * (limit + 1)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            break
    return bytes(body)


def _schema_file(path: str) -> bytes | None:
    """A shipped XSD by its path under the schema folder, or None (never outside it)."""
    relative = PurePosixPath(path)
    if relative.suffix != ".xsd" or relative.is_absolute() or ".." in relative.parts:
        return None
    file = SCHEMA_DIR.joinpath(*relative.parts)
    return file.read_bytes() if file.is_file() else None


def create_far_app(context: ReferenceContext) -> FastAPI:
    """FaR's web app: the SOAP endpoint, its WSDL and the contract's XSDs."""
    app = FastAPI(title="FaR (referens)", docs_url=None, redoc_url=None, openapi_url=None)
    service = FarSoapService(context)
    wsdl = (
        (SCHEMA_DIR / "Recipient.wsdl")
        .read_text(encoding="utf-8")
        .replace(_WSDL_ADDRESS, f'location="{context.endpoints.far_url}"')
    )

    @app.post("/far")
    async def soap_call(request: Request) -> Response:
        document = await _read_limited(request, MAX_MESSAGE_BYTES)
        # The register's work is synchronous database access: off the event loop.
        status, body = await run_in_threadpool(
            service.answer, document, client_certificate(request)
        )
        return Response(body, status_code=status, media_type=SOAP_CONTENT_TYPE)

    @app.get("/far")
    def description(request: Request) -> Response:
        if "wsdl" not in request.query_params:
            return Response(
                "FaR tar emot SOAP-anrop med POST på den här adressen; tjänstebeskrivningen "
                "finns på ?wsdl\n",
                status_code=400,
                media_type="text/plain; charset=utf-8",
            )
        return Response(wsdl, media_type="text/xml; charset=utf-8")

    @app.get("/schema/{path:path}")
    def schema(path: str) -> Response:
        content = _schema_file(path)
        if content is None:
            return Response(
                f"schemat {path} finns inte; WSDL:en på /far?wsdl pekar ut de som finns\n",
                status_code=404,
                media_type="text/plain; charset=utf-8",
            )
        return Response(content, media_type="text/xml; charset=utf-8")

    return app
