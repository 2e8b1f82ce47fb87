"""End to end: a batch of text letters from `utskick batch submit` until every one is terminal.

A temporary installation runs the embedded reference in this process on free ports. Extra
recipients are registered straight in the reference's FaR and mailbox tables so that the
reachable share (60 %) is spread over many distinct persons; the rest (40 %) are valid
personnummer that FaR does not know (paper, `not_registered`) and that the reference population
register knows with an address, so that they are addressed and gathered into print batches
(`batched`) as in a real run. The submitter and one
`utskick worker` process run as subprocesses, as in production, and their peak memory is read
from `/proc/<pid>/status` (VmHWM) while they run.

Whatever way the run ends (Ctrl-C and SIGTERM included), both processes and the reference's
servers are stopped and the temporary folder (or PostgreSQL schema) is removed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text

from utskick.db.engine import create_database_engine, normalise_url, session_factory
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
from utskick.letters.vocabulary import OUTCOME_KNOWN_STATES
from utskick.migrations import migrate
from utskick.reference.context import ReferenceContext, build_context
from utskick.reference.runner import ReferenceInfrastructure
from utskick.reference.runner import free_loopback_ports as _free_ports
from utskick.reference.settings import ReferenceSettings
from utskick.reference.store import FarAccount, MailboxAccount, PopulationPerson
from utskick.reference.world import EXEMPELKOMMUN, NORD, SYD

REACHABLE_SHARE = 0.6
LETTERS_PER_REACHABLE_PERSON = 4
POSTGRES_URL = os.environ.get("UTSKICK_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1/test")
BATCH_FILE = "batch.ndjson"
# How often the letters are counted for the progress line: while the submitter runs (its end
# is seen at once regardless), and while the worker finishes (the end of the clock).
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


def _luhn_digit(nine: str) -> str:
    total = 0
    for index, char in enumerate(nine):
        product = int(char) * (2 if index % 2 == 0 else 1)
        total += product // 10 + product % 10
    return str((10 - total % 10) % 10)


def synthetic_personnummer(start: int, count: int, *, year: int) -> Iterator[str]:
    """Valid 12-digit personnummer born in `year` (dates and check digits right), in order."""
    produced = 0
    day = dt.date(year, 1, 1)
    serial = start
    while produced < count:
        short = f"{day:%y%m%d}{serial % 1000:03d}"
        yield f"{day:%Y%m%d}{serial % 1000:03d}{_luhn_digit(short)}"
        produced += 1
        serial += 1
        if serial % 1000 == 0:
            day += dt.timedelta(days=1)


def register_reachable(context: ReferenceContext, ids: list[str]) -> None:
    """Give each id an active mailbox in FaR and at an operator (alternating Syd and Nord)."""
    with context.sessions.begin() as session:
        for index, recipient_id in enumerate(ids):
            operator = SYD if index % 2 == 0 else NORD
            session.add(
                FarAccount(
                    recipient_id=recipient_id,
                    operator_number=operator,
                    account_type="Secure",
                    pending=False,
                )
            )
            session.add(
                MailboxAccount(
                    operator_number=operator,
                    owner_id=recipient_id,
                    kind="person",
                    name=f"Testperson {index}",
                    active=True,
                )
            )


def register_addresses(context: ReferenceContext, ids: list[str]) -> None:
    """Give each id a postal address in the reference population register."""
    with context.sessions.begin() as session:
        session.add_all(
            PopulationPerson(
                id=person_id,
                given_name="Testperson",
                surname=f"Nummer {index}",
                street=f"Storgatan {index % 200 + 1}",
                postal_code="12345",
                city="Exempelstad",
            )
            for index, person_id in enumerate(ids)
        )


def write_letters(path: Path, letters: int, reachable: list[str], unreachable: list[str]) -> None:
    """Write the NDJSON batch: every fifth letter in five to reachable persons 3 of 5 times."""
    with path.open("w", encoding="utf-8") as file:
        for number in range(letters):
            if number % 5 < round(5 * REACHABLE_SHARE):
                recipient = reachable[number % len(reachable)]
            else:
                recipient = unreachable[number % len(unreachable)]
            line = {
                "recipient": recipient,
                "subject": f"Information nr {number}",
                "body": "Hej! Här kommer information från kommunen om din fastighetsavgift.",
                "protection_class": 1,
                "idempotency_key": f"bench-{number}",
            }
            file.write(json.dumps(line, ensure_ascii=False) + "\n")


class PeakMemory:
    """Follow a process's peak resident set (VmHWM) until it exits."""

    def __init__(self, pid: int) -> None:
        self._status = Path(f"/proc/{pid}/status")
        self.peak_kib = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _read(self) -> bool:
        """Take the process's VmHWM into the peak; False once the process is gone."""
        try:
            for line in self._status.read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak_kib = max(self.peak_kib, int(line.split()[1]))
        except (OSError, ValueError):
            return False
        return True

    def _watch(self) -> None:
        while self._read():
            time.sleep(0.05)

    def peak_mib(self) -> float:
        """The highest resident set seen, in MiB (read once more if the process still runs)."""
        self._read()
        return round(self.peak_kib / 1024, 1)


