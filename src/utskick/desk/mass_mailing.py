"""A mass mailing as it is kept between requests: the uploaded table, its state, its work lock.

Each mailing has a folder of its own under the installation's home (`<home>/massutskick/<id>`,
readable by the owner only): the table as uploaded, the precheck of every row and the
record of every row handed to the letter service, each written as the work goes, and a small
JSON file with the state the pages show (who uploaded it for which organisation and
department, the mapping and templates, the status, the counts so far). Nothing here holds a
table's rows in memory.

The work of a mailing (its precheck, its sending) runs in a background thread that holds an
exclusive lock on the mailing's lock file while it works. The lock is the operating system's
(`flock`): it goes with the process, so a mailing whose state says "sending" but whose lock
nobody holds was interrupted (the process stopped or crashed), and may be continued.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import json
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from utskick.letters.tables.columns import ColumnMapping
from utskick.letters.tables.reading import DEFAULT_MAX_BYTES, TableRefusedError, read_table
from utskick.mm.private_files import (
    create_private_folders,
    open_private_file,
    private_folder,
    write_private_file,
)
from utskick.web.menu import letter_scope
from utskick.web.users import WebUser

ROOT_FOLDER = "massutskick"
TABLE_FILE = "tabell"
STATE_FILE = "utskick.json"
PRECHECK_FILE = "kontroll.csv"
SENDING_FILE = "skickat.csv"
LOCK_FILE = "arbete.lock"
COPY_CHUNK_BYTES = 64 * 1024
MAX_FILE_NAME_LENGTH = 200

# The mailing's life: uploaded (columns known) → checking → checked → sending → sent. A
# changed mapping takes a checked mailing back to checking.
UPLOADED = "uploaded"
CHECKING = "checking"
CHECKED = "checked"
SENDING = "sending"
SENT = "sent"
# Shown, never stored: checking or sending, and no thread works on it.
INTERRUPTED = "interrupted"
WORKING_STATUSES = (CHECKING, SENDING)
STATUS_TEXTS = {
    UPLOADED: "uppladdat",
    CHECKING: "kontrolleras",
    CHECKED: "kontrollerat",
    SENDING: "skickas",
    SENT: "skickat",
    INTERRUPTED: "avbrutet",
}

_MAILING_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}")
_NOT_IN_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass
class PrecheckCounts:
    """How the rows checked so far came out, and the first rows that will not be sent."""

    rows: int = 0
    digital: int = 0
    paper: int = 0
    impossible: int = 0
    problem: int = 0
    unknown: int = 0  # FaR did not answer: the channel is chosen when the letter is sent
    first_problems: list[dict[str, Any]] = field(default_factory=list)
    finished_at: str | None = None

    @property
    def to_send(self) -> int:
        """The rows that will become letters."""
        return self.digital + self.paper + self.unknown


@dataclass
class SendingCounts:
    """How far the sending has come: rows handed over, accepted and refused."""

    to_send: int = 0
    accepted: int = 0
    refused: int = 0
    last_row: int = 0  # the last row handed over (rows go in order)
    sent_by: str | None = None
    started_at: str | None = None
    finished_at: str | None = None

    @property
    def handed_over(self) -> int:
        """The rows the letter service has answered for."""
        return self.accepted + self.refused


@dataclass
class MassMailing:
    """A mass mailing's state as its JSON file keeps it."""

    id: str
    organisation_number: str
    department: str | None
    username: str
    file_name: str
    file_format: str
    columns: list[str]
    created_at: str  # ISO 8601 in UTC
    status: str = UPLOADED
    mapping: ColumnMapping | None = None
    subject_template: str = ""
    body_template: str = ""
    message_type: str | None = None
    case_number: str | None = None
    # Not sent before this time (ISO 8601 in UTC); None: at once.
    not_before: str | None = None
    precheck: PrecheckCounts = field(default_factory=PrecheckCounts)
    sending: SendingCounts = field(default_factory=SendingCounts)
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The state as stored."""
        data = dataclasses.asdict(self)
        data["mapping"] = dataclasses.asdict(self.mapping) if self.mapping else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MassMailing:
        """The state from its stored form."""
        mapping = data.pop("mapping", None)
        precheck = data.pop("precheck", {})
        sending = data.pop("sending", {})
        mailing = cls(**data)
        if mapping is not None:
            mapping["address_lines"] = tuple(mapping.get("address_lines", ()))
            mailing.mapping = ColumnMapping(**mapping)
        mailing.precheck = PrecheckCounts(**precheck)
        mailing.sending = SendingCounts(**sending)
        return mailing


@dataclass(frozen=True)
class Owner:
    """Whose mailing it is: the organisation, department and person who uploaded it."""

    organisation_number: str
    department: str | None
    username: str

    @classmethod
    def of(cls, user: WebUser) -> Owner:
        """The person's own organisation and department.

        Raises:
            NoScopeError: the person belongs to no organisation (answered 403).
        """
        scope = letter_scope(user)
        return cls(scope.organisation_number or "", user.department, user.username)


def upload_too_large(max_bytes: int) -> str:
    """The refusal of a file over the size limit."""
    return (
        f"Filen är större än {max_bytes // (1024 * 1024)} MB, som är det mesta som tas emot; "
        "dela upp mottagarna i flera filer"
    )


def shown_file_name(name: str | None) -> str:
    """The uploaded file's name as the pages show it: its base name, without control signs."""
    base = re.split(r"[/\\]", name or "")[-1]
    cleaned = _NOT_IN_NAME.sub("", base).strip()
    return cleaned[:MAX_FILE_NAME_LENGTH] or "mottagare"


