"""`utskick db`: the database's schema."""

from __future__ import annotations

import typer
from rich.console import Console

from utskick.db.engine import create_database_engine
from utskick.db.home import prepare_home
from utskick.settings import load_settings

db_app = typer.Typer(help="Databasen: migrera till senaste versionen.", no_args_is_help=True)


@db_app.command(
    "upgrade",
    help="Migrera databasen (UTSKICK_DATABASE_URL, eller SQLite i UTSKICK_HOME) till senaste "
    "versionen.",
)
def db_upgrade() -> None:
    """Migrate the database (UTSKICK_DATABASE_URL, or SQLite in UTSKICK_HOME) to the newest one."""
    from utskick.migrations import migrate  # noqa: PLC0415 (alembic: +0.11 s on every run)

    settings = load_settings()
    prepare_home(settings)
    engine = create_database_engine(settings.resolved_database_url())
    migrate.upgrade(engine)
    Console().print(f"Databasen är på version {migrate.current_revision(engine)}.")
