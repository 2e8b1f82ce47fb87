"""An e-mail's HTML as the letter's plain text, and HTML that is refused before anything else.

Outlook and Thunderbird write HTML with style sheets, conditional comments, Office namespaces
(`<o:p>`) and empty paragraphs for blank lines. The letter gets the text a reader sees: block
elements and `<br>` become line breaks, style sheets and the head are left out, runs of
blank lines are collapsed. Links keep their text only.

HTML that could run something in a reader's program is refused outright, whether or not its
text would be used: `<script>` (also inside a conditional comment), embedded frames and
objects, event attributes (`onclick`, `onload` …) and `javascript:`, `vbscript:` or
`data:text/html` addresses in any attribute. Such HTML does not come from an officer's
ordinary e-mail, so the whole e-mail is refused rather than cleaned.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

# Elements that start a new line where they begin and end.
BLOCK_ELEMENTS = frozenset(
    {
        "address",
        "article",
        "blockquote",
        "dd",
        "div",
        "dl",
        "dt",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "ul",
    }
)
# Elements whose content is no text of the letter (Outlook puts Office XML in `<xml>`).
HIDDEN_ELEMENTS = frozenset({"head", "script", "style", "title", "xml"})
# Elements that embed or run another document or program.
ACTIVE_ELEMENTS = frozenset({"applet", "embed", "frame", "frameset", "iframe", "object", "script"})
ACTIVE_ADDRESSES = ("javascript:", "vbscript:", "data:text/html")
_SCRIPT_IN_COMMENT = re.compile(r"<\s*script|javascript:|vbscript:", re.IGNORECASE)
_INVISIBLE = re.compile(r"[\x00-\x20\x7f]+")
_SPACES = re.compile(r"[ \t\r\n\f\xa0]+")
_BLANK_LINES = re.compile(r"\n{3,}")


class ActiveHtmlError(ValueError):
    """HTML that could run something; `finding` says what, in Swedish."""

    def __init__(self, finding: str) -> None:
        self.finding = finding
        super().__init__(finding)


@dataclass
class HtmlText:
    """The text of an HTML part and the `cid:` references of its images."""

    text: str
    content_ids: set[str] = field(default_factory=set)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pieces: list[str] = []
        self.content_ids: set[str] = set()
        self._hidden = 0
        self._pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        _check_element(tag, attrs)
        for name, value in attrs:
            if name in ("src", "background") and value and value.strip().lower().startswith("cid:"):
                self.content_ids.add(value.strip()[4:].strip("<>"))
        if tag in HIDDEN_ELEMENTS:
            self._hidden += 1
        elif tag == "pre":
            self._pre += 1
        if tag == "br" or tag in BLOCK_ELEMENTS:
            self.pieces.append("\n")
        if tag == "li":
            self.pieces.append("- ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in HIDDEN_ELEMENTS:
            self._hidden -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in HIDDEN_ELEMENTS:
            self._hidden = max(0, self._hidden - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in BLOCK_ELEMENTS:
            self.pieces.append("\n")
        elif tag in ("td", "th"):
            self.pieces.append(" ")

    def handle_data(self, data: str) -> None:
        if self._hidden:
            return
        self.pieces.append(data.replace("\xa0", " ") if self._pre else _SPACES.sub(" ", data))

    def handle_comment(self, data: str) -> None:
        # Old Internet Explorer ran what conditional comments hold.
        if _SCRIPT_IN_COMMENT.search(data):
            raise ActiveHtmlError("ett skript i en kommentar (villkorlig kommentar)")

    def unknown_decl(self, data: str) -> None:
        self.handle_comment(data)


def _check_element(tag: str, attrs: list[tuple[str, str | None]]) -> None:
    """Refuse an element that runs or embeds something.

    Raises:
        ActiveHtmlError: naming what was found.
    """
    if tag in ACTIVE_ELEMENTS:
        raise ActiveHtmlError(f"elementet <{tag}>")
    for name, value in attrs:
        if name.startswith("on"):
            raise ActiveHtmlError(f"händelseattributet {name}")
        compact = _INVISIBLE.sub("", value or "").lower()
        for address in ACTIVE_ADDRESSES:
            if address in compact:
                raise ActiveHtmlError(f"en {address}-adress i attributet {name}")


def html_to_text(html: str) -> HtmlText:
    """The text a reader sees in an e-mail's HTML, and the images it shows from the e-mail.

    Raises:
        ActiveHtmlError: the HTML holds a script, an event attribute, an embedded frame or
            object, or a script address.
    """
    reader = _Reader()
    reader.feed(html)
    reader.close()
    lines = [line.strip(" ") for line in "".join(reader.pieces).split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip("\n")
    return HtmlText(text, reader.content_ids)
