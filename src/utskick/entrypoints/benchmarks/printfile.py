"""A print file of many letters: split and accepted by `take_print_file`, against reading it.

The benchmark draws a print file with reportlab as a business system prints one: letters of
`pages_per_letter` A4 pages, the first page of each with `Personnummer: <valid number>`, an
address block and the letter's text, later pages with text; the font is embedded, as in real
print files. For the control-file rule a CSV control file gives each letter's pages and
recipient.

Two measurements, each in a fresh Python process so that its peak resident set is its own:

- **Baseline**: pypdf reads every page and its text (`extract_text`), and nothing else. Any
  split by a text anchor must do at least this; it is the yardstick the figure is a ratio of.
- **Taking**: `take_print_file` into a fresh SQLite home: plan (read every page's anchor, or
  the control file), split each letter into a PDF of its own, check it as an attachment and
  accept the letters with their events and jobs, a chunk of 500 letters per transaction.

Each reports pages/s and letters/s by the wall clock, CPU seconds (user and system, all
threads) and its peak resident set (the kernel's VmHWM, else `resource.getrusage`; see
`_peak_rss_kib`), and how much of that peak came after the imports.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path

from pypdf import PdfReader
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from sqlalchemy import func, select

from utskick.db.engine import create_database_engine, session_factory
from utskick.entrypoints.benchmarks.batch_mix import synthetic_personnummer
from utskick.entrypoints.benchmarks.cleanup import benchmark_run, start_process, temporary_folder
from utskick.entrypoints.benchmarks.progress import Progress
from utskick.intake.printfile import print_file_key, take_print_file
from utskick.intake.sources import RecipientRule, Source
from utskick.letters.models import LetterAttachment, MessageType
from utskick.migrations import migrate
from utskick.pdfa import REGULAR, register_fonts
from utskick.senders.models import SenderOrganisation, SendingSystem
from utskick.settings import Settings

EXEMPELKOMMUN = "2021004748"
SYSTEM = "Ekonomisystemet"
RULES = ("anchor", "control-file")
LINES_PER_PAGE = 30
_TEXT = (
    "Enligt vårt beslut den 1 december debiteras avgiften för perioden januari till mars. "
    "Beloppet dras automatiskt om du har autogiro."
)


def personnummer_written(number: str) -> str:
    """A 12-digit number as people write it: `19121212-1212`."""
    return f"{number[:8]}-{number[8:]}"


def letters_of(pages: int, pages_per_letter: int) -> list[tuple[int, int]]:
    """Each letter's first and last page (the last letter may be shorter)."""
    return [
        (first, min(first + pages_per_letter - 1, pages))
        for first in range(1, pages + 1, pages_per_letter)
    ]


def write_print_file(path: Path, pages: int, pages_per_letter: int) -> list[str]:
    """Draw the print file; returns each letter's recipient as written on it."""
    register_fonts()
    letters = letters_of(pages, pages_per_letter)
    recipients = [
        personnummer_written(number)
        for number in synthetic_personnummer(0, len(letters), year=1971)
    ]
    canvas = Canvas(str(path), pagesize=A4, invariant=1)
    for (first, last), recipient in zip(letters, recipients, strict=True):
        for page in range(first, last + 1):
            canvas.setFont(REGULAR, 10)
            lines = _first_page_lines(recipient, page) if page == first else []
            lines += [f"{_TEXT} ({page}.{line})" for line in range(LINES_PER_PAGE - len(lines))]
            for number, line in enumerate(lines):
                canvas.drawString(20 * mm, A4[1] - (30 + 8 * (number > 0) + 7 * number) * mm, line)
            canvas.showPage()
    canvas.save()
    return recipients


def _first_page_lines(recipient: str, page: int) -> list[str]:
    return [
        "Exempelkommun, Ekonomiavdelningen",
        f"Personnummer: {recipient}",
        f"Mottagare {page}",
        f"Storgatan {page % 200 + 1}",
        "123 45 Exempelstad",
        "Faktura",
    ]


