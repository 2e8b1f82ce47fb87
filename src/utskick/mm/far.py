"""FaR on the wire: the Recipient and Authority operations, built and read on both sides.

The connector asks FaR (isReachable, isRegistered, getSenders, isSenderAccepted) and the
reference FaR answers; the reference mailbox operators also use the account operations
(register, deregister, getAccountPreferences, storeAccountPreferences,
changeServiceSupplier). Every operation has four functions here: a request builder, a
request reader (`read_…` takes the body element, `parse_…` the bytes from outside), a
response builder and a response parser. isReachable's codecs live in `mm.soap`, which also
holds the `AccountStatus` type this module shares.

Namespaces follow the contract: the v3 operations wrap their children in Recipient/v3, the
v2 ones (storeAccountPreferences, changeServiceSupplier) in Recipient/v2. The contract's
types put their own fields in their schema's namespace: AccountRequest and
AccountPreferences in Recipient, a Sender's fields in Sender, SignatureData in Common, and
SignatureAuthorizationResult in schema/Authority. The XML is prefix-free: every element
that changes namespace declares it as the default.

The Authority service has no WSDL in the contracts; the design note says its inline schema is
unqualified (`<arg0>` without a namespace). Utskick speaks it as a JAX-WS service with such a
schema does: the wrapper elements `getSenders`, `getSendersResponse`, `isSenderAccepted` and
`isSenderAcceptedResponse` are in the service namespace `http://minameddelanden.gov.se/Authority`,
their children `arg0` (the sender's 16 + organisationsnummer) and `return` in no namespace, and
each sender in `getSendersResponse/return` is a Sender.xsd `Sender` (Id = 16 +
organisationsnummer, Name). To stay prefix-free, the unqualified children undeclare the
default namespace (`xmlns=""`). `schemas.authority_service()` validates exactly this shape.

All parsers take bytes from another party through `soap.body_element` (the hardened parser);
a fault in the answer is raised as `soap.SoapFault`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from dataclasses import dataclass
from xml.sax.saxutils import escape

from lxml import etree

from utskick.mm import namespaces as ns
from utskick.mm import soap
from utskick.mm.soap import (
    MAX_RECIPIENTS_PER_CALL,
    SoapError,
    append_account_status,
    append_element,
    body_element,
    envelope,
    read_account_status,
    read_boolean,
    read_datetime,
)

# isRegistered answers with the AccountStatus that isReachable also carries.
AccountStatus = soap.AccountStatus

ORGANISATION_PREFIX = "16"
_ORGANISATION_ID = re.compile(r"16\d{10}")

_R3 = ns.RECIPIENT_V3
_R2 = ns.RECIPIENT_V2
_R1 = ns.RECIPIENT

# The body element of each FaR request, in Clark notation: the service dispatches on these.
IS_REACHABLE = f"{{{_R3}}}isReachable"
IS_REGISTERED = f"{{{_R3}}}isRegistered"
GET_ACCOUNT_PREFERENCES = f"{{{_R3}}}getAccountPreferences"
REGISTER = f"{{{_R3}}}register"
DEREGISTER = f"{{{_R3}}}deregister"
STORE_ACCOUNT_PREFERENCES = f"{{{_R2}}}storeAccountPreferences"
CHANGE_SERVICE_SUPPLIER = f"{{{_R2}}}changeServiceSupplier"
GET_SENDERS = f"{{{ns.AUTHORITY_SERVICE}}}getSenders"
IS_SENDER_ACCEPTED = f"{{{ns.AUTHORITY_SERVICE}}}isSenderAccepted"


# --- values ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sender:
    """A registered sender: its 10-digit organisationsnummer and its name."""

    number: str
    name: str

    @property
    def id(self) -> str:
        """The 12-digit id the wire uses (16 + organisationsnummer)."""
        return ORGANISATION_PREFIX + self.number


def organisation_number_of_id(organisation_id: str) -> str:
    """The 10-digit organisationsnummer in a wire id `16` + 10 digits.

    Raises:
        SoapError: if the id is not 16 followed by ten digits.
    """
    value = organisation_id.strip()
    if not _ORGANISATION_ID.fullmatch(value):
        raise SoapError(
            f"'{value}' är inget organisations-id (16 följt av organisationsnumrets 10 siffror)"
        )
    return value[len(ORGANISATION_PREFIX) :]


@dataclass(frozen=True, slots=True)
class SignatureData:
    """A user's signature over an agreement text (the contract's Common SignatureData)."""

    signature: bytes
    certificate: str
    nonce: str | None = None


@dataclass(frozen=True, slots=True)
class AccountRequest:
    """A request to open (`Create`) or close (`Delete`) a recipient's account."""

    recipient_id: str
    request_type: str  # "Create" or "Delete"
    agreement_text: str
    timestamp: dt.date
    service_supplier: str


