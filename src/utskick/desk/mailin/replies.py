"""The replies an officer gets about a letter they e-mailed: what became of it, or why not.

A reply is plain Swedish text and carries nothing of the letter: no subject, no text, no
attachment names, no case numbers. It names the recipient as people type the number, with a
person's last four digits masked (`19121212-XXXX`, an organisation in full): e-mail passes
through servers and mailboxes that the letter's content never should, and the officer knows
which letter it is from the thread (`In-Reply-To` and `References` name their e-mail) and
from the link to the letter in Utskick.

Each reply is marked as an automatic answer (`Auto-Submitted: auto-replied`, RFC 3834, and
Exchange's `X-Auto-Response-Suppress`), so that out-of-office answers do not come back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from utskick.desk.letter_views import LocalTimes, operator_of
from utskick.identity import InvalidIdentityError, parse_identity
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterEvent
from utskick.settings import Settings

# The print service's route of a department that prints its own exception list
# (`printing.routes.LOCAL_ROUTE`; the desk does not import the print service).
LOCAL_PRINT_ROUTE = "lokal"
NEW_LETTER_PATH = "/brev/nytt"
# A Message-ID as a reply can name it: one `<…>` without spaces or more brackets.
_MESSAGE_ID = re.compile(r"<[^<>\s]{1,990}>")
_ANY_HOST = ("", "0.0.0.0", "::")  # noqa: S104 (listening everywhere: link to localhost)
SIGNATURE = "Det här är ett automatiskt svar från Utskick; svara inte på det."


@dataclass(frozen=True)
class Outcome:
    """What became of a letter, for a reply: the subject's ending and the body's paragraph."""

    headline: str
    paragraph: str


def shown_identity(number: str) -> str:
    """The recipient as a reply names them: `19121212-XXXX` for a person, or `202100-4748`."""
    try:
        identity = parse_identity(number)
    except InvalidIdentityError:
        return "ett ogiltigt nummer"
    if identity.is_person:
        return f"{identity.value[:8]}-XXXX"
    return identity.display


def desk_base_url(settings: Settings) -> str:
    """Where the officer reaches Utskick's web app (its own host and port)."""
    host = settings.host if settings.host not in _ANY_HOST else "localhost"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def letter_url(settings: Settings, letter_id: str) -> str:
    """The letter's page at the desk."""
    return f"{desk_base_url(settings)}/brev/{letter_id}"


def reply_message(
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    in_reply_to: str | None,
    now: dt.datetime,
) -> EmailMessage:
    """A plain-text reply from `mail_out_from`, threaded under the officer's e-mail."""
    message = EmailMessage()
    message["From"] = f"Utskick <{settings.mail_out_from}>"
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(dt.UTC))
    domain = settings.mail_out_from.rpartition("@")[2] or None
    message["Message-ID"] = make_msgid("utskick", domain=domain)
    original = thread_id(in_reply_to)
    if original is not None:
        message["In-Reply-To"] = original
        message["References"] = original
    message["Auto-Submitted"] = "auto-replied"
    message["X-Auto-Response-Suppress"] = "All"
    message.set_content(text)
    return message


def thread_id(message_id: str | None) -> str | None:
    """The officer's Message-ID as a reply names it; None for none or one that is malformed."""
    if not message_id:
        return None
    found = _MESSAGE_ID.search(message_id)
    return found.group() if found else None


def _when(shown: str) -> str:
    """`2026-12-07 10:15` as a sentence says it: `den 2026-12-07 kl. 10:15`."""
    day, _, time = shown.partition(" ")
    return f"den {day} kl. {time}" if time else shown


def greeting(name: str | None) -> str:
    """`Hej Hans Handläggare!`, or `Hej!` without a name."""
    return f"Hej {name}!" if name else "Hej!"


def outcome_of(letter: Letter, events: Sequence[LetterEvent]) -> Outcome | None:
    """What became of the letter, as a reply says it; None while it is still on its way."""
    state = letter.state
    if state not in vocabulary.OUTCOME_KNOWN_STATES:
        return None
    if state == vocabulary.DELIVERED:
        where = f" hos {operator_of(letter, events)}" if letter.operator_number else ""
        return Outcome(
            "har levererats digitalt",
            f"Brevet har levererats digitalt till mottagarens brevlåda{where}.",
        )
    if state in (vocabulary.BATCHED, vocabulary.HANDED_TO_PRINT, vocabulary.PRINTED):
        return _on_paper(letter, events)
    return _not_sent(letter)


