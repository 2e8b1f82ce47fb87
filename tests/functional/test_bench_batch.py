"""`utskick bench batch` finishes: every letter reaches an outcome, paper ones a print batch.

The benchmark once waited for ever because its worker had no population register to address
paper letters with; a small run here keeps the documented command honest (its speed is
measured by running it, see docs/performance.md, not here).
"""

from utskick.entrypoints.benchmarks.batch import run_batch_benchmark


def test_a_small_batch_benchmark_ends_with_every_letter_delivered_or_in_a_print_batch():
    result = run_batch_benchmark(letters=40, worker_threads=2, signing_seconds=0.2)
    assert result["outcomes"] == {"delivered/reachable": 24, "batched/not_registered": 16}
    assert result["letters_per_s"] > 0
