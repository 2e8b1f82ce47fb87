"""SOAP 1.1 envelopes for the operations a sender and an intermediary need, and their faults.

Requests carry `SOAPAction: ""`. The sealed delivery goes into `deliverSecure/deliverSecure`
in one of two wire forms (`WireForm`). Both carry the same signatures, computed over the
prefix-free form (Skatteverket's rule); a receiver strips the prefixes before it checks them,
as the operators' verifiers do:

- `PREFIXED` (the default): every element namespace-prefixed, `ds:Signature` included, the
  prefixes declared once on the outer `deliverSecure`, as Java/JAXB-based senders write it;
- `DEFAULT_NAMESPACES`: exactly the bytes that were signed, the children of the signed
  SealedDelivery each serialised with its own default namespace declaration.

Neither form is ever re-indented: no whitespace is added between elements.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from xml.sax.saxutils import escape

from lxml import etree

from utskick.mm import namespaces as ns
from utskick.mm.prefixed_form import write_prefixed
from utskick.mm.xml import XMLLimits, parse_untrusted

SOAP_CONTENT_TYPE = "text/xml; charset=utf-8"
SOAP_HEADERS = {"Content-Type": SOAP_CONTENT_TYPE, "SOAPAction": '""'}
MAX_MESSAGE_BYTES = 2 * 1024 * 1024
MAX_RECIPIENTS_PER_CALL = 1000

_ENVELOPE_START = (
    f'<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="{ns.SOAP_ENV}"><soap:Body>'
).encode()
_ENVELOPE_END = b"</soap:Body></soap:Envelope>"


class SoapError(ValueError):
    """A SOAP message that is not what the operation expects."""


class MessageTooLargeError(ValueError):
    """A delivery larger than Mina meddelanden accepts (2 MB including attachments)."""


@dataclass(frozen=True, slots=True)
class SoapFault(Exception):  # noqa: N818 (the SOAP term)
    """A SOAP fault with Mina meddelanden's ExceptionInformation."""

    error_code: int
    description: str
    call_id: str
    fault_code: str = "soap:Server"

    def __str__(self) -> str:
        return f"{self.error_code} {self.description} (CallId {self.call_id})"


def envelope(body: bytes) -> bytes:
    """Wrap body content (one element, already serialised) in a SOAP 1.1 envelope."""
    return _ENVELOPE_START + body + _ENVELOPE_END


def body_element(document: bytes, limits: XMLLimits | None = None) -> etree._Element:
    """Parse a SOAP envelope from outside (hardened) and return the single Body child.

    Raises:
        SoapFault: if the body is a fault.
        SoapError: if it is not a SOAP 1.1 envelope with one body element.
        UnsafeXMLError: for input the hardened parser refuses.
    """
    root = parse_untrusted(document, limits)
    if root.tag != f"{{{ns.SOAP_ENV}}}Envelope":
        raise SoapError(f"inte ett SOAP 1.1-kuvert (rotelementet är {root.tag})")
    body = root.find(f"{{{ns.SOAP_ENV}}}Body")
    if body is None or len(body) != 1:
        raise SoapError("SOAP-kuvertets Body ska innehålla exakt ett element")
    content = body[0]
    if content.tag == f"{{{ns.SOAP_ENV}}}Fault":
        raise parse_fault(content)
    return content


# --- deliverSecure -------------------------------------------------------------------------


class WireForm(StrEnum):
    """How the signed and sealed delivery is written inside `deliverSecure`.

    The signatures are the same in both: only the namespace notation on the wire differs.
    """

    PREFIXED = "prefixed"
    DEFAULT_NAMESPACES = "default"


