"""What a PDF attachment may not carry: scripts, actions that run by themselves, other files.

A letter's PDF is opened by the citizen in whatever reader they have, and printed by the print
vendor. It must be a document and nothing more: no JavaScript, no action that starts a program
or sends data, nothing that runs when the file is opened or a page is shown, no embedded files,
no XFA form (which is a program of its own). Every object in the file is looked at, reachable
from the document or not, since a damaged file is repaired by readers that then find objects the
cross-reference table did not name. A file that cannot be read, or is encrypted so that it
cannot be looked into, is refused as well.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from collections.abc import Iterator

from pypdf import PdfReader
from pypdf._utils import read_non_whitespace
from pypdf.generic import (
    ArrayObject,
    DictionaryObject,
    IndirectObject,
    PdfObject,
    StreamObject,
    read_object,
)

# Actions that run code, start programs, send or fetch data, or open other files.
_REFUSED_ACTIONS = {
    "/JavaScript": "innehåller JavaScript; skapa PDF-filen utan skript",
    "/Launch": "försöker starta ett program eller öppna en fil (/Launch); skapa PDF-filen utan "
    "sådana åtgärder",
    "/SubmitForm": "har ett formulär som skickar uppgifter till en server (/SubmitForm); "
    "platta till formuläret (skriv ut det till PDF)",
    "/ImportData": "har ett formulär som hämtar uppgifter från en fil (/ImportData); platta "
    "till formuläret (skriv ut det till PDF)",
    "/GoToR": "länkar till en annan fil (/GoToR); ta bort länken eller bifoga filen som en egen "
    "PDF-bilaga",
    "/GoToE": "länkar till en inbäddad fil (/GoToE); skicka varje fil som en egen PDF-bilaga",
    "/RichMediaExecute": "styr inbäddad multimedia (/RichMediaExecute); skapa PDF-filen utan "
    "multimedia",
    "/Rendition": "spelar upp multimedia (/Rendition); skapa PDF-filen utan multimedia",
}
_JAVASCRIPT = _REFUSED_ACTIONS["/JavaScript"]
_OPEN_ACTION = (
    "gör något av sig själv när den öppnas (/OpenAction); spara PDF-filen utan öppningsåtgärd"
)
_ADDITIONAL_ACTIONS = (
    "har åtgärder som körs av sig själva när den visas (/AA); spara PDF-filen utan "
    "formulärskript och åtgärder"
)
_EMBEDDED_FILES = "innehåller inbäddade filer; skicka varje fil som en egen PDF-bilaga"
_XFA = (
    "är ett XFA-formulär, som är ett program och inte ett dokument; skriv ut formuläret till en "
    "vanlig PDF (t.ex. PDF/A) och försök igen"
)
_RICH_MEDIA = "innehåller multimedia (/RichMedia); skapa PDF-filen utan multimedia"
# The reason for a refused name found where no dictionary can be read (an unnamed object stream).
_REASON_FOR_NAME = {
    b"JS": _JAVASCRIPT,
    **{name[1:].encode(): reason for name, reason in _REFUSED_ACTIONS.items()},
    b"EmbeddedFile": _EMBEDDED_FILES,
    b"EmbeddedFiles": _EMBEDDED_FILES,
    b"EF": _EMBEDDED_FILES,
    b"FileAttachment": _EMBEDDED_FILES,
    b"XFA": _XFA,
    b"RichMedia": _RICH_MEDIA,
}
# Names whose presence sends a file to the exact check, as they appear after the slash.
_SUSPICIOUS_NAMES = frozenset(
    name[1:].encode()
    for name in (
        *_REFUSED_ACTIONS,
        "/JS", "/AA", "/OpenAction", "/EmbeddedFile", "/EmbeddedFiles", "/EF",
        "/FileAttachment", "/XFA", "/RichMedia",
    )
)  # fmt: skip
# A name token: a slash and the regular characters after it (PDF 32000-1, 7.2.2 and 7.3.5).
_NAME_TOKEN = re.compile(rb"/([^\x00\t\n\x0c\r ()<>\[\]{}/%]+)")
_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# More objects than any letter's PDF of at most 2 MB has: a file built to exhaust the check.
MAX_OBJECTS = 500_000
# pypdf logs a warning for every repair it makes to a damaged file; the verdict is what counts.
logging.getLogger("pypdf").setLevel(logging.ERROR)


class PdfRefusedError(ValueError):
    """A PDF that is refused; the message says why and what to do, in Swedish."""


def check_pdf(filename: str, content: bytes) -> None:
    """Refuse a PDF that cannot be read, is encrypted, or carries active or embedded content.

    Raises:
        PdfRefusedError: "bilagan <filename> …" with the reason and what to do.
    """
    problem = _problem(content)
    if problem is not None:
        raise PdfRefusedError(f"bilagan {filename} {problem}")


def _problem(content: bytes) -> str | None:
    try:
        reader = PdfReader(io.BytesIO(content), strict=False)
        if reader.is_encrypted:
            return (
                "är krypterad eller lösenordsskyddad och kan inte granskas; spara den utan "
                "lösenord och försök igen"
            )
        if _page_count(reader) < 1:
            return "har inga sidor; spara dokumentet som PDF på nytt och försök igen"
        return _active_content_problem(content, reader)
    except Exception as error:  # noqa: BLE001 (a damaged file fails in many ways; all mean unreadable)
        return (
            f"kan inte läsas som PDF ({type(error).__name__}); spara dokumentet som PDF på nytt "
            "och försök igen"
        )
    return None


def _active_content_problem(content: bytes, reader: PdfReader) -> str | None:
    suspicious = _names_in(content, reader)
    if not suspicious or (suspicious == {b"OpenAction": 1} and _only_opens_a_page(reader)):
        return None
    for dictionary in _dictionaries(reader):
        problem = _dictionary_problem(dictionary)
        if problem is not None:
            return problem
    return _problem_in_other_definitions(content, reader)


def _catalog(reader: PdfReader) -> DictionaryObject:
    catalog = reader.trailer["/Root"].get_object()
    if not isinstance(catalog, DictionaryObject):
        raise TypeError("the document catalog is no dictionary")
    return catalog


def _page_count(reader: PdfReader) -> int:
    """The page tree's own count (reading every page object would cost as much as the scan)."""
    pages = _catalog(reader)["/Pages"].get_object()
    count = pages.get("/Count") if isinstance(pages, DictionaryObject) else None
    return int(count) if isinstance(count, int) else 0


