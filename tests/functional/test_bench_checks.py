"""`utskick bench checks` runs end to end and reports every figure (the timings are not tested)."""

import json
import subprocess
import sys
from pathlib import Path

UTSKICK = str(Path(sys.executable).with_name("utskick"))
CASES = (
    "html_2kb",
    "html_large",
    "pdf_letter",
    "pdf_many_objects",
    "pdf_one_image",
    "pdf_javascript_exact_walk",
)
LARGE = ("html_large", "pdf_many_objects", "pdf_one_image", "pdf_javascript_exact_walk")


def test_bench_checks_quick_prints_every_case_as_json():
    result = subprocess.run(
        [UTSKICK, "bench", "checks", "--json", "--quick"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for case in CASES:
        for field in ("bytes", "check_ms", "check_cpu_ms", "baseline_ms", "baseline_cpu_ms"):
            assert figures[f"{case}_{field}"] > 0, f"{case}_{field}"
        assert figures[f"{case}_ratio"] > 0
    for case in CASES[2:]:  # the PDFs: opening the file alone, the floor under both
        assert figures[f"{case}_open_only_ms"] > 0
        assert figures[f"{case}_open_only_cpu_ms"] > 0
    for case in LARGE:
        assert figures[f"{case}_check_peak_mib"] >= 0
    for case in ("pdf_many_objects", "pdf_one_image"):
        assert figures[f"{case}_baseline_peak_mib"] >= 0
    assert figures["quick"] == 1
    assert figures["html_baseline"] == "html5lib parseFragment"
    assert figures["pdf_baseline"] == "pypdf PdfReader + len(pages)"
    assert {"wall_seconds", "cpu_seconds"} <= figures.keys()


def test_bench_checks_refuses_a_measuring_time_of_zero():
    result = subprocess.run(
        [UTSKICK, "bench", "checks", "--seconds", "0"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode != 0
    assert "--seconds ska vara större än 0" in result.stderr