class MailingStore:
    """The mass mailings of an installation, each in a folder of its own under `home`."""

    def __init__(self, home: Path) -> None:
        self.root = home / ROOT_FOLDER

    def path(self, mailing_id: str, name: str) -> Path:
        """A file of the mailing's folder."""
        return self.root / mailing_id / name

    def create(
        self,
        source: BinaryIO,
        file_name: str | None,
        owner: Owner,
        now: dt.datetime,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> MassMailing:
        """Store an uploaded table, read in chunks, and start its mailing.

        Raises:
            TableRefusedError: too large, or not a table (nothing is kept then).
        """
        mailing_id = str(uuid.uuid4())
        create_private_folders(self.root)
        folder = private_folder(self.root / mailing_id)
        try:
            table_path = folder / TABLE_FILE
            _copy(source, table_path, max_bytes)
            table = read_table(table_path, max_bytes=max_bytes)
            mailing = MassMailing(
                id=mailing_id,
                organisation_number=owner.organisation_number,
                department=owner.department,
                username=owner.username,
                file_name=shown_file_name(file_name),
                file_format=table.file_format,
                columns=list(table.columns),
                created_at=now.astimezone(dt.UTC).isoformat(),
            )
            self.save(mailing)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return mailing

    def load(self, mailing_id: str) -> MassMailing | None:
        """The mailing with this id, if there is one."""
        if not _MAILING_ID.fullmatch(mailing_id):
            return None
        try:
            text = self.path(mailing_id, STATE_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return MassMailing.from_json(json.loads(text))

    def save(self, mailing: MassMailing) -> None:
        """Write the mailing's state (a reader sees the old state or the new, never half)."""
        data = json.dumps(mailing.as_json(), ensure_ascii=False, indent=1).encode("utf-8")
        write_private_file(self.path(mailing.id, STATE_FILE), data)

    def of_department(self, organisation_number: str, department: str | None) -> list[MassMailing]:
        """The mailings of one organisation's department, newest first."""
        if not self.root.is_dir():
            return []
        found = []
        for folder in self.root.iterdir():
            mailing = self.load(folder.name)
            if (
                mailing is not None
                and mailing.organisation_number == organisation_number
                and (mailing.department or "") == (department or "")
            ):
                found.append(mailing)
        return sorted(found, key=lambda mailing: mailing.created_at, reverse=True)

    def visible(self, user: WebUser, mailing_id: str) -> MassMailing | None:
        """The mailing if it is this person's organisation's and department's, else None.

        Raises:
            NoScopeError: the person belongs to no organisation (answered 403).
        """
        mailing = self.load(mailing_id)
        scope = letter_scope(user)
        if mailing is None or scope.everything:
            # An administrator of the installation sends nothing, so has no mailings.
            return None
        if not scope.covers(mailing.organisation_number, mailing.department):
            return None
        return mailing

    def shown_status(self, mailing: MassMailing) -> str:
        """The status as the page shows it: `interrupted` for work that nobody does."""
        return self.shown(mailing)[1]

    def shown(self, mailing: MassMailing) -> tuple[MassMailing, str]:
        """The mailing as it stands now, and its status as the page shows it.

        Work saves its last state before it gives up the lock, so a mailing read while the
        work was on, whose lock is free when we look, is read again: the work may just have
        ended (`checked`, `sent`). Only if it still says it is being worked on did its work
        stop without finishing: `interrupted`.
        """
        if mailing.status not in WORKING_STATUSES or self.working(mailing.id):
            return mailing, mailing.status
        fresh = self.load(mailing.id) or mailing
        if fresh.status in WORKING_STATUSES:
            return fresh, INTERRUPTED
        return fresh, fresh.status

    def working(self, mailing_id: str) -> bool:
        """Whether a thread (of any process on this machine) works on the mailing now."""
        lock = self.take_lock(mailing_id)
        if lock is None:
            return True
        lock.release()
        return False

    def remove(self, mailing_id: str, lock: WorkLock) -> None:
        """Delete the mailing's files (its table, precheck and record); the lock is given up.

        The letters it sent stay, as every letter does; only the officer's file goes.
        """
        folder = self.root / mailing_id
        # The state first: from then on the mailing does not exist, even if the rest lingers.
        self.path(mailing_id, STATE_FILE).unlink(missing_ok=True)
        lock.release()
        shutil.rmtree(folder, ignore_errors=True)

    def take_lock(self, mailing_id: str) -> WorkLock | None:
        """The mailing's work lock, or None when someone else holds it."""
        return WorkLock.take(self.path(mailing_id, LOCK_FILE))


class WorkLock:
    """The exclusive right to work on one mailing; the system drops it with the process."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor: int | None = descriptor

    @classmethod
    def take(cls, path: Path) -> WorkLock | None:
        """The lock on `path`, or None when another holder has it (never waits)."""
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(descriptor)
            return None
        return cls(descriptor)

    def release(self) -> None:
        """Give the lock up (a second call does nothing)."""
        if self._descriptor is not None:
            fcntl.flock(self._descriptor, fcntl.LOCK_UN)
            os.close(self._descriptor)
            self._descriptor = None


@contextlib.contextmanager
def appending(path: Path) -> Iterator[BinaryIO]:
    """A file of the mailing opened to append to (made with mode 0600 if new)."""
    with contextlib.suppress(FileExistsError):
        os.close(open_private_file(path))
    with path.open("ab") as stream:
        yield stream


def _copy(source: BinaryIO, target: Path, max_bytes: int) -> None:
    """Copy `source` to a new private file in chunks.

    Raises:
        TableRefusedError: the source holds more than `max_bytes` (the copy stops there).
    """
    copied = 0
    descriptor = open_private_file(target)
    with os.fdopen(descriptor, "wb") as file:
        while chunk := source.read(COPY_CHUNK_BYTES):
            copied += len(chunk)
            if copied > max_bytes:
                raise TableRefusedError(upload_too_large(max_bytes))
            file.write(chunk)
