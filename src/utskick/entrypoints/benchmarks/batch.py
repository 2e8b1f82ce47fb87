"""End to end: a batch of text letters from `utskick batch submit` until every one has an outcome.

A temporary installation runs the reference infrastructure (FaR, population register, both
mailbox operators) on free ports: in processes of its own when the reference can
(`ReferenceInfrastructure.start_in_processes`), else on threads of this process. Extra
recipients are registered straight in the reference's tables, in the mix `batch_mix`
describes: 60 % reachable, 25 % paper (addressed from the population register and gathered
into print batches), 15 % that cannot be sent (a pending account or a blocked sender for a
digital-only notice, a deceased person for paper). The submitter and `--workers` processes of
`utskick worker` run as subprocesses, as in production.

The clock runs from starting them until the benchmark sees every letter with an outcome
(polled every 0.2 s). At that moment it reads what the connector's processes spent
(`batch_processes`): CPU from `/proc` (the submitter, ended by then, from its reaping),
database driver calls from each child's own count (`UTSKICK_STATEMENT_LOG`), and peak memory
(VmHWM) followed all along. The CPU figures include each process's start-up (interpreter and
imports), which is part of what a run costs. The reference's CPU is read from `/proc` for its
processes; when it runs on threads here, it is this process's whole CPU over the run (its
polling and reading included), and `reference_cpu_source` says which; per delivery means
divided by the letters delivered digitally (most of the reference's work is the operators'
verify-and-store).

Whatever way the run ends (Ctrl-C and SIGTERM included), every process and the reference's
servers are stopped and the temporary folder (or PostgreSQL schema) is removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text

from utskick.db.engine import (
    STATEMENT_LOG_VARIABLE,
    create_database_engine,
    normalise_url,
    session_factory,
)
from utskick.entrypoints.benchmarks.batch_mix import (
    REACHABLE,
    register_addresses,
    register_reachable,
    register_recipients,
    synthetic_personnummer,
    write_letters,
)
from utskick.entrypoints.benchmarks.batch_processes import (
    PeakMemory,
    Polled,
    ReferenceCpu,
    WorkerGroup,
    cpu_seconds,
    reap_with_cpu,
    statements_at,
)
from utskick.entrypoints.benchmarks.cleanup import (
    benchmark_run,
    held_interrupts,
    start_process,
    temporary_folder,
)
from utskick.entrypoints.benchmarks.progress import Progress
from utskick.entrypoints.benchmarks.signing import run_signing_benchmark
from utskick.entrypoints.embedded import seed_demo_configuration
from utskick.letters.models import Letter, LetterEvent
from utskick.letters.vocabulary import DELIVERED, OUTCOME_KNOWN_STATES
from utskick.migrations import migrate
from utskick.reference.context import ReferenceContext, build_context
from utskick.reference.runner import ReferenceInfrastructure
from utskick.reference.runner import free_loopback_ports as _free_ports
from utskick.reference.settings import ReferenceSettings
from utskick.reference.world import EXEMPELKOMMUN

# Other benchmarks build their recipients with these.
__all__ = [
    "register_addresses",
    "register_reachable",
    "run_batch_benchmark",
    "synthetic_personnummer",
]

POSTGRES_URL = os.environ.get("UTSKICK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")
BATCH_FILE = "batch.ndjson"
STATEMENT_LOG = "statements"
SUBMITTER = "submitter"
# How often the letters are counted for the progress line: while the submitter runs (its end
# is seen at once regardless), and while the workers finish (the end of the clock).
SUBMIT_POLL_SECONDS = 0.5
WORK_POLL_SECONDS = 0.2
# No letter getting an outcome for this long means the run is stuck (e.g. FaR failing).
STALLED_SECONDS = 120.0
_PORT_SETTINGS = (
    "far_port",
    "population_port",
    "syd_service_port",
    "syd_ui_port",
    "nord_service_port",
    "nord_ui_port",
    "sink_page_port",
    "smtp_port",
    "diarium_port",
)


@dataclass(frozen=True, slots=True)
class _Measured:
    seconds_submit: float
    seconds_end_to_end: float
    outcomes: dict[str, int]
    peak_rss_mib: dict[str, float]
    cpu_seconds: dict[str, float]  # the connector's processes, by name
    reference_cpu_seconds: dict[str, float]  # over the run, by process (or this one)
    # database driver calls by process: in all, and by statement shape (`UPDATE letter`)
    statements: dict[str, tuple[int, dict[str, int]]]


def _count_letters(engine: Engine) -> tuple[int, int]:
    """How many letters there are, and how many of them have an outcome."""
    with session_factory(engine)() as session:
        total = session.scalar(select(func.count(Letter.id))) or 0
        known = (
            session.scalar(
                select(func.count(Letter.id)).where(Letter.state.in_(OUTCOME_KNOWN_STATES))
            )
            or 0
        )
    return total, known


def _outcomes(engine: Engine) -> dict[str, int]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(Letter.state, Letter.reason, func.count(Letter.id)).group_by(
                Letter.state, Letter.reason
            )
        ).all()
    return {f"{state}/{reason}": count for state, reason, count in rows}


@contextlib.contextmanager
def _database(kind: str, home: Path, progress: Progress) -> Iterator[tuple[str, Engine]]:
    """The connector's database: SQLite in `home`, or a fresh PostgreSQL schema, dropped after."""
    if kind == "sqlite":
        url = f"sqlite:///{home / 'utskick.db'}"
        engine = create_database_engine(url)
        try:
            yield url, engine
        finally:
            engine.dispose()
        return
    schema = f"utskick_bench_{uuid.uuid4().hex[:8]}"
    with contextlib.ExitStack() as stack:
        admin = create_engine(normalise_url(POSTGRES_URL))
        stack.callback(admin.dispose)
        with held_interrupts():
            _execute(admin, f'CREATE SCHEMA "{schema}"')
            stack.callback(_execute, admin, f'DROP SCHEMA "{schema}" CASCADE')
        progress.note(f"Tillfälligt schema: {schema} (tas bort när mätningen slutar)")
        separator = "&" if "?" in POSTGRES_URL else "?"
        url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
        engine = create_database_engine(url)
        stack.callback(engine.dispose)
        yield url, engine


