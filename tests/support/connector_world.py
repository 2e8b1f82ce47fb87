"""The connector wired to a running reference infrastructure, for switch, relay and crash tests.

The reference runs as `support.world.start_reference` starts it; the connector gets a
home of its own, a migrated database, the demo organisations as sender organisations
(Exempelkommun is also the intermediary) and a sending system allowed to send for both.
"""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

from sqlalchemy.orm import Session

from support.world import EXEMPELKOMMUN, GRANNKOMMUN, TOLVAN
from utskick.db.engine import create_database_engine
from utskick.migrations import migrate
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.settings import Settings


def connector_settings(home: Path, context, **overrides) -> Settings:
    """Connector settings pointing at the running reference (FaR, its CA)."""
    values = {
        "home": home,
        "far_url": context.endpoints.far_url,
        "population_url": context.endpoints.population_url,
        "tls_ca_file": context.pki.ca_certificate,
        "embedded_reference": False,
    }
    values.update(overrides)
    return Settings(**values)


def connector_environment(settings: Settings) -> dict[str, str]:
    """The same settings as UTSKICK_* environment variables, for `utskick worker` processes."""
    env = {
        "UTSKICK_HOME": str(settings.home),
        "UTSKICK_FAR_URL": settings.far_url or "",
        "UTSKICK_POPULATION_URL": settings.population_url or "",
        "UTSKICK_TLS_CA_FILE": str(settings.tls_ca_file),
        "UTSKICK_EMBEDDED_REFERENCE": "false",
        "UTSKICK_LEASE_SECONDS": str(settings.lease_seconds),
        "UTSKICK_RETRY_BASE_SECONDS": str(settings.retry_base_seconds),
        "UTSKICK_RETRY_MAX_SECONDS": str(settings.retry_max_seconds),
        "UTSKICK_WORKER_THREADS": str(settings.worker_threads),
        "UTSKICK_WORKER_POLL_SECONDS": str(settings.worker_poll_seconds),
        "UTSKICK_OPERATOR_READ_TIMEOUT_SECONDS": str(settings.operator_read_timeout_seconds),
        "UTSKICK_OPERATOR_CONNECT_TIMEOUT_SECONDS": str(settings.operator_connect_timeout_seconds),
    }
    if settings.database_url:
        env["UTSKICK_DATABASE_URL"] = settings.database_url
    return env


def prepare_connector(settings: Settings, context, engine=None):
    """Migrate the connector's database and seed senders and a sending system.

    Returns:
        (engine, sending system id).
    """
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = engine or create_database_engine(settings.resolved_database_url())
    migrate.upgrade(engine)
    now = dt.datetime.now(dt.UTC)
    system_id = str(uuid.uuid4())
    with Session(engine) as session, session.begin():
        for number, name, intermediary in (
            (EXEMPELKOMMUN, "Exempelkommun", True),
            (GRANNKOMMUN, "Grannkommun", False),
        ):
            session.add(
                SenderOrganisation(
                    organisation_number=number,
                    name=name,
                    key_path=str(context.pki.key_and_certificate(number)),
                    intermediary=intermediary,
                    support_text=f"Kontakta {name}s kundcenter, 0771-00 00 00.",
                    support_url="https://exempel.test/kontakt",
                    created_at=now,
                )
            )
        session.add(
            SendingSystem(
                id=system_id,
                name=f"Testsystem {system_id[:8]}",
                sender_numbers=[EXEMPELKOMMUN, GRANNKOMMUN],
                departments=None,
                created_at=now,
            )
        )
    return engine, system_id


def subjects_with_trans_id(inbox, trans_id):
    """The subjects of Tolvan's messages in `inbox` that came with this TransId."""
    return [
        entry.subject
        for entry in inbox.inbox(TOLVAN)
        if inbox.message(TOLVAN, entry.id).trans_id == trans_id
    ]
