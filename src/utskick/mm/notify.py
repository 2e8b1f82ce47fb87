"""SOAP 1.1 codecs of Service v3 `notify`: the simple path's request and the NotifyResult.

The request carries a NotificationDelivery (built by `delivery.build_notification_delivery`)
as `{Service/v3}notify/notify`; the operator answers `{Service/v3}notifyResponse/return` of the
contract's `NotifyResult`: a TransId and, per recipient, whether the notification reached the
mailbox and by which channels (SMS, EMail) the recipient was told.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from utskick.mm import namespaces as ns
from utskick.mm.soap import SoapError, body_element, envelope

NOTIFY_CHANNELS = ("SMS", "EMail")


@dataclass(frozen=True, slots=True)
class NotifyStatus:
    """The outcome of a notification for one recipient."""

    recipient_id: str
    delivered: bool
    notified_by: tuple[str, ...] = ()  # "SMS" and/or "EMail"; only when delivered


@dataclass(frozen=True, slots=True)
class NotifyResult:
    """The operator's answer to notify."""

    trans_id: str
    statuses: tuple[NotifyStatus, ...]


def notify_request(notification: etree._Element) -> bytes:
    """The SOAP request for `notify` carrying a built `{Service/v3}notify` element."""
    if notification.tag != f"{{{ns.SERVICE_V3}}}notify":
        raise ValueError(f"väntade ett notify-element, fick {notification.tag}")
    return envelope(etree.tostring(notification, encoding="UTF-8", with_tail=False))


def notify_response(result: NotifyResult) -> bytes:
    """The SOAP response an operator gives to notify.

    Raises:
        ValueError: a status names a channel other than SMS and EMail, or a channel for a
            recipient the notification did not reach.
    """
    s3, n3 = ns.SERVICE_V3, ns.NOTIFICATION_V3
    root = etree.Element(f"{{{s3}}}notifyResponse", nsmap={None: s3})  # type: ignore[dict-item]
    returned = etree.SubElement(root, f"{{{s3}}}return")
    _child(returned, n3, "TransId", result.trans_id)
    for status in result.statuses:
        unknown = set(status.notified_by) - set(NOTIFY_CHANNELS)
        if unknown:
            raise ValueError(f"okänd aviseringskanal {sorted(unknown)}; SMS eller EMail")
        if status.notified_by and not status.delivered:
            raise ValueError("en mottagare som inte nåtts kan inte ha aviserats")
        element = _child(returned, n3, "Status")
        _child(element, n3, "RecipientId", status.recipient_id)
        delivery_status = _child(element, n3, "DeliveryStatus")
        _child(delivery_status, n3, "DeliveredFlag", "true" if status.delivered else "false")
        for channel in status.notified_by:
            _child(delivery_status, n3, "NotifiedByChannel", channel)
    return envelope(etree.tostring(root, encoding="UTF-8"))


def parse_notify_response(document: bytes) -> NotifyResult:
    """Read an operator's notify response (a fault is raised as SoapFault)."""
    content = body_element(document)
    if content.tag != f"{{{ns.SERVICE_V3}}}notifyResponse":
        raise SoapError(f"väntade notifyResponse, fick {content.tag}")
    returned = content.find(f"{{{ns.SERVICE_V3}}}return")
    if returned is None:
        raise SoapError("notifyResponse saknar return")
    n3 = f"{{{ns.NOTIFICATION_V3}}}"
    return NotifyResult(
        trans_id=(returned.findtext(f"{n3}TransId") or "").strip(),
        statuses=tuple(
            NotifyStatus(
                recipient_id=(status.findtext(f"{n3}RecipientId") or "").strip(),
                delivered=(status.findtext(f"{n3}DeliveryStatus/{n3}DeliveredFlag") or "").strip()
                in ("true", "1"),
                notified_by=tuple(
                    (channel.text or "").strip()
                    for channel in status.iterfind(f"{n3}DeliveryStatus/{n3}NotifiedByChannel")
                ),
            )
            for status in returned.iterfind(f"{n3}Status")
        ),
    )


def _child(
    parent: etree._Element, namespace: str, name: str, text: str | None = None
) -> etree._Element:
    """A child in `namespace`, declared as the default namespace only where it changes."""
    parent_namespace = etree.QName(parent).namespace
    nsmap = None if namespace == parent_namespace else {None: namespace}
    element = etree.SubElement(parent, f"{{{namespace}}}{name}", nsmap=nsmap)  # type: ignore[arg-type]
    if text is not None:
        element.text = text
    return element
