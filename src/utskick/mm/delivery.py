"""The v3 delivery documents: Delivery, NotificationDelivery, and their parsers.

The tree mixes namespaces (a local element lives in the namespace of the schema that
declares it). Every element that changes namespace carries a default namespace declaration
and no prefix is used, because that is the form the signatures are computed over and that
verifies the same way in every implementation known to interoperate (see
`docs/mina-meddelanden.md`). How the signed tree is then written on the wire, prefixed or not,
is `mm.soap`'s concern.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass

from lxml import etree

from utskick.mm import namespaces as ns
from utskick.mm.html_body import HtmlBodyError, check_html_body
from utskick.mm.xml import UnsafeXMLError, parse_xs_date, text_content

MAX_SUBJECT_LENGTH = 255
MAX_SUPPORT_TEXT_LENGTH = 1024
MAX_SMS_LENGTH = 160
BODY_CONTENT_TYPES = ("text/plain", "text/html")
DEFAULT_LANGUAGE = "svSE"
_RECIPIENT_PATTERN = re.compile(
    r"(16\d{10})|((18|19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])\d{4})"
    r"|((18|19|20)\d{2}(0[1-9]|1[0-2])(\d{2})\d{4})"
)
_ORGANISATION_ID = re.compile(r"16\d{10}")
_XML_WHITESPACE = re.compile(r"[ \t\r\n]+")


class DeliveryDocumentError(ValueError):
    """A delivery that cannot be built or read; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that travels with a message; the checksum is the MD5 of the raw bytes."""

    filename: str
    content: bytes
    content_type: str = "application/pdf"

    @property
    def checksum(self) -> str:
        """MD5 of the raw bytes in upper-case hex, the convention of working implementations."""
        return hashlib.md5(self.content, usedforsecurity=False).hexdigest().upper()


@dataclass(frozen=True, slots=True)
class SupportInfo:
    """Where the recipient can ask about the message (required by the contract)."""

    text: str
    url: str | None = None
    phone_number: str | None = None
    email_address: str | None = None


@dataclass(frozen=True, slots=True)
class OfficialMatter:
    """The case (ärende) that a message belongs to."""

    timestamp: dt.date
    event_id: str | None = None
    official_matter_id: str | None = None
    preceding_event_id: str | None = None
    matter_subject: str | None = None
    event_type: str | None = None
    matter_status: str | None = None


@dataclass(frozen=True, slots=True)
class SecureMessage:
    """One message in a delivery: header, body and attachments."""

    id: str
    subject: str
    support_info: SupportInfo
    body: bytes
    body_content_type: str = "text/plain"
    attachments: tuple[Attachment, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    official_matter: OfficialMatter | None = None
    language: str = DEFAULT_LANGUAGE


@dataclass(frozen=True, slots=True)
class Delivery:
    """A delivery from one sender to one recipient (the secure path)."""

    sender_id: str
    sender_name: str
    recipient_id: str
    messages: tuple[SecureMessage, ...]
    sender_attention: str | None = None
    reference: str | None = None
    correlation_id: str | None = None
    attention: str | None = None


@dataclass(frozen=True, slots=True)
class NotificationDelivery:
    """A plain notice (the simple path): no signature, optional e-mail and SMS texts."""

    sender_id: str
    sender_name: str
    recipient_ids: tuple[str, ...]
    message: SecureMessage
    email_from: str | None = None
    email_subject: str | None = None
    email_text: str | None = None
    sms_from: str | None = None
    sms_text: str | None = None
    reference: str | None = None


# --- checks --------------------------------------------------------------------------------


def check_delivery(delivery: Delivery) -> None:
    """Check what the schema cannot say in a way a user understands.

    Raises:
        DeliveryDocumentError: naming the field and the rule.
    """
    _check_sender(delivery.sender_id, delivery.sender_name)
    _check_recipient(delivery.recipient_id)
    if not delivery.messages:
        raise DeliveryDocumentError("en leverans måste innehålla minst ett meddelande")
    for message in delivery.messages:
        check_message(message)


def check_message(message: SecureMessage) -> None:
    """Check one message's subject, support text, body type and attachments."""
    if not message.id.strip():
        raise DeliveryDocumentError("meddelandet saknar id")
    if not message.subject.strip():
        raise DeliveryDocumentError("ämnesraden är tom")
    if len(message.subject) > MAX_SUBJECT_LENGTH:
        raise DeliveryDocumentError(
            f"ämnesraden har {len(message.subject)} tecken; högst {MAX_SUBJECT_LENGTH} är tillåtet"
        )
    if not message.support_info.text.strip():
        raise DeliveryDocumentError(
            "supporttexten är tom (mottagaren ska veta vart hen vänder sig)"
        )
    if len(message.support_info.text) > MAX_SUPPORT_TEXT_LENGTH:
        raise DeliveryDocumentError(
            f"supporttexten har {len(message.support_info.text)} tecken; "
            f"högst {MAX_SUPPORT_TEXT_LENGTH} är tillåtet"
        )
    if message.body_content_type not in BODY_CONTENT_TYPES:
        raise DeliveryDocumentError(
            f"brödtextens typ {message.body_content_type!r} stöds inte; "
            "använd text/plain eller text/html"
        )
    if message.body_content_type == "text/html":
        check_restricted_html(message.body.decode("utf-8", errors="strict"))
    for attachment in message.attachments:
        if not attachment.filename.strip():
            raise DeliveryDocumentError("en bilaga saknar filnamn")


