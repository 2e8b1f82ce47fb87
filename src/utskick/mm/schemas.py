"""The Mina meddelanden XSDs shipped inside the package, and validation against them."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from lxml import etree

SCHEMA_DIR = Path(__file__).with_name("schema")


class SchemaValidationError(ValueError):
    """A document that does not follow the contract; the message names the first error."""


_SCHEMA_LOCK = threading.Lock()


def _schema(relative_path: str) -> etree.XMLSchema:
    # Built once per process, under a lock: libxml2 fails ("Document is not valid XML
    # Schema") when threads build schemas with imports at the same moment, as the first
    # deliveries to a freshly started operator process do.
    with _SCHEMA_LOCK:
        return _built_schema(relative_path)


@functools.cache
def _built_schema(relative_path: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / relative_path), parser))


def service_v3() -> etree.XMLSchema:
    """Service v3: deliverSecure, notify and their responses (imports the message schemas)."""
    return _schema("v3/Service.xsd")


def recipient_v3() -> etree.XMLSchema:
    """Recipient v3 (FaR): isReachable, isRegistered and the account operations."""
    return _schema("v3/Recipient.xsd")


def recipient_v2() -> etree.XMLSchema:
    """Recipient v2 (FaR): storeAccountPreferences, changeServiceSupplier and their answers."""
    return _schema("v2/Recipient.xsd")


# The contracts hold no Authority WSDL. Its inline schema is unqualified (JAX-WS style: the
# wrapper element is in the service namespace, `arg0` and `return` in none); the Sender
# values inside `return` use the contract's Sender.xsd type, so they are checked against it.
_AUTHORITY_SERVICE_XSD = b"""<?xml version="1.0" encoding="UTF-8"?>
<schema xmlns="http://www.w3.org/2001/XMLSchema"
        xmlns:sender="http://minameddelanden.gov.se/schema/Sender"
        targetNamespace="http://minameddelanden.gov.se/Authority"
        elementFormDefault="unqualified">
  <import namespace="http://minameddelanden.gov.se/schema/Sender" schemaLocation="Sender.xsd"/>
  <element name="getSenders"><complexType><sequence/></complexType></element>
  <element name="getSendersResponse"><complexType><sequence>
    <element name="return" type="sender:Sender" minOccurs="0" maxOccurs="unbounded"/>
  </sequence></complexType></element>
  <element name="isSenderAccepted"><complexType><sequence>
    <element name="arg0" type="sender:OrganizationNumber"/>
  </sequence></complexType></element>
  <element name="isSenderAcceptedResponse"><complexType><sequence>
    <element name="return" type="boolean"/>
  </sequence></complexType></element>
</schema>
"""


@functools.cache
def authority_service() -> etree.XMLSchema:
    """The Authority service (getSenders, isSenderAccepted) as `mm.far` speaks it.

    The wrapper elements are in the service namespace; `arg0` and the senders in `return`
    use the types of the contract's Sender.xsd.
    """
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    # The base URL lets the import of Sender.xsd resolve inside the shipped schema folder.
    base_url = str(SCHEMA_DIR / "AuthorityService.xsd")
    document = etree.fromstring(_AUTHORITY_SERVICE_XSD, parser, base_url=base_url)
    return etree.XMLSchema(document)


def common_v3() -> etree.XMLSchema:
    """Common v3: the applicationFault carrying ExceptionInformation."""
    return _schema("v3/Common.xsd")


def validate(element: etree._Element, schema: etree.XMLSchema) -> None:
    """Validate an element (and its subtree) against a schema.

    Raises:
        SchemaValidationError: with the first error, its line and the element's path.
    """
    try:
        schema.assertValid(element)
    except etree.DocumentInvalid as error:
        raise SchemaValidationError(f"följer inte schemat: {error}") from None
