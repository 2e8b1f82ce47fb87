"""Taking print files commits (a chunk per transaction), so its tests get databases of their
own, SQLite and PostgreSQL, with the demo senders; each test its own sending system."""

import os
import uuid

import pytest
from sqlalchemy import create_engine, func, select, text

from support.api import add_demo_senders
from support.world import EXEMPELKOMMUN, NOW
from utskick.db.engine import create_database_engine, normalise_url, session_factory
from utskick.intake.sources import RecipientRule, Source
from utskick.letters.models import Batch, Letter, LetterAttachment
from utskick.migrations import migrate
from utskick.senders.systems import create_sending_system
from utskick.settings import Settings

POSTGRES_URL = os.environ.get(
    "UTSKICK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_engine():
    url = normalise_url(POSTGRES_URL)
    admin = create_engine(url)
    schema = f"utskick_printfile_{uuid.uuid4().hex[:10]}"
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as error:  # noqa: BLE001
        admin.dispose()
        message = f"PostgreSQL is not reachable ({type(error).__name__})"
        if os.environ.get("UTSKICK_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    engine = create_database_engine(url, connect_args={"options": f"-csearch_path={schema}"})

    def drop():
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return engine, drop


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(request, tmp_path_factory):
    if request.param == "sqlite":
        engine = create_database_engine(
            f"sqlite:///{tmp_path_factory.mktemp('printfile') / 'utskick.db'}"
        )
        drop = engine.dispose
    else:
        engine, drop = _postgres_engine()
    migrate.upgrade(engine)
    add_demo_senders(engine)
    yield engine
    drop()


@pytest.fixture
def sessions(engine):
    return session_factory(engine)


@pytest.fixture
def settings(tmp_path):
    return Settings(home=tmp_path, embedded_reference=False)


@pytest.fixture
def system(sessions):
    """A sending system of this test's own, for Exempelkommun."""
    with sessions() as session:
        created = create_sending_system(
            session, name=f"Ekonomi-{uuid.uuid4().hex[:8]}", sender_numbers=[EXEMPELKOMMUN], now=NOW
        )
        session.commit()
        session.refresh(created)
        session.expunge(created)
    return created


@pytest.fixture
def source_for(system):
    """A source of this test's system with the rule and defaults given."""

    def make(rule="anchor", **fields):
        values = {
            "name": "ekonomisystem",
            "system": system.name,
            "subject": "Faktura från Exempelkommun",
            "message_type": "beslut",
            "recipient": RecipientRule(rule=rule, **fields.pop("rule_fields", {})),
        }
        values.update(fields)
        return Source(**values)

    return make


@pytest.fixture
def stored(sessions, system):
    """What the test's system has stored: letters, their attachments and batches."""

    def count():
        with sessions() as session:
            letters = select(Letter.id).where(Letter.sending_system_id == system.id)
            return {
                "letters": session.scalar(select(func.count()).select_from(letters.subquery())),
                "attachments": session.scalar(
                    select(func.count(LetterAttachment.id)).where(
                        LetterAttachment.letter_id.in_(letters)
                    )
                ),
                "batches": session.scalar(
                    select(func.count(Batch.id)).where(Batch.sending_system_id == system.id)
                ),
            }

    return count