def _check_sender(sender_id: str, sender_name: str) -> None:
    if not _ORGANISATION_ID.fullmatch(sender_id):
        raise DeliveryDocumentError(
            f"avsändarens id {sender_id!r} ska vara 16 följt av organisationsnumrets tio siffror"
        )
    if not 2 <= len(sender_name) <= 256:  # noqa: PLR2004 (the Sender schema's bounds)
        raise DeliveryDocumentError("avsändarens namn ska ha 2–256 tecken")


def _check_recipient(recipient_id: str) -> None:
    if not _RECIPIENT_PATTERN.fullmatch(recipient_id):
        raise DeliveryDocumentError(
            f"mottagarens id {recipient_id!r} ska vara tolv siffror "
            "(personnummer med sekel, eller 16 + organisationsnummer)"
        )


def check_restricted_html(html: str) -> None:
    """Allow only simple formatting and plain links: mailboxes show HTML bodies to citizens.

    The body is judged as a browser parses it (see `mm.html_body`).

    Raises:
        DeliveryDocumentError: naming the first element, attribute or comment not allowed.
    """
    try:
        check_html_body(html)
    except HtmlBodyError as error:
        raise DeliveryDocumentError(str(error)) from None


# --- building ------------------------------------------------------------------------------


def _add(
    parent: etree._Element, parent_ns: str, child_ns: str, name: str, text: str | None = None
) -> etree._Element:
    """Append a child, declaring a default namespace only where the namespace changes."""
    nsmap = None if child_ns == parent_ns else {None: child_ns}
    child = etree.SubElement(parent, f"{{{child_ns}}}{name}", nsmap=nsmap)  # type: ignore[arg-type]
    if text is not None:
        child.text = text
    return child


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def build_delivery(delivery: Delivery, parent: etree._Element | None = None) -> etree._Element:
    """Build `{Message/v3}Delivery`, as a new root or appended to `parent` (a v3 element)."""
    check_delivery(delivery)
    v3 = ns.MESSAGE_V3
    if parent is None:
        root = etree.Element(f"{{{v3}}}Delivery", nsmap={None: v3})  # type: ignore[dict-item]
    else:
        root = _add(parent, v3, v3, "Delivery")
    header = _add(root, v3, v3, "Header")
    sender = _add(header, v3, ns.MESSAGE_V2, "Sender")
    _add(sender, ns.MESSAGE_V2, ns.SENDER, "Id", delivery.sender_id)
    _add(sender, ns.MESSAGE_V2, ns.SENDER, "Name", delivery.sender_name)
    if delivery.sender_attention:
        _add(sender, ns.MESSAGE_V2, ns.SENDER, "Attention", delivery.sender_attention)
    _add(header, v3, ns.MESSAGE_V2, "Recipient", delivery.recipient_id)
    for name, value in (
        ("Reference", delivery.reference),
        ("CorrelationId", delivery.correlation_id),
        ("Attention", delivery.attention),
    ):
        if value:
            _add(header, v3, ns.MESSAGE_V2, name, value)
    for message in delivery.messages:
        _build_secure_message(_add(root, v3, v3, "Message"), message)
    return root


