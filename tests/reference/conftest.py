"""The reference infrastructure running on real loopback sockets, for the reference tests.

One running set per test worker: free ports, a data folder of its own, the demo world seeded.
"""

import os
import uuid

import pytest
from sqlalchemy import create_engine, text

from support.world import EXEMPELKOMMUN, running_reference
from support.world import mtls_client as mtls_client_for
from utskick.reference.store import create_reference_engine, create_schema, sessions


@pytest.fixture(scope="session")
def reference(tmp_path_factory):
    """The running reference infrastructure (FaR, population register, Syd, Nord, sinks)."""
    with running_reference(tmp_path_factory.mktemp("reference-home")) as context:
        yield context


@pytest.fixture(scope="session")
def mtls_client(reference):
    """A factory for HTTPS clients that present an organisation's demo certificate."""
    clients = []

    def make(organisation_number=EXEMPELKOMMUN, *, certificate=True):
        client = mtls_client_for(reference, organisation_number, certificate=certificate)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# --- storage on SQLite and PostgreSQL ------------------------------------------------------


def _postgres_url_or_skip():
    url = os.environ.get("UTSKICK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        probe = create_engine(url)
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as error:  # noqa: BLE001
        message = f"PostgreSQL is not reachable at {url} ({type(error).__name__})"
        if os.environ.get("UTSKICK_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def reference_sessions(request, tmp_path):
    """Sessions on a fresh reference schema, on SQLite and on PostgreSQL (a schema per test)."""
    if request.param == "sqlite":
        engine = create_reference_engine(f"sqlite:///{tmp_path / 'reference.db'}")
        create_schema(engine)
        yield sessions(engine)
        engine.dispose()
        return
    url = _postgres_url_or_skip()
    schema = f"reference_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = create_reference_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    create_schema(engine)
    yield sessions(engine)
    engine.dispose()
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
