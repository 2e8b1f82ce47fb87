"""Records: archive export and disposal of N ended letters, at two sizes, with memory.

For each size (N/4 and N) a fresh SQLite installation in a temporary folder gets N ended
letters with their records, inserted in bulk: a one-page body, three events (received,
classified, delivered), every twentieth letter with a one-page PDF attachment; the rule keeps
the content until it is archived and the metadata until the day the letter ended, so that
after the export every letter is due for disposal, content and metadata.

Then two measurements, each in a fresh Python process, so that its peak memory is its own:

- **archive export** (`records.archive.export_archive`): every letter into E-ARK SIP
  packages of 1,000 letters, each letter rendered as PDF/A and written with its attachment;
- **disposal** (`records.retention.dispose_due`): the content of every archived letter, then
  every letter whole, in batches of `records_disposal_batch`.

Each reports wall seconds, letters/s, CPU seconds (`resource.getrusage`, user + system), the
process's resident set before the work (after imports and the database's set-up) and its
peak (`VmHWM`), and the load average at the end. "Memory does not grow with the number
of letters" shows as the same peak at N/4 and at N.

The baseline, measured in the same run: `render_record_pdf` alone on the same kind of letter
in memory (no database, no files), which is the floor under the export's rate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import insert
from sqlalchemy.orm import Session, sessionmaker

from utskick.db.engine import create_database_engine, session_factory
from utskick.entrypoints.benchmarks.batch import synthetic_personnummer
from utskick.entrypoints.benchmarks.cleanup import benchmark_run, start_process, temporary_folder
from utskick.entrypoints.benchmarks.progress import Progress
from utskick.letters import vocabulary
from utskick.letters.models import Letter, LetterAttachment, LetterEvent, MessageType
from utskick.migrations import migrate
from utskick.records.archive import export_archive
from utskick.records.models import KEPT_BY_UTSKICK, KEPT_IN_ORDER, REGISTRATION_NONE, LetterRecord
from utskick.records.record_document import RecordDocument, RecordEvent
from utskick.records.record_pdf import render_record_pdf
from utskick.records.retention import dispose_due
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.settings import Settings

EXEMPELKOMMUN = "2021004748"
MESSAGE_TYPE = "beslut"
DECISION = "Bänk: KS 2026/1 § 1"
INSERT_CHUNK = 5_000
ATTACHMENT_EVERY = 20
LETTERS_PER_PACKAGE = 1_000
BASELINE_LETTERS = 200
ENDED = dt.datetime(2026, 3, 2, 8, tzinfo=dt.UTC)
BODY = (
    "Hej!\n\nNämnden har beslutat i ditt ärende. Beslutet gäller från och med i dag och kan "
    "överklagas inom tre veckor från den dag du fick del av det. Hur du överklagar står i "
    "bilagan till beslutet.\n\n"
    "Har du frågor om beslutet är du välkommen att kontakta handläggaren på telefon eller "
    "e-post. Ange ärendets diarienummer när du hör av dig.\n\n"
    "Med vänliga hälsningar\nSocialnämnden"
)
_KIB = 1024


def _attachment_pdf() -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.drawString(72, 760, "Hur du överklagar beslutet")
    canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _letter_rows(system_id: str, first: int, count: int) -> tuple[list[dict[str, object]], ...]:
    """Letters, events, attachments and records for letters `first` … `first + count - 1`."""
    letters, events, attachments, records = [], [], [], []
    recipients = synthetic_personnummer(first, count, year=1968)
    pdf = _attachment_pdf()
    for number, recipient in zip(range(first, first + count), recipients, strict=True):
        letter_id = str(uuid.UUID(int=number + 1))
        ended = ENDED + dt.timedelta(seconds=number)
        letters.append(
            {
                "id": letter_id,
                "sending_system_id": system_id,
                "idempotency_key": f"bench-{number}",
                "sender_number": EXEMPELKOMMUN,
                "department": "Socialtjänsten",
                "recipient_id": recipient,
                "subject": f"Beslut i ärende SN 2026/{number}",
                "body_type": "text/plain",
                "body": BODY,
                "protection_class": 1,
                "message_type": MESSAGE_TYPE,
                "policy": vocabulary.DIGITAL_OR_PAPER,
                "case_number": f"SN 2026/{number}",
                "message_id": uuid.UUID(int=number + 1).hex,
                "created_at": ended - dt.timedelta(minutes=3),
                "state": vocabulary.DELIVERED,
                "channel": "digital",
                "reason": vocabulary.REACHABLE,
                "updated_at": ended,
            }
        )
        for offset, state in enumerate(
            (vocabulary.RECEIVED, vocabulary.CLASSIFIED, vocabulary.DELIVERED)
        ):
            events.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "letter_id": letter_id,
                    "at": ended - dt.timedelta(minutes=2 - offset),
                    "actor": "bench",
                    "state": state,
                    "reason": vocabulary.REACHABLE if state == vocabulary.CLASSIFIED else None,
                    "detail": None,
                }
            )
        if number % ATTACHMENT_EVERY == 0:
            attachments.append(
                {
                    "letter_id": letter_id,
                    "position": 1,
                    "filename": "overklagande.pdf",
                    "content_type": "application/pdf",
                    "channel": "both",
                    "size": len(pdf),
                    "sha256": "0" * 64,
                    "content": pdf,
                }
            )
        records.append(
            {
                "letter_id": letter_id,
                "sender_number": EXEMPELKOMMUN,
                "message_type": MESSAGE_TYPE,
                "rule": KEPT_IN_ORDER,
                "keeper": KEPT_BY_UTSKICK,
                "decision": DECISION,
                "sent_at": ended,
                "recorded_at": ended,
                "registration": REGISTRATION_NONE,
                "registration_attempts": 0,
                "content_due": None,
                "metadata_due": ended.date(),
            }
        )
    return letters, events, attachments, records


def seed_letters(sessions: sessionmaker[Session], letters: int, progress: Progress) -> float:
    """Insert `letters` ended letters with their records in bulk; the seconds it took."""
    started = time.perf_counter()
    system_id = str(uuid.uuid4())
    with sessions.begin() as session:
        session.add(
            SenderOrganisation(
                organisation_number=EXEMPELKOMMUN, name="Exempelkommun", created_at=ENDED
            )
        )
        session.add(MessageType(code=MESSAGE_TYPE, name="Beslut", protection_class=1))
        session.add(
            SendingSystem(
                id=system_id,
                name="Bänksystemet",
                sender_numbers=[EXEMPELKOMMUN],
                departments=None,
                created_at=ENDED,
            )
        )
    progress.phase(f"lägger in {letters} avslutade brev", letters, "brev")
    for first in range(0, letters, INSERT_CHUNK):
        rows = _letter_rows(system_id, first, min(INSERT_CHUNK, letters - first))
        with sessions.begin() as session:
            for model, chunk in zip(
                (Letter, LetterEvent, LetterAttachment, LetterRecord), rows, strict=True
            ):
                if chunk:
                    session.execute(insert(model), chunk)
        progress.update(min(letters, first + INSERT_CHUNK))
    return time.perf_counter() - started


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_in_child(home: str, step: str, letters: int) -> str:
    """Run one step (`export` or `dispose`) on the installation in `home`; figures as JSON.

    Meant for a fresh process (see `_measure`), so the peak resident set is the step's.
    """
    folder = Path(home)
    settings = Settings(home=folder, embedded_reference=False)
    engine = create_database_engine(settings.resolved_database_url())
    sessions = session_factory(engine)
    baseline = _status_kib("VmHWM")
    cpu, started = _cpu_seconds(), time.perf_counter()
    outcome: dict[str, object]
    if step == "export":
        result = export_archive(
            sessions,
            organisation_number=EXEMPELKOMMUN,
            period_from=ENDED.date(),
            period_to=(ENDED + dt.timedelta(seconds=letters)).date(),
            target=folder / "arkiv",
            clock=lambda: dt.datetime.now(dt.UTC),
            actor=None,
            letters_per_package=LETTERS_PER_PACKAGE,
        )
        outcome = {"done": result.letters, "packages": len(result.packages), "bytes": result.bytes}
    else:
        summary = dispose_due(
            sessions,
            settings,
            today=(ENDED + dt.timedelta(seconds=letters, days=1)).date(),
            clock=lambda: dt.datetime.now(dt.UTC),
            actor="bench",
        )
        outcome = {
            "done": summary.total_of("metadata"),
            "content_disposed": summary.total_of("content"),
        }
    seconds = time.perf_counter() - started
    engine.dispose()
    return json.dumps(
        {
            **outcome,
            "seconds": seconds,
            "cpu_seconds": _cpu_seconds() - cpu,
            "baseline_kib": baseline,
            # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over `exec`, so a
            # child would report the benchmark's own resident set at the fork as its peak.
            "peak_kib": _status_kib("VmHWM"),
            "load_average": os.getloadavg(),
        }
    )


_CHILD = (
    "import sys\n"
    "from utskick.entrypoints.benchmarks.records import measure_in_child\n"
    "print(measure_in_child(sys.argv[1], sys.argv[2], int(sys.argv[3])))"
)


def _measure(home: Path, step: str, letters: int) -> dict[str, object]:
    with contextlib.ExitStack() as stack:
        child = start_process(
            stack,
            [sys.executable, "-c", _CHILD, str(home), step, str(letters)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"{step} misslyckades: {stderr.decode(errors='replace')[-2000:]}")
    report = json.loads(stdout.decode().strip().splitlines()[-1])
    if report["done"] != letters:
        raise RuntimeError(f"{step} tog hand om {report['done']} brev, väntade {letters}")
    figures: dict[str, object] = {
        "seconds": round(report["seconds"], 2),
        "letters_per_s": round(letters / report["seconds"], 1),
        "cpu_seconds": round(report["cpu_seconds"], 2),
        "baseline_rss_mib": round(report["baseline_kib"] / _KIB, 1),
        "peak_rss_mib": round(report["peak_kib"] / _KIB, 1),
        "growth_mib": round((report["peak_kib"] - report["baseline_kib"]) / _KIB, 1),
        "load_average_1_5_15": [round(value, 2) for value in report["load_average"]],
    }
    for key in ("packages", "bytes", "content_disposed"):
        if key in report:
            figures[key] = report[key]
    return figures


def _baseline(progress: Progress) -> dict[str, object]:
    """`render_record_pdf` alone on letters like the benchmark's, in memory."""
    progress.phase("mäter jämförelsen: render_record_pdf i minnet", BASELINE_LETTERS, "brev")
    events = tuple(
        RecordEvent(ENDED, state, None, None, "bench")
        for state in (vocabulary.RECEIVED, vocabulary.CLASSIFIED, vocabulary.DELIVERED)
    )
    document = RecordDocument(
        letter_id=str(uuid.UUID(int=1)),
        organisation_number=EXEMPELKOMMUN,
        organisation_name="Exempelkommun",
        department="Socialtjänsten",
        message_type=MESSAGE_TYPE,
        message_type_name="Beslut",
        rule=KEPT_IN_ORDER,
        keeper=KEPT_BY_UTSKICK,
        decision=DECISION,
        subject="Beslut i ärende SN 2026/1",
        case_number="SN 2026/1",
        reference=None,
        registration_number=None,
        recipient="19680101-0000",
        recipient_masked=False,
        protection_class=1,
        created_at=ENDED,
        sent_at=ENDED,
        delivered_at=ENDED,
        channel="digital",
        state=vocabulary.DELIVERED,
        reason=vocabulary.REACHABLE,
        body=BODY,
        body_type="text/plain",
        content_note=None,
        attachments=(),
        events=events,
    )
    render_record_pdf(document)  # fonts and the sRGB profile load once per process
    cpu, started = _cpu_seconds(), time.perf_counter()
    for done in range(1, BASELINE_LETTERS + 1):
        render_record_pdf(document)
        progress.update(done)
    seconds = time.perf_counter() - started
    return {
        "what": "render_record_pdf alone, one-page record without attachment, in memory",
        "letters_per_s": round(BASELINE_LETTERS / seconds, 1),
        "cpu_seconds_per_letter": round((_cpu_seconds() - cpu) / BASELINE_LETTERS, 4),
    }