@dataclass(frozen=True, slots=True)
class RegisterRequest:
    """`register`: the account request, the account type and the user's signatures."""

    account_request: AccountRequest
    account_type: str
    signatures: tuple[SignatureData, ...]


@dataclass(frozen=True, slots=True)
class DeregisterRequest:
    """`deregister`: the account request (Type Delete) and the user's signatures."""

    account_request: AccountRequest
    signatures: tuple[SignatureData, ...]


@dataclass(frozen=True, slots=True)
class AccountPreferencesQuery:
    """`getAccountPreferences`: whose preferences, asked on behalf of which user."""

    recipient_id: str
    user_identity: str


@dataclass(frozen=True, slots=True)
class AccountPreferences:
    """The senders a recipient accepts digital mail from."""

    recipient_id: str
    accepted_senders: tuple[Sender, ...]


@dataclass(frozen=True, slots=True)
class StoreAccountPreferencesRequest:
    """`storeAccountPreferences`: the new accepted senders, signed by the user."""

    recipient_id: str
    user_identity: str
    preferences: AccountPreferences
    agreement_text: str
    signatures: tuple[SignatureData, ...]


@dataclass(frozen=True, slots=True)
class ChangeServiceSupplierRequest:
    """`changeServiceSupplier`: move the account to the operator named in `service_supplier`."""

    recipient_id: str
    user_identity: str
    service_supplier: str  # the contract says: the chosen operator's internet domain
    agreement_text: str
    signatures: tuple[SignatureData, ...]


@dataclass(frozen=True, slots=True)
class SignatureAuthorizationResult:
    """FaR's answer to a signed account operation (`Complete` when the signature suffices)."""

    recipient_id: str | None = None
    status: str | None = None
    timestamp: dt.datetime | None = None
    text: str | None = None


# --- shared element helpers ------------------------------------------------------------------


def _root(namespace: str, name: str) -> etree._Element:
    return etree.Element(f"{{{namespace}}}{name}", nsmap={None: namespace})  # type: ignore[dict-item]


def _serialise(root: etree._Element) -> bytes:
    return envelope(etree.tostring(root, encoding="UTF-8", xml_declaration=False))


def _expect(content: etree._Element, tag: str) -> etree._Element:
    if content.tag != tag:
        expected = tag.rpartition("}")[2]
        raise SoapError(f"väntade {expected}, fick {content.tag}")
    return content


def _required(parent: etree._Element, namespace: str, name: str) -> etree._Element:
    element = parent.find(f"{{{namespace}}}{name}")
    if element is None:
        where = parent.tag.rpartition("}")[2]
        raise SoapError(f"{where} saknar {name}")
    return element


def _text(parent: etree._Element, namespace: str, name: str) -> str:
    return (_required(parent, namespace, name).text or "").strip()


def _append_account_request(parent: etree._Element, name: str, request: AccountRequest) -> None:
    element = append_element(parent, parent.nsmap[None], name)
    append_element(element, _R1, "Id", request.recipient_id)
    append_element(element, _R1, "Type", request.request_type)
    append_element(element, _R1, "AgreementText", request.agreement_text)
    append_element(element, _R1, "Timestamp", request.timestamp.isoformat())
    append_element(element, _R1, "ServiceSupplier", request.service_supplier)


