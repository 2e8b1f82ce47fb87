"""The Mina meddelanden XSDs shipped inside the package, and validation against them."""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

SCHEMA_DIR = Path(__file__).with_name("schema")


class SchemaValidationError(ValueError):
    """A document that does not follow the contract; the message names the first error."""


@functools.cache
def _schema(relative_path: str) -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(SCHEMA_DIR / relative_path), parser))


def service_v3() -> etree.XMLSchema:
    """Service v3: deliverSecure, notify and their responses (imports the message schemas)."""
    return _schema("v3/Service.xsd")


def recipient_v3() -> etree.XMLSchema:
    """Recipient v3 (FaR): isReachable, isRegistered and the account operations."""
    return _schema("v3/Recipient.xsd")


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
