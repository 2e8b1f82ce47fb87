"""Prometheus metrics: what this process counts, and the text a scrape of /metrics gets.

One registry per process holds what the process itself measures as it works: how long jobs
take, how calls to FaR and to the mailbox operators go, and the process's own CPU, memory and
garbage collection. Higher floors report through the functions here (`observe_job`,
`observe_far_call`, …); they never touch a metric object, so every label stays within the
bounded set named here. What lives in the database (letters by state, the job queue, print
batches, certificates) is read at scrape time by collectors a higher floor hands to `render`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

__all__ = [
    "CALL_FAULT",
    "CALL_OK",
    "CALL_OUTCOMES",
    "CALL_UNAVAILABLE",
    "CONTENT_TYPE",
    "JOB_OUTCOMES",
    "REGISTRY",
    "count_far_error",
    "count_operator_error",
    "observe_far_call",
    "observe_job",
    "observe_operator_call",
    "render",
]

# The text format every Prometheus version reads (the names here need none of 1.0.0's quoting).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

# How a job's run ended: done, to be tried again, out of attempts, or its handler raised.
JOB_OUTCOMES = frozenset({"done", "retry", "failed", "error"})
# How a call to FaR or an operator ended: an answer was read, a SOAP fault was read, or no
# answer that could be read (no connection, a timeout, an HTTP error, an unreadable body).
CALL_OK = "ok"
CALL_FAULT = "fault"
CALL_UNAVAILABLE = "unavailable"
CALL_OUTCOMES = frozenset({CALL_OK, CALL_FAULT, CALL_UNAVAILABLE})

# Label values come from a bounded set (kinds, fault codes, class names); the cut only guards
# the exposition against a value that was never meant to be one.
_LABEL_MAX = 64

# Jobs run from milliseconds (a webhook) to minutes (the daily records run, a set of 1,000
# classifications waiting for FaR); remote calls from milliseconds to a 60-second timeout.
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60)

# No `*_created` series beside every counter and histogram: Prometheus does not need them for
# rates, and they would double what a scrape carries.
disable_created_metrics()  # type: ignore[no-untyped-call]  # the library leaves it unannotated

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

_JOB_DURATION = Histogram(
    "utskick_job_duration_seconds",
    "Time a worker spent on a job (a job run in a set: the whole set's time), by kind and outcome.",
    ["kind", "outcome"],
    buckets=_JOB_BUCKETS,
    registry=REGISTRY,
)
_FAR_DURATION = Histogram(
    "utskick_far_request_duration_seconds",
    "Time of one isReachable call to FaR (up to 1,000 recipients), by outcome.",
    ["outcome"],
    buckets=_CALL_BUCKETS,
    registry=REGISTRY,
)
_FAR_ERRORS = Counter(
    "utskick_far_errors",
    "Calls to FaR that got no answer: the SOAP fault code, HTTP status or exception class.",
    ["code"],
    registry=REGISTRY,
)
_OPERATOR_DURATION = Histogram(
    "utskick_operator_request_duration_seconds",
    "Time of one deliverSecure call to a mailbox operator, by operator and outcome.",
    ["operator", "outcome"],
    buckets=_CALL_BUCKETS,
    registry=REGISTRY,
)
_OPERATOR_ERRORS = Counter(
    "utskick_operator_errors",
    "deliverSecure calls that did not deliver: the SOAP fault code, HTTP status or exception "
    "class, by operator.",
    ["operator", "code"],
    registry=REGISTRY,
)


def _label(value: str) -> str:
    return value[:_LABEL_MAX] if value else "unknown"


def _outcome(value: str, allowed: frozenset[str]) -> str:
    # A misspelt outcome is a programming error: refusing it keeps the label set closed.
    if value not in allowed:
        raise ValueError(f"unknown outcome {value!r}; expected one of {sorted(allowed)}")
    return value


def observe_job(kind: str, seconds: float, outcome: str) -> None:
    """Count a job's run: its kind, how long it took, and `done|retry|failed|error`."""
    _JOB_DURATION.labels(_label(kind), _outcome(outcome, JOB_OUTCOMES)).observe(max(0.0, seconds))


def observe_far_call(seconds: float, outcome: str) -> None:
    """Count one call to FaR: how long it took and `ok|fault|unavailable`."""
    _FAR_DURATION.labels(_outcome(outcome, CALL_OUTCOMES)).observe(max(0.0, seconds))


def count_far_error(code: str) -> None:
    """Count a FaR call that failed, by SOAP fault code, HTTP status or exception class."""
    _FAR_ERRORS.labels(_label(code)).inc()


def observe_operator_call(operator: str, seconds: float, outcome: str) -> None:
    """Count one deliverSecure call: to which operator, how long, and `ok|fault|unavailable`."""
    _OPERATOR_DURATION.labels(_label(operator), _outcome(outcome, CALL_OUTCOMES)).observe(
        max(0.0, seconds)
    )


def count_operator_error(operator: str, code: str) -> None:
    """Count a deliverSecure call that failed, by operator and fault code, status or class."""
    _OPERATOR_ERRORS.labels(_label(operator), _label(code)).inc()


class _Together:
    """The process registry and the per-scrape collectors, read as one."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = (REGISTRY, *collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


def render(extra_collectors: Iterable[Collector] = ()) -> tuple[bytes, str]:
    """The text exposition of this process's metrics and the `extra_collectors`' (read now).

    Returns:
        The body and its content type, as a /metrics answer sends them.
    """
    return generate_latest(_Together(extra_collectors)), CONTENT_TYPE
