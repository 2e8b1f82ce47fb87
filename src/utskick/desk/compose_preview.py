"""The printed letter before it is sent: the draft checked as a letter, then rendered.

The draft passes the checks the letter service makes of what is printed (recipient,
attachments that are PDFs, the e-service link, the support text, an address that fits), so
that the preview never shows a letter that could not be sent; the print service's renderer
then draws it (through the desk's port) with the address the population register or the
officer gives, in the window.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from utskick.desk.ports import PaperDraft, PaperPreview, PaperRenderer, RegisterUnavailableError
from utskick.desk.sending import DeskDraft, letter_input_for, organisation_of
from utskick.identity import InvalidIdentityError, parse_identity
from utskick.letters.inputs import (
    LetterRejectedError,
    checked_address,
    checked_attachments,
    checked_eservice_url,
    checked_support_text,
)
from utskick.web.users import WebUser

PAPER_CHANNELS = ("both", "paper")
REGISTER_DOWN = (
    "Folkbokföringen svarar inte just nu, så adressen i fönstret kan inte slås upp. Försök "
    "igen om en stund; brevet kan skickas ändå, och adressen slås upp när det skrivs ut."
)


def paper_preview(
    user: WebUser,
    organisation_name: str,
    draft: DeskDraft,
    renderer: Callable[[], PaperRenderer],
    *,
    now: dt.datetime,
) -> PaperPreview:
    """The letter as it would be printed now, or why it cannot be shown (Swedish)."""
    try:
        recipient = parse_identity(draft.recipient, today=now.date())
    except InvalidIdentityError as error:
        return PaperPreview(
            not_printed=f"Mottagaren är inget giltigt nummer ({error.problem}); rätta "
            "mottagaren och förhandsgranska igen."
        )
    try:
        letter = letter_input_for(user, organisation_name, draft)
        attachments = checked_attachments(letter.attachments)
        eservice_url = checked_eservice_url(letter.eservice_url)
        support_text = checked_support_text(letter.support_text)
        # Nothing is stored: the renderer never prints the address of a protected person.
        address = checked_address(dataclasses.replace(letter, address_screened=True))
    except LetterRejectedError as error:
        return PaperPreview(not_printed=error.message[:1].upper() + error.message[1:])
    paper = PaperDraft(
        sender_number=organisation_of(user),
        department=user.department,
        recipient_id=recipient.value,
        subject=letter.subject,
        body=letter.body,
        created_at=now,
        case_number=letter.case_number,
        reference=letter.reference,
        eservice_url=eservice_url,
        support_text=support_text,
        postal_address=address,
        paper_attachments=tuple(a.content for a in attachments if a.channel in PAPER_CHANNELS),
    )
    try:
        return renderer().preview(paper)
    except RegisterUnavailableError:
        return PaperPreview(not_printed=REGISTER_DOWN)
