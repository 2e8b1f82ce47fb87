"""A sender organisation's support information: where a recipient turns with questions.

Every letter carries it (Mina meddelanden's `Supportinfo`: a text, and optionally a web
address, a telephone number and an e-mail address; on paper it is printed with the letter),
so what is stored here is checked against what the wire accepts and what a person can use.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from utskick.senders.models import SenderOrganisation

MAX_TEXT_LENGTH = 1024  # Supportinfo/Text
MAX_URL_LENGTH = 255  # Supportinfo/URL
MAX_PHONE_LENGTH = 64  # the column's length
MAX_EMAIL_LENGTH = 256  # EMailAdress
MIN_PHONE_DIGITS = 5
# A telephone number as people write it: digits, spaces, hyphens, a leading + and brackets.
PHONE_PATTERN = re.compile(r"\+?[0-9 ()\-]+")
# An address of the form namn@kommun.se: no spaces, one @, a dot in the domain.
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
# Characters no part may hold: control characters (C0, DEL, C1) would break the printed letter
# or a terminal, the Unicode line separators break a line as a newline does, and the
# bidirectional formatting characters make a text display in another order than it is
# written. Non-characters and lone surrogates cannot be sent as XML. The support text may
# break lines and use tabs; one-line parts (addresses, numbers) may not. The same rules as
# `letters.text_checks`, which refuses a letter whose sender's support text breaks them.
_BIDI_FORMATTING = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
_NOT_XML = "\ufffe\uffff\ud800-\udfff"
_BIDI_PATTERN = re.compile(f"[{_BIDI_FORMATTING}]")
_REFUSED_IN_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI_FORMATTING}{_NOT_XML}]")
_REFUSED_IN_TEXT = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f{_BIDI_FORMATTING}{_NOT_XML}]")


class SupportInfoError(ValueError):
    """Support information that cannot be used; the message is Swedish and says what to do."""


@dataclass(frozen=True)
class SupportChange:
    """What to change: None leaves a part as it is; "" removes an optional part."""

    text: str | None = None
    url: str | None = None
    phone: str | None = None
    email: str | None = None


def refused_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character `text` may not hold, described in Swedish; None when there is none.

    Args:
        text: the text to check.
        multiline: allow line breaks and tabs (a support text); one-line parts allow neither.
    """
    found = (_REFUSED_IN_TEXT if multiline else _REFUSED_IN_LINE).search(text)
    if found is None:
        return None
    char = found.group()
    code = f"U+{ord(char):04X}"
    if char in "\t\n\r\u2028\u2029":
        return f"en radbrytning eller tabb ({code})"
    name = unicodedata.name(char, "")
    if _BIDI_PATTERN.fullmatch(char):
        return (
            f"riktningstecknet {code} ({name}), som kan få texten att visas i en annan ordning "
            "än den är skriven"
        )
    return f"styrtecknet {code}" + (f" ({name})" if name else "")


def change_support_info(sender: SenderOrganisation, change: SupportChange) -> None:
    """Check every part first, then change the sender's support information (caller commits).

    Raises:
        SupportInfoError: a part cannot be used; nothing is changed.
    """
    text = _checked_text(change.text) if change.text is not None else None
    url = _checked_url(change.url) if change.url is not None else None
    phone = _checked_phone(change.phone) if change.phone is not None else None
    email = _checked_email(change.email) if change.email is not None else None
    if text is not None:
        sender.support_text = text
    if change.url is not None:
        sender.support_url = url or None
    if change.phone is not None:
        sender.support_phone = phone or None
    if change.email is not None:
        sender.support_email = email or None


def _checked_text(text: str) -> str:
    text = text.strip()
    _refuse_characters("supporttexten", text, multiline=True)
    if not text:
        message = (
            "supporttexten kan inte vara tom: varje brev ska säga vart mottagaren vänder sig, "
            't.ex. "Frågor besvaras av kommunens kontaktcenter, 0123-45 67 89."'
        )
        raise SupportInfoError(message)
    if len(text) > MAX_TEXT_LENGTH:
        message = f"supporttexten har {len(text)} tecken; högst {MAX_TEXT_LENGTH} går"
        raise SupportInfoError(message)
    return text


def _checked_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    _refuse_characters("webbadressen", url)
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed `[` of an IPv6 host
        parts = urlsplit("")
    if parts.scheme != "https" or not parts.hostname or " " in url:
        message = (
            f"webbadressen {url!r} går inte att använda; ange en fullständig adress som "
            'börjar med https://, t.ex. https://kommun.se/kontakt (eller "" för ingen)'
        )
        raise SupportInfoError(message)
    if len(url) > MAX_URL_LENGTH:
        message = f"webbadressen har {len(url)} tecken; högst {MAX_URL_LENGTH} går"
        raise SupportInfoError(message)
    return url


def _checked_phone(phone: str) -> str:
    # Before the spaces are evened out: str.split() would quietly take tabs and newlines too.
    _refuse_characters("telefonnumret", phone.strip())
    phone = " ".join(phone.split())
    if not phone:
        return ""
    digits = sum(character.isdigit() for character in phone)
    if (
        not PHONE_PATTERN.fullmatch(phone)
        or digits < MIN_PHONE_DIGITS
        or len(phone) > MAX_PHONE_LENGTH
    ):
        message = (
            f"telefonnumret {phone!r} går inte att använda; skriv det med siffror, t.ex. "
            f'0123-45 67 89 eller +46 123 45 67 89 (högst {MAX_PHONE_LENGTH} tecken, eller "" '
            "för inget)"
        )
        raise SupportInfoError(message)
    return phone


def _checked_email(email: str) -> str:
    email = email.strip()
    if not email:
        return ""
    _refuse_characters("e-postadressen", email)
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(email):
        message = (
            f"e-postadressen {email!r} går inte att använda; ange en adress av formen "
            f'namn@kommun.se (högst {MAX_EMAIL_LENGTH} tecken, eller "" för ingen)'
        )
        raise SupportInfoError(message)
    return email


def _refuse_characters(part: str, value: str, *, multiline: bool = False) -> None:
    """Refuse a part holding a character it may not; the value itself is not echoed."""
    refused = refused_character(value, multiline=multiline)
    if refused is not None:
        message = (
            f"{part} innehåller {refused}, kanske från en inklistring; skriv in den utan "
            "tecknet och försök igen"
        )
        raise SupportInfoError(message)
