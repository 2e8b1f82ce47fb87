"""A mailbox operator's Service v3: accept `deliverSecure` and `notify`, or refuse with a reason.

The checks run cheapest and least trusting first, each refusal with the ExceptionInformation
code the contract uses:

1. the caller's TLS certificate is registered in FaR (5002);
2. the request is at most 2 MB (5005), measured before any parsing;
3. it parses with the hardened parser (5001: DTDs, entities, bombs, too deep); a
   deliverSecure holds no comment or processing instruction anywhere (5012), since exclusive
   C14N leaves comments out of the digest and a comment inside a signed text would let the
   signature cover another text than the one read; it follows the Service v3 schema (5001);
4. the sender named in the delivery is a registered sender (5014), read before any signature
   is trusted so that an unknown sender is told so rather than "bad signature";
5. the sealer (the organisation in the seal's certificate) is a registered intermediary or
   the sender itself (6005), and the caller is the sealer or an intermediary that FaR
   registers for the sealer (6005): an operator must know who hands it a letter;
6. the seal and the sender's signature verify against the certificates FaR holds for exactly
   those two organisations, at the operator's clock (5012; RSA-SHA1 only when the setting
   `UTSKICK_REFERENCE_ALLOW_SHA1` says so);
7. the recipient holds an active mailbox here (5003);
8. the body is text/plain or text/html and every attachment has an accepted MIME type (5019).

Only then is the request stored, encrypted and exactly as received, and answered with a
DeliveryResult. A repeat of a stored delivery (same sender, recipient and message Id) is
answered with the first delivery's TransId and stored nothing.

What FaR and the operator's own accounts answer in 1, 4, 5 and 7 is kept a short time
(`lookups`, `UTSKICK_REFERENCE_LOOKUP_CACHE_SECONDS`; a change written through the reference
is seen at once). The signatures of every delivery are verified, and every one is stored.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from lxml import etree

from utskick.mm import namespaces as ns
from utskick.mm import schemas
from utskick.mm.delivery import (
    BODY_CONTENT_TYPES,
    Delivery,
    DeliveryDocumentError,
    NotificationDelivery,
    parse_notification_delivery,
)
from utskick.mm.keys import organisation_number_of
from utskick.mm.notify import NotifyResult, NotifyStatus, notify_response
from utskick.mm.soap import (
    MAX_MESSAGE_BYTES,
    DeliveryResult,
    DeliveryStatus,
    SoapError,
    SoapFault,
    body_element,
    deliver_secure_response,
)
from utskick.mm.verification import (
    VerificationError,
    VerificationPolicy,
    read_certificate,
    verify_sealed_delivery,
)
from utskick.mm.xml import UnsafeXMLError, refuse_comments_and_instructions, text_content
from utskick.reference.cache import TtlCache
from utskick.reference.context import ReferenceContext
from utskick.reference.far.parties import DeliveryParties
from utskick.reference.mailbox.filing import DeliveryFiling
from utskick.reference.mailbox.lookups import OperatorLookups, Parties
from utskick.reference.mailbox.notices import EMAIL, NoticePlan, Notices
from utskick.reference.mailbox.storage import MessageStore, NewMessage
from utskick.reference.store import utc_now
from utskick.reference.world import Organisation

logger = logging.getLogger(__name__)

# ExceptionInformation codes (shared/design/mina-meddelanden.md).
INVALID_INPUT = 5001
ACCESS_DENIED = 5002
NOT_FOUND = 5003
MAX_EXCEEDED = 5005
SIGNATURE_ERROR = 5012
UNKNOWN_SENDER = 5014
UNSUPPORTED_MIME_TYPE = 5019
DISPATCHER_NOT_APPROVED = 6005

DELIVER_SECURE = f"{{{ns.SERVICE_V3}}}deliverSecure"
NOTIFY = f"{{{ns.SERVICE_V3}}}notify"
_V3 = f"{{{ns.MESSAGE_V3}}}"
_SENDER_ID = (
    f"{DELIVER_SECURE}/{_V3}SignedDelivery/{_V3}Delivery/{_V3}Header"
    f"/{{{ns.MESSAGE_V2}}}Sender/{{{ns.SENDER}}}Id"
)
_DS = f"{{{ns.DSIG}}}"
_SEAL_CERTIFICATE = f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate"


class Refused(Exception):  # noqa: N818 (a refusal, not a malfunction)
    """A request the operator refuses; becomes a SOAP fault with this code and description."""

    def __init__(self, code: int, description: str) -> None:
        self.code = code
        self.description = description
        super().__init__(f"{code} {description}")


@dataclass(frozen=True)
class _Caller:
    organisation_number: str


class MailboxOperator:
    """One mailbox operator's Service v3 logic, apart from HTTP.

    Args:
        context: the reference context (FaR's register, database, settings).
        operator: which operator this is.
        clock: the time at which certificates must be valid (a test may set the past).
        notices: where notices of new messages are recorded and sent; None sends none.
        cache: where FaR's and the accounts' answers are kept a short time; default one of
            this operator's own (`UTSKICK_REFERENCE_LOOKUP_CACHE_SECONDS`).
    """

    def __init__(
        self,
        context: ReferenceContext,
        operator: Organisation,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        store: MessageStore | None = None,
        notices: Notices | None = None,
        cache: TtlCache | None = None,
    ) -> None:
        self.context = context
        self.operator = operator
        self.clock = clock
        self.store = store or MessageStore(
            context.sessions, operator.number, context.storage_keys[operator.operator_key or ""]
        )
        self.notices = notices
        self.lookups = OperatorLookups(context, operator, notices, cache)
        self.filing = DeliveryFiling(context.sessions, self.store, notices)
        self.allowed_attachment_types = tuple(context.settings.allowed_attachment_types)
        self.allow_sha1 = context.settings.allow_sha1

    # --- operations ---------------------------------------------------------------------------

    def handle(self, request: bytes, caller: x509.Certificate | None) -> bytes:
        """Answer a Service v3 request: deliverSecure or notify, by the body's element.

        Raises:
            SoapFault: the refusal, with ErrorCode, a Swedish description and a CallId.
        """
        return self._answer(request, caller, None)

    def deliver_secure(self, request: bytes, caller: x509.Certificate | None) -> bytes:
        """Accept a signed and sealed delivery and answer with a DeliveryResult.

        Raises:
            SoapFault: the refusal, with ErrorCode, a Swedish description and a CallId.
        """
        return self._answer(request, caller, DELIVER_SECURE)

    def notify(self, request: bytes, caller: x509.Certificate | None) -> bytes:
        """Accept a notification (the simple path) and answer with a NotifyResult.

        Raises:
            SoapFault: the refusal, with ErrorCode, a Swedish description and a CallId.
        """
        return self._answer(request, caller, NOTIFY)

    def _answer(
        self, request: bytes, caller: x509.Certificate | None, expected: str | None
    ) -> bytes:
        call_id = uuid.uuid4().hex
        try:
            calling = self._caller(caller)
            return self._dispatch(request, self._parse(request), calling, expected)
        except Refused as refusal:
            # The code only: the description may name the recipient (it goes to the caller).
            logger.info(
                "%s refused a request (CallId %s): fault %s",
                self.operator.name,
                call_id,
                refusal.code,
            )
            raise SoapFault(refusal.code, refusal.description, call_id) from None

    def _dispatch(
        self, request: bytes, content: etree._Element, caller: _Caller, expected: str | None
    ) -> bytes:
        if expected is not None and content.tag != expected:
            raise Refused(
                INVALID_INPUT, f"väntade {etree.QName(expected).localname}, fick {content.tag}"
            )
        if content.tag == DELIVER_SECURE:
            return self._deliver_secure(request, content, caller)
        if content.tag == NOTIFY:
            return self._notify(request, content, caller)
        raise Refused(
            INVALID_INPUT,
            f"okänd operation {content.tag}; tjänsten tar emot deliverSecure och notify "
            f"i namnrymden {ns.SERVICE_V3}",
        )

    # --- checks shared by both operations -----------------------------------------------------

    def _caller(self, certificate: x509.Certificate | None) -> _Caller:
        if certificate is None:
            raise Refused(
                ACCESS_DENIED,
                "anropet saknar klientcertifikat; anslut med ömsesidig TLS och organisationens "
                "certifikat registrerat i FaR",
            )
        organisation_number = self.lookups.caller(certificate)
        if organisation_number is None:
            raise Refused(
                ACCESS_DENIED,
                f"klientcertifikatet ({certificate.subject.rfc4514_string()}) är inte "
                "registrerat i FaR; registrera det för organisationen innan ni skickar",
            )
        return _Caller(organisation_number)

    @staticmethod
    def _parse(request: bytes) -> etree._Element:
        if len(request) > MAX_MESSAGE_BYTES:
            raise Refused(
                MAX_EXCEEDED,
                f"försändelsen är större än {MAX_MESSAGE_BYTES // (1024 * 1024)} MB inklusive "
                "bilagor; dela upp den eller skicka den på papper",
            )
        try:
            return body_element(request)
        except (UnsafeXMLError, SoapError) as error:
            raise Refused(INVALID_INPUT, f"anropet går inte att läsa: {error}") from None
        except SoapFault as fault:
            raise Refused(INVALID_INPUT, "anropet är ett SOAP-fel, inte en begäran") from fault

    @staticmethod
    def _validate(content: etree._Element, what: str) -> None:
        try:
            schemas.validate(content, schemas.service_v3())
        except schemas.SchemaValidationError as error:
            raise Refused(INVALID_INPUT, f"{what} {error}") from None

    def _parties(
        self, sender_id: str, sealer_number: str | None, caller: _Caller | None = None
    ) -> Parties:
        """The sender and the sealer as FaR knows them; an unknown sender is refused (5014)."""
        found = self.lookups.parties(
            sender_id[2:], sealer_number, caller.organisation_number if caller else None
        )
        if not found.parties.sender_registered:
            raise Refused(
                UNKNOWN_SENDER,
                f"avsändaren {sender_id} är inte registrerad som avsändare i FaR",
            )
        return found

    def _reachable(self, recipient_ids: list[str]) -> dict[str, NoticePlan]:
        """Those with an active account in FaR here and an open mailbox, with their notices."""
        found = {r: self.lookups.recipient(r) for r in recipient_ids}
        return {r: recipient.notices for r, recipient in found.items() if recipient.reachable}

    # --- deliverSecure --------------------------------------------------------------------------

    def _deliver_secure(self, request: bytes, content: etree._Element, caller: _Caller) -> bytes:
        try:
            # Before the schema too, whose checks could read a text split by a comment.
            refuse_comments_and_instructions(content)
        except UnsafeXMLError as error:
            raise Refused(SIGNATURE_ERROR, str(error)) from None
        self._validate(content, "deliverSecure")
        sender_id = _whole_text(content.find(_SENDER_ID)).strip()
        try:
            sealer_number: str | None = self._claimed_sealer(content)
            unreadable_seal = None
        except Refused as refusal:
            # An unknown sender is still told so first (5014), then the seal's problem.
            sealer_number, unreadable_seal = None, refusal
        found = self._parties(sender_id, sealer_number, caller)
        if unreadable_seal is not None:
            raise unreadable_seal
        self._check_dispatch(found.parties)
        sender_number = found.parties.sender_number
        delivery = self._verified(content, found)
        reachable = self._reachable([delivery.recipient_id])
        if not reachable:
            raise Refused(
                NOT_FOUND,
                f"mottagaren {delivery.recipient_id} har ingen brevlåda hos {self.operator.name}",
            )
        self._check_content_types(delivery)
        ids = [message.id for message in delivery.messages]
        if len(set(ids)) != len(ids):
            raise Refused(INVALID_INPUT, "två meddelanden i leveransen har samma Id")
        messages = [
            NewMessage(
                delivery.recipient_id, sender_number, delivery.sender_name, message.id, index
            )
            for index, message in enumerate(delivery.messages)
        ]
        stored, _notices = self.filing.file(request, messages, reachable, secure=True)
        if not stored.new:
            logger.info(
                "%s: repeated delivery %s accepted again", self.operator.name, stored.trans_id
            )
        status = DeliveryStatus(delivery.recipient_id, delivered=True)
        return deliver_secure_response(DeliveryResult(stored.trans_id, (status,)))

    @staticmethod
    def _check_dispatch(parties: DeliveryParties) -> None:
        """The sealer may seal for the sender, and the caller may hand over what it sealed."""
        sender, sealer = parties.sender_number, parties.sealer_number
        if not parties.sealer_may_dispatch:
            raise Refused(
                DISPATCHER_NOT_APPROVED,
                f"leveransen är förseglad av 16{sealer}, som inte är godkänd "
                f"förmedlingstjänst i FaR och inte heller avsändaren 16{sender}",
            )
        if not parties.connecting_may_hand_over:
            raise Refused(
                DISPATCHER_NOT_APPROVED,
                f"anslutningen är autentiserad som 16{parties.connecting_number}, men leveransen "
                f"är förseglad av 16{sealer}; lämna över den med förseglarens certifikat, eller "
                f"registrera 16{parties.connecting_number} i FaR som förmedlare för 16{sealer}",
            )

    @staticmethod
    def _claimed_sealer(content: etree._Element) -> str:
        """The organisation the seal's certificate names: only to choose whom to trust.

        Nothing is trusted yet; verification pins the seal to this organisation afterwards.
        """
        sealed = content.find(DELIVER_SECURE)
        signature = sealed[-1] if sealed is not None and len(sealed) else None
        der_base64 = _whole_text(
            signature.find(_SEAL_CERTIFICATE) if signature is not None else None
        )
        try:
            number = _organisation_in(base64.b64decode("".join((der_base64 or "").split())))
        except ValueError:
            raise Refused(
                SIGNATURE_ERROR, "sigillets certifikat saknas eller går inte att läsa"
            ) from None
        if number is None:
            raise Refused(
                SIGNATURE_ERROR,
                "sigillets certifikat saknar organisationsnummer (serialNumber i subject)",
            )
        return number

    def _verified(self, content: etree._Element, found: Parties) -> Delivery:
        sender_number = found.parties.sender_number
        # Both signatures are verified for every delivery; only FaR's certificates are kept.
        policy = VerificationPolicy(
            trust=found.trust,
            at=self.clock(),
            expected_sealer=found.parties.sealer_number,
            allow_sha1=self.allow_sha1,
        )
        try:
            verified = verify_sealed_delivery(content, policy)
        except VerificationError as error:
            raise Refused(SIGNATURE_ERROR, error.reason) from None
        for warning in verified.warnings:
            logger.warning("%s: delivery from 16%s: %s", self.operator.name, sender_number, warning)
        return verified.delivery

    def _check_content_types(self, delivery: Delivery) -> None:
        for message in delivery.messages:
            if message.body_content_type not in BODY_CONTENT_TYPES:
                raise Refused(
                    UNSUPPORTED_MIME_TYPE,
                    f"meddelandet {message.id} har brödtext av typen "
                    f"{message.body_content_type}; använd text/plain eller text/html",
                )
            for attachment in message.attachments:
                if attachment.content_type not in self.allowed_attachment_types:
                    raise Refused(
                        UNSUPPORTED_MIME_TYPE,
                        f"bilagan {attachment.filename} har typen {attachment.content_type}; "
                        f"{self.operator.name} tar emot "
                        f"{', '.join(self.allowed_attachment_types)}",
                    )

    # --- notify ---------------------------------------------------------------------------------

    def _notify(self, request: bytes, content: etree._Element, caller: _Caller) -> bytes:
        self._validate(content, "notify")
        try:
            notification = parse_notification_delivery(content)
        except (DeliveryDocumentError, ValueError) as error:
            raise Refused(INVALID_INPUT, f"notifieringen går inte att läsa: {error}") from None
        # Nothing is signed on the simple path: the caller itself must be the sender or an
        # intermediary FaR approves, or anyone with a certificate could write in its name.
        parties = self._parties(notification.sender_id.strip(), caller.organisation_number).parties
        sender_number = parties.sender_number
        if not parties.sealer_may_dispatch:
            raise Refused(
                DISPATCHER_NOT_APPROVED,
                f"16{caller.organisation_number} får inte skicka för 16{sender_number}: den är "
                "varken avsändaren eller godkänd förmedlingstjänst i FaR",
            )
        recipients = _unique(notification.recipient_ids)
        reachable = self._reachable(recipients)
        stored, notices = self.filing.file(
            request,
            self._notification_messages(notification, sender_number, list(reachable)),
            reachable,
            secure=False,
        )
        channels: dict[str, list[str]] = {}
        for notice in notices:
            channels.setdefault(notice.recipient_id, []).append(
                "EMail" if notice.channel == EMAIL else "SMS"
            )
        return notify_response(
            NotifyResult(
                trans_id=stored.trans_id,
                statuses=tuple(
                    NotifyStatus(
                        r, delivered=r in reachable, notified_by=tuple(channels.get(r, ()))
                    )
                    for r in recipients
                ),
            )
        )

    @staticmethod
    def _notification_messages(
        notification: NotificationDelivery, sender_number: str, recipients: list[str]
    ) -> list[NewMessage]:
        return [
            NewMessage(r, sender_number, notification.sender_name, notification.message.id)
            for r in recipients
        ]


@functools.lru_cache(maxsize=256)
def _organisation_in(der: bytes) -> str | None:
    """The organisationsnummer in a seal's certificate (parsed once per certificate).

    Raises:
        ValueError: the certificate, or a part verification reads, cannot be read.
    """
    return organisation_number_of(read_certificate(der))


def _whole_text(element: etree._Element | None) -> str:
    """The whole text of an element read before verification (to choose whom to trust).

    Raises:
        Refused: 5001 when the element holds more than text.
    """
    if element is None:
        return ""
    try:
        return text_content(element)
    except UnsafeXMLError as error:
        raise Refused(INVALID_INPUT, f"anropet går inte att läsa: {error}") from None


def _unique(values: tuple[str, ...]) -> list[str]:
    return list(dict.fromkeys(v.strip() for v in values))
