import os

import pytest
from fastapi.testclient import TestClient

from support.api import add_demo_senders, api_app, migrated_api_engine, new_api_key_headers


@pytest.fixture(scope="module")
def api_engine(tmp_path_factory):
    engine = migrated_api_engine(tmp_path_factory.mktemp("api") / "utskick.db")
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(api_engine, tmp_path_factory):
    return api_app(api_engine, tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def new_system(api_engine):
    """Create a sending system with a key; returns the headers that authenticate as it."""

    def create(sender_numbers=None, departments=None):
        if sender_numbers is None:
            return new_api_key_headers(api_engine, departments=departments)
        return new_api_key_headers(api_engine, sender_numbers, departments)

    return create


# --- the API on each database: refusals must leave nothing behind on SQLite and PostgreSQL --


def _postgres_api_engine():
    """A migrated PostgreSQL schema of its own, or a skip (a failure when CI requires it)."""
    import uuid

    from sqlalchemy import create_engine, text

    from utskick.db.engine import create_database_engine, normalise_url
    from utskick.migrations import migrate

    url = normalise_url(
        os.environ.get("UTSKICK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            schema = f"utskick_api_{uuid.uuid4().hex[:10]}"
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001
        admin.dispose()
        message = f"PostgreSQL is not reachable ({type(error).__name__})"
        if os.environ.get("UTSKICK_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    engine = create_database_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    migrate.upgrade(engine)

    def drop():
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, drop


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def storage_engine(request, tmp_path_factory):
    """A migrated database of each kind with the demo senders, for this module's API tests."""
    if request.param == "sqlite":
        engine = migrated_api_engine(tmp_path_factory.mktemp("api-sqlite") / "utskick.db")
        yield engine
        engine.dispose()
        return
    engine, drop = _postgres_api_engine()
    add_demo_senders(engine)
    yield engine
    drop()


@pytest.fixture(scope="module")
def storage_app(storage_engine, tmp_path_factory):
    return api_app(storage_engine, tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def storage_client(storage_app):
    return TestClient(storage_app, raise_server_exceptions=False)


@pytest.fixture
def stored(storage_engine):
    """Count the rows of every table a letter's life writes to."""
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from utskick.jobs.models import Job
    from utskick.letters.models import Batch, Letter, LetterAttachment, LetterEvent

    def count():
        with Session(storage_engine) as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model))
                for model in (Letter, LetterAttachment, LetterEvent, Job, Batch)
            }

    return count
