"""The deliverSecure benchmark measures real acceptances next to raw RSA verification."""

from utskick.entrypoints.benchmarks.delivery import run_deliver_secure_benchmark


def test_the_benchmark_reports_acceptance_next_to_raw_rsa_verification():
    result = run_deliver_secure_benchmark(seconds=0.3)

    assert result["deliveries_per_s"] > 0
    assert result["pdf_100kb_deliveries_per_s"] > 0
    # Acceptance verifies two signatures and does much more: it cannot beat raw RSA.
    assert 0 < result["rsa_share"] < 1
    assert result["raw_rsa_verify_per_s"] > 2 * result["deliveries_per_s"]
    assert result["pdf_request_bytes"] > 100 * 1024 > result["text_request_bytes"]
    assert 0 < result["cpu_ms_per_delivery"] < result["pdf_cpu_ms_per_delivery"]


def test_kept_look_ups_leave_a_delivery_its_two_inserts():
    result = run_deliver_secure_benchmark(seconds=0.3)

    assert result["statements_per_delivery"] == 2
    # Looked up every time: the caller, the sender and sealer with certificates, the recipient.
    assert result["uncached_statements_per_delivery"] >= 6
    assert result["uncached_cpu_ms_per_delivery"] > 0