def _build_secure_message(element: etree._Element, message: SecureMessage) -> None:
    v3 = ns.MESSAGE_V3
    _build_message_header(_add(element, v3, v3, "Header"), v3, message)
    _build_body(_add(element, v3, v3, "Body"), v3, message)
    for attachment in message.attachments:
        part = _add(element, v3, v3, "Attachment")
        _add(part, v3, ns.MESSAGE, "ContentType", attachment.content_type)
        _add(part, v3, ns.MESSAGE, "Body", _b64(attachment.content))
        _add(part, v3, ns.MESSAGE, "Checksum", attachment.checksum)
        _add(part, v3, ns.MESSAGE, "Filename", attachment.filename)


def _build_message_header(header: etree._Element, header_ns: str, message: SecureMessage) -> None:
    """Children of a v3 MessageHeader; they live in Message/v3 whatever the header's namespace."""
    v3 = ns.MESSAGE_V3
    _add(header, header_ns, v3, "Id", message.id)
    _add(header, header_ns, v3, "Subject", message.subject)
    support = _add(header, header_ns, v3, "Supportinfo")
    info = message.support_info
    _add(support, v3, v3, "Text", info.text)
    for name, value in (
        ("URL", info.url),
        ("PhoneNumber", info.phone_number),
        ("EmailAdress", info.email_address),
    ):
        if value:
            _add(support, v3, v3, name, value)
    if message.official_matter is not None:
        _build_official_matter(
            _add(header, header_ns, v3, "OfficialMatter"), message.official_matter
        )
    for tag, value in message.metadata:
        metadata = _add(header, header_ns, v3, "Metadata")
        _add(metadata, v3, ns.MESSAGE, "Tag", tag)
        _add(metadata, v3, ns.MESSAGE, "Value", value)
    _add(header, header_ns, v3, "Language", message.language)


def _build_official_matter(element: etree._Element, matter: OfficialMatter) -> None:
    v3, ofm = ns.MESSAGE_V3, ns.OFFICIAL_MATTER_V3
    extension = _add(element, v3, v3, "OfficialMatterExtension")
    _add(extension, v3, ofm, "Timestamp", matter.timestamp.isoformat())
    ids = (
        ("EventId", matter.event_id),
        ("OfficialMatterId", matter.official_matter_id),
        ("PrecedingEventId", matter.preceding_event_id),
    )
    if any(value for _, value in ids):
        identity = _add(extension, v3, ofm, "Identity")
        for name, value in ids:
            if value:
                _add(identity, ofm, ofm, name, value)
    for name, value in (
        ("MatterSubject", matter.matter_subject),
        ("EventType", matter.event_type),
        ("MatterStatus", matter.matter_status),
    ):
        if value:
            _add(extension, v3, ofm, name, value)


def _build_body(body: etree._Element, body_ns: str, message: SecureMessage) -> None:
    _add(body, body_ns, ns.MESSAGE, "ContentType", message.body_content_type)
    _add(body, body_ns, ns.MESSAGE, "Body", _b64(message.body))


def build_notification_delivery(notice: NotificationDelivery) -> etree._Element:
    """Build `{Notification/v3}NotificationDelivery` content as a standalone element.

    The element is named `notify` in `Service/v3`, as the `notify` operation carries it.
    """
    _check_sender(notice.sender_id, notice.sender_name)
    if not notice.recipient_ids or len(notice.recipient_ids) > 1000:  # noqa: PLR2004
        raise DeliveryDocumentError("en notifiering ska ha 1–1000 mottagare")
    for recipient in notice.recipient_ids:
        _check_recipient(recipient)
    check_message(notice.message)
    if notice.sms_text is not None and len(notice.sms_text) > MAX_SMS_LENGTH:
        raise DeliveryDocumentError(f"sms-texten har {len(notice.sms_text)} tecken; högst 160")
    s3, n3, n2, msg = ns.SERVICE_V3, ns.NOTIFICATION_V3, ns.NOTIFICATION_V2, ns.MESSAGE
    root = etree.Element(f"{{{s3}}}notify", nsmap={None: s3})  # type: ignore[dict-item]
    content = _add(root, s3, s3, "notify")
    header = _add(content, s3, n3, "Header")
    sender = _add(header, n3, msg, "Sender")
    _add(sender, msg, ns.SENDER, "Id", notice.sender_id)
    _add(sender, msg, ns.SENDER, "Name", notice.sender_name)
    for recipient in notice.recipient_ids:
        _add(header, n3, msg, "Recipient", recipient)
    if notice.reference:
        _add(header, n3, msg, "Reference", notice.reference)
    message = _add(content, s3, n3, "Message")
    _build_message_header(_add(message, n3, n3, "header"), n3, notice.message)
    _build_body(_add(message, n3, n3, "body"), n3, notice.message)
    if notice.email_from and notice.email_subject and notice.email_text is not None:
        email = _add(content, s3, n3, "EmailMessage")
        email_header = _add(email, n3, n2, "header")
        _add(email_header, n2, n2, "From", notice.email_from)
        _add(email_header, n2, n2, "Subject", notice.email_subject)
        _add(email, n3, n2, "text", notice.email_text)
    if notice.sms_from and notice.sms_text is not None:
        sms = _add(content, s3, n3, "SmsMessage")
        _add(_add(sms, n3, n2, "header"), n2, n2, "From", notice.sms_from)
        _add(sms, n3, n2, "text", notice.sms_text)
    return root