def _not_sent(letter: Letter) -> Outcome:
    """A letter that ended without going out: cancelled, impossible, not reachable, failed."""
    reason = _reason(letter)
    if letter.state == vocabulary.CANCELLED:
        return Outcome("är makulerat", "Brevet makulerades innan något skickades till mottagaren.")
    if letter.state == vocabulary.IMPOSSIBLE:
        return Outcome(
            "kan inte skickas",
            f"Brevet kan inte skickas, varken digitalt eller på papper. {reason}",
        )
    if letter.state == vocabulary.NOT_REACHABLE:
        return Outcome(
            "har inte skickats",
            "Brevet har inte skickats: det skulle bara skickas digitalt, och mottagaren kan "
            f"inte ta emot det digitalt. {reason}",
        )
    return Outcome("kunde inte skickas", f"Brevet kunde inte skickas. {reason}")


def still_under_way(letter: Letter) -> Outcome:
    """The reply when a letter has no outcome a day after it was e-mailed."""
    return Outcome(
        "är ännu inte skickat",
        "Brevet är ännu inte klart ett dygn efter att du e-postade det (läget nu: "
        f"{vocabulary.state_text(letter.state)}). Du får inget mer svar med e-post om det; "
        "följ brevet i Utskick.",
    )


def _on_paper(letter: Letter, events: Sequence[LetterEvent]) -> Outcome:
    reason = _reason(letter)
    if letter.state == vocabulary.PRINTED:
        return Outcome(
            "är utskrivet", f"Brevet är utskrivet från undantagslistan för papperspost. {reason}"
        )
    if letter.state == vocabulary.HANDED_TO_PRINT:
        return Outcome(
            "skickas på papper",
            f"Brevet skickas på papper: det är lämnat till tryckeriet. {reason}",
        )
    routes = [
        str(event.data.get("route"))
        for event in events
        if event.state == vocabulary.BATCHED and event.data
    ]
    if routes and routes[-1] == LOCAL_PRINT_ROUTE:
        return Outcome(
            "ska skrivas ut",
            "Brevet ska skickas på papper och ligger på din förvaltnings undantagslista: "
            f"skriv ut det under Utskrift i Utskick och posta det. {reason}",
        )
    return Outcome(
        "skickas på papper",
        f"Brevet skickas på papper: det ligger i en utskriftsbatch till tryckeriet. {reason}",
    )


def _reason(letter: Letter) -> str:
    """The reason as a sentence; a protected identity is not named in an e-mail."""
    if not letter.reason:
        return ""
    if letter.reason == vocabulary.PROTECTED_IDENTITY:
        return "Skälet står i Utskick."
    return f"Skäl: {vocabulary.text_for(letter.reason)}"


def outcome_reply(
    settings: Settings,
    *,
    to: str,
    name: str | None,
    letter: Letter,
    outcome: Outcome,
    received_at: dt.datetime,
    in_reply_to: str | None,
    now: dt.datetime,
) -> EmailMessage:
    """The reply that tells what became of an e-mailed letter."""
    shown = shown_identity(letter.recipient_id)
    sent = LocalTimes(settings.print_timezone).minutes(received_at)
    text = "\n\n".join(
        (
            greeting(name),
            f"Du e-postade ett brev till {shown} {_when(sent)}.",
            outcome.paragraph.strip(),
            f"Brevet i Utskick: {letter_url(settings, letter.id)}",
            SIGNATURE,
        )
    )
    return reply_message(
        settings,
        to=to,
        subject=f"Ditt brev till {shown} {outcome.headline}",
        text=text + "\n",
        in_reply_to=in_reply_to,
        now=now,
    )


def refusal_reply(
    settings: Settings,
    *,
    to: str,
    name: str | None,
    recipient: str | None,
    reason: str,
    in_reply_to: str | None,
    now: dt.datetime,
) -> EmailMessage:
    """The reply that tells why an e-mail was not taken as a letter (nothing was stored)."""
    sent = LocalTimes(settings.print_timezone).minutes(now)
    whom = f"Ditt brev till {shown_identity(recipient)}" if recipient else "Ditt e-brev"
    reason = reason.strip()
    reason = reason[:1].upper() + reason[1:]
    if not reason.endswith((".", "!", "?")):
        reason += "."
    text = "\n\n".join(
        (
            greeting(name),
            (
                f"Du e-postade ett brev till Utskick {_when(sent)}. Det har inte skickats, "
                "varken digitalt eller på papper, och inget av det har sparats."
            ),
            f"Skäl: {reason}",
            f"Du kan också skriva brevet i Utskick: {desk_base_url(settings)}{NEW_LETTER_PATH}",
            SIGNATURE,
        )
    )
    return reply_message(
        settings,
        to=to,
        subject=f"{whom} kunde inte skickas",
        text=text + "\n",
        in_reply_to=in_reply_to,
        now=now,
    )
