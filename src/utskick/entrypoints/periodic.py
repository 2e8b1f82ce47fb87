"""The jobs that come back by themselves, queued once when workers start.

The daily records run, the daily certificate check and each source's pickup poll queue their
own next run before they end; at start-up these make sure each has one waiting (however many
processes start at once: each `ensure_*` takes a lock first), so that an installation that
never had one gets its first, and a source added to the sources file is polled after the
next start.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from utskick.db.engine import session_factory
from utskick.entrypoints.certificate_check import ensure_certificate_check_job
from utskick.intake.pickup.jobs import ensure_pickup_jobs
from utskick.intake.sources import SourcesError, load_sources
from utskick.letters.service import utc_now
from utskick.records.daily import ensure_daily_job
from utskick.settings import Settings

logger = logging.getLogger(__name__)


def queue_periodic_jobs(settings: Settings, engine: Engine) -> None:
    """Make sure the next daily records run, certificate check and every poll are queued."""
    _queue_daily_run(settings, engine)
    _queue_certificate_check(engine)
    _queue_pickup_polls(settings, engine)


def _queue_daily_run(settings: Settings, engine: Engine) -> None:
    try:
        with session_factory(engine)() as session, session.begin():
            ensure_daily_job(session, settings, utc_now())
    except OperationalError:
        # The database is busy or away: the next start, or the run itself, queues it.
        logger.exception("the daily records run could not be queued")


def _queue_certificate_check(engine: Engine) -> None:
    # Due at once when none is waiting: a start shows the certificates' state in the log.
    try:
        with session_factory(engine)() as session, session.begin():
            ensure_certificate_check_job(session, utc_now())
    except OperationalError:
        logger.exception("the certificate check could not be queued")


def _queue_pickup_polls(settings: Settings, engine: Engine) -> None:
    try:
        sources = load_sources(settings)
    except SourcesError as error:
        # The sources file is checked with `utskick sources check`; the rest runs on.
        logger.error("the sources file cannot be used, nothing is picked up: %s", error.message)  # noqa: TRY400
        return
    try:
        with session_factory(engine)() as session, session.begin():
            ensure_pickup_jobs(session, sources, utc_now())
    except OperationalError:
        logger.exception("the pickup polls could not be queued")
