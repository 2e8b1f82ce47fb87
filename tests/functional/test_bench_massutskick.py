"""`utskick bench massutskick` runs end to end and reports every figure (timings not tested).

A small run through the real command: the web app in its own process, the reference FaR and
population register in the benchmark's, every row prechecked. Its speed is measured by
running it at 10,000 rows (docs/performance.md), not here.
"""

import json
import subprocess
import sys
from pathlib import Path

UTSKICK = str(Path(sys.executable).with_name("utskick"))
ROWS = 200


def test_bench_massutskick_prechecks_every_row_and_reports_rates_and_memory():
    result = subprocess.run(
        [UTSKICK, "bench", "massutskick", "--rows", str(ROWS), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["rows"] == ROWS
    # Every row is one of the generated kinds: half reachable, the rest paper (opted out or no
    # mailbox); none is refused, since every number is valid and every person registered.
    outcomes = figures["outcomes"]
    assert sum(outcomes.values()) == ROWS
    assert outcomes["digital"] == ROWS // 2 + 1  # Tolvan too
    assert outcomes["paper"] == ROWS - outcomes["digital"]
    assert outcomes["problem"] == outcomes["impossible"] == outcomes["unknown"] == 0
    for phase in ("upload", "precheck"):
        assert figures[phase]["rows_per_s"] > 0, phase
        assert figures[phase]["seconds"] > 0, phase
        assert figures[phase]["app_cpu_s"] >= 0, phase
        assert figures[phase]["benchmark_and_reference_cpu_s"] >= 0, phase
    assert figures["app_peak_rss_mib"] > 0
    assert figures["app_idle_rss_mib"] > 0
    for baseline in ("read_table", "check_rows", "precheck_stubbed_far"):
        assert figures["baseline"][baseline]["rows_per_s"] > 0, baseline
        assert figures["baseline"][baseline]["tracemalloc_peak_mib"] > 0, baseline
    # The progress line goes to stderr, so that stdout holds the JSON alone.
    assert "bench massutskick" in result.stderr
    assert "kontrollerar raderna" in result.stderr
