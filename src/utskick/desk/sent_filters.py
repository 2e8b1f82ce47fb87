"""The search form of `/brev` as typed, read into filters or Swedish messages per field.

Every field is optional; a field that cannot be read gets a message that says what to type,
and then nothing is searched (a search that silently left out a filter would mislead).

A recipient's identity number never stands in a URL the page makes: URLs end up in access
logs. The form is posted and sent on to its results (`/brev?...`) with the number sealed
(`RecipientSeal`: encrypted and authenticated with a key from the session secret, valid for
a working day), so a search can still be reloaded, paged through and bookmarked for the day.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from utskick.identity import InvalidIdentityError, parse_identity, parse_organisation
from utskick.letters import vocabulary
from utskick.letters.search import LetterFilters

MAX_TEXT = 200
MAX_PAGE = 100_000
# How much of a wrong value a message repeats.
MAX_SHOWN = 40
# The query string's names: the URL of a search can be read, bookmarked and sent on.
FIELDS = {
    "recipient": "mottagare",
    "subject": "amne",
    "case_number": "diarienummer",
    "date_from": "fran",
    "date_to": "till",
    "state": "lage",
    "channel": "kanal",
    "department": "forvaltning",
    "sender": "avsandare",
    "system": "system",
}
PAGE_FIELD = "sida"
# The query's name for the sealed recipient number, and how long a sealed number is read.
SEALED_RECIPIENT_FIELD = "mottagare-ref"
SEALED_RECIPIENT_MAX_AGE_SECONDS = 8 * 3600
MAX_SEALED_LENGTH = 500
SEAL_EXPIRED = (
    "sökningen på mottagare har gått ut (den gäller en arbetsdag) eller kan inte läsas; "
    "skriv numret igen och sök"
)
DATE_HELP = "skriv datumet som ÅÅÅÅ-MM-DD, till exempel 2026-11-27"


class RecipientSeal:
    """Seals a typed recipient number for a URL and opens it again (Fernet: AES and HMAC).

    The key is derived from the session secret, which every web process of an installation
    shares, so any of them opens what another sealed.
    """

    def __init__(self, session_secret: str, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"utskick desk search recipient"
        ).derive(session_secret.encode("utf-8"))
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, typed: str) -> str:
        """The number as the URL carries it."""
        sealed = self._fernet.encrypt_at_time(typed.encode("utf-8"), int(self.clock()))
        return sealed.decode("ascii")

    def open(self, sealed: str) -> str | None:
        """The number as typed; None when forged, damaged or older than a working day."""
        if len(sealed) > MAX_SEALED_LENGTH:
            return None
        try:
            opened = self._fernet.decrypt_at_time(
                sealed, SEALED_RECIPIENT_MAX_AGE_SECONDS, int(self.clock())
            )
            return opened.decode("utf-8")
        except (InvalidToken, UnicodeDecodeError, ValueError):
            return None


@dataclasses.dataclass(frozen=True)
class SearchForm:
    """The fields as typed (stripped), to read and to show again in the form.

    `recipient_expired`: the query carried a sealed number that could not be opened.
    """

    recipient: str = ""
    subject: str = ""
    case_number: str = ""
    date_from: str = ""
    date_to: str = ""
    state: str = ""
    channel: str = ""
    department: str = ""
    sender: str = ""
    system: str = ""
    recipient_expired: bool = False

    @classmethod
    def from_query(cls, query: Mapping[str, str], seal: RecipientSeal) -> SearchForm:
        """The form from a query string's or a posted form's values (missing: empty).

        A sealed number is opened; a plain one (an older bookmark) is still read, but the
        page never makes such a URL.
        """
        typed: dict[str, Any] = {
            field: query.get(name, "").strip() for field, name in FIELDS.items()
        }
        form = cls(**typed)
        sealed = query.get(SEALED_RECIPIENT_FIELD, "")
        if not sealed:
            return form
        opened = seal.open(sealed)
        if opened is None:
            return dataclasses.replace(form, recipient="", recipient_expired=True)
        return dataclasses.replace(form, recipient=opened.strip())

    def query(self, seal: RecipientSeal, **changes: str) -> dict[str, str]:
        """The non-empty fields by their query names, the recipient sealed (for links)."""
        values = {name: getattr(self, field) for field, name in FIELDS.items()}
        if self.recipient:
            values[FIELDS["recipient"]] = ""
            values[SEALED_RECIPIENT_FIELD] = seal.seal(self.recipient)
        values.update(changes)
        return {name: value for name, value in values.items() if value}


@dataclasses.dataclass(frozen=True)
class ReadForm:
    """The filters of a form that could be read, or the message for each field that could not.

    `hints` explain how a field was understood (a 10-digit personnummer searched in two
    centuries), without stopping the search.
    """

    filters: LetterFilters | None
    errors: dict[str, str]
    hints: dict[str, str]


def page_number(typed: str | None) -> int:
    """The results page asked for; anything but a page number is the first page."""
    try:
        number = int(typed or "1")
    except ValueError:
        return 1
    return number if 1 <= number <= MAX_PAGE else 1


def read_form(form: SearchForm, *, zone: str, today: dt.date) -> ReadForm:
    """Filters from the form; the period's local days become UTC bounds in `zone`."""
    errors: dict[str, str] = {}
    hints: dict[str, str] = {}
    for field in ("subject", "case_number", "department", "system"):
        problem = _text_problem(getattr(form, field))
        if problem:
            errors[field] = problem
    recipients = _recipients(form.recipient, today, errors, hints)
    if form.recipient_expired:
        errors["recipient"] = SEAL_EXPIRED
    first_day = _date(form.date_from, "date_from", errors)
    last_day = _date(form.date_to, "date_to", errors)
    if first_day and last_day and last_day < first_day:
        errors["date_to"] = (
            f"till-datumet ({last_day}) ligger före från-datumet ({first_day}); byt plats på dem"
        )
    if form.state and form.state not in vocabulary.STATES:
        errors["state"] = "välj ett läge i listan"
    if form.channel and form.channel not in vocabulary.CHANNEL_TEXTS:
        errors["channel"] = "välj digitalt, papper eller ingen"
    sender = _sender(form.sender, errors)
    if errors:
        return ReadForm(None, errors, hints)
    local = ZoneInfo(zone)
    filters = LetterFilters(
        recipient_ids=recipients,
        subject=form.subject or None,
        case_number=form.case_number or None,
        created_from=_start_of(first_day, local) if first_day else None,
        created_before=_start_of(last_day + dt.timedelta(days=1), local) if last_day else None,
        state=form.state or None,
        channel=form.channel or None,
        department=form.department or None,
        sender_number=sender,
        sending_system_id=form.system or None,
    )
    return ReadForm(filters, errors, hints)