def write_control_file(
    path: Path, pages: int, pages_per_letter: int, recipients: list[str]
) -> None:
    """A CSV control file as Swedish Excel saves it: `;`, with a byte order mark."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(["Sidor", "Personnummer", "Ämne"])
    for (first, last), recipient in zip(
        letters_of(pages, pages_per_letter), recipients, strict=True
    ):
        writer.writerow([f"{first}-{last}", recipient, f"Faktura sidan {first}"])
    path.write_text(buffer.getvalue(), encoding="utf-8-sig")


def bench_source(rule: str) -> Source:
    """The source the print file comes from."""
    return Source(
        name="ekonomisystem",
        system=SYSTEM,
        department="Ekonomi",
        message_type="faktura",
        subject="Faktura från Exempelkommun",
        paper_layout="address-in-window",
        recipient=RecipientRule(rule=rule),
    )


def prepare_home(home: Path) -> None:
    """A migrated SQLite home with the sender, its sending system and the message type."""
    engine = create_database_engine(Settings(home=home).resolved_database_url())
    try:
        migrate.upgrade(engine)
        now = dt.datetime.now(dt.UTC)
        with session_factory(engine).begin() as session:
            session.add(
                SenderOrganisation(
                    organisation_number=EXEMPELKOMMUN,
                    name="Exempelkommun",
                    support_text="Kontakta Exempelkommuns kundcenter, 0771-00 00 00.",
                    created_at=now,
                )
            )
            session.add(MessageType(code="faktura", name="Faktura", protection_class=1))
            session.add(
                SendingSystem(
                    id=str(uuid.uuid4()),
                    name=SYSTEM,
                    sender_numbers=[EXEMPELKOMMUN],
                    departments=None,
                    created_at=now,
                )
            )
    finally:
        engine.dispose()


def _peak_rss_kib() -> int:
    """This process's peak resident set in KiB.

    Linux keeps `ru_maxrss` across `exec`, so a child started by a large parent would report
    the parent's peak; the kernel's VmHWM belongs to this process's own memory and is read
    where there is one. Elsewhere `resource.getrusage` (KiB on Linux, bytes on macOS).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak // 1024 if sys.platform == "darwin" else peak


def measure_in_this_process(mode: str, home: str, pdf: str, control: str, rule: str) -> str:
    """Run one measurement here (meant for a fresh process); its figures as JSON.

    `mode` is `baseline` (read every page's text) or `take` (`take_print_file`).
    """
    rss_before = _peak_rss_kib()
    started, cpu_started = time.perf_counter(), time.process_time()
    report: dict[str, object] = {}
    if mode == "baseline":
        reader = PdfReader(pdf)
        report["characters"] = sum(len(page.extract_text()) for page in reader.pages)
    else:
        report |= _take(Path(home), Path(pdf), Path(control) if control else None, rule)
    report |= {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu_started,
        "rss_before_kib": rss_before,
        "peak_rss_kib": _peak_rss_kib(),
    }
    return json.dumps(report)


def _take(home: Path, pdf: Path, control: Path | None, rule: str) -> dict[str, object]:
    settings = Settings(home=home, embedded_reference=False)
    engine = create_database_engine(settings.resolved_database_url())
    sessions = session_factory(engine)
    try:
        with sessions() as session:
            system = session.scalars(select(SendingSystem)).one()
        source = bench_source(rule)
        receipt = take_print_file(
            sessions=sessions,
            settings=settings,
            system=system,
            source=source,
            pdf=pdf,
            control=control,
            file_key=print_file_key(source, pdf, control),
            actor="bench",
        )
        with sessions() as session:
            part_bytes = session.scalar(select(func.avg(LetterAttachment.size))) or 0
    finally:
        engine.dispose()
    first_problem = next((letter.problem for letter in receipt.letters if letter.problem), None)
    return {
        "accepted": receipt.accepted,
        "rejected": receipt.rejected,
        "first_problem": first_problem,
        "mean_part_kib": round(float(part_bytes) / 1024, 1),
    }


