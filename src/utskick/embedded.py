"""The embedded default: the connector and the reference infrastructure in one process.

`utskick serve` starts the reference services first (FaR, population register, both mailbox
operators, the notice sinks) and the connector last, so that the connector's `/health`
answers only once everything it talks to is listening. Production turns the reference off
(`UTSKICK_EMBEDDED_REFERENCE=false`) and points the connector at the real infrastructure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import uvicorn
from sqlalchemy import Engine

from utskick.reference.context import build_context
from utskick.reference.runner import Listing, ReferenceInfrastructure, listings
from utskick.reference.settings import ReferenceSettings
from utskick.settings import Settings
from utskick.web.app import create_app


@dataclass
class EmbeddedRun:
    """What `utskick serve` runs: the connector's server and, by default, the reference."""

    connector: uvicorn.Server
    reference: ReferenceInfrastructure | None

    def listings(self, connector_url: str) -> list[Listing]:
        """Every URL to print, the connector first."""
        result = [Listing("Utskick (anslutningen)", connector_url)]
        if self.reference is not None:
            result += listings(self.reference.context)
        return result

    async def serve(self, on_ready: Callable[[], None] | None = None) -> None:
        """Start the reference servers, wait until they listen, then serve the connector.

        Stopping the connector (Ctrl-C) stops everything.
        """
        reference_tasks: list[asyncio.Task[None]] = []
        if self.reference is not None:
            self.reference.start_sink()
            servers = self.reference.servers.servers
            reference_tasks = [asyncio.create_task(server.serve()) for server in servers]
            while not all(server.started for server in servers):
                if any(task.done() for task in reference_tasks):
                    self.reference.stop_sink()
                    raise RuntimeError(
                        "referenstjänsterna kunde inte starta (är en port upptagen? "
                        "se UTSKICK_REFERENCE_*_PORT)"
                    )
                await asyncio.sleep(0.05)
        if on_ready is not None:
            on_ready()
        try:
            await self.connector.serve()
        finally:
            if self.reference is not None:
                for server in self.reference.servers.servers:
                    server.should_exit = True
                await asyncio.gather(*reference_tasks, return_exceptions=True)
                self.reference.stop_sink()


def prepare_embedded_run(settings: Settings, engine: Engine) -> EmbeddedRun:
    """Build the connector's server and, unless turned off, the reference infrastructure."""
    reference = None
    if settings.embedded_reference:
        reference_settings = ReferenceSettings(home=settings.home)
        reference = ReferenceInfrastructure(build_context(reference_settings))
    config = uvicorn.Config(
        create_app(settings, engine), host=settings.host, port=settings.port, log_level="warning"
    )
    return EmbeddedRun(uvicorn.Server(config), reference)
