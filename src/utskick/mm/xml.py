"""The one hardened XML parser for everything that comes from outside.

No entity expansion, no DTD (a document with a DOCTYPE is refused outright), no network
access, and limits on size and nesting depth. Every byte from another party, be it a SOAP
request, a SOAP response or a file an integrator hands to the CLI, is parsed here.

Beside the parser: the rules for reading signed content (no comments or processing
instructions, and every text value read whole), and the `xs:date` reader.
"""

from __future__ import annotations

import datetime as dt
import re
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


# --- signed content --------------------------------------------------------------------------

COMMENT_REFUSED = "kommentarer är inte tillåtna i signerat innehåll"
INSTRUCTION_REFUSED = "processinstruktioner är inte tillåtna i signerat innehåll"


def refuse_comments_and_instructions(element: etree._Element) -> None:
    """Refuse a comment or processing instruction anywhere in the subtree of `element`.

    Exclusive C14N without comments leaves a comment out of the digest, so a comment inserted
    into a signed text (`<Subject>Beviljad<!--x--> inte</Subject>`) keeps the signature valid
    while any reader that stops at the first text node sees another text: the XML-signature
    truncation attack. Nothing Utskick verifies ever needs either, so both are refused
    before any signature is checked.

    Raises:
        UnsafeXMLError: naming the element that holds the first comment or instruction.
    """
    for node in element.iter(etree.Comment, etree.ProcessingInstruction):
        parent = node.getparent()
        where = etree.QName(parent).localname if parent is not None else "dokumentet"
        raise UnsafeXMLError(
            f"{non_element_reason(node)} (i elementet {where}); skicka dokumentet utan dem"
        )


def non_element_reason(node: etree._Element) -> str | None:
    """Why a node that is not an element has no place in signed content; None for an element."""
    if isinstance(node, etree._Comment):  # noqa: SLF001 (lxml's documented node class)
        return COMMENT_REFUSED
    if isinstance(node, etree._ProcessingInstruction):  # noqa: SLF001 (as above)
        return INSTRUCTION_REFUSED
    if not isinstance(node.tag, str):
        return "entitetsreferenser är inte tillåtna i signerat innehåll"
    return None


def text_content(element: etree._Element) -> str:
    """The whole text of an element that may hold only text, never just its first text node.

    Raises:
        UnsafeXMLError: the element holds a child element, a comment or a processing
            instruction, where only text belongs.
    """
    name = etree.QName(element).localname
    for child in element:
        reason = non_element_reason(child)
        if reason is not None:
            raise UnsafeXMLError(f"{reason} (i elementet {name})")
        raise UnsafeXMLError(
            f"elementet {name} ska bara innehålla text, men innehåller elementet "
            f"{etree.QName(child).localname}"
        )
    return element.text or ""


_XS_DATE = re.compile(r"(-?[0-9]{4,})-([0-9]{2})-([0-9]{2})(Z|[+-]([0-9]{2}):([0-9]{2}))?")
_MAX_OFFSET_MINUTES = 14 * 60


def parse_xs_date(text: str) -> dt.date:
    """An `xs:date` (`2023-10-11`, `2023-10-11Z`, `2023-10-11+02:00`) as the date written.

    The offset, when there is one, must lie within -14:00..+14:00 as XML Schema requires; it
    says where the day was counted and does not move the date. Leading and trailing white
    space is allowed (the type collapses it). Years outside 0001-9999 cannot be represented
    and are refused.

    Raises:
        ValueError: not a valid xs:date; the message says what is wrong (Swedish).
    """
    value = text.strip(" \t\r\n")
    match = _XS_DATE.fullmatch(value)
    if match is None:
        raise ValueError(
            f"{value!r} är inget datum av typen xs:date (skriv t.ex. 2023-10-11, "
            "2023-10-11Z eller 2023-10-11+02:00)"
        )
    year, month, day, zone, hours, minutes = match.groups()
    if year.startswith("-") or len(year) > 4:  # noqa: PLR2004
        raise ValueError(f"{value!r} har ett år utanför 0001–9999, som inte kan tas emot")
    try:
        date = dt.date(int(year), int(month), int(day))
    except ValueError:
        raise ValueError(f"{value!r} är inget giltigt datum (det datumet finns inte)") from None
    if zone not in (None, "Z"):
        offset = int(hours) * 60 + int(minutes)
        if int(minutes) > 59 or offset > _MAX_OFFSET_MINUTES:  # noqa: PLR2004
            raise ValueError(
                f"{value!r} har tidszonen {zone}; den ska ligga mellan -14:00 och +14:00"
            )
    return date
