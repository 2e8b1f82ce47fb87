"""The intake checks of letters: an HTML body and a PDF attachment, against their parsers.

`check_html_body` parses the body with html5lib (pure Python) and walks the tree;
`check_pdf` opens the file with pypdf, reads the page count, scans the bytes for refused names
and, when one occurs, walks every object. Each is measured against its parser alone on the
same bytes in the same run, so the ratio says what the check adds:

- HTML: `html5lib.HTMLParser(...).parseFragment(body, container="div")`, the parse a mailbox
  makes when it inserts the body into its page;
- PDF: `pypdf.PdfReader(...)` and `len(reader.pages)`, what opening a file and counting its
  pages costs with the same library.

Each figure is the best of interleaved rounds, wall clock and this process's CPU time per
call. Peak memory (tracemalloc, Python allocations) is measured in one extra call per large
case, outside the timing, since tracing slows the code down three to six times: of the check
for the large body (the parse is most of it) and the PDF with JavaScript (its baseline is the
many-objects one), of the check and the baseline for the other 2 MB PDFs.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import html5lib
from pypdf import PdfReader

from utskick.entrypoints.benchmarks.check_inputs import (
    html_body,
    image_pdf,
    letter_pdf,
    many_objects_pdf,
)
from utskick.entrypoints.benchmarks.cleanup import benchmark_run
from utskick.entrypoints.benchmarks.progress import Progress
from utskick.letters.pdf_check import PdfRefusedError, check_pdf
from utskick.mm.html_body import check_html_body

TYPICAL_BODY_BYTES = 2 * 1024
LARGE_BODY_BYTES = 1024 * 1024
LARGE_PDF_BYTES = 2 * 1024 * 1024
# --quick: the same cases, small, for a smoke run.
QUICK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class _Case:
    name: str
    size: int
    check: Callable[[], object]
    baseline: Callable[[], object]
    traced: tuple[str, ...]  # the sides whose peak memory is measured
    # PDF only: `PdfReader(...)` alone, the floor under both the check and the baseline.
    open_only: Callable[[], object] | None = None


def _parse_fragment(body: str) -> object:
    return html5lib.HTMLParser(namespaceHTMLElements=True).parseFragment(body, container="div")


def _open(content: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(content))


def _open_and_count_pages(content: bytes) -> int:
    return len(PdfReader(io.BytesIO(content)).pages)


def _check_pdf(content: bytes) -> None:
    check_pdf("bilaga.pdf", content)


def _refused(content: bytes) -> None:
    try:
        check_pdf("bilaga.pdf", content)
    except PdfRefusedError:
        return
    raise AssertionError("the PDF with JavaScript was not refused")


def _html_cases(large: int) -> list[_Case]:
    cases = []
    for name, size, traced in (
        ("html_2kb", TYPICAL_BODY_BYTES, ()),
        ("html_large", large, ("check",)),
    ):
        body = html_body(size)
        check_html_body(body)  # the benchmark's body must pass, or it measures a refusal
        cases.append(
            _Case(
                name,
                len(body.encode()),
                partial(check_html_body, body),
                partial(_parse_fragment, body),
                traced,
            )
        )
    return cases


def _pdf_cases(large: int) -> list[_Case]:
    inputs = (
        ("pdf_letter", letter_pdf(), (), False),
        ("pdf_many_objects", many_objects_pdf(large), ("check", "baseline"), False),
        ("pdf_one_image", image_pdf(large), ("check", "baseline"), False),
        ("pdf_javascript_exact_walk", many_objects_pdf(large, javascript=True), ("check",), True),
    )
    cases = []
    for name, content, traced, refused in inputs:
        if not refused:
            _check_pdf(content)  # clean files must pass, or it measures a refusal
        check = partial(_refused if refused else _check_pdf, content)
        cases.append(
            _Case(
                name,
                len(content),
                check,
                partial(_open_and_count_pages, content),
                traced,
                open_only=partial(_open, content),
            )
        )
    return cases


def _cost(operation: Callable[[], object], seconds: float) -> tuple[float, float]:
    """Seconds per call, wall clock and CPU: at least one call, then until `seconds` passed."""
    count, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while True:
        operation()
        count += 1
        now = time.perf_counter()
        if now - start >= seconds:
            return (now - start) / count, (time.process_time() - cpu_start) / count


def _peak_mib(operation: Callable[[], object]) -> float:
    tracemalloc.start()
    try:
        operation()
        return tracemalloc.get_traced_memory()[1] / 1_048_576
    finally:
        tracemalloc.stop()


def run_checks_benchmark(
    *, quick: bool = False, seconds: float = 0.2, rounds: int = 2
) -> dict[str, float | int | str]:
    """Measure and return the figures that `utskick bench checks --json` prints."""
    large_html, large_pdf = (
        (QUICK_BYTES, QUICK_BYTES) if quick else (LARGE_BODY_BYTES, LARGE_PDF_BYTES)
    )
    with benchmark_run("bench checks") as progress:
        wall_start, cpu_start = time.perf_counter(), time.process_time()
        progress.phase("bygger brödtexter och PDF-filer")
        cases = _html_cases(large_html) + _pdf_cases(large_pdf)
        progress.phase("mäter minnestopp och värmer upp", len(cases), "fall")
        figures = _peaks(cases, progress)
        best = _timings(cases, rounds, seconds, progress)
        wall_seconds = time.perf_counter() - wall_start
        cpu_seconds = time.process_time() - cpu_start
    for key, (wall, cpu) in best.items():
        figures[f"{key}_ms"] = round(wall * 1000, 3)
        figures[f"{key}_cpu_ms"] = round(cpu * 1000, 3)
    for case in cases:
        figures[f"{case.name}_ratio"] = round(
            best[f"{case.name}_check"][0] / best[f"{case.name}_baseline"][0], 2
        )
    figures.update(
        {
            "html_baseline": "html5lib parseFragment",
            "pdf_baseline": "pypdf PdfReader + len(pages)",
            "quick": int(quick),
            "seconds_per_measurement": seconds,
            "rounds": rounds,
            "wall_seconds": round(wall_seconds, 1),
            "cpu_seconds": round(cpu_seconds, 1),
        }
    )
    return figures


def _peaks(cases: list[_Case], progress: Progress) -> dict[str, float | int | str]:
    """Every case's size, and the peak memory of the sides traced (one call each)."""
    figures: dict[str, float | int | str] = {}
    for case in cases:
        figures[f"{case.name}_bytes"] = case.size
        # The traced calls are the large cases' first, and warm them up; the others warm up
        # the imports and caches.
        for side, operation in (("check", case.check), ("baseline", case.baseline)):
            if side in case.traced:
                figures[f"{case.name}_{side}_peak_mib"] = round(_peak_mib(operation), 1)
            else:
                operation()
        progress.advance()
    return figures


def _sides(case: _Case) -> dict[str, Callable[[], object]]:
    sides = {"check": case.check, "baseline": case.baseline}
    if case.open_only is not None:
        sides["open_only"] = case.open_only
    return sides


def _timings(
    cases: list[_Case], rounds: int, seconds: float, progress: Progress
) -> dict[str, tuple[float, float]]:
    """The best (wall, CPU) seconds per call of every measurement over interleaved rounds."""
    best: dict[str, tuple[float, float]] = {}
    measurements = rounds * sum(len(_sides(case)) for case in cases)
    progress.phase("mäter kontrollerna och deras tolkare", measurements, "delmätningar")
    for _ in range(rounds):
        for case in cases:
            for side, operation in _sides(case).items():
                wall, cpu = _cost(operation, seconds)
                key = f"{case.name}_{side}"
                previous = best.get(key, (float("inf"), float("inf")))
                best[key] = (min(previous[0], wall), min(previous[1], cpu))
                progress.advance()
    return best
