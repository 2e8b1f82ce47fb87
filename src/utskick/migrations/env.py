"""Alembic environment: migrations run on the engine handed over in the config's attributes."""

from alembic import context
from sqlalchemy import Connection, Engine

from utskick.db.base import Base
from utskick.db.engine import create_database_engine
from utskick.desk.mailin import models as _mail_in  # noqa: F401
from utskick.intake import models as _intake_files  # noqa: F401
from utskick.jobs import models as _worker  # noqa: F401
from utskick.letters import models as _letters  # noqa: F401
from utskick.printing import models as _printing  # noqa: F401
from utskick.records import models as _records  # noqa: F401
from utskick.senders import models as _intake  # noqa: F401 (registers the tables)
from utskick.senders import models as _senders  # noqa: F401
from utskick.settings import load_settings
from utskick.web import access_log as _access_log  # noqa: F401
from utskick.web import users as _web_users  # noqa: F401

config = context.config
engine: Engine = config.attributes.get("engine") or create_database_engine(
    load_settings().resolved_database_url()
)


def _foreign_keys_off(connection: Connection) -> None:
    """On SQLite, let batch mode copy a table without its dependants being deleted.

    Batch mode rebuilds a table (new table, copy, drop the old, rename); with foreign keys
    on, dropping the old table deletes every row that refers to it with ON DELETE CASCADE
    (a letter's events, attachments and print items). The pragma only takes effect outside a
    transaction, so it is set before the migrations begin.
    """
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")


def _foreign_keys_on(connection: Connection) -> None:
    """Turn foreign keys on again (the connection goes back to the pool) and check them."""
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    connection.exec_driver_sql("PRAGMA foreign_keys=ON")
    if broken:
        msg = f"the migration left rows that refer to nothing: {broken[:5]}"
        raise RuntimeError(msg)


# The class of the PostgreSQL advisory lock that migrations take ("migr" in ASCII); the other
# key is a hash of the schema, so that installations sharing a database in schemas of their
# own do not wait for each other.
MIGRATION_LOCK_CLASS = 0x6D696772


def _take_migration_lock(connection: Connection) -> None:
    """Let one process migrate at a time; the others then find the database migrated.

    Taken at the start of the migrations' transaction, before Alembic reads the version, and
    held until it ends: on PostgreSQL a transaction-level advisory lock, on SQLite the
    database's write lock (`BEGIN IMMEDIATE`, waiting up to the busy timeout).
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(
            "SELECT pg_advisory_xact_lock(%(lock_class)s, hashtext(current_schema()))",
            {"lock_class": MIGRATION_LOCK_CLASS},
        )
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


with engine.connect() as connection:
    _foreign_keys_off(connection)
    try:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            # SQLite cannot ALTER most things; batch mode copies the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            _take_migration_lock(connection)
            context.run_migrations()
        connection.commit()
    finally:
        _foreign_keys_on(connection)
