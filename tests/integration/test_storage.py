"""Migrations and repositories on SQLite and PostgreSQL (each test runs on both)."""

import datetime as dt

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from utskick.identity import InvalidIdentityError
from utskick.migrations import migrate
from utskick.senders.models import SenderOrganisation
from utskick.senders.repository import DuplicateSenderError, SenderRepository

NOW = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


class TestMigrations:
    def test_an_empty_database_migrates_to_head_and_back(self, empty_engine):
        assert migrate.current_revision(empty_engine) is None
        migrate.upgrade(empty_engine)
        assert migrate.current_revision(empty_engine) == migrate.head_revision()
        assert "sender_organisation" in inspect(empty_engine).get_table_names()
        migrate.downgrade(empty_engine, "base")
        assert "sender_organisation" not in inspect(empty_engine).get_table_names()

    def test_migrated_schema_matches_the_models(self, empty_engine):
        from alembic.autogenerate import compare_metadata
        from alembic.runtime.migration import MigrationContext

        from utskick.db.base import Base

        migrate.upgrade(empty_engine)
        with empty_engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
        assert differences == []

    def test_constraints_are_named_by_convention(self, empty_engine):
        migrate.upgrade(empty_engine)
        unique = inspect(empty_engine).get_unique_constraints("sender_organisation")
        assert [u["name"] for u in unique] == ["uq_sender_organisation_organisation_number"]


class TestSenderRepository:
    def test_a_sender_is_stored_and_found_by_organisation_number(self, db_session):
        repository = SenderRepository(db_session)
        repository.add(
            "202100-4748", "Exempelkommun", key_path="var/pki/exempelkommun.pem", now=NOW
        )
        found = repository.get("2021004748")
        assert found is not None
        assert found.name == "Exempelkommun"
        assert [s.organisation_number for s in repository.all()] == ["2021004748"]

    def test_the_same_organisation_cannot_be_added_twice(self, db_session):
        repository = SenderRepository(db_session)
        repository.add("202100-4748", "Exempelkommun", key_path=None, now=NOW)
        with pytest.raises(DuplicateSenderError, match="finns redan"):
            repository.add("2021004748", "Exempelkommun igen", key_path=None, now=NOW)

    def test_an_invalid_organisation_number_changes_nothing(self, db_session):
        repository = SenderRepository(db_session)
        with pytest.raises(InvalidIdentityError, match="kontrollsiffran"):
            repository.add("202100-4749", "Felkommun", key_path=None, now=NOW)
        assert repository.all() == []

    def test_the_database_itself_refuses_a_duplicate(self, db_session):
        db_session.add(
            SenderOrganisation(organisation_number="2021004748", name="A", created_at=NOW)
        )
        db_session.flush()
        db_session.add(
            SenderOrganisation(organisation_number="2021004748", name="B", created_at=NOW)
        )
        with pytest.raises(IntegrityError):
            db_session.flush()


def test_sqlite_connections_use_foreign_keys_and_wal(tmp_path):
    from utskick.db.engine import create_database_engine

    engine = create_database_engine(f"sqlite:///{tmp_path / 'pragmas.db'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
