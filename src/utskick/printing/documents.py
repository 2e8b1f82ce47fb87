"""Turn a stored letter and its print item into what is printed (`PrintLetter`).

The envelope lines come from the print item (found when the letter was batched). For a
protected identity they are Skatteverket's forwarding address with the recipient's
personnummer as the reference line: the person's own address is never known here.

A letter laid out with the address in the window (`paper_layout`, a print file's letter) is
printed as it is, its attachments only. Not for a protected identity: the address the sender
printed is the person's own, so such a letter gets our page with the forwarding address in
the window, as any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from lxml import html
from sqlalchemy.orm import Session

from utskick.letters.models import Letter
from utskick.letters.vocabulary import ADDRESS_IN_WINDOW
from utskick.printing.models import PAPER_PART, PrintItem
from utskick.printing.render import PrintLetter
from utskick.printing.repository import PrintRepository
from utskick.senders.models import SenderOrganisation
from utskick.settings import Settings

_BLOCK_TAGS = ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr")


def html_to_text(body: str) -> str:
    """The readable text of a restricted-HTML body: one paragraph per block element."""
    if not body.strip():
        return ""
    root = html.fragment_fromstring(body, create_parent="div")
    for element in root.iter(*_BLOCK_TAGS):
        element.tail = (
            "\n\n" + (element.tail or "") if element.tag != "br" else "\n" + (element.tail or "")
        )
    text = root.text_content()
    paragraphs = [" ".join(part.split()) for part in text.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


def reference_line(recipient_id: str) -> str:
    """The reference line for Skatteverket's forwarding: the personnummer with its hyphen."""
    return f"Personnummer {recipient_id[:8]}-{recipient_id[8:]}"


class DocumentBuilder:
    """Builds `PrintLetter`s for one batch, with the senders looked up once."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.repository = PrintRepository(session)
        self.settings = settings
        self.zone = ZoneInfo(settings.print_timezone)
        self._senders: dict[str, SenderOrganisation | None] = {}

    def build(
        self, item: PrintItem, letter: Letter, attachments: Sequence[bytes] | None = None
    ) -> PrintLetter:
        """What is printed for this item.

        `attachments`: the letter's paper attachments when the caller read them already
        (for many letters at once, `PrintRepository.paper_attachments_of`); else read here.
        """
        sender = self._sender(letter.sender_number)
        created = (
            letter.created_at
            if letter.created_at.tzinfo
            else letter.created_at.replace(tzinfo=dt.UTC)
        )
        if item.protected:
            lines = (
                reference_line(letter.recipient_id),
                *self.settings.protected_forwarding_address,
            )
        else:
            lines = tuple(item.address or ())
        subject, body = self._text(item, letter)
        paper_attachments = tuple(
            self.repository.paper_attachments(letter.id) if attachments is None else attachments
        )
        return PrintLetter(
            letter_id=letter.id,
            sender_name=sender.name if sender else letter.sender_number,
            department=letter.department,
            letter_date=created.astimezone(self.zone).date(),
            created_at=created,
            subject=subject,
            body=body,
            address_lines=lines,
            case_number=letter.case_number,
            reference=letter.reference,
            footer_lines=_footer(sender, own_support_text=letter.support_text is not None),
            eservice_url=letter.eservice_url,
            support_text=letter.support_text,
            attachments=paper_attachments,
            as_printed=(
                letter.paper_layout == ADDRESS_IN_WINDOW
                and not item.protected
                and bool(paper_attachments)
            ),
        )

    def _text(self, item: PrintItem, letter: Letter) -> tuple[str, str]:
        if item.part == PAPER_PART:
            body = (
                f"Brevet ”{letter.subject}” har skickats till din digitala brevlåda. "
                "Här får du de bilagor som bara skickas på papper."
            )
            return f"Bilagor till: {letter.subject}", body
        body = letter.body or ""
        if letter.body_type == "text/html":
            body = html_to_text(body)
        return letter.subject, body

    def _sender(self, number: str) -> SenderOrganisation | None:
        if number not in self._senders:
            self._senders[number] = self.repository.senders([number]).get(number)
        return self._senders[number]


def _footer(sender: SenderOrganisation | None, *, own_support_text: bool) -> tuple[str, ...]:
    """The footer: the sender's support text and contact line.

    A letter with a support text of its own has it printed after its text (it replaces the
    organisation's, as on the wire); its footer keeps only the contact line.
    """
    if sender is None:
        return ()
    contact = ", ".join(
        part
        for part in (
            f"Telefon {sender.support_phone}" if sender.support_phone else None,
            sender.support_email,
            sender.support_url,
        )
        if part
    )
    support_text = None if own_support_text else sender.support_text
    return tuple(line for line in (support_text, contact) if line)
