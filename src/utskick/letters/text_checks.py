"""Characters a one-line text of a letter may not hold, and the base name of an attachment.

A subject, a file name or an address line is shown to the citizen, printed on an envelope or
used as a file name by the recipient's software. Control characters (C0, DEL, C1) have no place
there, and the bidirectional formatting characters can make a text display as something other
than what it is: `beslut<U+202E>fdp.exe` shows as `beslutexe.pdf`. Both are refused, never stripped,
so that what is stored is exactly what was sent.
"""

from __future__ import annotations

import re
import unicodedata

# Embeddings, overrides and isolates, the directional marks, and the Arabic letter mark.
BIDI_FORMATTING = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_CONTROLS = "\x00-\x1f\x7f-\x9f"
_NOT_XML = "\ufffe\uffff\ud800-\udfff"
# The Unicode line and paragraph separators break a line as surely as a newline does.
_LINE_BREAKS = "\u2028\u2029"
_REFUSED_IN_LINE = re.compile(f"[{_CONTROLS}{_LINE_BREAKS}{BIDI_FORMATTING}{_NOT_XML}]")
# Multi-line texts (a support text) may break lines and use tabs.
_REFUSED_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{BIDI_FORMATTING}{_NOT_XML}]")
_DRIVE = re.compile(r"[A-Za-z]:")


def refused_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character `text` may not hold, described in Swedish; None when there is none.

    Args:
        text: the text to check.
        multiline: allow line breaks and tabs (support texts); one-line texts allow neither.
    """
    found = (_REFUSED_IN_TEXT if multiline else _REFUSED_IN_LINE).search(text)
    if found is None:
        return None
    char = found.group()
    code = f"U+{ord(char):04X}"
    if char in BIDI_FORMATTING:
        name = unicodedata.name(char, "")
        return (
            f"riktningstecknet {code} ({name}), som kan få texten att visas i en annan ordning "
            "än den är skriven"
        )
    if char in "\t\n\r":
        return "en radbrytning eller tabb"
    if char in _LINE_BREAKS:
        return f"radbrytningen {code} ({unicodedata.name(char)})"
    return f"styrtecknet {code}"


def attachment_base_name(filename: str) -> str:
    r"""The file name without any folder (`C:\Ärenden\beslut.pdf` is `beslut.pdf`).

    Systems often send the path the file had on their side; only its last part is a name.
    Both separators count, whatever the sender's system, and so does a drive letter.
    """
    base = re.split(r"[/\\]", filename)[-1]
    if _DRIVE.match(base):
        base = base[2:]
    return base.strip()


def is_empty_name(name: str) -> bool:
    """Whether a base name names nothing: empty, or only dots (`.`, `..`)."""
    return not name.strip(". ")
