"""A source's inbox on this machine and a connector database (SQLite or PostgreSQL) to take
its files into: one sender organisation, two message types and the source's sending system.

`PickupWorld.poll` runs one poll with a memory of its own (so that tests do not share what
earlier polls saw) and a clock the test may move.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from support.postgres import postgres_schema_url
from support.world import EXEMPELKOMMUN, sender_organisation
from utskick.db.engine import create_database_engine, session_factory
from utskick.intake.models import IntakeFile
from utskick.intake.pickup.context import PollReport
from utskick.intake.pickup.poll import poll_source
from utskick.intake.pickup.stability import ListingMemory
from utskick.intake.sources import RecipientRule, Source
from utskick.letters.models import Letter, MessageType
from utskick.migrations import migrate
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings

SYSTEM = "Ekonomisystemet"
SOURCE = "ekonomi"
START = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.UTC)
PERSONS = ("191212121212", "196611090827", "199302281465", "198004232388")


def prepare(engine: Engine) -> None:
    """Migrate and add what the source's letters need."""
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        session.add(sender_organisation(intermediary=True))
        session.add(MessageType(code="beslut", name="Beslut", protection_class=2))
        session.add(MessageType(code="faktura", name="Faktura", protection_class=1))
        session.flush()
        create_sending_system(session, name=SYSTEM, sender_numbers=[EXEMPELKOMMUN], now=START)


@contextmanager
def database(kind: str, home: Path) -> Iterator[tuple[str, Engine]]:
    """A prepared database: SQLite in `home`, or a PostgreSQL schema of its own; its URL."""
    home.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        url = f"sqlite:///{home / 'utskick.db'}"
        engine = create_database_engine(url)
        prepare(engine)
        yield url, engine
        engine.dispose()
        return
    with postgres_schema_url("utskick_pickup") as url:
        engine = create_database_engine(url)
        try:
            prepare(engine)
            yield url, engine
        finally:
            engine.dispose()


def letter_line(recipient: str, number: int, **fields: object) -> str:
    """One NDJSON line: a letter to `recipient`."""
    letter = {
        "recipient": recipient,
        "subject": f"Faktura nr {number}",
        "body": f"Hej! Här kommer faktura nummer {number}.",
        "message_type": "faktura",
    } | fields
    # A field given as None is left out of the line.
    return json.dumps({k: v for k, v in letter.items() if v is not None}, ensure_ascii=False)


def ndjson(count: int, *, first: int = 1) -> str:
    """`count` good letters, one per line."""
    return "".join(
        letter_line(PERSONS[n % len(PERSONS)], n) + "\n" for n in range(first, first + count)
    )


@dataclass
class PickupWorld:
    """A database, an inbox and a source picking up from it."""

    url: str
    engine: Engine
    home: Path
    inbox: Path
    now: dt.datetime = START
    memory: ListingMemory = field(default_factory=ListingMemory)

    persons = PERSONS
    letter_line = staticmethod(letter_line)
    ndjson = staticmethod(ndjson)

    @property
    def settings(self) -> Settings:
        return Settings(
            home=self.home,
            embedded_reference=False,
            database_url=self.url,
            sources_file=self.home / "sources.toml",
        )

    def source(self, **fields: object) -> Source:
        values = {
            "name": SOURCE,
            "system": SYSTEM,
            "folder": self.inbox,
            "stable_seconds": 0,
            "recipient": RecipientRule(rule="anchor"),
        } | fields
        return Source.model_validate(values)

    def clock(self) -> dt.datetime:
        return self.now

    def poll(self, source: Source | None = None) -> PollReport:
        return poll_source(
            source or self.source(),
            sessions=session_factory(self.engine),
            settings=self.settings,
            clock=self.clock,
            memory=self.memory,
        )

    def drop(self, name: str, content: str | bytes) -> Path:
        """A file written straight into the inbox."""
        path = self.inbox / name
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    def files(self, folder: str = "") -> list[str]:
        where = self.inbox / folder if folder else self.inbox
        return sorted(p.name for p in where.iterdir() if p.is_file()) if where.exists() else []

    def rows(self) -> list[IntakeFile]:
        with Session(self.engine) as session:
            return list(session.scalars(select(IntakeFile).order_by(IntakeFile.received_at)))

    def letters(self) -> list[Letter]:
        with Session(self.engine) as session:
            return list(session.scalars(select(Letter).order_by(Letter.idempotency_key)))

    def letter_count(self) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(Letter)) or 0

    def receipt(self, name: str) -> dict[str, object]:
        return json.loads((self.inbox / "behandlade" / f"{name}.kvitto.json").read_text("utf-8"))

    def reason(self, name: str) -> str:
        return (self.inbox / "fel" / f"{name}.fel.txt").read_text("utf-8")


@pytest.fixture(params=["sqlite", "postgresql"])
def world(request, tmp_path) -> Iterator[PickupWorld]:
    """A pickup world on each database."""
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    with database(request.param, tmp_path / "home") as (url, engine):
        yield PickupWorld(url, engine, tmp_path / "home", inbox)


@pytest.fixture
def sqlite_world(tmp_path) -> Iterator[PickupWorld]:
    """A pickup world on SQLite only (for what does not depend on the database)."""
    inbox = tmp_path / "inkorg"
    inbox.mkdir()
    with database("sqlite", tmp_path / "home") as (url, engine):
        yield PickupWorld(url, engine, tmp_path / "home", inbox)
