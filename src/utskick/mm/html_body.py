"""The allow-list for HTML bodies, checked on the tree a browser builds.

A mailbox shows an HTML body to the citizen, so a body may carry simple formatting and plain
links and nothing else. The check parses the body the way a browser does (html5lib implements
the WHATWG parsing algorithm) and refuses anything the allow-list does not name, as it appears
in that tree: a `<script>` hidden in an SVG `<style>`, a CDATA section that HTML turns into a
comment, or `jav&#x09;ascript:` in a link are judged as a browser sees them, not as their
characters look.

Nothing is rewritten: a body is taken as it is or refused with the reason, so what the mailbox
shows is exactly what the sender wrote. Markup that parses only through error recovery inside a
tag (attributes on end tags, a quote in an attribute name, a repeated attribute) is refused too:
browsers agree on it, but the mailbox operator's own software may not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import html5lib
from html5lib._tokenizer import HTMLTokenizer
from html5lib.constants import namespaces
from html5lib.treebuilders import getTreeBuilder

HTML_NAMESPACE = namespaces["html"]

ALLOWED_ELEMENTS = frozenset(
    {
        "p", "br", "strong", "b", "em", "i", "u", "ul", "ol", "li", "a",
        "h1", "h2", "h3", "h4", "blockquote", "table", "thead", "tbody", "tr", "th", "td",
        "span", "div", "hr",
    }
)  # fmt: skip
# Attributes allowed per element; every other attribute (event handlers, style, class …) is
# refused. A table cell may span columns and rows; a link has its address.
ALLOWED_ATTRIBUTES: dict[str, frozenset[str]] = {
    "a": frozenset({"href"}),
    "td": frozenset({"colspan", "rowspan"}),
    "th": frozenset({"colspan", "rowspan"}),
}
LINK_SCHEMES = ("http", "https", "mailto")
# The document parse adds these around the body; they may appear, but without attributes.
_DOCUMENT_FRAME = frozenset({"html", "head", "body"})
_DOCUMENT_TAG = re.compile(r"<(html|head|body|frameset)", re.IGNORECASE)
_SPAN = re.compile(r"[1-9]\d{0,2}")
# What the WHATWG URL parser strips before reading a scheme (C0 controls and space at the
# ends) and removes anywhere (tab and newlines): `jav&#x09;ascript:` is `javascript:`.
_URL_EDGES = "".join(chr(code) for code in range(0x21))
_URL_REMOVED = re.compile("[\t\n\r]")
# In a URL these are written percent-encoded; raw, they are what a quoting mistake looks like
# (and old parsers took a backtick for a quote).
_NOT_IN_URL = re.compile("[\x00-\x20\x7f-\x9f\"'<>`\\\\]")

# Parse errors inside a tag or an attribute, in Swedish: markup that only error recovery makes
# sense of. Nesting errors (an unclosed <b>, a stray </div>) are not among them: they are common,
# and the tree a browser builds from them is still checked element by element.
_UNFINISHED_TAG = "en tagg är inte avslutad med >"
_BAD_ATTRIBUTE_NAME = "ett attributnamn innehåller \", ' eller <"
MALFORMED_TAG_ERRORS: dict[str, str] = {
    "attributes-in-end-tag": "en sluttagg har attribut (t.ex. </p x>)",
    "self-closing-flag-on-end-tag": "en sluttagg har ett snedstreck (t.ex. </p/>)",
    "expected-closing-tag-but-got-right-bracket": "en tom sluttagg </>",
    "duplicate-attribute": "ett attribut står två gånger i samma tagg",
    "invalid-character-in-attribute-name": _BAD_ATTRIBUTE_NAME,
    "invalid-character-after-attribute-name": _BAD_ATTRIBUTE_NAME,
    "unexpected-character-after-attribute-value": "två attribut saknar mellanslag emellan",
    "unexpected-character-after-solidus-in-tag": "ett snedstreck mitt i en tagg",
    "expected-attribute-value-but-got-right-bracket": "ett attribut har = men inget värde",
    "eof-in-tag-name": _UNFINISHED_TAG,
    "expected-attribute-name-but-got-eof": _UNFINISHED_TAG,
    "eof-in-attribute-name": _UNFINISHED_TAG,
    "expected-end-of-tag-name-but-got-eof": _UNFINISHED_TAG,
    "expected-attribute-value-but-got-eof": _UNFINISHED_TAG,
    "eof-in-attribute-value-double-quote": _UNFINISHED_TAG,
    "eof-in-attribute-value-single-quote": _UNFINISHED_TAG,
    "eof-in-attribute-value-no-quotes": _UNFINISHED_TAG,
    "unexpected-EOF-after-solidus-in-tag": _UNFINISHED_TAG,
}


class HtmlBodyError(ValueError):
    """An HTML body that is refused; the message names what is not allowed, in Swedish."""


# html5lib is quadratic in two places: it looks elements up in its stack of open elements
# for every tag, and compares every attribute name with all earlier ones in the same tag. A
# body of nothing but unclosed tags (`<div>` 50,000 times, 250 kB) or one tag with 100,000
# attributes (700 kB) takes minutes. Both are bounded while parsing, well above anything a
# letter needs (browsers stop nesting at 512; the allow-list has at most two attributes).
MAX_NESTING = 200
MAX_ATTRIBUTES = 20


class _OpenElements(list[Any]):
    """The parser's stack of open elements, refusing a body nested deeper than MAX_NESTING."""

    def append(self, element: Any) -> None:
        self._room()
        super().append(element)

    def insert(self, index: Any, element: Any) -> None:
        self._room()
        super().insert(index, element)

    def _room(self) -> None:
        if len(self) >= MAX_NESTING:
            raise HtmlBodyError(
                f"HTML-koden är nästlad i fler än {MAX_NESTING} nivåer (ofta taggar som inte "
                "stängs, t.ex. <div> utan </div>); stäng taggarna"
            )


