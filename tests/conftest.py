import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from support.world import EXEMPELKOMMUN, GRANNKOMMUN
from utskick.db.engine import create_database_engine, normalise_url
from utskick.migrations import migrate
from utskick.mm.devca import DevCertificateAuthority
from utskick.mm.keys import SigningIdentity

# Every run's logs are scanned for identity numbers, keys, passwords and letter content.
pytest_plugins = ["support.log_scan"]

SAMPLE = (
    Path(__file__).resolve().parents[2]
    / "shared/contracts/mina-meddelanden/samples/SealedDeliveryWithSignature.xml"
)
POSTGRES_URL = os.environ.get(
    "UTSKICK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("UTSKICK_TEST_REQUIRE_POSTGRES") == "1"


@pytest.fixture(scope="session")
def sample_bytes():
    if not SAMPLE.exists():
        pytest.fail(f"the real sample is missing: {SAMPLE} (shared/ must sit beside the repo)")
    return SAMPLE.read_bytes()


@pytest.fixture(scope="session")
def authority():
    return DevCertificateAuthority.create()


def _identity(issued):
    return SigningIdentity(issued.private_key, issued.certificate)


@pytest.fixture(scope="session")
def sender(authority):
    return _identity(authority.issue_organisation(EXEMPELKOMMUN, "Exempelkommun"))


@pytest.fixture(scope="session")
def intermediary(authority):
    return _identity(authority.issue_organisation(GRANNKOMMUN, "Grannkommun"))


@pytest.fixture(scope="session")
def today():
    return dt.datetime.now(dt.UTC).date()


# --- storage: every storage test runs on SQLite and on PostgreSQL --------------------------


def _postgres_or_skip():
    url = normalise_url(POSTGRES_URL)
    try:
        probe = create_engine(url)
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as error:  # noqa: BLE001
        message = (
            f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(error).__name__}); "
            "set UTSKICK_TEST_POSTGRES_URL to run the storage tests on PostgreSQL too"
        )
        if REQUIRE_POSTGRES:
            pytest.fail(message + " (UTSKICK_TEST_REQUIRE_POSTGRES=1: CI must run them)")
        pytest.skip(message)
    return url


def _new_postgres_schema(url):
    """A schema of our own per engine, so that parallel test workers never meet."""
    schema = f"utskick_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_database_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    return engine, admin, schema


def _drop_schema(admin, schema):
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request, tmp_path):
    """A fresh, unmigrated database of each kind."""
    if request.param == "sqlite":
        engine = create_database_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        engine.dispose()
        return
    engine, admin, schema = _new_postgres_schema(_postgres_or_skip())
    yield engine
    engine.dispose()
    _drop_schema(admin, schema)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def migrated_engine(request, tmp_path_factory):
    """One migrated database of each kind per test session (tests roll back their work)."""
    if request.param == "sqlite":
        engine = create_database_engine(f"sqlite:///{tmp_path_factory.mktemp('db') / 'utskick.db'}")
        migrate.upgrade(engine)
        yield engine
        engine.dispose()
        return
    engine, admin, schema = _new_postgres_schema(_postgres_or_skip())
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    _drop_schema(admin, schema)


@pytest.fixture
def db_session(migrated_engine):
    """A session whose work is rolled back after the test, even where the code commits."""
    connection = migrated_engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint")
    yield session
    session.close()
    transaction.rollback()
    connection.close()


# --- the browser: one headless Chromium per test worker, shared by every browser test -------

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("UTSKICK_TEST_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by playwright; one per process (playwright's sync API allows
    only one running instance per event loop, so every browser test shares it)."""
    if not CHROMIUM.exists():
        message = (
            f"headless Chromium is missing at {CHROMIUM}: install the distribution's chromium "
            "package (make browser) to run the browser tests"
        )
        if REQUIRE_BROWSER:
            pytest.fail(message + " (UTSKICK_TEST_REQUIRE_BROWSER=1)")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox"], headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(chromium):
    """Open pages, each in a browser context of its own (its own cookies: its own login)."""
    contexts = []

    def open_page():
        context = chromium.new_context(locale="sv-SE", viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()
