"""A running reference infrastructure and a connector pointed at it (one per test worker)."""

import pytest
from sqlalchemy import text

from support.connector_world import (
    connector_settings,
    prepare_connector,
)
from support.jdk_verifier import jdk_verifier_or_skip
from support.world import (
    EXEMPELKOMMUN,
    SYD,
    start_reference,
)
from utskick.reference.mailbox.storage import MessageStore
from utskick.relay.operator import HttpMailboxOperatorClient
from utskick.senders.keys import client_tls_context
from utskick.senders.models import SenderOrganisation


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    """(reference context, connector settings, engine, sending system id)."""
    context, infrastructure = start_reference(
        tmp_path_factory.mktemp("reference"), run_smtp_sink=False
    )
    home = tmp_path_factory.mktemp("connector")
    settings = connector_settings(
        home,
        context,
        retry_base_seconds=0.01,
        retry_max_seconds=0.02,
        operator_read_timeout_seconds=10,
    )
    engine, system_id = prepare_connector(settings, context)
    yield context, settings, engine, system_id
    engine.dispose()
    infrastructure.stop()


@pytest.fixture
def clean_jobs(world):
    """No jobs left over from another test (letters stay: each test makes its own)."""
    _, _, engine, _ = world
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))
    yield
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM job"))


@pytest.fixture(scope="module")
def http_client(world):
    """The relay's real HTTPS client, with Exempelkommun's certificate (mutual TLS)."""
    context, settings, _, _ = world
    intermediary = SenderOrganisation(
        organisation_number=EXEMPELKOMMUN,
        name="Exempelkommun",
        key_path=str(context.pki.key_and_certificate(EXEMPELKOMMUN)),
    )
    client = HttpMailboxOperatorClient(client_tls_context(intermediary, settings.tls_ca_file))
    yield client
    client.close()


@pytest.fixture(scope="module")
def syd_inbox(world):
    """Brevlåda Syd's message store, to see what reached a mailbox."""
    context, _, _, _ = world
    return MessageStore(context.sessions, SYD, context.storage_keys["syd"])


@pytest.fixture(scope="module")
def jdk(tmp_path_factory):
    """The JDK's XML-signature verifier (skipped without java, a failure in CI)."""
    return jdk_verifier_or_skip(tmp_path_factory.mktemp("jdk-verifier"))
