"""`utskick bench printfile` runs small and measures every figure it promises: every letter of
the drawn print file is accepted, by the anchor and by the control file, and the rates, CPU
seconds, peak memory and the ratio to the baseline are measured, not made up (its speed is
measured by running it, see the report, not here)."""

import json

import pytest
from typer.testing import CliRunner

from utskick.entrypoints.benchmarks.printfile import letters_of, run_printfile_benchmark
from utskick.entrypoints.cli import app


def test_a_small_run_by_anchor_accepts_every_letter_and_measures_each_figure():
    result = run_printfile_benchmark(pages=200, pages_per_letter=2, rule="anchor")

    assert (result["pages"], result["letters"]) == (200, 100)
    for step in ("baseline_read_text", "take_print_file"):
        figures = result[step]
        for name in ("wall_seconds", "cpu_seconds", "pages_per_s", "letters_per_s", "peak_rss_mib"):
            assert figures[name] > 0, (step, name)
    taken = result["take_print_file"]
    assert taken["letters_per_s"] == pytest.approx(taken["pages_per_s"] / 2, rel=0.01)
    assert 0 < taken["mean_part_kib"] < result["file_mib"] * 1024 / 10
    assert result["ratio_pages_per_s_to_baseline"] == pytest.approx(
        taken["pages_per_s"] / result["baseline_read_text"]["pages_per_s"], rel=0.01
    )


def test_the_command_runs_by_control_file_with_an_uneven_last_letter():
    outcome = CliRunner().invoke(
        app,
        ["bench", "printfile", "--pages", "21", "--pages-per-letter", "4",
         "--rule", "control-file", "--json"],
    )  # fmt: skip

    assert outcome.exit_code == 0, outcome.output
    result = json.loads(outcome.stdout.strip().splitlines()[-1])
    assert (result["rule"], result["letters"]) == ("control-file", 6)


def test_the_command_refuses_an_unknown_rule():
    outcome = CliRunner().invoke(app, ["bench", "printfile", "--rule", "filename"])

    assert outcome.exit_code == 2
    assert "--rule ska vara anchor eller control-file" in outcome.output


def test_the_last_letter_takes_the_pages_that_are_left():
    assert letters_of(7, 3) == [(1, 3), (4, 6), (7, 7)]
