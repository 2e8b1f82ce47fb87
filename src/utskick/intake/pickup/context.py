"""What one poll of a source works with, and what it reports."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session

from utskick.intake.pickup.folders import PickupFolder, PickupFolderError
from utskick.intake.pickup.receipts import local_time, stamp
from utskick.intake.sources import Source
from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.senders.models import SendingSystem
from utskick.senders.repository import SendingSystemRepository
from utskick.settings import Settings

# What became of a file in a poll (`FileOutcome.result`).
TAKEN = "taken"
REFUSED = "refused"
DUPLICATE = "duplicate"
WAITING = "waiting"

RESULT_TEXTS = {
    TAKEN: "mottagen",
    REFUSED: "avvisad",
    DUPLICATE: "redan mottagen (dubblett)",
    WAITING: "väntar",
}


class PickupSetupError(PickupFolderError):
    """The source names what does not exist (its sending system); `message` says what to do."""


@dataclass(frozen=True)
class FileOutcome:
    """What one poll did with one file: taken, refused, a duplicate, or left waiting."""

    name: str
    result: str
    kind: str | None = None
    accepted: int = 0
    rejected: int = 0
    batch_id: str | None = None
    # Swedish: why it was refused, whose duplicate it is, or why it waits.
    message: str | None = None


@dataclass
class PollReport:
    """What one poll of a source did."""

    source: str
    # Another poll of the same source was running (another worker, or the command line).
    busy: bool = False
    files: list[FileOutcome] = field(default_factory=list)
    waiting: list[FileOutcome] = field(default_factory=list)
    # The files whose outcome file (`.utfall.csv`) this poll wrote.
    outcomes: list[str] = field(default_factory=list)

    def merge(self, other: PollReport) -> None:
        """Add a later poll's report to this one (the waiting files are the later poll's)."""
        self.busy = other.busy
        self.files.extend(other.files)
        self.waiting = other.waiting
        self.outcomes.extend(other.outcomes)


@dataclass
class Poll:
    """One poll of one source: its folder, its database, its clock and a local work folder."""

    source: Source
    folder: PickupFolder
    sessions: Callable[[], Session]
    settings: Settings
    clock: Callable[[], dt.datetime]
    protection: Callable[[], ProtectedIdentityLookup | None]
    work: Path
    actor: str
    _system: SendingSystem | None = None

    @property
    def system(self) -> SendingSystem:
        """The sending system the source's letters come from.

        Raises:
            PickupSetupError: there is none of that name.
        """
        if self._system is None:
            with self.sessions() as session:
                system = SendingSystemRepository(session).by_name(self.source.system)
            if system is None:
                raise PickupSetupError(
                    f"källan {self.source.name} anger systemet {self.source.system!r}, som inte "
                    "finns; lägg till det med utskick systems add eller rätta system i källfilen. "
                    "Filerna ligger kvar tills dess"
                )
            self._system = system
        return self._system

    def file_key(self, sha256: str) -> str:
        """The key a file's letters' idempotency keys are made from: source and content."""
        return f"{self.source.name}:{sha256}"

    def shown(self, moment: dt.datetime) -> str:
        """A time as people read it, in the installation's zone."""
        return local_time(moment, self.settings.print_timezone)

    def stamp(self) -> str:
        """Now as a local time for a file name."""
        return stamp(self.clock(), self.settings.print_timezone)
