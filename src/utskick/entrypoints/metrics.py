"""GET /metrics for Prometheus, on the web app and on `utskick worker`'s own port.

A scrape gets what this process measured as it worked (`utskick.observability.metrics`) and
what the database says right now, read by `DatabaseCollector` in one short session: letters by
state and channel, the job queue per kind (waiting, failed, and how long the oldest due job has
waited), print batches by state, and the days left on every sender's and the intermediary's
certificate. Every query is one grouped count or minimum, so a scrape stays cheap with
millions of letters.

Who may read it is `utskick.entrypoints.metrics_access`'s rule: a listed network, or the token.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from fastapi import FastAPI, Request, Response
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from utskick import __version__
from utskick.entrypoints.metrics_access import MetricsAccess, forwarded, refusal_answer
from utskick.jobs import queue
from utskick.jobs.models import Job
from utskick.jobs.queue import ClaimedJob, Retry, utc
from utskick.letters.models import Letter
from utskick.letters.service import utc_now
from utskick.observability.metrics import observe_job, render
from utskick.printing.models import PrintBatch
from utskick.senders.certificates import certificate_survey
from utskick.settings import Settings
from utskick.web.proxy import FROM_TRUSTED_PROXY

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"

# The kinds shown even when none is queued, so that an alert sees 0 rather than nothing.
JOB_KINDS = (
    queue.CLASSIFY,
    queue.DELIVER,
    queue.FALLBACK,
    queue.WEBHOOK,
    queue.PRINT,
    queue.PRINT_CLOSE,
    queue.PRINT_HANDOVER,
    queue.RECORD,
    queue.REGISTER,
    queue.RECORDS_DAILY,
    queue.PICKUP,
    queue.MAIL_REPLY,
    queue.CERTIFICATE_CHECK,
)
# A letter whose channel is not chosen yet (received, or waiting for FaR).
UNDECIDED_CHANNEL = "undecided"

# --- what the database says -----------------------------------------------------------------


class DatabaseCollector:
    """Reads letters, jobs, print batches and certificates at scrape time (a Prometheus collector).

    When the database cannot be read, `utskick_database_up` is 0 and the rest is left out; the
    process's own metrics are still served.
    """

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime] = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        """Every family, read now."""
        up = GaugeMetricFamily(
            "utskick_database_up", "1 when /metrics could read the database, else 0."
        )
        try:
            with Session(self.engine) as session:
                families = read_families(session, self.clock())
        except SQLAlchemyError:
            logger.exception("metrics: the database could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _build_info()
        yield from families


def read_families(session: Session, now: dt.datetime) -> list[Metric]:
    """The database's metric families, each from one cheap query."""
    return [
        _letters(session),
        *_jobs(session, now),
        _print_batches(session),
        *_certificates(session, now),
    ]


def _build_info() -> Metric:
    info = GaugeMetricFamily(
        "utskick_build_info", "The running version of Utskick (always 1).", labels=["version"]
    )
    info.add_metric([__version__], 1)
    return info


def _letters(session: Session) -> Metric:
    family = GaugeMetricFamily(
        "utskick_letters",
        "Letters in the database by state and channel (digital, paper, none, undecided).",
        labels=["state", "channel"],
    )
    rows = session.execute(
        select(Letter.state, Letter.channel, func.count()).group_by(Letter.state, Letter.channel)
    )
    for state, channel, count in rows:
        family.add_metric([state, channel or UNDECIDED_CHANNEL], count)
    return family


