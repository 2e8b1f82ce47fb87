"""The one hardened XML parser for everything that comes from outside.

No entity expansion, no DTD (a document with a DOCTYPE is refused outright), no network
access, and limits on size and nesting depth. Every byte from another party, be it a SOAP
request, a SOAP response or a file an integrator hands to the CLI, is parsed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_DEPTH = 64


class UnsafeXMLError(ValueError):
    """Input that the hardened parser refuses; the message says why."""


@dataclass(frozen=True, slots=True)
class XMLLimits:
    """How large and how deep a document from outside may be."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
        collect_ids=False,
    )


def parse_untrusted(data: bytes, limits: XMLLimits | None = None) -> etree._Element:
    """Parse bytes from another party and return the root element.

    Raises:
        UnsafeXMLError: the input is too large, too deep, not well-formed, or carries a
            DOCTYPE (the only way to declare entities, the root of XXE and "billion laughs").
    """
    limits = limits or XMLLimits()
    if len(data) > limits.max_bytes:
        raise UnsafeXMLError(
            f"dokumentet är {len(data)} byte, större än gränsen {limits.max_bytes} byte"
        )
    # A DOCTYPE is refused before parsing so that no declaration is ever processed.
    if b"<!DOCTYPE" in data:
        raise UnsafeXMLError("DOCTYPE och entiteter är inte tillåtna i meddelanden")
    try:
        root = etree.fromstring(data, parser=_new_parser())
    except etree.XMLSyntaxError as error:
        raise UnsafeXMLError(f"dokumentet är inte välformad XML: {error}") from None
    if root.getroottree().docinfo.doctype:  # type: ignore[union-attr]
        raise UnsafeXMLError("DOCTYPE och entiteter är inte tillåtna i meddelanden")
    too_deep = root.xpath("boolean(//*[count(ancestor::*) >= $limit])", limit=limits.max_depth)
    if too_deep:
        raise UnsafeXMLError(f"dokumentet är nästlat djupare än {limits.max_depth} nivåer")
    return root