_CHILD = (
    "import sys\n"
    "from utskick.entrypoints.benchmarks.printfile import measure_in_this_process\n"
    "print(measure_in_this_process(*sys.argv[1:6]))"
)


def _in_child(arguments: list[str]) -> dict[str, object]:
    with contextlib.ExitStack() as stack:
        child = start_process(
            stack,
            [sys.executable, "-c", _CHILD, *arguments],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        stdout, stderr = child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"mätningen misslyckades: {stderr.decode(errors='replace')[-2000:]}")
    report: dict[str, object] = json.loads(stdout.decode().strip().splitlines()[-1])
    return report


def _figures(report: dict[str, object], pages: int, letters: int) -> dict[str, object]:
    seconds = float(str(report["seconds"]))
    cpu = float(str(report["cpu_seconds"]))
    return {
        "wall_seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "pages_per_s": round(pages / seconds, 1),
        "letters_per_s": round(letters / seconds, 1),
        "pages_per_cpu_s": round(pages / cpu, 1),
        "peak_rss_mib": round(int(str(report["peak_rss_kib"])) / 1024, 1),
        "rss_growth_mib": round(
            (int(str(report["peak_rss_kib"])) - int(str(report["rss_before_kib"]))) / 1024, 1
        ),
    }


def run_printfile_benchmark(
    pages: int = 10_000, pages_per_letter: int = 2, rule: str = "anchor"
) -> dict[str, object]:
    """Draw a print file, read it (baseline) and take it; the figures (see the module text).

    Raises:
        RuntimeError: a measurement failed, or not every letter was accepted.
    """
    letters = len(letters_of(pages, pages_per_letter))
    with (
        benchmark_run("bench printfile") as progress,
        temporary_folder(progress, "utskick-bench-printfile-") as folder,
    ):
        pdf, control, drawing = _files(folder, pages, pages_per_letter, rule, progress)
        home = folder / "home"
        home.mkdir()
        progress.phase("förbereder en ny SQLite-databas")
        prepare_home(home)
        progress.phase(f"baslinje: pypdf läser texten på {pages} sidor")
        baseline = _in_child(["baseline", str(home), str(pdf), "", rule])
        progress.phase(f"delar och tar emot {letters} brev (regeln {rule})")
        taking = _in_child(["take", str(home), str(pdf), str(control or ""), rule])
    if taking["accepted"] != letters:
        raise RuntimeError(
            f"{taking['accepted']} av {letters} brev togs emot: {taking.get('first_problem')}"
        )
    taken = _figures(taking, pages, letters)
    read = _figures(baseline, pages, letters)
    return {
        "rule": rule,
        "pages": pages,
        "letters": letters,
        "pages_per_letter": pages_per_letter,
        "file_mib": round(drawing["bytes"] / 1024 / 1024, 1),
        "drawing_seconds": round(drawing["seconds"], 2),
        "baseline_read_text": read,
        "take_print_file": {**taken, "mean_part_kib": taking["mean_part_kib"]},
        "ratio_pages_per_s_to_baseline": round(
            float(str(taken["pages_per_s"])) / float(str(read["pages_per_s"])), 3
        ),
    }


def _files(
    folder: Path, pages: int, pages_per_letter: int, rule: str, progress: Progress
) -> tuple[Path, Path | None, dict[str, float]]:
    """The print file (and control file) drawn in `folder`, with the time it took."""
    progress.phase(f"ritar en utskriftsfil med {pages} sidor")
    pdf = folder / "fakturor.pdf"
    started = time.perf_counter()
    recipients = write_print_file(pdf, pages, pages_per_letter)
    control = None
    if rule == "control-file":
        control = folder / "fakturor.csv"
        write_control_file(control, pages, pages_per_letter, recipients)
    drawing = {"seconds": time.perf_counter() - started, "bytes": float(pdf.stat().st_size)}
    return pdf, control, drawing