def _names_in(content: bytes, reader: PdfReader) -> Counter[bytes]:
    """The refused names that occur as name tokens in the file or its object streams.

    Every dictionary a reader can build has its keys and names as such tokens, in the file's
    bytes or in a compressed object stream, so a file without any of them is clean without
    parsing each of its objects. A token may also occur by chance in compressed data: a hit
    only sends the file to the exact check.
    """
    texts = [content]
    for number in {stream for stream, _index in reader.xref_objStm.values()}:
        stream = reader.get_object(number)
        if isinstance(stream, StreamObject):
            texts.append(stream.get_data())
    found: Counter[bytes] = Counter()
    for text in texts:
        found.update(_names_in_text(text))
    return found


def _names_in_text(text: bytes) -> Counter[bytes]:
    """The refused names among the name tokens of one text, `#xx` escapes decoded."""
    found: Counter[bytes] = Counter()
    for token, count in Counter(_NAME_TOKEN.findall(text)).items():
        name = _NAME_ESCAPE.sub(_unescape, token) if b"#" in token else token
        if name in _SUSPICIOUS_NAMES:
            found[name] += count
    return found


def _unescape(match: re.Match[bytes]) -> bytes:
    return bytes([int(match[1], 16)])


def _only_opens_a_page(reader: PdfReader) -> bool:
    """Whether the catalog's /OpenAction (the file's only one) only shows a page."""
    given = _catalog(reader).get("/OpenAction")
    if given is None:
        return False
    opened = given.get_object()
    return isinstance(opened, ArrayObject) or (
        isinstance(opened, DictionaryObject)
        and _name(opened.get("/S")) == "/GoTo"
        and "/Next" not in opened
    )


