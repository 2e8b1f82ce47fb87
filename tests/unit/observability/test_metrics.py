"""The process's metrics: what the floors report is counted under bounded labels, and a scrape
merges it with what collectors read at scrape time into text Prometheus can parse."""

import pytest
from prometheus_client.metrics_core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from utskick.observability import metrics
from utskick.observability.metrics import (
    REGISTRY,
    count_far_error,
    count_operator_error,
    observe_far_call,
    observe_job,
    observe_operator_call,
    render,
)


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def parsed(body):
    return {family.name: family for family in text_string_to_metric_families(body.decode())}


class TestJobs:
    def test_a_job_run_is_counted_by_kind_and_outcome_in_its_bucket(self):
        before = value("utskick_job_duration_seconds_count", kind="deliver", outcome="retry")
        fast = value(
            "utskick_job_duration_seconds_bucket", kind="deliver", outcome="retry", le="0.5"
        )
        slow = value(
            "utskick_job_duration_seconds_bucket", kind="deliver", outcome="retry", le="10.0"
        )

        observe_job("deliver", 3.2, "retry")

        assert (
            value("utskick_job_duration_seconds_count", kind="deliver", outcome="retry")
            == before + 1
        )
        assert (
            value("utskick_job_duration_seconds_bucket", kind="deliver", outcome="retry", le="0.5")
            == fast
        )
        assert (
            value("utskick_job_duration_seconds_bucket", kind="deliver", outcome="retry", le="10.0")
            == slow + 1
        )

    def test_the_time_is_summed_so_that_an_average_can_be_taken(self):
        before = value("utskick_job_duration_seconds_sum", kind="webhook", outcome="done")

        observe_job("webhook", 0.25, "done")
        observe_job("webhook", 0.5, "done")

        assert value(
            "utskick_job_duration_seconds_sum", kind="webhook", outcome="done"
        ) == pytest.approx(before + 0.75)

    @pytest.mark.parametrize("outcome", ["done", "retry", "failed", "error"])
    def test_every_documented_outcome_is_taken(self, outcome):
        before = value("utskick_job_duration_seconds_count", kind="classify", outcome=outcome)
        observe_job("classify", 0.1, outcome)
        assert (
            value("utskick_job_duration_seconds_count", kind="classify", outcome=outcome)
            == before + 1
        )

    def test_an_outcome_outside_the_set_is_refused_so_the_labels_stay_bounded(self):
        with pytest.raises(ValueError, match="unknown outcome 'ok'"):
            observe_job("classify", 0.1, "ok")
        assert value("utskick_job_duration_seconds_count", kind="classify", outcome="ok") == 0


class TestRemoteCalls:
    def test_a_far_call_and_its_error_are_counted_by_outcome_and_code(self):
        calls = value("utskick_far_request_duration_seconds_count", outcome="fault")
        errors = value("utskick_far_errors_total", code="6006")

        observe_far_call(0.2, "fault")
        count_far_error("6006")

        assert value("utskick_far_request_duration_seconds_count", outcome="fault") == calls + 1
        assert value("utskick_far_errors_total", code="6006") == errors + 1

    def test_an_operator_call_is_counted_per_operator(self):
        syd = value(
            "utskick_operator_request_duration_seconds_count", operator="5567000001", outcome="ok"
        )
        nord = value(
            "utskick_operator_request_duration_seconds_count", operator="5567000002", outcome="ok"
        )
        errors = value("utskick_operator_errors_total", operator="5567000001", code="http_503")

        observe_operator_call("5567000001", 1.5, "ok")
        count_operator_error("5567000001", "http_503")

        assert (
            value(
                "utskick_operator_request_duration_seconds_count",
                operator="5567000001",
                outcome="ok",
            )
            == syd + 1
        )
        assert (
            value(
                "utskick_operator_request_duration_seconds_count",
                operator="5567000002",
                outcome="ok",
            )
            == nord
        )
        assert (
            value("utskick_operator_errors_total", operator="5567000001", code="http_503")
            == errors + 1
        )

    def test_a_call_outcome_outside_the_set_is_refused(self):
        with pytest.raises(ValueError, match="unknown outcome"):
            observe_far_call(0.1, "timeout")
        with pytest.raises(ValueError, match="unknown outcome"):
            observe_operator_call("5567000001", 0.1, "delivered")

    def test_an_empty_code_is_unknown_and_an_overlong_one_is_cut(self):
        unknown = value("utskick_far_errors_total", code="unknown")
        long_code = "X" * 200

        count_far_error("")
        count_far_error(long_code)

        assert value("utskick_far_errors_total", code="unknown") == unknown + 1
        assert value("utskick_far_errors_total", code="X" * 64) >= 1
        assert REGISTRY.get_sample_value("utskick_far_errors_total", {"code": long_code}) is None


class _Letters:
    """A collector read at scrape time, as the entry points hand one in."""

    def __init__(self):
        self.scrapes = 0

    def collect(self):
        self.scrapes += 1
        family = GaugeMetricFamily("utskick_test_letters", "Letters.", labels=["state"])
        family.add_metric(["delivered"], 3)
        yield family


class TestRender:
    def test_the_process_metrics_and_the_collectors_come_out_as_parsable_text(self):
        observe_job("print", 0.3, "done")
        letters = _Letters()

        body, content_type = render([letters])

        families = parsed(body)
        assert content_type == "text/plain; version=0.0.4; charset=utf-8"
        assert letters.scrapes == 1  # read at this scrape, not before
        [sample] = families["utskick_test_letters"].samples
        assert (sample.labels, sample.value) == ({"state": "delivered"}, 3.0)
        assert families["utskick_job_duration_seconds"].type == "histogram"
        assert families["utskick_far_errors"].type == "counter"
        assert {"process_cpu_seconds", "python_info"} <= set(families)  # the process itself

    def test_each_scrape_reads_the_collectors_again(self):
        letters = _Letters()

        render([letters])
        render([letters])

        assert letters.scrapes == 2

    def test_no_created_series_doubles_the_counters(self):
        body, _ = render()
        assert b"_created" not in body

    def test_the_process_registry_alone_renders_without_collectors(self):
        body, _ = render()
        assert "utskick_job_duration_seconds" in parsed(body)
        assert "utskick_test_letters" not in parsed(body)

    def test_the_registry_is_the_modules_own_not_the_librarys_default(self):
        from prometheus_client import REGISTRY as DEFAULT

        assert metrics.REGISTRY is not DEFAULT
        assert DEFAULT.get_sample_value("utskick_far_errors_total", {"code": "6006"}) is None