def _execute(engine: Engine, statement: str) -> None:
    with held_interrupts(), engine.begin() as connection:
        connection.execute(text(statement))


def _reference(home: Path, letters: int) -> tuple[ReferenceContext, int]:
    """The reference's data in `home`, its extra persons registered; and how many can be reached."""
    ports = dict(zip(_PORT_SETTINGS, _free_ports(len(_PORT_SETTINGS)), strict=True))
    context = build_context(
        ReferenceSettings.model_validate({"home": home, "run_smtp_sink": False, **ports})
    )
    persons = register_recipients(context, letters)
    write_letters(home / BATCH_FILE, letters, persons)
    return context, len(persons[REACHABLE])


def _environment(
    home: Path, url: str, context: ReferenceContext, worker_threads: int
) -> dict[str, str]:
    return dict(
        os.environ,
        UTSKICK_HOME=str(home),
        UTSKICK_DATABASE_URL=url,
        UTSKICK_FAR_URL=context.endpoints.far_url,
        UTSKICK_POPULATION_URL=context.endpoints.population_url,
        UTSKICK_TLS_CA_FILE=str(context.pki.ca_certificate),
        UTSKICK_WORKER_THREADS=str(worker_threads),
        UTSKICK_EMBEDDED_REFERENCE="false",
        **{STATEMENT_LOG_VARIABLE: str(home / STATEMENT_LOG)},
    )


def _start(
    stack: contextlib.ExitStack, arguments: list[str], env: dict[str, str], log: Path
) -> subprocess.Popen[bytes]:
    """Start `utskick <arguments>`, its output to `log`; it is stopped when `stack` closes."""
    # A file, not a pipe: a pipe nobody reads while the benchmark waits would fill and stop it.
    output = stack.enter_context(log.open("wb"))
    return start_process(
        stack,
        [str(Path(sys.executable).with_name("utskick")), *arguments],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )


def _work_until_known(engine: Engine, workers: Polled, letters: int, progress: Progress) -> None:
    """Wait until every letter has an outcome; give up when none gets one for a long while.

    A worker whose every call fails (FaR answering errors) retries for ever; the benchmark
    must then stop with the reason rather than wait with it.
    """
    last_known, last_change = -1, time.monotonic()
    while True:
        total, known = _count_letters(engine)
        progress.update(known)
        if total >= letters and known == total:
            return
        if workers.poll() is not None:
            raise RuntimeError("utskick worker stannade under mätningen")
        if known != last_known:
            last_known, last_change = known, time.monotonic()
        elif time.monotonic() - last_change > STALLED_SECONDS:
            raise RuntimeError(
                f"inget brev fick något utfall på {STALLED_SECONDS:.0f} s ({known} av {total} "
                f"klara); senast: {_last_event_detail(engine)}"
            )
        time.sleep(WORK_POLL_SECONDS)


def _last_event_detail(engine: Engine) -> str:
    """The newest event's reason and Swedish detail, to say why the letters are stuck."""
    with session_factory(engine)() as session:
        event = session.scalars(
            select(LetterEvent).order_by(LetterEvent.id.desc()).limit(1)
        ).first()
        if event is None:
            return "inga händelser"
        return f"{event.state} ({event.reason}): {event.detail}"