# --- parsing -------------------------------------------------------------------------------


def _text(element: etree._Element, path: str, *, required: bool = True) -> str | None:
    found = element.find(path)
    if found is None:
        if required:
            raise DeliveryDocumentError(f"elementet {path} saknas")
        return None
    return _whole_text(found)


def _whole_text(element: etree._Element) -> str:
    """The element's whole text: never only the text before a comment or a child element."""
    try:
        return text_content(element)
    except UnsafeXMLError as error:
        raise DeliveryDocumentError(str(error)) from None


def _date(text: str) -> dt.date:
    try:
        return parse_xs_date(text)
    except ValueError as error:
        raise DeliveryDocumentError(f"ärendets Timestamp: {error}") from None


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def parse_delivery(element: etree._Element) -> Delivery:
    """Read a `{Message/v3}Delivery` element (from a verified tree) into a Delivery."""
    v2, v3, sender_ns = ns.MESSAGE_V2, ns.MESSAGE_V3, ns.SENDER
    header = element.find(_q(v3, "Header"))
    if header is None:
        raise DeliveryDocumentError("leveransen saknar Header")
    sender = header.find(_q(v2, "Sender"))
    if sender is None:
        raise DeliveryDocumentError("leveransen saknar avsändare")
    return Delivery(
        sender_id=_text(sender, _q(sender_ns, "Id")) or "",
        sender_name=_text(sender, _q(sender_ns, "Name")) or "",
        sender_attention=_text(sender, _q(sender_ns, "Attention"), required=False),
        recipient_id=_text(header, _q(v2, "Recipient")) or "",
        reference=_text(header, _q(v2, "Reference"), required=False),
        correlation_id=_text(header, _q(v2, "CorrelationId"), required=False),
        attention=_text(header, _q(v2, "Attention"), required=False),
        messages=tuple(_parse_message(m) for m in element.iterchildren(_q(v3, "Message"))),
    )