def _jobs(session: Session, now: dt.datetime) -> list[Metric]:
    queued = GaugeMetricFamily(
        "utskick_jobs_queued",
        "Jobs waiting to run (due or not yet due, leased or not), failed ones not counted.",
        labels=["kind"],
    )
    failed = GaugeMetricFamily(
        "utskick_jobs_failed",
        "Jobs that ran out of attempts and wait for `utskick jobs retry` or cancel.",
        labels=["kind"],
    )
    oldest = GaugeMetricFamily(
        "utskick_job_oldest_due_age_seconds",
        "How long the oldest due job no worker holds has waited past its time (0: none).",
        labels=["kind"],
    )
    counts: dict[str, tuple[int, int]] = dict.fromkeys(JOB_KINDS, (0, 0))
    # count(failed_at) counts the failed ones: waiting and failed jobs in one pass.
    for kind, total, failures in session.execute(
        select(Job.kind, func.count(), func.count(Job.failed_at)).group_by(Job.kind)
    ):
        counts[kind] = (total - failures, failures)
    due = (
        select(Job.kind, func.min(Job.run_at))
        .where(
            Job.run_at <= now,
            or_(Job.lease_expires.is_(None), Job.lease_expires < now),
            Job.failed_at.is_(None),
        )
        .group_by(Job.kind)
    )
    due_since = dict(session.execute(due).all())  # rows, not the result: it has keys()
    for kind, (waiting, failures) in sorted(counts.items()):
        queued.add_metric([kind], waiting)
        failed.add_metric([kind], failures)
        since = due_since.get(kind)
        age = (now - utc(since)).total_seconds() if since is not None else 0.0
        oldest.add_metric([kind], max(0.0, age))
    return [queued, failed, oldest]


def _print_batches(session: Session) -> Metric:
    family = GaugeMetricFamily(
        "utskick_print_batches",
        "Print batches by state (open, closed, handed_over, printed).",
        labels=["state"],
    )
    rows = session.execute(select(PrintBatch.state, func.count()).group_by(PrintBatch.state))
    for state, count in rows:
        family.add_metric([state], count)
    return family


def _certificates(session: Session, now: dt.datetime) -> list[Metric]:
    days_left = GaugeMetricFamily(
        "utskick_certificate_days_left",
        "Days until the certificate of a sender organisation or of the intermediary expires "
        "(negative: expired).",
        labels=["organisation", "role"],
    )
    unreadable = GaugeMetricFamily(
        "utskick_certificate_unreadable",
        "1 for each organisation whose key or certificate this process cannot read: its letters "
        "cannot be signed until the key file or its passphrase is put right.",
        labels=["organisation", "role"],
    )
    survey = certificate_survey(session)
    soonest: dict[tuple[str, str], float] = {}
    for expiry in survey.expiries:
        key = (expiry.organisation_number, expiry.role)
        days = expiry.days_left(now)
        # Two series with the same labels would make the exposition invalid: should an
        # organisation ever have two certificates, the one that runs out first counts.
        soonest[key] = min(days, soonest.get(key, days))
    for (organisation, role), days in sorted(soonest.items()):
        days_left.add_metric([organisation, role], days)
    for organisation, role in sorted({(u.organisation_number, u.role) for u in survey.unreadable}):
        unreadable.add_metric([organisation, role], 1)
    return [days_left, unreadable]


# --- how the worker's jobs went --------------------------------------------------------------


def job_outcome(job: ClaimedJob, outcome: Retry | None, max_attempts: int) -> str:
    """How a job's run ended, as `utskick_job_duration_seconds` names it: done, retry, failed.

    A retry that counts (not a wait) after the last attempt is given up (`jobs.limits`).
    """
    if outcome is None:
        return "done"
    if not outcome.waiting and job.attempts >= max_attempts:
        return "failed"
    return "retry"


def observe_jobs(
    jobs: Sequence[ClaimedJob],
    seconds: float,
    outcomes: Mapping[int, Retry | None],
    *,
    max_attempts: int,
    raised: bool = False,
) -> None:
    """Count each job of a set run together, with the set's time (each waited for all of it).

    Args:
        jobs: the jobs claimed and run together (one for a job run alone).
        seconds: how long the run took.
        outcomes: the handler's answer per job id; a job left out was settled by the handler
            itself in its own transaction, and counts as done.
        max_attempts: `job_max_attempts`, to tell a retry from a failure.
        raised: the handler raised: every job counts as an error.
    """
    for job in jobs:
        outcome = "error" if raised else job_outcome(job, outcomes.get(job.id), max_attempts)
        observe_job(job.kind, seconds, outcome)


# --- the web app's /metrics ------------------------------------------------------------------


