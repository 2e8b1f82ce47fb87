"""Letters as the desk shows them: local times, numbers as people type them, Swedish words.

The search results, the letter's page and its live status share these views, so a letter
reads the same in all three.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

import lxml.html

from utskick.identity import InvalidIdentityError, parse_identity
from utskick.jobs.queue import utc
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterAttachment, LetterEvent

POLICY_TEXTS = {
    vocabulary.DIGITAL_OR_PAPER: "digitalt, annars på papper",
    vocabulary.DIGITAL_ONLY: "bara digitalt",
    vocabulary.PAPER_ONLY: "bara på papper",
}
ATTACHMENT_CHANNEL_TEXTS = {
    "both": "digitalt och på papper",
    "digital": "digitalt",
    "paper": "papper",
}
_KIB = 1024


class LocalTimes:
    """Stored times (UTC; naive on SQLite) shown in the installation's time zone."""

    def __init__(self, zone: str) -> None:
        self.zone = ZoneInfo(zone)

    def minutes(self, moment: dt.datetime | None) -> str:
        """`2026-11-27 10:00`, or "–" for no time."""
        return self._shown(moment, "%Y-%m-%d %H:%M")

    def seconds(self, moment: dt.datetime | None) -> str:
        """`2026-11-27 10:00:03`, or "–" for no time (a timeline's steps come seconds apart)."""
        return self._shown(moment, "%Y-%m-%d %H:%M:%S")

    def _shown(self, moment: dt.datetime | None, pattern: str) -> str:
        if moment is None:
            return "–"
        return utc(moment).astimezone(self.zone).strftime(pattern)


def identity_display(number: str) -> str:
    """A stored identity number (12 digits, or an organisation's 10) as people type it."""
    try:
        return parse_identity(number).display
    except InvalidIdentityError:
        return number  # stored before the checks existed: shown as it is


def actor_text(actor: str) -> str:
    """Who caused an event, in Swedish: `web:hans` → `hans (webben)`."""
    kind, _, name = actor.partition(":")
    if kind == "web" and name:
        return f"{name} (webben)"
    if kind == "api" and name:
        return f"{name} (API)"
    if kind == "mail" and name:
        return f"{name} (e-post)"
    if kind == "worker":
        return "Utskick (bakgrundsjobb)"
    if actor == "cli":
        return "kommandoraden"
    return actor


def size_text(size: int) -> str:
    """A file size as people read it: `812 byte`, `14 kB`, `2,3 MB`."""
    if size < _KIB:
        return f"{size} byte"
    if size < _KIB * _KIB:
        return f"{round(size / _KIB)} kB"
    return f"{size / (_KIB * _KIB):.1f} MB".replace(".", ",")


@dataclasses.dataclass(frozen=True)
class LetterRow:
    """One letter in the search results."""

    id: str
    created: str
    recipient: str
    subject: str
    case_number: str
    department: str
    organisation: str
    channel: str
    state: str


def letter_row(letter: Letter, times: LocalTimes) -> LetterRow:
    """A letter as a row of the search results."""
    return LetterRow(
        id=letter.id,
        created=times.minutes(letter.created_at),
        recipient=identity_display(letter.recipient_id),
        subject=letter.subject,
        case_number=letter.case_number or "–",
        department=letter.department or "–",
        organisation=identity_display(letter.sender_number),
        channel=vocabulary.channel_text(letter.channel),
        state=vocabulary.state_text(letter.state),
    )


@dataclasses.dataclass(frozen=True)
class TimelineStep:
    """One event of a letter's life as the page shows it."""

    at: str
    state: str
    reason: str
    detail: str
    actor: str


def timeline(events: Sequence[LetterEvent], times: LocalTimes) -> list[TimelineStep]:
    """The letter's events, oldest first, in Swedish and local time."""
    return [
        TimelineStep(
            at=times.seconds(event.at),
            state=vocabulary.state_text(event.state),
            reason=vocabulary.text_for(event.reason) if event.reason else "",
            # The detail often opens with the reason's text; then it is not said twice.
            detail=_detail_beyond_reason(event),
            actor=actor_text(event.actor),
        )
        for event in events
    ]


def _detail_beyond_reason(event: LetterEvent) -> str:
    detail = (event.detail or "").strip()
    if event.reason:
        detail = detail.removeprefix(vocabulary.text_for(event.reason)).strip()
    return detail


def operator_of(letter: Letter, events: Sequence[LetterEvent]) -> str:
    """The recipient's mailbox operator: its name from the classification, and its number."""
    if not letter.operator_number:
        return "–"
    names = [
        str(event.data["operator_name"])
        for event in events
        if event.data and event.data.get("operator_name")
    ]
    number = identity_display(letter.operator_number)
    return f"{names[-1]} ({number})" if names else number


def body_text(letter: Letter) -> str | None:
    """The letter's text as a person reads it; HTML shown as its text (never as markup)."""
    if letter.body is None:
        return None
    if letter.body_type == "text/html" and letter.body.strip():
        text = lxml.html.fromstring(letter.body).itertext()
        return "".join(str(part) for part in text).strip()
    return letter.body


@dataclasses.dataclass(frozen=True)
class AttachmentView:
    """An attachment: its name, size and channel, and whether its content is still kept."""

    position: int
    filename: str
    size: str
    channel: str
    kept: bool


def attachment_views(attachments: Sequence[LetterAttachment]) -> list[AttachmentView]:
    """The letter's attachments in their order."""
    return [
        AttachmentView(
            position=attachment.position,
            filename=attachment.filename,
            size=size_text(attachment.size),
            channel=ATTACHMENT_CHANNEL_TEXTS.get(attachment.channel, attachment.channel),
            kept=attachment.content is not None,
        )
        for attachment in attachments
    ]


def status_json(
    letter: Letter, events: Sequence[LetterEvent], times: LocalTimes, *, cancellable: bool
) -> dict[str, object]:
    """What the letter's page updates while the letter is on its way (`brev-status.js`)."""
    return {
        "state": letter.state,
        "state_text": vocabulary.state_text(letter.state),
        "channel_text": vocabulary.channel_text(letter.channel),
        "reason_text": vocabulary.text_for(letter.reason) if letter.reason else "–",
        "operator": operator_of(letter, events),
        "updated": times.minutes(letter.updated_at),
        "final": letter.state in vocabulary.TERMINAL_STATES,
        "cancellable": cancellable,
        "events": [dataclasses.asdict(step) for step in timeline(events, times)],
    }
