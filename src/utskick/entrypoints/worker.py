"""The job loop: claim due jobs with a lease, run their handler, settle them.

`WorkerPool` runs the loop on threads, inside `utskick serve` and in the `utskick worker`
process (`cli.serve.run_worker`: stops cleanly on SIGTERM or SIGINT, the current jobs finish
and nothing new is claimed); `drain` runs it in the calling thread until no
job is due (tests, one-off commands). A worker killed outright loses nothing: its leases run
out and other workers take the jobs again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TypeVar

import httpx2
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from utskick.db.engine import session_factory
from utskick.desk.mailin.reply_job import mail_reply_job
from utskick.entrypoints.bootstrap import Adapters
from utskick.entrypoints.certificate_check import certificate_check_job, certificate_mail_sender
from utskick.entrypoints.job_settling import (
    as_waiting,
    attempt_limit_for,
    retry_after_error,
    settle,
    with_leases_kept,
)
from utskick.entrypoints.metrics import observe_jobs
from utskick.entrypoints.periodic import queue_periodic_jobs
from utskick.intake.pickup.jobs import pickup_job
from utskick.jobs.dependencies import FAR, record_outcome
from utskick.jobs.limits import carry_limit
from utskick.jobs.queue import (
    CERTIFICATE_CHECK,
    CLASSIFY,
    DELIVER,
    FALLBACK,
    MAIL_REPLY,
    PICKUP,
    PRINT,
    PRINT_CLOSE,
    PRINT_HANDOVER,
    RECORD,
    RECORDS_DAILY,
    REGISTER,
    WEBHOOK,
    ClaimedJob,
    JobQueue,
    Retry,
)
from utskick.letters.service import utc_now
from utskick.letters.webhooks import webhook_job
from utskick.observability.context import (
    job_request_id,
    jobs_request_id,
    origin_request_ids,
    request_id_scope,
)
from utskick.printing.addresses import (
    AddressSource,
)
from utskick.printing.handover import handover_batch
from utskick.printing.service import MAX_BATCH as MAX_PRINT_BATCH
from utskick.printing.service import address_jobs, close_job
from utskick.records.daily import daily_job
from utskick.records.export_file import write_registration_file
from utskick.records.intake import MAX_BATCH as MAX_RECORD_BATCH
from utskick.records.intake import record_jobs
from utskick.records.registration import register_job
from utskick.relay.deliver import RelayDependencies, deliver_jobs, fallback_job
from utskick.relay.operator import MailboxOperatorClient
from utskick.settings import Settings
from utskick.switch.classify import MAX_BATCH, classify_jobs
from utskick.switch.far import AddressRegister, FarUnavailableError, Reachability

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Worker:
    """One worker thread's loop; its outside systems come from `adapters` (built if not given).

    The keyword ports are kept for tests and benchmarks that hand in one fake: they go into
    the worker's own `Adapters`.
    """

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        *,
        worker_id: str | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        register: AddressRegister | None = None,
        operator_client: MailboxOperatorClient | None = None,
        webhook_client: httpx2.Client | None = None,
        address_source: AddressSource | None = None,
        adapters: Adapters | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        # Every transaction of this worker, its handlers' too, applies the attempt limit.
        self.limit = attempt_limit_for(settings, clock)
        self.sessions = session_factory(engine)
        carry_limit(self.sessions, self.limit)
        self.queue = JobQueue(engine, settings.lease_seconds, self.limit)
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.actor = f"worker:{self.worker_id}"
        self.clock = clock
        # Adapters handed in are shared (a pool's threads, the app): their owner closes them.
        self._owns_adapters = adapters is None
        self.adapters = adapters or Adapters(
            settings,
            engine,
            clock=clock,
            register=register,
            operator_client=operator_client,
            address_source=address_source,
            webhook_client=webhook_client,
        )
        # What the jobs of the current run ended with, for /metrics (see `run_once`).
        self._outcomes: dict[int, Retry | None] = {}
        self._raised = False

    # --- dependencies ----------------------------------------------------------------------

    @property
    def register(self) -> AddressRegister:
        """FaR through the process's cache."""
        return self.adapters.register

    @property
    def operator_client(self) -> MailboxOperatorClient:
        """The mailbox operators' client, presenting the intermediary's certificate."""
        return self.adapters.operator_client

    @property
    def address_source(self) -> AddressSource:
        """The population register, asked with the intermediary's certificate."""
        return self.adapters.address_source

    @property
    def webhook_client(self) -> httpx2.Client:
        """A plain HTTPS client for the sending systems' webhooks."""
        return self.adapters.webhook_client

    def relay(self) -> RelayDependencies:
        """What the relay's handlers need."""
        return RelayDependencies(
            self.sessions, self.operator_client, self.settings, self.clock, self.actor
        )

    # --- the loop --------------------------------------------------------------------------

    def run_once(self) -> bool:
        """Claim and run due jobs once: the oldest due job, with its fellows if it runs in bulk.

        Classify jobs are run together (up to 1,000: one FaR call per sender), so are print
        addressing, record jobs and sets of deliveries; every other job alone, so that a slow
        one holds no other job's lease. A run carries the request id its jobs were queued
        under, and is timed for /metrics.

        Returns:
            Whether any job was claimed.
        """
        now = self.clock()
        jobs = self.queue.claim(self.worker_id, now=now, limit=1)
        if not jobs:
            return False
        [job] = jobs
        bulk = {
            CLASSIFY: (self._run_classify, MAX_BATCH),
            PRINT: (self._run_print, MAX_PRINT_BATCH),
            RECORD: (self._run_record, MAX_RECORD_BATCH),
            DELIVER: (self._run_deliver, self.settings.deliveries_per_claim),
        }.get(job.kind)
        self._outcomes, self._raised = {}, False
        started = time.perf_counter()
        if bulk is None:
            run_set = [job]
            with request_id_scope(job_request_id(job)):
                self._settle(job, self._run_one(job))
        else:
            run, most = bulk
            fellows = self.queue.claim(
                self.worker_id, now=now, limit=max(0, most - 1), kinds=[job.kind]
            )
            run_set = [job, *fellows]
            with request_id_scope(jobs_request_id(run_set)):
                if fellows:
                    logger.info(
                        "worker %s: %d %s jobs, queued by requests %s",
                        self.worker_id,
                        len(run_set),
                        job.kind,
                        origin_request_ids(run_set),
                    )
                run(run_set)
        seconds = time.perf_counter() - started
        max_attempts = self.settings.job_max_attempts
        observe_jobs(
            run_set, seconds, self._outcomes, max_attempts=max_attempts, raised=self._raised
        )
        return True

    def run_until(self, stop: threading.Event) -> None:
        """Loop until `stop` is set; wait a little whenever no job is due."""
        while not stop.is_set():
            try:
                busy = self.run_once()
            except OperationalError:
                # The database is busy or briefly away: wait and look again.
                logger.exception("worker %s: the database refused a claim", self.worker_id)
                busy = False
            if not busy:
                stop.wait(self.settings.worker_poll_seconds)

    def close(self) -> None:
        """Close the HTTP clients of this worker's own adapters (not shared ones)."""
        if self._owns_adapters:
            self.adapters.close()

    def _run_classify(self, jobs: list[ClaimedJob]) -> None:
        try:
            outcomes = classify_jobs(
                jobs,
                sessions=self.sessions,
                register=self._register_or_why_not(),
                settings=self.settings,
                clock=self.clock,
                actor=self.actor,
                owner=self.worker_id,
            )
            outcomes = {
                job_id: as_waiting(CLASSIFY, outcome) for job_id, outcome in outcomes.items()
            }
        except Exception as error:
            logger.exception("worker %s: classifying %d letters failed", self.worker_id, len(jobs))
            outcomes = {job.id: self._retry_after_error(job, error) for job in jobs}
        self._settle_all(outcomes)

    def _register_or_why_not(self) -> AddressRegister:
        """FaR's client, or one that says on every call why FaR cannot be set up.

        Without an address or an intermediary the letters wait with that reason, as in an
        outage, and their deadlines still hold. Any other error is the caller's to handle.
        """
        try:
            return self.register
        except FarUnavailableError as error:
            record_outcome(self.engine, FAR, error.reason, self.clock())
            return _Unavailable(error)

    def _settle_all(self, outcomes: dict[int, Retry | None]) -> None:
        self._outcomes.update(outcomes)
        settle(self.queue, self.worker_id, outcomes)

    def _run_print(self, jobs: list[ClaimedJob]) -> None:
        try:
            outcomes = address_jobs(
                jobs,
                sessions=self.sessions,
                source=self.address_source,
                settings=self.settings,
                clock=self.clock,
                actor=self.actor,
                owner=self.worker_id,
            )
        except Exception as error:
            logger.exception("worker %s: addressing %d letters failed", self.worker_id, len(jobs))
            outcomes = {job.id: self._retry_after_error(job, error) for job in jobs}
        self._settle_all(outcomes)

    def _run_record(self, jobs: list[ClaimedJob]) -> None:
        try:
            outcomes = record_jobs(
                jobs, sessions=self.sessions, settings=self.settings, clock=self.clock
            )
        except Exception as error:
            logger.exception("worker %s: recording %d letters failed", self.worker_id, len(jobs))
            outcomes = {job.id: self._retry_after_error(job, error) for job in jobs}
        self._settle_all(outcomes)

    def _run_deliver(self, jobs: list[ClaimedJob]) -> None:
        """Deliver a set of letters, several in flight at once, and record them in one go.

        The outcomes and the jobs' ends are written in one transaction by `deliver_jobs`;
        the leases are renewed while the set is on the wire (a slow operator may take
        minutes to answer them all).
        """

        def work() -> None:
            deliver_jobs(jobs, self.relay(), send=self.adapters.in_flight, owner=self.worker_id)

        try:
            self._with_leases_kept([job.id for job in jobs], work)
        except Exception as error:
            logger.exception("worker %s: delivering %d letters failed", self.worker_id, len(jobs))
            self._settle_all({job.id: self._retry_after_error(job, error) for job in jobs})

    def _run_one(self, job: ClaimedJob) -> Retry | None:
        """Run a job of a kind that runs alone; a raised error is a retry that counts."""
        try:
            return as_waiting(job.kind, self._handle(job))
        except Exception as error:
            logger.exception("worker %s: job %s (%s) failed", self.worker_id, job.id, job.kind)
            return self._retry_after_error(job, error)

    def _handle(self, job: ClaimedJob) -> Retry | None:  # noqa: PLR0911 (one per job kind)
        if job.kind == FALLBACK:
            return fallback_job(job, self.relay(), self.queue)
        if job.kind == PRINT_CLOSE:
            close_job(job, sessions=self.sessions, clock=self.clock)
            return None
        if job.kind == PRINT_HANDOVER:
            handover_batch(
                str((job.payload or {}).get("batch_id", "")),
                sessions=self.sessions,
                settings=self.settings,
                clock=self.clock,
                actor=self.actor,
            )
            return None
        if job.kind == REGISTER:
            return register_job(
                job,
                sessions=self.sessions,
                settings=self.settings,
                clock=self.clock,
                actor=self.actor,
                client=self.adapters.registration_client,
            )
        if job.kind == PICKUP:
            return self._with_leases_kept(
                [job.id],
                lambda: pickup_job(
                    job,
                    sessions=self.sessions,
                    settings=self.settings,
                    clock=self.clock,
                    protection=self.adapters.protection,
                ),
            )
        if job.kind == RECORDS_DAILY:
            return self._with_leases_kept([job.id], lambda: self._run_daily(job))
        if job.kind == CERTIFICATE_CHECK:
            return certificate_check_job(
                job,
                sessions=self.sessions,
                settings=self.settings,
                clock=self.clock,
                send_mail=certificate_mail_sender(self.settings),
            )
        if job.kind == MAIL_REPLY:
            return mail_reply_job(
                job, sessions=self.sessions, settings=self.settings, clock=self.clock
            )
        if job.kind == WEBHOOK:
            return webhook_job(
                job,
                sessions=self.sessions,
                client=self.webhook_client,
                settings=self.settings,
                clock=self.clock,
            )
        logger.error("worker %s: job %s has an unknown kind %r", self.worker_id, job.id, job.kind)
        return None

    def _run_daily(self, job: ClaimedJob) -> Retry | None:
        def export(day: dt.date) -> object:
            return write_registration_file(
                self.sessions, self.settings, day=day, clock=self.clock, actor=self.actor
            )

        return daily_job(
            job,
            sessions=self.sessions,
            settings=self.settings,
            clock=self.clock,
            actor=self.actor,
            export=export,
        )

    def _with_leases_kept(self, job_ids: list[int], work: Callable[[], T]) -> T:
        """Run work that may take longer than a lease, renewing the jobs' leases meanwhile."""
        return with_leases_kept(
            self.queue,
            self.worker_id,
            job_ids,
            work,
            interval=max(1.0, self.settings.lease_seconds / 3),
            clock=self.clock,
        )

    def _retry_after_error(self, job: ClaimedJob, error: Exception) -> Retry:
        self._raised = True
        return retry_after_error(job, error, self.settings, self.clock)

    def _settle(self, job: ClaimedJob, outcome: Retry | None) -> None:
        self._settle_all({job.id: outcome})


