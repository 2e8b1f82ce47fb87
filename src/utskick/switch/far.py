"""FaR as the switch sees it: who is reachable for a sender, asked 1,000 at a time.

`AddressRegister` is the port; `HttpAddressRegister` asks the real (or reference) FaR over
mutual TLS; `RecordingAddressRegister` reports each call's outcome (for `/health`);
`CachedAddressRegister` reuses answers for a short, configured time.

A protected identity makes FaR refuse the whole call (fault 6006) without saying reliably
which id it was, so a refused chunk is split in halves and asked again until the protected
ids stand alone. Faults about the call as a whole (unknown sender, access denied) are the
same for every id, so they are not split: each id gets `far_error`.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx2

from utskick.letters import vocabulary
from utskick.mm.soap import (
    MAX_RECIPIENTS_PER_CALL,
    SOAP_HEADERS,
    ReachabilityStatus,
    SoapError,
    SoapFault,
    is_reachable_request,
    parse_is_reachable_response,
)
from utskick.mm.xml import UnsafeXMLError
from utskick.observability.logs import httpx_request_id_hooks
from utskick.observability.metrics import (
    CALL_FAULT,
    CALL_OK,
    CALL_UNAVAILABLE,
    count_far_error,
    observe_far_call,
)

PROTECTED_IDENTITY_FAULT = 6006
INVALID_INPUT_FAULT = 5001
# Faults that may concern only some of the ids in a call: worth splitting to find them.
_PER_RECIPIENT_FAULTS = frozenset({PROTECTED_IDENTITY_FAULT, INVALID_INPUT_FAULT, 6007})


class FarUnavailableError(Exception):
    """FaR could not be asked (connection, timeout, HTTP error without a SOAP fault).

    `reason` says in a few Swedish words what went wrong (`anslutningen nekades`,
    `tidsgräns (30 s)`, `HTTP 503`): the same words for the same trouble, so that a letter
    waiting through an outage is told once, not once per retry.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message


@dataclass(frozen=True)
class Reachability:
    """FaR's answer for one recipient: a status, or the reason there is none."""

    recipient_id: str
    status: ReachabilityStatus | None
    failure_reason: str | None = None  # protected_identity | far_error, when status is None
    failure_detail: str | None = None


class AddressRegister(Protocol):
    """FaR's isReachable for one sender and any number of recipients."""

    def is_reachable(
        self, sender_number: str, recipient_ids: Sequence[str]
    ) -> dict[str, Reachability]:
        """Each recipient's answer, keyed by its 12-digit id.

        Raises:
            FarUnavailableError: FaR could not be asked; nothing is known.
        """
        ...


def drop_connections(register: AddressRegister) -> None:
    """Close a register's open connections, if it has any (a fake has none)."""
    drop = getattr(register, "drop_connections", None)
    if callable(drop):
        drop()


class HttpAddressRegister:
    """FaR over HTTPS with mutual TLS (the intermediary's certificate)."""

    def __init__(
        self, url: str, tls_context: ssl.SSLContext | None, *, timeout_seconds: float = 30.0
    ) -> None:
        self.url = url
        self.timeout_seconds = timeout_seconds
        self._verify: ssl.SSLContext | bool = tls_context if tls_context is not None else True
        self._client = self._new_client()

    def _new_client(self) -> httpx2.Client:
        return httpx2.Client(
            verify=self._verify, timeout=self.timeout_seconds, event_hooks=httpx_request_id_hooks()
        )

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def drop_connections(self) -> None:
        """Close the open connections; the next call opens a new one.

        An idle keep-alive connection over TLS holds the server it leads to when that server
        stops (it waits for the TLS close of a client that is not reading): the embedded
        reference's FaR stopping beside the connector waited 30 seconds for it.
        """
        old, self._client = self._client, self._new_client()
        old.close()

    def is_reachable(
        self, sender_number: str, recipient_ids: Sequence[str]
    ) -> dict[str, Reachability]:
        """Ask FaR in chunks of 1,000; see the module text for refused chunks."""
        unique = list(dict.fromkeys(recipient_ids))
        answers: dict[str, Reachability] = {}
        for start in range(0, len(unique), MAX_RECIPIENTS_PER_CALL):
            chunk = unique[start : start + MAX_RECIPIENTS_PER_CALL]
            for answer in self._ask(sender_number, chunk):
                answers[answer.recipient_id] = answer
        return answers

    def _ask(self, sender_number: str, ids: list[str]) -> list[Reachability]:
        try:
            statuses = self._call(sender_number, ids)
        except SoapFault as fault:
            if fault.error_code in _PER_RECIPIENT_FAULTS and len(ids) > 1:
                middle = len(ids) // 2
                return self._ask(sender_number, ids[:middle]) + self._ask(
                    sender_number, ids[middle:]
                )
            reason = (
                vocabulary.PROTECTED_IDENTITY
                if fault.error_code == PROTECTED_IDENTITY_FAULT
                else vocabulary.FAR_ERROR
            )
            detail = f"FaR svarade med fel {fault.error_code}: {fault.description}"
            return [Reachability(i, None, reason, detail) for i in ids]
        by_id = {status.recipient_id: status for status in statuses}
        return [
            Reachability(i, by_id[i])
            if i in by_id
            else Reachability(i, None, vocabulary.FAR_ERROR, "FaR gav inget svar för mottagaren")
            for i in ids
        ]

    def _call(self, sender_number: str, ids: list[str]) -> list[ReachabilityStatus]:
        request = is_reachable_request("16" + sender_number, ids)
        started = time.perf_counter()
        try:
            response = self._client.post(self.url, content=request, headers=SOAP_HEADERS)
        except httpx2.HTTPError as error:
            _measured(started, CALL_UNAVAILABLE, type(error).__name__)
            raise FarUnavailableError(
                f"FaR ({self.url}) svarar inte: {type(error).__name__} {error}".rstrip(),
                transport_reason(error, self.timeout_seconds),
            ) from None
        try:
            statuses = parse_is_reachable_response(response.content)
        except SoapFault as fault:
            _measured(started, CALL_FAULT, str(fault.error_code))
            raise
        except (SoapError, UnsafeXMLError, ValueError):
            status = response.status_code
            _measured(started, CALL_UNAVAILABLE, f"http_{status}")
            raise FarUnavailableError(
                f"FaR ({self.url}) svarade HTTP {status} utan ett "
                "isReachable-svar som går att läsa",
                f"HTTP {status}" if status != 200 else "oläsbart svar (HTTP 200)",  # noqa: PLR2004
            ) from None
        _measured(started, CALL_OK)
        return statuses


