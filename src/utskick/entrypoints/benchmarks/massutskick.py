"""Massutskick: upload a table of N recipients to the web app and precheck every row.

A temporary installation runs the reference (FaR, the population register and the mailbox
operators) in this process on free ports, with the recipients registered straight in its
tables: half of them reachable at Brevlåda Syd or Nord, a fifth with a mailbox that does not
accept Exempelkommun (opted out), the rest without a mailbox; all are in the population
register with an address, and every number has a valid check digit. The first rows are the
demo world's Tolvan (reachable), Bertil (opted out) and David (no mailbox).

The web app runs as `utskick serve` without its embedded reference (pointed at this one) and
without worker threads, in a process of its own, so that its time and memory are its own. An
officer logs in, uploads the table as Swedish Excel saves it (`;`, Windows-1252) and starts
the precheck with a subject and a text with merge fields; the benchmark follows the page's
progress endpoint until every row is checked.

Measured: rows/s of the upload (until the table is stored and read) and of the precheck
(until the last row's outcome is written), the CPU seconds of the web app's process and of
this one (the reference answers FaR and the register here) beside the wall time, and the web
app's resident set (VmRSS when idle after login, its high-water mark VmHWM at the end). The
baseline, measured in the same run, is `read_table` alone on the same file, then the row
checks alone (`check_rows`, no FaR), each with its tracemalloc peak: the memory the table
costs when nothing else runs.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import os
import re
import secrets
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx2
from sqlalchemy.orm import Session

from utskick.db.engine import create_database_engine, session_factory
from utskick.desk.mass_mailing import MailingStore, Owner
from utskick.desk.mass_precheck import MassPrecheck
from utskick.desk.mass_rows import check_rows
from utskick.desk.mass_template import Template
from utskick.desk.ports import DeskPorts, PaperRenderer, RegisterFacts
from utskick.entrypoints.benchmarks.batch import (
    register_addresses,
    register_reachable,
    synthetic_personnummer,
)
from utskick.entrypoints.benchmarks.cleanup import benchmark_run, start_process, temporary_folder
from utskick.entrypoints.benchmarks.progress import Progress
from utskick.entrypoints.embedded import seed_demo_configuration
from utskick.letters.tables.columns import guess_mapping
from utskick.letters.tables.reading import read_table
from utskick.letters.vocabulary import NOT_REGISTERED, REACHABLE
from utskick.migrations import migrate
from utskick.reference.context import ReferenceContext, build_context
from utskick.reference.runner import ReferenceInfrastructure
from utskick.reference.runner import free_loopback_ports as _free_ports
from utskick.reference.settings import ReferenceSettings
from utskick.reference.store import FarSenderOptOut
from utskick.reference.world import EXEMPELKOMMUN
from utskick.switch.rule import DIGITAL, PAPER, Decision
from utskick.web.users import OFFICER, create_user

REACHABLE_SHARE = 5  # of every ten rows
OPTED_OUT_SHARE = 2  # of every ten rows; the rest have no mailbox
DEMO_ROWS = ("19121212-1212", "19750101-2475", "19661109-0827")  # Tolvan, Bertil, David
DEPARTMENT = "Socialtjänsten"
USERNAME = "massutskick-bench"
SUBJECT = "Information om {Ärende} till {Namn}"
BODY = "Hej {Namn}!\n\nDitt ärende {Ärende} gäller {Belopp} kronor.\n\nMed vänlig hälsning\n"
STARTUP_SECONDS = 90.0
POLL_SECONDS = 0.2
CHECK_TIMEOUT_SECONDS = 3600.0
_MEBIBYTE = 1024 * 1024
_PORT_SETTINGS = tuple(name for name in ReferenceSettings.model_fields if name.endswith("_port"))


def write_table(path: Path, rows: int, kinds: list[tuple[str, str]]) -> None:
    """The table of recipients as Swedish Excel saves it: `;` and Windows-1252."""
    with path.open("w", encoding="cp1252", newline="") as file:
        writer = csv.writer(file, delimiter=";")
        writer.writerow(("Personnummer", "Namn", "Ärende", "Belopp"))
        for number in range(rows):
            recipient, name = kinds[number]
            writer.writerow((recipient, name, f"SOC 2026-{number:05d}", f"{number % 9000 + 100}"))


def _recipients(context: ReferenceContext, rows: int) -> list[tuple[str, str]]:
    """Each row's recipient (as typed, with a hyphen) and name; registered in the reference."""
    synthetic = max(0, rows - len(DEMO_ROWS))
    kinds = [(number, "Demo Person") for number in DEMO_ROWS[:rows]]
    ids = list(synthetic_personnummer(0, synthetic, year=1957))
    reachable, opted_out = [], []
    for index, person in enumerate(ids):
        share = index % 10
        if share < REACHABLE_SHARE:
            reachable.append(person)
        elif share < REACHABLE_SHARE + OPTED_OUT_SHARE:
            opted_out.append(person)
        kinds.append((f"{person[:8]}-{person[8:]}", f"Åsa Ödman {index}"))
    register_reachable(context, reachable + opted_out)
    with context.sessions.begin() as session:
        session.add_all(
            FarSenderOptOut(recipient_id=person, sender_number=EXEMPELKOMMUN)
            for person in opted_out
        )
    register_addresses(context, ids)
    return kinds


class _StubPrecheck:
    """FaR as a pure function of the id: digital or paper, nothing kept between calls."""

    def check(
        self, sender_number: str, recipient_ids: Sequence[str], *, policy: str = ""
    ) -> list[Decision]:
        del sender_number, policy
        return [
            Decision(rid, DIGITAL, REACHABLE, "5566778899", "Brevlåda Syd")
            if int(rid[-2]) % 2
            else Decision(rid, PAPER, NOT_REGISTERED)
            for rid in recipient_ids
        ]


class _StubRegister:
    """The population register as a pure function: everyone found, with an address."""

    def facts(self, recipient_id: str) -> RegisterFacts:
        del recipient_id
        return RegisterFacts(found=True, has_address=True)

    def facts_of(self, recipient_ids: Sequence[str]) -> dict[str, RegisterFacts]:
        return {rid: RegisterFacts(found=True, has_address=True) for rid in recipient_ids}


def _pipeline(path: Path, home: Path) -> dict[str, object]:
    """The precheck's own work on the file (FaR and the register stubbed), with its memory.

    What the app adds to reading the table: the checks, the chunks, the outcome file and
    the saved counts. Its tracemalloc peak should not grow with the rows.
    """
    store = MailingStore(home)
    owner = Owner(EXEMPELKOMMUN, DEPARTMENT, USERNAME)
    with path.open("rb") as source:
        mailing = store.create(source, path.name, owner, dt.datetime.now(dt.UTC))
    mailing.mapping = guess_mapping(mailing.columns)
    mailing.subject_template, mailing.body_template = SUBJECT, BODY
    ports = DeskPorts(
        precheck=_StubPrecheck,
        register=_StubRegister,
        paper=_no_paper,
        protection=lambda: None,
    )
    precheck = MassPrecheck(
        store, ports, sender_name="Exempelkommun", today=dt.datetime.now(dt.UTC).date()
    )
    lock = store.take_lock(mailing.id)
    assert lock is not None
    tracemalloc.start()
    wall, cpu = time.perf_counter(), time.process_time()
    precheck.run(mailing, lock)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "rows_per_s": round(mailing.precheck.rows / seconds),
        "seconds": round(seconds, 3),
        "cpu_s": round(cpu_seconds, 3),
        "tracemalloc_peak_mib": round(peak / _MEBIBYTE, 2),
    }


def _no_paper() -> PaperRenderer:
    raise NotImplementedError("the precheck renders no paper")


def _baseline(path: Path) -> dict[str, object]:
    """`read_table` alone on the file, then the row checks alone, with their memory."""
    figures: dict[str, object] = {}
    for name in ("read_table", "check_rows"):
        tracemalloc.start()
        wall, cpu = time.perf_counter(), time.process_time()
        table = read_table(path)
        if name == "read_table":
            count = sum(1 for _row in table.rows())
        else:
            subject, body = (
                Template.parse(SUBJECT, table.columns),
                Template.parse(BODY, table.columns),
            )
            today = dt.datetime.now(dt.UTC).date()
            checks = check_rows(table, guess_mapping(table.columns), subject, body, today)
            count = sum(1 for _check in checks)
        seconds = time.perf_counter() - wall
        cpu_seconds = time.process_time() - cpu
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figures[name] = {
            "rows_per_s": round(count / seconds),
            "seconds": round(seconds, 3),
            "cpu_s": round(cpu_seconds, 3),
            "tracemalloc_peak_mib": round(peak / _MEBIBYTE, 2),
        }
    return figures


class _Process:
    """A running process's CPU seconds and memory, read from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._ticks = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        """User and system time so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._ticks  # utime, stime

    def reset_peak(self) -> None:
        """Start the high-water mark (VmHWM) anew from the current resident set (Linux 4.0+)."""
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def memory_mib(self, name: str) -> float:
        """`VmRSS` (now) or `VmHWM` (the high-water mark) in MiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        found = re.search(rf"^{name}:\s+(\d+) kB", status, re.MULTILINE)
        return round(int(found.group(1)) / 1024, 1) if found else 0.0


@dataclass(frozen=True)
class _Phase:
    seconds: float
    app_cpu_s: float
    here_cpu_s: float


@contextlib.contextmanager
def _measured(app: _Process) -> Iterator[list[_Phase]]:
    """Wall time and CPU seconds of the app's process and this one while the block runs."""
    result: list[_Phase] = []
    wall, app_cpu, here_cpu = time.perf_counter(), app.cpu_seconds(), time.process_time()
    yield result
    result.append(
        _Phase(
            time.perf_counter() - wall,
            app.cpu_seconds() - app_cpu,
            time.process_time() - here_cpu,
        )
    )


def _installation(home: Path, context: ReferenceContext, password: str) -> str:
    """The web app's database with the demo senders and one officer; its URL."""
    url = f"sqlite:///{home / 'utskick.db'}"
    engine = create_database_engine(url)
    try:
        migrate.upgrade(engine)
        now = dt.datetime.now(dt.UTC)
        with session_factory(engine).begin() as session:
            seed_demo_configuration(session, context.pki.directory, now)
            _add_officer(session, password, now)
    finally:
        engine.dispose()
    return url


def _add_officer(session: Session, password: str, now: dt.datetime) -> None:
    create_user(
        session,
        username=USERNAME,
        password=password,
        role=OFFICER,
        now=now,
        organisation=EXEMPELKOMMUN,
        department=DEPARTMENT,
        display_name="Bänk Handläggare",
    )


def _serve(
    stack: contextlib.ExitStack, home: Path, url: str, context: ReferenceContext
) -> tuple[str, _Process]:
    """`utskick serve` on this installation, without reference or workers; its URL and pid."""
    port = _free_ports(1)[0]
    env = dict(
        os.environ,
        UTSKICK_HOME=str(home),
        UTSKICK_DATABASE_URL=url,
        UTSKICK_FAR_URL=context.endpoints.far_url,
        UTSKICK_POPULATION_URL=context.endpoints.population_url,
        UTSKICK_TLS_CA_FILE=str(context.pki.ca_certificate),
        UTSKICK_EMBEDDED_REFERENCE="false",
        UTSKICK_WORKER_THREADS="0",
    )
    # A file, not a pipe: a pipe nobody reads would fill and stop the server.
    log = stack.enter_context((home / "serve.log").open("wb"))
    utskick = str(Path(sys.executable).with_name("utskick"))
    process = start_process(
        stack,
        [utskick, "serve", "--home", str(home), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"utskick serve stannade innan den var redo; se {home}/serve.log")
        with contextlib.suppress(httpx2.TransportError):
            if httpx2.get(base + "/health", timeout=1).status_code == httpx2.codes.OK:
                return base, _Process(process.pid)
        time.sleep(0.2)
    raise RuntimeError(f"utskick serve svarade inte på /health inom {STARTUP_SECONDS:.0f} s")


def _log_in(client: httpx2.Client, password: str) -> str:
    """Log the officer in; the CSRF token the session's requests carry."""
    login = client.get("/logga-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    if token is None:
        raise RuntimeError("inloggningssidan saknar CSRF-token")
    form = {"username": USERNAME, "password": password, "csrf_token": token.group(1)}
    if client.post("/logga-in", data=form).status_code != httpx2.codes.SEE_OTHER:
        raise RuntimeError("inloggningen misslyckades")
    page = client.get("/massutskick")
    page.raise_for_status()
    session_token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    if session_token is None:
        raise RuntimeError(f"inloggningen misslyckades: {page.url}")
    return session_token.group(1)


def _upload(client: httpx2.Client, token: str, table: Path) -> str:
    """Upload the table as the page's script does; the mailing's address."""
    with table.open("rb") as file:
        answer = client.post(
            "/massutskick",
            files={"fil": (table.name, file, "text/csv")},
            headers={"X-CSRF-Token": token, "Accept": "application/json"},
        )
    if answer.status_code != httpx2.codes.CREATED:
        raise RuntimeError(f"uppladdningen misslyckades: {answer.status_code} {answer.text}")
    location: str = answer.json()["location"]
    return location


def _check(
    client: httpx2.Client, token: str, location: str, rows: int, progress: Progress
) -> dict[str, int]:
    """Start the precheck and follow the progress endpoint until it is done; the counts."""
    form = {
        "recipient_column": "Personnummer",
        "message_type": "information",
        "subject": SUBJECT,
        "body": BODY,
    }
    started = client.post(f"{location}/kontroll", data=form, headers={"X-CSRF-Token": token})
    if started.status_code != httpx2.codes.SEE_OTHER:
        raise RuntimeError(f"kontrollen startade inte: {started.status_code} {started.text}")
    progress.phase("kontrollerar raderna", rows, "rader")
    deadline = time.monotonic() + CHECK_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        status = client.get(f"{location}/status").json()
        progress.update(status["precheck"]["rows"])
        if status["status"] == "checked":
            counts: dict[str, int] = status["precheck"]
            return counts
        if status["status"] != "checking":
            raise RuntimeError(f"kontrollen stannade: {status['status']}: {status['error']}")
        time.sleep(POLL_SECONDS)
    raise RuntimeError(f"kontrollen blev inte klar inom {CHECK_TIMEOUT_SECONDS:.0f} s")


@dataclass(frozen=True)
class _Measured:
    upload: _Phase
    precheck: _Phase
    counts: dict[str, int]
    idle_rss_mib: float
    peak_rss_mib: float
    table_bytes: int


def _reference(home: Path, rows: int) -> tuple[ReferenceContext, list[tuple[str, str]]]:
    ports = dict(zip(_PORT_SETTINGS, _free_ports(len(_PORT_SETTINGS)), strict=True))
    settings = {"home": home / "reference", "run_smtp_sink": False, **ports}
    context = build_context(ReferenceSettings.model_validate(settings))
    return context, _recipients(context, rows)


def _measure(home: Path, rows: int, progress: Progress) -> tuple[_Measured, dict[str, object]]:
    """Upload and precheck in a temporary installation in `home`; then the baseline."""
    progress.phase("förbereder referensen, mottagarna och tabellen")
    password = secrets.token_urlsafe(18)
    with contextlib.ExitStack() as stack:
        context, kinds = _reference(home, rows)
        stack.callback(context.engine.dispose)
        table = home / "mottagare.csv"
        write_table(table, rows, kinds)
        url = _installation(home, context, password)
        progress.phase("startar referensinfrastrukturen")
        infrastructure = ReferenceInfrastructure(context)
        stack.callback(infrastructure.stop)
        infrastructure.start_in_thread()
        progress.phase("startar utskick serve")
        base, app = _serve(stack, home, url, context)
        client = stack.enter_context(httpx2.Client(base_url=base, timeout=600))
        token = _log_in(client, password)
        idle = app.memory_mib("VmRSS")
        # The peak from now on is the upload's and the precheck's, not the start's.
        app.reset_peak()
        progress.phase(f"laddar upp {rows} rader")
        with _measured(app) as upload:
            location = _upload(client, token, table)
        with _measured(app) as precheck:
            counts = _check(client, token, location, rows, progress)
        measured = _Measured(
            upload[0],
            precheck[0],
            counts,
            idle,
            app.memory_mib("VmHWM"),
            table.stat().st_size,
        )
        progress.phase("stoppar utskick serve och referensen")
    progress.phase("mäter jämförelsen (read_table, check_rows och kontrollen i denna process)")
    baseline = _baseline(table)
    baseline["precheck_stubbed_far"] = _pipeline(table, home / "pipeline")
    return measured, baseline


def _phase_figures(phase: _Phase, rows: int) -> dict[str, float]:
    # Milliseconds kept: a small upload now takes a few of them, and two decimals said 0.0 s.
    return {
        "rows_per_s": round(rows / phase.seconds),
        "seconds": round(phase.seconds, 4),
        "app_cpu_s": round(phase.app_cpu_s, 4),
        "benchmark_and_reference_cpu_s": round(phase.here_cpu_s, 4),
    }


def run_massutskick_benchmark(rows: int = 10_000) -> dict[str, object]:
    """Upload a table of `rows` recipients to the web app and precheck every row.

    Returns:
        Rows/s, wall and CPU seconds of the upload and the precheck, the web app's resident
        set idle and at its peak, the outcome counts, and the baseline of this run.
    """
    with (
        benchmark_run("bench massutskick") as progress,
        temporary_folder(progress, "utskick-bench-massutskick-") as home,
    ):
        measured, baseline = _measure(home, rows, progress)
    return {
        "rows": rows,
        "table_kib": round(measured.table_bytes / 1024),
        "upload": _phase_figures(measured.upload, rows),
        "precheck": _phase_figures(measured.precheck, rows),
        "outcomes": {
            name: measured.counts[name]
            for name in ("digital", "paper", "unknown", "impossible", "problem")
        },
        "app_idle_rss_mib": measured.idle_rss_mib,
        "app_peak_rss_mib": measured.peak_rss_mib,
        "app_rss_growth_mib": round(measured.peak_rss_mib - measured.idle_rss_mib, 1),
        "baseline": baseline,
        "cpus": os.cpu_count(),
    }
