"""The mailbox operators under test: a reference context of their own, Syd's and Nord's
Service v3 on real HTTPS sockets with mutual TLS, the SMTP sink, and letters signed with the
demo PKI.

A third server runs Brevlåda Syd with its clock on 2020-06-01, inside the validity of the real
sample's certificate, which is registered in FaR for Exempelkommun (2021004748), the sample's
sender and sealer.
"""

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select

from support.world import EXEMPELKOMMUN, NORD, SYD, mtls_client, reference_settings
from utskick.reference.context import build_context
from utskick.reference.mailbox.service import create_operator_service_app
from utskick.reference.mailbox.storage import MessageStore
from utskick.reference.runner import free_loopback_ports as free_ports
from utskick.reference.sink import SmtpSink
from utskick.reference.store import (
    MailboxDelivery,
    MailboxMessage,
)
from utskick.reference.tls import ServerGroup, server_config

from .wire import SAMPLE_TIME, Letters, sample_certificate


@pytest.fixture(scope="session")
def mailbox_context(tmp_path_factory, sample_bytes):
    """A reference context of these tests' own; the sample's certificate registered in FaR."""
    context = build_context(reference_settings(tmp_path_factory.mktemp("mailbox-home")))
    context.registry.add_certificate(EXEMPELKOMMUN, sample_certificate(sample_bytes))
    return context


@dataclass(frozen=True)
class ServiceUrls:
    syd: str
    nord: str
    syd_in_2020: str  # Brevlåda Syd with its clock inside the sample certificate's validity


@pytest.fixture(scope="session")
def smtp_sink(mailbox_context):
    """The local SMTP server the notices go to; it keeps every mail in `sink_mail`."""
    sink = SmtpSink(mailbox_context)
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def services(mailbox_context, smtp_sink):
    """Syd, Nord and Syd-in-2020 listening over HTTPS with mutual TLS; the SMTP sink."""
    context = mailbox_context
    settings, tls = context.settings, context.pki.server_tls
    syd, nord = context.operator("syd"), context.operator("nord")
    (port_2020,) = free_ports(1)
    # The digest loops would race the notice tests, which run the digests themselves.
    quiet = {"digest_interval_seconds": 3600}
    apps = [
        (create_operator_service_app(context, syd, **quiet), settings.syd_service_port),
        (create_operator_service_app(context, nord, **quiet), settings.nord_service_port),
        (create_operator_service_app(context, syd, clock=lambda: SAMPLE_TIME, **quiet), port_2020),
    ]
    group = ServerGroup([server_config(app, settings.host, port, tls) for app, port in apps])
    group.start_in_thread()
    yield ServiceUrls(
        syd=context.endpoints.operators["syd"].service_url,
        nord=context.endpoints.operators["nord"].service_url,
        syd_in_2020=f"https://{settings.host}:{port_2020}/service/v3",
    )
    group.stop()


@pytest.fixture(scope="session")
def client(mailbox_context, tmp_path_factory):
    """HTTPS clients presenting an organisation's certificate (or a PEM bundle, or none)."""
    made = []

    def make(organisation=EXEMPELKOMMUN, *, certificate=True, bundle=None):
        http = mtls_client(mailbox_context, organisation, certificate=certificate, bundle=bundle)
        made.append(http)
        return http

    yield make
    for http in made:
        http.close()


@pytest.fixture(scope="session")
def letters(mailbox_context, tmp_path_factory):
    return Letters(mailbox_context, tmp_path_factory)


@pytest.fixture(scope="session")
def syd_store(mailbox_context):
    return MessageStore(mailbox_context.sessions, SYD, mailbox_context.storage_keys["syd"])


@pytest.fixture(scope="session")
def nord_store(mailbox_context):
    return MessageStore(mailbox_context.sessions, NORD, mailbox_context.storage_keys["nord"])


@pytest.fixture
def stored_rows(mailbox_context):
    """How many deliveries and inbox rows the database holds now (a test compares)."""

    def count():
        with mailbox_context.sessions() as session:
            return (
                session.scalar(select(func.count(MailboxDelivery.id))),
                session.scalar(select(func.count(MailboxMessage.id))),
            )

    return count
