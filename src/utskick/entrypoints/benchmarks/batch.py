"""End to end: a batch of text letters from `utskick batch submit` until every one is terminal.

A temporary installation runs the embedded reference in this process on free ports. Extra
recipients are registered straight in the reference's FaR and mailbox tables so that the
reachable share (60 %) is spread over many distinct persons; the rest (40 %) are valid
personnummer that FaR does not know (paper, `not_registered`) and that the reference population
register knows with an address, so that they are addressed and gathered into print batches
(`batched`) as in a real run. The submitter and one
`utskick worker` process run as subprocesses, as in production, and their peak memory is read
from `/proc/<pid>/status` (VmHWM) while they run.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import Engine, create_engine, func, select, text

from utskick.db.engine import create_database_engine, normalise_url, session_factory
from utskick.entrypoints.embedded import seed_demo_configuration
from utskick.letters.events import OUTCOME_KNOWN_STATES
from utskick.letters.models import Letter
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
_PORT_SETTINGS = (
    "far_port",
    "population_port",
    "syd_service_port",
    "syd_ui_port",
    "nord_service_port",
    "nord_ui_port",
    "sink_page_port",
    "smtp_port",
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
        self.pid = pid
        self.peak_kib = 0
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        status = Path(f"/proc/{self.pid}/status")
        while True:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kib = max(self.peak_kib, int(line.split()[1]))
            except (OSError, ValueError):
                return
            time.sleep(0.05)

    def peak_mib(self) -> float:
        """The highest resident set seen, in MiB."""
        self._thread.join(timeout=1)
        return round(self.peak_kib / 1024, 1)


def _open_letters(engine: Engine) -> tuple[int, int]:
    with session_factory(engine)() as session:
        total = session.scalar(select(func.count(Letter.id))) or 0
        open_count = (
            session.scalar(
                select(func.count(Letter.id)).where(Letter.state.not_in(OUTCOME_KNOWN_STATES))
            )
            or 0
        )
    return total, open_count


def _outcomes(engine: Engine) -> dict[str, int]:
    with session_factory(engine)() as session:
        rows = session.execute(
            select(Letter.state, Letter.reason, func.count(Letter.id)).group_by(
                Letter.state, Letter.reason
            )
        ).all()
    return {f"{state}/{reason}": count for state, reason, count in rows}


def _database(kind: str, home: Path) -> tuple[str, Engine, str | None]:
    if kind == "sqlite":
        url = f"sqlite:///{home / 'utskick.db'}"
        return url, create_database_engine(url), None
    schema = f"utskick_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_url(POSTGRES_URL))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    return url, create_database_engine(url), schema


def _drop_schema(schema: str) -> None:
    admin = create_engine(normalise_url(POSTGRES_URL))
    with admin.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def run_batch_benchmark(  # noqa: PLR0915 (one measured run, set up and torn down in order)
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
    from utskick.entrypoints.benchmarks.signing import run_signing_benchmark  # noqa: PLC0415

    utskick = str(Path(sys.executable).with_name("utskick"))
    with tempfile.TemporaryDirectory(prefix="utskick-bench-") as folder:
        home = Path(folder)
        ports = dict(zip(_PORT_SETTINGS, _free_ports(len(_PORT_SETTINGS)), strict=True))
        context = build_context(
            ReferenceSettings.model_validate({"home": home, "run_smtp_sink": False, **ports})
        )
        reachable_count = max(1, int(letters * REACHABLE_SHARE) // LETTERS_PER_REACHABLE_PERSON)
        reachable = list(synthetic_personnummer(0, reachable_count, year=1961))
        unreachable = list(synthetic_personnummer(0, max(1, letters // 4), year=1962))
        register_reachable(context, reachable)
        register_addresses(context, unreachable)
        batch_file = home / "batch.ndjson"
        write_letters(batch_file, letters, reachable, unreachable)
        url, engine, schema = _database(database, home)
        infrastructure = ReferenceInfrastructure(context)
        worker: subprocess.Popen[bytes] | None = None
        worker_log = None
        try:
            migrate.upgrade(engine)
            with session_factory(engine).begin() as session:
                seed_demo_configuration(session, context.pki.directory, dt.datetime.now(dt.UTC))
            infrastructure.start_in_thread()
            env = dict(
                os.environ,
                UTSKICK_HOME=str(home),
                UTSKICK_DATABASE_URL=url,
                UTSKICK_FAR_URL=context.endpoints.far_url,
                UTSKICK_POPULATION_URL=context.endpoints.population_url,
                UTSKICK_TLS_CA_FILE=str(context.pki.ca_certificate),
                UTSKICK_WORKER_THREADS=str(worker_threads),
                UTSKICK_EMBEDDED_REFERENCE="false",
            )
            started = time.perf_counter()
            # The worker's log goes to a file: a pipe nobody reads would fill and stop it.
            worker_log = (home / "worker.log").open("wb")
            worker = subprocess.Popen(  # noqa: S603 (our own command)
                [utskick, "worker"], env=env, stdout=worker_log, stderr=subprocess.STDOUT
            )
            worker_memory = PeakMemory(worker.pid)
            submitter = subprocess.Popen(  # noqa: S603
                [utskick, "batch", "submit", str(batch_file), "--sender", EXEMPELKOMMUN],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            submitter_memory = PeakMemory(submitter.pid)
            summary, _ = submitter.communicate()
            submitted = time.perf_counter()
            if submitter.returncode != 0:
                raise RuntimeError(f"utskick batch submit misslyckades: {summary.decode()}")
            while True:
                total, open_count = _open_letters(engine)
                if total >= letters and open_count == 0:
                    break
                if worker.poll() is not None:
                    raise RuntimeError("utskick worker stannade under mätningen")
                time.sleep(0.2)
            finished = time.perf_counter()
            worker_peak = worker_memory.peak_mib()
            outcomes = _outcomes(engine)
        finally:
            if worker is not None and worker.poll() is None:
                worker.terminate()
                worker.wait(timeout=30)
            if worker_log is not None:
                worker_log.close()
            infrastructure.stop()
            engine.dispose()
            if schema is not None:
                _drop_schema(schema)
    seconds = finished - started
    signing = run_signing_benchmark(seconds=signing_seconds)
    rate = letters / seconds
    digital_rate = outcomes.get("delivered/reachable", 0) / seconds
    sign_rate = float(signing["messages_per_s"])
    return {
        "letters": letters,
        "database": database,
        "worker_threads": worker_threads,
        "distinct_reachable_persons": len(reachable),
        "seconds_end_to_end": round(seconds, 2),
        "seconds_submit": round(submitted - started, 2),
        "letters_per_s": round(rate, 1),
        "digital_letters_per_s": round(digital_rate, 1),
        "submitter_peak_rss_mib": submitter_memory.peak_mib(),
        "worker_peak_rss_mib": worker_peak,
        "outcomes": outcomes,
        "sign_seal_messages_per_s": sign_rate,
        "ratio_to_sign_seal": round(rate / sign_rate, 3),
        "digital_ratio_to_sign_seal": round(digital_rate / sign_rate, 3),
        "cpus": os.cpu_count(),
    }
