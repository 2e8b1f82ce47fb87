"""Start the whole reference infrastructure: FaR, population register, operators, sinks.

That is FaR, the population register, both mailbox operators (Service v3 and the citizen
mailbox), the SMTP sink and its page, and the diarium stand-in that registers sent letters.

`utskick serve` runs these servers in child processes (`start_in_processes`: each mailbox
operator in its own, the rest in one more), or with `UTSKICK_REFERENCE_SEPARATE_PROCESSES=
false` in its own event loop beside the connector; the tests run them on a background thread
(`start_in_thread`).
"""

from __future__ import annotations

import functools
import socket
from dataclasses import dataclass

import uvicorn

from utskick.reference.children import FAR_GROUP, ChildProcesses
from utskick.reference.context import ReferenceContext
from utskick.reference.diarium.series import DEMO_SERIES
from utskick.reference.diarium.service import create_diarium_app
from utskick.reference.far.service import create_far_app
from utskick.reference.mailbox.service import create_operator_service_app
from utskick.reference.mailbox.ui import create_mailbox_ui_app
from utskick.reference.population.service import create_population_app
from utskick.reference.settings import ReferenceSettings
from utskick.reference.sink import SmtpSink, create_sink_page_app
from utskick.reference.tls import ServerGroup, server_config
from utskick.reference.world import DEMO_WORLD


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


def server_groups(context: ReferenceContext) -> list[str]:
    """The names of the groups of servers: "far", then each operator's key."""
    return [FAR_GROUP, *(o.operator_key for o in context.world.operators if o.operator_key)]


def group_configs(context: ReferenceContext, group: str) -> list[uvicorn.Config]:
    """A uvicorn configuration for every web service of one group (`server_groups`)."""
    settings, tls = context.settings, context.pki.server_tls
    host = settings.host
    if group == FAR_GROUP:
        return [
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
    operator = context.operator(group)
    return [
        server_config(
            create_operator_service_app(context, operator),
            host,
            settings.service_port(group),
            tls,
        ),
        server_config(
            create_mailbox_ui_app(context, operator), host, settings.ui_port(group), None
        ),
    ]


def group_ports(settings: ReferenceSettings, group: str) -> list[int]:
    """The ports one group's web services listen on (the SMTP sink's not among them)."""
    if group == FAR_GROUP:
        return [
            settings.far_port,
            settings.population_port,
            settings.sink_page_port,
            settings.diarium_port,
        ]
    return [settings.service_port(group), settings.ui_port(group)]


def server_configs(context: ReferenceContext) -> list[uvicorn.Config]:
    """A uvicorn configuration for every reference web service."""
    return [config for group in server_groups(context) for config in group_configs(context, group)]


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
    """The reference services and the SMTP sink, started and stopped together.

    In threads of this process (`start_in_thread`, or `utskick serve`'s own event loop via
    `servers`), or in child processes (`start_in_processes`): each mailbox operator in its
    own, FaR with the population register, the sinks and the diarium in one more.
    """

    def __init__(self, context: ReferenceContext) -> None:
        self.context = context
        self.smtp_sink = SmtpSink(context) if context.settings.run_smtp_sink else None
        self._children: ChildProcesses | None = None

    @functools.cached_property
    def servers(self) -> ServerGroup:
        """Every reference server, to run in this process (built when first asked for)."""
        return ServerGroup(server_configs(self.context))

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

    def start_in_processes(self) -> None:
        """Start every server in child processes; returns when every server listens.

        One process per mailbox operator (its Service v3 and its citizen mailbox), and one
        for FaR, the population register, the sink page, the diarium and the SMTP sink.
        Each rebuilds its context from these settings over the data folder this context
        prepared. A child ends by itself when this process ends, however it ends.

        Raises:
            RuntimeError: (Swedish) a child ended while starting or did not listen in
                time; the children already started are stopped.
            ValueError: the context is not over the demo world (the children rebuild that).
        """
        if self.context.world is not DEMO_WORLD:
            raise ValueError("referensens processer bygger demovärlden; kör andra i tråd")
        settings = self.context.settings
        children = ChildProcesses(
            settings,
            {group: group_ports(settings, group) for group in server_groups(self.context)},
        )
        children.start()
        self._children = children

    def process_ids(self) -> dict[str, int]:
        """Each child process's id by its group ("far", "syd", "nord"); empty in threads."""
        return self._children.process_ids() if self._children is not None else {}

    def stop(self) -> None:
        """Stop every server and the sink, or the child processes (reaped)."""
        if self._children is not None:
            self._children.stop()
            self._children = None
        if "servers" in self.__dict__:
            self.servers.stop()
        self.stop_sink()