def _submitted(
    submitter: subprocess.Popen[bytes], home: Path, engine: Engine, progress: Progress
) -> float:
    """Wait for the submitter to end, counting the letters it stored; the CPU it used."""
    while True:
        try:
            used = reap_with_cpu(submitter, SUBMIT_POLL_SECONDS)  # returns the moment it exits
            break
        except subprocess.TimeoutExpired:
            progress.update(_count_letters(engine)[0])
    if submitter.returncode != 0:
        summary = (home / "submit.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"utskick batch submit misslyckades: {summary}")
    return used


def _submit_and_work(
    home: Path,
    env: dict[str, str],
    engine: Engine,
    *,
    letters: int,
    workers: int,
    reference: ReferenceCpu,
    progress: Progress,
) -> _Measured:
    """Run the submitter and the workers until every letter has an outcome; the figures."""
    with contextlib.ExitStack() as stack:
        reference_before = reference.read()
        started = time.perf_counter()
        # The workers first: they are waiting when the first letters arrive, as in production.
        working = {
            f"worker-{number}": _start(stack, ["worker"], env, home / f"worker-{number}.log")
            for number in range(1, workers + 1)
        }
        submitter = _start(
            stack,
            ["batch", "submit", str(home / BATCH_FILE), "--sender", EXEMPELKOMMUN],
            env,
            home / "submit.log",
        )
        children = {SUBMITTER: submitter, **working}
        memory = {name: PeakMemory(process.pid) for name, process in children.items()}
        progress.phase("tar emot breven (utskick batch submit)", letters, "brev")
        cpu = {SUBMITTER: _submitted(submitter, home, engine, progress)}
        submitted = time.perf_counter()
        progress.phase("arbetar tills varje brev har ett utfall", letters, "brev")
        _work_until_known(engine, WorkerGroup(list(working.values())), letters, progress)
        # The moment of the last outcome: what the processes spent is read now, before the
        # workers' idle polling adds to it.
        finished, moment = time.perf_counter(), time.monotonic()
        cpu |= {name: cpu_seconds(process.pid) for name, process in working.items()}
        reference_after = reference.read()
        progress.phase("läser av processerna")
        measured = _Measured(
            seconds_submit=submitted - started,
            seconds_end_to_end=finished - started,
            outcomes=_outcomes(engine),  # before the workers stop, as the clock did
            peak_rss_mib={name: watch.peak_mib() for name, watch in memory.items()},
            cpu_seconds=cpu,
            reference_cpu_seconds={
                name: seconds - reference_before.get(name, 0.0)
                for name, seconds in reference_after.items()
            },
            statements={
                name: statements_at(home / STATEMENT_LOG, process.pid, moment)
                for name, process in children.items()
            },
        )
        progress.phase("stoppar utskick worker")
    return measured


def _measure(
    home: Path,
    progress: Progress,
    *,
    letters: int,
    database: str,
    workers: int,
    worker_threads: int,
) -> tuple[_Measured, int, str]:
    """The batch in a temporary installation in `home`.

    Returns:
        The figures, how many persons can be reached, and where the reference ran.
    """
    progress.phase("förbereder referensen, mottagarna och breven")
    with contextlib.ExitStack() as stack:
        context, reachable = _reference(home, letters)
        stack.callback(context.engine.dispose)
        url, engine = stack.enter_context(_database(database, home, progress))
        migrate.upgrade(engine)
        with session_factory(engine).begin() as session:
            seed_demo_configuration(session, context.pki.directory, dt.datetime.now(dt.UTC))
        progress.phase("startar referensinfrastrukturen")
        infrastructure = ReferenceInfrastructure(context)
        stack.callback(infrastructure.stop)
        reference = ReferenceCpu(infrastructure)
        env = _environment(home, url, context, worker_threads)
        measured = _submit_and_work(
            home,
            env,
            engine,
            letters=letters,
            workers=workers,
            reference=reference,
            progress=progress,
        )
        return measured, reachable, reference.source


def _per(amount: float, count: int, digits: int) -> float | None:
    return round(amount / count, digits) if count else None


def run_batch_benchmark(
    letters: int = 10_000,
    database: str = "sqlite",
    workers: int = 1,
    worker_threads: int = 4,
    signing_seconds: float = 3.0,
) -> dict[str, object]:
    """Submit `letters` text letters with `utskick batch submit` and work them to the end.

    Args:
        letters: how many letters the batch holds.
        database: `sqlite` or `postgresql` (a fresh schema at UTSKICK_BENCH_POSTGRES_URL).
        workers: how many `utskick worker` processes run.
        worker_threads: threads of each `utskick worker` process.
        signing_seconds: measuring time of the sign+seal-only comparison.

    Returns:
        Letters and digital deliveries per second end to end, their ratio to the
        sign+seal-only rate of this machine in the same run, CPU and database driver calls per
        letter (and by process), the reference's CPU per delivery, peak memory by process,
        the outcomes, and the load average when the run began.
    """
    load_average = [round(load, 2) for load in os.getloadavg()]
    with benchmark_run("bench batch") as progress:
        with temporary_folder(progress, "utskick-bench-batch-") as home:
            measured, reachable, reference_source = _measure(
                home,
                progress,
                letters=letters,
                database=database,
                workers=workers,
                worker_threads=worker_threads,
            )
        signing = run_signing_benchmark(seconds=signing_seconds)
    return _result(
        measured,
        letters=letters,
        database=database,
        workers=workers,
        worker_threads=worker_threads,
        reachable=reachable,
        reference_source=reference_source,
        sign_rate=float(signing["messages_per_s"]),
        load_average=load_average,
    )


def _result(
    measured: _Measured,
    *,
    letters: int,
    database: str,
    workers: int,
    worker_threads: int,
    reachable: int,
    reference_source: str,
    sign_rate: float,
    load_average: list[float],
) -> dict[str, object]:
    seconds = measured.seconds_end_to_end
    rate = letters / seconds
    delivered = sum(
        count for outcome, count in measured.outcomes.items() if outcome.split("/")[0] == DELIVERED
    )
    statements = sum(total for total, _shapes in measured.statements.values())
    by_shape: dict[str, int] = {}
    for _total, shapes in measured.statements.values():
        for shape, count in shapes.items():
            by_shape[shape] = by_shape.get(shape, 0) + count
    return {
        "letters": letters,
        "database": database,
        "workers": workers,
        "worker_threads": worker_threads,
        "distinct_reachable_persons": reachable,
        "seconds_end_to_end": round(seconds, 2),
        "seconds_submit": round(measured.seconds_submit, 2),
        "letters_per_s": round(rate, 1),
        "digital_per_s": round(delivered / seconds, 1),
        "sign_seal_messages_per_s": sign_rate,
        "ratio": round(rate / sign_rate, 3),
        "connector_cpu_ms_per_letter": _per(1000 * sum(measured.cpu_seconds.values()), letters, 2),
        "reference_cpu_ms_per_delivery": _per(
            1000 * sum(measured.reference_cpu_seconds.values()), delivered, 2
        ),
        "reference_cpu_source": reference_source,
        "statements_per_letter": _per(statements, letters, 2),
        "statements_by_process": {
            name: total for name, (total, _shapes) in measured.statements.items()
        },
        "statements_by_shape": dict(sorted(by_shape.items(), key=lambda item: -item[1])),
        "cpu_seconds_by_process": {
            name: round(used, 2)
            for name, used in (measured.cpu_seconds | measured.reference_cpu_seconds).items()
        },
        "peak_rss_mib": measured.peak_rss_mib,
        "outcomes": measured.outcomes,
        "load_average": load_average,
        "cpus": os.cpu_count(),
    }
