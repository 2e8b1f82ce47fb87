"""Where a paper letter goes: the population register, or the address its caller gave.

The population register is a port (`AddressSource`) with a real adapter that asks a
register's JSON API over HTTPS with mutual TLS (the intermediary's certificate: only
organisations registered in FaR may ask). `resolve` turns the register's answer and the
caller's address into the envelope: an address, Skatteverket's forwarding service for a
protected identity, or a reason why the letter cannot go on paper. The intake asks the same
register (`RegisterProtection`) before it stores an address a caller gave.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx2
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utskick.letters.address_screen import ProtectionUnknownError
from utskick.letters.vocabulary import DECEASED, EMIGRATED, NO_ADDRESS, NOT_FOUND
from utskick.observability.logs import httpx_request_id_hooks
from utskick.senders.keys import SenderKeyError, client_tls_context
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings

MAX_IDS_PER_LOOKUP = 1000


class AddressSourceUnavailableError(RuntimeError):
    """The register could not be asked now (network, TLS, 5xx): try again later."""


@dataclass(frozen=True)
class RegisterEntry:
    """What the population register says about one recipient."""

    recipient_id: str
    found: bool
    name: str | None = None
    # Postal lines below the name: c/o, street, "postal code city".
    lines: tuple[str, ...] = ()
    protected: bool = False
    deceased: bool = False
    emigrated: bool = False


class AddressSource(Protocol):
    """A population register: name and postal address by 12-digit id."""

    def lookup(self, recipient_ids: Sequence[str]) -> dict[str, RegisterEntry]:
        """One entry per id asked.

        Raises:
            AddressSourceUnavailableError: the register cannot be asked now.
        """
        ...


class PopulationRegisterClient:
    """The population register's JSON API (`POST /v1/lookup`, up to 1,000 ids a call)."""

    def __init__(
        self, url: str, tls_context: ssl.SSLContext | None, *, timeout_seconds: float = 30.0
    ) -> None:
        self.url = url.rstrip("/")
        self._client = httpx2.Client(
            verify=tls_context if tls_context is not None else True,
            timeout=timeout_seconds,
            event_hooks=httpx_request_id_hooks(),
        )

    def close(self) -> None:
        """Close the connections."""
        self._client.close()

    def lookup(self, recipient_ids: Sequence[str]) -> dict[str, RegisterEntry]:
        """Ask in chunks of 1,000; see `AddressSource.lookup`."""
        unique = list(dict.fromkeys(recipient_ids))
        entries: dict[str, RegisterEntry] = {}
        for start in range(0, len(unique), MAX_IDS_PER_LOOKUP):
            chunk = unique[start : start + MAX_IDS_PER_LOOKUP]
            for record in self._ask(chunk):
                entry = entry_from_record(record)
                entries[entry.recipient_id] = entry
        return entries

    def _ask(self, ids: list[str]) -> list[dict[str, Any]]:
        try:
            response = self._client.post(f"{self.url}/v1/lookup", json={"ids": ids})
        except httpx2.HTTPError as error:
            raise AddressSourceUnavailableError(
                f"folkbokföringen svarar inte: {type(error).__name__}: {error}"
            ) from error
        if response.status_code != httpx2.codes.OK:
            raise AddressSourceUnavailableError(
                f"folkbokföringen svarade {response.status_code}: {response.text[:200]}"
            )
        records = response.json().get("records")
        if not isinstance(records, list) or len(records) != len(ids):
            raise AddressSourceUnavailableError("folkbokföringens svar saknar poster")
        return records


def entry_from_record(record: Mapping[str, Any]) -> RegisterEntry:
    """A register entry from one record of the register's JSON answer."""
    address = record.get("address") or None
    lines: tuple[str, ...] = ()
    if address:
        care_of = address.get("care_of")
        lines = tuple(
            line
            for line in (
                f"c/o {care_of}" if care_of else None,
                address.get("street"),
                f"{address.get('postal_code', '')} {address.get('city', '')}".strip(),
            )
            if line
        )
    return RegisterEntry(
        recipient_id=str(record["id"]),
        found=bool(record.get("found")),
        name=record.get("name"),
        lines=lines,
        protected=bool(record.get("protected")),
        deceased=record.get("deceased_on") is not None,
        emigrated=record.get("emigrated_on") is not None,
    )