def deliver_secure_request(
    sealed_delivery: etree._Element, wire_form: WireForm = WireForm.PREFIXED
) -> bytes:
    """The SOAP request for `deliverSecure` carrying a signed and sealed delivery.

    Args:
        sealed_delivery: the signed and sealed `SealedDelivery` (its signed, prefix-free form).
        wire_form: how it is written on the wire (see `WireForm`).

    Raises:
        MessageTooLargeError: if the envelope exceeds 2 MB.
    """
    if wire_form == WireForm.DEFAULT_NAMESPACES:
        parts = [
            etree.tostring(child, encoding="UTF-8", with_tail=False) for child in sealed_delivery
        ]
        content = (
            f'<deliverSecure xmlns="{ns.SERVICE_V3}"><deliverSecure>'.encode()
            + b"".join(parts)
            + b"</deliverSecure></deliverSecure>"
        )
    else:
        content = write_prefixed(sealed_delivery)
    request = envelope(content)
    if len(request) > MAX_MESSAGE_BYTES:
        raise MessageTooLargeError(
            f"försändelsen är {len(request) / 1_048_576:.1f} MB; Mina meddelanden tar emot "
            "högst 2 MB inklusive bilagor (dela upp den, eller skicka på papper)"
        )
    return request


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """Whether the delivery reached one recipient's mailbox."""

    recipient_id: str
    delivered: bool


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The operator's answer to deliverSecure."""

    trans_id: str
    statuses: tuple[DeliveryStatus, ...]


def deliver_secure_response(result: DeliveryResult) -> bytes:
    """The SOAP response an operator gives to deliverSecure."""
    statuses = "".join(
        f'<Status xmlns="{ns.SERVICE}"><RecipientId>{escape(s.recipient_id)}</RecipientId>'
        f"<Delivered>{'true' if s.delivered else 'false'}</Delivered></Status>"
        for s in result.statuses
    )
    return envelope(
        (
            f'<deliverSecureResponse xmlns="{ns.SERVICE_V3}"><return>'
            f'<TransId xmlns="{ns.SERVICE}">{escape(result.trans_id)}</TransId>'
            f"{statuses}</return></deliverSecureResponse>"
        ).encode()
    )


def parse_deliver_secure_response(document: bytes) -> DeliveryResult:
    """Read an operator's deliverSecure response (a fault is raised as SoapFault)."""
    content = body_element(document)
    if content.tag != f"{{{ns.SERVICE_V3}}}deliverSecureResponse":
        raise SoapError(f"väntade deliverSecureResponse, fick {content.tag}")
    result = content.find(f"{{{ns.SERVICE_V3}}}return")
    if result is None:
        raise SoapError("deliverSecureResponse saknar return")
    service = f"{{{ns.SERVICE}}}"
    return DeliveryResult(
        trans_id=result.findtext(f"{service}TransId") or "",
        statuses=tuple(
            DeliveryStatus(
                recipient_id=status.findtext(f"{service}RecipientId") or "",
                delivered=(status.findtext(f"{service}Delivered") or "").strip() in ("true", "1"),
            )
            for status in result.iterfind(f"{service}Status")
        ),
    )


# --- isReachable ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceSupplier:
    """A mailbox operator as FaR describes it; deliveries go to its ServiceAdress."""

    id: str
    name: str
    service_address: str
    internal_service_address: str
    ui_address: str | None = None


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """A recipient's account as FaR describes it (`isRegistered`, and inside `isReachable`)."""

    recipient_id: str
    account_type: str
    pending: bool
    service_supplier: ServiceSupplier | None = None
    last_registration: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ReachabilityStatus:
    """FaR's answer for one recipient and one sender."""

    recipient_id: str
    account_type: str
    pending: bool
    sender_accepted: bool
    service_supplier: ServiceSupplier | None = None
    last_registration: dt.datetime | None = None
    last_sender_accept_change: dt.datetime | None = None

    @property
    def account(self) -> AccountStatus:
        """The account part of the answer (the same for every sender)."""
        return AccountStatus(
            self.recipient_id,
            self.account_type,
            pending=self.pending,
            service_supplier=self.service_supplier,
            last_registration=self.last_registration,
        )


