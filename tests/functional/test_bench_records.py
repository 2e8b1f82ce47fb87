"""`utskick bench records` finishes and reports every figure, and memory stays flat.

A small run (2,000 letters, so 500 and 2,000) of the real benchmark: bulk-inserted ended
letters exported as E-ARK SIP packages and then disposed of, each step in a process of its
own. Its speed is measured by running it at 100,000 letters (docs/performance.md), not here;
what is checked is that every letter was exported and disposed of, that every figure is
there, and that the peak memory at four times the letters is about the same.
"""

from utskick.entrypoints.benchmarks.records import run_records_benchmark

LETTERS = 2_000


def test_a_small_records_benchmark_exports_and_disposes_of_every_letter_in_flat_memory():
    result = run_records_benchmark(letters=LETTERS)
    assert set(result["sizes"]) == {"500", "2000"}
    for size, figures in result["sizes"].items():
        letters = int(size)
        assert figures["letters"] == letters
        assert figures["seeding_letters_per_s"] > 0
        export, disposal = figures["export"], figures["disposal"]
        # One package per thousand letters; every letter's content went, then every letter.
        assert export["packages"] == -(-letters // 1000)
        assert disposal["content_disposed"] == letters
        for step in (export, disposal):
            assert step["letters_per_s"] > 0
            assert step["cpu_seconds"] > 0
            assert step["peak_rss_mib"] >= step["baseline_rss_mib"] > 0
            assert len(step["load_average_1_5_15"]) == 3
    # Four times the letters, the same peak: memory does not grow with the number of letters.
    for step, ratio in result["peak_rss_ratio_largest_to_smallest"].items():
        assert ratio < 1.25, (step, ratio)
    assert result["baseline"]["letters_per_s"] > 0