@dataclass(frozen=True, slots=True)
class _Measured:
    seconds_submit: float
    seconds_end_to_end: float
    submitter_peak_mib: float
    worker_peak_mib: float
    outcomes: dict[str, int]


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
    reachable_count = max(1, int(letters * REACHABLE_SHARE) // LETTERS_PER_REACHABLE_PERSON)
    reachable = list(synthetic_personnummer(0, reachable_count, year=1961))
    unreachable = list(synthetic_personnummer(0, max(1, letters // 4), year=1962))
    register_reachable(context, reachable)
    register_addresses(context, unreachable)
    write_letters(home / BATCH_FILE, letters, reachable, unreachable)
    return context, len(reachable)


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


def _work_until_known(
    engine: Engine, worker: subprocess.Popen[bytes], letters: int, progress: Progress
) -> None:
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
        if worker.poll() is not None:
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


def _submit_and_work(
    home: Path, env: dict[str, str], engine: Engine, letters: int, progress: Progress
) -> _Measured:
    """Run the submitter and one worker until every letter has an outcome; the timings."""
    with contextlib.ExitStack() as stack:
        started = time.perf_counter()
        worker = _start(stack, ["worker"], env, home / "worker.log")
        worker_memory = PeakMemory(worker.pid)
        submitter = _start(
            stack,
            ["batch", "submit", str(home / BATCH_FILE), "--sender", EXEMPELKOMMUN],
            env,
            home / "submit.log",
        )
        submitter_memory = PeakMemory(submitter.pid)
        progress.phase("tar emot breven (utskick batch submit)", letters, "brev")
        while True:
            try:
                submitter.wait(timeout=SUBMIT_POLL_SECONDS)  # returns the moment it exits
                break
            except subprocess.TimeoutExpired:
                progress.update(_count_letters(engine)[0])
        submitted = time.perf_counter()
        if submitter.returncode != 0:
            summary = (home / "submit.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"utskick batch submit misslyckades: {summary}")
        progress.phase("arbetar tills varje brev har ett utfall", letters, "brev")
        _work_until_known(engine, worker, letters, progress)
        finished = time.perf_counter()
        measured = _Measured(
            seconds_submit=submitted - started,
            seconds_end_to_end=finished - started,
            submitter_peak_mib=submitter_memory.peak_mib(),
            worker_peak_mib=worker_memory.peak_mib(),
            outcomes=_outcomes(engine),  # before the worker stops, as the clock did
        )
        progress.phase("stoppar utskick worker")
    return measured


def _measure(
    home: Path, letters: int, database: str, worker_threads: int, progress: Progress
) -> tuple[_Measured, int]:
    """The batch in a temporary installation in `home`; its timings and reachable persons."""
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
        infrastructure.start_in_thread()
        env = _environment(home, url, context, worker_threads)
        return _submit_and_work(home, env, engine, letters, progress), reachable


def run_batch_benchmark(
    letters: int = 10_000,
    database: str = "sqlite",
    worker_threads: int = 4,
    signing_seconds: float = 3.0,
) -> dict[str, object]:
    """Submit `letters` text letters with `utskick batch submit` and work them to the end.

    Args:
        letters: how many letters the batch holds.
        database: `sqlite` or `postgresql` (a fresh schema at UTSKICK_BENCH_POSTGRES_URL).
        worker_threads: threads of the one `utskick worker` process.
        signing_seconds: measuring time of the sign+seal-only comparison.

    Returns:
        Letters per second end to end, the peak memory of both processes, the outcomes, and
        the ratio to the sign+seal-only rate of this machine.
    """
    with benchmark_run("bench batch") as progress:
        with temporary_folder(progress, "utskick-bench-batch-") as home:
            measured, reachable = _measure(home, letters, database, worker_threads, progress)
        signing = run_signing_benchmark(seconds=signing_seconds)
    seconds = measured.seconds_end_to_end
    rate = letters / seconds
    digital_rate = measured.outcomes.get("delivered/reachable", 0) / seconds
    sign_rate = float(signing["messages_per_s"])
    return {
        "letters": letters,
        "database": database,
        "worker_threads": worker_threads,
        "distinct_reachable_persons": reachable,
        "seconds_end_to_end": round(seconds, 2),
        "seconds_submit": round(measured.seconds_submit, 2),
        "letters_per_s": round(rate, 1),
        "digital_letters_per_s": round(digital_rate, 1),
        "submitter_peak_rss_mib": measured.submitter_peak_mib,
        "worker_peak_rss_mib": measured.worker_peak_mib,
        "outcomes": measured.outcomes,
        "sign_seal_messages_per_s": sign_rate,
        "ratio_to_sign_seal": round(rate / sign_rate, 3),
        "digital_ratio_to_sign_seal": round(digital_rate / sign_rate, 3),
        "cpus": os.cpu_count(),
    }
