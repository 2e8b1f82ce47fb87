"""Start the whole reference infrastructure: FaR, population register, operators, sinks.

That is FaR, the population register, both mailbox operators (Service v3 and the citizen
mailbox), the SMTP sink and its page, and the diarium stand-in that registers sent letters.

`utskick serve` runs these servers in its own event loop beside the connector; the tests run
them on a background thread (`ServerGroup.running`).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

import uvicorn

from utskick.reference.context import ReferenceContext
from utskick.reference.diarium.series import DEMO_SERIES
from utskick.reference.diarium.service import create_diarium_app
from utskick.reference.far.service import create_far_app
from utskick.reference.mailbox.service import create_operator_service_app
from utskick.reference.mailbox.ui import create_mailbox_ui_app
from utskick.reference.population.service import create_population_app
from utskick.reference.sink import SmtpSink, create_sink_page_app
from utskick.reference.tls import ServerGroup, server_config


def free_loopback_ports(count: int) -> list[int]:
    """Ports the kernel says are free on loopback now (all bound at once, then released).

    For tests and benchmarks that run the reference on ports of their own.
    """
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Listing:
    """One URL to print, with what it is (Swedish, for the person starting the demo)."""

    what: str
    url: str


def server_configs(context: ReferenceContext) -> list[uvicorn.Config]:
    """A uvicorn configuration for every reference web service."""
    settings, tls = context.settings, context.pki.server_tls
    host = settings.host
    configs = [
        server_config(create_far_app(context), host, settings.far_port, tls),
        server_config(create_population_app(context), host, settings.population_port, tls),
        server_config(create_sink_page_app(context), host, settings.sink_page_port, None),
        # Plain HTTP on loopback: every call is signed with the shared key instead.
        server_config(
            create_diarium_app(settings.diarium_key(), DEMO_SERIES, settings.home / "diarium"),
            host,
            settings.diarium_port,
            None,
        ),
    ]
    for operator in context.world.operators:
        key = operator.operator_key or ""
        configs.append(
            server_config(
                create_operator_service_app(context, operator),
                host,
                settings.service_port(key),
                tls,
            )
        )
        configs.append(
            server_config(
                create_mailbox_ui_app(context, operator), host, settings.ui_port(key), None
            )
        )
    return configs


def listings(context: ReferenceContext) -> list[Listing]:
    """Every URL of the reference infrastructure with a Swedish description."""
    endpoints = context.endpoints
    result = [
        Listing("FaR (SOAP, ömsesidig TLS)", endpoints.far_url),
        Listing("Folkbokföringen, testversion (ömsesidig TLS)", endpoints.population_url),
    ]
    for operator in context.world.operators:
        operator_endpoints = endpoints.operators[operator.operator_key or ""]
        result.append(
            Listing(f"{operator.name}: Service v3 (ömsesidig TLS)", operator_endpoints.service_url)
        )
        result.append(
            Listing(f"{operator.name}: brevlådan för invånare", operator_endpoints.ui_url)
        )
    result.append(Listing("Avisering: e-post och sms som skickats", endpoints.sink_page_url))
    result.append(Listing("Diariet (exempel)", endpoints.diarium_page_url))
    return result


class ReferenceInfrastructure:
    """The reference services and the SMTP sink, started and stopped together."""

    def __init__(self, context: ReferenceContext) -> None:
        self.context = context
        self.servers = ServerGroup(server_configs(context))
        self.smtp_sink = SmtpSink(context) if context.settings.run_smtp_sink else None

    def start_sink(self) -> None:
        """Start the SMTP sink (its own thread) if this run has one."""
        if self.smtp_sink is not None:
            self.smtp_sink.start()

    def stop_sink(self) -> None:
        """Stop the SMTP sink."""
        if self.smtp_sink is not None:
            self.smtp_sink.stop()

    def start_in_thread(self) -> None:
        """Start everything on background threads; returns when every server listens."""
        self.start_sink()
        self.servers.start_in_thread()

    def stop(self) -> None:
        """Stop every server and the sink."""
        self.servers.stop()
        self.stop_sink()
