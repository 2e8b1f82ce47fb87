"""A closed vendor print batch seeded straight into the connector's tables, and its drop.

Hand-over only needs a batch in the state `closed` with addressed items and their letters in
`batched`; building that through the whole pipeline would only slow the crash tests down.
The letters carry the demo recipients (docs/test-identities.md) and a caller's address, as a
case system would send them; the protected identity's item has no address, as the print
service stores it. No sender organisation is seeded: the letter head then shows the
organisation number, and what the PDFs say is not what these tests look at.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from support.postgres import postgres_schema_url
from support.world import (
    DAVID,
    EVA,
    EXEMPELKOMMUN,
    IDA,
    TOLVAN,
)
from utskick.db.engine import create_database_engine
from utskick.letters import events, vocabulary
from utskick.letters.models import Letter, LetterEvent
from utskick.migrations import migrate
from utskick.printing.models import CLOSED, WHOLE_LETTER, PrintBatch, PrintItem
from utskick.senders.models import SendingSystem

VENDOR = "tryckeriet"
DEPARTMENT = "Samhällsbyggnad"
RECIPIENTS = (DAVID, TOLVAN, IDA, EVA)  # every fourth letter to a protected identity
WORK_FOLDER = ".utskick-tmp"


@contextmanager
def connector_database(kind: str, home: Path) -> Iterator[tuple[str | None, Engine]]:
    """A migrated database: SQLite in `home` (URL None: the default) or a PostgreSQL schema.

    The PostgreSQL URL names its own schema, so that `utskick` processes started with it as
    UTSKICK_DATABASE_URL see the same tables; the schema is dropped afterwards.
    """
    home.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
        migrate.upgrade(engine)
        yield None, engine
        engine.dispose()
        return
    with postgres_schema_url("utskick_print") as url:
        engine = create_database_engine(url)
        try:
            migrate.upgrade(engine)
            yield url, engine
        finally:
            engine.dispose()


def vendors_json(drop: Path, *, merged: bool = False) -> str:
    """UTSKICK_PRINT_VENDORS for one vendor writing to `drop`."""
    return json.dumps([{"name": VENDOR, "drop": str(drop), "merged": merged}])


def seed_closed_batch(engine: Engine, letters: int, *, now: dt.datetime) -> str:
    """A closed batch of `letters` one-page letters for the vendor; returns its id."""
    batch_id = str(uuid.uuid4())
    with Session(engine) as session, session.begin():
        system = SendingSystem(
            id=str(uuid.uuid4()),
            name=f"Ärendesystem {batch_id[:8]}",
            sender_numbers=[EXEMPELKOMMUN],
            departments=None,
            created_at=now,
        )
        session.add(system)
        session.add(
            PrintBatch(
                id=batch_id,
                route=VENDOR,
                local=False,
                department=DEPARTMENT,
                state=CLOSED,
                open_key=None,
                created_at=now - dt.timedelta(hours=2),
                closed_at=now,
                close_reason="command",
                letter_count=letters,
            )
        )
        session.flush()
        for position in range(1, letters + 1):
            _add_letter(session, system.id, batch_id, position, now)
    return batch_id


def _add_letter(
    session: Session, system_id: str, batch_id: str, position: int, now: dt.datetime
) -> None:
    recipient = RECIPIENTS[position % len(RECIPIENTS)]
    protected = recipient == EVA
    letter = Letter(
        id=str(uuid.uuid4()),
        sending_system_id=system_id,
        idempotency_key=f"{batch_id}-{position}",
        sender_number=EXEMPELKOMMUN,
        department=DEPARTMENT,
        recipient_id=recipient,
        subject=f"Beslut om bygglov nr {position}",
        body_type="text/plain",
        body=f"Hej!\n\nByggnadsnämnden har beviljat ansökan nr {position}. "
        "Beslutet kan överklagas inom tre veckor.",
        protection_class=2,
        policy="paper-only",
        case_number=f"BN 2026-{position:05d}",
        postal_address=None
        if protected
        else {
            "name": f"Mottagare {position}",
            "lines": [f"Storgatan {position}"],
            "postal_code": "123 45",
            "city": "Exempelstad",
        },
        message_id=str(uuid.uuid4()),
        created_at=now - dt.timedelta(hours=3),
        state=vocabulary.PAPER,
        channel="paper",
        reason="paper_only_policy",
        updated_at=now,
    )
    session.add(letter)
    session.add(
        PrintItem(
            letter_id=letter.id,
            batch_id=batch_id,
            part=WHOLE_LETTER,
            position=position,
            address=None
            if protected
            else [f"Mottagare {position}", f"Storgatan {position}", "123 45 Exempelstad"],
            protected=protected,
            created_at=now,
        )
    )
    events.record(
        session,
        letter,
        vocabulary.BATCHED,
        actor="test",
        now=now,
        data={"batch_id": batch_id, "position": position},
    )


def letter_ids(engine: Engine, batch_id: str) -> set[str]:
    """The ids of the batch's letters."""
    with Session(engine) as session:
        return set(
            session.scalars(select(PrintItem.letter_id).where(PrintItem.batch_id == batch_id))
        )


def handed_to_print_counts(engine: Engine) -> dict[str, int]:
    """How many `handed_to_print` events each letter has (letters without one are absent)."""
    with Session(engine) as session:
        rows = session.execute(
            select(LetterEvent.letter_id, func.count())
            .where(LetterEvent.state == vocabulary.HANDED_TO_PRINT)
            .group_by(LetterEvent.letter_id)
        ).all()
    return {str(letter_id): int(count) for letter_id, count in rows}


def batch_row(engine: Engine, batch_id: str) -> PrintBatch:
    """The batch as stored now."""
    with Session(engine, expire_on_commit=False) as session:
        batch = session.get(PrintBatch, batch_id)
        assert batch is not None
        return batch


def visible_entries(drop: Path) -> list[Path]:
    """What a vendor sees in the drop: every entry whose name does not start with a dot."""
    if not drop.exists():
        return []
    return sorted(path for path in drop.iterdir() if not path.name.startswith("."))


def work_folders(drop: Path) -> list[Path]:
    """Hidden working folders of hand-overs not (yet) finished."""
    work = drop / WORK_FOLDER
    return sorted(work.iterdir()) if work.exists() else []


def folder_snapshot(folder: Path) -> dict[str, tuple[int, int, str]]:
    """Every file under `folder` (and the folder itself): inode, mtime and SHA-256."""
    snapshot = {".": (folder.stat().st_ino, folder.stat().st_mtime_ns, "")}
    for path in sorted(folder.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        snapshot[str(path.relative_to(folder))] = (stat.st_ino, stat.st_mtime_ns, digest)
    return snapshot
