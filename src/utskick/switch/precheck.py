"""The synchronous precheck: the channel each recipient would get now, with the reason.

Used by the officer's screen, the API and `utskick precheck`; batch classification uses the
same rule through `classify`. FaR down means `FarUnavailableError` (the API answers 503).
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from utskick.db.engine import create_database_engine
from utskick.identity import parse_identity, parse_organisation
from utskick.jobs.dependencies import FAR, record_outcome
from utskick.letters.vocabulary import DIGITAL_OR_PAPER, PAPER_ONLY
from utskick.senders.keys import client_tls_context
from utskick.senders.models import SenderOrganisation
from utskick.senders.repository import SenderRepository
from utskick.settings import Settings
from utskick.switch.far import (
    AddressRegister,
    CachedAddressRegister,
    FarUnavailableError,
    HttpAddressRegister,
    RecordingAddressRegister,
)
from utskick.switch.rule import Decision, RulePolicy, decide

__all__ = ["Decision", "FarUnavailableError", "Precheck", "address_register_for", "precheck_for"]


def utc_now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


class Precheck:
    """Decide the channel for recipients of one sender, asking FaR (through its cache)."""

    def __init__(
        self,
        register: AddressRegister,
        settings: Settings,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.register = register
        self.rule = RulePolicy(settings.minimum_age, tuple(settings.operator_allow_list))
        self.clock = clock

    def check(
        self, sender_number: str, recipient_ids: Sequence[str], *, policy: str = DIGITAL_OR_PAPER
    ) -> list[Decision]:
        """One decision per recipient, in the order given.

        Args:
            sender_number: the sender's organisationsnummer, as typed.
            recipient_ids: personnummer, samordningsnummer or organisationsnummer, as typed.
            policy: `digital-or-paper`, `digital-only` or `paper-only`.

        Raises:
            InvalidIdentityError: a number that is not valid (the message says which).
            FarUnavailableError: FaR could not be asked.
        """
        today = self.clock().date()
        sender = parse_organisation(sender_number).organisation_number
        ids = [parse_identity(text, today=today).value for text in recipient_ids]
        asking = policy != PAPER_ONLY and bool(ids)
        answers = self.register.is_reachable(sender, ids) if asking else {}
        decisions = []
        for recipient_id in ids:
            answer = answers.get(recipient_id)
            decisions.append(
                decide(
                    recipient_id,
                    answer.status if answer else None,
                    policy=policy,
                    rule=self.rule,
                    today=today,
                    failure_reason=answer.failure_reason if answer else None,
                )
            )
        return decisions


# The FaR client per (FaR, trust file, database), with the TLS context it was built with.
_REGISTERS: dict[tuple[str, str, str], tuple[ssl.SSLContext, CachedAddressRegister]] = {}
_REGISTERS_LOCK = threading.Lock()


def address_register_for(settings: Settings, engine: Engine | None = None) -> AddressRegister:
    """The process-wide FaR client with its cache, built on first use.

    It presents the intermediary's certificate (the sender organisation marked as
    intermediary) and trusts `settings.tls_ca_file`. Given an engine, it records each call's
    outcome there for `/health` (`utskick.jobs.dependencies`). When the intermediary's key
    (or the trust file) has changed since the client was built, a new client is built with
    it: a renewed certificate takes effect without a restart.

    Raises:
        FarUnavailableError: FaR's address is not set, or no intermediary is configured.
        SenderKeyError: the intermediary's key cannot be used.
    """
    if not settings.far_url:
        raise FarUnavailableError(
            "FaR:s adress är inte inställd; sätt UTSKICK_FAR_URL (eller kör utskick serve)",
            "FaR:s adress är inte inställd (UTSKICK_FAR_URL)",
        )
    key = (settings.far_url, str(settings.tls_ca_file), settings.resolved_database_url())
    tls = client_tls_context(_intermediary(settings, engine), settings.tls_ca_file)
    with _REGISTERS_LOCK:
        kept = _REGISTERS.get(key)
        if kept is not None and kept[0] is tls:
            return kept[1]
        http: AddressRegister = HttpAddressRegister(
            settings.far_url, tls, timeout_seconds=settings.far_timeout_seconds
        )
        if engine is not None:
            http = RecordingAddressRegister(http, _reporter(engine))
        register = CachedAddressRegister(http, settings.reachability_cache_seconds)
        _REGISTERS[key] = (tls, register)
        return register


def _intermediary(settings: Settings, engine: Engine | None) -> SenderOrganisation:
    own_engine = engine is None
    database = engine or create_database_engine(settings.resolved_database_url())
    try:
        with Session(database) as session:
            intermediary = SenderRepository(session).intermediary()
    finally:
        if own_engine:
            database.dispose()
    if intermediary is None:
        raise FarUnavailableError(
            "ingen avsändarorganisation är förmedlare; FaR kan inte frågas utan "
            "förmedlarens certifikat (lägg till en avsändare som förmedlare)",
            "ingen avsändarorganisation är förmedlare",
        )
    return intermediary


def drop_far_connections() -> None:
    """Close the open connections of every FaR client of the process (each stays usable).

    Called when the process stops serving, so that no idle connection holds FaR's server.
    """
    with _REGISTERS_LOCK:
        registers = [register for _, register in _REGISTERS.values()]
    for register in registers:
        register.drop_connections()


def _reporter(engine: Engine) -> Callable[[str | None], None]:
    """Records each FaR call's outcome in the database, where `/health` finds it."""

    def report(reason: str | None) -> None:
        record_outcome(engine, FAR, reason, utc_now())

    return report


def precheck_for(settings: Settings, engine: Engine | None = None) -> Precheck:
    """A precheck that asks the configured FaR over mutual TLS, through the process's cache."""
    return Precheck(address_register_for(settings, engine), settings)
