"""Engines for SQLite and PostgreSQL: a plain PostgreSQL URL gets the psycopg 3 driver, and a
SQLite file is private to its owner and opened with WAL, foreign keys and a busy timeout."""

import stat

import pytest
from sqlalchemy import text

from support.world import NOW
from utskick.db.engine import create_database_engine, normalise_url, session_factory, sqlite_file
from utskick.jobs.models import DependencyStatus


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        (
            "postgresql://u:hemligt@db.example/utskick",
            "postgresql+psycopg://u:hemligt@db.example/utskick",
        ),
        ("postgres://u@db.example:5433/utskick", "postgresql+psycopg://u@db.example:5433/utskick"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:////var/utskick/utskick.db", "sqlite:////var/utskick/utskick.db"),
    ],
)
def test_plain_postgresql_urls_get_the_psycopg_driver_and_keep_the_password(url, normalised):
    assert normalise_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:////var/utskick/utskick.db", "/var/utskick/utskick.db"),
        ("sqlite:///relativ.db", "relativ.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:delad?mode=memory&uri=true", None),
    ],
)
def test_the_file_of_a_sqlite_url(url, file):
    found = sqlite_file(url)
    assert (str(found) if found else None) == file


def test_a_sqlite_database_is_private_and_opened_with_wal_and_foreign_keys(tmp_path):
    path = tmp_path / "utskick.db"
    engine = create_database_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as connection:
            pragmas = {
                name: connection.execute(text(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            }
    finally:
        engine.dispose()

    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 10000}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_objects_stay_readable_after_the_unit_of_work_commits(tmp_path):
    engine = create_database_engine(f"sqlite:///{tmp_path / 'utskick.db'}")
    DependencyStatus.__table__.create(engine)
    try:
        with session_factory(engine)() as session, session.begin():
            row = DependencyStatus(name="far", status="ok", since=NOW, checked_at=NOW)
            session.add(row)

        # Detached and committed: an expired attribute could no longer be loaded.
        assert (row.name, row.status) == ("far", "ok")
    finally:
        engine.dispose()
