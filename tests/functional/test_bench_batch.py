"""`utskick bench batch` finishes with the issue's mix and every figure it promises.

Small runs keep the documented command honest: every letter reaches the outcome its recipient
calls for (60 % delivered, 25 % in a print batch, 15 % not sendable, each for its own reason),
on SQLite with one worker process and on PostgreSQL with two, and every figure is measured
(its speed is measured by running it, see docs/performance.md, not here).
"""

import os

import pytest
from sqlalchemy import create_engine, text

from utskick.db.engine import normalise_url
from utskick.entrypoints.benchmarks import batch

POSTGRES_URL = os.environ.get(
    "UTSKICK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
POSITIVE_FIGURES = (
    "letters_per_s",
    "digital_per_s",
    "sign_seal_messages_per_s",
    "ratio",
    "connector_cpu_ms_per_letter",
    "reference_cpu_ms_per_delivery",
    "statements_per_letter",
)


def expected_outcomes(letters):
    """Per twenty letters: 12 delivered, 5 batched, 1 each of three that cannot be sent."""
    twentieths = letters // 20
    return {
        "delivered/reachable": 12 * twentieths,
        "batched/not_registered": 5 * twentieths,
        "not_reachable/pending": twentieths,
        "not_reachable/sender_not_accepted": twentieths,
        "impossible/deceased": twentieths,
    }


def assert_every_figure_is_measured(result, workers):
    for figure in POSITIVE_FIGURES:
        assert result[figure] > 0, figure
    assert result["ratio"] == pytest.approx(
        result["letters_per_s"] / result["sign_seal_messages_per_s"], rel=0.05
    )
    processes = {"submitter", *(f"worker-{number}" for number in range(1, workers + 1))}
    assert result["workers"] == workers
    assert set(result["peak_rss_mib"]) == processes
    assert set(result["statements_by_process"]) == processes
    assert all(count > 0 for count in result["statements_by_process"].values())
    assert result["statements_per_letter"] == pytest.approx(
        sum(result["statements_by_process"].values()) / result["letters"], abs=0.05
    )
    assert processes <= set(result["cpu_seconds_by_process"])
    assert all(mib > 0 for mib in result["peak_rss_mib"].values())
    assert all(seconds > 0 for seconds in result["cpu_seconds_by_process"].values())
    assert result["reference_cpu_source"] in ("processes", "benchmark process")
    assert len(result["load_average"]) == 3


def test_a_small_batch_on_sqlite_ends_in_the_mix_with_every_figure():
    result = batch.run_batch_benchmark(letters=200, worker_threads=2, signing_seconds=0.2)
    assert result["outcomes"] == expected_outcomes(200)
    assert result["database"] == "sqlite"
    assert_every_figure_is_measured(result, workers=1)


@pytest.fixture
def postgres_url(monkeypatch):
    try:
        probe = create_engine(normalise_url(POSTGRES_URL))
        with probe.connect() as connection:
            connection.execute(text("SELECT 1"))
        probe.dispose()
    except Exception as error:  # noqa: BLE001 (any failure means PostgreSQL is not there)
        if os.environ.get("UTSKICK_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {error}")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL} ({type(error).__name__})")
    monkeypatch.setattr(batch, "POSTGRES_URL", POSTGRES_URL)
    return POSTGRES_URL


def test_a_small_batch_on_postgresql_with_two_worker_processes_ends_in_the_mix(postgres_url):
    result = batch.run_batch_benchmark(
        letters=100, database="postgresql", workers=2, worker_threads=2, signing_seconds=0.2
    )
    assert result["outcomes"] == expected_outcomes(100)
    assert result["database"] == "postgresql"
    assert_every_figure_is_measured(result, workers=2)
