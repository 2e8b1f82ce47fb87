"""Helpers of the REST API tests: the demo senders, a small PDF, and the web app with the
test world's fake precheck and an in-memory population register."""

import base64

from support.world import EVA, EXEMPELKOMMUN, GRANNKOMMUN, NOW, FakePrecheck
from utskick.entrypoints.benchmarks.signing import minimal_pdf
from utskick.printing.addresses import FixedAddressSource, RegisterEntry

PDF = minimal_pdf(1000)
PDF_BASE64 = base64.b64encode(PDF).decode()


def letter_json(**changes):
    body = {
        "sender": "202100-4748",
        "recipient": "19121212-1212",
        "subject": "Beslut om bygglov",
        "body": "Hej! Här kommer beslutet.",
        "protection_class": 2,
    }
    body.update(changes)
    return body


def migrated_api_engine(path):
    """A migrated SQLite database at `path` of its own (the API commits), with two senders."""
    from utskick.db.engine import create_database_engine
    from utskick.migrations import migrate

    engine = create_database_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    add_demo_senders(engine)
    return engine


def add_demo_senders(engine):
    """The two sender organisations and the message type the API tests send with."""
    from sqlalchemy.orm import Session

    from utskick.letters.models import MessageType
    from utskick.senders.models import SenderOrganisation

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


def api_app(engine, home):
    """The web app on that database, with the fake precheck in place of FaR and an in-memory
    population register in which Eva has a protected identity."""
    from utskick.entrypoints.app import create_app
    from utskick.settings import Settings

    app = create_app(Settings(home=home), engine)
    app.state.adapters.precheck = FakePrecheck()
    app.state.adapters.address_source = FixedAddressSource(
        {EVA: RegisterEntry(EVA, found=True, protected=True)}
    )
    return app


def new_api_key_headers(engine, sender_numbers=(EXEMPELKOMMUN,), departments=None):
    """Create a sending system with a key; returns the headers that authenticate as it."""
    import uuid

    from sqlalchemy.orm import Session

    from utskick.senders.systems import create_sending_system, issue_api_key

    with Session(engine) as session:
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
