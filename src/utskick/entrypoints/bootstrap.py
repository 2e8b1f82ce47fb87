"""Every outside system's adapter, built in one place, once per process.

FaR (through the process's cache), the mailbox operators, the population register, the
sending systems' webhooks and the clock are ports of the areas below; this is the only module
that chooses and builds their real adapters. The web app, the worker and the commands each get
one `Adapters` and read from it, so that a process makes one FaR cache and one connection pool
per party, and a test hands in a fake for any port by passing it to the constructor or
assigning it.

A renewed intermediary certificate takes effect without a restart: the clients that present
it (FaR, the mailbox operators, the population register) are built again when the
intermediary's TLS context changes (`senders.keys.client_tls_context`), looked at no more
than once a second; the old clients are closed once no call can still be using them.
"""

from __future__ import annotations

import datetime as dt
import logging
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import httpx2
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from utskick.letters.address_screen import ProtectedIdentityLookup
from utskick.letters.service import utc_now
from utskick.observability.context import carrying_request_id
from utskick.observability.logs import httpx_request_id_hooks
from utskick.printing.addresses import (
    AddressSource,
    AddressSourceUnavailableError,
    PopulationRegisterClient,
    RegisterProtection,
    population_register_for,
)
from utskick.records.registration import registration_client
from utskick.relay.operator import HttpMailboxOperatorClient, MailboxOperatorClient
from utskick.senders.keys import SenderKeyError, client_tls_context
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings
from utskick.switch.far import AddressRegister, CachedAddressRegister
from utskick.switch.precheck import Precheck, address_register_for, drop_far_connections

T = TypeVar("T")
U = TypeVar("U")

logger = logging.getLogger(__name__)

# How often a process looks whether the intermediary's key file (or the trust file) changed:
# one query and two `stat` calls, at most once a second, whatever the traffic.
TLS_CHECK_SECONDS = 1.0
# The adapters that present the intermediary's certificate, by the attribute they are kept in.
_TLS_BOUND = ("_register", "_operator_client", "_address_source")


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
        webhook_client: httpx2.Client | None = None,
        precheck: Precheck | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.clock = clock
        self._register = register
        self._operator_client = operator_client
        self._address_source = address_source
        self._webhook_client = webhook_client
        self._registration_client: httpx2.Client | None = None
        self._precheck = precheck
        self._lock = threading.RLock()
        self._in_flight_pool: ThreadPoolExecutor | None = None
        # The adapters built here (not handed in), and the TLS context they were built with.
        self._built: set[str] = set()
        self._tls_context: ssl.SSLContext | None = None
        self._tls_checked_at = time.monotonic()
        self._retired: list[tuple[float, Callable[[], None]]] = []

    def _kept(self, name: str, build: Callable[[], T]) -> T:
        """The adapter kept in attribute `name`, built under the lock on first use."""
        if name in _TLS_BOUND or name == "_precheck":
            self._follow_key_changes()
        with self._lock:
            kept: T | None = getattr(self, name)
            if kept is None:
                if name in _TLS_BOUND and self._built.isdisjoint(_TLS_BOUND):
                    # The first client with the certificate: remember which context it got.
                    self._tls_context = self._current_tls_context()
                kept = build()
                setattr(self, name, kept)
                self._built.add(name)
            return kept

    def _current_tls_context(self) -> ssl.SSLContext | None:
        """The intermediary's TLS context as it is now; None when it cannot be made."""
        try:
            with Session(self.engine) as session:
                intermediary = SenderRepository(session).intermediary()
            if intermediary is None:
                return None
            return client_tls_context(intermediary, self.settings.tls_ca_file)
        except (SenderKeyError, SQLAlchemyError):
            # The builders report these to the job or request that needs the party.
            return None

    def _follow_key_changes(self) -> None:
        """Build the clients with the certificate again if the intermediary's key changed.

        A key that cannot be read now leaves the clients as they are: the old certificate
        keeps working until it expires, and /health reports the key.
        """
        now = time.monotonic()
        if self._retired:
            self._close_retired(now)
        if now - self._tls_checked_at < TLS_CHECK_SECONDS or self._built.isdisjoint(_TLS_BOUND):
            return
        self._tls_checked_at = now
        current = self._current_tls_context()
        with self._lock:
            if current is None or current is self._tls_context:
                return
            self._tls_context = current
            renewed = [name for name in (*_TLS_BOUND, "_precheck") if name in self._built]
            for name in renewed:
                self._retire(getattr(self, name))
                setattr(self, name, None)
                self._built.discard(name)
        logger.info("the intermediary's certificate changed; its clients are built again")

    def _retire(self, adapter: object) -> None:
        """Close `adapter` later, once a call begun on it must have ended."""
        close = getattr(adapter, "close", None)
        if callable(close) and not isinstance(adapter, CachedAddressRegister):
            # FaR's register is the process's (switch.precheck): its owner closes it.
            self._retired.append((time.monotonic(), close))

    def _close_retired(self, now: float, *, every: bool = False) -> None:
        grace = (
            self.settings.operator_connect_timeout_seconds
            + self.settings.operator_read_timeout_seconds
        )
        with self._lock:
            due = [c for at, c in self._retired if every or now - at > grace]
            self._retired = [(at, c) for at, c in self._retired if not (every or now - at > grace)]
        for close in due:
            close()

    @property
    def register(self) -> AddressRegister:
        """FaR through the process's cache, asked with the intermediary's certificate."""
        return self._kept("_register", lambda: address_register_for(self.settings, self.engine))

    @register.setter
    def register(self, value: AddressRegister) -> None:
        self._register = value
        self._built.discard("_register")  # handed in: never rebuilt here

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
        self._built.discard("_precheck")  # handed in: never rebuilt here

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
        self._built.discard("_operator_client")  # handed in: never rebuilt here

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
        self._built.discard("_address_source")  # handed in: never rebuilt here

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
    def webhook_client(self) -> httpx2.Client:
        """A plain HTTPS client for the sending systems' webhooks."""
        return self._kept(
            "_webhook_client",
            lambda: httpx2.Client(
                timeout=self.settings.webhook_timeout_seconds,
                event_hooks=httpx_request_id_hooks(),  # X-Request-ID: the letter's request
            ),
        )

    @property
    def registration_client(self) -> httpx2.Client:
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
        return list(pool.map(carrying_request_id(work), items))

    def close(self) -> None:
        """Close the HTTP clients held here; a later use builds them again.

        The FaR client is the process's (shared through `address_register_for`'s cache): it
        stays usable, but its open connections are closed, so that none holds FaR's server
        (the embedded reference's stops right after).
        """
        drop_far_connections()
        self._close_retired(time.monotonic(), every=True)
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
