"""Every outside system's adapter, built in one place, once per process.

FaR (through the process's cache), the mailbox operators, the population register, the
sending systems' webhooks and the clock are ports of the areas below; this is the only module
that chooses and builds their real adapters. The web app, the worker and the commands each get
one `Adapters` and read from it, so that a process makes one FaR cache and one connection pool
per party, and a test hands in a fake for any port by passing it to the constructor or
assigning it.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.letters.service import utc_now
from utskick.printing.addresses import (
    AddressSource,
    AddressSourceUnavailableError,
    PopulationRegisterClient,
    RegisterProtection,
    population_register_for,
)
from utskick.records.registration import registration_client
from utskick.relay.operator import HttpMailboxOperatorClient, MailboxOperatorClient
from utskick.senders.keys import client_tls_context
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings
from utskick.switch.far import AddressRegister
from utskick.switch.precheck import Precheck, address_register_for, drop_far_connections

T = TypeVar("T")
U = TypeVar("U")


class OperatorClientUnavailableError(RuntimeError):
    """No intermediary is configured, so there is no certificate to deliver with."""


class Adapters:
    """The outside systems as one process talks to them; each built on first use, then kept.

    Building waits for first use because an installation may lack a party for a while (no
    intermediary yet, no population register set) and must still start; the error then
    belongs to the job or request that needs the party.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        register: AddressRegister | None = None,
        operator_client: MailboxOperatorClient | None = None,
        address_source: AddressSource | None = None,
        webhook_client: httpx.Client | None = None,
        precheck: Precheck | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self._register = register
        self._operator_client = operator_client
        self._address_source = address_source
        self._webhook_client = webhook_client
        self._registration_client: httpx.Client | None = None
        self._precheck = precheck
        self._lock = threading.RLock()
        self._in_flight_pool: ThreadPoolExecutor | None = None

    def _kept(self, name: str, build: Callable[[], T]) -> T:
        """The adapter kept in attribute `name`, built under the lock on first use."""
        with self._lock:
            kept: T | None = getattr(self, name)
            if kept is None:
                kept = build()
                setattr(self, name, kept)
            return kept

    @property
    def register(self) -> AddressRegister:
        """FaR through the process's cache, asked with the intermediary's certificate."""
        return self._kept("_register", lambda: address_register_for(self.settings, self.engine))

    @register.setter
    def register(self, value: AddressRegister) -> None:
        self._register = value

    @property
    def precheck(self) -> Precheck:
        """The synchronous precheck on the process's FaR cache.

        Raises:
            FarUnavailableError: FaR cannot be asked (no intermediary).
        """
        return self._kept("_precheck", lambda: Precheck(self.register, self.settings))

    @precheck.setter
    def precheck(self, value: Precheck) -> None:
        self._precheck = value

    @property
    def operator_client(self) -> MailboxOperatorClient:
        """The mailbox operators' client, presenting the intermediary's certificate.

        Raises:
            OperatorClientUnavailableError: no sender organisation is the intermediary.
        """
        return self._kept("_operator_client", self._build_operator_client)

    @operator_client.setter
    def operator_client(self, value: MailboxOperatorClient) -> None:
        self._operator_client = value

    def _build_operator_client(self) -> MailboxOperatorClient:
        with Session(self.engine) as session:
            intermediary = SenderRepository(session).intermediary()
        if intermediary is None:
            raise OperatorClientUnavailableError(
                "ingen avsändarorganisation är förmedlare; brev kan inte levereras utan "
                "förmedlarens certifikat"
            )
        return HttpMailboxOperatorClient(
            client_tls_context(intermediary, self.settings.tls_ca_file),
            connect_timeout_seconds=self.settings.operator_connect_timeout_seconds,
            read_timeout_seconds=self.settings.operator_read_timeout_seconds,
        )

    @property
    def address_source(self) -> AddressSource:
        """The population register, asked with the intermediary's certificate.

        Raises:
            AddressSourceUnavailableError: no register is set, or no intermediary.
        """
        return self._kept(
            "_address_source", lambda: population_register_for(self.settings, self.engine)
        )

    @address_source.setter
    def address_source(self, value: AddressSource) -> None:
        self._address_source = value

    def protection(self) -> ProtectedIdentityLookup | None:
        """The population register as the intake asks it: who has a protected identity.

        None when no register can be asked: an address given then cannot be judged, and is
        refused rather than stored.
        """
        try:
            return RegisterProtection(self.address_source)
        except AddressSourceUnavailableError:
            return None

    @property
    def webhook_client(self) -> httpx.Client:
        """A plain HTTPS client for the sending systems' webhooks."""
        return self._kept(
            "_webhook_client", lambda: httpx.Client(timeout=self.settings.webhook_timeout_seconds)
        )

    @property
    def registration_client(self) -> httpx.Client:
        """The client that registers letters in the case or records system (signed JSON)."""
        return self._kept("_registration_client", lambda: registration_client(self.settings))

    def in_flight(self, work: Callable[[T], U], items: Sequence[T]) -> list[U]:
        """Run `work` over the items, up to `deliveries_in_flight` at once; results in order.

        One pool for the process: every worker thread's deliveries share it, so that the
        operators see at most that many requests from this process at a time.
        """
        if len(items) <= 1:
            return [work(item) for item in items]
        with self._lock:
            if self._in_flight_pool is None:
                self._in_flight_pool = ThreadPoolExecutor(
                    max_workers=max(1, self.settings.deliveries_in_flight),
                    thread_name_prefix="utskick-delivery",
                )
            pool = self._in_flight_pool
        return list(pool.map(work, items))

    def close(self) -> None:
        """Close the HTTP clients held here; a later use builds them again.

        The FaR client is the process's (shared through `address_register_for`'s cache): it
        stays usable, but its open connections are closed, so that none holds FaR's server
        (the embedded reference's stops right after).
        """
        drop_far_connections()
        with self._lock:
            if self._in_flight_pool is not None:
                self._in_flight_pool.shutdown(wait=True)
                self._in_flight_pool = None
            if self._webhook_client is not None:
                self._webhook_client.close()
                self._webhook_client = None
            if self._registration_client is not None:
                self._registration_client.close()
                self._registration_client = None
            if isinstance(self._address_source, PopulationRegisterClient):
                self._address_source.close()
                self._address_source = None
            if isinstance(self._operator_client, HttpMailboxOperatorClient):
                # Open keep-alive connections would hold the operators' servers on shutdown.
                self._operator_client.close()
                self._operator_client = None
