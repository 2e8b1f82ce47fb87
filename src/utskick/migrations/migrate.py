"""Run Alembic migrations from code, so that `utskick serve` and tests need no alembic.ini."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from utskick.db.engine import create_database_engine

MIGRATIONS = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to an engine (env.py takes the connection from it)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database to `revision` (default: the newest).

    A database already at the newest revision is only read: every start of every process
    asks, and the migration lock (env.py) is only taken when there is something to do.
    """
    if revision == "head" and current_revision(engine) == head_revision():
        return
    command.upgrade(alembic_config(engine), revision)


def migrated_engine(url: str) -> Engine:
    """An engine for the database at `url`, migrated to the newest revision."""
    engine = create_database_engine(url)
    upgrade(engine)
    return engine


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database back to `revision` (`base` removes every table)."""
    command.downgrade(alembic_config(engine), revision)


@functools.cache
def head_revision() -> str:
    """The newest migration shipped with this version of Utskick (read from disk once)."""
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    if head is None:
        raise RuntimeError("no migrations found")
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