@dataclass(frozen=True)
class Envelope:
    """Where one paper letter goes, or why it cannot go."""

    lines: tuple[str, ...] = ()  # name first; empty for a protected identity
    protected: bool = False
    impossible_reason: str | None = None


def caller_address_lines(address: Mapping[str, Any] | None) -> tuple[str, ...]:
    """The envelope lines of an address a caller gave with the letter (empty: none given)."""
    if not address:
        return ()
    lines = [str(address.get("name", "")).strip()]
    lines.extend(str(line).strip() for line in address.get("lines", ()) or ())
    lines.append(f"{address.get('postal_code', '')} {address.get('city', '')}".strip())
    country = address.get("country")
    if country:
        lines.append(str(country).strip().upper())
    return tuple(line for line in lines if line)


def resolve(  # noqa: PLR0911 (one return per outcome, in order of precedence)
    entry: RegisterEntry | None, caller_address: Mapping[str, Any] | None
) -> Envelope:
    """The envelope for a letter from the register's entry and the caller's address.

    A protected identity wins over everything, the caller's address included: that address
    must never be printed. A deceased or emigrated person gets no letter. Otherwise the
    caller's address is used if given, else the register's.
    """
    if entry is not None and entry.protected:
        return Envelope(protected=True)
    if entry is not None and entry.deceased:
        return Envelope(impossible_reason=DECEASED)
    if entry is not None and entry.emigrated:
        return Envelope(impossible_reason=EMIGRATED)
    given = caller_address_lines(caller_address)
    if given:
        return Envelope(lines=given)
    if entry is None or not entry.found:
        return Envelope(impossible_reason=NOT_FOUND)
    if not entry.lines or not entry.name:
        return Envelope(impossible_reason=NO_ADDRESS)
    return Envelope(lines=(entry.name, *entry.lines))


class FixedAddressSource:
    """An in-memory register for unit tests and benchmarks of the print pipeline."""

    def __init__(self, entries: Mapping[str, RegisterEntry]) -> None:
        self.entries = dict(entries)
        self.calls = 0

    def lookup(self, recipient_ids: Sequence[str]) -> dict[str, RegisterEntry]:
        """The entries known; unknown ids are reported as not found."""
        self.calls += 1
        return {
            rid: self.entries.get(rid, RegisterEntry(rid, found=False)) for rid in recipient_ids
        }


class RegisterProtection:
    """The population register as the letter intake asks it: who has a protected identity.

    Adapts an `AddressSource` to `letters.address_screen.ProtectedIdentityLookup`, so that an
    address given for a protected person is dropped before anything is stored.
    """

    def __init__(self, source: AddressSource) -> None:
        self.source = source

    def protected(self, recipient_ids: Sequence[str]) -> set[str]:
        """The ids among these that the register reports as protected.

        Raises:
            ProtectionUnknownError: the register cannot be asked now.
        """
        try:
            entries = self.source.lookup(recipient_ids)
        except AddressSourceUnavailableError as error:
            raise ProtectionUnknownError(str(error)) from error
        return {rid for rid, entry in entries.items() if entry.protected}


def population_register_for(settings: Settings, engine: Engine) -> PopulationRegisterClient:
    """The configured population register, asked with the intermediary's certificate.

    Raises:
        AddressSourceUnavailableError: no register address is set, or no sender organisation
            is the intermediary (whose certificate the register requires), or its key cannot
            be used.
    """
    if not settings.population_url:
        raise AddressSourceUnavailableError(
            "folkbokföringens adress är inte inställd; sätt UTSKICK_POPULATION_URL "
            "(eller kör utskick serve)"
        )
    with Session(engine) as session:
        intermediary = SenderRepository(session).intermediary()
    if intermediary is None:
        raise AddressSourceUnavailableError(
            "ingen avsändarorganisation är förmedlare; folkbokföringen kan inte frågas utan "
            "förmedlarens certifikat"
        )
    try:
        tls = client_tls_context(intermediary, settings.tls_ca_file)
    except SenderKeyError as error:
        raise AddressSourceUnavailableError(str(error)) from None
    return PopulationRegisterClient(
        settings.population_url, tls, timeout_seconds=settings.far_timeout_seconds
    )
