"""`utskick db`: the database's schema, backups and restores."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from utskick.db.backup import back_up, restore
from utskick.db.backup_files import BackupError, BackupReport, RestoreReport
from utskick.db.engine import create_database_engine
from utskick.db.home import prepare_home
from utskick.entrypoints.cli.common import fail
from utskick.settings import load_settings

db_app = typer.Typer(
    help="Databasen: migrera till senaste versionen, säkerhetskopiera och återställ.",
    no_args_is_help=True,
)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Installationens mapp (standard UTSKICK_HOME eller ./var).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Svara med ett JSON-objekt.")]

# How a restored database's revision stands to this version's newest migration.
AT_HEAD = "head"
OLDER = "older"
NEWER = "newer"
_MEGABYTE = 1_000_000


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


@db_app.command(
    "backup",
    help="Säkerhetskopiera databasen medan tjänsten kör: SQLite med SQLites backup-API, "
    "PostgreSQL med pg_dump (custom-format). Filen skapas med läsrätt bara för ägaren, skrivs "
    "aldrig över och kontrolleras innan kommandot svarar.",
)
def db_backup(
    out: Annotated[
        Path, typer.Option("--out", help="Ny fil att skriva säkerhetskopian till.", dir_okay=False)
    ],
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Back up the installation's database, while it runs, into a new file; check the copy."""
    settings = load_settings(home=home)
    try:
        report = back_up(settings.resolved_database_url(), out)
    except BackupError as error:
        raise fail(str(error)) from None
    if as_json:
        print(json.dumps(_backup_fields(report), ensure_ascii=False))
        return
    where = f", schemat {report.schema}" if report.schema else ""
    Console().print(
        f"Säkerhetskopian är skriven och kontrollerad: {escape(str(report.file))} "
        f"({_size(report.size_bytes)}, {_kind_name(report.database)}{where}, "
        f"migreringsversion {report.revision}) på {_seconds(report.seconds)}.",
        highlight=False,
    )


@db_app.command(
    "restore",
    help="Återställ en säkerhetskopia från utskick db backup till databasen (UTSKICK_DATABASE_URL, "
    "eller SQLite i UTSKICK_HOME). Databasen ska vara tom; --yes ersätter det den innehåller. "
    "Stoppa tjänsterna först.",
)
def db_restore(
    backup: Annotated[
        Path,
        typer.Argument(help="Säkerhetskopian.", exists=True, dir_okay=False, show_default=False),
    ],
    yes: Annotated[
        bool,
        typer.Option("--yes", help="Ersätt innehållet om databasen inte är tom."),
    ] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore a backup into the configured database; say whether it needs `db upgrade`."""
    settings = load_settings(home=home)
    if settings.database_url is None:
        prepare_home(settings)
    try:
        report = restore(settings.resolved_database_url(), backup, replace=yes)
    except BackupError as error:
        raise fail(str(error)) from None
    standing = revision_standing(report.revision)
    if as_json:
        print(json.dumps(_restore_fields(report, standing), ensure_ascii=False))
        return
    console = Console()
    replaced = " (det tidigare innehållet är ersatt)" if report.replaced else ""
    console.print(
        f"Säkerhetskopian {escape(str(report.file))} är återställd{replaced} på "
        f"{_seconds(report.seconds)}; databasen klarade kontrollen och är på migreringsversion "
        f"{report.revision}.",
        highlight=False,
    )
    console.print(_next_step(standing), highlight=False)


def revision_standing(revision: str | None) -> str:
    """`head`, `older` (a migration this version knows, not the newest) or `newer` (unknown)."""
    from alembic.script import ScriptDirectory  # noqa: PLC0415 (alembic: only for restores)

    from utskick.migrations import migrate  # noqa: PLC0415

    if revision == migrate.head_revision():
        return AT_HEAD
    known = {
        script.revision for script in ScriptDirectory(str(migrate.MIGRATIONS)).walk_revisions()
    }
    return OLDER if revision in known else NEWER


def _next_step(standing: str) -> str:
    from utskick.migrations import migrate  # noqa: PLC0415 (alembic)

    if standing == AT_HEAD:
        return "Det är den version som den här Utskick förväntar sig: starta tjänsterna."
    if standing == OLDER:
        return (
            f"Den är äldre än den här versionen av Utskick ({migrate.head_revision()}): kör "
            "utskick db upgrade innan tjänsterna startas."
        )
    return (
        "Den kommer från en nyare version av Utskick än den här (som känner till "
        f"{migrate.head_revision()} som senaste): installera samma eller en nyare version av "
        "Utskick innan tjänsterna startas."
    )


def _backup_fields(report: BackupReport) -> dict[str, object]:
    return {
        "database": report.database,
        "file": str(report.file.resolve()),
        "bytes": report.size_bytes,
        "revision": report.revision,
        "schema": report.schema,
        "check": "ok",
        "seconds": round(report.seconds, 3),
    }


def _restore_fields(report: RestoreReport, standing: str) -> dict[str, object]:
    return {
        "database": report.database,
        "file": str(report.file.resolve()),
        "revision": report.revision,
        "schema": report.schema,
        "replaced": report.replaced,
        "check": "ok",
        "standing": standing,
        "next_step": "utskick db upgrade" if standing == OLDER else None,
        "seconds": round(report.seconds, 3),
    }


def _kind_name(kind: str) -> str:
    return {"sqlite": "SQLite", "postgresql": "PostgreSQL"}.get(kind, kind)


def _size(size_bytes: int) -> str:
    """A size as people read it, with a decimal comma (1,2 MB)."""
    if size_bytes < _MEGABYTE:
        return f"{max(1, round(size_bytes / 1000))} kB"
    return f"{size_bytes / _MEGABYTE:.1f} MB".replace(".", ",")


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f} s".replace(".", ",")