def is_reachable_request(sender_id: str, recipient_ids: list[str]) -> bytes:
    """The SOAP request for FaR's `isReachable` (at most 1,000 recipients per call)."""
    if len(recipient_ids) > MAX_RECIPIENTS_PER_CALL:
        raise ValueError(f"isReachable tar högst {MAX_RECIPIENTS_PER_CALL} mottagare per anrop")
    recipients = "".join(f"<recipientId>{escape(r)}</recipientId>" for r in recipient_ids)
    return envelope(
        f'<isReachable xmlns="{ns.RECIPIENT_V3}"><senderOrgNr>{escape(sender_id)}</senderOrgNr>'
        f"{recipients}</isReachable>".encode()
    )


def read_is_reachable_request(content: etree._Element) -> tuple[str, list[str]]:
    """The sender's id and the recipient ids of an isReachable body element (no count check)."""
    if content.tag != f"{{{ns.RECIPIENT_V3}}}isReachable":
        raise SoapError(f"väntade isReachable, fick {content.tag}")
    sender = content.findtext(f"{{{ns.RECIPIENT_V3}}}senderOrgNr") or ""
    recipients = [r.text or "" for r in content.iterfind(f"{{{ns.RECIPIENT_V3}}}recipientId")]
    return sender.strip(), [r.strip() for r in recipients]


def parse_is_reachable_request(document: bytes) -> tuple[str, list[str]]:
    """Read an isReachable request from outside: the sender's id and the recipient ids.

    Raises:
        SoapError: not an isReachable request, or more than 1,000 recipients.
    """
    sender, recipients = read_is_reachable_request(body_element(document))
    if len(recipients) > MAX_RECIPIENTS_PER_CALL:
        raise SoapError(f"isReachable tar högst {MAX_RECIPIENTS_PER_CALL} mottagare per anrop")
    return sender, recipients


def append_element(
    parent: etree._Element, namespace: str, name: str, text: str | None = None
) -> etree._Element:
    """Add a child element in `namespace`, declared as the default namespace where it changes.

    Declaring the default namespace on every child keeps the XML prefix-free (what the
    Mina meddelanden implementations expect); lxml drops the declaration where the parent
    already has it.
    """
    element = etree.SubElement(parent, f"{{{namespace}}}{name}", nsmap={None: namespace})  # type: ignore[dict-item]
    if text is not None:
        element.text = text
    return element


def append_account_status(
    parent: etree._Element, tag: str, status: AccountStatus
) -> etree._Element:
    """Add an element of the contract's `AccountStatus` type, named `tag` (Clark notation)."""
    r1 = ns.RECIPIENT
    namespace, _, name = tag[1:].partition("}")
    account = append_element(parent, namespace, name)
    append_element(account, r1, "RecipientId", status.recipient_id)
    append_element(account, r1, "Type", status.account_type)
    append_element(account, r1, "Pending", "true" if status.pending else "false")
    supplier = status.service_supplier
    if supplier is not None:
        element = append_element(account, r1, "ServiceSupplier")
        append_element(element, r1, "Id", supplier.id)
        append_element(element, r1, "Name", supplier.name)
        append_element(element, r1, "ServiceAdress", supplier.service_address)
        if supplier.ui_address is not None:
            append_element(element, r1, "UIAdress", supplier.ui_address)
        append_element(element, r1, "InternalServiceAdress", supplier.internal_service_address)
    if status.last_registration is not None:
        append_element(account, r1, "LastRegistration", status.last_registration.isoformat())
    return account


def read_account_status(account: etree._Element) -> AccountStatus:
    """Read an element of the contract's `AccountStatus` type."""
    r1 = f"{{{ns.RECIPIENT}}}"
    supplier_el = account.find(f"{r1}ServiceSupplier")
    supplier = None
    if supplier_el is not None:
        supplier = ServiceSupplier(
            id=supplier_el.findtext(f"{r1}Id") or "",
            name=supplier_el.findtext(f"{r1}Name") or "",
            service_address=(supplier_el.findtext(f"{r1}ServiceAdress") or "").strip(),
            internal_service_address=supplier_el.findtext(f"{r1}InternalServiceAdress") or "",
            ui_address=supplier_el.findtext(f"{r1}UIAdress"),
        )
    return AccountStatus(
        recipient_id=account.findtext(f"{r1}RecipientId") or "",
        account_type=account.findtext(f"{r1}Type") or "",
        pending=read_boolean(account.findtext(f"{r1}Pending")),
        service_supplier=supplier,
        last_registration=read_datetime(account.findtext(f"{r1}LastRegistration")),
    )


