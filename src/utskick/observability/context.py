"""The request id: one short string that ties together every log line of one piece of work.

An API request gets one when it comes in (or keeps the caller's `X-Request-ID`), and every log
line written while it is handled carries it. A job queued during the request keeps it in its
payload, so that the worker's lines and its outgoing calls (FaR, the mailbox operators,
webhooks, the records system) carry the same id: an operator greps one id and sees the whole
way of a letter. The id lives in a context variable, so threads and tasks never mix ids.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import ParamSpec, Protocol, TypeVar

from utskick.observability.identity_numbers import holds_identity_number

P = ParamSpec("P")
R = TypeVar("R")

# The key under which a job's payload keeps the request id it was queued under.
PAYLOAD_KEY = "request_id"
# Letters, digits, dot, underscore and dash only: an id taken from a header then cannot start
# a new log line or forge a JSON field. An identity number fits these characters, so it is
# refused apart (`valid_request_id`).
_VALID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# At most this many origin ids are listed for a set of jobs run together.
_MAX_ORIGINS = 20

_request_id: ContextVar[str | None] = ContextVar("utskick_request_id", default=None)


class QueuedJob(Protocol):
    """What the request id of a job is read from (a claimed job has both)."""

    @property
    def id(self) -> int:
        """The job's number."""
        ...

    @property
    def payload(self) -> Mapping[str, object] | None:
        """The job's payload, which may hold the request id it was queued under."""
        ...


def new_request_id() -> str:
    """A fresh request id: 32 hexadecimal characters (a random UUID)."""
    return uuid.uuid4().hex


def valid_request_id(value: str) -> bool:
    """Whether `value` may be used as a request id.

    1-64 of A-Z, a-z, 0-9, '.', '_', '-', and no identity number in it (what the log's
    redaction would mask): a business system that uses the recipient's personnummer as its
    correlation id would otherwise have it written into every log line, job payload and
    outgoing call of the letter.
    """
    return _VALID.fullmatch(value) is not None and not holds_identity_number(value)


def current_request_id() -> str | None:
    """The request id of the work running in this thread or task; None outside any."""
    return _request_id.get()


@contextmanager
def request_id_scope(request_id: str | None = None) -> Iterator[str]:
    """Run the block under `request_id` (a new one when None or not a valid id).

    Yields:
        The id in force inside the block.
    """
    if request_id is None or not valid_request_id(request_id):
        request_id = new_request_id()
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def carrying_request_id(work: Callable[P, R]) -> Callable[P, R]:
    """`work` made to run under the caller's request id, in whatever thread calls it.

    A new thread (or a thread pool's worker) starts without the caller's context variables;
    wrap the work handed to it with this so that its log lines and calls keep the id.
    """
    request_id = current_request_id()
    if request_id is None:
        return work

    def in_scope(*args: P.args, **kwargs: P.kwargs) -> R:
        with request_id_scope(request_id):
            return work(*args, **kwargs)

    return in_scope


def with_request_id(payload: dict[str, object] | None) -> dict[str, object] | None:
    """A job's payload with the current request id added (the payload as it was outside any).

    A payload that already names a request id keeps it. The payload given is not changed.
    """
    request_id = current_request_id()
    if request_id is None or (payload is not None and PAYLOAD_KEY in payload):
        return payload
    return {**(payload or {}), PAYLOAD_KEY: request_id}


def job_request_id(job: QueuedJob) -> str:
    """The id a job runs under: the one it was queued under, else `job-<id>`."""
    queued = (job.payload or {}).get(PAYLOAD_KEY)
    if isinstance(queued, str) and valid_request_id(queued):
        return queued
    return f"job-{job.id}"


def jobs_request_id(jobs: Sequence[QueuedJob]) -> str:
    """The id a set of jobs run together runs under: one job's own, or `jobs-<first>-<last>`."""
    if len(jobs) == 1:
        return job_request_id(jobs[0])
    numbers = [job.id for job in jobs]
    return f"jobs-{min(numbers)}-{max(numbers)}"


def origin_request_ids(jobs: Sequence[QueuedJob]) -> list[str]:
    """The distinct request ids a set of jobs was queued under (at most 20), in order.

    Logged when the set starts, so that a request's id leads to the set's id.
    """
    origins: dict[str, None] = {}
    for job in jobs:
        queued = (job.payload or {}).get(PAYLOAD_KEY)
        if isinstance(queued, str) and valid_request_id(queued):
            origins[queued] = None
    return list(origins)[:_MAX_ORIGINS]
