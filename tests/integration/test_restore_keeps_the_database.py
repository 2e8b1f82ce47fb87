"""`utskick db restore --yes` replaces a database whole or not at all (SQLite, PostgreSQL).

A backup cut short is refused before anything is touched: its every block is read first.
On PostgreSQL the drop of the old contents and the restore are also one transaction, so a
restore that fails half-way, whatever the reason, leaves the old contents as they were; the
tests that show it switch the read-through off, so that the restore itself meets the damage.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from support.postgres import postgres_schema_url
from support.world import EXEMPELKOMMUN, GRANNKOMMUN, NOW, sender_organisation
from utskick.db import backup_postgres
from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli.db import db_app
from utskick.migrations import migrate
from utskick.senders.models import SenderOrganisation

pytestmark = pytest.mark.storage

# Enough rows of text that does not compress away: the data blocks, not the table of
# contents at the start, make up most of the file, so a cut in the middle falls in them.
FILLER_SENDERS = 3000


@contextmanager
def database_of(kind, home):
    """(URL, engine) of a migrated database of that kind with Exempelkommun and filler."""
    if kind == "sqlite":
        url = f"sqlite:///{home / 'utskick.db'}"
        engine = create_database_engine(url)
        _fill(engine)
        yield url, engine
        engine.dispose()
        return
    with postgres_schema_url(f"restore_whole_{uuid.uuid4().hex[:4]}") as url:
        engine = create_database_engine(url)
        _fill(engine)
        yield url, engine
        engine.dispose()


def _fill(engine):
    migrate.upgrade(engine)
    with Session(engine) as session, session.begin():
        session.add(sender_organisation(EXEMPELKOMMUN))
        session.add_all(
            SenderOrganisation(
                organisation_number=f"{number:010d}",
                name=f"Fyllnad {number}",
                support_text=secrets.token_hex(200),
                created_at=NOW,
            )
            for number in range(1, FILLER_SENDERS + 1)
        )


def senders_in(engine):
    """The organisation numbers of the senders, as a new connection sees them."""
    engine.dispose()
    with Session(engine) as session:
        return set(session.scalars(select(SenderOrganisation.organisation_number)))


def db(url, home, *args):
    env = {"UTSKICK_HOME": str(home), "UTSKICK_DATABASE_URL": url}
    return CliRunner().invoke(db_app, list(args), env=env)


def backup_of(url, home, tmp_path):
    backup = tmp_path / "utskick.backup"
    taken = db(url, home, "backup", "--out", str(backup))
    assert taken.exit_code == 0, taken.output
    return backup


def cut_in_the_middle(backup, tmp_path):
    """The first half of the backup, checked to pass PostgreSQL's table-of-contents check."""
    cut = tmp_path / "halv.backup"
    cut.write_bytes(backup.read_bytes()[: backup.stat().st_size // 2])
    return cut


def add_grannkommun(engine):
    """A change made after the backup: what a restore that went through would remove."""
    with Session(engine) as session, session.begin():
        session.add(sender_organisation(GRANNKOMMUN))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    home = tmp_path / "var"
    home.mkdir()
    with database_of(request.param, home) as (url, engine):
        yield request.param, url, engine, home


@pytest.fixture
def postgres(tmp_path):
    home = tmp_path / "var"
    home.mkdir()
    with database_of("postgresql", home) as (url, engine):
        yield url, engine, home


def test_a_backup_cut_in_the_middle_is_refused_and_the_database_kept(database, tmp_path):
    kind, url, engine, home = database
    backup = backup_of(url, home, tmp_path)
    add_grannkommun(engine)
    before = senders_in(engine)
    cut = cut_in_the_middle(backup, tmp_path)
    if kind == "postgresql":  # the cut must get past the check the old restore relied on
        listed = subprocess.run(
            ["pg_restore", "--list", str(cut)], capture_output=True, check=False
        )
        assert listed.returncode == 0, listed.stderr

    restored = db(url, home, "restore", str(cut), "--yes")

    assert restored.exit_code == 2, restored.output
    assert "Traceback" not in restored.output
    assert senders_in(engine) == before
    assert GRANNKOMMUN in before


@pytest.mark.parametrize("cut", ["end", "middle"])
def test_a_restore_that_fails_half_way_is_rolled_back_whole(postgres, tmp_path, monkeypatch, cut):
    url, engine, home = postgres
    backup = backup_of(url, home, tmp_path)
    add_grannkommun(engine)
    before = senders_in(engine)
    damaged = tmp_path / "skadad.backup"
    if cut == "end":
        damaged.write_bytes(backup.read_bytes()[:-16])
    else:
        damaged = cut_in_the_middle(backup, tmp_path)
    # Switched off, so that pg_restore meets the damage during the restore itself, after the
    # old tables were dropped and new ones made in the same transaction.
    monkeypatch.setattr(backup_postgres, "_read_through", lambda *_: None)

    restored = db(url, home, "restore", str(damaged), "--yes")

    assert restored.exit_code == 2, restored.output
    assert "rullades tillbaka" in " ".join(restored.output.split())
    assert senders_in(engine) == before


def test_a_pg_restore_that_dies_between_two_statements_commits_nothing(
    postgres, tmp_path, monkeypatch
):
    # pg_restore killed (out of memory, a signal) right after a whole statement: psql has
    # run the drops and made every table anew, and its input ends cleanly. Nothing must be
    # committed, however clean the end looks.
    url, engine, home = postgres
    backup = backup_of(url, home, tmp_path)
    add_grannkommun(engine)
    before = senders_in(engine)
    real = shutil.which("pg_restore")
    dying = tmp_path / "pg_restore"
    dying.write_text(
        "#!/bin/sh\n"
        'case " $* " in\n'
        f'  *" --file=- "*) {real} --section=pre-data "$@"; echo avbruten >&2; exit 1 ;;\n'
        f'  *) exec {real} "$@" ;;\n'
        "esac\n"
    )
    dying.chmod(0o700)
    programs = {"pg_restore": str(dying), "psql": shutil.which("psql")}
    monkeypatch.setattr(backup_postgres, "_program", programs.__getitem__)

    restored = db(url, home, "restore", str(backup), "--yes")

    assert restored.exit_code == 2, restored.output
    assert "avbruten" in restored.output
    assert senders_in(engine) == before


def test_a_restore_waiting_for_a_running_service_gives_up_and_keeps_the_database(
    postgres, tmp_path, monkeypatch
):
    url, engine, home = postgres
    backup = backup_of(url, home, tmp_path)
    add_grannkommun(engine)
    before = senders_in(engine)
    monkeypatch.setattr(backup_postgres, "_LOCK_TIMEOUT_SECONDS", 1)

    with Session(engine) as service:  # a service in the middle of reading its senders
        service.execute(select(func.count()).select_from(SenderOrganisation))
        restored = db(url, home, "restore", str(backup), "--yes")
        service.rollback()

    assert restored.exit_code == 2, restored.output
    assert "lock timeout" in " ".join(restored.output.split())
    assert "rullades tillbaka" in " ".join(restored.output.split())
    assert senders_in(engine) == before


def test_a_whole_backup_replaces_what_the_database_holds(postgres, tmp_path):
    url, engine, home = postgres
    backup = backup_of(url, home, tmp_path)
    before_backup = senders_in(engine)
    add_grannkommun(engine)

    restored = db(url, home, "restore", str(backup), "--yes", "--json")

    assert restored.exit_code == 0, restored.output
    assert '"replaced": true' in restored.output
    assert senders_in(engine) == before_backup
    assert GRANNKOMMUN not in before_backup