def _dictionaries(reader: PdfReader) -> Iterator[DictionaryObject]:
    """Every dictionary in the file (streams' included), each object visited once."""
    stack: list[PdfObject] = [reader.trailer]
    for generation, numbers in reader.xref.items():
        stack.extend(IndirectObject(number, generation, reader) for number in numbers)
    stack.extend(IndirectObject(number, 0, reader) for number in reader.xref_objStm)
    seen: set[tuple[int, int]] = set()
    while stack:
        item: PdfObject | None = stack.pop()
        if isinstance(item, IndirectObject):
            key = (item.idnum, item.generation)
            if key in seen:
                continue
            seen.add(key)
            if len(seen) > MAX_OBJECTS:
                raise ValueError("för många objekt")
            item = item.get_object()
        if isinstance(item, DictionaryObject):
            yield item
            stack.extend(item.values())
        elif isinstance(item, ArrayObject):
            stack.extend(item)


# The start of an object definition, `12 0 obj`, as a reader that repairs a file finds it.
_WHITE = rb"[\x00\t\n\x0c\r ]+"
_DEFINITION = re.compile(rb"(?<![0-9])[0-9]{1,10}" + _WHITE + rb"[0-9]{1,5}" + _WHITE + rb"obj")


def _problem_in_other_definitions(content: bytes, reader: PdfReader) -> str | None:
    """What is refused in an object definition the cross-reference table does not point to.

    A file may define an object twice (the catalog again after `%%EOF`, say) or define one
    the table leaves out. A reader that finds a table entry wrong rebuilds the table from
    every `N G obj` in the file and takes the last definition, so a file whose offsets are a
    little off (pypdf forgives that) shows such a reader another document. Each definition
    that holds a refused name is therefore read and checked too; an object stream among them
    that the table does not name is refused outright if it holds one.
    """
    starts = list(_DEFINITION.finditer(content))
    for index, start in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(content)
        if not _names_in_text(content[start.end() : end]):
            continue
        stream = io.BytesIO(content)
        stream.seek(start.end())
        read_non_whitespace(stream)
        stream.seek(-1, io.SEEK_CUR)
        defined = read_object(stream, reader)
        if isinstance(defined, StreamObject) and _name(defined.get("/Type")) == "/ObjStm":
            found = _names_in_text(defined.get_data())
            if found and not all(name == b"OpenAction" for name in found):
                return _REASON_FOR_NAME.get(min(found), _ADDITIONAL_ACTIONS)
        for dictionary in _dictionaries_from(defined):
            problem = _dictionary_problem(dictionary)
            if problem is not None:
                return problem
    return None


def _dictionaries_from(item: PdfObject) -> Iterator[DictionaryObject]:
    """The direct dictionaries in one object (its indirect references are checked elsewhere)."""
    stack = [item]
    while stack:
        current = stack.pop()
        if isinstance(current, DictionaryObject):
            yield current
            stack.extend(v for v in current.values() if not isinstance(v, IndirectObject))
        elif isinstance(current, ArrayObject):
            stack.extend(v for v in current if not isinstance(v, IndirectObject))


def _dictionary_problem(dictionary: DictionaryObject) -> str | None:
    """What is refused in this dictionary (its own keys; nested ones are visited on their own)."""
    problem = _action_problem(dictionary)
    if problem is not None:
        return problem
    subtype = _name(dictionary.get("/Subtype"))
    if (
        "/EmbeddedFiles" in dictionary
        or "/EF" in dictionary
        or _name(dictionary.get("/Type")) == "/EmbeddedFile"
        or subtype == "/FileAttachment"
    ):
        return _EMBEDDED_FILES
    if "/XFA" in dictionary:
        return _XFA
    if subtype == "/RichMedia":
        return _RICH_MEDIA
    return None


def _action_problem(dictionary: DictionaryObject) -> str | None:
    if "/JS" in dictionary or "/JavaScript" in dictionary:
        return _JAVASCRIPT
    action = _name(dictionary.get("/S"))
    if action in _REFUSED_ACTIONS:
        return _REFUSED_ACTIONS[action]
    if "/OpenAction" in dictionary:
        opened = dictionary["/OpenAction"].get_object()
        # A destination (an array) only shows a page; an action dictionary does something.
        if isinstance(opened, DictionaryObject):
            kind = _name(opened.get("/S"))
            if kind in _REFUSED_ACTIONS:
                return _REFUSED_ACTIONS[kind]
            if kind != "/GoTo":
                return _OPEN_ACTION
    if "/AA" in dictionary:
        return _ADDITIONAL_ACTIONS
    return None


def _name(value: PdfObject | None) -> str | None:
    if value is None:
        return None
    resolved = value.get_object()
    return str(resolved) if isinstance(resolved, str) else None
