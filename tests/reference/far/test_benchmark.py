"""The isReachable benchmark measures a real FaR and reports comparable figures."""

from utskick.entrypoints.benchmarks.far import (
    RECIPIENTS_PER_CALL,
    _personnummer,
    run_is_reachable_benchmark,
)
from utskick.reference.far.registry import check_recipient_id


def test_the_benchmark_recipients_are_a_thousand_valid_distinct_personnummer():
    ids = [_personnummer(index) for index in range(RECIPIENTS_PER_CALL)]
    assert len(set(ids)) == RECIPIENTS_PER_CALL
    for recipient_id in ids:
        check_recipient_id(recipient_id)


def test_a_short_run_reports_throughput_beside_raw_rsa_verification():
    figures = run_is_reachable_benchmark(seconds=0.3)
    assert figures["calls_per_s"] > 0
    # Every call answered all 1,000 recipients (the benchmark checks each answer).
    assert abs(figures["recipients_per_s"] - figures["calls_per_s"] * 1000) <= 5
    assert figures["raw_rsa_verify_per_s"] > 100
    assert figures["recipients_per_call"] == 1000