class _Unavailable:
    """An address register that cannot be used: every call raises why."""

    def __init__(self, error: FarUnavailableError) -> None:
        self.error = error

    def is_reachable(
        self, _sender_number: str, _recipient_ids: Sequence[str]
    ) -> dict[str, Reachability]:
        """Never answers: raises why FaR cannot be asked."""
        raise FarUnavailableError(str(self.error), self.error.reason)


class WorkerPool:
    """Worker threads inside one process (`utskick serve`), started and stopped together."""

    def __init__(
        self, settings: Settings, engine: Engine, threads: int, adapters: Adapters | None = None
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.count = threads
        # One set of adapters for every thread: one FaR cache and one pool per party.
        self._owns_adapters = adapters is None
        self.adapters = adapters or Adapters(settings, engine)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._workers: list[Worker] = []

    def start(self) -> None:
        """Start the threads (none when `threads` is 0), with the periodic jobs queued."""
        self._stop.clear()
        if self.count > 0:
            queue_periodic_jobs(self.settings, self.engine)
        for index in range(self.count):
            worker = Worker(
                self.settings,
                self.engine,
                worker_id=f"{socket.gethostname()}:{os.getpid()}:{index}",
                adapters=self.adapters,
            )
            thread = threading.Thread(
                target=worker.run_until,
                args=(self._stop,),
                name=f"utskick-worker-{index}",
                daemon=True,
            )
            self._workers.append(worker)
            self._threads.append(thread)
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Let the running jobs finish, then stop every thread."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()
        self._workers.clear()
        if self._owns_adapters:
            self.adapters.close()


def drain(settings: Settings, engine: Engine, *, until_idle: bool = True) -> None:
    """Run due jobs in the calling thread until none is due (or one round when not `until_idle`)."""
    worker = Worker(settings, engine, worker_id=f"drain:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    try:
        while worker.run_once() and until_idle:
            pass
    finally:
        worker.close()