def _read_account_request(element: etree._Element) -> AccountRequest:
    try:
        timestamp = dt.date.fromisoformat(_text(element, _R1, "Timestamp"))
    except ValueError:
        raise SoapError("AccountRequest: Timestamp är inget datum (ÅÅÅÅ-MM-DD)") from None
    return AccountRequest(
        recipient_id=_text(element, _R1, "Id"),
        request_type=_text(element, _R1, "Type"),
        agreement_text=_required(element, _R1, "AgreementText").text or "",
        timestamp=timestamp,
        service_supplier=(_required(element, _R1, "ServiceSupplier").text or "").strip(),
    )


def _append_signatures(
    parent: etree._Element, name: str, signatures: tuple[SignatureData, ...]
) -> None:
    for signature in signatures:
        element = append_element(parent, parent.nsmap[None], name)
        append_element(
            element, ns.COMMON, "Signature", base64.b64encode(signature.signature).decode()
        )
        append_element(element, ns.COMMON, "Certificate", signature.certificate)
        if signature.nonce is not None:
            append_element(element, ns.COMMON, "Nonce", signature.nonce)


def _read_signatures(parent: etree._Element, name: str) -> tuple[SignatureData, ...]:
    namespace = parent.tag[1:].partition("}")[0]
    signatures = []
    for element in parent.iterfind(f"{{{namespace}}}{name}"):
        try:
            value = base64.b64decode(_text(element, ns.COMMON, "Signature"), validate=True)
        except binascii.Error:
            raise SoapError("SignatureData: Signature är inte base64") from None
        signatures.append(
            SignatureData(
                signature=value,
                certificate=_required(element, ns.COMMON, "Certificate").text or "",
                nonce=element.findtext(f"{{{ns.COMMON}}}Nonce"),
            )
        )
    return tuple(signatures)


def _append_sender(parent: etree._Element, namespace: str, name: str, sender: Sender) -> None:
    element = append_element(parent, namespace, name)
    append_element(element, ns.SENDER, "Id", sender.id)
    append_element(element, ns.SENDER, "Name", sender.name)


def _read_sender(element: etree._Element) -> Sender:
    return Sender(
        number=organisation_number_of_id(_text(element, ns.SENDER, "Id")),
        name=(_required(element, ns.SENDER, "Name").text or "").strip(),
    )


def _append_preferences(
    parent: etree._Element, namespace: str, name: str, preferences: AccountPreferences
) -> None:
    element = append_element(parent, namespace, name)
    append_element(element, _R1, "Id", preferences.recipient_id)
    for sender in preferences.accepted_senders:
        _append_sender(element, _R1, "AcceptedSenders", sender)


def _read_preferences(element: etree._Element) -> AccountPreferences:
    return AccountPreferences(
        recipient_id=_text(element, _R1, "Id"),
        accepted_senders=tuple(
            _read_sender(sender) for sender in element.iterfind(f"{{{_R1}}}AcceptedSenders")
        ),
    )


def _append_authorization(
    parent: etree._Element, name: str, result: SignatureAuthorizationResult
) -> None:
    element = append_element(parent, parent.nsmap[None], name)
    authority = ns.AUTHORITY
    if result.recipient_id is not None:
        append_element(element, authority, "Id", result.recipient_id)
    if result.status is not None:
        append_element(element, authority, "Status", result.status)
    if result.timestamp is not None:
        append_element(element, authority, "Timestamp", result.timestamp.isoformat())
    if result.text is not None:
        append_element(element, authority, "Text", result.text)


def _read_authorization(element: etree._Element) -> SignatureAuthorizationResult:
    authority = f"{{{ns.AUTHORITY}}}"
    return SignatureAuthorizationResult(
        recipient_id=element.findtext(f"{authority}Id"),
        status=element.findtext(f"{authority}Status"),
        timestamp=read_datetime(element.findtext(f"{authority}Timestamp")),
        text=element.findtext(f"{authority}Text"),
    )


def _parse_authorization_response(
    document: bytes, namespace: str, operation: str, child: str
) -> SignatureAuthorizationResult:
    content = _expect(body_element(document), f"{{{namespace}}}{operation}Response")
    return _read_authorization(_required(content, namespace, child))


def _authorization_response(
    namespace: str, operation: str, child: str, result: SignatureAuthorizationResult
) -> bytes:
    root = _root(namespace, f"{operation}Response")
    _append_authorization(root, child, result)
    return _serialise(root)


# --- isRegistered (v3) -----------------------------------------------------------------------


def is_registered_request(recipient_ids: list[str]) -> bytes:
    """The request for `isRegistered`: each recipient's account, whoever the sender.

    Raises:
        ValueError: no recipients, or more than 1,000 (FaR answers 5005).
    """
    if not recipient_ids:
        raise ValueError("isRegistered behöver minst en mottagare")
    if len(recipient_ids) > MAX_RECIPIENTS_PER_CALL:
        raise ValueError(f"isRegistered tar högst {MAX_RECIPIENTS_PER_CALL} mottagare per anrop")
    root = _root(_R3, "isRegistered")
    for recipient_id in recipient_ids:
        append_element(root, _R3, "recipientId", recipient_id)
    return _serialise(root)


def read_is_registered_request(content: etree._Element) -> list[str]:
    """The recipient ids of an isRegistered body element."""
    _expect(content, IS_REGISTERED)
    return [(r.text or "").strip() for r in content.iterfind(f"{{{_R3}}}recipientId")]


def parse_is_registered_request(document: bytes) -> list[str]:
    """Read an isRegistered request from outside."""
    return read_is_registered_request(body_element(document))


def is_registered_response(statuses: list[AccountStatus]) -> bytes:
    """FaR's answer to isRegistered: one AccountStatus per recipient, in the asked order."""
    root = _root(_R3, "isRegisteredResponse")
    for status in statuses:
        append_account_status(root, f"{{{_R3}}}return", status)
    return _serialise(root)


def parse_is_registered_response(document: bytes) -> list[AccountStatus]:
    """Read FaR's isRegistered answer."""
    content = _expect(body_element(document), f"{{{_R3}}}isRegisteredResponse")
    return [read_account_status(item) for item in content.iterfind(f"{{{_R3}}}return")]


# --- getAccountPreferences (v3) --------------------------------------------------------------


def get_account_preferences_request(query: AccountPreferencesQuery) -> bytes:
    """The request for `getAccountPreferences` (an operator asks for its user's senders)."""
    root = _root(_R3, "getAccountPreferences")
    append_element(root, _R3, "RecipientId", query.recipient_id)
    append_element(root, _R3, "UserIdentity", query.user_identity)
    return _serialise(root)


def read_get_account_preferences_request(content: etree._Element) -> AccountPreferencesQuery:
    """Whose preferences a getAccountPreferences body element asks for."""
    _expect(content, GET_ACCOUNT_PREFERENCES)
    return AccountPreferencesQuery(
        recipient_id=_text(content, _R3, "RecipientId"),
        user_identity=_text(content, _R3, "UserIdentity"),
    )


def parse_get_account_preferences_request(document: bytes) -> AccountPreferencesQuery:
    """Read a getAccountPreferences request from outside."""
    return read_get_account_preferences_request(body_element(document))


def get_account_preferences_response(preferences: AccountPreferences) -> bytes:
    """FaR's answer to getAccountPreferences: the senders the recipient accepts."""
    root = _root(_R3, "getAccountPreferencesResponse")
    _append_preferences(root, _R3, "return", preferences)
    return _serialise(root)


def parse_get_account_preferences_response(document: bytes) -> AccountPreferences:
    """Read FaR's getAccountPreferences answer."""
    content = _expect(body_element(document), f"{{{_R3}}}getAccountPreferencesResponse")
    return _read_preferences(_required(content, _R3, "return"))


# --- register and deregister (v3) ------------------------------------------------------------


def register_request(request: RegisterRequest) -> bytes:
    """The request for `register` (open or activate an account; Type Create)."""
    root = _root(_R3, "register")
    _append_account_request(root, "accountRequest", request.account_request)
    append_element(root, _R3, "accountType", request.account_type)
    _append_signatures(root, "signature", request.signatures)
    return _serialise(root)


def read_register_request(content: etree._Element) -> RegisterRequest:
    """The account request, type and signatures of a register body element."""
    _expect(content, REGISTER)
    return RegisterRequest(
        account_request=_read_account_request(_required(content, _R3, "accountRequest")),
        account_type=_text(content, _R3, "accountType"),
        signatures=_read_signatures(content, "signature"),
    )


def parse_register_request(document: bytes) -> RegisterRequest:
    """Read a register request from outside."""
    return read_register_request(body_element(document))


def register_response(result: SignatureAuthorizationResult) -> bytes:
    """FaR's answer to register."""
    return _authorization_response(_R3, "register", "return", result)


def parse_register_response(document: bytes) -> SignatureAuthorizationResult:
    """Read FaR's register answer."""
    return _parse_authorization_response(document, _R3, "register", "return")


def deregister_request(request: DeregisterRequest) -> bytes:
    """The request for `deregister` (close an account; Type Delete)."""
    root = _root(_R3, "deregister")
    _append_account_request(root, "deregisterAccount", request.account_request)
    _append_signatures(root, "signature", request.signatures)
    return _serialise(root)


def read_deregister_request(content: etree._Element) -> DeregisterRequest:
    """The account request and signatures of a deregister body element."""
    _expect(content, DEREGISTER)
    return DeregisterRequest(
        account_request=_read_account_request(_required(content, _R3, "deregisterAccount")),
        signatures=_read_signatures(content, "signature"),
    )


def parse_deregister_request(document: bytes) -> DeregisterRequest:
    """Read a deregister request from outside."""
    return read_deregister_request(body_element(document))


def deregister_response(result: SignatureAuthorizationResult) -> bytes:
    """FaR's answer to deregister."""
    return _authorization_response(_R3, "deregister", "return", result)


def parse_deregister_response(document: bytes) -> SignatureAuthorizationResult:
    """Read FaR's deregister answer."""
    return _parse_authorization_response(document, _R3, "deregister", "return")


# --- storeAccountPreferences (v2) ------------------------------------------------------------


def store_account_preferences_request(request: StoreAccountPreferencesRequest) -> bytes:
    """The request for `storeAccountPreferences`: accept exactly these senders."""
    root = _root(_R2, "storeAccountPreferences")
    append_element(root, _R2, "Id", request.recipient_id)
    append_element(root, _R2, "UserIdentity", request.user_identity)
    _append_preferences(root, _R2, "preferences", request.preferences)
    append_element(root, _R2, "AgreementText", request.agreement_text)
    _append_signatures(root, "SignatureData", request.signatures)
    return _serialise(root)


def read_store_account_preferences_request(
    content: etree._Element,
) -> StoreAccountPreferencesRequest:
    """The new preferences and signatures of a storeAccountPreferences body element."""
    _expect(content, STORE_ACCOUNT_PREFERENCES)
    return StoreAccountPreferencesRequest(
        recipient_id=_text(content, _R2, "Id"),
        user_identity=_text(content, _R2, "UserIdentity"),
        preferences=_read_preferences(_required(content, _R2, "preferences")),
        agreement_text=_required(content, _R2, "AgreementText").text or "",
        signatures=_read_signatures(content, "SignatureData"),
    )


def parse_store_account_preferences_request(document: bytes) -> StoreAccountPreferencesRequest:
    """Read a storeAccountPreferences request from outside."""
    return read_store_account_preferences_request(body_element(document))


def store_account_preferences_response(result: SignatureAuthorizationResult) -> bytes:
    """FaR's answer to storeAccountPreferences."""
    return _authorization_response(_R2, "storeAccountPreferences", "return", result)


def parse_store_account_preferences_response(document: bytes) -> SignatureAuthorizationResult:
    """Read FaR's storeAccountPreferences answer."""
    return _parse_authorization_response(document, _R2, "storeAccountPreferences", "return")


# --- changeServiceSupplier (v2) --------------------------------------------------------------


def change_service_supplier_request(request: ChangeServiceSupplierRequest) -> bytes:
    """The request for `changeServiceSupplier`: move the account to another operator."""
    root = _root(_R2, "changeServiceSupplier")
    append_element(root, _R2, "Id", request.recipient_id)
    append_element(root, _R2, "UserIdentity", request.user_identity)
    append_element(root, _R2, "ServiceSupplier", request.service_supplier)
    append_element(root, _R2, "AgreementText", request.agreement_text)
    _append_signatures(root, "SignatureData", request.signatures)
    return _serialise(root)