def include_metrics(app: FastAPI, engine: Engine, settings: Settings) -> None:
    """Add `GET /metrics` (not in the API description), protected by `MetricsAccess`."""
    access = MetricsAccess.from_settings(settings)
    collector = DatabaseCollector(engine)

    @app.get(METRICS_PATH, include_in_schema=False)
    def metrics(request: Request) -> Response:
        # Behind a trusted proxy, `utskick.web.proxy` has already put the real client here.
        client = request.client.host if request.client is not None else None
        from_trusted_proxy = bool(request.scope.get("state", {}).get(FROM_TRUSTED_PROXY))
        refusal = access.refusal(
            client,
            request.headers.get("authorization"),
            forwarded_by_unknown=not from_trusted_proxy and forwarded(request.headers.keys()),
        )
        if refusal is not None:
            status, headers, body = refusal_answer(refusal)
            return Response(body, status_code=status, headers=headers)
        body, content_type = render([collector])
        return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})


# --- the worker's own port -------------------------------------------------------------------


class _MetricsServer(ThreadingHTTPServer):
    """A small HTTP server answering only GET /metrics."""

    daemon_threads = True

    def __init__(
        self, address: tuple[str, int], access: MetricsAccess, collector: DatabaseCollector
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.access = access
        self.collector = collector
        super().__init__(address, _MetricsHandler)


class _MetricsHandler(BaseHTTPRequestHandler):
    server: _MetricsServer
    timeout = 30  # a client that sends nothing does not hold a thread for long
    server_version = "utskick-worker"
    sys_version = ""

    def do_GET(self) -> None:
        """Serve /metrics to whom `MetricsAccess` lets in; 404 for any other path."""
        if urlsplit(self.path).path != METRICS_PATH:
            self._send(404, {"Content-Type": "application/json"}, _detail(NOT_HERE))
            return
        refusal = self.server.access.refusal(
            self.client_address[0],
            self.headers.get("Authorization"),
            forwarded_by_unknown=forwarded(self.headers.keys()),
        )
        if refusal is not None:
            self._send(*refusal_answer(refusal))
            return
        try:
            body, content_type = render([self.server.collector])
        except Exception:
            logger.exception("metrics: the worker's /metrics could not be rendered")
            message = _detail("mätvärdena kunde inte läsas; se workerns logg")
            self._send(500, {"Content-Type": "application/json"}, message)
            return
        self._send(200, {"Content-Type": content_type, "Cache-Control": "no-store"}, body)

    def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's name)
        """Requests go to the debug log, not to stderr."""
        logger.debug("worker metrics: %s %s", self.client_address[0], format % args)


NOT_HERE = "här finns bara /metrics"


def _detail(message: str) -> bytes:
    return json.dumps({"detail": message}, ensure_ascii=False).encode("utf-8")


class MetricsServerError(RuntimeError):
    """The worker's metrics port could not be opened."""


def start_worker_metrics_server(settings: Settings, engine: Engine) -> Callable[[], None]:
    """Serve /metrics on `worker_metrics_host:worker_metrics_port` in a thread; returns `stop`.

    Nothing is started when `worker_metrics_port` is not set (the stop function then does
    nothing). Same content and protection as the web app's /metrics.

    Raises:
        MetricsServerError: the address cannot be listened on (taken, or not this machine's).
    """
    port = settings.worker_metrics_port
    if port is None:
        return lambda: None
    host = settings.worker_metrics_host
    try:
        server = _MetricsServer(
            (host, port), MetricsAccess.from_settings(settings), DatabaseCollector(engine)
        )
    except OSError as error:
        raise MetricsServerError(
            f"workerns /metrics kan inte lyssna på {host}:{port} ({error.strerror or error}); "
            "välj en ledig port med UTSKICK_WORKER_METRICS_PORT eller en adress på den här "
            "datorn med UTSKICK_WORKER_METRICS_HOST"
        ) from None
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="utskick-metrics"
    )
    thread.daemon = True
    thread.start()
    logger.info("worker metrics: serving /metrics on %s:%s", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop
