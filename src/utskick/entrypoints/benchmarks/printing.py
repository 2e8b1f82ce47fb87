"""One-page paper letters: rendering, addressing, and handing a batch to the vendor's drop.

Three measurements, each on one core:

- **Rendering only**: `LetterRenderer.render` (one PDF per letter) and `render_merged` (one
  PDF for all) of ready-made letters, in this process after one warm-up letter.
- **Addressing**: `address_jobs` for `print` jobs of letters in state `paper`, 1,000 jobs at
  a time as the worker claims them, each job completed in the chunk that records its letter,
  with an in-memory register (`FixedAddressSource`): the time is the print service's own
  (SQLite transactions, batching, events, completing the jobs), not the register's nor the
  claims'. This step also builds the closed batch that the hand-over then writes.
- **Hand-over**: `handover_batch` of a closed batch of N letters on SQLite in a temporary
  home, once with one PDF per letter and once merged, each in a fresh Python process that
  reports its time and its peak resident set (VmHWM) before and after, so that the memory a
  growing batch costs is visible.

"Per core" is per CPU second: each step reports `letters_per_cpu_s`, its letters over the CPU
time (user and system, all threads: the hand-over's fsync threads too) of the process that
did it, and `target_met` compares the slowest hand-over's CPU rate with `TARGET_PER_CORE`. On
a busy machine the wall-clock rate (`letters_per_s`) also counts the time the process waited
for a core, so it is reported beside it with the load average before and after the run; on
an idle machine the two differ by the time spent waiting for the disk.

"Hours for 200,000 letters on 2 cores" is 200,000 ÷ (letters/s × 2) ÷ 3,600 (wall clock):
the nightly invoice run of the issue, split over two worker processes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.orm import Session, sessionmaker

from utskick.db.engine import create_database_engine, session_factory
from utskick.entrypoints.benchmarks.batch import synthetic_personnummer
from utskick.entrypoints.benchmarks.cleanup import benchmark_run, start_process, temporary_folder
from utskick.entrypoints.benchmarks.progress import Progress
from utskick.jobs.models import Job
from utskick.jobs.queue import PRINT, JobQueue
from utskick.letters.models import Letter
from utskick.letters.vocabulary import PAPER
from utskick.migrations import migrate
from utskick.printing.addresses import FixedAddressSource, RegisterEntry
from utskick.printing.handover import handover_batch, window_of
from utskick.printing.models import CLOSED, PrintBatch
from utskick.printing.render import LetterRenderer, PrintLetter
from utskick.printing.service import MAX_BATCH, address_jobs
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.settings import PrintVendor, Settings

EXEMPELKOMMUN = "2021004748"
DEPARTMENT = "Samhällsbyggnad"
VENDOR = "tryckeriet"
_OWNER = "bench"
NIGHT_RUN_LETTERS = 200_000
CORES = 2
TARGET_PER_CORE = 300  # letters handed over per second on one core
# The file modes of a hand-over: one PDF per letter, or one merged PDF for the batch.
_MODES = {"per_letter": "en PDF per brev", "merged": "en sammanslagen PDF"}
SUBJECT = "Faktura för vatten och avlopp"
# About 150 words: one A4 page with the letter head, as a typical invoice letter.
BODY = (
    "Hej!\n\n"
    "Här kommer din faktura för vatten och avlopp för perioden januari till mars. Beloppet "
    "dras automatiskt om du har autogiro; annars betalar du till bankgiro 123-4567 senast "
    "den 30 april. Ange fakturanumret som referens när du betalar.\n\n"
    "Förbrukningen är beräknad på din senaste mätarställning. Om du tycker att den inte "
    "stämmer kan du lämna en ny avläsning på kommunens webbplats eller ringa kundcenter. "
    "Vi rättar då fakturan och skickar en ny.\n\n"
    "Från den 1 juli höjs brukningsavgiften med tre procent enligt beslut i "
    "kommunfullmäktige. Beslutet och den nya taxan finns på kommunens webbplats.\n\n"
    "Har du frågor om fakturan är du välkommen att kontakta oss på telefon eller e-post. "
    "Tänk på att aldrig lämna ut dina bankuppgifter till någon som ringer och säger sig "
    "vara från kommunen.\n\n"
    "Med vänliga hälsningar\nVA-avdelningen"
)


def _per_hour_figures(rate: float) -> dict[str, float]:
    return {
        "letters_per_s": round(rate, 1),
        "hours_for_200k_on_2_cores": round(NIGHT_RUN_LETTERS / (rate * CORES) / 3600, 3),
    }


def _timed_figures(letters: int, seconds: float, cpu_seconds: float) -> dict[str, float]:
    """Rates by the wall clock and per CPU second (see the module text)."""
    return {
        **_per_hour_figures(letters / seconds),
        "letters_per_cpu_s": round(letters / cpu_seconds, 1),
    }


def sample_letter(number: int, created: dt.datetime) -> PrintLetter:
    """A one-page letter to an ordinary address, the same in every run but its number."""
    return PrintLetter(
        letter_id=str(uuid.UUID(int=number)),
        sender_name="Exempelkommun",
        department=DEPARTMENT,
        letter_date=created.date(),
        created_at=created,
        subject=f"{SUBJECT} nr {number}",
        body=BODY,
        address_lines=(
            f"Mottagare {number}",
            f"Storgatan {number % 200 + 1}",
            "123 45 Exempelstad",
        ),
        case_number=f"VA 2026-{number:06d}",
        footer_lines=(
            "Kontakta Exempelkommuns kundcenter, 0771-00 00 00.",
            "https://exempel.test/kontakt",
        ),
    )


def measure_rendering(letters: int, progress: Progress) -> dict[str, object]:
    """Letters/s of `render` (one file each) and of `render_merged` (one file for all)."""
    created = dt.datetime(2026, 3, 31, 8, tzinfo=dt.UTC)
    renderer = LetterRenderer(window_of(PrintVendor()))
    documents = [sample_letter(number, created) for number in range(letters)]
    warm = renderer.render(documents[0])  # fonts and the sRGB profile load once per process
    progress.phase("renderar en PDF per brev", letters, "brev")
    total_bytes = 0
    started, cpu_started = time.perf_counter(), time.process_time()
    for done, document in enumerate(documents, start=1):
        total_bytes += len(renderer.render(document).pdf)
        progress.update(done)  # an attribute store; a letter takes milliseconds
    per_letter = (time.perf_counter() - started, time.process_time() - cpu_started)
    progress.phase(f"renderar {letters} brev i en PDF")
    started, cpu_started = time.perf_counter(), time.process_time()
    merged, parts = renderer.render_merged(
        documents, title="Utskriftsbatch", author="Exempelkommun", created=created
    )
    merged_times = (time.perf_counter() - started, time.process_time() - cpu_started)
    return {
        "letters": letters,
        "pages_per_letter": warm.pages,
        "per_letter": {
            **_timed_figures(letters, *per_letter),
            "mean_pdf_kib": round(total_bytes / letters / 1024, 1),
        },
        "merged": {
            **_timed_figures(letters, *merged_times),
            "pdf_kib_per_letter": round(len(merged) / len(parts) / 1024, 2),
        },
    }


def _settings(home: Path, *, batch_size: int, merged: bool) -> Settings:
    return Settings(
        home=home,
        embedded_reference=False,
        print_batch_max_letters=batch_size,
        print_vendors=[PrintVendor(name=VENDOR, drop=home / "drop", merged=merged)],
    )


def _seed_paper_letters(sessions: sessionmaker[Session], recipients: Sequence[str]) -> list[str]:
    """Letters in state `paper` with their `print` jobs (as the channel switch leaves them)."""
    now = dt.datetime.now(dt.UTC)
    system_id = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in recipients]
    with sessions.begin() as session:
        session.add(
            SenderOrganisation(
                organisation_number=EXEMPELKOMMUN,
                name="Exempelkommun",
                support_text="Kontakta Exempelkommuns kundcenter, 0771-00 00 00.",
                support_url="https://exempel.test/kontakt",
                created_at=now,
            )
        )
        session.add(
            SendingSystem(
                id=system_id,
                name="Ekonomisystemet",
                sender_numbers=[EXEMPELKOMMUN],
                departments=None,
                created_at=now,
            )
        )
        session.flush()
        session.execute(
            insert(Letter),
            [
                {
                    "id": letter_id,
                    "sending_system_id": system_id,
                    "idempotency_key": f"faktura-{number}",
                    "sender_number": EXEMPELKOMMUN,
                    "department": DEPARTMENT,
                    "recipient_id": recipient,
                    "subject": f"{SUBJECT} nr {number}",
                    "body_type": "text/plain",
                    "body": BODY,
                    "protection_class": 1,
                    "policy": "paper-only",
                    "case_number": f"VA 2026-{number:06d}",
                    "message_id": str(uuid.uuid4()),
                    "created_at": now,
                    "state": PAPER,
                    "channel": "paper",
                    "reason": "paper_only_policy",
                    "updated_at": now,
                }
                for number, (letter_id, recipient) in enumerate(zip(ids, recipients, strict=True))
            ],
        )
        _queue_print_jobs(session, ids, now)
    return ids


def _queue_print_jobs(session: Session, letter_ids: Sequence[str], now: dt.datetime) -> None:
    """A `print` job per letter, as going to paper queues it."""
    session.execute(
        insert(Job),
        [
            {"kind": PRINT, "letter_id": letter_id, "run_at": now, "attempts": 0,
             "created_at": now}
            for letter_id in letter_ids
        ],
    )  # fmt: skip


def _register(recipients: Sequence[str]) -> FixedAddressSource:
    return FixedAddressSource(
        {
            recipient: RegisterEntry(
                recipient,
                found=True,
                name=f"Mottagare {number}",
                lines=(f"Storgatan {number % 200 + 1}", "123 45 Exempelstad"),
            )
            for number, recipient in enumerate(recipients)
        }
    )


def build_closed_batch(home: Path, letters: int, progress: Progress) -> tuple[str, float]:
    """Letters in `paper`, addressed and batched by `address_jobs` until the batch closes.

    Returns:
        The closed batch's id, and the addressing rate in letters/s.
    """
    settings = _settings(home, batch_size=letters, merged=False)
    engine = create_database_engine(settings.resolved_database_url())
    try:
        progress.phase(f"lägger in {letters} pappersbrev")
        migrate.upgrade(engine)
        sessions = session_factory(engine)
        recipients = list(synthetic_personnummer(0, letters, year=1971))
        _seed_paper_letters(sessions, recipients)
        seconds = _address_all(engine, _register(recipients), settings, letters, progress)
        with sessions() as session:
            closed = list(
                session.scalars(
                    select(PrintBatch).where(PrintBatch.state == CLOSED, PrintBatch.route == VENDOR)
                )
            )
        if len(closed) != 1 or closed[0].letter_count != letters:
            raise RuntimeError(
                f"adresseringen gav {len(closed)} stängda batcher, väntade en med {letters} brev"
            )
        return closed[0].id, letters / seconds
    finally:
        engine.dispose()


def _address_all(
    engine: Engine,
    source: FixedAddressSource,
    settings: Settings,
    letters: int,
    progress: Progress,
) -> float:
    """Claim the print jobs 1,000 at a time and address them as the worker does; seconds."""
    sessions = session_factory(engine)
    queue = JobQueue(engine, lease_seconds=600)
    progress.phase("adresserar och samlar i en batch", letters, "brev")
    seconds = 0.0
    done = 0
    while jobs := queue.claim(_OWNER, now=dt.datetime.now(dt.UTC), limit=MAX_BATCH, kinds=[PRINT]):
        started = time.perf_counter()
        address_jobs(
            jobs,
            sessions=sessions,
            source=source,
            settings=settings,
            clock=lambda: dt.datetime.now(dt.UTC),
            actor=f"worker:{_OWNER}",
            owner=_OWNER,
        )
        seconds += time.perf_counter() - started
        done += len(jobs)
        progress.update(done)
    return seconds


def _memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def handover_and_report(home: str, batch_id: str, letters: int, merged: bool) -> str:
    """Hand the batch over in this process; seconds and memory (KiB) as JSON.

    Meant for a fresh process (see `measure_handover`), so that the peak resident set is the
    hand-over's and not the benchmark's.
    """
    settings = _settings(Path(home), batch_size=letters, merged=merged)
    engine = create_database_engine(settings.resolved_database_url())
    baseline = _memory_kib("VmHWM")
    started, cpu_started = time.perf_counter(), time.process_time()
    outcome = handover_batch(
        batch_id,
        sessions=session_factory(engine),
        settings=settings,
        clock=lambda: dt.datetime.now(dt.UTC),
        actor="bench",
    )
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started  # every thread of this process
    engine.dispose()
    files = [path for path in outcome.folder.rglob("*") if path.is_file()]
    return json.dumps(
        {
            "seconds": seconds,
            "cpu_seconds": cpu_seconds,
            "letters": outcome.letters,
            "baseline_kib": baseline,
            "peak_kib": _memory_kib("VmHWM"),
            "drop_bytes": sum(path.stat().st_size for path in files),
        }
    )


_CHILD = (
    "import sys\n"
    "from utskick.entrypoints.benchmarks.printing import handover_and_report\n"
    "print(handover_and_report(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == '1'))"
)


def measure_handover(home: Path, batch_id: str, letters: int, *, merged: bool) -> dict[str, float]:
    """Hand the batch over in a fresh Python process; letters/s (wall, CPU) and peak memory."""
    arguments = [str(home), batch_id, str(letters), "1" if merged else "0"]
    with contextlib.ExitStack() as stack:
        child = start_process(
            stack,
            [sys.executable, "-c", _CHILD, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"överlämningen misslyckades: {stderr.decode(errors='replace')[-2000:]}")
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    if report["letters"] != letters:
        raise RuntimeError(f"överlämningen gav {report['letters']} brev, väntade {letters}")
    return {
        **_timed_figures(letters, report["seconds"], report["cpu_seconds"]),
        "seconds": round(report["seconds"], 2),
        "cpu_seconds": round(report["cpu_seconds"], 2),
        "baseline_rss_mib": round(report["baseline_kib"] / 1024, 1),
        "peak_rss_mib": round(report["peak_kib"] / 1024, 1),
        "growth_mib": round((report["peak_kib"] - report["baseline_kib"]) / 1024, 1),
        "drop_mib": round(report["drop_bytes"] / 1024 / 1024, 1),
    }


def run_print_benchmark(
    batch_sizes: Sequence[int] = (1_000, 5_000, 20_000),
    render_letters: int = 2_000,
) -> dict[str, object]:
    """Render, address and hand over one-page letters on one core (see the module text).

    Args:
        batch_sizes: letters per closed batch handed over (each once per file mode).
        render_letters: letters in the rendering-only measurement.

    Returns:
        Letters/s (wall clock and per CPU second) and hours for 200,000 letters on 2 cores
        for each step; for each batch size and mode the hand-over's time and peak memory; per
        mode, the slowest hand-over and whether it meets `TARGET_PER_CORE` letters per CPU
        second; the load average before and after.
    """
    load_before = os.getloadavg()
    with benchmark_run("bench print") as progress:
        result: dict[str, object] = {"rendering": measure_rendering(render_letters, progress)}
        with temporary_folder(progress, "utskick-bench-print-") as folder:
            addressing, handovers = _address_and_hand_over(folder, batch_sizes, progress)
    slowest = dict.fromkeys(_MODES, float("inf"))
    slowest_cpu = dict.fromkeys(_MODES, float("inf"))
    for key, figures in handovers.items():
        mode = key.split("_", 1)[1]
        slowest[mode] = min(slowest[mode], figures["letters_per_s"])
        slowest_cpu[mode] = min(slowest_cpu[mode], figures["letters_per_cpu_s"])
    result["addressing"] = addressing
    result["handover"] = handovers
    result["slowest_handover_letters_per_s"] = slowest
    result["slowest_handover_letters_per_cpu_s"] = slowest_cpu
    result["target_letters_per_s_per_core"] = TARGET_PER_CORE
    result["target_met"] = {mode: rate >= TARGET_PER_CORE for mode, rate in slowest_cpu.items()}
    result["cpus"] = os.cpu_count()
    result["load_average"] = {"before": load_before, "after": os.getloadavg()}
    return result


def _address_and_hand_over(
    folder: Path, batch_sizes: Sequence[int], progress: Progress
) -> tuple[dict[str, object], dict[str, dict[str, float]]]:
    """For each size: a closed batch by addressing, handed over in both file modes."""
    addressing: dict[str, object] = {}
    handovers: dict[str, dict[str, float]] = {}
    steps = len(batch_sizes) * len(_MODES)
    for size in batch_sizes:
        homes = {mode: folder / f"{size}-{mode.replace('_', '-')}" for mode in _MODES}
        homes["per_letter"].mkdir()
        batch_id, address_rate = build_closed_batch(homes["per_letter"], size, progress)
        addressing[str(size)] = _per_hour_figures(address_rate)
        # The same closed batch for the merged mode: a copy of the database file.
        homes["merged"].mkdir()
        for database_file in homes["per_letter"].glob("utskick.db*"):
            shutil.copy(database_file, homes["merged"] / database_file.name)
        for mode, mode_text in _MODES.items():
            progress.phase(
                f"lämnar över {size} brev till tryckeriet, {mode_text}",
                steps,
                "överlämningar klara",
                done=len(handovers),
            )
            figures = measure_handover(homes[mode], batch_id, size, merged=mode == "merged")
            handovers[f"{size}_{mode}"] = figures
            shutil.rmtree(homes[mode] / "drop")
    return addressing, handovers