def _text_problem(text: str) -> str | None:
    if len(text) > MAX_TEXT:
        return f"får ha högst {MAX_TEXT} tecken; korta texten"
    if any(ord(character) < 32 or ord(character) == 127 for character in text):  # noqa: PLR2004
        return "innehåller styrtecken; skriv bara vanlig text"
    return None


def _recipients(
    typed: str, today: dt.date, errors: dict[str, str], hints: dict[str, str]
) -> tuple[str, ...]:
    """The recipient ids a typed number may mean (none when nothing is typed).

    A 10-digit personnummer with `-` belongs to someone under 100 by the rules, but people
    leave out the century of older persons too (`121212-1212` for Tolvan, born 1912): the
    search looks in both centuries and says so.
    """
    if not typed:
        return ()
    try:
        identity = parse_identity(typed, today=today)
    except InvalidIdentityError as error:
        errors["recipient"] = (
            f"{error.problem}; skriv ett person-, samordnings- eller organisationsnummer, "
            "till exempel 19121212-1212 eller 202100-4748"
        )
        return ()
    digits = "".join(character for character in typed if character.isdigit())
    if not identity.is_person or len(digits) != 10 or "+" in typed:  # noqa: PLR2004
        return (identity.value,)
    earlier = f"{int(identity.value[:4]) - 100:04d}{identity.value[4:]}"
    hints["recipient"] = (
        f"Söker både {identity.display} och {earlier[:8]}-{earlier[8:]}; skriv tolv siffror "
        "för att söka bara den ena."
    )
    return (identity.value, earlier)


def _date(typed: str, field: str, errors: dict[str, str]) -> dt.date | None:
    if not typed:
        return None
    try:
        return dt.date.fromisoformat(typed)
    except ValueError:
        shown = typed if len(typed) <= MAX_SHOWN else typed[:MAX_SHOWN] + "…"
        errors[field] = f"”{shown}” är inget datum; {DATE_HELP}"
        return None


def _start_of(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The first moment of a local day, in UTC."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def _sender(typed: str, errors: dict[str, str]) -> str | None:
    if not typed:
        return None
    try:
        return parse_organisation(typed).organisation_number
    except InvalidIdentityError as error:
        errors["sender"] = f"{error.problem}; välj en avsändare i listan"
        return None