def _decode(text: str | None, what: str) -> bytes:
    """xs:base64Binary: white space may separate the characters, nothing else may."""
    compact = _XML_WHITESPACE.sub("", text or "")
    try:
        return base64.b64decode(compact.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise DeliveryDocumentError(f"{what} är inte giltig base64") from None


def _parse_message(element: etree._Element) -> SecureMessage:
    v3, msg = ns.MESSAGE_V3, ns.MESSAGE
    header = element.find(_q(v3, "Header"))
    body = element.find(_q(v3, "Body"))
    if header is None or body is None:
        raise DeliveryDocumentError("meddelandet saknar Header eller Body")
    attachments = tuple(
        Attachment(
            filename=_text(part, _q(msg, "Filename")) or "",
            content=_decode(_text(part, _q(msg, "Body")), "bilagan"),
            content_type=_text(part, _q(msg, "ContentType")) or "",
        )
        for part in element.iterchildren(_q(v3, "Attachment"))
    )
    return _message_from(header, body, attachments)


def _message_from(
    header: etree._Element, body: etree._Element, attachments: tuple[Attachment, ...]
) -> SecureMessage:
    """Read a v3 MessageHeader and a MessageBody: the reverse of `_build_message_header`."""
    v3, msg, ofm = ns.MESSAGE_V3, ns.MESSAGE, ns.OFFICIAL_MATTER_V3
    support = header.find(_q(v3, "Supportinfo"))
    if support is None:
        raise DeliveryDocumentError("meddelandet saknar Supportinfo")
    matter = None
    extension = header.find(f"{_q(v3, 'OfficialMatter')}/{_q(v3, 'OfficialMatterExtension')}")
    if extension is not None:
        identity = f"{_q(ofm, 'Identity')}/"
        matter = OfficialMatter(
            timestamp=_date(_text(extension, _q(ofm, "Timestamp")) or ""),
            event_id=_text(extension, identity + _q(ofm, "EventId"), required=False),
            official_matter_id=_text(
                extension, identity + _q(ofm, "OfficialMatterId"), required=False
            ),
            preceding_event_id=_text(
                extension, identity + _q(ofm, "PrecedingEventId"), required=False
            ),
            matter_subject=_text(extension, _q(ofm, "MatterSubject"), required=False),
            event_type=_text(extension, _q(ofm, "EventType"), required=False),
            matter_status=_text(extension, _q(ofm, "MatterStatus"), required=False),
        )
    return SecureMessage(
        id=_text(header, _q(v3, "Id")) or "",
        subject=_text(header, _q(v3, "Subject")) or "",
        support_info=SupportInfo(
            text=_text(support, _q(v3, "Text")) or "",
            url=_text(support, _q(v3, "URL"), required=False),
            phone_number=_text(support, _q(v3, "PhoneNumber"), required=False),
            email_address=_text(support, _q(v3, "EmailAdress"), required=False),
        ),
        official_matter=matter,
        metadata=tuple(
            (_text(m, _q(msg, "Tag")) or "", _text(m, _q(msg, "Value")) or "")
            for m in header.iterchildren(_q(v3, "Metadata"))
        ),
        language=_text(header, _q(v3, "Language")) or DEFAULT_LANGUAGE,
        body_content_type=_text(body, _q(msg, "ContentType")) or "",
        body=_decode(_text(body, _q(msg, "Body")), "brödtexten"),
        attachments=attachments,
    )


def attachment_checksum_problems(delivery: Delivery, element: etree._Element) -> list[str]:
    """Attachments whose stated MD5 checksum does not match their bytes (a receiver's check)."""
    problems = []
    for message_el, message in zip(
        element.iterchildren(_q(ns.MESSAGE_V3, "Message")), delivery.messages, strict=True
    ):
        for part, attachment in zip(
            message_el.iterchildren(_q(ns.MESSAGE_V3, "Attachment")),
            message.attachments,
            strict=True,
        ):
            stated = (_text(part, _q(ns.MESSAGE, "Checksum")) or "").upper()
            if stated != attachment.checksum:
                problems.append(f"bilagan {attachment.filename}: kontrollsumman stämmer inte")
    return problems


def parse_notification_delivery(element: etree._Element) -> NotificationDelivery:
    """Read the content of a `notify` request (`{Service/v3}notify/notify`) from outside."""
    s3, n3, n2, msg, sender_ns = (
        ns.SERVICE_V3,
        ns.NOTIFICATION_V3,
        ns.NOTIFICATION_V2,
        ns.MESSAGE,
        ns.SENDER,
    )
    if element.tag == _q(s3, "notify") and element.find(_q(s3, "notify")) is not None:
        element = element.find(_q(s3, "notify"))  # type: ignore[assignment]
    header = element.find(_q(n3, "Header"))
    message = element.find(_q(n3, "Message"))
    if header is None or message is None:
        raise DeliveryDocumentError("notifieringen saknar Header eller Message")
    sender = header.find(_q(msg, "Sender"))
    if sender is None:
        raise DeliveryDocumentError("notifieringen saknar avsändare")
    message_header = message.find(_q(n3, "header"))
    body = message.find(_q(n3, "body"))
    if message_header is None or body is None:
        raise DeliveryDocumentError("notifieringens meddelande saknar header eller body")
    email = element.find(_q(n3, "EmailMessage"))
    sms = element.find(_q(n3, "SmsMessage"))
    return NotificationDelivery(
        sender_id=_text(sender, _q(sender_ns, "Id")) or "",
        sender_name=_text(sender, _q(sender_ns, "Name")) or "",
        recipient_ids=tuple(_whole_text(r) for r in header.iterchildren(_q(msg, "Recipient"))),
        reference=_text(header, _q(msg, "Reference"), required=False),
        message=_message_from(message_header, body, ()),
        email_from=_text(email, f"{_q(n2, 'header')}/{_q(n2, 'From')}", required=False)
        if email is not None
        else None,
        email_subject=_text(email, f"{_q(n2, 'header')}/{_q(n2, 'Subject')}", required=False)
        if email is not None
        else None,
        email_text=_text(email, _q(n2, "text"), required=False) if email is not None else None,
        sms_from=_text(sms, f"{_q(n2, 'header')}/{_q(n2, 'From')}", required=False)
        if sms is not None
        else None,
        sms_text=_text(sms, _q(n2, "text"), required=False) if sms is not None else None,
    )
