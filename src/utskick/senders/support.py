"""A sender organisation's support information: where a recipient turns with questions.

Every letter carries it (Mina meddelanden's `Supportinfo`: a text, and optionally a web
address, a telephone number and an e-mail address; on paper it is printed with the letter),
so what is stored here is checked against what the wire accepts and what a person can use.
"""

from __future__ import annotations

import re
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


class SupportInfoError(ValueError):
    """Support information that cannot be used; the message is Swedish and says what to do."""


@dataclass(frozen=True)
class SupportChange:
    """What to change: None leaves a part as it is; "" removes an optional part."""

    text: str | None = None
    url: str | None = None
    phone: str | None = None
    email: str | None = None


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
    parts = urlsplit(url)
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
    if len(email) > MAX_EMAIL_LENGTH or not EMAIL_PATTERN.fullmatch(email):
        message = (
            f"e-postadressen {email!r} går inte att använda; ange en adress av formen "
            f'namn@kommun.se (högst {MAX_EMAIL_LENGTH} tecken, eller "" för ingen)'
        )
        raise SupportInfoError(message)
    return email