class _BoundedTreeBuilder(getTreeBuilder("etree")):  # type: ignore[misc]
    """html5lib's ElementTree builder with a bounded stack of open elements."""

    def reset(self) -> None:
        super().reset()
        self.openElements = _OpenElements()


class _BoundedTokenizer(HTMLTokenizer):
    """html5lib's tokenizer, refusing a tag with more than MAX_ATTRIBUTES attributes."""

    def attributeNameState(self) -> bool:  # noqa: N802 (html5lib's name)
        token = self.currentToken
        if token is not None and len(token["data"]) > MAX_ATTRIBUTES:
            raise HtmlBodyError(
                f"en tagg i HTML-koden har fler än {MAX_ATTRIBUTES} attribut; skriv taggarna "
                'som vanlig HTML, t.ex. <a href="https://exempel.se">länk</a>'
            )
        return bool(super().attributeNameState())


class _BoundedParser(html5lib.HTMLParser):
    """html5lib's parser with the bounded tree builder and tokenizer."""

    def __init__(self) -> None:
        super().__init__(tree=_BoundedTreeBuilder, namespaceHTMLElements=True)

    def reset(self) -> None:
        # The parser makes a plain tokenizer right before each reset; ours only adds a check.
        tokenizer = getattr(self, "tokenizer", None)
        if tokenizer is not None and type(tokenizer) is HTMLTokenizer:
            tokenizer.__class__ = _BoundedTokenizer
        super().reset()


def _parser() -> html5lib.HTMLParser:
    return _BoundedParser()


def check_html_body(html: str) -> None:
    """Refuse an HTML body with anything the allow-list does not allow, as a browser parses it.

    The body is parsed as a fragment (how a mailbox inserts it into its page) and, when it
    has its own `<html>`, `<head>`, `<body>` or `<frameset>`, also as a document (how it is
    shown on its own): only those tags make the two trees hold different elements. Comments
    are refused in every form a browser makes one of: `<!-- -->`, `<!x>`, `<?x>` and
    `<![CDATA[…]]>`.

    Raises:
        HtmlBodyError: naming the first element, attribute, link or comment that is refused.
    """
    fragment_parser = _parser()
    _check_tree(fragment_parser.parseFragment(html, container="div"), document=False)
    _refuse_malformed_tags(fragment_parser.errors)
    if _DOCUMENT_TAG.search(html):
        _check_tree(_parser().parse(html), document=True)


def _refuse_malformed_tags(errors: list[Any]) -> None:
    for (line, column), code, _data in errors:
        if code in MALFORMED_TAG_ERRORS:
            raise HtmlBodyError(
                f"HTML-koden har en felskriven tagg på rad {line}, tecken {column}: "
                f"{MALFORMED_TAG_ERRORS[code]}; skriv taggarna som vanlig HTML, t.ex. "
                '<a href="https://exempel.se">länk</a>'
            )


def _check_tree(root: Any, *, document: bool) -> None:
    for element in _elements(root):
        tag = element.tag
        if not isinstance(tag, str):  # a comment or a processing instruction
            raise HtmlBodyError(
                "kommentarer är inte tillåtna i HTML-brödtexten (inte heller <!…>, <?…> eller "
                "<![CDATA[…]]>, som webbläsaren läser som kommentarer); ta bort dem"
            )
        namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
        if name == "DOCUMENT_FRAGMENT":
            continue
        if document and name in _DOCUMENT_FRAME and namespace == HTML_NAMESPACE:
            if element.attrib:
                raise HtmlBodyError(f"attribut på <{name}> är inte tillåtna i brödtexten")
            continue
        if namespace != HTML_NAMESPACE or name not in ALLOWED_ELEMENTS:
            raise HtmlBodyError(f"HTML-elementet <{name}> är inte tillåtet i brödtexten")
        for attribute, value in element.attrib.items():
            _check_attribute(name, attribute, value)


def _elements(root: Any) -> Iterator[Any]:
    """`root` and every node below it, depth first (iteratively: a body may nest deeply)."""
    stack = [root]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(list(node)))


def _check_attribute(element: str, attribute: str, value: str) -> None:
    local = attribute.rpartition("}")[2]
    if attribute.startswith("{") or local not in ALLOWED_ATTRIBUTES.get(element, frozenset()):
        raise HtmlBodyError(f"attributet {local} på <{element}> är inte tillåtet i brödtexten")
    if local == "href":
        check_link(value)
    elif not _SPAN.fullmatch(value):
        raise HtmlBodyError(f"attributet {local} på <{element}> ska vara ett tal från 1 till 999")


def check_link(href: str) -> None:
    """Allow only absolute http(s) and mailto links, read as the browser's URL parser reads them.

    Raises:
        HtmlBodyError: the link has another scheme (javascript:, data: …) or none.
    """
    url = _URL_REMOVED.sub("", href.strip(_URL_EDGES))
    scheme, colon, rest = url.partition(":")
    scheme = scheme.lower()
    if not (colon and scheme in LINK_SCHEMES and rest) or _NOT_IN_URL.search(url):
        raise HtmlBodyError(
            f"attributet href på <a> är inte tillåtet i brödtexten ({_shown(href)}); en länk "
            "ska vara en fullständig adress som börjar med https://, http:// eller mailto:, "
            "utan mellanslag, citattecken, <, > eller \\"
        )


def _shown(value: str) -> str:
    printable = "".join(char if char.isprintable() else "?" for char in value)
    return printable[:60] + ("…" if len(printable) > 60 else "")  # noqa: PLR2004
