"""What the compose page needs from the systems outside the desk, as ports.

The desk sits beside the print service on its floor and may not import it, yet the officer
must see what the population register says about a recipient and the printed letter as the
print service would render it. So the desk declares what it asks for here, and the
composition root (`utskick.entrypoints.desk_adapters`) hands in adapters built on the
print service's population register and renderer. The precheck comes from the channel
switch (a floor below) and is a port only so that the web app's FaR cache and a test's fake
reach the page the same way.

Every port is handed in as a function that returns it: the web app's adapters are built on
first use (an installation may lack FaR or a population register for a while), and tests
replace them after the app is made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.switch.rule import Decision


class ReachabilityCheck(Protocol):
    """The channel switch's synchronous precheck (`utskick.switch.precheck.Precheck`)."""

    def check(
        self, sender_number: str, recipient_ids: Sequence[str], *, policy: str = ...
    ) -> list[Decision]:
        """One decision per recipient, in the order given.

        Raises:
            InvalidIdentityError: a number that is not valid.
            FarUnavailableError: FaR could not be asked.
        """
        ...


class RegisterUnavailableError(RuntimeError):
    """The population register cannot be asked now (not configured, or not answering)."""


@dataclass(frozen=True)
class RegisterFacts:
    """What the population register says about one recipient, as far as the page shows it."""

    found: bool
    protected: bool = False
    deceased: bool = False
    emigrated: bool = False
    has_address: bool = False


class RecipientRegister(Protocol):
    """The population register, asked about one recipient at a time."""

    def facts(self, recipient_id: str) -> RegisterFacts:
        """What the register knows about this 12-digit id.

        Raises:
            RegisterUnavailableError: the register cannot be asked now.
        """
        ...


@dataclass(frozen=True)
class PaperDraft:
    """A letter being written, as the print service would print it if it went on paper."""

    sender_number: str
    department: str | None
    recipient_id: str  # 12 digits
    subject: str
    body: str  # plain text
    created_at: dt.datetime
    case_number: str | None = None
    reference: str | None = None
    eservice_url: str | None = None
    # The letter's own support text (the officer's contact details); None: the organisation's.
    support_text: str | None = None
    # The address the officer gave (checked form: name, lines, postal_code, city), if any.
    postal_address: Mapping[str, object] | None = None
    # The PDFs that go on paper (channel paper or both), in order.
    paper_attachments: tuple[bytes, ...] = field(default=())


@dataclass(frozen=True)
class PaperPreview:
    """The printed letter as a PDF, or why no letter would be printed (Swedish)."""

    pdf: bytes | None = None
    not_printed: str | None = None


class PaperRenderer(Protocol):
    """Renders a draft as the print service renders a batched letter, address in the window."""

    def preview(self, draft: PaperDraft) -> PaperPreview:
        """The printed letter, or the reason it would not be printed.

        Raises:
            RegisterUnavailableError: the population register cannot be asked for the address.
        """
        ...


@dataclass(frozen=True)
class DeskPorts:
    """The ports of the compose page, each a function that returns the adapter to use now."""

    precheck: Callable[[], ReachabilityCheck]
    register: Callable[[], RecipientRegister]
    paper: Callable[[], PaperRenderer]
    # None: no register can be asked, so an address the officer gives cannot be screened.
    protection: Callable[[], ProtectedIdentityLookup | None]
