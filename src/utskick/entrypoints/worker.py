"""The job loop: claim due jobs with a lease, run their handler, settle them.

`run_worker` is the `utskick worker` process (threads per `worker_threads`, stops cleanly on
SIGTERM or SIGINT: the current jobs finish, nothing new is claimed). `WorkerPool` runs the
same loop on threads inside `utskick serve`; `drain` runs it in the calling thread until no
job is due (tests, one-off commands). A worker killed outright loses nothing: its leases run
out and other workers take the jobs again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from types import FrameType
from typing import TypeVar

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from utskick.db.engine import create_database_engine, session_factory
from utskick.db.home import prepare_home
from utskick.desk.mailin.reply_job import mail_reply_job
from utskick.entrypoints.bootstrap import Adapters
from utskick.entrypoints.periodic import queue_periodic_jobs
from utskick.intake.pickup.jobs import pickup_job
from utskick.jobs.dependencies import FAR, record_outcome
from utskick.jobs.queue import (
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
    backoff_seconds,
)
from utskick.letters.service import utc_now
from utskick.letters.webhooks import webhook_job
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
        webhook_client: httpx.Client | None = None,
        address_source: AddressSource | None = None,
        adapters: Adapters | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = session_factory(engine)
        self.queue = JobQueue(engine, settings.lease_seconds)
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
    def webhook_client(self) -> httpx.Client:
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
        addressing and record jobs; every other job alone, so that a slow delivery holds no
        other job's lease.

        Returns:
            Whether any job was claimed.
        """
        now = self.clock()
        jobs = self.queue.claim(self.worker_id, now=now, limit=1)
        if not jobs:
            return False
        [job] = jobs
        if job.kind == CLASSIFY:
            fellows = self.queue.claim(
                self.worker_id, now=now, limit=MAX_BATCH - 1, kinds=[CLASSIFY]
            )
            self._run_classify([job, *fellows])
        elif job.kind == PRINT:
            fellows = self.queue.claim(
                self.worker_id, now=now, limit=MAX_PRINT_BATCH - 1, kinds=[PRINT]
            )
            self._run_print([job, *fellows])
        elif job.kind == RECORD:
            fellows = self.queue.claim(
                self.worker_id, now=now, limit=MAX_RECORD_BATCH - 1, kinds=[RECORD]
            )
            self._run_record([job, *fellows])
        elif job.kind == DELIVER:
            fellows = self.queue.claim(
                self.worker_id,
                now=now,
                limit=max(0, self.settings.deliveries_per_claim - 1),
                kinds=[DELIVER],
            )
            self._run_deliver([job, *fellows])
        else:
            self._settle(job, self._run_one(job))
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
        done = [job_id for job_id, outcome in outcomes.items() if outcome is None]
        self.queue.complete(self.worker_id, done)
        for job_id, outcome in outcomes.items():
            if outcome is not None:
                self.queue.reschedule(self.worker_id, job_id, outcome)

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

    def _run_one(self, job: ClaimedJob) -> Retry | None:  # noqa: PLR0911 (one return per job kind)
        try:
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
        except Exception as error:
            logger.exception("worker %s: job %s (%s) failed", self.worker_id, job.id, job.kind)
            return self._retry_after_error(job, error)
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
        """Run work that may take longer than a lease, renewing the jobs' leases meanwhile.

        The daily records run disposes of and exports as much as is due, which may take
        minutes, and a set of deliveries waits for slow operators; without renewal another
        worker would take the same jobs when the lease ran out.
        """
        done = threading.Event()
        interval = max(1.0, self.settings.lease_seconds / 3)

        def keep() -> None:
            while not done.wait(interval):
                try:
                    if not self.queue.extend(self.worker_id, job_ids, now=self.clock()):
                        return
                except OperationalError:
                    logger.warning(
                        "worker %s: could not renew the leases of %d jobs",
                        self.worker_id,
                        len(job_ids),
                    )

        keeper = threading.Thread(target=keep, name=f"lease-{job_ids[0]}", daemon=True)
        keeper.start()
        try:
            return work()
        finally:
            done.set()
            keeper.join()

    def _retry_after_error(self, job: ClaimedJob, error: Exception) -> Retry:
        delay = backoff_seconds(
            job.attempts, self.settings.retry_base_seconds, self.settings.retry_max_seconds
        )
        return Retry(self.clock() + dt.timedelta(seconds=delay), f"{type(error).__name__}: {error}")

    def _settle(self, job: ClaimedJob, outcome: Retry | None) -> None:
        if outcome is None:
            self.queue.complete(self.worker_id, [job.id])
        else:
            self.queue.reschedule(self.worker_id, job.id, outcome)


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


def run_worker(settings: Settings, on_ready: Callable[[int], None] | None = None) -> None:
    """A worker process: `worker_threads` threads (at least one) until SIGTERM or SIGINT.

    `on_ready` is called with the number of threads once SIGTERM and SIGINT stop it cleanly
    (before that, a signal ends the process the default way: nothing has been claimed yet).
    """
    prepare_home(settings)
    engine = create_database_engine(settings.resolved_database_url())
    pool = WorkerPool(settings, engine, max(1, settings.worker_threads))
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        logger.info("worker: signal %s, finishing the current jobs", signum)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    pool.start()
    if on_ready is not None:
        on_ready(pool.count)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        pool.stop()
        engine.dispose()