def _measured(started: float, outcome: str, error_code: str | None = None) -> None:
    """Count one isReachable call for /metrics: its time, its outcome, what went wrong."""
    observe_far_call(time.perf_counter() - started, outcome)
    if error_code is not None:
        count_far_error(error_code)


def transport_reason(error: httpx2.HTTPError, timeout_seconds: float) -> str:
    """A few Swedish words for why a call did not get through (stable per kind of trouble)."""
    timeout = f"tidsgräns ({timeout_seconds:g} s)"
    if isinstance(error, httpx2.TimeoutException):
        return timeout
    causes: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and len(causes) < 10:  # noqa: PLR2004 (a bound on the chain)
        causes.append(cause)
        cause = cause.__cause__ or cause.__context__
    # The first cause that says what it was, from the most telling to the most general.
    kinds: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], str], ...] = (
        (ConnectionRefusedError, "anslutningen nekades"),
        (socket.gaierror, "värdnamnet gick inte att slå upp"),
        (ssl.SSLError, "TLS-handskakningen misslyckades"),
        (TimeoutError, timeout),
        (httpx2.ConnectError, "anslutningen misslyckades"),
        ((httpx2.RemoteProtocolError, httpx2.ReadError, httpx2.WriteError), "anslutningen bröts"),
    )
    for kind, reason in kinds:
        if any(isinstance(c, kind) for c in causes):
            return reason
    return f"anslutningen misslyckades ({type(error).__name__})"


class RecordingAddressRegister:
    """Passes every call on and reports how it went: None when FaR answered, else the reason.

    Sits under the cache, so that only real calls are reported (`utskick.jobs.dependencies`
    keeps the last outcome for `/health`).
    """

    def __init__(self, register: AddressRegister, report: Callable[[str | None], None]) -> None:
        self._register = register
        self._report = report

    def drop_connections(self) -> None:
        """Close the open connections of the register underneath (see HttpAddressRegister)."""
        drop_connections(self._register)

    def is_reachable(
        self, sender_number: str, recipient_ids: Sequence[str]
    ) -> dict[str, Reachability]:
        """FaR's answers, the outcome reported either way."""
        try:
            answers = self._register.is_reachable(sender_number, recipient_ids)
        except FarUnavailableError as error:
            self._report(error.reason)
            raise
        self._report(None)
        return answers


class CachedAddressRegister:
    """Reuses FaR's answers per (sender, recipient) for a configured time; thread-safe.

    Only answers are kept (statuses and protected identities); an error is asked again.
    """

    def __init__(
        self,
        register: AddressRegister,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._register = register
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, Reachability]] = {}
        self._lock = threading.Lock()

    def drop_connections(self) -> None:
        """Close the open connections of the register underneath; the answers stay cached."""
        drop_connections(self._register)

    def is_reachable(
        self, sender_number: str, recipient_ids: Sequence[str]
    ) -> dict[str, Reachability]:
        """Cached answers where fresh; FaR is asked for the rest in one go."""
        now = self._clock()
        found: dict[str, Reachability] = {}
        missing: list[str] = []
        with self._lock:
            for recipient_id in dict.fromkeys(recipient_ids):
                entry = self._entries.get((sender_number, recipient_id))
                if entry is not None and entry[0] > now:
                    found[recipient_id] = entry[1]
                else:
                    missing.append(recipient_id)
        if missing:
            fresh = self._register.is_reachable(sender_number, missing)
            expires = self._clock() + self._ttl
            with self._lock:
                for recipient_id, answer in fresh.items():
                    if answer.status is not None or (
                        answer.failure_reason == vocabulary.PROTECTED_IDENTITY
                    ):
                        self._entries[(sender_number, recipient_id)] = (expires, answer)
                self._evict(now)
            found.update(fresh)
        return found

    def _evict(self, now: float) -> None:
        # Keep the cache from growing without bound through a night of batches.
        if len(self._entries) > 200_000:  # noqa: PLR2004 (a memory bound, not a rule)
            for key in [k for k, (expires, _) in self._entries.items() if expires <= now]:
                del self._entries[key]
