"""The reference infrastructure running on real loopback sockets, for the reference tests.

One running set per test worker: free ports, a data folder of its own, the demo world seeded.
"""

import socket
import ssl

import httpx
import pytest

from utskick.reference.context import build_context
from utskick.reference.runner import ReferenceInfrastructure
from utskick.reference.settings import ReferenceSettings
from utskick.reference.world import EXEMPELKOMMUN, GRANNKOMMUN, NORD, SYD  # noqa: F401

PORT_SETTINGS = (
    "far_port",
    "population_port",
    "syd_service_port",
    "syd_ui_port",
    "nord_service_port",
    "nord_ui_port",
    "sink_page_port",
    "smtp_port",
)


def free_ports(count):
    """Ports the kernel says are free now (bound and released at once)."""
    sockets = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


@pytest.fixture(scope="session")
def reference_settings(tmp_path_factory):
    home = tmp_path_factory.mktemp("reference-home")
    ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True))
    return ReferenceSettings(home=home, **ports)


@pytest.fixture(scope="session")
def reference(reference_settings):
    """The running reference infrastructure (FaR, population register, Syd, Nord, sinks)."""
    context = build_context(reference_settings)
    infrastructure = ReferenceInfrastructure(context)
    infrastructure.start_in_thread()
    yield context
    infrastructure.stop()


@pytest.fixture(scope="session")
def mtls_client(reference):
    """A factory for HTTPS clients that present an organisation's demo certificate."""
    clients = []

    def make(organisation_number=EXEMPELKOMMUN, *, certificate=True):
        context = ssl.create_default_context(cafile=str(reference.pki.ca_certificate))
        if certificate:
            context.load_cert_chain(str(reference.pki.key_and_certificate(organisation_number)))
        client = httpx.Client(verify=context, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
