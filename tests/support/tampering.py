"""Tampering with signed XML the way an attacker does: in the serialized bytes.

Imports nothing from Utskick: the bytes are changed as text, so what the tests feed the
verifier is exactly what an attacker on the way could send.
"""

import re

from lxml import etree

SIGNATURE = "{http://www.w3.org/2000/09/xmldsig#}Signature"
COMMENT = b"<!--x-->"
INSTRUCTION = b"<?x y?>"
POSITIONS = ("start", "middle", "end")


def text_span(document, local_name, text):
    """Start and end (byte offsets) of the text of the one element `local_name` holding `text`.

    The element may carry a namespace prefix or not; exactly one such element must exist.
    """
    pattern = re.compile(
        rb"<(?:[\w.-]+:)?"
        + re.escape(local_name.encode())
        + rb"(?:\s[^>]*)?>"
        + re.escape(text.encode())
        + rb"</(?:[\w.-]+:)?"
        + re.escape(local_name.encode())
        + rb">"
    )
    found = list(pattern.finditer(document))
    assert len(found) == 1, f"{len(found)} elements {local_name} hold {text!r}"
    match = found[0]
    start = match.start() + match.group(0).index(b">") + 1
    return start, start + len(text.encode())


def insert_into_text(document, local_name, text, position, markup):
    """The document with `markup` inserted at the start, middle or end of that element's text."""
    start, end = text_span(document, local_name, text)
    at = {"start": start, "middle": start + (end - start) // 2, "end": end}[position]
    if position == "middle":
        # Never split a multi-byte UTF-8 character.
        while at > start and (document[at] & 0xC0) == 0x80:
            at -= 1
    return document[:at] + markup + document[at:]


def insert_after_tag(document, local_name, markup):
    """The document with `markup` inserted right after the first start tag of `local_name`."""
    match = re.search(
        rb"<(?:[\w.-]+:)?" + re.escape(local_name.encode()) + rb"(?:\s[^>]*)?>", document
    )
    assert match is not None, local_name
    return document[: match.end()] + markup + document[match.end() :]


def exclusive_c14n(element):
    """Exclusive XML canonicalisation without comments, as the signatures are computed."""
    return etree.tostring(element, method="c14n", exclusive=True, with_comments=False)


def enveloped_digest_input(element):
    """What the enveloped Signature of `element` (its last Signature child) digests."""
    copy = etree.fromstring(etree.tostring(element, with_tail=False))
    signature = [child for child in copy if child.tag == SIGNATURE][-1]
    copy.remove(signature)
    return exclusive_c14n(copy)