def is_reachable_response(statuses: list[ReachabilityStatus]) -> bytes:
    """The SOAP response FaR gives to isReachable."""
    r3, r1 = ns.RECIPIENT_V3, ns.RECIPIENT
    root = etree.Element(f"{{{r3}}}isReachableResponse", nsmap={None: r3})  # type: ignore[dict-item]
    for status in statuses:
        item = etree.SubElement(root, f"{{{r3}}}return")
        append_account_status(item, f"{{{r1}}}AccountStatus", status.account)
        append_element(item, r1, "SenderAccepted", "true" if status.sender_accepted else "false")
        if status.last_sender_accept_change is not None:
            append_element(
                item, r1, "LastSenderAcceptChange", status.last_sender_accept_change.isoformat()
            )
    return envelope(etree.tostring(root))


def read_boolean(text: str | None) -> bool:
    """An xs:boolean from the wire (`true`/`1`; anything else is false)."""
    return (text or "").strip() in ("true", "1")


def read_datetime(text: str | None) -> dt.datetime | None:
    """An xs:dateTime from the wire, or None when absent."""
    if not text:
        return None
    return dt.datetime.fromisoformat(text.strip())


def parse_is_reachable_response(document: bytes) -> list[ReachabilityStatus]:
    """Read FaR's isReachable response (a fault is raised as SoapFault)."""
    content = body_element(document)
    if content.tag != f"{{{ns.RECIPIENT_V3}}}isReachableResponse":
        raise SoapError(f"väntade isReachableResponse, fick {content.tag}")
    r1 = f"{{{ns.RECIPIENT}}}"
    statuses = []
    for item in content.iterfind(f"{{{ns.RECIPIENT_V3}}}return"):
        account_el = item.find(f"{r1}AccountStatus")
        if account_el is None:
            raise SoapError("isReachableResponse: AccountStatus saknas")
        account = read_account_status(account_el)
        statuses.append(
            ReachabilityStatus(
                recipient_id=account.recipient_id,
                account_type=account.account_type,
                pending=account.pending,
                sender_accepted=read_boolean(item.findtext(f"{r1}SenderAccepted")),
                service_supplier=account.service_supplier,
                last_registration=account.last_registration,
                last_sender_accept_change=read_datetime(
                    item.findtext(f"{r1}LastSenderAcceptChange")
                ),
            )
        )
    return statuses


# --- faults --------------------------------------------------------------------------------


def fault_response(fault: SoapFault) -> bytes:
    """A SOAP 1.1 fault whose detail is Mina meddelanden's applicationFault."""
    return envelope(
        (
            f"<soap:Fault><faultcode>{escape(fault.fault_code)}</faultcode>"
            f"<faultstring>{escape(fault.description)}</faultstring><detail>"
            f'<applicationFault xmlns="{ns.COMMON_V3}"><ErrorCode>{fault.error_code}</ErrorCode>'
            f"<Description>{escape(fault.description)}</Description>"
            f"<CallId>{escape(fault.call_id)}</CallId></applicationFault></detail></soap:Fault>"
        ).encode()
    )


def parse_fault(fault: etree._Element) -> SoapFault:
    """Read a SOAP fault; ExceptionInformation where present, else the plain faultstring."""
    info = fault.find(f"detail/{{{ns.COMMON_V3}}}applicationFault")
    fault_code = fault.findtext("faultcode") or "soap:Server"
    if info is None:
        return SoapFault(0, fault.findtext("faultstring") or "okänt fel", "", fault_code)
    common = f"{{{ns.COMMON_V3}}}"
    try:
        code = int(info.findtext(f"{common}ErrorCode") or "0")
    except ValueError:
        code = 0
    return SoapFault(
        error_code=code,
        description=info.findtext(f"{common}Description") or "",
        call_id=info.findtext(f"{common}CallId") or "",
        fault_code=fault_code,
    )
