"""The desk's ports, built on the print service's population register and renderer.

The compose page (`utskick.desk`) may not import the print service, which sits beside it;
it declares what it needs (`utskick.desk.ports`) and this module, in the composition root,
answers with the print service's own code: the population register the print jobs ask,
`resolve` for the envelope, the `DocumentBuilder` that turns a letter into what is printed,
and the `LetterRenderer` with the envelope window of the letter's print route. So the
preview is the letter as the print service would print it, not a look-alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utskick.desk.ports import (
    DeskPorts,
    PaperDraft,
    PaperPreview,
    RegisterFacts,
    RegisterUnavailableError,
)
from utskick.entrypoints.bootstrap import Adapters
from utskick.letters.models import Letter
from utskick.letters.vocabulary import REASON_TEXTS
from utskick.printing.addresses import (
    AddressSource,
    AddressSourceUnavailableError,
    RegisterEntry,
    resolve,
)
from utskick.printing.documents import DocumentBuilder
from utskick.printing.handover import window_of
from utskick.printing.models import WHOLE_LETTER, PrintItem
from utskick.printing.render import LetterRenderer, WindowTooSmallError
from utskick.printing.routes import route_for
from utskick.settings import PrintVendor, Settings

PREVIEW_LETTER_ID = "forhandsvisning"
GIVE_ADDRESS = (
    " Ange en postadress under ”Adress för papperspost” för att skriva ut brevet till den."
)


def _entry(source: Callable[[], AddressSource], recipient_id: str) -> RegisterEntry | None:
    """The register's entry for one id.

    Raises:
        RegisterUnavailableError: the register is not configured or does not answer.
    """
    try:
        return source().lookup([recipient_id]).get(recipient_id)
    except AddressSourceUnavailableError as error:
        raise RegisterUnavailableError(str(error)) from error


class RegisterFactsFromAddressSource:
    """`desk.ports.RecipientRegister` on the print service's population register."""

    def __init__(self, source: Callable[[], AddressSource]) -> None:
        self.source = source

    def facts(self, recipient_id: str) -> RegisterFacts:
        """What the register says about this id (see `RecipientRegister.facts`)."""
        return _facts(_entry(self.source, recipient_id))

    def facts_of(self, recipient_ids: Sequence[str]) -> dict[str, RegisterFacts]:
        """What the register says about each of these ids, in one call per chunk.

        A mass mailing's precheck asks for hundreds of recipients at once; one call each
        would make the register's round trips the whole cost.

        Raises:
            RegisterUnavailableError: the register is not configured or does not answer.
        """
        try:
            entries = self.source().lookup(list(recipient_ids))
        except AddressSourceUnavailableError as error:
            raise RegisterUnavailableError(str(error)) from error
        return {rid: _facts(entries.get(rid)) for rid in recipient_ids}


def _facts(entry: RegisterEntry | None) -> RegisterFacts:
    """The desk's view of a register entry (None: the register does not know the person)."""
    if entry is None:
        return RegisterFacts(found=False)
    return RegisterFacts(
        found=entry.found,
        protected=entry.protected,
        deceased=entry.deceased,
        emigrated=entry.emigrated,
        has_address=bool(entry.name and entry.lines),
    )


class PrintServicePreview:
    """`desk.ports.PaperRenderer`: a draft rendered as the print service renders its letters."""

    def __init__(
        self, source: Callable[[], AddressSource], settings: Settings, engine: Engine
    ) -> None:
        self.source = source
        self.settings = settings
        self.engine = engine

    def preview(self, draft: PaperDraft) -> PaperPreview:
        """The printed letter, or why none would be printed (see `PaperRenderer.preview`)."""
        envelope = resolve(_entry(self.source, draft.recipient_id), draft.postal_address)
        if envelope.impossible_reason is not None:
            reason = REASON_TEXTS.get(envelope.impossible_reason, envelope.impossible_reason)
            return PaperPreview(not_printed=f"Inget brev skrivs ut: {reason}{GIVE_ADDRESS}")
        letter = Letter(
            id=PREVIEW_LETTER_ID,
            sender_number=draft.sender_number,
            department=draft.department,
            recipient_id=draft.recipient_id,
            subject=draft.subject,
            body_type="text/plain",
            body=draft.body,
            case_number=draft.case_number,
            reference=draft.reference,
            eservice_url=draft.eservice_url,
            support_text=draft.support_text,
            created_at=draft.created_at,
        )
        item = PrintItem(
            letter_id=PREVIEW_LETTER_ID,
            part=WHOLE_LETTER,
            protected=envelope.protected,
            address=None if envelope.protected else list(envelope.lines),
        )
        with Session(self.engine) as session:
            printed = DocumentBuilder(session, self.settings).build(item, letter)
        printed = dataclasses.replace(printed, attachments=draft.paper_attachments)
        try:
            rendered = LetterRenderer(window_of(self._vendor(draft.department))).render(printed)
        except WindowTooSmallError as error:
            return PaperPreview(not_printed=str(error)[:1].upper() + str(error)[1:])
        return PaperPreview(pdf=rendered.pdf)

    def _vendor(self, department: str | None) -> PrintVendor:
        """Whose envelopes: the route's vendor; a department printing itself uses the first's."""
        route = route_for(department, self.settings)
        if route.vendor is not None:
            return route.vendor
        return self.settings.print_vendors[0] if self.settings.print_vendors else PrintVendor()


def desk_ports(adapters: Adapters) -> DeskPorts:
    """The compose page's ports on this process's adapters (each looked up when used)."""

    def address_source() -> AddressSource:
        return adapters.address_source

    return DeskPorts(
        precheck=lambda: adapters.precheck,
        register=lambda: RegisterFactsFromAddressSource(address_source),
        paper=lambda: PrintServicePreview(address_source, adapters.settings, adapters.engine),
        protection=adapters.protection,
    )
