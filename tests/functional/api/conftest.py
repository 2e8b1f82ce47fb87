import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from support.api import EXEMPELKOMMUN, GRANNKOMMUN, NOW, FakePrecheck
from utskick.db import migrate
from utskick.db.engine import create_database_engine
from utskick.intake.systems import create_sending_system, issue_api_key
from utskick.letters.models import MessageType
from utskick.senders.models import SenderOrganisation
from utskick.settings import Settings
from utskick.web.app import create_app


@pytest.fixture(scope="module")
def api_engine(tmp_path_factory):
    """A migrated SQLite database of its own (the API commits), with two senders."""
    engine = create_database_engine(f"sqlite:///{tmp_path_factory.mktemp('api') / 'utskick.db'}")
    migrate.upgrade(engine)
    with Session(engine) as session:
        for number, name in ((EXEMPELKOMMUN, "Exempelkommun"), (GRANNKOMMUN, "Grannkommun")):
            session.add(
                SenderOrganisation(
                    organisation_number=number,
                    name=name,
                    intermediary=number == EXEMPELKOMMUN,
                    support_text=f"Frågor? Kontakta {name}.",
                    created_at=NOW,
                )
            )
        session.add(MessageType(code="beslut", name="Beslut", protection_class=2))
        session.commit()
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(api_engine, tmp_path_factory):
    app = create_app(Settings(home=tmp_path_factory.mktemp("home")), api_engine)
    app.state.precheck = FakePrecheck()
    return app


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app)


@pytest.fixture(scope="module")
def new_system(api_engine):
    """Create a sending system with a key; returns the headers that authenticate as it."""

    def create(sender_numbers=(EXEMPELKOMMUN,), departments=None):
        with Session(api_engine) as session:
            system = create_sending_system(
                session,
                name=f"system-{uuid.uuid4().hex[:8]}",
                sender_numbers=list(sender_numbers),
                departments=departments,
                now=NOW,
            )
            issued = issue_api_key(session, system, now=NOW)
            session.commit()
        return {"Authorization": f"Bearer {issued.clear_key}"}

    return create