def _size(folder: Path, letters: int, progress: Progress) -> dict[str, object]:
    home = folder / str(letters)
    home.mkdir()
    engine = create_database_engine(f"sqlite:///{home / 'utskick.db'}")
    try:
        migrate.upgrade(engine)
        seeding = seed_letters(session_factory(engine), letters, progress)
    finally:
        engine.dispose()
    progress.phase(f"arkivexport av {letters} brev (egen process)")
    export = _measure(home, "export", letters)
    progress.phase(f"gallring av {letters} brev (egen process)")
    disposal = _measure(home, "dispose", letters)
    shutil.rmtree(home)  # the packages of 100,000 letters take gigabytes
    return {
        "letters": letters,
        "seeding_letters_per_s": round(letters / seeding, 1),
        "export": export,
        "disposal": disposal,
    }


def run_records_benchmark(letters: int = 100_000) -> dict[str, object]:
    """Export and dispose of `letters` ended letters, and of a quarter as many (see above).

    Returns:
        Per size: seeding rate; the export's and the disposal's time, letters/s, CPU seconds,
        resident set before and at the peak, load average; the baseline; the peak ratios.
    """
    sizes = sorted({max(1, letters // 4), letters})
    with (
        benchmark_run("bench records") as progress,
        temporary_folder(progress, "utskick-bench-records-") as folder,
    ):
        baseline = _baseline(progress)
        measured = {str(size): _size(folder, size, progress) for size in sizes}
    small, large = measured[str(sizes[0])], measured[str(sizes[-1])]
    ratios = {
        step: round(
            float(large[step]["peak_rss_mib"]) / float(small[step]["peak_rss_mib"]),  # type: ignore[index]
            2,
        )
        for step in ("export", "disposal")
    }
    return {
        "letters": letters,
        "sizes": measured,
        "peak_rss_ratio_largest_to_smallest": ratios,
        "baseline": baseline,
        "cpus": os.cpu_count(),
    }