def read_change_service_supplier_request(content: etree._Element) -> ChangeServiceSupplierRequest:
    """The account, the new operator and the signatures of a changeServiceSupplier element."""
    _expect(content, CHANGE_SERVICE_SUPPLIER)
    return ChangeServiceSupplierRequest(
        recipient_id=_text(content, _R2, "Id"),
        user_identity=_text(content, _R2, "UserIdentity"),
        service_supplier=_text(content, _R2, "ServiceSupplier"),
        agreement_text=_required(content, _R2, "AgreementText").text or "",
        signatures=_read_signatures(content, "SignatureData"),
    )


def parse_change_service_supplier_request(document: bytes) -> ChangeServiceSupplierRequest:
    """Read a changeServiceSupplier request from outside."""
    return read_change_service_supplier_request(body_element(document))


def change_service_supplier_response(result: SignatureAuthorizationResult) -> bytes:
    """FaR's answer to changeServiceSupplier."""
    return _authorization_response(
        _R2, "changeServiceSupplier", "signatureAuthorizationResult", result
    )


def parse_change_service_supplier_response(document: bytes) -> SignatureAuthorizationResult:
    """Read FaR's changeServiceSupplier answer."""
    return _parse_authorization_response(
        document, _R2, "changeServiceSupplier", "signatureAuthorizationResult"
    )


# --- Authority: getSenders and isSenderAccepted ----------------------------------------------
# Unqualified children under a namespaced wrapper cannot be written prefix-free with lxml
# (it cannot undeclare a default namespace), so these are written as text like `mm.soap`.


def _authority(name: str, inner: str) -> bytes:
    return envelope(f'<{name} xmlns="{ns.AUTHORITY_SERVICE}">{inner}</{name}>'.encode())


def get_senders_request() -> bytes:
    """The request for Authority `getSenders` (it has no parameters)."""
    return envelope(f'<getSenders xmlns="{ns.AUTHORITY_SERVICE}"/>'.encode())


def read_get_senders_request(content: etree._Element) -> None:
    """Check that a body element is a getSenders request."""
    _expect(content, GET_SENDERS)


def get_senders_response(senders: list[Sender]) -> bytes:
    """FaR's answer to getSenders: every registered sender, as Sender.xsd describes it."""
    sender_ns = ns.SENDER
    items = "".join(
        f'<return xmlns=""><Id xmlns="{sender_ns}">{escape(sender.id)}</Id>'
        f'<Name xmlns="{sender_ns}">{escape(sender.name)}</Name></return>'
        for sender in senders
    )
    return _authority("getSendersResponse", items)


def parse_get_senders_response(document: bytes) -> list[Sender]:
    """Read FaR's getSenders answer."""
    content = _expect(body_element(document), f"{{{ns.AUTHORITY_SERVICE}}}getSendersResponse")
    return [_read_sender(item) for item in content.iterfind("return")]


def is_sender_accepted_request(sender_number: str) -> bytes:
    """The request for Authority `isSenderAccepted` about one organisation (10 digits)."""
    return _authority(
        "isSenderAccepted", f'<arg0 xmlns="">{escape(ORGANISATION_PREFIX + sender_number)}</arg0>'
    )


def read_is_sender_accepted_request(content: etree._Element) -> str:
    """The organisationsnummer (10 digits) an isSenderAccepted body element asks about."""
    _expect(content, IS_SENDER_ACCEPTED)
    argument = content.find("arg0")
    if argument is None:
        raise SoapError("isSenderAccepted saknar arg0")
    return organisation_number_of_id(argument.text or "")


def parse_is_sender_accepted_request(document: bytes) -> str:
    """Read an isSenderAccepted request from outside."""
    return read_is_sender_accepted_request(body_element(document))


def is_sender_accepted_response(accepted: bool) -> bytes:
    """FaR's answer to isSenderAccepted."""
    value = "true" if accepted else "false"
    return _authority("isSenderAcceptedResponse", f'<return xmlns="">{value}</return>')


def parse_is_sender_accepted_response(document: bytes) -> bool:
    """Read FaR's isSenderAccepted answer."""
    content = _expect(body_element(document), f"{{{ns.AUTHORITY_SERVICE}}}isSenderAcceptedResponse")
    answer = content.find("return")
    if answer is None:
        raise SoapError("isSenderAcceptedResponse saknar return")
    return read_boolean(answer.text)
