"""Probes of `utskick db backup` and `utskick db restore` as a careless operator runs them.

A backup file that is cut short (a copy that ran out of disk, a transfer broken off) must be
refused by `restore --yes` before anything in the database is touched: the operator who
restores onto a working database with --yes must never end with neither. And a backup file
is never written over, through a symbolic link or otherwise, and is readable by its owner
alone. Run on SQLite and PostgreSQL.
"""

from __future__ import annotations

import stat
import uuid
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from support.postgres import postgres_schema_url
from support.world import EXEMPELKOMMUN, sender_organisation
from utskick.db.engine import create_database_engine
from utskick.entrypoints.cli.db import db_app
from utskick.migrations import migrate
from utskick.senders.models import SenderOrganisation

pytestmark = pytest.mark.storage

# Bytes cut off the end of a good backup: the end of its last data block goes missing, which
# `pg_restore --list` (the table of contents, at the start) does not notice.
CUT_BYTES = 16


@contextmanager
def database_of(kind, home):
    """(URL, engine) of a migrated database of that kind, holding one sender organisation."""
    if kind == "sqlite":
        url = f"sqlite:///{home / 'utskick.db'}"
        engine = create_database_engine(url)
        migrate.upgrade(engine)
        _add_sender(engine)
        yield url, engine
        engine.dispose()
        return
    with postgres_schema_url(f"restore_probe_{uuid.uuid4().hex[:4]}") as url:
        engine = create_database_engine(url)
        migrate.upgrade(engine)
        _add_sender(engine)
        yield url, engine
        engine.dispose()


def _add_sender(engine):
    with Session(engine) as session, session.begin():
        session.add(sender_organisation(EXEMPELKOMMUN))


def senders_in(engine):
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(SenderOrganisation))


def db(url, home, *args):
    env = {"UTSKICK_HOME": str(home), "UTSKICK_DATABASE_URL": url}
    return CliRunner().invoke(db_app, list(args), env=env)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    home = tmp_path / "var"
    home.mkdir()
    with database_of(request.param, home) as (url, engine):
        yield url, engine, home


def test_a_backup_cut_short_is_refused_by_restore_yes_and_the_database_is_kept(database, tmp_path):
    url, engine, home = database
    backup = tmp_path / "utskick.backup"
    taken = db(url, home, "backup", "--out", str(backup))
    assert taken.exit_code == 0, taken.output
    cut = tmp_path / "avbruten.backup"
    cut.write_bytes(backup.read_bytes()[:-CUT_BYTES])

    restored = db(url, home, "restore", str(cut), "--yes")

    assert restored.exit_code != 0, restored.output
    engine.dispose()  # a new connection: what the service would see next
    assert senders_in(engine) == 1


def test_a_backup_is_only_its_owners_and_never_written_through_a_link(database, tmp_path):
    url, _, home = database
    backup = tmp_path / "utskick.backup"
    elsewhere = tmp_path / "någon-annans-fil"
    link = tmp_path / "länk.backup"
    link.symlink_to(elsewhere)

    taken = db(url, home, "backup", "--out", str(backup))
    through_link = db(url, home, "backup", "--out", str(link))

    assert taken.exit_code == 0, taken.output
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert through_link.exit_code == 2
    assert "finns redan" in through_link.output
    assert not elsewhere.exists()
